"""`Handler`: run your own code when the server answers a poll with a given error code."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["Handler"]


class Handler:
    """Run `action(authenticator)` when a poll is answered with the OAuth error code `error`.

    Attach it with `Authenticator.attach_handler()`. For an `AsyncAuthenticator` the action may
    also be a coroutine function; it is awaited.

    `continue_on_error=True` keeps the flow polling after the action ran: useful for a
    service-specific error code that only means "not yet". `False` ends the flow with the
    `ServerError` for that code once the action has run.

    A handler never changes the timing: loctocat still waits the interval between polls,
    adds 5 seconds on `slow_down` and stops when the code expires (RFC 8628 §3.5), whatever
    the action does.
    """

    __slots__ = ("action", "continue_on_error", "error")

    def __init__(
        self,
        error: str,
        action: Callable[[Any], None] | Callable[[Any], Awaitable[None]],
        continue_on_error: bool = True,
    ) -> None:
        self.error = error
        self.action = action
        self.continue_on_error = continue_on_error

    def __repr__(self) -> str:
        return (
            f"Handler(error={self.error!r}, action={self.action!r}, "
            f"continue_on_error={self.continue_on_error!r})"
        )
