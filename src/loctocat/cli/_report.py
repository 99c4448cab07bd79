"""What a command says once it has a token: stored where, for whom; the token when asked.

A token issued is never thrown away: when it cannot be stored it is printed (when the command
prints it anyway) or kept in a new private file whose name is given.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING

from loctocat.cli._exits import EXIT_ERROR, EXIT_OK, CommandFailed
from loctocat.cli._output import message, token_json, until
from loctocat.cli._select import Selection, describe_store

if TYPE_CHECKING:
    from loctocat._models import Token
    from loctocat.auth import Authenticator

__all__ = ["not_stored", "print_token", "store_and_report", "success_event"]


def print_token(token: Token, as_json: bool) -> None:
    if not as_json and token.token_type.lower() == "dpop":
        raise CommandFailed(
            "the token is bound to a DPoP key (RFC 9449): the access token alone is of no use, "
            "each request needs a proof signed by the key loctocat keeps; use loctocat's "
            "http_auth() or requests_auth() in Python, or pass --json for the token's data",
            EXIT_ERROR,
        )
    if not as_json and token.token_type.lower() != "bearer":
        raise CommandFailed(
            f"the token is of type {token.token_type!r}, not Bearer: the access token alone "
            "cannot be used as 'Authorization: Bearer ...'; pass --json for the whole token",
            EXIT_ERROR,
        )
    if as_json:
        print(json.dumps(token_json(token), indent=2, sort_keys=True))
    else:
        print(token.access_token)


def _logged_in(selection: Selection, token: Token, who: str | None) -> None:
    from loctocat._text import printable
    from loctocat.auth import _scopes_tuple

    asked = " ".join(_scopes_tuple(selection.authenticator.scopes))
    scopes = token.scope or asked or "the server's default"
    as_who = f" as {printable(who)}" if who else ""
    message(
        f"Logged in to {selection.server}{as_who} (scopes: {scopes}), token valid until "
        f"{until(token.expires_at)}, stored in {describe_store(selection.store)}."
    )


def _who(authenticator: Authenticator) -> str | None:
    """Who just logged in (learnt now and stored with the token), or None if it cannot be told."""
    import logging

    from loctocat.errors import LoctocatError

    try:
        return authenticator.identity().name
    except LoctocatError as exc:
        # Not knowing who does not make the login fail: the token is stored already.
        logging.getLogger("loctocat").debug("who is logged in is unknown: %s", exc)
        return None


def store_and_report(
    args: argparse.Namespace, selection: Selection, authenticator: Authenticator, token: Token
) -> int:
    """Store a new login's token and say so; print it when asked (never lose it)."""
    shown = args.print_token or args.json
    try:
        selection.store.save(authenticator.store_key(), token)
    except Exception as exc:  # a token issued is never thrown away, whatever went wrong
        if not args.events:
            return not_stored(token, exc, shown, args.json)
        # Not on stdout, which carries the events: in the private file the message names.
        from loctocat.cli._events import error_event

        code = not_stored(token, exc, False, False)
        error_event(exc, code)
        return code
    who = _who(authenticator)
    token = authenticator.token or token  # now with who it belongs to
    _logged_in(selection, token, who)
    if args.events:
        success_event(selection, token, who, args.print_token)
    elif shown:
        print_token(token, args.json)
    return EXIT_OK


def success_event(selection: Selection, token: Token, who: str | None, with_token: bool) -> None:
    from loctocat.cli._events import emit

    fields = {
        "server": selection.server,
        "scope": token.scope,
        "expires_at": token.expires_at.isoformat() if token.expires_at is not None else None,
        "who": who,
        "stored_in": describe_store(selection.store),
    }
    fields["token_type"] = token.token_type
    if with_token and token.token_type.lower() == "bearer":
        # A DPoP-bound token is of no use without its key, which never leaves loctocat.
        fields["access_token"] = token.access_token
    emit("success", **fields)


def not_stored(token: Token, error: Exception, hand_over: bool, as_json: bool) -> int:
    """A token was issued but could not be stored: never lose it.

    When the command prints it anyway, that is where it goes (with a warning); otherwise it is
    written to a new private file (mode 0600) whose name is given, and the command fails.
    """
    from loctocat._text import one_line

    # The store's own words, without the library's note about authenticator.token.
    reason = one_line(str(error.__cause__ or error))
    if hand_over and (as_json or token.token_type.lower() == "bearer"):
        print_token(token, as_json)
        print(f"loctocat: warning: the token could not be stored: {reason}", file=sys.stderr)
        return EXIT_OK
    import tempfile

    fd, path = tempfile.mkstemp(prefix="loctocat-token-", suffix=".json")
    with os.fdopen(fd, "w") as rescue:
        json.dump(token_json(token), rescue, indent=2)
    print(
        f"loctocat: logged in, but the token could not be stored: {reason}; it was written to "
        f"{path} instead (readable only by you): use it from there, then delete the file",
        file=sys.stderr,
    )
    return EXIT_ERROR
