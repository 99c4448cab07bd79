"""The default prompt in a real pseudo-terminal (pexpect), as a user at the keyboard sees it.

Each test runs tests/prompt_child.py, which drives `prompt_from_options()` against a fake
`LoctocatAuthInfo` (no server) and waits for "approval" until a file appears.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

CHILD = Path(__file__).with_name("prompt_child.py")
COMPLETE = "https://example.com/device?user_code=WDJB-MJHT"
SGR = re.compile(r"\x1b\[[0-9;]*m")
ESCAPE = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])")
HALF_BLOCKS = re.compile("[▀▄█]")
# Variables of the developer's shell (or CI) that would change what the prompt does.
CLEARED_ENV = (
    "NO_COLOR",
    "FORCE_COLOR",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "COLUMNS",
    "LINES",
    "CI",
    "BROWSER",
    "SSH_CONNECTION",
    "SSH_TTY",
    "SSH_CLIENT",
)


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    env["TERM"] = "xterm-256color"
    env.update(extra)
    return env


class Terminal:
    """A child on a pseudo-terminal (stdin, stdout and stderr), with everything it wrote."""

    def __init__(self, *args: str, env: dict[str, str], columns: int = 100) -> None:
        self.log = io.BytesIO()
        self.child = pexpect.spawn(
            sys.executable,
            [str(CHILD), *args],
            env=env,
            dimensions=(50, columns),
            timeout=10,
        )
        self.child.logfile_read = self.log

    def expect(self, text: str) -> None:
        self.child.expect_exact(text)

    def echoes(self) -> bool:
        """Whether the terminal echoes what is typed (its settings, read through the master)."""
        return bool(termios.tcgetattr(self.child.child_fd)[3] & termios.ECHO)

    def finish(self) -> int:
        """Wait for the child to exit; its exit code."""
        self.child.expect(pexpect.EOF)
        self.child.close()
        status: int = self.child.exitstatus
        return status

    @property
    def output(self) -> str:
        return self.log.getvalue().decode()

    def screen(self) -> list[str]:
        """The lines left on the screen, replaying the cursor moves and erasures rich uses."""
        lines: list[str] = [""]
        row = col = 0
        text = self.output
        pos = 0
        while pos < len(text):
            match = ESCAPE.match(text, pos)
            if match:
                arg, command = match.groups()
                if command == "A":
                    row = max(0, row - int(arg or 1))
                elif command == "K" and arg == "2":
                    lines[row] = ""
                elif command == "K":
                    lines[row] = lines[row][:col]
                pos = match.end()
                continue
            char = text[pos]
            pos += 1
            if char == "\r":
                col = 0
            elif char == "\n":
                row += 1
                if row == len(lines):
                    lines.append("")
            else:
                line = lines[row].ljust(col)
                lines[row] = line[:col] + char + line[col + 1 :]
                col += 1
        return [line.rstrip() for line in lines if line.strip()]


@pytest.fixture
def approve(tmp_path: Path) -> Iterator[Path]:
    """The file whose creation ends the child's wait with success (created at teardown too)."""
    path = tmp_path / "approved"
    yield path
    path.touch()


@pytest.fixture
def browser(tmp_path: Path) -> tuple[str, Path]:
    """A ``BROWSER`` command that writes the URL it is given to a file: (command, file)."""
    opened = tmp_path / "opened.txt"
    stub = tmp_path / "browser_stub.py"
    stub.write_text(f"import sys\nopen({str(opened)!r}, 'w').write(sys.argv[1])\n")
    return f"{sys.executable} {stub} %s", opened


