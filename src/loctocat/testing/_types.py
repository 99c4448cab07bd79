"""The values a `FakeAuthorizationServer` is scripted with and reports back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, TypeAlias

import httpx

__all__ = [
    "Endpoint",
    "Fault",
    "Grant",
    "GrantStatus",
    "IssuedToken",
    "PlanState",
    "PlanStep",
    "RecordedRequest",
    "SlowDown",
    "TokenGrantType",
]

Endpoint: TypeAlias = Literal[
    "device_authorization",
    "token",
    "page",
    "discovery",
    "revocation",
    "userinfo",
    "jwks",
    "authorization",
    "other",
]
"""Which part of the fake server a request was addressed to.

`device_authorization`, `token` and `page` are the paths the server was built with
(`device_path`, `token_path`, `verification_path`; by default `/device_authorization`, `/token`
and `/device`). `discovery` covers both metadata paths (also when one of them answers 404),
`revocation` is `/revoke` (RFC 7009), `userinfo` the protected resource `/userinfo`, `jwks` the
ID token signing keys `/jwks`, `authorization` the authorization endpoint `/authorize` (which
only says that the server offers the device flow alone), and `other` anything else.
"""

GrantStatus: TypeAlias = Literal["pending", "approved", "denied", "expired", "redeemed"]
"""Where a grant stands. `redeemed` means its token has been handed out."""

TokenGrantType: TypeAlias = Literal["device_code", "refresh_token"]
"""How a token was obtained: by polling with a device code, or by refreshing."""

PlanState: TypeAlias = Literal["pending", "slow_down", "approve", "deny", "expire"]
"""The plain answers a plan can script for a poll."""


@dataclass(frozen=True)
class Fault:
    """A scripted raw answer, for testing how a client copes with a misbehaving server.

    Use it as a step of `FakeAuthorizationServer.plan` (answers a poll) or of
    `FakeAuthorizationServer.plan_device` (answers a device authorization request).
    Give at most one of `drop`, `error` and `body`:

    - `Fault(drop=True)`: the connection is closed without any answer. Over real HTTP the client
      sees the socket close; in memory the transport raises `httpx.RemoteProtocolError`.
    - `Fault(error="code", error_description=...)`: an OAuth error body `{"error": "code"}`.
      `status` defaults to 400, or 200 when the server has `errors_with_status_200=True`.
    - `Fault(status=503, body=b"...", headers={...})`: exactly these bytes, with only the headers
      you give (no Content-Type unless you set one). `status` defaults to 500.
    - `Fault(status=429, headers={"Retry-After": "2"})`: an empty body with that status.
    """

    status: int | None = None
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None
    error_description: str | None = None
    drop: bool = False

    def __post_init__(self) -> None:
        if self.drop and (
            self.status is not None
            or self.body is not None
            or self.error is not None
            or self.error_description is not None
            or self.headers
        ):
            raise ValueError("Fault(drop=True) sends nothing, so it takes no other argument")
        if self.body is not None and self.error is not None:
            raise ValueError("give a Fault either a raw body or an OAuth error, not both")
        if self.error_description is not None and self.error is None:
            raise ValueError("error_description needs an error")
        # A read-only copy, so the caller's dict changing later cannot change the script.
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))


@dataclass(frozen=True)
class SlowDown:
    """A `slow_down` answer to a poll, as a plan step.

    The plain string `"slow_down"` grows the grant's interval by 5 seconds (RFC 8628 §3.5) and
    sends no `interval` field. `SlowDown(interval=10)` sets the interval to 10 and also sends
    `"interval": 10` in the error body, as GitHub does.
    """

    interval: int | None = None


PlanStep: TypeAlias = PlanState | SlowDown | Fault
"""One scripted answer to a poll: a `PlanState` string, a `SlowDown` or a `Fault`."""


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake server received, exactly as it arrived.

    `headers` is an `httpx.Headers`, so lookups ignore case: `request.headers["content-type"]`.
    `form` holds the parameters of an `application/x-www-form-urlencoded` body (the last value
    wins when a name repeats; `form_multi` keeps them all) and is empty for any other body.
    `timestamp` is the server clock (`time.monotonic()` unless you passed `clock=`) on arrival.
    """

    method: str
    url: str
    path: str
    query: str
    headers: httpx.Headers
    body: bytes
    form: dict[str, str]
    form_multi: dict[str, list[str]]
    endpoint: Endpoint
    timestamp: float


@dataclass(eq=False)
class Grant:
    """One device authorization request and how its polls went, updated live by the server.

    Read it in assertions; change it through the server (`approve`, `deny`, `expire`,
    `plan_for`). `interval` is the spacing the server currently asks for: the advertised
    interval (5 when none is advertised), grown by each `slow_down`. `poll_times` are the server
    clock readings of every poll made with this device code, so
    `grant.poll_times[1] - grant.poll_times[0]` is the spacing the client chose.
    """

    device_code: str
    user_code: str
    client_id: str
    scope: str | None
    interval: int
    created_at: float
    expires_at: float
    status: GrantStatus = "pending"
    poll_times: list[float] = field(default_factory=list)
    plan: list[PlanStep] = field(default_factory=list)
    """The scripted answers still to come; the last one repeats once the others are used."""
    unused_steps: int = 0
    """How many steps of `plan` no poll has received yet (see `assert_all_used`)."""
    approved_at: float | None = None
    """The server clock when the grant was approved (None until then); the `auth_time` of its
    ID tokens."""

    @property
    def poll_count(self) -> int:
        """How many polls used this grant's device code."""
        return len(self.poll_times)


@dataclass(frozen=True)
class IssuedToken:
    """A token response the server sent.

    `grant_type` tells whether it answered a device code poll or a refresh; `user_code` names
    the grant the token descends from. `refresh_token` is None when the server was built with
    `issue_refresh_token=False`, and for a refresh when it was built with
    `rotate_refresh_tokens=False` (the client keeps using its refresh token).
    `issued_at` is the server clock on issue; the access token expires `token_lifetime` seconds
    later (never when `token_lifetime` is None), or at `expire_access_tokens()`.
    `id_token` is the signed ID token sent along when the scope had `openid`, else None.
    `jkt` is the JWK SHA-256 thumbprint (RFC 7638) of the DPoP key the access token is bound to
    (its `token_type` was "DPoP"), None for a Bearer token. A public client's refresh token is
    bound to the same key (RFC 9449 §5).
    """

    access_token: str
    refresh_token: str | None
    scope: str | None
    client_id: str
    user_code: str
    grant_type: TokenGrantType
    issued_at: float
    id_token: str | None = None
    jkt: str | None = None


@dataclass
class Answer:
    """What the server replies; `drop` means close the connection instead of replying.

    `payload` is the object a JSON body was made from (None for any other body), so that an
    answer can be re-encoded as a form for `form_encoded_unless_json` servers. `scripted`
    marks an answer a `Fault` made, which goes out exactly as scripted.
    """

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    drop: bool = False
    payload: Mapping[str, object] | None = None
    scripted: bool = False
