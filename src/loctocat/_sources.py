"""What the HTTP client integrations need of an authenticator, without importing it.

`httpx_auth` and `requests_auth` sit above the authenticators (`auth.http_auth()` builds them),
so they know an authenticator only by these protocols: a current `token`, and `get_token()`,
plain or awaitable.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Protocol, TypeGuard

from loctocat.errors import ConfigurationError

if TYPE_CHECKING:
    from loctocat._models import Token

__all__ = ["AsyncTokenSource", "SyncTokenSource", "TokenSource", "check_source", "is_async"]


class SyncTokenSource(Protocol):
    """An `Authenticator`, as the integrations use it."""

    token: Token | None

    def get_token(self, *, rejected: str | None = None) -> str: ...


class AsyncTokenSource(Protocol):
    """An `AsyncAuthenticator`, as the integrations use it."""

    token: Token | None

    async def get_token(self, *, rejected: str | None = None) -> str: ...


TokenSource = SyncTokenSource | AsyncTokenSource


def check_source(authenticator: object, user: str) -> TokenSource:
    """`authenticator` if it is one (has `token` and `get_token`); `ConfigurationError` if not."""
    if not hasattr(authenticator, "token") or not callable(
        getattr(authenticator, "get_token", None)
    ):
        raise ConfigurationError(
            f"{user} takes a loctocat Authenticator or AsyncAuthenticator, "
            f"got {type(authenticator).__name__}"
        )
    return authenticator  # type: ignore[return-value]


def is_async(authenticator: TokenSource) -> TypeGuard[AsyncTokenSource]:
    """Whether the authenticator's `get_token` is awaitable (an `AsyncAuthenticator`)."""
    return inspect.iscoroutinefunction(authenticator.get_token)
