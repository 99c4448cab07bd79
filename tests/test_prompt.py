"""What the user sees during authenticate(): loctocat.prompt."""

from __future__ import annotations

import asyncio
import fcntl
import io
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import Any, Literal

import pytest
from rich.console import Console

from loctocat._models import LoctocatAuthInfo, Token
from loctocat.errors import AccessDenied, ConfigurationError, ExpiredToken, ServerError
from loctocat.prompt import (
    Prompt,
    TerminalPrompt,
    failure_message,
    prompt_from_options,
)

CHILD = Path(__file__).with_name("prompt_child.py")
# Any SGR sequence (colour, bold, reset): what NO_COLOR and non-terminals must never get.
SGR = re.compile(r"\x1b\[[0-9;]*m")
# The environment variables that change rich's terminal and colour decisions.
RICH_ENV = ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES")


@pytest.fixture(autouse=True)
def neutral_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test from a plain colour terminal, whatever the developer's shell sets."""
    for name in RICH_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")


def make_auth_info(**overrides: Any) -> LoctocatAuthInfo:
    fields: dict[str, Any] = {
        "device_code": "device-secret",
        "user_code": "WDJB-MJHT",
        "verification_uri": "https://example.com/device",
        "expires_in": 900,
        "interval": 5,
    }
    fields.update(overrides)
    return LoctocatAuthInfo(**fields)


def make_console(*, terminal: bool, width: int = 100) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    color: Literal["truecolor"] | None = "truecolor" if terminal else None
    return Console(file=out, force_terminal=terminal, color_system=color, width=width), out


def run_flow(
    prompt: TerminalPrompt,
    *,
    auth_info: LoctocatAuthInfo | None = None,
    error: BaseException | None = None,
    spin: float = 0.0,
) -> None:
    """Drive the prompt the way the authenticators do."""
    try:
        prompt.show_code(auth_info or make_auth_info())
        prompt.start_waiting()
        time.sleep(spin)
        if error is None:
            prompt.succeeded(Token(access_token="token-secret"))
        else:
            prompt.failed(error)
    finally:
        prompt.close()


def spinner_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "loctocat-spinner"]


class RecordingSpinner:
    """A halo.Halo look-alike that records how it is driven."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def start(self) -> RecordingSpinner:
        self.calls.append("start")
        return self

    def stop(self) -> RecordingSpinner:
        self.calls.append("stop")
        return self

    def succeed(self, text: str) -> RecordingSpinner:
        self.calls.append(f"succeed:{text}")
        return self

    def fail(self, text: str) -> RecordingSpinner:
        self.calls.append(f"fail:{text}")
        return self


class BareSpinner:
    """A spinner with only start() and stop()."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def start(self) -> None:
        self.calls.append("start")

    def stop(self) -> None:
        self.calls.append("stop")


# -- the code message -----------------------------------------------------------------------


def test_default_text_plain() -> None:
    console, out = make_console(terminal=False)
    run_flow(prompt_from_options(console=console))
    assert out.getvalue() == (
        "! First copy your one-time code: WDJB-MJHT\n"
        "Open https://example.com/device in your browser and enter the code.\n"
        "Waiting for you to approve in the browser… (expires in 14:59)\n"
        "✓ Authentication complete.\n"
    )


def test_default_text_offers_complete_uri_and_skips_server_message() -> None:
    console, out = make_console(terminal=False)
    auth_info = make_auth_info(
        verification_uri_complete="https://example.com/device?user_code=WDJB-MJHT",
        extra={"message": "To sign in, use a web browser to open the page..."},
    )
    prompt_from_options(console=console).show_code(auth_info)
    text = out.getvalue()
    assert "Or open https://example.com/device?user_code=WDJB-MJHT to skip typing it.\n" in text
    assert "To sign in" not in text


def test_code_is_bold_and_never_wrapped() -> None:
    console, out = make_console(terminal=True, width=20)
    prompt_from_options(console=console).show_code(make_auth_info())
    text = out.getvalue()
    assert "\x1b[1mWDJB-MJHT\x1b[0m" in text
    # The URL is longer than the console is wide: it must still be in one piece.
    assert "https://example.com/device" in SGR.sub("", text)