def wait_for_file(path: Path, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_enter_opens_the_browser_and_leaves_later_input_alone(
    approve: Path, browser: tuple[str, Path]
) -> None:
    command, opened = browser
    terminal = Terminal(
        "--complete",
        "--wait-file",
        str(approve),
        "--read-after",
        env=child_env(BROWSER=command),
    )
    terminal.expect("WDJB-MJHT")
    terminal.expect(f"Press Enter to open {COMPLETE} in your browser (the code is filled in).")
    terminal.expect("(expires in 14:5")  # the countdown
    terminal.child.send("\r")
    terminal.expect(f"Opening {COMPLETE} in your browser.")
    wait_for_file(opened)
    assert opened.read_text() == COMPLETE
    approve.touch()
    terminal.expect("Authentication complete.")
    # The prompt is closed: the program's own read gets what is typed now.
    terminal.child.send("later\r")
    terminal.expect("got: later")
    assert terminal.finish() == 0
    screen = terminal.screen()
    assert not [line for line in screen if "Waiting for you" in line]  # no stale spinner line
    assert screen == [
        "! First copy your one-time code: WDJB-MJHT",
        f"Press Enter to open {COMPLETE} in your browser (the code is filled in).",
        f"Opening {COMPLETE} in your browser.",
        "✓ Authentication complete.",
        "later",  # echoed by the terminal
        "got: later",
    ]


# At 50 columns the spinner's line wraps: it takes two rows, redrawn together.
@pytest.mark.parametrize("columns", [100, 50])
@pytest.mark.parametrize("offered", [True, False], ids=["enter-offered", "enter-not-offered"])
def test_keys_typed_while_waiting_leave_no_copies_of_the_spinner(
    approve: Path, browser: tuple[str, Path], offered: bool, columns: int
) -> None:
    command, opened = browser
    terminal = Terminal(
        "--wait-file",
        str(approve),
        "--read-after",
        "--check-terminal",
        *([] if offered else ["--open-browser", "false"]),
        env=child_env(BROWSER=command),
        columns=columns,
    )
    terminal.expect("(expires in 14:5")
    assert terminal.echoes() is False  # nothing typed lands on the spinner's line
    terminal.child.send("abc\r")  # letters, then Enter
    if offered:
        terminal.expect("Opening https://example.com/device in your browser.")
    terminal.child.send("\r\r")  # and Enter again, twice
    for _ in range(3):  # the spinner redraws itself after all of that
        terminal.expect("(expires in 14:5")
    approve.touch()
    terminal.expect("Authentication complete.")
    terminal.expect("terminal restored: True")
    terminal.expect("got: ")
    assert terminal.finish() == 0
    assert opened.exists() is offered
    screen = terminal.screen()
    assert not [line for line in screen if "Waiting for you" in line], screen
    if offered:  # the first line opened the page; the next one is left for the program
        assert screen[1:] == [
            "Press Enter to open https://example.com/device in your browser, "
            "or open it yourself and enter the code.",
            "Opening https://example.com/device in your browser.",
            "✓ Authentication complete.",
            "terminal restored: True",
            "got:",
        ]
    else:  # everything typed is left for the program, unechoed
        assert screen[1:] == [
            "Open https://example.com/device in your browser and enter the code.",
            "✓ Authentication complete.",
            "terminal restored: True",
            "got: abc",
        ]


def test_browser_that_cannot_start(approve: Path) -> None:
    terminal = Terminal(
        "--wait-file", str(approve), env=child_env(BROWSER="/nonexistent/browser %s")
    )
    terminal.expect(
        "Press Enter to open https://example.com/device in your browser, "
        "or open it yourself and enter the code."
    )
    terminal.child.send("\r")
    terminal.expect("Could not start a browser; open https://example.com/device yourself.")
    approve.touch()
    terminal.expect("Authentication complete.")
    assert terminal.finish() == 0


def test_enter_opens_nothing_for_a_page_that_is_not_a_web_page(
    approve: Path, browser: tuple[str, Path]
) -> None:
    command, opened = browser
    terminal = Terminal(
        "--uri",
        "file:///etc/passwd",
        "--wait-file",
        str(approve),
        "--read-after",
        env=child_env(BROWSER=command),
    )
    terminal.expect("Open file:///etc/passwd in your browser and enter the code.")
    terminal.expect("(expires in 14:5")
    terminal.child.send("\r")
    time.sleep(0.5)  # time enough for a browser to be started, were Enter read
    approve.touch()
    terminal.expect("Authentication complete.")
    assert not opened.exists()  # the BROWSER command never ran
    terminal.expect("got: ")
    assert terminal.finish() == 0
    assert "got: \r\n" in terminal.output  # the Enter was left to the program
    screen = terminal.screen()
    assert "Press Enter" not in terminal.output
    assert (
        "Not opening file:///etc/passwd in a browser: only https:// pages are opened; "
        "open it yourself if you trust it."
    ) in screen


@pytest.mark.parametrize(
    ("args", "env", "offered"),
    [
        ((), {"CI": "true"}, False),
        (("--open-browser", "true"), {"CI": "true"}, True),
        (("--open-browser", "false"), {}, False),
    ],
)
def test_when_enter_is_offered(
    browser: tuple[str, Path], args: tuple[str, ...], env: dict[str, str], offered: bool
) -> None:
    terminal = Terminal("0.3", *args, env=child_env(BROWSER=browser[0], **env))
    terminal.expect("Authentication complete.")
    assert terminal.finish() == 0
    assert ("Press Enter to open" in terminal.output) is offered


def test_ctrl_c_cancels_and_restores_the_terminal(browser: tuple[str, Path], approve: Path) -> None:
    terminal = Terminal(
        "--wait-file", str(approve), "--check-terminal", env=child_env(BROWSER=browser[0])
    )
    terminal.expect("Press Enter to open")
    terminal.expect("(expires in 14:5")
    assert terminal.echoes() is False
    terminal.child.send("\x03")
    terminal.expect("Cancelled.")
    terminal.expect("terminal restored: True")  # echo back on, every other setting as it was
    assert terminal.finish() == 130
    output = terminal.output
    assert "\x1b[?25l" in output  # the cursor was hidden while spinning...
    assert output.rindex("\x1b[?25h") > output.rindex("\x1b[?25l")  # ...and shown again
    assert terminal.screen()[-2:] == ["✗ Cancelled.", "terminal restored: True"]
    assert not browser[1].exists()


def test_stdin_and_stderr_not_terminals_give_plain_lines(browser: tuple[str, Path]) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(CHILD), "0.2", "--complete"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=child_env(BROWSER=browser[0], SSH_CONNECTION="10.0.0.1 5000 10.0.0.2 22"),
        timeout=30,
        check=True,
    )
    assert time.monotonic() - started < 10  # nothing waited for input
    assert result.stdout == b""
    assert result.stderr.decode() == (
        "! First copy your one-time code: WDJB-MJHT\n"
        f"Open {COMPLETE} in your browser (the code is filled in), "
        "or https://example.com/device and enter the code.\n"
        "Waiting for you to approve in the browser… (expires in 14:59)\n"
        "✓ Authentication complete.\n"
    )


