"""Commands run the way a person runs them on a terminal: in a pseudo-terminal (pexpect), each
user code that appears in the output handed to `approve`, as the person at the keyboard would
enter it on the verification page.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

#: Where the prompt names the user code: "one-time code: WDJB-MJHT", or the verification page
#: with the code filled in, "...?user_code=WDJB-MJHT".
USER_CODE = re.compile(r"(?:one-time code:\s*|user_code=)([A-Z]{4}-[A-Z]{4})")
# Terminal control sequences (CSI, OSC, charset selection) and carriage returns, so that the
# text a spinner redraws can be searched as plain text.
_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\r"
)


def plain(text: str) -> str:
    """*text* without terminal control sequences."""
    return _CONTROL.sub("", text)


@dataclass(frozen=True)
class TerminalRun:
    """How a command went: its exit status, its whole output (stdout and stderr together on
    a terminal, where they are one stream; on no terminal, `stderr` is kept apart too), the user
    codes approved while it ran, and how long it took."""

    status: int
    output: str
    stderr: str
    codes: list[str]
    seconds: float


def run_in_terminal(
    env: Mapping[str, str],
    command: list[str],
    cwd: Path,
    approve: Callable[[str], object] | None,
    timeout: float,
) -> TerminalRun:
    import pexpect

    child_env = {"TERM": "xterm-256color", **env}
    started = time.monotonic()
    child = pexpect.spawn(
        command[0],
        command[1:],
        cwd=str(cwd),
        env=child_env,
        encoding="utf-8",
        codec_errors="replace",
        dimensions=(40, 100),
    )
    output = ""
    codes: list[str] = []
    try:
        while True:
            if time.monotonic() - started > timeout:
                raise TimeoutError(
                    f"{' '.join(command)} still running after {timeout} s:\n{output}"
                )
            try:
                output += child.read_nonblocking(4096, timeout=0.1)
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                break
            for code in USER_CODE.findall(plain(output)):
                if code not in codes:
                    codes.append(code)
                    if approve is not None:
                        approve(code)
    finally:
        child.close(force=True)
    status = child.exitstatus if child.exitstatus is not None else -(child.signalstatus or 0)
    return TerminalRun(status, output, "", codes, time.monotonic() - started)
