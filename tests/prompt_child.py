"""Run a default prompt through a whole flow against a fake `LoctocatAuthInfo` (no server).

Used by test_prompt.py and test_prompt_terminal.py, under a pseudo-terminal or with pipes.
Prints nothing itself: everything the user sees must come from the prompt, on stderr. Like the
CLI, Ctrl+C while waiting is reported through `prompt.failed` and exits with code 130.

Usage: python prompt_child.py [SECONDS] [options]

    SECONDS               how long to wait for "approval" (default 0.5)
    --wait-file PATH      wait until PATH exists instead (at most 20 s), then finish
    --outcome denied      end with AccessDenied (exit code 1) instead of a token
    --complete            the server sends verification_uri_complete too
    --uri URL             the server's verification_uri (default https://example.com/device)
    --open-browser / --qr auto, true or false: the TerminalPrompt options (default auto)
    --copy-code           copy_code=True
    --no-segno            behave as if segno were not installed
    --read-after          after the flow, read one line from stdin and print "got: <line>"
    --check-terminal      after the flow, print "terminal restored: True" if the settings of
                          the terminal on stderr are exactly what they were before it
"""

import argparse
import sys
import termios
import time
from pathlib import Path

from loctocat._models import LoctocatAuthInfo, Token
from loctocat.errors import AccessDenied
from loctocat.prompt import prompt_from_options

TRI_STATE = {"auto": None, "true": True, "false": False}

parser = argparse.ArgumentParser()
parser.add_argument("seconds", nargs="?", type=float, default=0.5)
parser.add_argument("--wait-file", type=Path)
parser.add_argument("--outcome", choices=["success", "denied"], default="success")
parser.add_argument("--complete", action="store_true")
parser.add_argument("--uri", default="https://example.com/device")
parser.add_argument("--open-browser", choices=list(TRI_STATE), default="auto")
parser.add_argument("--qr", choices=list(TRI_STATE), default="auto")
parser.add_argument("--copy-code", action="store_true")
parser.add_argument("--no-segno", action="store_true")
parser.add_argument("--read-after", action="store_true")
parser.add_argument("--check-terminal", action="store_true")
args = parser.parse_args()

if args.no_segno:
    sys.modules["segno"] = None  # type: ignore[assignment]  # `import segno` now fails

auth_info = LoctocatAuthInfo(
    device_code="device-secret",
    user_code="WDJB-MJHT",
    verification_uri=args.uri,
    verification_uri_complete=(f"{args.uri}?user_code=WDJB-MJHT" if args.complete else None),
    expires_in=900,
    interval=5,
)


def wait() -> None:
    if args.wait_file is None:
        time.sleep(args.seconds)
        return
    deadline = time.monotonic() + 20
    while not args.wait_file.exists() and time.monotonic() < deadline:
        time.sleep(0.02)


settings_before = termios.tcgetattr(sys.stderr.fileno()) if args.check_terminal else None
prompt = prompt_from_options(
    open_browser=TRI_STATE[args.open_browser],
    qr=TRI_STATE[args.qr],
    copy_code=args.copy_code,
)
try:
    try:
        prompt.show_code(auth_info)
        prompt.start_waiting()
        wait()
        if args.outcome == "denied":
            raise AccessDenied("access_denied")
    except BaseException as exc:
        prompt.failed(exc)
        raise
    prompt.succeeded(Token(access_token="token-secret"))
except KeyboardInterrupt:
    sys.exit(130)
except AccessDenied:
    sys.exit(1)
finally:
    prompt.close()
    if settings_before is not None:
        restored = termios.tcgetattr(sys.stderr.fileno()) == settings_before
        print(f"terminal restored: {restored}", flush=True)

if args.read_after:
    print(f"got: {sys.stdin.readline().strip()}", flush=True)
