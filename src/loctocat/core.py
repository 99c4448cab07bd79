"""loctocat's sans-I/O core: the device flow (RFC 8628) and the token's life, with no I/O.

Every protocol rule of loctocat lives here, and nothing here opens a socket, sleeps, prints or
reads a clock. `Authenticator` and `AsyncAuthenticator` are two drivers of it; bring your own
to use another HTTP stack, an event loop loctocat does not know, or a UI of your own.

A flow is a generator. It yields *effects*; carry each one out and send back its result, until
the flow returns (its value is the result) or raises (a `loctocat.LoctocatError`)::

    flow = core.login_flow(config, clock=time.monotonic)
    result = None
    while True:
        try:
            effect = flow.send(result)
        except StopIteration as done:
            token = done.value
            break
        result = None
        if isinstance(effect, core.Request):
            result = send(effect)  # a core.Response, or a core.TransportFailure
        elif isinstance(effect, core.Sleep):
            time.sleep(effect.seconds)
        elif isinstance(effect, core.ShowCode):
            show(effect.grant.auth_info)

The effects and what to send back:

- `Request`: send a form POST (or a GET) to `url` within `timeout`, following no redirect;
  send back a `Response` (with `received_at`), or a `TransportFailure`.
- `Sleep`: wait `seconds`. `ShowCode`: show `grant.auth_info` (the user code and the
  verification URI). `CallHandler`: run `handler.action(...)`. Send back None.
- `CurrentTime`: send back `datetime.now(UTC)`.
- `LoadToken`: send back the `Token` stored under `key`, None, or the `StoreError` raised.
  `SaveToken`: make `token` the current one and store it. `DeleteToken`: forget the current
  token and the stored one. Send back None.
- `Login`: run `login_flow` (showing the code) and send back its `Token`.

When carrying out an effect fails (the store cannot be written, say), throw the exception into
the flow (`flow.throw(error)`) rather than abandoning it: a flow may handle it, and one that does
not lets it go on out.

Time is an input: `clock` is a monotonic clock in seconds (for the polling schedule), and each
`Response` says when it arrived (`received_at`, for expiries). The flows log to the `loctocat`
logger at DEBUG level, never a secret.

The flows:

- `login_flow`: ask for the codes, `ShowCode`, poll until the user decides. It is
  `device_authorization_flow` then `poll_flow`, which can be run apart (`ping()` / `poll()`).
- `refresh_flow` (RFC 6749 §6), `revocation_flow` (RFC 7009), `discovery_flow` (RFC 8414,
  OpenID Connect Discovery).
- `get_token_flow`, `stored_refresh_flow`, `logout_flow`: the token-lifecycle policy over a
  token store (stored and valid → refreshed → a new login). Hold the store's lock for the key
  around each run, as the drivers do, so that whoever shares the store refreshes or logs in
  once.
- ID tokens (OpenID Connect Core §3.1.3.7, §12.2): give `ClientConfig(id_token_check=
  IDTokenCheck(issuer, client_id, ...))` and every token answer with an ID token is verified
  (its JWKS fetched with `Request`s) before a flow returns it, with `claims`. `identity_flow`
  answers who is logged in (claims → userinfo → the service's own API). Checking signatures
  needs PyJWT (`loctocat[oidc]`).
"""

from __future__ import annotations

from loctocat._flow import (
    DEFAULT_INTERVAL,
    DEFAULT_MIN_INTERVAL,
    MAX_BODY_BYTES,
    CallHandler,
    ClientConfig,
    Effect,
    PendingGrant,
    Quirks,
    Request,
    RequestResult,
    Response,
    ShowCode,
    Sleep,
    TransportFailure,
    authorization_header,
    device_authorization_flow,
    login_flow,
    poll_flow,
    resumed_grant,
)
from loctocat._lifecycle import (
    CurrentTime,
    DeleteToken,
    LifecycleEffect,
    LoadToken,
    Login,
    SaveToken,
    ServerMetadata,
    discovery_flow,
    get_token_flow,
    issuer_matches,
    logout_flow,
    refresh_flow,
    revocation_flow,
    stored_refresh_flow,
)
from loctocat._models import Identity, LoctocatAuthInfo, Token, WhoAmI
from loctocat._oidc import (
    ALGORITHMS as ID_TOKEN_ALGORITHMS,
)
from loctocat._oidc import (
    IDTokenCheck,
    KeySets,
    ask_identity_flow,
    identity_flow,
    verify_claims,
)

__all__ = [
    "DEFAULT_INTERVAL",
    "DEFAULT_MIN_INTERVAL",
    "ID_TOKEN_ALGORITHMS",
    "MAX_BODY_BYTES",
    "CallHandler",
    "ClientConfig",
    "CurrentTime",
    "DeleteToken",
    "Effect",
    "IDTokenCheck",
    "Identity",
    "KeySets",
    "LifecycleEffect",
    "LoadToken",
    "LoctocatAuthInfo",
    "Login",
    "PendingGrant",
    "Quirks",
    "Request",
    "RequestResult",
    "Response",
    "SaveToken",
    "ServerMetadata",
    "ShowCode",
    "Sleep",
    "Token",
    "TransportFailure",
    "WhoAmI",
    "ask_identity_flow",
    "authorization_header",
    "device_authorization_flow",
    "discovery_flow",
    "get_token_flow",
    "identity_flow",
    "issuer_matches",
    "login_flow",
    "logout_flow",
    "poll_flow",
    "refresh_flow",
    "resumed_grant",
    "revocation_flow",
    "stored_refresh_flow",
    "verify_claims",
]
