"""What the user sees during authenticate(): loctocat.prompt."""

from __future__ import annotations

import asyncio
import contextlib
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
import webbrowser
from pathlib import Path
from typing import Any, Literal

import pytest
from rich.console import Console

import loctocat.prompt
from loctocat._models import LoctocatAuthInfo, Token
from loctocat.errors import AccessDenied, ConfigurationError, ExpiredToken, ServerError
from loctocat.prompt import (
    Prompt,
    TerminalPrompt,
    failure_message,
    prompt_from_options,
)

CHILD = Path(__file__).with_name("prompt_child.py")
COMPLETE = "https://example.com/device?user_code=WDJB-MJHT"
# Any SGR sequence (colour, bold, reset): what NO_COLOR and non-terminals must never get.
SGR = re.compile(r"\x1b\[[0-9;]*m")
# The environment variables that change rich's terminal and colour decisions.
RICH_ENV = ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES")
# The ones that switch the prompt's extras on or off (Press Enter, QR code).
EXTRAS_ENV = ("CI", "BROWSER", "SSH_CONNECTION", "SSH_TTY", "SSH_CLIENT")
HALF_BLOCKS = re.compile("[▀▄█]")


@pytest.fixture(autouse=True)
def neutral_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test from a plain colour terminal, whatever the developer's shell sets.

    stdin is never a terminal here (even under ``pytest -s``), so nothing offers "Press Enter".
    """
    for name in RICH_ENV + EXTRAS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setattr(sys, "stdin", io.StringIO())


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
    spin: bool = False,
) -> None:
    """Drive the prompt the way the authenticators do.

    With `spin`, the outcome comes once an animated spinner has redrawn itself at least once.
    """
    try:
        prompt.show_code(auth_info or make_auth_info())
        file = prompt.console.file
        written = len(file.getvalue()) if isinstance(file, io.StringIO) else 0
        prompt.start_waiting()
        if spin and prompt._live is not None and isinstance(file, io.StringIO):
            drawn = len(file.getvalue())
            wait_for(lambda: len(file.getvalue()) > max(drawn, written))
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
        verification_uri_complete=COMPLETE,
        extra={"message": "To sign in, use a web browser to open the page..."},
    )
    prompt_from_options(console=console).show_code(auth_info)
    text = out.getvalue()
    assert (
        f"Open {COMPLETE} in your browser (the code is filled in), "
        "or https://example.com/device and enter the code.\n"
    ) in text
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
    run_flow(prompt, spin=True)
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
        (ServerError("access_denied", "\x1b[2Jgone"), r"✗ access_denied: \x1b[2Jgone"),
        (RuntimeError("\x1b]0;title\x07boom\x9b2J"), r"✗ \x1b]0;title\x07boom\x9b2J"),
        (TimeoutError(), "✗ TimeoutError"),
    ],
)
def test_failure_lines(error: BaseException, expected: str) -> None:
    console, out = make_console(terminal=False)
    run_flow(prompt_from_options(console=console), error=error)
    assert out.getvalue().splitlines()[-1] == expected
    assert failure_message(error) == expected.removeprefix("✗ ")


# -- what a hostile server sends ------------------------------------------------------------

# A link whose text is GitHub's page but whose target is another (OSC 8), clear screen (CSI),
# a window title ended by BEL, the one-character C1 CSI, and a right-to-left override.
LINK = "\x1b]8;;https://evil.example/\x1b\\https://github.com/login/device\x1b]8;;\x1b\\"
SHOWN_LINK = r"\x1b]8;;https://evil.example/\x1b\https://github.com/login/device\x1b]8;;\x1b" + "\\"
HOSTILE = {
    "user_code": "WDJB\x1b[2J-MJHT",
    "verification_uri": LINK,
    "verification_uri_complete": "https://example.com/\x1b]0;pwned\x07\x9b5m\u202etxt.exe",
}
# The prompt's own colour codes (reset, bold, yellow, bold red, bold yellow), and what a
# terminal would act on once they are taken out.
PROMPT_SGR = re.compile(r"\x1b\[(?:0|1|33|1;31|1;33)m")
TERMINAL_CONTROLS = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def shown_text(output: str) -> str:
    """`output` without the prompt's colour codes, once checked that nothing else acts."""
    assert "\x1b]" not in output  # no OSC at all: no window title, no hyperlink of rich's own
    text = PROMPT_SGR.sub("", output)
    assert not TERMINAL_CONTROLS.search(text), text
    return text


