"""The package as users meet it: the 1.0 names, cheap import, typing marker, CLI entry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import loctocat


def test_the_1_0_public_names_still_import() -> None:
    from loctocat import (  # noqa: F401
        AsyncAuthenticator,
        Authenticator,
        Handler,
        LoctocatAuthInfo,
        ServerError,
    )
    from loctocat.predefined import GitHubAuthenticator

    github = GitHubAuthenticator("Iv1.abc", ["repo"])
    assert github.auth_url == "https://github.com/login/device/code"
    assert github.token_url == "https://github.com/login/oauth/access_token"
    assert github.scopes == ["repo"]
    assert issubclass(AsyncAuthenticator, Authenticator)


def test_every_error_has_one_base() -> None:
    errors = [getattr(loctocat, name) for name in loctocat.__all__ if name.endswith(("Error",))]
    assert errors
    for error in errors:
        assert issubclass(error, loctocat.LoctocatError)
    assert issubclass(loctocat.AccessDenied, loctocat.ServerError)
    assert issubclass(loctocat.ExpiredToken, loctocat.ServerError)


def test_import_is_cheap() -> None:
    code = (
        "import sys, loctocat, loctocat.predefined, loctocat.prompt;"
        "heavy = {'httpx', 'rich', 'anyio', 'httpcore', 'ssl'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_typed_marker_and_version() -> None:
    assert (Path(loctocat.__file__).parent / "py.typed").is_file()
    assert loctocat.__version__ == "2.0.0"


def test_the_command_line_runs_as_a_module() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "loctocat", "--help"], capture_output=True, text=True, check=True
    )
    assert "demo" in out.stdout
    assert "exit codes" in out.stdout


def test_the_version_is_the_installed_packages() -> None:
    # pyproject.toml reads the version from loctocat/_version.py: one place to change it.
    from importlib.metadata import version

    assert version("loctocat") == loctocat.__version__
