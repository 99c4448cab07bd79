"""`--events ndjson`: a login as a stream of JSON objects on stdout, one per line, for programs
(agents, bots, UIs) that show the code in their own way.

Each line is an object with an `"event"`: `code` (the user code, the verification URIs, when
the code expires, the interval), `waiting` (when polling starts, and after each answer that the
user has not decided yet), `slow_down` (the server asked to poll less often), `success` (the
token is stored: its scope, expiry, where it is kept, and the access token only with
`--print-token`), `error` (what went wrong, in one line, and the exit code). No line ever holds
the device code or, unasked, a token.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loctocat._models import LoctocatAuthInfo, Token
    from loctocat.auth import Authenticator
    from loctocat.prompt import Prompt

__all__ = ["EventPrompt", "code_fields", "emit", "error_event"]


def emit(event: str, **fields: Any) -> None:
    """Write one event line on stdout, at once (a reader acts on each line as it comes)."""
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def code_fields(auth_info: LoctocatAuthInfo, interval: float) -> dict[str, Any]:
    """What a person needs to approve the login, as data (never the device code)."""
    return {
        "user_code": auth_info.user_code,
        "verification_uri": auth_info.verification_uri,
        "verification_uri_complete": auth_info.verification_uri_complete,
        "expires_at": auth_info.expires_at.astimezone(UTC).isoformat(),
        "interval": interval,
    }


def error_event(error: BaseException, exit_code: int) -> None:
    """The `error` event of a command that failed with `error`."""
    from loctocat._text import one_line
    from loctocat.errors import ServerError

    code = error.error if isinstance(error, ServerError) else type(error).__name__
    emit("error", error=code, message=one_line(str(error)), exit_code=exit_code)


class EventPrompt:
    """A `Prompt` that reports each step as an event (and shows the terminal prompt too, on
    stderr, when `inner` is given). `watch()` adds the polls' answers to the stream."""

    def __init__(self, inner: Prompt | None = None) -> None:
        self._inner = inner

    def watch(self, authenticator: Authenticator) -> None:
        """Report the polls the user has not decided yet, and the server's slow_down."""
        from loctocat import Handler

        authenticator.attach_handler(Handler("authorization_pending", lambda _: emit("waiting")))
        authenticator.attach_handler(Handler("slow_down", lambda _: emit("slow_down")))

    def show_code(self, auth_info: LoctocatAuthInfo) -> None:
        emit("code", **code_fields(auth_info, auth_info.interval))
        if self._inner is not None:
            self._inner.show_code(auth_info)

    def start_waiting(self) -> None:
        emit("waiting")
        if self._inner is not None:
            self._inner.start_waiting()

    def succeeded(self, token: Token) -> None:
        # The command says `success` once the token is stored, with where.
        if self._inner is not None:
            self._inner.succeeded(token)

    def failed(self, error: BaseException) -> None:
        # main() says `error`, with the exit code, for this and every other failure.
        if self._inner is not None:
            self._inner.failed(error)

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()