@pytest.mark.parametrize("terminal", [True, False])
def test_hostile_auth_info_is_shown_escaped(terminal: bool) -> None:
    console, out = make_console(terminal=terminal)
    prompt = TerminalPrompt(console=console, spinner=None, qr=False)
    prompt.show_code(make_auth_info(**HOSTILE))
    prompt.failed(ServerError("invalid_scope", "\x1b[2J\x1b[5mgone\u202e", "\x1b]8;;x\x07"))
    prompt.close()
    text = shown_text(out.getvalue())
    assert text.startswith(
        r"! First copy your one-time code: WDJB\x1b[2J-MJHT" + "\n"
        r"Open https://example.com/\x1b]0;pwned\x07\x9b5m\u202etxt.exe in your browser "
        f"(the code is filled in), or {SHOWN_LINK} and enter the code.\n"
    )
    assert text.endswith(r"invalid_scope: \x1b[2J\x1b[5mgone\u202e [see \x1b]8;;x\x07]" + "\n")


@pytest.mark.parametrize("terminal", [True, False])
def test_custom_message_keeps_its_line_breaks_and_escapes_the_rest(terminal: bool) -> None:
    console, out = make_console(terminal=terminal)

    def message(auth_info: LoctocatAuthInfo) -> str:
        return f"Go to {auth_info.verification_uri}\nand type\t{auth_info.user_code}\r"

    TerminalPrompt(console=console, message=message, spinner=None).show_code(
        make_auth_info(**HOSTILE)
    )
    text = shown_text(out.getvalue())
    assert text == f"Go to {SHOWN_LINK}\n" + r"and type\x09WDJB\x1b[2J-MJHT\x0d" + "\n"


def test_failure_while_spinning_prints_after_the_spinner_is_gone() -> None:
    console, out = make_console(terminal=True)
    run_flow(prompt_from_options(console=console), error=KeyboardInterrupt(), spin=True)
    text = out.getvalue()
    assert text.index("\x1b[?25h") < text.index("Cancelled.")
    assert SGR.sub("", text).endswith("✗ Cancelled.\n")
    assert not spinner_threads()


# -- spinners -------------------------------------------------------------------------------


def test_spinner_by_name() -> None:
    console, out = make_console(terminal=True)
    run_flow(prompt_from_options(console=console, spinner="line"), spin=True)
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
    wait_for(lambda: "\r\x1b[2K" in out.getvalue())
    assert "\r\x1b[2K" in out.getvalue()  # the thread redrew the line before close()
    prompt.close()
    assert not spinner_threads()
    text = out.getvalue()
    assert text.rindex("\x1b[?25h") > text.rindex("\x1b[?25l")
    size = len(text)
    prompt.close()
    assert not spinner_threads()  # joined: nothing is left to refresh
    assert len(out.getvalue()) == size


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
    run_flow(prompt_from_options(console=console), spin=True)
    run_flow(prompt_from_options(console=console), error=AccessDenied("x"), spin=True)
    text = out.getvalue()
    assert "\x1b" not in text
    assert "\r" not in text
    assert text.count("Waiting for you") == 2  # once per flow, no countdown updates
    assert "⠋" not in text


def test_dumb_terminal_gets_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "dumb")
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    run_flow(prompt_from_options(console=console), spin=True)
    text = out.getvalue()
    assert "\x1b" not in text
    assert text.count("Waiting for you") == 1


def test_no_color_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    run_flow(prompt_from_options(console=console), error=AccessDenied("x"), spin=True)
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
    run_flow(prompt_from_options(console=console), spin=True)
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
    env = {k: v for k, v in os.environ.items() if k not in RICH_ENV + EXTRAS_ENV}
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


@pytest.mark.parametrize("outcome", ["succeeded", "failed", "closed"])
def test_echo_is_off_while_spinning_and_restored_on_every_exit(outcome: str) -> None:
    master, slave = pty.openpty()
    try:
        with os.fdopen(os.dup(slave), "w") as stream:
            before = termios.tcgetattr(slave)
            console = Console(file=stream, force_terminal=True, width=80)
            prompt = prompt_from_options(console=console)
            prompt.show_code(make_auth_info())
            assert termios.tcgetattr(slave) == before  # typing echoes until the spinner starts
            prompt.start_waiting()
            assert not termios.tcgetattr(slave)[3] & termios.ECHO
            if outcome == "succeeded":
                prompt.succeeded(Token(access_token="t"))
            elif outcome == "failed":
                prompt.failed(KeyboardInterrupt())
            if outcome != "closed":
                assert termios.tcgetattr(slave) == before  # back once the spinner is gone
            prompt.close()
            assert termios.tcgetattr(slave) == before  # every setting exactly as it was
            prompt.close()
            assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)


def test_echo_of_a_terminal_in_the_background_is_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Changing its settings would stop the process (SIGTTOU); the terminal is another job's.
    monkeypatch.setattr(os, "tcgetpgrp", lambda fd: os.getpgrp() + 1)
    master, slave = pty.openpty()
    try:
        with os.fdopen(os.dup(slave), "w") as stream:
            before = termios.tcgetattr(slave)
            prompt = prompt_from_options(console=Console(file=stream, force_terminal=True))
            prompt.start_waiting()
            assert termios.tcgetattr(slave) == before
            prompt.close()
    finally:
        os.close(master)
        os.close(slave)


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


