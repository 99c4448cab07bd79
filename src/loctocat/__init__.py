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

from loctocat._flow import Quirks
from loctocat._handlers import Handler
from loctocat._models import Identity, LoctocatAuthInfo, Token
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


def __getattr__(name: str) -> str:
    # Read from the package metadata on first use only: `import loctocat` stays cheap.
    if name == "__version__":
        from loctocat._version import version

        return version()
    raise AttributeError(f"module 'loctocat' has no attribute {name!r}")


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
