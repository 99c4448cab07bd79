"""The default prompt prints the code before loading rich, and prints it as rich would.

`TerminalPrompt` without a console of yours writes the first two lines (the code, where to go)
itself and makes rich's console only afterwards, for the spinner: about 40 ms sooner on the
screen. These tests hold that shortcut to rich's own output, byte for byte, on a terminal and
off one, in the environments where rich decides differently.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import pytest

CHILD = """
import sys
from loctocat._models import LoctocatAuthInfo
from loctocat.prompt import TerminalPrompt

kind, code, complete = sys.argv[1], sys.argv[2], sys.argv[3] == "complete"
uri = "https://example.com/device"
info = LoctocatAuthInfo(
    device_code="secret",
    user_code=code,
    verification_uri=uri,
    verification_uri_complete=f"{uri}?user_code=x" if complete else None,
    expires_in=900,
    interval=5,
)
if kind == "rich":
    from rich.console import Console

    prompt = TerminalPrompt(console=Console(stderr=True), open_browser=False)
else:
    prompt = TerminalPrompt(open_browser=False)
prompt.show_code(info)
print(any(name.split(".")[0] == "rich" for name in sys.modules))
"""

ENVIRONMENTS = [
    {},
    {"TERM": "xterm-256color"},
    {"TERM": "xterm-16color", "COLORTERM": "truecolor"},
    {"TERM": "dumb"},
    {"TERM": "unknown"},
    {"NO_COLOR": "1"},
    {"NO_COLOR": ""},
    {"FORCE_COLOR": "1"},
    {"FORCE_COLOR": ""},
    {"TTY_COMPATIBLE": "0"},
    {"PYTHONIOENCODING": "ascii"},
]
CODES = ["WDJB-MJHT", "BAD\x1b[2J-CODE", "ÄÖÜ-ß"]


def show_code(
    kind: str, code: str, complete: bool, env: dict[str, str], *, tty: bool
) -> tuple[bytes, bool]:
    """The bytes the prompt writes to stderr (a pseudo-terminal or a pipe), and whether any
    of rich was loaded by then."""
    ours = ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "COLORTERM", "PYTHONIOENCODING")
    environ = {k: v for k, v in os.environ.items() if k not in ours}
    environ.update({"TERM": "xterm", "COLUMNS": "80", **env})
    argv = [sys.executable, "-c", CHILD, kind, code, "complete" if complete else "plain"]
    if not tty:
        run = subprocess.run(argv, env=environ, capture_output=True, stdin=subprocess.DEVNULL)
        assert run.returncode == 0, run.stderr
        return run.stderr, run.stdout.strip() == b"True"
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            argv, env=environ, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower
        )
        os.close(follower)
        out, _ = proc.communicate(timeout=30)
        written = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal's other end is closed: all is read
                break
            if not chunk:
                break
            written += chunk
    finally:
        os.close(leader)
    assert proc.returncode == 0, written
    return written, out.strip() == b"True"


@pytest.mark.parametrize("tty", [True, False], ids=["terminal", "pipe"])
@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda env: repr(env) if env else "plain")
def test_the_first_lines_are_the_bytes_rich_would_write(env: dict[str, str], tty: bool) -> None:
    for code in CODES:
        for complete in (False, True):
            plain, _ = show_code("default", code, complete, env, tty=tty)
            rich, loaded = show_code("rich", code, complete, env, tty=tty)
            assert loaded
            assert plain == rich, (code, complete)


@pytest.mark.parametrize("tty", [True, False], ids=["terminal", "pipe"])
def test_the_code_is_on_the_screen_before_rich_is_loaded(tty: bool) -> None:
    written, loaded = show_code("default", "WDJB-MJHT", True, {}, tty=tty)
    assert b"WDJB-MJHT" in written
    assert not loaded


def test_rich_decides_where_its_versions_differ() -> None:
    # FORCE_COLOR, NO_COLOR, TTY_COMPATIBLE: rich's versions read them differently, so rich
    # itself prints the lines.
    _, loaded = show_code("default", "WDJB-MJHT", False, {"FORCE_COLOR": "1"}, tty=False)
    assert loaded
