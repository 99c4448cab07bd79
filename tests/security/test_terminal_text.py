"""A hostile server's text never reaches a terminal raw: no escape sequence, no bidi control.

Errors carry the server's `error`, `error_description` and `error_uri`; the device answer its
`user_code` and verification URIs. Their messages, the prompt's lines and the command line's
final `loctocat: ...` line must show control characters as visible escapes (``\\x1b``), while
the error's attributes keep exactly what the server sent. The prompt's own output is tested in
tests/test_prompt.py; here the whole command line runs against a server that sends escapes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import loctocat.cli._commands as cli_commands
from loctocat import ServerError, TransportError
from loctocat.cli import EXIT_ERROR, main
from loctocat.errors import AccessDenied
from loctocat.testing import FakeAuthorizationServer, Fault

CLEAR_SCREEN = "\x1b[2J"
TITLE = "\x1b]0;pwned\x07"
LINK = "\x1b]8;;https://evil.example/\x1b\\https://github.com/login/device\x1b]8;;\x1b\\"
# What a terminal would act on: C0 controls other than line breaks, DEL, C1 controls, and the
# bidirectional controls that reorder what is shown.
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def hostile_device_answer(**more: object) -> dict[str, object]:
    """A device authorization answer whose code and page carry terminal escapes."""
    return {
        "device_code": "device-code",
        "user_code": f"WDJB{CLEAR_SCREEN}-MJHT",
        "verification_uri": LINK,
        "expires_in": 900,
        "interval": 1,
        **more,
    }


def test_server_error_message_is_escaped_and_attributes_are_raw() -> None:
    error = ServerError(
        f"access_denied{TITLE}",
        f"{CLEAR_SCREEN}gone\nsecond line \u202eevil",
        f"https://example.com/{LINK}",
    )
    assert str(error) == (
        r"access_denied\x1b]0;pwned\x07: \x1b[2Jgone second line \u202eevil "
        r"[see https://example.com/\x1b]8;;https://evil.example/\x1b\https://github.com/login/"
        r"device\x1b]8;;\x1b\]"
    )
    assert not UNSAFE.search(str(error))
    assert error.error == f"access_denied{TITLE}"
    assert error.error_description == f"{CLEAR_SCREEN}gone\nsecond line \u202eevil"
    assert error.error_uri == f"https://example.com/{LINK}"


def test_from_code_builds_the_escaped_message_too() -> None:
    error = ServerError.from_code("access_denied", f"{CLEAR_SCREEN}gone", status_code=400)
    assert isinstance(error, AccessDenied)
    assert str(error).startswith(r"access_denied: \x1b[2Jgone (")
    assert error.error_description == f"{CLEAR_SCREEN}gone"


# --- the command line against a hostile server --------------------------------------------------


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An environment with an empty config file and nothing from the user's own directories."""
    config = tmp_path / "config.toml"
    config.write_text("")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LOCTOCAT_")}
    for name in ("CI", "BROWSER", "SSH_CONNECTION", "SSH_TTY", "NO_COLOR", "FORCE_COLOR"):
        environ.pop(name, None)
    environ.update(
        LOCTOCAT_CONFIG=str(config),
        XDG_CONFIG_HOME=str(tmp_path / "xdg-config"),
        XDG_DATA_HOME=str(tmp_path / "xdg-data"),
    )
    return environ


@pytest.fixture
def server() -> Iterator[FakeAuthorizationServer]:
    server = FakeAuthorizationServer()
    with server.serve_http():
        yield server


def json_fault(status: int, body: dict[str, object]) -> Fault:
    return Fault(
        status=status,
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )


def login(
    server: FakeAuthorizationServer, env: dict[str, str], tmp_path: Path, *, exit_code: int
) -> str:
    """`loctocat login` with stderr piped: its stderr, once it has exited with `exit_code`."""
    done = subprocess.run(
        [
            *(sys.executable, "-m", "loctocat", "login"),
            *("--auth-url", server.device_authorization_url, "--token-url", server.token_url),
            *("--client-id", "cli-client", "--store", str(tmp_path / "tokens.json")),
        ],
        capture_output=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=30,
    )
    assert done.returncode == exit_code, done.stderr
    assert done.stdout == b""
    return done.stderr.decode()