# -- the layout: the code once, the page once -----------------------------------------------

PRESS_ENTER = (
    "Press Enter to open https://example.com/device in your browser, "
    "or open it yourself and enter the code."
)
PRESS_ENTER_COMPLETE = f"Press Enter to open {COMPLETE} in your browser (the code is filled in)."
OPEN = "Open https://example.com/device in your browser and enter the code."
OPEN_COMPLETE = (
    f"Open {COMPLETE} in your browser (the code is filled in), "
    "or https://example.com/device and enter the code."
)


@pytest.mark.parametrize("width", [80, 50])
@pytest.mark.parametrize(
    ("complete", "where"), [(None, PRESS_ENTER), (COMPLETE, PRESS_ENTER_COMPLETE)]
)
def test_layout_on_a_terminal_with_enter(
    keyboard: FakeStdin, opened: list[str], width: int, complete: str | None, where: str
) -> None:
    console, out = make_console(terminal=True, width=width)
    prompt = prompt_from_options(console=console)
    try:
        prompt.show_code(make_auth_info(verification_uri_complete=complete))
        assert enter_threads()
    finally:
        prompt.close()
    text = out.getvalue()
    # One line for the code and one for the page, each said once; a line wider than the
    # terminal is left for the terminal to wrap, never broken (a broken URL cannot be clicked).
    assert SGR.sub("", text) == f"! First copy your one-time code: WDJB-MJHT\n{where}\n"
    assert "\x1b[1;33m!\x1b[0m" in text
    assert "\x1b[1mWDJB-MJHT\x1b[0m" in text  # the code in bold


@pytest.mark.parametrize("width", [80, 50])
@pytest.mark.parametrize(("complete", "where"), [(None, OPEN), (COMPLETE, OPEN_COMPLETE)])
def test_layout_on_a_terminal_without_enter(width: int, complete: str | None, where: str) -> None:
    console, out = make_console(terminal=True, width=width)
    prompt_from_options(console=console).show_code(
        make_auth_info(verification_uri_complete=complete)
    )
    assert SGR.sub("", out.getvalue()) == f"! First copy your one-time code: WDJB-MJHT\n{where}\n"


@pytest.mark.parametrize(("complete", "where"), [(None, OPEN), (COMPLETE, OPEN_COMPLETE)])
def test_layout_off_a_terminal(
    keyboard: FakeStdin, opened: list[str], complete: str | None, where: str
) -> None:
    console, out = make_console(terminal=False, width=50)
    run_flow(
        prompt_from_options(console=console),
        auth_info=make_auth_info(verification_uri_complete=complete),
    )
    assert not enter_threads()  # nobody is asked to press Enter where nothing is shown live
    assert out.getvalue() == (
        "! First copy your one-time code: WDJB-MJHT\n"
        f"{where}\n"
        "Waiting for you to approve in the browser… (expires in 14:59)\n"
        "✓ Authentication complete.\n"
    )


def test_layout_on_a_dumb_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "dumb")
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    prompt_from_options(console=console).show_code(make_auth_info())
    assert out.getvalue() == f"! First copy your one-time code: WDJB-MJHT\n{OPEN}\n"


def test_custom_message_keeps_its_own_press_enter_line(
    keyboard: FakeStdin, opened: list[str]
) -> None:
    console, out = make_console(terminal=True)
    prompt = prompt_from_options(console=console, message="Use {code}")
    try:
        prompt.show_code(make_auth_info(verification_uri_complete=COMPLETE))
    finally:
        prompt.close()
    assert out.getvalue() == f"Use {{code}}\nPress Enter to open {COMPLETE} in your browser...\n"


# -- QR code --------------------------------------------------------------------------------


def qr_matrix_from_text(text: str, *, coloured: bool) -> list[list[bool]]:
    """Read half blocks back into QR modules (True = dark), two rows per line."""
    top = {"█": True, "▀": True, "▄": False, " ": False}
    bottom = {"█": True, "▀": False, "▄": True, " ": False}
    rows: list[list[bool]] = []
    for line in text.splitlines():
        rows.append([top[c] == coloured for c in line])
        rows.append([bottom[c] == coloured for c in line])
    return rows


