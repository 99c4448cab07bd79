"""The commands: what each does, and what it says."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from loctocat.cli._args import AUTO_APPROVE_AFTER, flag
from loctocat.cli._exits import EXIT_ERROR, EXIT_OK, CommandFailed, UsageError, exit_code
from loctocat.cli._output import message, table, token_json, until
from loctocat.cli._report import not_stored, print_token, store_and_report, success_event
from loctocat.cli._run import QuietFailures, Run, login_command
from loctocat.cli._select import (
    choose_store,
    describe_store,
    id_token_holder,
    index_for_fast_path,
    readable_store,
    select,
)
from loctocat.errors import (
    LoginRequired,
    ProtocolError,
    ServerError,
    StoreError,
    TransportError,
)

if TYPE_CHECKING:
    from loctocat.prompt import Prompt

__all__ = ["COMMANDS", "Run"]


def _interactive() -> bool:
    """Whether someone can see a code shown now: stderr is a terminal."""
    try:
        return os.isatty(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):
        return False


def _login(args: argparse.Namespace, run: Run) -> int:
    if args.events and args.json:
        raise UsageError("--events and --json: give one (the success event holds the token's data)")
    if args.start or args.finish:
        from loctocat.cli._handover import finish_login, start_login

        if args.print_token and args.start:
            raise UsageError("--print-token goes with --finish, which gets the token")
        return start_login(args, run) if args.start else finish_login(args, run)
    selection = select(args)
    readable_store(selection)
    with selection.authenticator as authenticator:
        prompt: Prompt = QuietFailures()
        if args.events:
            from loctocat.cli._events import EventPrompt

            events = EventPrompt(prompt if _interactive() else None)
            events.watch(authenticator)
            prompt = events
        authenticator.authenticate(prompt=prompt)
        token = authenticator.token
        assert token is not None
        return store_and_report(args, selection, authenticator, token)


def _token(args: argparse.Namespace, run: Run) -> int:
    if args.print_token and not args.events:
        raise UsageError("--print-token goes with --events: without it, token prints the token")
    selection = select(args)
    # With --events the code reaches a person through the program reading them.
    login = (_interactive() or bool(args.events)) and not args.no_login
    with selection.authenticator as authenticator:
        prompt: Prompt = QuietFailures()
        if args.events:
            from loctocat.cli._events import EventPrompt

            events = EventPrompt(prompt if _interactive() else None)
            events.watch(authenticator)
            prompt = events
        try:
            authenticator.get_token(prompt=prompt, login=login)
            if args.id_token:
                holder = id_token_holder(selection, authenticator, prompt=prompt, login=login)
        except LoginRequired:
            raise CommandFailed(
                f"not logged in to {selection.server} (or the token can no longer be "
                f"refreshed), and {'--no-login was given' if args.no_login else 'no terminal'}"
                f" to log in on: run {_login_command(run)}",
                exit_code(LoginRequired()),
            ) from None
        except StoreError as exc:
            if authenticator.token is None:
                raise  # the store could not be read: no token was obtained
            return not_stored(authenticator.token, exc, True, args.json)
        assert authenticator.token is not None
        if args.events:
            token = authenticator.token
            success_event(
                selection, token, token.identity.name if token.identity else None, args.print_token
            )
        elif args.id_token:
            print(holder.id_token)
        else:
            print_token(authenticator.token, args.json)
    index_for_fast_path(run, selection)
    return EXIT_OK


def _login_command(run: Run) -> str:
    """The `loctocat login ...` that makes the login this run needed."""
    words = list(run.argv)
    command = words.index("token")
    return login_command(words[command + 1 :], flags=("--json", "--no-login", "--id-token"))


def _logout(args: argparse.Namespace, run: Run) -> int:
    selection = select(args)
    where = describe_store(selection.store)
    with selection.authenticator as authenticator:
        try:
            stored = selection.store.load(authenticator.store_key())
        except StoreError as exc:
            if not exc.corrupt:
                raise
            stored = None  # unreadable: nothing to revoke, but forgetting it still helps
            args.no_revoke = True
        else:
            if stored is None:
                message(f"Not logged in: no such token in {where}.")
                return EXIT_OK
        try:
            revoked = authenticator.logout(revoke=not args.no_revoke)
        except (TransportError, ProtocolError, ServerError) as exc:
            raise CommandFailed(
                f"revoking the token at the server failed, so it is still stored in {where}: "
                f"{exc}; try again later, or run logout with --no-revoke to only forget it here",
                exit_code(exc),
            ) from exc
    if revoked:
        message("Logged out. The token was revoked at the server and forgotten.")
    elif args.no_revoke:
        message(
            "Logged out. The token was forgotten here; it stays valid at the server until it "
            "expires."
        )
    else:
        message(
            "Logged out. The token was forgotten here, but no revocation endpoint is known, so "
            "it stays valid at the server until it expires (pass --revocation-url to revoke it)."
        )
    return EXIT_OK


def _status(args: argparse.Namespace, run: Run) -> int:
    from loctocat._text import printable
    from loctocat.cli._config import load_config
    from loctocat.store import parse_key

    config = load_config()
    token_store = choose_store(args.store or config.store)
    keys = getattr(token_store, "keys", None)
    if keys is None:
        raise CommandFailed(f"{describe_store(token_store)} cannot list its logins", EXIT_ERROR)
    where = describe_store(token_store)
    logins: list[dict[str, Any]] = []
    for key in keys():
        login = parse_key(key)
        entry: dict[str, Any] = {
            "server": login.server,
            "client_id": login.client_id,
            "scopes": list(login.scopes),
            "account": login.account,
            "who": None,
            "expires_at": None,
            "expired": None,
            "refreshable": None,
            "store": where,
            "key": key,
            "problem": None,
        }
        try:
            token = token_store.load(key)
        except StoreError as exc:
            entry["problem"] = str(exc)
            token = None
        if token is not None:
            data = token_json(token)
            entry["expires_at"] = data["expires_at"]
            entry["expired"] = token.is_expired(0)
            entry["refreshable"] = token.refresh_token is not None
            entry["scopes"] = list(token.scopes) or entry["scopes"]
            entry["who"] = None if token.identity is None else token.identity.to_dict()
        logins.append(entry)
    if args.json:
        print(json.dumps(logins, indent=2))
        return EXIT_OK
    if not logins:
        message(f"No stored logins in {where}.")
        return EXIT_OK
    rows = [("SERVER", "USER", "CLIENT ID", "SCOPES", "VALID UNTIL", "REFRESH")]
    for entry in logins:
        label = entry["server"] + (f" ({entry['account']})" if entry["account"] else "")
        user = printable(entry["who"]["name"]) if entry["who"] else "-"
        if entry["problem"]:
            state, refresh = "unreadable", "-"
        elif entry["expired"]:
            state, refresh = "expired", "yes" if entry["refreshable"] else "no"
        else:
            token = token_store.load(entry["key"])
            state = until(token.expires_at if token else None)
            refresh = "yes" if entry["refreshable"] else "no"
        scopes = " ".join(entry["scopes"]) or "-"
        rows.append((label, user, entry["client_id"], scopes, state, refresh))
    print(table(rows, drop=(3, 2)))
    message(f"Stored in {where}.")
    return EXIT_OK


def _providers(args: argparse.Namespace, run: Run) -> int:
    from loctocat.predefined import catalogue, providers

    if args.json:
        print(json.dumps(catalogue(), indent=2))
        return EXIT_OK
    rows = [("NAME", "TITLE", "REQUIRED", "OPTIONAL (default)", "CLIENT SECRET")]
    for provider in providers():
        required = " ".join(flag(p.name) for p in provider.required_parameters)
        optional = " ".join(
            f"{flag(p.name)}={p.default}" if p.default else flag(p.name)
            for p in provider.optional_parameters
        )
        secret = provider.client_secret
        rows.append((provider.name, provider.title, required or "-", optional or "-", secret))
    print(table(rows, drop=(1,), fold=3, fold_label="optional: "))
    message(
        "Every provider also takes --client-id (required) and --scope. "
        "'loctocat providers --json' has the details."
    )
    return EXIT_OK


def _over_ssh() -> bool:
    return bool(os.environ.get("SSH_CONNECTION") or os.environ.get("SSH_TTY"))


def _demo(args: argparse.Namespace, run: Run) -> int:
    from loctocat.auth import Authenticator
    from loctocat.testing import FakeAuthorizationServer

    approve_after = AUTO_APPROVE_AFTER if args.auto_approve else None
    server = FakeAuthorizationServer(interval=1, expires_in=300, auto_approve_after=approve_after)
    with _serving(server, args.port):
        message(f"Built-in authorization server: {server.verification_uri}")
        if _over_ssh() and not args.auto_approve:
            port = server.base_url.rsplit(":", 1)[-1]
            message(
                f"Over SSH, that page is on this machine's 127.0.0.1: forward the port first "
                f"(ssh -L {port}:127.0.0.1:{port} this-host), or run the demo with "
                "--auto-approve."
            )
        if args.auto_approve:
            message(f"(--auto-approve: approving in {AUTO_APPROVE_AFTER:g} s)")
        authenticator = Authenticator(
            client_id="loctocat-demo",
            auth_url=server.device_authorization_url,
            token_url=server.token_url,
            scopes=["profile"],
        )
        access_token = authenticator.authenticate(prompt=QuietFailures())
    print(access_token)
    return EXIT_OK


def _serving(server: Any, port: int) -> Any:
    """`server.serve_http(port)`, a busy port said in one line."""
    import contextlib

    @contextlib.contextmanager
    def serving() -> Any:
        try:
            context = server.serve_http(port=port)
            context.__enter__()
        except OSError as exc:
            raise CommandFailed(
                f"cannot serve on 127.0.0.1:{port}: {exc.strerror or exc}; pick another port "
                "with --port, or leave it out for any free one",
                EXIT_ERROR,
            ) from None
        try:
            yield server
        finally:
            context.__exit__(None, None, None)

    return serving()


def _serve(args: argparse.Namespace, run: Run) -> int:
    import time

    from loctocat._text import printable
    from loctocat.testing import FakeAuthorizationServer

    log_lock = threading.Lock()

    def log(request: Any, status: int, error: str | None) -> None:
        outcome = f"{status} {printable(error)}" if error else str(status)
        with log_lock:
            print(f"{request.method} {request.path} {outcome}", file=sys.stderr, flush=True)

    approve_after = AUTO_APPROVE_AFTER if args.auto_approve else None
    server = FakeAuthorizationServer(
        interval=args.interval, auto_approve_after=approve_after, on_answer=log
    )
    with _serving(server, args.port):
        print(f"issuer:                        {server.issuer}")
        print(f"device_authorization_endpoint: {server.device_authorization_url}")
        print(f"token_endpoint:                {server.token_url}")
        print(f"revocation_endpoint:           {server.revocation_url}")
        print(f"verification page:             {server.verification_uri}", flush=True)
        if args.auto_approve:
            message(f"Each code is approved by itself after {AUTO_APPROVE_AFTER:g} s.")
        message("Press Ctrl+C to stop.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    message("Stopped.")
    return EXIT_OK


def _version(args: argparse.Namespace, run: Run) -> int:
    from loctocat._version import version

    print(f"loctocat {version()}")
    return EXIT_OK


def _git_credential(args: argparse.Namespace, run: Run) -> int:
    from loctocat.cli._git import git_credential

    return git_credential(args, run)


def _setup_git(args: argparse.Namespace, run: Run) -> int:
    from loctocat.cli._git import setup_git

    return setup_git(args, run)


def _kubectl_credential(args: argparse.Namespace, run: Run) -> int:
    from loctocat.cli._kubectl import kubectl_credential

    return kubectl_credential(args, run)


def _setup_kubectl(args: argparse.Namespace, run: Run) -> int:
    from loctocat.cli._kubectl import setup_kubectl

    return setup_kubectl(args, run)


def _setup_index(args: argparse.Namespace, run: Run) -> int:
    from loctocat.cli._index import setup_index

    return setup_index(args, run)


COMMANDS: dict[str, Callable[[argparse.Namespace, Run], int]] = {
    "login": _login,
    "token": _token,
    "status": _status,
    "logout": _logout,
    "providers": _providers,
    "demo": _demo,
    "serve": _serve,
    "version": _version,
    "git-credential": _git_credential,
    "setup-git": _setup_git,
    "kubectl-credential": _kubectl_credential,
    "setup-kubectl": _setup_kubectl,
    "setup-index": _setup_index,
}
