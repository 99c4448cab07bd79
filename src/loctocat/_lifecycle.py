"""The token's life after the device flow: refresh (RFC 6749 §6), revocation (RFC 7009),
discovery (RFC 8414), and the policy that ties them to a token store.

Sans-I/O like `_flow`: each flow is a generator of effects, judged here, driven by
`Authenticator` and `AsyncAuthenticator`. Besides `Request`, the token-lifecycle flows ask
their driver to read the clock and to use the token store (`LoadToken`, `SaveToken`,
`DeleteToken`) or to run the device flow with its prompt (`Login`); the driver holds the
store's lock for the key around the whole flow, so that whoever shares the store does one
refresh or one login per key and the others find its result. Each request is one that a person
or a program is waiting on, so failures are reported at once rather than retried.
"""

from __future__ import annotations

import dataclasses
import logging
import urllib.parse
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeAlias

from loctocat._dpop import DPoPKey
from loctocat._flow import (
    ACCEPT_ENCODING,
    ClientConfig,
    Effect,
    Request,
    Response,
    TransportFailure,
    _arrival,
    bound,
    check_endpoint_url,
    client_headers,
    client_params,
    exchange,
    fail_fast_answer,
    parse_token,
    verified,
    with_dpop,
)
from loctocat._models import Token
from loctocat.errors import (
    ConfigurationError,
    InvalidGrant,
    LoctocatError,
    LoginRequired,
    ProtocolError,
    StoreError,
)

__all__ = [
    "CurrentTime",
    "DeleteToken",
    "LoadToken",
    "Login",
    "SaveToken",
    "ServerMetadata",
    "discovery_flow",
    "discovery_urls",
    "get_token_flow",
    "issuer_matches",
    "logout_flow",
    "refresh_flow",
    "refresh_request",
    "revocation_flow",
    "stored_refresh_flow",
]

log = logging.getLogger("loctocat")

_TOKEN_ENDPOINT = "token endpoint"
_REVOCATION_ENDPOINT = "revocation endpoint"
_DISCOVERY = "discovery document"


# --- Effects of the token-lifecycle flows -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class CurrentTime:
    """Send the current time, as an aware UTC datetime."""


@dataclass(frozen=True, slots=True)
class LoadToken:
    """Send the token stored under `key` (None when there is none, or no store).

    A `StoreError` the store raises is sent as the value, for the flow to judge: a corrupt
    entry is as good as none, since the login that follows replaces it.
    """

    key: str


@dataclass(frozen=True, slots=True)
class SaveToken:
    """Make `token` the current one and store it under `key`; then send None."""

    key: str
    token: Token


@dataclass(frozen=True, slots=True)
class DeleteToken:
    """Forget the current token and the one stored under `key`; then send None."""

    key: str


@dataclass(frozen=True, slots=True)
class Login:
    """Run the device flow with the prompt and send the `Token` it brings."""


LifecycleEffect: TypeAlias = Effect | CurrentTime | LoadToken | SaveToken | DeleteToken | Login


def _stored(loaded: Token | StoreError | None) -> Token | None:
    """What a `LoadToken` found: a token, or None when there is none or it is unreadable."""
    if isinstance(loaded, StoreError):
        if not getattr(loaded, "corrupt", False):
            raise loaded  # the store cannot be used at all: say so rather than log in for nothing
        log.warning("%s", loaded)
        return None
    if loaded is not None and loaded.token_type.lower() == "dpop" and loaded.dpop_key is None:
        # Bound to a key that was not kept: neither it nor its refresh token can be used.
        log.warning("the stored DPoP-bound token has lost its key; logging in again")
        return None
    return loaded


def _freshest(
    current: Token | None, stored: Token | None, last_stored: Token | None
) -> Token | None:
    """The token to go on with: the stored one, since another authenticator or process may
    have renewed it; but while the store still holds `last_stored`, the one the caller last
    found or put there, nobody has, and a `current` that differs is newer (a refresh the store
    did not take, a login that was not stored): with rotating refresh tokens, the stored
    one's refresh token is already spent."""
    if stored is None:
        return current
    if (
        current is not None
        and last_stored is not None
        and same_grant(stored, last_stored)
        and not same_grant(current, stored)
    ):
        return current
    return stored


def same_grant(one: Token, other: Token) -> bool:
    """Whether two tokens carry the same access and refresh token (their other fields, such as
    who is logged in, may have been learnt since). For drivers, which keep `last_stored`."""
    return one.access_token == other.access_token and one.refresh_token == other.refresh_token


def _expired(token: Token, now: datetime, leeway: float) -> bool:
    return token.expires_at is not None and now + timedelta(seconds=leeway) >= token.expires_at


