"""Every error loctocat raises, under one base class.

```
LoctocatError
├── ConfigurationError     the caller's mistake: fix the code or the settings
├── ProtocolError          the server broke the spec (not JSON, a field missing or mistyped, ...)
│   └── InvalidIDToken     an ID token failed verification (.check names the rule)
├── TransportError         the network or the server failed, and retrying did not help
├── FlowTimeout            the caller's own `timeout` for the whole flow ran out
├── LoginRequired          no usable token, and the caller asked not to log in (`login=False`)
├── StoreError             a token store could not be read or written: the message names the
│                          file/backend and what to do
└── ServerError            an OAuth error code the server returned (.error, .error_description)
    ├── AccessDenied           access_denied: the user declined
    ├── ExpiredToken           expired_token: the code expired (also raised at our own deadline)
    ├── InvalidClient          invalid_client: unknown client_id or wrong client_secret
    ├── InvalidGrant           invalid_grant: the device code is unknown or already used
    ├── InvalidRequest         invalid_request: a parameter is missing or malformed
    ├── InvalidScope           invalid_scope: a scope the server does not allow
    ├── UnauthorizedClient     unauthorized_client: the client may not use the device flow
    └── UnsupportedGrantType   unsupported_grant_type: the server does not offer the device flow
```

`ServerError` keeps its loctocat 1.0 name, so `except ServerError` in older code still works.
Catch `LoctocatError` to handle everything loctocat raises.
"""

from __future__ import annotations

from typing import Any

from loctocat._text import one_line, printable

__all__ = [
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
]


class LoctocatError(Exception):
    """The base of every error loctocat raises."""


