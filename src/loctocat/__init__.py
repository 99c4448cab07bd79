"""loctocat: OAuth 2.0 device flow authentication (RFC 8628) for Python.

```python
from loctocat import Authenticator

authenticator = Authenticator(
    client_id="your_client_id",
    auth_url="https://example.com/oauth2/device",
    token_url="https://example.com/oauth2/token",
    scopes=["read"],
)
token = authenticator.authenticate()
```

`AsyncAuthenticator` is the same with `await`, under asyncio or trio.
"""

from __future__ import annotations

# Not `typing.TYPE_CHECKING`: importing typing costs more than the rest of this module.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from loctocat._flow import Quirks
    from loctocat._handlers import Handler
    from loctocat._models import Identity, LoctocatAuthInfo, PendingLogin, Token
    from loctocat.auth import AsyncAuthenticator, Authenticator
    from loctocat.errors import (
        AccessDenied,
        ConfigurationError,
        ExpiredToken,
        FlowTimeout,
        InvalidClient,
        InvalidGrant,
        InvalidIDToken,
        InvalidRequest,
        InvalidScope,
        LoctocatError,
        LoginRequired,
        ProtocolError,
        ServerError,
        StoreError,
        TransportError,
        UnauthorizedClient,
        UnsupportedGrantType,
    )


# Where each public name lives. They are imported on first use, so that `import loctocat` (and
# the command line's stored-token path) does not load the HTTP stack for nothing.
_HOMES = {
    "Quirks": "loctocat._flow",
    "Handler": "loctocat._handlers",
    "Identity": "loctocat._models",
    "LoctocatAuthInfo": "loctocat._models",
    "PendingLogin": "loctocat._models",
    "Token": "loctocat._models",
    "AsyncAuthenticator": "loctocat.auth",
    "Authenticator": "loctocat.auth",
}


def __getattr__(name: str) -> Any:
    # Looked up on first use only: `import loctocat` stays cheap.
    if name == "__version__":
        from loctocat._version import version

        return version()
    import importlib

    home = _HOMES.get(name, "loctocat.errors" if name in _ERRORS else None)
    if home is None:
        raise AttributeError(f"module 'loctocat' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


_ERRORS = frozenset(
    {
        "AccessDenied",
        "ConfigurationError",
        "ExpiredToken",
        "FlowTimeout",
        "InvalidClient",
        "InvalidGrant",
        "InvalidIDToken",
        "InvalidRequest",
        "InvalidScope",
        "LoctocatError",
        "LoginRequired",
        "ProtocolError",
        "ServerError",
        "StoreError",
        "TransportError",
        "UnauthorizedClient",
        "UnsupportedGrantType",
    }
)

__all__ = [
    "AccessDenied",
    "AsyncAuthenticator",
    "Authenticator",
    "ConfigurationError",
    "ExpiredToken",
    "FlowTimeout",
    "Handler",
    "Identity",
    "InvalidClient",
    "InvalidGrant",
    "InvalidIDToken",
    "InvalidRequest",
    "InvalidScope",
    "LoctocatAuthInfo",
    "LoctocatError",
    "LoginRequired",
    "PendingLogin",
    "ProtocolError",
    "Quirks",
    "ServerError",
    "StoreError",
    "Token",
    "TransportError",
    "UnauthorizedClient",
    "UnsupportedGrantType",
    "__version__",
]
