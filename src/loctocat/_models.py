"""The values a device flow produces: the codes to show (`LoctocatAuthInfo`), the `Token`, and
who it belongs to (`Identity`).

Both are frozen: their attributes cannot be assigned. Their repr never shows a secret
(device code, access, refresh and ID tokens), so they are safe to log.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from loctocat._dpop import DPoPKey

__all__ = ["Identity", "LoctocatAuthInfo", "PendingLogin", "Token", "WhoAmI"]


#: Fields of `Token` that are loctocat's own, not the server's.
_OWN_FIELDS = frozenset({"extra", "expires_at", "received_at", "claims", "identity", "dpop_key"})


def _redact(value: str | None) -> str:
    return "None" if value is None else f"'***' ({len(value)} chars)"


class _ExtraFields:
    """Fields the server sent beyond the standard ones read as attributes (e.g. `message`)."""

    __slots__ = ()
    extra: Mapping[str, Any]

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails, i.e. for fields that are not declared.
        if not name.startswith("_"):
            extra = object.__getattribute__(self, "extra")
            if name in extra:
                return extra[name]
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")


# One read-only empty mapping shared by every object without extra fields: a service with
# thousands of logins waiting keeps no empty dict per login.
NO_ENTRIES: Mapping[str, Any] = MappingProxyType({})


def read_only(entries: dict[str, Any]) -> Mapping[str, Any]:
    """`entries` as a read-only mapping (the shared `NO_ENTRIES` when there are none)."""
    return MappingProxyType(entries) if entries else NO_ENTRIES


@dataclass(frozen=True, slots=True, repr=False)
class LoctocatAuthInfo(_ExtraFields):
    """What the device authorization endpoint answered (RFC 8628 §3.2): the codes to show.

    Show `user_code` and `verification_uri` (or `verification_uri_complete`, which already holds
    the code) to the user. Keep `device_code` to yourself: it is what the token is claimed with.
    Fields the server sent beyond these (e.g. Microsoft's `message`) are in `extra` and read as
    attributes too: `auth_info.message`.
    """

    device_code: str
    user_code: str
    verification_uri: str
    expires_in: int
    interval: int
    verification_uri_complete: str | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: NO_ENTRIES)
    #: When the codes expire, as an aware UTC datetime (now + expires_in when not given).
    expires_at: datetime = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.expires_at is None:
            expires_at = datetime.now(UTC) + timedelta(seconds=self.expires_in)
            object.__setattr__(self, "expires_at", expires_at)

    def __repr__(self) -> str:
        return (
            f"LoctocatAuthInfo(user_code={self.user_code!r}, "
            f"verification_uri={self.verification_uri!r}, "
            f"verification_uri_complete={self.verification_uri_complete!r}, "
            f"expires_in={self.expires_in!r}, interval={self.interval!r}, "
            f"device_code={_redact(self.device_code)}, extra={sorted(self.extra)!r})"
        )


#: The version of `PendingLogin.to_dict()`'s format.
PENDING_LOGIN_FORMAT = 1


@dataclass(frozen=True, slots=True, repr=False)
class PendingLogin:
    """A device authorization the user has yet to approve, as data another process can finish.

    `Authenticator.pending_login()` makes one after `ping()`; `to_dict()` turns it into a
    JSON-safe dict to keep anywhere (a store, a job queue, an agent's memory), and
    `Authenticator.resume()` takes it back, in any process, to poll with the same rules: the
    interval, `slow_down`, and the absolute expiry `auth_info.expires_at`.

    The device code in it is a secret: whoever holds it gets the token once the user approves.
    The repr hides it; `to_dict()` names it under `"secret"` so that a tool knows to keep the
    dict private.
    """

    #: The codes: what the user sees, and the device code (secret).
    auth_info: LoctocatAuthInfo
    #: The token endpoint and client it belongs to: only a matching authenticator resumes it.
    token_url: str
    client_id: str
    scopes: tuple[str, ...]
    #: Seconds between polls the server asked for (after any `slow_down` seen so far).
    interval: float

    def __repr__(self) -> str:
        return (
            f"PendingLogin(user_code={self.auth_info.user_code!r}, "
            f"expires_at={self.auth_info.expires_at.isoformat()!r}, "
            f"token_url={self.token_url!r}, client_id={self.client_id!r}, "
            f"device_code={_redact(self.auth_info.device_code)})"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of it, for `from_dict()` (it holds the device code: keep it private)."""
        info = self.auth_info
        return {
            "format": PENDING_LOGIN_FORMAT,
            "secret": ["device_code"],
            "device_code": info.device_code,
            "user_code": info.user_code,
            "verification_uri": info.verification_uri,
            "verification_uri_complete": info.verification_uri_complete,
            "expires_at": info.expires_at.astimezone(UTC).isoformat(),
            "expires_in": info.expires_in,
            "interval": self.interval,
            "extra": dict(info.extra),
            "token_url": self.token_url,
            "client_id": self.client_id,
            "scopes": list(self.scopes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PendingLogin:
        """The `PendingLogin` a `to_dict()` made; `ValueError` saying which field is wrong."""
        if not isinstance(data, Mapping):
            raise ValueError("a pending login must be a dict, as PendingLogin.to_dict() makes")
        if data.get("format") != PENDING_LOGIN_FORMAT:
            raise ValueError(
                f"a pending login of format {data.get('format')!r}, not "
                f"{PENDING_LOGIN_FORMAT}: it was made by another version of loctocat"
            )

        def text(name: str, optional: bool = False) -> Any:
            value = data.get(name)
            if (value is None and optional) or (isinstance(value, str) and value):
                return value
            raise ValueError(f"a pending login's {name!r} must be a non-empty string")

        def number(name: str) -> float:
            value = data.get(name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"a pending login's {name!r} must be a positive number")
            if not math.isfinite(value):
                raise ValueError(f"a pending login's {name!r} must be a finite number")
            return float(value)

        try:
            expires_at = datetime.fromisoformat(text("expires_at"))
        except ValueError:
            raise ValueError("a pending login's 'expires_at' must be an ISO 8601 time") from None
        if expires_at.tzinfo is None:
            raise ValueError("a pending login's 'expires_at' must name its time zone")
        scopes, extra = data.get("scopes"), data.get("extra", {})
        if not isinstance(scopes, list) or not all(isinstance(s, str) and s for s in scopes):
            raise ValueError("a pending login's 'scopes' must be a list of strings")
        if not isinstance(extra, Mapping):
            raise ValueError("a pending login's 'extra' must be a dict")
        info = LoctocatAuthInfo(
            device_code=text("device_code"),
            user_code=text("user_code"),
            verification_uri=text("verification_uri"),
            expires_in=int(number("expires_in")),
            interval=int(number("interval")),
            verification_uri_complete=text("verification_uri_complete", optional=True),
            extra=read_only(dict(extra)),
            expires_at=expires_at.astimezone(UTC),
        )
        return cls(info, text("token_url"), text("client_id"), tuple(scopes), number("interval"))


@dataclass(frozen=True, slots=True)
class WhoAmI:
    """How to ask a service whom a token belongs to, described as data.

    `url` is a template filled like the provider's endpoints (`urls` maps a filled URL to the
    one to use instead: GitHub.com's API lives at api.github.com, GitHub Enterprise Server's at
    /api/v3). The token goes in ``Authorization: <scheme> <token>`` (Twitch and Yandex want
    ``OAuth``); the answer is a JSON object whose `name_field` names the user for people and
    whose `subject_field` identifies them for good.
    """

    url: str
    name_field: str
    subject_field: str = "sub"
    scheme: str = "Bearer"
    urls: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "urls", MappingProxyType(dict(self.urls)))

    def filled(self, values: Mapping[str, str]) -> WhoAmI:
        """This description with its URL filled with a provider's parameter values."""
        url = self.url.format_map(values)
        return dataclasses.replace(self, url=self.urls.get(url, url), urls={})


#: Where an `Identity` was learnt: the verified ID token's claims, the OpenID Connect userinfo
#: endpoint, or the service's own "who am I" API (GitHub's /user, ...).
IdentitySource = Literal["id_token", "userinfo", "provider"]


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a token belongs to: `authenticator.identity()` answers it.

    `subject` identifies the user for good at this service (OpenID Connect's `sub`, GitHub's
    numeric user ID): key your own records by it. `name` is what to call them on screen
    (a login such as ``octocat``, else an email or a full name); it may change.
    """

    subject: str
    name: str
    source: IdentitySource

    def to_dict(self) -> dict[str, str]:
        """As JSON-friendly fields (`Identity.from_dict` reads them back)."""
        return {"subject": self.subject, "name": self.name, "source": self.source}

    @classmethod
    def from_dict(cls, data: object) -> Identity:
        """Read what `to_dict` wrote; `ValueError` when `data` is not that."""
        if not isinstance(data, Mapping):
            raise ValueError("a saved identity must be an object")
        subject, name, source = (data.get(key) for key in ("subject", "name", "source"))
        if not isinstance(subject, str) or not subject or not isinstance(name, str):
            raise ValueError("a saved identity needs a 'subject' and a 'name' string")
        if source not in ("id_token", "userinfo", "provider"):
            raise ValueError("a saved identity's 'source' is unknown")
        return cls(subject, name, source)


#: The claims that name a user for people, most telling first (OpenID Connect Core §5.1).
NAME_CLAIMS = ("preferred_username", "email", "name", "nickname")


def identity_from_claims(claims: Mapping[str, Any], source: IdentitySource) -> Identity | None:
    """The identity standard claims describe, or None without a usable `sub`."""
    subject = claims.get("sub")
    if not isinstance(subject, str | int) or isinstance(subject, bool) or subject == "":
        return None
    name = next(
        (claims[c] for c in NAME_CLAIMS if isinstance(claims.get(c), str) and claims[c]), None
    )
    return Identity(str(subject), name or str(subject), source)


@dataclass(frozen=True, slots=True, repr=False)
class Token(_ExtraFields):
    """The token endpoint's whole answer (RFC 6749 §5.1), with the expiry as an absolute time.

    `str(token)` and `repr(token)` never show the secrets; read `token.access_token` for the
    value to send. Fields the server sent beyond the standard ones (e.g. GitLab's `created_at`)
    are in `extra` and read as attributes too.
    """

    access_token: str
    token_type: str = "Bearer"
    #: When the access token expires (aware UTC datetime), or None if the server did not say.
    expires_at: datetime | None = None
    refresh_token: str | None = None
    #: The granted scope as the server sent it (space-separated), or None if it did not say.
    scope: str | None = None
    id_token: str | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: NO_ENTRIES)
    #: When the answer was received, as an aware UTC datetime.
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: The ID token's claims, verified (signature, issuer, audience, times) when the token was
    #: received, as a read-only mapping; None when there is no ID token or it was not verified.
    claims: Mapping[str, Any] | None = None
    #: Who the token belongs to, once known: from the verified claims, or asked by
    #: `Authenticator.identity()`; kept with the token in its store.
    identity: Identity | None = None
    #: The key a DPoP-bound token (`token_type` "DPoP", RFC 9449) is bound to: requests with it
    #: carry proofs signed by this key. Kept with the token in its store, never in a repr.
    dpop_key: DPoPKey | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.claims is not None and not isinstance(self.claims, MappingProxyType):
            object.__setattr__(self, "claims", MappingProxyType(dict(self.claims)))
        if self.identity is None and self.claims is not None:
            object.__setattr__(self, "identity", identity_from_claims(self.claims, "id_token"))

    @property
    def scopes(self) -> tuple[str, ...]:
        """The granted scopes as a tuple (empty when the server did not say)."""
        return tuple(self.scope.split()) if self.scope else ()

    @property
    def expires_in(self) -> float | None:
        """Seconds until the access token expires (negative once expired), or None if unknown."""
        if self.expires_at is None:
            return None
        return (self.expires_at - datetime.now(UTC)).total_seconds()

    def is_expired(self, leeway: float = 30.0) -> bool:
        """True if the token has expired, or will within `leeway` seconds.

        A token without a known expiry is never considered expired.
        """
        if self.expires_at is None:
            return False
        return datetime.now(UTC) + timedelta(seconds=leeway) >= self.expires_at

    def to_dict(self) -> dict[str, Any]:
        """The token as the JSON-friendly mapping the server sent (secrets included).

        The absolute times loctocat computed are added as `loctocat_expires_at` and
        `loctocat_received_at` (POSIX timestamps), so they never replace a field of the
        server's own, such as an `expires_at` some services send; the verified claims and the
        identity, when known, as `loctocat_claims` and `loctocat_identity`. A DPoP-bound
        token's private key is left out: only the token stores keep it.
        """
        data: dict[str, Any] = dict(self.extra)
        for f in dataclasses.fields(self):
            if f.name in _OWN_FIELDS:
                continue
            value = getattr(self, f.name)
            if value is not None:
                data[f.name] = value
        if self.expires_at is not None:
            data["loctocat_expires_at"] = self.expires_at.timestamp()
        data["loctocat_received_at"] = self.received_at.timestamp()
        if self.claims is not None:
            data["loctocat_claims"] = dict(self.claims)
        if self.identity is not None:
            data["loctocat_identity"] = self.identity.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Token:
        """Rebuild a token saved with `to_dict()`.

        Raises `ValueError` (or `TypeError`) when `data` is not such a mapping.
        """
        if not isinstance(data.get("access_token"), str) or not data["access_token"]:
            raise ValueError("a saved token needs a non-empty 'access_token' string")
        fields = {"access_token", "token_type", "refresh_token", "scope", "id_token"}
        values = {name: data[name] for name in fields if data.get(name) is not None}
        for name, value in values.items():
            if not isinstance(value, str):
                raise TypeError(f"a saved token's {name!r} must be a string")
        times = ("loctocat_expires_at", "loctocat_received_at")
        expires_at, received_at = (
            datetime.fromtimestamp(float(data[key]), UTC) if data.get(key) is not None else None
            for key in times
        )
        claims = data.get("loctocat_claims")
        if claims is not None and not isinstance(claims, Mapping):
            raise TypeError("a saved token's 'loctocat_claims' must be an object")
        identity = data.get("loctocat_identity")
        own = {*times, "loctocat_claims", "loctocat_identity"}
        extra = {k: v for k, v in data.items() if k not in fields and k not in own}
        token = cls(
            **values,
            expires_at=expires_at,
            extra=read_only(extra),
            claims=claims,
            identity=None if identity is None else Identity.from_dict(identity),
        )
        if received_at is not None:
            token = dataclasses.replace(token, received_at=received_at)
        return token

    def __repr__(self) -> str:
        return (
            f"Token(token_type={self.token_type!r}, "
            f"expires_at={self.expires_at.isoformat() if self.expires_at else None!r}, "
            f"scope={self.scope!r}, access_token={_redact(self.access_token)}, "
            f"refresh_token={_redact(self.refresh_token)}, id_token={_redact(self.id_token)}, "
            f"claims={None if self.claims is None else sorted(self.claims)!r}, "
            f"identity={self.identity!r}, extra={sorted(self.extra)!r})"
        )

    __str__ = __repr__
