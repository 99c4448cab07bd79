"""The `loctocat` command line (also `python -m loctocat`).

```
loctocat login  PROVIDER|SERVER [options]   log in with the device flow, store the token
loctocat login  --issuer URL --client-id ID  ... any server that publishes its metadata
loctocat login  --auth-url URL --token-url URL --client-id ID
loctocat token  <same selection>     print a valid access token (stored, refreshed, or new)
loctocat status [--json]             every stored login and the state of its token
loctocat logout <same selection>     revoke the stored token, then forget it
loctocat providers [--json]          the predefined providers and their options
loctocat demo [--auto-approve]       a whole device flow against a built-in local server
loctocat serve [--auto-approve]      the built-in fake authorization server, for your app
```

The prompt (code, link, spinner) and every message go to stderr; stdout carries only what a
script asks for: the access token (`token`, `login --print-token`), JSON (`--json`), or a
listing (`status`, `providers`, `serve`'s URLs). Every failure is one line on stderr,
`loctocat: ...`, and an exit code from `EXIT_CODES`. Defaults, servers of your own and where
tokens are kept can live in a config file: see `loctocat.cli._config`.
"""

from __future__ import annotations

import sys

# Not `typing.TYPE_CHECKING`: the stored-token path (`token`, `git-credential get`) imports
# nothing it does not need, typing included.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from loctocat.cli._config import CONFIG_ENV, config_path, load_config
    from loctocat.cli._exits import (
        EXIT_CODES,
        EXIT_DENIED,
        EXIT_ERROR,
        EXIT_EXPIRED,
        EXIT_INTERRUPTED,
        EXIT_LOGIN_REQUIRED,
        EXIT_NETWORK,
        EXIT_OK,
        EXIT_STDOUT_CLOSED,
        EXIT_USAGE,
        CommandFailed,
        ExitCode,
        UsageError,
    )

_FROM_CONFIG = frozenset({"CONFIG_ENV", "config_path", "load_config"})


def __getattr__(name: str) -> Any:
    import importlib

    if name in _FROM_CONFIG:
        module = importlib.import_module("loctocat.cli._config")
    elif name == "_usage_error":  # for the tests
        return importlib.import_module("loctocat.cli._select").usage_error
    elif name == "_exit_code":  # for the tests
        return importlib.import_module("loctocat.cli._exits").exit_code
    elif name in __all__:
        module = importlib.import_module("loctocat.cli._exits")
    else:
        raise AttributeError(f"module 'loctocat.cli' has no attribute {name!r}")
    value = getattr(module, name)
    globals()[name] = value
    return value


__all__ = [
    "CONFIG_ENV",
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
    "config_path",
    "load_config",
    "main",
]


def _parser() -> object:
    """The argument parser (for help text and tests)."""
    from loctocat.cli._args import build_parser

    return build_parser()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with `argv` (default: sys.argv[1:]) and return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    if argv[:1] in (["token"], ["git-credential"], ["kubectl-credential"]):
        from loctocat.cli._fast import answer_from_store

        try:
            answered = answer_from_store(argv)
            if answered is not None:
                sys.stdout.flush()  # here, not at exit: a reader that went away is seen
                return answered
        except BrokenPipeError as error:
            return _stdout_closed(error, debug)
        except Exception as error:
            return _unexpected(error, debug)
    from loctocat._text import one_line
    from loctocat.cli._exits import (
        EXIT_INTERRUPTED,
        CommandFailed,
        UsageError,
    )
    from loctocat.cli._exits import exit_code as _exit_code
    from loctocat.errors import LoctocatError

    args = None
    try:
        from loctocat.cli._args import parse
        from loctocat.cli._commands import COMMANDS, Run

        args = parse(argv)
        if args.version:
            args.command = "version"
        if args.command is None:
            raise UsageError("which command? see 'loctocat --help'")
        if debug:
            import logging

            logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
        else:
            _say_warnings()
        code = COMMANDS[args.command](args, Run(argv))
        sys.stdout.flush()
        return code
    except KeyboardInterrupt as error:
        _traceback(debug)
        print("Cancelled.", file=sys.stderr)
        return _event(args, error, EXIT_INTERRUPTED)
    except (LoctocatError, UsageError, CommandFailed) as error:
        _traceback(debug)
        print(f"loctocat: {one_line(_in_flags(error))}", file=sys.stderr)
        return _event(args, error, _exit_code(error))
    except BrokenPipeError as error:
        return _stdout_closed(error, debug)  # (no --events event: they go to stdout too)
    except Exception as error:
        return _event(args, error, _unexpected(error, debug))
    finally:
        _stop_saying_warnings()


def _in_flags(error: Exception) -> str:
    """The error's message; a library's `ConfigurationError` names the flag, not the
    parameter ("--client-id must not contain '|'")."""
    from loctocat.errors import ConfigurationError

    if isinstance(error, ConfigurationError):
        from loctocat.cli._select import usage_error

        return str(usage_error(error))
    return str(error)


def _say_warnings() -> None:
    """The library's warnings (a store's, a server's) as the command line says things: one
    `loctocat: warning: ...` line each on stderr (rather than logging's bare message)."""
    import logging

    from loctocat._text import one_line

    class OneLine(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            print(f"loctocat: warning: {one_line(record.getMessage())}", file=sys.stderr)

    logger = logging.getLogger("loctocat")
    if not any(handler.get_name() == _WARNINGS for handler in logger.handlers):
        handler = OneLine(logging.WARNING)
        handler.set_name(_WARNINGS)
        logger.addHandler(handler)


def _stop_saying_warnings() -> None:
    """Take `_say_warnings`'s handler off again: `main()` may run inside a program of yours."""
    logging = sys.modules.get("logging")
    if logging is not None:
        logger = logging.getLogger("loctocat")
        for handler in [h for h in logger.handlers if h.get_name() == _WARNINGS]:
            logger.removeHandler(handler)


_WARNINGS = "loctocat-cli-warnings"


def _unexpected(error: Exception, debug: bool) -> int:
    """Say an error nobody foresaw in one line (the traceback with --debug): exit code 1."""
    from loctocat._text import one_line
    from loctocat.cli._exits import EXIT_ERROR

    _traceback(debug)
    hint = "" if debug else " (run with --debug for the traceback)"
    message = one_line(f"{type(error).__name__}: {error}")
    print(f"loctocat: unexpected error: {message}{hint}", file=sys.stderr)
    return EXIT_ERROR


def _stdout_closed(error: BrokenPipeError, debug: bool) -> int:
    """The program reading stdout stopped (`loctocat token | head -c 8`): end quietly, with
    the exit code of a program SIGPIPE ended, as `cat` does. A pipe other than stdout that
    broke is an unexpected error like any other."""
    import os

    from loctocat.cli._exits import EXIT_STDOUT_CLOSED

    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass  # stdout it is
    except (OSError, ValueError):
        return EXIT_STDOUT_CLOSED
    else:
        return _unexpected(error, debug)
    try:
        stdout = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (main() run in a program)
        return EXIT_STDOUT_CLOSED
    # What is still buffered for stdout goes nowhere, instead of failing again at exit.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, stdout)
    os.close(devnull)
    return EXIT_STDOUT_CLOSED


def _event(args: Any, error: BaseException, code: int) -> int:
    """With --events, the failure as an `error` event too; the exit code."""
    if getattr(args, "events", None):
        from loctocat.cli._events import error_event

        error_event(error, code)
    return code


def _traceback(debug: bool) -> None:
    if debug:
        import traceback

        traceback.print_exc()
