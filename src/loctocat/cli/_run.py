"""One run of the command line: its arguments, and the prompt it shows a code with."""

from __future__ import annotations

import os
import sys
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from loctocat._models import LoctocatAuthInfo, Token
    from loctocat.auth import Authenticator
    from loctocat.prompt import Prompt

__all__ = ["QuietFailures", "Run", "helper_token", "login_command", "terminal"]


class Run:
    """One run of the command line: its arguments as given, for the hints it writes."""

    def __init__(self, argv: Sequence[str]) -> None:
        self.argv = list(argv)


def terminal() -> IO[str] | None:
    """Where a person can see a code: stderr when it is a terminal, else /dev/tty; or None.

    A program that runs loctocat for its own ends (git, kubectl, pip) may keep stderr for
    itself; the controlling terminal still reaches the person. Close what it returns unless
    it is `sys.stderr`.
    """
    try:
        if os.isatty(sys.stderr.fileno()):
            return sys.stderr
    except (AttributeError, OSError, ValueError):
        pass
    try:
        return open("/dev/tty", "w", encoding="utf-8")
    except OSError:
        return None


def login_command(
    words: Sequence[str], flags: Sequence[str] = (), options: Sequence[str] = ()
) -> str:
    """The `'loctocat login ...'` a hint names: `words` (the options after the command) minus
    `flags` and minus `options` with their values (`--opt VALUE` or `--opt=VALUE`)."""
    import shlex

    rest: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word in options:
            skip = True
        elif word not in flags and not word.startswith(tuple(f"{o}=" for o in options)):
            rest.append(word)
    return "'" + shlex.join(["loctocat", "login", *rest]) + "'"


class QuietFailures:
    """The terminal prompt, minus its failure line: the command line says why, once.

    Built when a code is first shown, so that a command answered from a stored or refreshed
    token never loads the terminal UI. `console_file` is where it writes (stderr by default).
    """

    def __init__(self, console_file: IO[str] | None = None, open_browser: bool | None = None):
        self._file = console_file
        self._open_browser = open_browser
        self._built: Prompt | None = None

    @property
    def _inner(self) -> Prompt:
        if self._built is None:
            from loctocat.prompt import prompt_from_options

            console = None
            if self._file is not None and self._file is not sys.stderr:
                from rich.console import Console

                console = Console(file=self._file)
            self._built = prompt_from_options(console=console, open_browser=self._open_browser)
        return self._built

    def show_code(self, auth_info: LoctocatAuthInfo) -> None:
        self._inner.show_code(auth_info)

    def start_waiting(self) -> None:
        self._inner.start_waiting()

    def succeeded(self, token: Token) -> None:
        self._inner.succeeded(token)

    def failed(self, error: BaseException) -> None:
        if self._built is not None:
            self._built.close()  # stop the spinner, show the cursor; main() prints the line

    def close(self) -> None:
        if self._built is not None:
            self._built.close()


def helper_token(authenticator: Authenticator, terminal: IO[str] | None) -> Token:
    """A valid token for a program that runs loctocat as its helper (git, pip, uv, twine).

    The stored token while it is valid, else a refreshed one, else a device-flow login whose
    code is shown on `terminal`; with no terminal, `LoginRequired` at once, since nobody would
    see the code. The prompt offers no browser: the program, not loctocat, owns the keyboard.
    `terminal` is closed afterwards unless it is `sys.stderr`.
    """
    try:
        with authenticator:
            prompt = QuietFailures(console_file=terminal, open_browser=False)
            authenticator.get_token(prompt=prompt, login=terminal is not None)
    finally:
        if terminal is not None and terminal is not sys.stderr:
            terminal.close()
    assert authenticator.token is not None
    return authenticator.token