def get_token_flow(
    config: ClientConfig,
    key: str,
    current: Token | None,
    *,
    leeway: float,
    force_refresh: bool = False,
    rejected: str | None = None,
    login: bool = True,
    last_stored: Token | None = None,
) -> Generator[LifecycleEffect, Any, Token]:
    """A valid token, asking as little as possible: stored and valid → refreshed → a new login.

    `current` is the token the caller holds (None if it holds none). The stored token wins
    over it, unless the store still holds `last_stored` (the token the caller last loaded
    from or saved to the store): then `current` is the newer one. With `force_refresh`, the
    token the caller holds is suspect (the server refused it): it is renewed, unless the store
    already holds another one, renewed meanwhile by someone else, then trusted as usual. A
    caller holding no token suspects the stored one. `rejected` names the suspect precisely
    (the access token a server refused): it is renewed only while it is still the freshest
    token, so that requests refused together cause one renewal, not one each. With
    `login=False`, `LoginRequired` is raised where a new login would start.
    """
    token = _freshest(current, _stored((yield LoadToken(key))), last_stored)
    # The access token believed bad, if any: whatever else is the freshest was renewed since.
    suspect: str | None = None
    if rejected is not None:
        suspect = rejected
    elif force_refresh:
        held = current if current is not None else token
        suspect = held.access_token if held is not None else None
    if token is not None and token.access_token != suspect:
        now: datetime = yield CurrentTime()
        if not _expired(token, now, leeway):
            return token
    if token is not None and token.refresh_token:
        try:
            refreshed = yield from refresh_flow(config, token)
        except InvalidGrant:
            log.debug("the refresh token was rejected; logging in again")
        else:
            yield SaveToken(key, refreshed)
            return refreshed
    if not login:
        raise LoginRequired(
            "there is no valid token for this login"
            + (" and it cannot be refreshed" if token is not None else "")
            + "; log in first"
        )
    new: Token = yield Login()
    yield SaveToken(key, new)
    return new


def stored_refresh_flow(
    config: ClientConfig, key: str, current: Token | None, *, last_stored: Token | None = None
) -> Generator[LifecycleEffect, Any, Token]:
    """Refresh the freshest token known now, store and return the new one.

    `current` and `last_stored` are as in `get_token_flow`. Raises `ConfigurationError` when
    there is no token, or it has no refresh token, and `InvalidGrant` when the server rejects
    the refresh token (log in again then).
    """
    token = _freshest(current, _stored((yield LoadToken(key))), last_stored)
    if token is None:
        raise ConfigurationError("there is no token to refresh: call get_token() first")
    refreshed = yield from refresh_flow(config, token)
    yield SaveToken(key, refreshed)
    return refreshed


def logout_flow(
    config: ClientConfig,
    key: str,
    current: Token | None,
    revocation_url: str | None,
    *,
    revoke: bool = True,
) -> Generator[LifecycleEffect, Any, bool]:
    """Revoke the token at the server (RFC 7009), then forget it. True if it was revoked.

    Forgets only once the server has confirmed the revocation, so that a failed revocation
    (the server unreachable, an error) leaves the token where it was to try again; the error
    says so. Without a revocation endpoint, or with `revoke=False`, the token is only forgotten
    here (and False returned): it stays valid at the server until it expires.
    """
    loaded = yield LoadToken(key)
    if isinstance(loaded, StoreError) and not getattr(loaded, "corrupt", False):
        raise loaded
    # A corrupt entry cannot be revoked, but it can be forgotten. The token held in memory
    # and the stored one may differ (a login not stored yet): each is revoked.
    stored = None if isinstance(loaded, StoreError) else loaded
    known = {t.refresh_token or t.access_token: t for t in (current, stored) if t is not None}
    revoked = False
    if known and revoke and revocation_url is not None:
        for token in known.values():
            value, hint = (
                (token.refresh_token, "refresh_token")
                if token.refresh_token
                else (token.access_token, "access_token")
            )
            try:
                yield from revocation_flow(config, revocation_url, value, hint, token.dpop_key)
            except LoctocatError as error:
                error.add_note(
                    "The token was not forgotten: log out again later, or with revoke=False to "
                    "only forget it here."
                )
                raise
        revoked = True
    yield DeleteToken(key)
    return revoked


# --- Refresh (RFC 6749 §6) --------------------------------------------------------------------


def refresh_request(config: ClientConfig, refresh_token: str) -> Request:
    """RFC 6749 §6: grant_type=refresh_token. No scope: the same scope as before is granted."""
    form = [("grant_type", "refresh_token"), ("refresh_token", refresh_token)]
    form.extend(client_params(config))
    return Request(config.token_url, tuple(form), client_headers(config), _TOKEN_ENDPOINT)


