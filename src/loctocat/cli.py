"""The `loctocat` command line.

```
loctocat demo [--auto-approve]   a whole device flow against a built-in local server
loctocat serve [--port N]        run the built-in fake authorization server
```

Exit codes: 0 success, 1 error, 2 usage, 3 denied, 4 expired or timed out, 5 network,
130 interrupted (Ctrl+C).
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence

from loctocat.errors import (
    AccessDenied,
    ExpiredToken,
    FlowTimeout,
    LoctocatError,
    TransportError,
)

__all__ = ["main"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_DENIED = 3
EXIT_EXPIRED = 4
EXIT_NETWORK = 5
EXIT_INTERRUPTED = 130

#: Seconds `demo --auto-approve` waits before approving, so the prompt can be seen.
AUTO_APPROVE_AFTER = 3.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loctocat",
        description="OAuth 2.0 device flow (RFC 8628) from the command line.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "exit codes: 0 ok, 1 error, 2 usage, 3 denied, 4 expired or timed out, 5 network, "
            "130 interrupted"
        ),
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="log in against a built-in local authorization server",
        description=(
            "Start a fake authorization server on 127.0.0.1, then run a whole device flow "
            "against it: open the URL shown, type the code and approve. The access token is "
            "printed on stdout."
        ),
        epilog="examples:\n  loctocat demo\n  loctocat demo --auto-approve",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--auto-approve",
        action="store_true",
        help=f"approve by itself after {AUTO_APPROVE_AFTER:g} seconds (no browser needed)",
    )
    demo.add_argument("--port", type=int, default=0, help="port to serve on (default: any)")

    serve = commands.add_parser(
        "serve",
        help="run the fake authorization server for manual testing",
        description="Serve loctocat.testing.FakeAuthorizationServer on 127.0.0.1 until Ctrl+C.",
        epilog="example:\n  loctocat serve --port 8765",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--port", type=int, default=0, help="port to serve on (default: any)")
    serve.add_argument("--interval", type=int, default=1, help="polling interval to announce")
    return parser


def _demo(args: argparse.Namespace) -> int:
    from loctocat.auth import Authenticator
    from loctocat.testing import FakeAuthorizationServer

    server = FakeAuthorizationServer(interval=1, expires_in=300)
    with server.serve_http(port=args.port):
        print(f"Built-in authorization server: {server.verification_uri}", file=sys.stderr)
        authenticator = Authenticator(
            client_id="loctocat-demo",
            auth_url=server.device_authorization_url,
            token_url=server.token_url,
            scopes=["profile"],
        )
        timer: threading.Timer | None = None
        if args.auto_approve:
            print(f"(--auto-approve: approving in {AUTO_APPROVE_AFTER:g} s)", file=sys.stderr)
            timer = threading.Timer(AUTO_APPROVE_AFTER, server.approve)
            timer.daemon = True
            timer.start()
        try:
            access_token = authenticator.authenticate()
        finally:
            if timer is not None:
                timer.cancel()
    print(access_token)
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    import time

    from loctocat.testing import FakeAuthorizationServer

    server = FakeAuthorizationServer(interval=args.interval)
    with server.serve_http(port=args.port):
        print(f"device_authorization_endpoint: {server.device_authorization_url}")
        print(f"token_endpoint:                {server.token_url}")
        print(f"verification page:             {server.verification_uri}")
        print("Press Ctrl+C to stop.", file=sys.stderr, flush=True)
        sys.stdout.flush()
        while True:
            time.sleep(3600)


def _exit_code(error: BaseException) -> int:
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, AccessDenied):
        return EXIT_DENIED
    if isinstance(error, ExpiredToken | FlowTimeout):
        return EXIT_EXPIRED
    if isinstance(error, TransportError):
        return EXIT_NETWORK
    return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with `argv` (default: sys.argv[1:]) and return the exit code."""
    args = _parser().parse_args(argv)
    if args.debug:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
    command = {"demo": _demo, "serve": _serve}[args.command]
    try:
        return command(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except LoctocatError as error:
        if args.debug:
            raise
        # The prompt has already said what happened when a flow was running; repeat it
        # in one line for logs and scripts.
        print(f"loctocat: {error}", file=sys.stderr)
        return _exit_code(error)
