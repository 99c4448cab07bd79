"""Fixtures for the end-to-end tests of `loctocat setup-git` and `loctocat git-credential` with
the real git: a fake authorization server, a git server whose passwords are that server's access
tokens, and an environment in which git reads nothing of the user's own.

The tests that run git are skipped when `git` is missing, and not even then when
`LOCTOCAT_REQUIRE_GIT=1` (there a missing git is a failure).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from git_support import CLIENT_ID, GitServer, make_repository
from login_support import accepts_current_tokens, isolated_environment

from loctocat.testing import FakeAuthorizationServer


def require_git() -> str:
    """Path of `git`; skips (or fails, see above) without it."""
    git = shutil.which("git")
    if git is None:
        if os.environ.get("LOCTOCAT_REQUIRE_GIT") == "1":
            pytest.fail("git is missing (LOCTOCAT_REQUIRE_GIT=1)", pytrace=False)
        pytest.skip("git is missing")
    return git


@pytest.fixture
def fake_server() -> Iterator[FakeAuthorizationServer]:
    """The authorization server, on loopback HTTP; its polls are answered at once."""
    server = FakeAuthorizationServer(interval=0, client_id=CLIENT_ID)
    with server.serve_http():
        yield server


@pytest.fixture
def token_store(tmp_path: Path) -> Path:
    """The token file given to `--store`."""
    return tmp_path / "tokens.json"


@pytest.fixture
def selection(fake_server: FakeAuthorizationServer, token_store: Path) -> list[str]:
    """The selection options of `loctocat login` for the fake server."""
    return [
        "--auth-url",
        fake_server.device_authorization_url,
        "--token-url",
        fake_server.token_url,
        "--client-id",
        CLIENT_ID,
        "--scope",
        "repo",
        "--store",
        str(token_store),
    ]


@pytest.fixture
def loctocat_env(tmp_path: Path) -> dict[str, str]:
    """An environment for `python -m loctocat` and for git: nothing from the user's home, no
    askpass program, no config file of the user's, loctocat imported from this source tree."""
    return isolated_environment(tmp_path, ("GIT_",))


@pytest.fixture
def git_env(loctocat_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """`loctocat_env` with git's global config in `tmp_path/gitconfig` (and no system config),
    holding only a user name and email."""
    require_git()
    environ = {
        **loctocat_env,
        "GIT_CONFIG_GLOBAL": str(tmp_path / "gitconfig"),
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    for name, value in (("user.name", "Test User"), ("user.email", "test@example.test")):
        subprocess.run(["git", "config", "--global", name, value], env=environ, check=True)
    return environ


@pytest.fixture
def git_server(tmp_path: Path, fake_server: FakeAuthorizationServer) -> Iterator[GitServer]:
    """A git server for `repo.git` (one commit on `main`) on 127.0.0.1, whose passwords are the
    access tokens the fake server's protected resource accepts."""
    require_git()
    home = tmp_path / "git-server-home"
    home.mkdir()
    backend_env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "LC_ALL": "C",
    }
    root = tmp_path / "git-root"
    root.mkdir()
    make_repository(root, backend_env)

    with GitServer(root, accepts_current_tokens(fake_server), backend_env) as server:
        yield server
