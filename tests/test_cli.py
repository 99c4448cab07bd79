"""The `loctocat` command as a script or a person runs it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from loctocat.cli import (
    EXIT_DENIED,
    EXIT_EXPIRED,
    EXIT_INTERRUPTED,
    EXIT_NETWORK,
    EXIT_USAGE,
    CommandFailed,
    UsageError,
    _exit_code,
    main,
)
from loctocat.errors import (
    AccessDenied,
    ConfigurationError,
    ExpiredToken,
    FlowTimeout,
    ServerError,
    StoreError,
    TransportError,
)


def test_demo_auto_approve_runs_a_whole_flow() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "loctocat", "demo", "--auto-approve"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    # stdout holds the token alone, for scripts; the prompt went to stderr.
    assert done.stdout.startswith("fake-at-")
    assert len(done.stdout.splitlines()) == 1
    assert "one-time code" in done.stderr
    assert "Authentication complete" in done.stderr
    assert "\x1b" not in done.stderr


def test_exit_codes_say_what_happened() -> None:
    assert _exit_code(AccessDenied("access_denied")) == EXIT_DENIED
    assert _exit_code(ExpiredToken("expired_token")) == EXIT_EXPIRED
    assert _exit_code(FlowTimeout("late")) == EXIT_EXPIRED
    assert _exit_code(TransportError("down")) == EXIT_NETWORK
    assert _exit_code(KeyboardInterrupt()) == EXIT_INTERRUPTED
    assert _exit_code(ServerError("other")) == 1
    assert _exit_code(StoreError("disk full")) == 1
    assert _exit_code(UsageError("--client-id is required")) == EXIT_USAGE
    assert _exit_code(ConfigurationError("bad URL")) == EXIT_USAGE
    assert _exit_code(CommandFailed("revoking failed", EXIT_NETWORK)) == EXIT_NETWORK


def test_main_reports_usage_errors_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCTOCAT_CONFIG", "/dev/null")
    assert main(["login", "keycloak", "--client-id", "c", "--base-url", "https://x.test"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("loctocat: keycloak needs --realm")
    assert captured.err.count("\n") == 1


def test_usage_errors_exit_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "loctocat", "nonsense"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "invalid choice" in done.stderr
