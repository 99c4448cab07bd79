"""What each service expects, written out from its documentation, for the provider tests.

The expected URLs, forms and headers here are not read from `loctocat.predefined`, so a wrong
template, quirk or secret placement makes the tests fail. The cases themselves are fixtures in
conftest.py, one per provider, each beside the documentation it follows.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from loctocat import AsyncAuthenticator, Authenticator, LoctocatAuthInfo
from loctocat import predefined as p
from loctocat.testing import FakeAuthorizationServer, RecordedRequest

CLIENT_ID = "client-1"
SECRET = "s3cret/+="  # characters that form-encoding changes, to check HTTP Basic encoding
URN = "urn:ietf:params:oauth:grant-type:device_code"
DEVICE_CODE = "<device_code>"
USER_CODE = "<user_code>"


@dataclass(frozen=True)
class Case:
    """How one service behaves (the fake server's dialect) and what a client must send it."""

    provider: str
    #: FakeAuthorizationServer dialect options for this service.
    server: Mapping[str, Any]
    device_url: str
    token_url: str
    #: The exact form of the device request.
    device_form: Mapping[str, str]
    #: The exact form of each poll; DEVICE_CODE / USER_CODE stand for the codes received.
    poll_form: Mapping[str, str]
    scopes: tuple[str, ...] = ()
    #: Provider parameters and options for the authenticator.
    params: Mapping[str, Any] = field(default_factory=dict)
    #: HTTP Basic credentials both requests must carry, or None for no Authorization header.
    basic: tuple[str, str] | None = None
    #: Whether the device request carries them too (Zoom: only the polls).
    basic_on_device_request: bool = True
    #: The Token.scope expected (the space-joined scopes by default).
    token_scope: str | None = None


def rfc_poll(**extra: str) -> dict[str, str]:
    return {"grant_type": URN, "device_code": DEVICE_CODE, "client_id": CLIENT_ID, **extra}


CASES = [
    "github",
    "github_enterprise",
    "gitlab",
    "microsoft",
    "google",
    "auth0",
    "okta",
    "keycloak",
    "zitadel",
    "authentik",
    "ory",
    "ory_confidential",
    "huggingface",
    "huggingface_with_secret",
    "twitch",
    "amazon",
    "yandex",
    "zoom",
]

#: The loctocat 1.0-style classes of each provider: (sync, async).
CLASSES: dict[str, tuple[type[Authenticator], type[AsyncAuthenticator]]] = {
    "github": (p.GitHubAuthenticator, p.AsyncGitHubAuthenticator),
    "gitlab": (p.GitLabAuthenticator, p.AsyncGitLabAuthenticator),
    "microsoft": (p.MicrosoftAuthenticator, p.AsyncMicrosoftAuthenticator),
    "google": (p.GoogleAuthenticator, p.AsyncGoogleAuthenticator),
    "auth0": (p.Auth0Authenticator, p.AsyncAuth0Authenticator),
    "okta": (p.OktaAuthenticator, p.AsyncOktaAuthenticator),
    "keycloak": (p.KeycloakAuthenticator, p.AsyncKeycloakAuthenticator),
    "zitadel": (p.ZitadelAuthenticator, p.AsyncZitadelAuthenticator),
    "authentik": (p.AuthentikAuthenticator, p.AsyncAuthentikAuthenticator),
    "ory": (p.OryAuthenticator, p.AsyncOryAuthenticator),
    "huggingface": (p.HuggingFaceAuthenticator, p.AsyncHuggingFaceAuthenticator),
    "twitch": (p.TwitchAuthenticator, p.AsyncTwitchAuthenticator),
    "amazon": (p.AmazonAuthenticator, p.AsyncAmazonAuthenticator),
    "yandex": (p.YandexAuthenticator, p.AsyncYandexAuthenticator),
    "zoom": (p.ZoomAuthenticator, p.AsyncZoomAuthenticator),
}


def make_server(case: Case) -> FakeAuthorizationServer:
    """The fake server speaking this service's dialect; interval 0 so nothing waits."""
    return FakeAuthorizationServer(interval=0, client_id=CLIENT_ID, **case.server)


def build(
    case: Case, http_client: httpx.Client | httpx.AsyncClient, *, asynchronous: bool, via: str
) -> Authenticator:
    options: dict[str, Any] = {**case.params, "http_client": http_client, "min_interval": 0.01}
    if via == "class":
        cls = CLASSES[case.provider][1 if asynchronous else 0]
        return cls(CLIENT_ID, scopes=list(case.scopes) or None, **options)
    provider = p.get_provider(case.provider)
    auth: Authenticator = provider.authenticator(
        CLIENT_ID, case.scopes, asynchronous=asynchronous, **options
    )
    return auth


def expected_poll(case: Case, info: LoctocatAuthInfo) -> dict[str, str]:
    codes = {DEVICE_CODE: info.device_code, USER_CODE: info.user_code}
    return {name: codes.get(value, value) for name, value in case.poll_form.items()}


def check_authorization(case: Case, request: RecordedRequest, *, device: bool = False) -> None:
    if case.basic is None or (device and not case.basic_on_device_request):
        assert "authorization" not in request.headers
        return
    # RFC 6749 §2.3.1: each part form-encoded, then joined and base64-encoded.
    pair = f"{case.basic[0]}:{case.basic[1]}".replace("/", "%2F").replace("+", "%2B")
    pair = pair.replace("=", "%3D")
    assert request.headers["authorization"] == "Basic " + base64.b64encode(pair.encode()).decode()


def check_flow(
    case: Case, server: FakeAuthorizationServer, auth: Authenticator, access_token: str
) -> None:
    assert auth.auth_info is not None
    assert auth.token is not None
    info = auth.auth_info
    assert info.verification_uri == server.verification_uri
    assert access_token == server.issued_tokens[-1].access_token == auth.token.access_token
    assert auth.token.scope == (case.token_scope or " ".join(case.scopes) or None)

    device, *rest = server.requests
    # Besides the polls: the issuer's metadata and keys, read to verify the ID token.
    polls = [request for request in rest if request.method == "POST"]
    reads = [request for request in rest if request.method == "GET"]
    assert {request.endpoint for request in reads} <= {"discovery", "jwks"}
    if "openid" in case.scopes and auth.issuer is None:
        # No issuer to hold the ID token to (authentik's is per application): not verified.
        assert auth.token.id_token is not None
        assert auth.token.claims is None
    elif "openid" in case.scopes:
        assert auth.token.id_token is not None
        assert auth.token.claims is not None, "the ID token was not verified"
        assert auth.token.claims["sub"] == server.user["sub"]
        assert auth.token.claims["aud"] == server.issued_tokens[-1].client_id
        assert [request.endpoint for request in reads][-1:] == ["jwks"]
    else:
        assert reads == []
    assert (device.method, device.url, device.query) == ("POST", case.device_url, "")
    assert device.form == case.device_form
    assert all(len(values) == 1 for values in device.form_multi.values())
    assert device.headers["accept"] == "application/json"
    check_authorization(case, device, device=True)
    assert len(polls) == 2  # pending, then the token
    for poll in polls:
        assert (poll.method, poll.url, poll.query) == ("POST", case.token_url, "")
        assert poll.form == expected_poll(case, info)
        check_authorization(case, poll)