def test_custom_string_message_is_printed_as_is() -> None:
    console, out = make_console(terminal=True)
    message = "Go to [bold]x[/bold] :smile: {user_code} https://example.com 123"
    prompt_from_options(console=console, message=message).show_code(make_auth_info())
    assert out.getvalue() == message + "\n"


def test_callable_message_gets_the_auth_info() -> None:
    console, out = make_console(terminal=False)
    seen: list[LoctocatAuthInfo] = []

    def message(auth_info: LoctocatAuthInfo) -> str:
        seen.append(auth_info)
        return f"Enter {auth_info.user_code} at {auth_info.verification_uri}"

    auth_info = make_auth_info()
    prompt_from_options(console=console, message=message).show_code(auth_info)
    assert seen == [auth_info]
    assert out.getvalue() == "Enter WDJB-MJHT at https://example.com/device\n"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"use_default_message": False}, ""),
        ({"use_default_message": False, "message": "custom"}, "custom\n"),
        ({"use_default_message": True, "message": "custom"}, "custom\n"),
        ({"message": ""}, "! First copy your one-time code: WDJB-MJHT\n"),
    ],
)
def test_message_options(options: dict[str, Any], expected: str) -> None:
    console, out = make_console(terminal=False)
    prompt_from_options(console=console, **options).show_code(make_auth_info())
    assert out.getvalue().startswith(expected)
    if not expected:
        assert out.getvalue() == ""


# -- success --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, "✓ Authentication complete.\n"),
        ({"success_message": "Logged in!"}, "✓ Logged in!\n"),
        ({"use_default_success_message": False, "success_message": "Hi"}, "✓ Hi\n"),
        ({"use_default_success_message": False}, ""),
    ],
)
def test_success_options(options: dict[str, Any], expected: str) -> None:
    console, out = make_console(terminal=False)
    prompt = prompt_from_options(console=console, use_default_spinner=False, **options)
    prompt.succeeded(Token(access_token="token-secret"))
    prompt.close()
    assert out.getvalue() == expected


def test_success_without_message_stops_spinner_silently() -> None:
    console, out = make_console(terminal=True)
    prompt = prompt_from_options(console=console, use_default_success_message=False)
    run_flow(prompt, spin=0.1)
    text = out.getvalue()
    assert "✓" not in text
    assert text.endswith("\x1b[2K")  # the spinner line was erased, nothing printed after
    assert not spinner_threads()


# -- failures -------------------------------------------------------------------------------


class Cancelled(BaseException):
    """Stands in for trio.Cancelled, which cannot be instantiated outside trio."""


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (AccessDenied("access_denied"), "✗ Authorization was denied."),
        (
            ExpiredToken("expired_token"),
            "✗ The code expired before it was approved. Run the command again for a new code.",
        ),
        (KeyboardInterrupt(), "✗ Cancelled."),
        (asyncio.CancelledError(), "✗ Cancelled."),
        (Cancelled(), "✗ Cancelled."),
        (BaseExceptionGroup("tg", [AccessDenied("access_denied")]), "✗ Authorization was denied."),
        (ServerError("invalid_scope", "nope"), "✗ invalid_scope: nope"),
        (RuntimeError("boom\n  second line"), "✗ boom second line"),
        (TimeoutError(), "✗ TimeoutError"),
    ],
)
def test_failure_lines(error: BaseException, expected: str) -> None:
    console, out = make_console(terminal=False)
    run_flow(prompt_from_options(console=console), error=error)
    assert out.getvalue().splitlines()[-1] == expected
    assert failure_message(error) == expected.removeprefix("✗ ")


def test_failure_while_spinning_prints_after_the_spinner_is_gone() -> None:
    console, out = make_console(terminal=True)
    run_flow(prompt_from_options(console=console), error=KeyboardInterrupt(), spin=0.1)
    text = out.getvalue()
    assert text.index("\x1b[?25h") < text.index("Cancelled.")
    assert SGR.sub("", text).endswith("✗ Cancelled.\n")
    assert not spinner_threads()


# -- spinners -------------------------------------------------------------------------------


def test_spinner_by_name() -> None:
    console, out = make_console(terminal=True)
    run_flow(prompt_from_options(console=console, spinner="line"), spin=0.15)
    plain = SGR.sub("", out.getvalue())
    assert "- Waiting for you to approve in the browser… (expires in 14:5" in plain
    assert "⠋" not in plain


