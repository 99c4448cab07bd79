"""Fixtures for the package index tests: a fake authorization server, a package index whose
passwords are that server's access tokens, and an environment in which pip, uv, keyring and
loctocat read nothing of the user's own and reach nothing beyond the loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from index_support import CLIENT_ID, SCRIPTS, GatedIndex, loctocat
from login_support import accepts_current_tokens, approving, isolated_environment

from loctocat.testing import FakeAuthorizationServer


@pytest.fixture
def fake_server() -> Iterator[FakeAuthorizationServer]:
    """The authorization server, on loopback HTTP; its polls are answered at once."""
    server = FakeAuthorizationServer(interval=0, client_id=CLIENT_ID)
    with server.serve_http():
        yield server


@pytest.fixture
def index(fake_server: FakeAuthorizationServer) -> Iterator[GatedIndex]:
    """The package index, which takes the access tokens the fake server currently accepts."""

    with GatedIndex(accepts_current_tokens(fake_server)) as server:
        yield server


@pytest.fixture
def token_store(tmp_path: Path) -> Path:
    return tmp_path / "tokens.json"


@pytest.fixture
def selection(fake_server: FakeAuthorizationServer, token_store: Path) -> list[str]:
    """The selection options of `loctocat login` for the fake server."""
    return [
        "--auth-url", fake_server.device_authorization_url,
        "--token-url", fake_server.token_url,
        "--client-id", CLIENT_ID,
        "--scope", "read",
        "--store", str(token_store),
    ]  # fmt: skip


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An environment for loctocat, pip, uv and keyring: an empty loctocat config file, homes
    and caches under tmp_path, no pip or uv config, and a `keyring` command on PATH that is
    not in pip's own scripts directory (pip's subprocess provider skips that one)."""
    commands = tmp_path / "bin"
    commands.mkdir()
    (commands / "keyring").symlink_to(SCRIPTS / "keyring")
    return isolated_environment(
        tmp_path,
        ("PIP_", "UV_", "KEYRING_", "PYTHON_KEYRING"),
        PATH=os.pathsep.join([str(commands), os.environ.get("PATH", os.defpath)]),
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        UV_NO_CONFIG="1",
        UV_PYTHON_DOWNLOADS="never",
    )


@pytest.fixture
def configured(env: dict[str, str], index: GatedIndex, selection: list[str]) -> dict[str, str]:
    """`env` once `loctocat setup-index` has set up the index's /simple/."""
    done = loctocat(env, "setup-index", index.url(), *selection)
    assert done.returncode == 0, done.stderr
    return env


@pytest.fixture
def logged_in(
    configured: dict[str, str], fake_server: FakeAuthorizationServer, selection: list[str]
) -> str:
    """The access token `loctocat login` stored for the index's login."""
    with approving(fake_server):
        done = loctocat(configured, "login", *selection)
    assert done.returncode == 0, done.stderr
    [issued] = fake_server.issued_tokens
    return issued.access_token
