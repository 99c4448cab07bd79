"""loctocat against a real, independent authorization server (``oidc-provider`` 9, Node.js).

The peer sends no ``interval``, so loctocat waits the RFC 8628 default of 5 s before each poll;
the code is approved right after ``ping()`` so every flow needs exactly one poll (~5 s).

The peer revokes every token of a grant if its device code is redeemed twice, so the userinfo
checks below also prove that loctocat stops polling after the first success.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Literal

import anyio
import httpx
import pytest
from oidc_peer import OIDCPeer

from loctocat import AccessDenied, AsyncAuthenticator, Authenticator, LoctocatAuthInfo, Token

pytestmark = pytest.mark.interop

SCOPES = ["openid", "offline_access"]


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        yield client


def check_auth_info(info: LoctocatAuthInfo, peer: OIDCPeer) -> None:
    assert isinstance(info, LoctocatAuthInfo)
    assert info.interval == 5  # the peer sends none: RFC 8628's default
    assert info.expires_in == 600
    assert info.verification_uri == peer.verification_uri
    assert info.verification_uri_complete == f"{peer.verification_uri}?user_code={info.user_code}"
    assert len(info.user_code) == 9
    assert info.device_code


def check_token(token_str: str, token: Token | None, peer: OIDCPeer, http: httpx.Client) -> None:
    assert token is not None
    assert token.access_token == token_str
    assert token.token_type.lower() == "bearer"
    assert token.refresh_token
    assert token.id_token
    assert token.id_token.count(".") == 2
    assert token.scope is not None
    assert set(token.scope.split()) == set(SCOPES)
    assert token.expires_at is not None
    assert token.expires_at.tzinfo is not None
    expected = datetime.now(UTC) + timedelta(seconds=3600)
    assert abs(token.expires_at - expected) < timedelta(seconds=60)
    # The token really works at the peer (and was not revoked by a second redemption).
    me = http.get(peer.userinfo_url, headers={"Authorization": f"Bearer {token_str}"})
    assert me.status_code == 200, me.text
    assert me.json()["sub"] == "alice"


def test_sync_flow(oidc_peer: OIDCPeer, http: httpx.Client) -> None:
    a = Authenticator(
        oidc_peer.client_id,
        auth_url=oidc_peer.device_authorization_url,
        token_url=oidc_peer.token_url,
        scopes=SCOPES,
    )
    info = a.ping()
    check_auth_info(info, oidc_peer)
    assert oidc_peer.approve(info.user_code) == "approved"
    token_str = a.poll()
    check_token(token_str, a.token, oidc_peer, http)


@pytest.mark.anyio
async def test_async_flow(oidc_peer: OIDCPeer, http: httpx.Client, anyio_backend: str) -> None:
    a = AsyncAuthenticator(
        oidc_peer.client_id,
        auth_url=oidc_peer.device_authorization_url,
        token_url=oidc_peer.token_url,
        scopes=SCOPES,
    )
    info = await a.ping()
    check_auth_info(info, oidc_peer)
    outcome: list[str] = []

    async def person() -> None:
        outcome.append(await oidc_peer.approve_async(info.user_code))

    # The person approves while loctocat is already waiting to poll.
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(person)
            token_str = await a.poll()
    assert outcome == ["approved"]
    check_token(token_str, a.token, oidc_peer, http)


def test_deny(oidc_peer: OIDCPeer) -> None:
    a = Authenticator(
        oidc_peer.client_id,
        auth_url=oidc_peer.device_authorization_url,
        token_url=oidc_peer.token_url,
        scopes=SCOPES,
    )
    info = a.ping()
    assert oidc_peer.approve(info.user_code, deny=True) == "denied"
    with pytest.raises(AccessDenied) as excinfo:
        a.poll()
    assert excinfo.value.error == "access_denied"
    assert excinfo.value.error_description == "End-User aborted interaction"
    assert a.token is None


@pytest.mark.parametrize("client_auth", ["basic", "body"])
def test_confidential_client(
    oidc_peer: OIDCPeer, http: httpx.Client, client_auth: Literal["basic", "body"]
) -> None:
    """client_secret sent as HTTP Basic or in the body; poll_interval=1 keeps this quick."""
    client_id = (
        oidc_peer.secret_client_id if client_auth == "basic" else oidc_peer.secret_post_client_id
    )
    a = Authenticator(
        client_id,
        auth_url=oidc_peer.device_authorization_url,
        token_url=oidc_peer.token_url,
        scopes=SCOPES,
        client_secret=oidc_peer.client_secret,
        client_auth=client_auth,
        poll_interval=1,
    )
    info = a.ping()
    assert info.interval == 1
    oidc_peer.approve(info.user_code)
    token_str = a.poll()
    check_token(token_str, a.token, oidc_peer, http)