def test_cli_error_line_shows_a_hostile_error_escaped(
    server: FakeAuthorizationServer, env: dict[str, str], tmp_path: Path
) -> None:
    server.plan(
        json_fault(
            400,
            {
                "error": "invalid_scope",
                "error_description": f"{CLEAR_SCREEN}{TITLE}gone\u202e",
                "error_uri": f"https://example.com/{LINK}",
            },
        )
    )
    stderr = login(server, env, tmp_path, exit_code=EXIT_ERROR)
    assert "\x1b" not in stderr
    assert not UNSAFE.search(stderr)
    # Both the prompt's failure line and the command line's own error line name the error.
    assert stderr.count(r"\x1b[2J\x1b]0;pwned\x07gone\u202e") == 1  # one failure, one line
    assert r"[see https://example.com/\x1b]8;;https://evil.example/" in stderr


def test_cli_shows_a_hostile_device_answer_escaped(
    server: FakeAuthorizationServer, env: dict[str, str], tmp_path: Path
) -> None:
    server.plan_device(
        json_fault(
            200,
            hostile_device_answer(verification_uri_complete=f"https://example.com/{TITLE}\u202e"),
        )
    )
    # The fake server never issued this device code: the first poll ends the flow.
    stderr = login(server, env, tmp_path, exit_code=EXIT_ERROR)
    assert "\x1b" not in stderr
    assert not UNSAFE.search(stderr)
    assert r"First copy your one-time code: WDJB\x1b[2J-MJHT" in stderr
    assert (
        r"Open https://example.com/\x1b]0;pwned\x07\u202e in your browser (the code is filled in), "
        r"or \x1b]8;;https://evil.example/\x1b\https://github.com/login/device\x1b]8;;\x1b"
        "\\ and enter the code.\n"
    ) in stderr


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (
            TransportError(f"HTTP 503 {CLEAR_SCREEN}{TITLE}"),
            r"loctocat: HTTP 503 \x1b[2J\x1b]0;pwned\x07",
        ),
        (
            RuntimeError(f"boom{CLEAR_SCREEN}\x9b2J"),
            r"loctocat: unexpected error: RuntimeError: boom\x1b[2J\x9b2J "
            "(run with --debug for the traceback)",
        ),
    ],
)
def test_cli_error_lines_are_escaped(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    error: Exception,
    line: str,
) -> None:
    def fail(args: object, run: object) -> int:
        raise error

    monkeypatch.setitem(cli_commands.COMMANDS, "providers", fail)
    assert main(["providers"]) != 0
    assert capsys.readouterr().err == line + "\n"


def test_a_servers_error_code_reaches_the_debug_log_escaped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The CLI's --debug prints this log on stderr."""
    import logging

    import httpx

    from loctocat import Authenticator, ServerError
    from loctocat.testing import FakeAuthorizationServer, Fault

    server = FakeAuthorizationServer(interval=0)
    server.plan(Fault(error="\x1b]0;owned\x07\x1b[2Jgone"))
    caplog.set_level(logging.DEBUG, logger="loctocat")
    with httpx.Client(transport=server.transport()) as client:
        auth = Authenticator(
            "c",
            server.device_authorization_url,
            server.token_url,
            http_client=client,
            min_interval=0.01,
        )
        auth.ping()
        with pytest.raises(ServerError):
            auth.poll()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "\\x1b]0;owned" in logged
    assert "\x1b" not in logged


def test_login_start_prints_a_hostile_device_answer_escaped(
    server: FakeAuthorizationServer, env: dict[str, str], tmp_path: Path
) -> None:
    server.plan_device(json_fault(200, hostile_device_answer()))
    done = subprocess.run(
        [
            *(sys.executable, "-m", "loctocat", "login", "--start"),
            *("--auth-url", server.device_authorization_url, "--token-url", server.token_url),
            *("--client-id", "cli-client", "--store", str(tmp_path / "tokens.json")),
        ],
        capture_output=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    shown = (done.stdout + done.stderr).decode()
    assert "\x1b" not in shown
    assert not UNSAFE.search(shown)
    assert r"enter the code WDJB\x1b[2J-MJHT" in shown