def test_unknown_spinner_name_lists_valid_ones() -> None:
    console, _ = make_console(terminal=False)
    with pytest.raises(ConfigurationError, match=r"unknown spinner 'spiny'.*'dots'.*'line'"):
        prompt_from_options(console=console, spinner="spiny")


def test_spinner_of_wrong_type_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="start\\(\\) and stop\\(\\)"):
        TerminalPrompt(console=make_console(terminal=False)[0], spinner=42)  # type: ignore[arg-type]


def test_halo_like_spinner_succeed() -> None:
    console, out = make_console(terminal=True)
    spinner = RecordingSpinner()
    run_flow(prompt_from_options(console=console, spinner=spinner))
    assert spinner.calls == ["start", "succeed:Authentication complete."]
    assert "✓" not in out.getvalue()  # the spinner reported it: no second line


def test_halo_like_spinner_fail() -> None:
    console, out = make_console(terminal=False)
    spinner = RecordingSpinner()
    run_flow(prompt_from_options(console=console, spinner=spinner), error=AccessDenied("x"))
    assert spinner.calls == ["start", "fail:Authorization was denied."]
    assert "✗" not in out.getvalue()


def test_halo_like_spinner_without_success_message_just_stops() -> None:
    console, out = make_console(terminal=False)
    spinner = RecordingSpinner()
    prompt = prompt_from_options(
        console=console, spinner=spinner, use_default_success_message=False
    )
    run_flow(prompt)
    assert spinner.calls == ["start", "stop"]
    assert "✓" not in out.getvalue()


def test_bare_spinner_is_stopped_and_outcome_printed() -> None:
    console, out = make_console(terminal=False)
    spinner = BareSpinner()
    run_flow(prompt_from_options(console=console, spinner=spinner))
    assert spinner.calls == ["start", "stop"]
    assert out.getvalue().endswith("✓ Authentication complete.\n")

    spinner = BareSpinner()
    run_flow(prompt_from_options(console=console, spinner=spinner), error=ExpiredToken("x"))
    assert spinner.calls == ["start", "stop"]
    assert out.getvalue().splitlines()[-1].startswith("✗ The code expired")


def test_close_stops_a_running_user_spinner_once() -> None:
    spinner = BareSpinner()
    prompt = prompt_from_options(console=make_console(terminal=False)[0], spinner=spinner)
    prompt.start_waiting()
    prompt.close()
    prompt.close()
    assert spinner.calls == ["start", "stop"]


def test_no_spinner() -> None:
    console, out = make_console(terminal=True)
    run_flow(prompt_from_options(console=console, use_default_spinner=False))
    text = out.getvalue()
    assert "Waiting" not in text
    assert "\x1b[?25l" not in text
    assert "Authentication complete." in text


def test_close_joins_the_spinner_thread_and_shows_the_cursor() -> None:
    console, out = make_console(terminal=True)
    prompt = prompt_from_options(console=console)
    prompt.show_code(make_auth_info())
    prompt.start_waiting()
    assert len(spinner_threads()) == 1
    time.sleep(0.3)
    assert "\r\x1b[2K" in out.getvalue()  # the thread redrew the line before close()
    prompt.close()
    assert not spinner_threads()
    text = out.getvalue()
    assert text.rindex("\x1b[?25h") > text.rindex("\x1b[?25l")
    size = len(text)
    prompt.close()
    time.sleep(0.1)
    assert len(out.getvalue()) == size  # nothing refreshes after close


def test_countdown_and_expiry() -> None:
    console, out = make_console(terminal=False)
    prompt = prompt_from_options(console=console)
    prompt.show_code(make_auth_info(expires_in=3725))
    prompt.start_waiting()
    prompt.close()
    assert "(expires in 1:02:0" in out.getvalue()

    console, out = make_console(terminal=False)
    prompt = prompt_from_options(console=console)
    prompt.show_code(make_auth_info(expires_in=0))
    prompt.start_waiting()
    prompt.close()
    assert "Waiting for you to approve in the browser… (the code has expired)" in out.getvalue()


# -- terminals, colour and streams ----------------------------------------------------------


def test_non_terminal_has_no_control_codes() -> None:
    # An explicit colour system must not sneak colour into a file either.
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, color_system="truecolor", width=100)
    run_flow(prompt_from_options(console=console), spin=0.2)
    run_flow(prompt_from_options(console=console), error=AccessDenied("x"), spin=0.1)
    text = out.getvalue()
    assert "\x1b" not in text
    assert "\r" not in text
    assert text.count("Waiting for you") == 2  # once per flow, no countdown updates
    assert "⠋" not in text