class ConfigurationError(LoctocatError, ValueError):
    """The library was called or configured in a way that cannot work.

    The message says what was wrong and how to fix it. Nothing was sent to the server.
    `parameter` names the argument or setting it is about (e.g. ``"auth_url"``), when it is
    about one, so that a command line can name its own flag instead.
    """

    def __init__(self, message: str, *, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


class ProtocolError(LoctocatError):
    """The authorization server answered in a way RFC 8628 / RFC 6749 does not allow.

    For example a body that is not JSON, a required field that is missing, or a field of the
    wrong type. `endpoint` names the URL that answered and `field` the offending field, if any.
    """

    def __init__(self, message: str, *, endpoint: str | None = None, field: str | None = None):
        super().__init__(message)
        self.endpoint = endpoint
        self.field = field


class InvalidIDToken(ProtocolError):
    """An OpenID Connect ID token failed verification: who logged in cannot be trusted.

    `check` names the rule that failed: ``"signature"``, ``"alg"``, ``"kid"``, ``"jwks"``
    (the issuer's keys could not be read), ``"format"``, or the claim at fault (``"iss"``,
    ``"aud"``, ``"azp"``, ``"exp"``, ``"iat"``, ``"nbf"``, ``"sub"``). The message says why,
    never with the token. `token` is the unverified `Token` the server answered (None when
    there was none), so that it is not lost; loctocat did not store it. Log in again, or check
    the issuer and client ID the authenticator was given.
    """

    def __init__(self, message: str, *, check: str) -> None:
        super().__init__(message, field="id_token")
        self.check = check
        self.token: Any = None


class TransportError(LoctocatError):
    """The server could not be reached, or kept failing (timeouts, 5xx, 429) past the retries."""


class FlowTimeout(LoctocatError, TimeoutError):
    """The `timeout` given for the whole flow ran out before the user approved."""


class LoginRequired(LoctocatError):
    """No usable token: a new login is needed, but the caller asked for none.

    `get_token(login=False)` raises it instead of showing a code nobody would see (a script,
    a credential helper without a terminal). The message says which login is missing.
    """


class StoreError(LoctocatError):
    """A token store could not be read or written.

    The message names the file (or keyring service) and says what to do, for example delete a
    corrupt entry and log in again. It never contains a token.

    Attributes:
        corrupt: True when the stored data itself is unreadable (a corrupt file or entry):
            logging in again and saving replaces it. False for every other failure, such as a
            file you may not read, a full disk, a lock that timed out, or a file written by a
            newer loctocat.
    """

    def __init__(self, message: str, *, corrupt: bool = False) -> None:
        super().__init__(message)
        self.corrupt = corrupt

    def __reduce__(self) -> tuple[object, ...]:
        # Exception pickling passes only `args` back to the constructor: keep `corrupt` too
        # (e.g. for errors sent back from a worker process).
        return (_store_error, (str(self), self.corrupt))


def _store_error(message: str, corrupt: bool) -> StoreError:
    return StoreError(message, corrupt=corrupt)


class ServerError(LoctocatError):
    """The authorization server answered with an OAuth error code.

    The message (`str(error)`) is one line safe to print on a terminal: control characters the
    server sent are shown as escapes such as ``\\x1b``. The attributes hold exactly what the
    server sent: untrusted text, to escape (with `repr()`, say) before you print it yourself.

    Attributes:
        error: the error code, e.g. ``"access_denied"``.
        error_description: the server's human-readable explanation, if it sent one.
        error_uri: a page about the error, if the server sent one.
        status_code: the HTTP status of the answer, or ``None`` when raised on our side.
    """

    def __init__(
        self,
        error: str,
        error_description: str | None = None,
        error_uri: str | None = None,
        *,
        status_code: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.error = error
        self.error_description = error_description
        self.error_uri = error_uri
        self.status_code = status_code
        # The server's words end up on terminals and in logs: they must not be able to send
        # escape sequences there, nor break the message over several lines.
        message = printable(error)
        if error_description:
            message += f": {one_line(error_description)}"
        if hint:
            message += f" ({hint})"
        if error_uri:
            message += f" [see {printable(error_uri)}]"
        super().__init__(message)

    @staticmethod
    def from_code(
        error: str,
        error_description: str | None = None,
        error_uri: str | None = None,
        *,
        status_code: int | None = None,
        meaning: str | None = None,
        hint: str | None = None,
    ) -> ServerError:
        """Build the most specific `ServerError` subclass for an OAuth error code.

        `meaning` is the standard code a service-specific one stands for (Microsoft's
        `authorization_declined` means `access_denied`): it picks the class, while `.error`
        keeps the code the server sent. `hint` replaces the standard advice.
        """
        standard = meaning or error
        cls = _ERROR_CLASSES.get(standard, ServerError)
        advice = hint or _HINTS.get(standard)
        return cls(error, error_description, error_uri, status_code=status_code, hint=advice)


class AccessDenied(ServerError):
    """The user (or a policy) declined the authorization request."""


class ExpiredToken(ServerError):
    """The device code expired before the user approved: start a new flow."""


class InvalidClient(ServerError):
    """The server does not know the client, or the client's credentials are wrong."""


class InvalidGrant(ServerError):
    """The device code (or refresh token) is unknown, used up, or revoked."""


class InvalidRequest(ServerError):
    """The server says a parameter is missing, repeated, or malformed."""


class InvalidScope(ServerError):
    """A requested scope is unknown to the server or not allowed for this client."""


class UnauthorizedClient(ServerError):
    """The client is not allowed to use the device flow: enable it in the app's settings."""


class UnsupportedGrantType(ServerError):
    """The server does not support the device code grant at this token endpoint."""


_ERROR_CLASSES: dict[str, type[ServerError]] = {
    "access_denied": AccessDenied,
    "expired_token": ExpiredToken,
    "invalid_client": InvalidClient,
    "invalid_grant": InvalidGrant,
    "invalid_request": InvalidRequest,
    "invalid_scope": InvalidScope,
    "unauthorized_client": UnauthorizedClient,
    "unsupported_grant_type": UnsupportedGrantType,
}

# What a person can do about each error; shown after the server's own description.
_HINTS: dict[str, str] = {
    "access_denied": "the request was declined; run the login again to retry",
    "expired_token": "the code expired before it was approved; start a new login",
    "invalid_client": "check the client_id (and client_secret) registered with the service",
    "invalid_grant": "the device code is no longer valid; start a new login",
    "invalid_scope": "ask only for scopes the service allows for this client",
    "unauthorized_client": "allow the device flow for this client in the service's app settings",
    "unsupported_grant_type": "this token endpoint does not offer the device flow; check token_url",
}
