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
    assert done.stderr == "loctocat: unknown command 'nonsense'; see 'loctocat --help'\n"


def test_the_exit_codes_are_one_table_for_help_and_docs() -> None:
    from pathlib import Path

    from loctocat.cli import EXIT_CODES, _parser

    help_text = _parser().format_help()  # type: ignore[attr-defined]
    docs = (Path(__file__).parents[1] / "docs" / "cli.md").read_text(encoding="utf-8")
    for exit_code in EXIT_CODES:
        assert f"  {exit_code.code:<4} {exit_code.meaning}" in help_text
        assert f"| {exit_code.code} |" in docs
    rows = [line for line in docs.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [int(row.split("|")[1]) for row in rows] == [e.code for e in EXIT_CODES]


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (
            ConfigurationError("Keycloak needs realm=...: the realm's name", parameter="realm"),
            "keycloak needs --realm: the realm's name",
        ),
        (
            ConfigurationError("timeout must be positive, got -1", parameter="timeout"),
            "--timeout must be positive, got -1",
        ),
        (
            ConfigurationError("Keycloak's 'base_url' (x) must be https", parameter="base_url"),
            "keycloak's --base-url (x) must be https",
        ),
        (ConfigurationError("no parameter here"), "no parameter here"),
    ],
)
def test_library_errors_are_said_with_flags(error: ConfigurationError, said: str) -> None:
    from loctocat.cli import _usage_error
    from loctocat.predefined import KEYCLOAK

    assert str(_usage_error(error, KEYCLOAK)) == said


def test_main_in_a_program_leaves_its_logging_as_it_was(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from loctocat.cli import main

    before = list(logging.getLogger("loctocat").handlers)
    assert main(["providers"]) == 0
    assert logging.getLogger("loctocat").handlers == before
    assert "github" in capsys.readouterr().out
