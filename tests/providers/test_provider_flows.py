"""Every predefined provider, whole flow, against the fake server speaking that service's dialect.

Everything runs in memory (`server.transport()`): the fake server takes the provider's real origin
as its `base_url`, and nothing touches a network. The cases are the fixtures in conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from provider_cases import CLIENT_ID, Case, build, check_flow, make_server

from loctocat import AsyncAuthenticator, Authenticator, InvalidGrant, LoginRequired
from loctocat import predefined as p
from loctocat.testing import FakeAuthorizationServer


@pytest.mark.parametrize("via", ["provider", "class"])
def test_the_whole_flow_speaks_the_services_dialect(case: Case, via: str) -> None:
    server = make_server(case)
    server.plan("pending", "approve")
    with httpx.Client(transport=server.transport()) as client:
        auth = build(case, client, asynchronous=False, via=via)
        assert not isinstance(auth, AsyncAuthenticator)
        auth.ping()
        access_token = auth.poll()
    check_flow(case, server, auth, access_token)


ASYNC_CASES = ["github", "microsoft", "google", "huggingface_with_secret", "twitch", "amazon"]
ASYNC_CASES += ["yandex", "zoom"]


@pytest.mark.anyio
@pytest.mark.parametrize("via", ["provider", "class"])
@pytest.mark.parametrize("name", ASYNC_CASES)
async def test_the_whole_flow_async(request: pytest.FixtureRequest, name: str, via: str) -> None:
    case: Case = request.getfixturevalue(name)
    server = make_server(case)
    server.plan("pending", "approve")
    async with httpx.AsyncClient(transport=server.transport()) as client:
        auth = build(case, client, asynchronous=True, via=via)
        assert isinstance(auth, AsyncAuthenticator)
        await auth.ping()
        access_token = await auth.poll()
    check_flow(case, server, auth, access_token)


def test_a_spent_refresh_token_is_invalid_grant_in_every_dialect(case: Case) -> None:
    # Each service says it its own way (GitHub: bad_refresh_token with HTTP 200; Twitch:
    # {"error": "Bad Request", "status": 400, "message": "Invalid refresh token"}): all of
    # them mean "log in again", which is what get_token() does on InvalidGrant.
    server = make_server(case)
    server.rotate_refresh_tokens = True
    server.plan("approve")
    with httpx.Client(transport=server.transport()) as client:
        auth = build(case, client, asynchronous=False, via="provider")
        auth.ping()
        auth.poll()
        spent = auth.token
        auth.refresh()
        auth.token = spent
        with pytest.raises(InvalidGrant):
            auth.refresh()
        with pytest.raises(LoginRequired):  # not a ServerError: a new login is the way on
            auth.get_token(login=False, force_refresh=True)


# --- What the dialects add to the answers ------------------------------------------------------


@pytest.fixture
def run(request: pytest.FixtureRequest) -> Iterator[Any]:
    """run(case) -> (server, authenticator) after a whole sync flow."""
    clients: list[httpx.Client] = []

    def go(case: Case, *steps: Any) -> tuple[FakeAuthorizationServer, Authenticator]:
        server = make_server(case)
        server.plan(*(steps or ("approve",)))
        client = httpx.Client(transport=server.transport())
        clients.append(client)
        auth = build(case, client, asynchronous=False, via="provider")
        auth.ping()
        auth.poll()
        return server, auth

    yield go
    for client in clients:
        client.close()


def test_microsoft_message_is_kept(microsoft: Case, run: Any) -> None:
    _, auth = run(microsoft)
    assert auth.auth_info.extra["message"].startswith("To sign in")


def test_gitlab_created_at_is_kept(gitlab: Case, run: Any) -> None:
    _, auth = run(gitlab)
    assert auth.token.extra["created_at"] == 1_700_000_000


def test_github_form_encoded_dialect_is_answered_in_json(github: Case, run: Any) -> None:
    server, auth = run(github)
    assert auth.token.access_token == server.issued_tokens[-1].access_token
    assert auth.auth_info.verification_uri == "https://github.com/login/device"


def test_the_issuer_and_revocation_url_follow_the_parameters() -> None:
    okta = p.OKTA.authenticator(CLIENT_ID, domain="example.okta.com", authorization_server="aus1")
    assert okta.issuer == "https://example.okta.com/oauth2/aus1"
    assert okta.revocation_url == "https://example.okta.com/oauth2/aus1/v1/revoke"
    keycloak = p.KEYCLOAK.authenticator(CLIENT_ID, base_url="https://sso.example.com", realm="a")
    assert keycloak.issuer == "https://sso.example.com/realms/a"
    assert p.GITHUB.authenticator(CLIENT_ID).revocation_url is None