def test_stdin_piped_to_a_terminal_program_is_not_read(browser: tuple[str, Path]) -> None:
    # stderr is a terminal but stdin is a pipe: no "Press Enter", and the pipe is untouched.
    terminal_read, terminal_write = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), "0.3", "--read-after"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=terminal_write,
        env=child_env(BROWSER=browser[0]),
    )
    os.close(terminal_write)
    try:
        out, _ = proc.communicate(b"\npiped line\n", timeout=20)
    finally:
        os.close(terminal_read)
    assert proc.returncode == 0
    assert out == b"got: \n"  # the first line, Enter, was left for the program


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (("--qr", "true"), {}, "qr"),
        ((), {"SSH_CONNECTION": "10.0.0.1 5000 10.0.0.2 22"}, "qr"),
        ((), {}, None),
        (("--qr", "false"), {"SSH_CONNECTION": "10.0.0.1 5000 10.0.0.2 22"}, None),
        (("--qr", "true", "--no-segno"), {}, "hint"),
        (("--no-segno",), {"SSH_CONNECTION": "10.0.0.1 5000 10.0.0.2 22"}, None),
        # A page on the remote machine's loopback cannot be reached from a phone.
        (("--uri", "http://127.0.0.1:8765/device"), {"SSH_CONNECTION": "10.0.0.1 5 1 22"}, None),
        (("--uri", "http://localhost:8765/device", "--qr", "true"), {}, "qr"),
    ],
)
def test_qr_code(args: tuple[str, ...], env: dict[str, str], expected: str | None) -> None:
    terminal = Terminal("0.1", "--complete", *args, env=child_env(**env))
    terminal.expect("Authentication complete.")
    assert terminal.finish() == 0
    output = SGR.sub("", terminal.output)
    assert bool(HALF_BLOCKS.search(output)) is (expected == "qr")
    assert ("Or scan this QR code:" in output) is (expected == "qr")
    assert ("pip install 'loctocat[qr]'" in output) is (expected == "hint")


def test_copy_code(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    xclip = bin_dir / "xclip"
    xclip.write_text(f"#!/bin/sh\n/bin/cat > {tmp_path}/clipboard\n")
    xclip.chmod(0o755)
    terminal = Terminal("0.1", env=child_env(PATH=str(bin_dir)))
    terminal.expect("Authentication complete.")
    assert terminal.finish() == 0
    assert not (tmp_path / "clipboard").exists()

    terminal = Terminal("0.1", "--copy-code", env=child_env(PATH=str(bin_dir)))
    terminal.expect("Copied the code to the clipboard.")
    terminal.expect("Authentication complete.")
    assert terminal.finish() == 0
    assert (tmp_path / "clipboard").read_text() == "WDJB-MJHT"


def test_no_color_in_the_terminal(browser: tuple[str, Path]) -> None:
    terminal = Terminal(
        "0.3",
        "--complete",
        "--qr",
        "true",
        "--outcome",
        "denied",
        env=child_env(NO_COLOR="1", BROWSER=browser[0]),
    )
    terminal.expect("Authorization was denied.")
    assert terminal.finish() == 1
    output = terminal.output
    assert not SGR.search(output), output
    assert "! First copy your one-time code: WDJB-MJHT\r\n" in output
    assert HALF_BLOCKS.search(output)
    assert "Press Enter to open" in output
    assert "\x1b[?25l" in output  # still animated: only colour is off