def refresh_flow(config: ClientConfig, token: Token) -> Generator[Effect, Any, Token]:
    """Trade `token`'s refresh token for a new token.

    Raises `InvalidGrant` when the server rejects the refresh token (expired, revoked, or
    already used): the user has to log in again.
    """
    if not token.refresh_token:
        raise ConfigurationError("this token has no refresh token: log in again instead")
    # RFC 9449 §5: a public client's refresh token is bound to the key its token was issued
    # for: the refresh is proven with that key (an unbound token is refreshed unbound).
    request = with_dpop(config, refresh_request(config, token.refresh_token), token.dpop_key)
    result = yield from exchange(config, request)
    try:
        data = fail_fast_answer(request, result, config.quirks)
    except InvalidGrant as rejected:
        raise InvalidGrant(
            rejected.error,
            rejected.error_description,
            rejected.error_uri,
            status_code=rejected.status_code,
            hint="the refresh token was rejected (expired, revoked or already used); log in again",
        ) from None
    assert isinstance(result, Response)  # fail_fast_answer raised otherwise
    new = bound(parse_token(data, request, _arrival(result, request)), request)
    if token.dpop_key is not None and new.dpop_key is None:
        # A bound token renewed as a Bearer one would be usable by whoever copies it: refuse
        # the downgrade rather than store it.
        raise ProtocolError(
            f"the token endpoint ({request.url}) answered the refresh of a DPoP-bound token "
            f"with a token of type {new.token_type!r}, not bound to the key; log in again"
        )
    # OpenID Connect Core §12.2: a refreshed ID token is verified like the first one, and
    # names the same user. Without one, the login's ID token and identity still hold.
    new = yield from verified(config, new, token)
    if new.id_token is None:
        new = dataclasses.replace(new, id_token=token.id_token, claims=token.claims)
    if new.identity is None:
        new = dataclasses.replace(new, identity=token.identity)
    rotated = new.refresh_token is not None
    if not rotated:
        # §6: the server MAY issue a new refresh token; if it does not, the old one stays good.
        new = dataclasses.replace(new, refresh_token=token.refresh_token)
    if new.scope is None and token.scope is not None:
        # §5.1: scope is omitted when it is the one asked for, i.e. the old one.
        new = dataclasses.replace(new, scope=token.scope)
    log.debug("token refreshed (refresh token %s)", "rotated" if rotated else "kept")
    return new


# --- Revocation (RFC 7009) --------------------------------------------------------------------


def revocation_flow(
    config: ClientConfig,
    revocation_url: str,
    token: str,
    token_type_hint: str,
    dpop_key: DPoPKey | None = None,
) -> Generator[Effect, Any, None]:
    """RFC 7009 §2.1: ask the server to revoke a token (a refresh token revokes its grant).

    A DPoP-bound token's revocation carries a proof of its key, which servers that bind
    refresh tokens may ask for."""
    form = [("token", token), ("token_type_hint", token_type_hint)]
    form.extend(client_params(config))
    request = Request(revocation_url, tuple(form), client_headers(config), _REVOCATION_ENDPOINT)
    request = with_dpop(config, request, dpop_key)
    result = yield from exchange(config, request)
    if isinstance(result, Response) and 200 <= result.status_code < 300:
        # §2.2: 200 whether or not the token was valid; the body is meaningless.
        log.debug("token revoked")
        return
    # No answer, 503 (§2.2.1: try later), an OAuth error such as unsupported_token_type, or
    # an answer that is none of these: each raised, typed.
    fail_fast_answer(request, result, config.quirks)


# --- Discovery (RFC 8414, OpenID Connect Discovery 1.0) --------------------------------------


@dataclass(frozen=True, slots=True)
class ServerMetadata:
    """What an authorization server says about itself at its well-known URL."""

    issuer: str
    token_endpoint: str
    #: The issuer as a multi-tenant document names it, with a `{tenantid}` placeholder
    #: (Microsoft's common and organizations), or None: each tenant's tokens name their own.
    issuer_template: str | None = None
    device_authorization_endpoint: str | None = None
    revocation_endpoint: str | None = None
    userinfo_endpoint: str | None = None
    #: The whole document, for fields loctocat does not use itself.
    document: Mapping[str, Any] = field(default_factory=dict, repr=False)


#: The placeholder a multi-tenant service's metadata names its issuer with (Microsoft).
TENANT_PLACEHOLDER = "{tenantid}"