def test_dumb_terminal_gets_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "dumb")
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    run_flow(prompt_from_options(console=console), spin=0.2)
    text = out.getvalue()
    assert "\x1b" not in text
    assert text.count("Waiting for you") == 1


def test_no_color_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    run_flow(prompt_from_options(console=console), error=AccessDenied("x"), spin=0.2)
    text = out.getvalue()
    assert not SGR.search(text), text
    assert "\x1b[?25l" in text  # the spinner still animates
    assert "WDJB-MJHT" in text


def test_force_color_without_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    out = io.StringIO()
    console = Console(file=out, width=100)
    prompt_from_options(console=console).show_code(make_auth_info())
    assert "\x1b[1mWDJB-MJHT" in out.getvalue()


def test_program_output_stays_on_stdout_while_spinning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # stderr is a terminal but stdout may be a pipe: what the program prints meanwhile must
    # still go to stdout, not be re-routed through the (stderr) console above the spinner.
    console, out = make_console(terminal=True)
    prompt = prompt_from_options(console=console)
    prompt.start_waiting()
    try:
        print("program output")
    finally:
        prompt.close()
    assert capsys.readouterr().out == "program output\n"
    assert "program output" not in out.getvalue()


def test_default_console_writes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    run_flow(prompt_from_options(), error=AccessDenied("x"))
    run_flow(TerminalPrompt())
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "WDJB-MJHT" in captured.err
    assert "✗ Authorization was denied." in captured.err
    assert "✓ Authentication complete." in captured.err


def test_ascii_only_stream_gets_ascii_symbols() -> None:
    class AsciiIO(io.StringIO):
        @property
        def encoding(self) -> str:  # type: ignore[override]
            return "ascii"

    out = AsciiIO()
    console = Console(file=out, force_terminal=True, color_system=None, width=100)
    run_flow(prompt_from_options(console=console), spin=0.1)
    run_flow(prompt_from_options(console=console), error=KeyboardInterrupt())
    text = out.getvalue()
    text.encode("ascii")  # would raise on any symbol rich could not have written
    assert "Waiting for you to approve in the browser... (expires in" in text
    assert "OK Authentication complete." in text
    assert "X Cancelled." in text


def test_terminal_prompt_is_a_prompt() -> None:
    assert isinstance(TerminalPrompt(console=make_console(terminal=False)[0]), Prompt)
    assert not isinstance(object(), Prompt)


def test_import_does_not_load_rich() -> None:
    code = (
        "import sys, loctocat.prompt; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert result.stdout.strip() == "[]"


# -- a real terminal ------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in RICH_ENV}
    env["TERM"] = "xterm-256color"
    return env


def read_until_closed(fd: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: every process holding the terminal has exited
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def test_child_on_a_real_terminal() -> None:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), "0.5"],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=slave,
        env=child_env(),
    )
    os.close(slave)
    try:
        terminal = read_until_closed(master, time.monotonic() + 15).decode()
        assert proc.stdout is not None
        stdout = proc.stdout.read()
        assert proc.wait(timeout=15) == 0, terminal
    finally:
        os.close(master)
        if proc.stdout is not None:
            proc.stdout.close()
    assert stdout == b""
    assert "\x1b[1mWDJB-MJHT" in terminal
    assert "\x1b[?25l" in terminal  # cursor hidden while spinning...
    assert terminal.rindex("\x1b[?25h") > terminal.rindex("\x1b[?25l")  # ...and shown again
    assert "\r\x1b[2K" in terminal  # the spinner line was redrawn
    assert "(expires in 14:5" in terminal
    assert "Authentication complete." in terminal


def test_child_with_stderr_piped() -> None:
    result = subprocess.run(
        [sys.executable, str(CHILD), "0.3"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=child_env(),
        timeout=30,
        check=True,
    )
    assert result.stdout == b""
    err = result.stderr.decode()
    assert "\x1b" not in err
    assert err.count("Waiting for you") == 1
    assert "! First copy your one-time code: WDJB-MJHT" in err
    assert err.endswith("✓ Authentication complete.\n")
