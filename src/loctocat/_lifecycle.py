"""After the device flow: refresh (RFC 6749 §6), revocation (RFC 7009), discovery (RFC 8414).

Sans-I/O like `_flow`: each flow is a generator of `Request` effects, judged here, driven by
`Authenticator` and `AsyncAuthenticator`. Each is a single request that a person or a program
is waiting on, so failures are reported at once rather than retried.
"""

from __future__ import annotations

import dataclasses
import logging
import urllib.parse
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

from loctocat._flow import (
    ClientConfig,
    Effect,
    Request,
    Response,
    TransportFailure,
    client_headers,
    client_params,
    fail_fast_answer,
    parse_token,
)
from loctocat._models import Token
from loctocat.errors import ConfigurationError, InvalidGrant, ProtocolError

__all__ = [
    "ServerMetadata",
    "discovery_flow",
    "discovery_urls",
    "refresh_flow",
    "refresh_request",
    "revocation_flow",
]

log = logging.getLogger("loctocat")

_TOKEN_ENDPOINT = "token endpoint"
_REVOCATION_ENDPOINT = "revocation endpoint"
_DISCOVERY = "discovery document"


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
    request = refresh_request(config, token.refresh_token)
    result = yield request
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
    new = parse_token(data, request)
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
    config: ClientConfig, revocation_url: str, token: str, token_type_hint: str
) -> Generator[Effect, Any, None]:
    """RFC 7009 §2.1: ask the server to revoke a token (a refresh token revokes its grant)."""
    form = [("token", token), ("token_type_hint", token_type_hint)]
    form.extend(client_params(config))
    request = Request(revocation_url, tuple(form), client_headers(config), _REVOCATION_ENDPOINT)
    result = yield request
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
    device_authorization_endpoint: str | None = None
    revocation_endpoint: str | None = None
    userinfo_endpoint: str | None = None
    #: The whole document, for fields loctocat does not use itself.
    document: Mapping[str, Any] = field(default_factory=dict, repr=False)


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
    """Read the issuer's metadata, trying the OpenID path first, then RFC 8414's."""
    headers = (("Accept", "application/json"), ("User-Agent", user_agent))
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
        return value

    advertised = endpoint("issuer", required=True)
    assert advertised is not None
    # RFC 8414 §3.3: the issuer MUST be identical to the one asked for, or the document is
    # not to be used (it could come from an impostor). A trailing slash is forgiven.
    if advertised.rstrip("/") != issuer.rstrip("/"):
        raise ProtocolError(
            f"the {_DISCOVERY} at {request.url} names the issuer {advertised!r}, not "
            f"{issuer!r}: refusing it; use the issuer URL exactly as the server names it",
            endpoint=request.url,
            field="issuer",
        )
    token_endpoint = endpoint("token_endpoint", required=True)
    assert token_endpoint is not None
    return ServerMetadata(
        issuer=advertised,
        token_endpoint=token_endpoint,
        device_authorization_endpoint=endpoint("device_authorization_endpoint"),
        revocation_endpoint=endpoint("revocation_endpoint"),
        userinfo_endpoint=endpoint("userinfo_endpoint"),
        document=dict(data),
    )
