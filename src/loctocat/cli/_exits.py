"""How a command ends: its exit code, and the one line that says why."""

from __future__ import annotations

from dataclasses import dataclass

from loctocat.errors import (
    AccessDenied,
    ConfigurationError,
    ExpiredToken,
    FlowTimeout,
    LoginRequired,
    TransportError,
)

__all__ = [
    "EXIT_CODES",
    "EXIT_DENIED",
    "EXIT_ERROR",
    "EXIT_EXPIRED",
    "EXIT_INTERRUPTED",
    "EXIT_LOGIN_REQUIRED",
    "EXIT_NETWORK",
    "EXIT_OK",
    "EXIT_STDOUT_CLOSED",
    "EXIT_USAGE",
    "CommandFailed",
    "ExitCode",
    "UsageError",
    "exit_code",
    "exit_codes_help",
]


class UsageError(Exception):
    """The command line (or the config file) cannot work: exit code 2."""


class CommandFailed(Exception):
    """A failure with its own message and exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class ExitCode:
    """One exit code: what it means, and the errors that end a command with it."""

    code: int
    meaning: str
    errors: tuple[type[BaseException], ...] = ()


#: Every exit code, in the order `--help` and the docs list them: the one table they are read
#: from. An error takes the first code whose `errors` it is an instance of; anything else is 1.
EXIT_CODES = (
    ExitCode(0, "ok"),
    ExitCode(1, "error"),
    ExitCode(
        2, "usage: bad or missing options, a broken config file", (UsageError, ConfigurationError)
    ),
    ExitCode(3, "the user denied the request", (AccessDenied,)),
    ExitCode(4, "the code expired, or --timeout ran out", (ExpiredToken, FlowTimeout)),
    ExitCode(5, "network: the server could not be reached", (TransportError,)),
    ExitCode(6, "not logged in, and no terminal to log in on (or --no-login)", (LoginRequired,)),
    ExitCode(130, "interrupted (Ctrl+C)", (KeyboardInterrupt,)),
    ExitCode(141, "the program reading the output stopped reading (| head)", (BrokenPipeError,)),
)
(
    EXIT_OK,
    EXIT_ERROR,
    EXIT_USAGE,
    EXIT_DENIED,
    EXIT_EXPIRED,
    EXIT_NETWORK,
    EXIT_LOGIN_REQUIRED,
    EXIT_INTERRUPTED,
    EXIT_STDOUT_CLOSED,
) = (entry.code for entry in EXIT_CODES)


def exit_code(error: BaseException) -> int:
    """The exit code `error` ends a command with (see `EXIT_CODES`)."""
    if isinstance(error, CommandFailed):
        return error.exit_code
    for entry in EXIT_CODES:
        if entry.errors and isinstance(error, entry.errors):
            return entry.code
    return EXIT_ERROR


def exit_codes_help() -> str:
    """The exit codes as `--help` lists them."""
    return "exit codes:\n" + "\n".join(f"  {e.code:<4} {e.meaning}" for e in EXIT_CODES)
