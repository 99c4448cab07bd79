"""`loctocat login --start` and `loctocat login --finish`: one login in two commands.

`--start` asks for the codes, keeps the pending login in the token store (the device code is a
secret: it never leaves the store) and prints what the person needs, then exits at once;
`--finish`, with the same options, in any process that shares the store, later or at once,
waits for the approval and stores the token. For agents and scripts that show the code in
their own way, and for services that start a login in one request and finish it in a worker.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import TYPE_CHECKING

from loctocat.cli._exits import EXIT_ERROR, EXIT_OK, CommandFailed, UsageError
from loctocat.cli._select import Selection, readable_store, select
from loctocat.errors import AccessDenied, ExpiredToken, InvalidGrant

if TYPE_CHECKING:
    from loctocat.cli._run import Run
    from loctocat.store import PendingLoginStore

__all__ = ["finish_login", "start_login"]


def _pending_store(selection: Selection) -> PendingLoginStore:
    from loctocat.store import PendingLoginStore

    if not isinstance(selection.store, PendingLoginStore):
        raise UsageError(
            f"the token store {selection.store!r} cannot keep a pending login: use --store "
            "file, keyring or a token file's path"
        )
    return selection.store


def start_login(args: argparse.Namespace, run: Run) -> int:
    """Ask for the codes, keep the pending login, print the codes; do not wait."""
    from loctocat.cli._events import code_fields, emit
    from loctocat.cli._output import message, until

    selection = select(args)
    store = _pending_store(selection)
    readable_store(selection)  # where --finish keeps the token: before a code is shown
    with selection.authenticator as authenticator:
        authenticator.ping()
        pending = authenticator.pending_login()
    key = authenticator.store_key()
    store.save_pending(key, pending.to_dict())
    fields = code_fields(pending.auth_info, pending.interval)
    finish = _finish_command(run)
    if args.events:
        emit("code", **fields)
    elif args.json:
        print(json.dumps(fields, indent=2))
    else:
        from loctocat._text import printable

        info = pending.auth_info
        where = printable(info.verification_uri_complete or info.verification_uri)
        print(f"Open {where} and enter the code {printable(info.user_code)}")
    message(
        f"Started a login to {selection.server}; the code is valid until "
        f"{until(pending.auth_info.expires_at)}. Once it is approved, run {finish}"
    )
    return EXIT_OK


def finish_login(args: argparse.Namespace, run: Run) -> int:
    """Wait for the approval of the login `--start` began, then store the token."""

    selection = select(args)
    store = _pending_store(selection)
    key = selection.authenticator.store_key()
    # One finisher per login: another one waits here, then finds it finished.
    with selection.store.lock(key):
        return _finish_locked(args, run, selection, store, key)


def _finish_locked(
    args: argparse.Namespace, run: Run, selection: Selection, store: PendingLoginStore, key: str
) -> int:
    from loctocat.cli._events import EventPrompt
    from loctocat.cli._report import store_and_report

    pending = store.load_pending(key)
    if pending is None:
        raise CommandFailed(
            f"no login to {selection.server} is waiting to be finished (none was started, or "
            f"it was finished, denied or has expired): run {_start_command(run)}",
            EXIT_ERROR,
        )
    with selection.authenticator as authenticator:
        info = authenticator.resume(pending)
        if args.events:
            events = EventPrompt()
            events.watch(authenticator)
            events.start_waiting()
        elif not args.json and not args.print_token:
            _say_waiting(info.user_code, info.expires_at.timestamp())
        try:
            authenticator.poll()
        except (AccessDenied, ExpiredToken, InvalidGrant):
            store.delete_pending(key)  # this code can never be approved now
            raise
        token = authenticator.token
        assert token is not None
        result = store_and_report(args, selection, authenticator, token)
    store.delete_pending(key)
    return result


def _say_waiting(user_code: str, expires_at: float) -> None:
    from loctocat.cli._output import message

    minutes = max(0, round((expires_at - time.time()) / 60))
    from loctocat._text import printable

    shown = printable(user_code)
    message(f"Waiting for the code {shown} to be approved (for up to {minutes} min)...")


def _finish_command(run: Run) -> str:
    from loctocat.cli._run import login_command

    words = [*list(run.argv)[1:], "--finish"]
    return login_command(words, flags=("--start", "--json"), options=("--events",))


def _start_command(run: Run) -> str:
    from loctocat.cli._run import login_command

    words = [*list(run.argv)[1:], "--start"]
    return login_command(words, flags=("--finish", "--print-token", "--json"))