def issuer_matches(expected: str, advertised: str) -> bool:
    """Whether metadata naming the issuer `advertised` may be used for `expected`.

    RFC 8414 §3.3: they must be identical (a trailing slash aside). The one exception is the
    issuer of a multi-tenant service's shared metadata, which names it with a literal
    ``{tenantid}`` (Microsoft's ``common`` and ``organizations``): it matches when the
    placeholder stands for one path segment of `expected` and everything else is identical,
    as MSAL reads it. Each token then names its own tenant's issuer.
    """
    advertised, expected = advertised.rstrip("/"), expected.rstrip("/")
    if advertised == expected:
        return True
    if advertised.count(TENANT_PLACEHOLDER) != 1:
        return False
    prefix, _, suffix = advertised.partition(TENANT_PLACEHOLDER)
    if not prefix.endswith("/") or len(expected) <= len(prefix) + len(suffix):
        return False
    if not (expected.startswith(prefix) and expected.endswith(suffix)):
        return False
    tenant = expected[len(prefix) : len(expected) - len(suffix)]
    return "/" not in tenant and "?" not in tenant and "#" not in tenant


def discovery_urls(issuer: str) -> list[str]:
    """Where an issuer's metadata may live, in the order to try them.

    OpenID Connect appends `/.well-known/openid-configuration` to the issuer; RFC 8414 §3.1
    inserts `/.well-known/oauth-authorization-server` between the host and the path.
    """
    parts = urllib.parse.urlsplit(issuer.rstrip("/"))
    base = f"{parts.scheme}://{parts.netloc}"
    return [
        f"{base}{parts.path}/.well-known/openid-configuration",
        f"{base}/.well-known/oauth-authorization-server{parts.path}",
    ]


def discovery_flow(issuer: str, user_agent: str) -> Generator[Effect, Any, ServerMetadata]:
    """Read the issuer's metadata, trying the OpenID path first, then RFC 8414's.

    RFC 8414 §2: the issuer is an https URL with no query or fragment (http only for a
    loopback host, as for every endpoint); anything else raises `ConfigurationError` before a
    request is made, since the document it serves would name where the secrets go.
    """
    check_endpoint_url(issuer, "issuer")
    headers = (
        ("Accept", "application/json"),
        ("Accept-Encoding", ACCEPT_ENCODING),
        ("User-Agent", user_agent),
    )
    for url in discovery_urls(issuer):
        request = Request(url, (), headers, _DISCOVERY, method="GET")
        result = yield request
        if not isinstance(result, TransportFailure) and result.status_code in (404, 405, 410):
            continue  # not published at this path: try the next one
        return _metadata(issuer, request, fail_fast_answer(request, result))
    raise ConfigurationError(
        f"no metadata found for the issuer {issuer!r} (tried {', '.join(discovery_urls(issuer))}):"
        " check the issuer URL, or pass auth_url and token_url yourself"
    )


def _metadata(issuer: str, request: Request, data: Mapping[str, Any]) -> ServerMetadata:
    def endpoint(name: str, required: bool = False) -> str | None:
        value = data.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            raise ProtocolError(
                f"the {_DISCOVERY} ({request.url}) has no valid {name!r}",
                endpoint=request.url,
                field=name,
            )
        try:
            # The endpoints get the secrets: the rules for URLs given by hand hold for them too.
            check_endpoint_url(value, name)
        except ConfigurationError as exc:
            raise ProtocolError(
                f"the {_DISCOVERY} ({request.url}) names an endpoint loctocat will not use: {exc}",
                endpoint=request.url,
                field=name,
            ) from None
        return value

    advertised = data.get("issuer")
    if not isinstance(advertised, str) or not advertised:
        raise ProtocolError(
            f"the {_DISCOVERY} ({request.url}) has no valid 'issuer'",
            endpoint=request.url,
            field="issuer",
        )
    # RFC 8414 §3.3: the issuer MUST be identical to the one asked for, or the document is
    # not to be used (it could come from an impostor). A trailing slash is forgiven.
    if not issuer_matches(issuer, advertised):
        raise ProtocolError(
            f"the {_DISCOVERY} at {request.url} names the issuer {advertised!r}, not "
            f"{issuer!r}: refusing it; use the issuer URL exactly as the server names it",
            endpoint=request.url,
            field="issuer",
        )
    token_endpoint = endpoint("token_endpoint", required=True)
    assert token_endpoint is not None
    template = advertised if advertised.rstrip("/") != issuer.rstrip("/") else None
    return ServerMetadata(
        issuer=issuer if template is not None else advertised,
        issuer_template=template,
        token_endpoint=token_endpoint,
        device_authorization_endpoint=endpoint("device_authorization_endpoint"),
        revocation_endpoint=endpoint("revocation_endpoint"),
        userinfo_endpoint=endpoint("userinfo_endpoint"),
        document=dict(data),
    )