def qr_block(text: str, rows: int) -> str:
    """The lines of a QR code of `rows` module rows, printed after its heading."""
    lines = text.splitlines()
    start = lines.index("Or scan this QR code:") + 1
    return "\n".join(lines[start : start + (rows + 1) // 2])


@pytest.mark.parametrize("terminal", [True, False])
def test_qr_code_encodes_the_complete_uri(terminal: bool) -> None:
    import segno

    url = "https://example.com/device?user_code=WDJB-MJHT"
    console, out = make_console(terminal=terminal)
    prompt = prompt_from_options(console=console, qr=True)
    prompt.show_code(make_auth_info(verification_uri_complete=url))
    text = out.getvalue()
    assert ("\x1b" in text) is terminal  # off a terminal: plain text, no ANSI
    expected = [[bool(m) for m in row] for row in segno.make(url).matrix_iter(border=2)]
    decoded = qr_matrix_from_text(qr_block(SGR.sub("", text), len(expected)), coloured=terminal)
    assert decoded[: len(expected)] == expected
    if terminal:
        # Black on white, whatever the terminal's theme.
        assert "\x1b[38;2;0;0;0;48;2;255;255;255m" in text


def test_qr_code_of_verification_uri_without_a_complete_one() -> None:
    import segno

    console, out = make_console(terminal=False)
    prompt_from_options(console=console, qr=True).show_code(make_auth_info())
    matrix = segno.make("https://example.com/device").matrix_iter(border=2)
    expected = [[bool(m) for m in row] for row in matrix]
    decoded = qr_matrix_from_text(qr_block(out.getvalue(), len(expected)), coloured=False)
    assert decoded[: len(expected)] == expected


@pytest.mark.parametrize(
    ("qr", "ssh", "terminal", "shown"),
    [
        (None, False, True, False),
        (None, True, True, True),
        (None, True, False, False),
        (False, True, True, False),
        (True, False, False, True),
    ],
)
def test_when_the_qr_code_is_shown(
    monkeypatch: pytest.MonkeyPatch, qr: bool | None, ssh: bool, terminal: bool, shown: bool
) -> None:
    if ssh:
        monkeypatch.setenv("SSH_CONNECTION", "10.0.0.1 5000 10.0.0.2 22")
    console, out = make_console(terminal=terminal)
    prompt_from_options(console=console, qr=qr).show_code(make_auth_info())
    assert bool(HALF_BLOCKS.search(out.getvalue())) is shown
    assert ("Or scan this QR code:" in out.getvalue()) is shown


def test_qr_code_over_ssh_tty_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSH_TTY", "/dev/pts/3")
    console, out = make_console(terminal=True)
    prompt_from_options(console=console).show_code(make_auth_info())
    assert HALF_BLOCKS.search(out.getvalue())


def test_no_automatic_qr_code_when_the_message_is_silenced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SSH_CONNECTION", "10.0.0.1 5000 10.0.0.2 22")
    console, out = make_console(terminal=True)
    prompt_from_options(console=console, use_default_message=False).show_code(make_auth_info())
    assert out.getvalue() == ""
    prompt_from_options(console=console, message="", qr=True).show_code(make_auth_info())
    assert HALF_BLOCKS.search(out.getvalue())


def test_qr_without_segno(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "segno", None)  # `import segno` raises ImportError
    monkeypatch.setenv("SSH_CONNECTION", "10.0.0.1 5000 10.0.0.2 22")
    console, out = make_console(terminal=True)
    prompt_from_options(console=console).show_code(make_auth_info())
    assert "segno" not in out.getvalue()  # automatic: quietly left out
    prompt_from_options(console=console, qr=True).show_code(make_auth_info())
    text = SGR.sub("", out.getvalue())
    assert text.count("Install segno to show a QR code: pip install 'loctocat[qr]'\n") == 1
    assert not HALF_BLOCKS.search(text)


def test_qr_code_too_wide_for_the_terminal_is_left_out() -> None:
    # 33 columns wide for this URL (29 modules and the quiet zone).
    console, out = make_console(terminal=True, width=32)
    auth_info = make_auth_info(verification_uri_complete=COMPLETE)
    prompt_from_options(console=console, qr=True).show_code(auth_info)
    assert not HALF_BLOCKS.search(out.getvalue())
    assert "The terminal is too narrow for the QR code." in out.getvalue()


# -- clipboard ------------------------------------------------------------------------------


def fake_command(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


@pytest.fixture
def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty directory that is the whole PATH: only the fake commands put there exist."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


def test_copy_code_uses_the_first_clipboard_command_that_works(
    fake_bin: Path, tmp_path: Path
) -> None:
    fake_command(fake_bin, "wl-copy", "exit 1")  # found first, but fails (no Wayland)
    fake_command(fake_bin, "xclip", f'/bin/cat > {tmp_path}/stdin; echo "$@" > {tmp_path}/args')
    fake_command(fake_bin, "xsel", f"/bin/cat > {tmp_path}/xsel")
    console, out = make_console(terminal=False)
    prompt_from_options(console=console, copy_code=True).show_code(make_auth_info())
    assert (tmp_path / "stdin").read_text() == "WDJB-MJHT"
    assert (tmp_path / "args").read_text() == "-selection clipboard\n"
    assert not (tmp_path / "xsel").exists()
    assert "\nCopied the code to the clipboard.\n" in out.getvalue()


def test_copy_code_is_off_by_default(fake_bin: Path, tmp_path: Path) -> None:
    fake_command(fake_bin, "xclip", f"/bin/cat > {tmp_path}/stdin")
    console, out = make_console(terminal=True)
    run_flow(prompt_from_options(console=console))
    run_flow(prompt_from_options(console=console, copy_code=False))
    assert not (tmp_path / "stdin").exists()
    assert "clipboard" not in out.getvalue()


@pytest.mark.parametrize("body", [None, "exit 3", "/bin/sleep 5"])
def test_copy_code_failing_says_nothing(
    fake_bin: Path, monkeypatch: pytest.MonkeyPatch, body: str | None
) -> None:
    monkeypatch.setattr("loctocat.prompt._CLIPBOARD_TIMEOUT_SECONDS", 0.3)
    if body is not None:
        fake_command(fake_bin, "pbcopy", body)
    console, out = make_console(terminal=False)
    started = time.monotonic()
    run_flow(prompt_from_options(console=console, copy_code=True))
    assert time.monotonic() - started < 3
    assert "clipboard" not in out.getvalue()
    assert out.getvalue().endswith("✓ Authentication complete.\n")


def test_code_with_control_characters_is_not_copied(fake_bin: Path, tmp_path: Path) -> None:
    fake_command(fake_bin, "xclip", f"/bin/cat > {tmp_path}/stdin")
    console, out = make_console(terminal=False)
    prompt = prompt_from_options(console=console, copy_code=True)
    prompt.show_code(make_auth_info(user_code="WDJB\x1b[201~-MJHT"))
    assert not (tmp_path / "stdin").exists()
    assert "clipboard" not in out.getvalue()


# -- Press Enter to open the browser ----------------------------------------------------------


class FakeStdin:
    """A pipe standing in for the terminal on stdin: write lines to it as the user would."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()

    def type(self, data: bytes) -> None:
        os.write(self.write_fd, data)

    def unread(self) -> bytes:
        """What is still waiting in the pipe (nothing consumed it)."""
        ready, _, _ = select.select([self.read_fd], [], [], 0.2)
        return os.read(self.read_fd, 4096) if ready else b""

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


@pytest.fixture
def keyboard(monkeypatch: pytest.MonkeyPatch) -> Any:
    """stdin is a terminal the user can type into, and a browser is available."""
    stdin = FakeStdin()
    monkeypatch.setattr("loctocat.prompt._interactive_stdin", lambda: stdin.read_fd)
    monkeypatch.setattr("loctocat.prompt._browser_available", lambda: True)
    yield stdin
    stdin.close()


class RecordingBrowser(webbrowser.BackgroundBrowser):
    """A browser started in the background, as xdg-open is, that records what it opens."""

    def __init__(self, urls: list[str], *, starts: bool = True) -> None:
        super().__init__("recording-browser")
        self.urls = urls
        self.starts = starts

    def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
        self.urls.append(url)
        return self.starts


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The URLs a browser was asked to open (it succeeds without opening anything).

    `webbrowser.get()` gives a `RecordingBrowser`; `webbrowser.open` records into the same list.
    """
    urls: list[str] = []

    def fake_open(url: str, *args: object, **kwargs: object) -> bool:
        urls.append(url)
        return True

    monkeypatch.setattr(webbrowser, "get", lambda using=None: RecordingBrowser(urls))
    monkeypatch.setattr(webbrowser, "open", fake_open)
    monkeypatch.setattr(
        loctocat.prompt, "_start_in_background", lambda browser, url: browser.open(url)
    )
    return urls


def enter_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "loctocat-enter"]


def wait_for(condition: Any, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.fixture(autouse=True)
def no_enter_reader_left() -> None:
    """A stopped Enter reader no longer reads once `stop()` returns, but its thread ends a
    moment later: wait for an earlier test's, so that the checks that no reader was started
    see only this test's."""
    wait_for(lambda: not enter_threads())
    assert not enter_threads(), "an Enter reader of an earlier test never ended"


def test_enter_opens_the_complete_uri(keyboard: FakeStdin, opened: list[str]) -> None:
    console, out = make_console(terminal=True)
    prompt = prompt_from_options(console=console)
    prompt.show_code(make_auth_info(verification_uri_complete=COMPLETE))
    prompt.start_waiting()
    assert f"{PRESS_ENTER_COMPLETE}\n" in out.getvalue()
    keyboard.type(b"\n")
    wait_for(lambda: opened)
    wait_for(lambda: f"Opening {COMPLETE} in your browser." in out.getvalue())
    run_flow(prompt, spin=True)
    assert opened == [COMPLETE]
    assert f"Opening {COMPLETE} in your browser." in out.getvalue()
    wait_for(lambda: not enter_threads())
    assert not enter_threads()


def test_enter_opens_verification_uri_without_a_complete_one(
    keyboard: FakeStdin, opened: list[str]
) -> None:
    console, _ = make_console(terminal=True)
    prompt = TerminalPrompt(console=console)
    prompt.show_code(make_auth_info())
    keyboard.type(b"\n")
    wait_for(lambda: opened)
    prompt.close()
    assert opened == ["https://example.com/device"]


def test_browser_that_fails_to_start_gets_a_fallback_line(
    keyboard: FakeStdin, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = webbrowser.BackgroundBrowser("/nonexistent/browser")
    monkeypatch.setattr(webbrowser, "get", lambda using=None: missing)
    console, out = make_console(terminal=True)
    prompt = prompt_from_options(console=console)
    prompt.show_code(make_auth_info())
    keyboard.type(b"\n")
    line = "Could not start a browser; open https://example.com/device yourself."
    wait_for(lambda: line in out.getvalue())
    prompt.close()
    assert line in out.getvalue()


def test_close_stops_reading_stdin(keyboard: FakeStdin, opened: list[str]) -> None:
    console, _ = make_console(terminal=True)
    prompt = prompt_from_options(console=console)
    prompt.show_code(make_auth_info())
    assert enter_threads()
    prompt.close()
    wait_for(lambda: not enter_threads())
    assert not enter_threads()
    keyboard.type(b"later input\n")  # no reader is left to take it
    assert keyboard.unread() == b"later input\n"  # still there for the program
    assert opened == []


@pytest.mark.parametrize("outcome", ["succeeded", "failed"])
def test_enter_after_the_outcome_is_left_to_the_program(
    keyboard: FakeStdin, opened: list[str], outcome: str
) -> None:
    console, out = make_console(terminal=True)
    prompt = prompt_from_options(console=console)
    prompt.show_code(make_auth_info())
    if outcome == "succeeded":
        prompt.succeeded(Token(access_token="t"))
    else:
        prompt.failed(AccessDenied("x"))
    wait_for(lambda: not enter_threads())  # the outcome stops the reader
    assert not enter_threads()
    keyboard.type(b"\n")
    assert keyboard.unread() == b"\n"
    prompt.close()
    assert opened == []
    assert "Opening" not in out.getvalue()


def test_end_of_input_opens_nothing(keyboard: FakeStdin, opened: list[str]) -> None:
    console, _ = make_console(terminal=True)
    prompt = prompt_from_options(console=console)
    prompt.show_code(make_auth_info())
    os.close(keyboard.write_fd)  # Ctrl+D
    wait_for(lambda: not enter_threads())
    prompt.close()
    assert opened == []


@pytest.mark.parametrize(
    ("open_browser", "ci", "terminal", "message", "offered"),
    [
        (None, False, True, None, True),
        (None, True, True, None, False),  # CI: nobody to press Enter
        (True, True, True, None, True),
        (False, False, True, None, False),
        (None, False, False, None, False),  # the console is not a terminal
        (True, False, False, None, False),
        (None, False, True, "custom", True),
        (None, False, True, "", False),  # silenced: no automatic extras
        (True, False, True, "", True),
    ],
)
def test_when_press_enter_is_offered(
    keyboard: FakeStdin,
    monkeypatch: pytest.MonkeyPatch,
    open_browser: bool | None,
    ci: bool,
    terminal: bool,
    message: str | None,
    offered: bool,
) -> None:
    if ci:
        monkeypatch.setenv("CI", "true")
    console, out = make_console(terminal=terminal)
    options: dict[str, Any] = {"open_browser": open_browser}
    if message is not None:
        options["message"] = message
        options["use_default_message"] = False
    prompt = prompt_from_options(console=console, **options)
    try:
        prompt.show_code(make_auth_info())
        assert ("Press Enter to open" in out.getvalue()) is offered
        assert bool(enter_threads()) is offered
    finally:
        prompt.close()


def test_no_offer_without_a_browser(keyboard: FakeStdin, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("loctocat.prompt._browser_available", lambda: False)
    console, out = make_console(terminal=True)
    run_flow(prompt_from_options(console=console, open_browser=True))
    assert "Press Enter" not in out.getvalue()


def test_stdin_that_is_not_a_terminal_is_never_read(monkeypatch: pytest.MonkeyPatch) -> None:
    from loctocat.prompt import _interactive_stdin

    read_fd, write_fd = os.pipe()
    try:
        with os.fdopen(os.dup(read_fd)) as pipe:
            monkeypatch.setattr(sys, "stdin", pipe)
            assert _interactive_stdin() is None
        monkeypatch.setattr(sys, "stdin", None)
        assert _interactive_stdin() is None
        monkeypatch.setattr(sys, "stdin", io.StringIO())  # no file descriptor
        assert _interactive_stdin() is None
    finally:
        os.close(read_fd)
        os.close(write_fd)


def test_stdin_terminal_in_the_foreground_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    from loctocat.prompt import _interactive_stdin

    master, slave = pty.openpty()
    try:
        with os.fdopen(os.dup(slave)) as terminal:
            monkeypatch.setattr(sys, "stdin", terminal)
            # Not our controlling terminal: nothing would stop the process for reading it.
            assert _interactive_stdin() == terminal.fileno()
            monkeypatch.setattr(os, "tcgetpgrp", lambda fd: os.getpgrp() + 1)
            assert _interactive_stdin() is None  # a background job must not read
            monkeypatch.setattr(os, "tcgetpgrp", lambda fd: os.getpgrp())
            assert _interactive_stdin() == terminal.fileno()
            monkeypatch.setattr(sys, "platform", "win32")  # no select() on a console there
            assert _interactive_stdin() is None
    finally:
        os.close(master)
        os.close(slave)


def test_browser_available_follows_the_browser_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from loctocat.prompt import _browser_available

    monkeypatch.setattr(webbrowser, "_tryorder", None)  # look again, with this environment
    monkeypatch.setattr(webbrowser, "_browsers", {})
    monkeypatch.setenv("BROWSER", f"{sys.executable} -c pass %s")
    assert _browser_available()
    monkeypatch.setattr(webbrowser, "_tryorder", None)
    monkeypatch.setattr(webbrowser, "_browsers", {})
    monkeypatch.delenv("BROWSER")
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "TERM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert not _browser_available()


# -- which pages and which browsers ------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "opened"),
    [
        ("https://github.com/login/device", True),
        ("https://example.com/device?user_code=WDJB-MJHT", True),
        ("HTTPS://EXAMPLE.COM:8443/device#code", True),
        ("https://user@example.com/device", True),
        ("http://localhost:8080/device", True),
        ("http://app.localhost/device", True),
        ("http://127.0.0.1/device", True),
        ("http://127.4.5.6:9000/", True),
        ("http://[::1]:8000/device", True),
        ("javascript:alert(document.cookie)", False),
        ("file:///etc/passwd", False),
        ("--new-window=file:///etc/passwd", False),
        ("-https://example.com/device", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("vbscript:msgbox(1)", False),
        ("ftp://example.com/device", False),
        ("http://example.com/device", False),  # plain http to another machine
        ("http://localhost.evil.example/device", False),
        ("http://127.0.0.1.evil.example/device", False),
        ("http://[::2]/device", False),
        ("https:example.com/device", False),  # no host
        ("https:///device", False),
        ("//example.com/device", False),
        ("example.com/device", False),
        ("https://[::1/device", False),  # not parseable
        ("https://example.com/ device", False),
        ("https://example.com/\tdevice", False),
        ("https://example.com/device\n", False),
        ("https://example.com/\u00a0device", False),
        ("https://example.com/\x1b[2J", False),
        ("https://example.com/\x9b2J", False),
        ("https://example.com/\u202eexe.txt", False),
        ("", False),
    ],
)
def test_which_pages_are_opened(url: str, opened: bool) -> None:
    from loctocat.prompt import _is_web_page

    assert _is_web_page(url) is opened


REFUSED = "in a browser: only https:// pages are opened; open it yourself if you trust it."


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(document.cookie)",
        "file:///etc/passwd",
        "--new-window=file:///etc/passwd",
        "http://example.com/device",
    ],
)
@pytest.mark.parametrize("field", ["verification_uri", "verification_uri_complete"])
def test_other_pages_are_shown_but_never_opened(
    keyboard: FakeStdin, opened: list[str], url: str, field: str
) -> None:
    console, out = make_console(terminal=True)
    prompt = TerminalPrompt(console=console, spinner=None)
    prompt.show_code(make_auth_info(**{field: url}))
    assert not enter_threads()  # no reader was started to take the line
    keyboard.type(b"\n")
    prompt.close()
    text = SGR.sub("", out.getvalue())
    assert opened == []
    assert keyboard.unread() == b"\n"  # left for the program
    assert "Press Enter" not in text
    assert f"Not opening {url} {REFUSED}\n" in text
    assert url in text.split("Not opening")[0]  # shown where to go all the same


def test_refused_page_is_shown_escaped(keyboard: FakeStdin, opened: list[str]) -> None:
    console, out = make_console(terminal=True)
    prompt = TerminalPrompt(console=console, spinner=None)
    prompt.show_code(make_auth_info(verification_uri="javascript:\x1b[2J"))
    prompt.close()
    assert rf"Not opening javascript:\x1b[2J {REFUSED}" in shown_text(out.getvalue())
    assert opened == []


def test_opening_checks_the_page_itself(opened: list[str]) -> None:
    from loctocat.prompt import _open_page

    assert not _open_page("file:///etc/passwd")
    assert not _open_page("javascript:alert(1)")
    assert opened == []
    assert _open_page("https://example.com/device")
    assert opened == ["https://example.com/device"]


@pytest.mark.parametrize(
    ("browser", "usable"),
    [
        (webbrowser.GenericBrowser("www-browser"), False),  # how lynx, w3m and links come too
        (webbrowser.Elinks("elinks"), False),
        (webbrowser.BackgroundBrowser("xdg-open"), True),
        (webbrowser.BackgroundBrowser(["gio", "open", "--", "%s"]), True),
        (webbrowser.Mozilla("firefox"), True),
        (webbrowser.Chrome("google-chrome"), True),
        (webbrowser.Konqueror(), True),
    ],
)
def test_text_browsers_are_used_only_when_chosen(
    monkeypatch: pytest.MonkeyPatch, browser: webbrowser.BaseBrowser, usable: bool
) -> None:
    from loctocat.prompt import _browser_available, _open_page

    started: list[str] = []
    monkeypatch.setattr(webbrowser, "get", lambda using=None: browser)
    monkeypatch.setattr(browser, "open", lambda url, *a, **k: started.append(url) or True)
    monkeypatch.setattr(
        loctocat.prompt, "_start_in_background", lambda browser, url: browser.open(url)
    )
    assert _browser_available() is usable
    assert _open_page("https://example.com/device") is usable
    assert bool(started) is usable
    monkeypatch.setenv("BROWSER", "w3m")  # the user's own choice is always used
    assert _browser_available()
    monkeypatch.setenv("BROWSER", os.pathsep)  # set, but naming no browser
    assert _browser_available() is usable


def test_a_text_browser_found_on_the_path_is_not_offered(
    fake_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # webbrowser itself, as over SSH: no display, a terminal, and only w3m installed.
    fake_command(fake_bin, "w3m", f'echo "$@" > {tmp_path}/w3m')
    for name in ("DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(webbrowser, "_tryorder", None)  # look again, with this environment
    monkeypatch.setattr(webbrowser, "_browsers", {})
    stdin = FakeStdin()
    monkeypatch.setattr("loctocat.prompt._interactive_stdin", lambda: stdin.read_fd)
    try:
        console, out = make_console(terminal=True)
        prompt = TerminalPrompt(console=console, spinner=None)
        prompt.show_code(make_auth_info())
        assert not enter_threads()  # Enter is not even read
        stdin.type(b"\n")
        prompt.close()
        assert "Press Enter" not in out.getvalue()
        assert not (tmp_path / "w3m").exists()

        monkeypatch.setattr(webbrowser, "_tryorder", None)
        monkeypatch.setattr(webbrowser, "_browsers", {})
        monkeypatch.setenv("BROWSER", "w3m")
        prompt = TerminalPrompt(console=console, spinner=None)
        prompt.show_code(make_auth_info())
        assert "Press Enter to open https://example.com/device" in out.getvalue()
        prompt.close()
    finally:
        stdin.close()


def test_svg_of_the_prompt_for_the_docs_can_be_remade(tmp_path: Path) -> None:
    script = Path(__file__).parents[1] / "docs" / "assets" / "make_prompt_svg.py"
    subprocess.run([sys.executable, str(script), str(tmp_path / "prompt.svg")], check=True)
    svg = (tmp_path / "prompt.svg").read_text()
    assert svg.startswith("<svg")
    for text in ("WDJB-MJHT", "Press&#160;Enter&#160;to&#160;open", "filled&#160;in", "expires"):
        assert text in svg
    assert "W&#160;D&#160;J&#160;B" not in svg  # the code is shown once, as it is typed


def test_over_ssh_only_a_browser_the_user_named_is_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """xdg-open may fall back to a text browser there (no graphical one can start)."""
    from loctocat.prompt import _browser_available

    monkeypatch.setattr(webbrowser, "get", lambda using=None: webbrowser.BackgroundBrowser("x"))
    assert _browser_available()
    monkeypatch.setenv("SSH_CONNECTION", "10.0.0.1 50000 10.0.0.2 22")
    assert not _browser_available()
    monkeypatch.setenv("BROWSER", "firefox")
    assert _browser_available()


def test_a_launcher_is_started_away_from_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever xdg-open falls back to cannot read or draw on the terminal."""
    import subprocess

    from loctocat.prompt import _start_in_background

    started: list[tuple[list[str], dict[str, Any]]] = []

    class Popen:
        def __init__(self, command: list[str], **options: Any) -> None:
            started.append((command, options))

    monkeypatch.setattr(subprocess, "Popen", Popen)
    launcher = webbrowser.BackgroundBrowser(["gio", "open", "--", "%s"])
    assert _start_in_background(launcher, "https://example.com/device")
    [(command, options)] = started
    assert command == ["gio", "open", "--", "https://example.com/device"]
    for stream in ("stdin", "stdout", "stderr"):
        assert options[stream] == subprocess.DEVNULL
    assert options["start_new_session"] is True
