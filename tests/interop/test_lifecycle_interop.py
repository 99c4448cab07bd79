"""The whole token life against the real ``oidc-provider``: discovery, login, storage,
refresh with rotation, the httpx auth at the userinfo endpoint, then logout with revocation.

Each login waits the RFC default of 5 s before its one poll (the peer sends no interval).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import httpx
import pytest
from oidc_peer import OIDCPeer

from loctocat import AsyncAuthenticator, Authenticator, LoctocatAuthInfo, Token
from loctocat.store import FileTokenStore, MemoryTokenStore

pytestmark = pytest.mark.interop

SCOPES = ["openid", "offline_access"]


class ApprovingPerson:
    """A prompt that hands the code to a 'person' who approves it in the peer's pages."""

    def __init__(self, peer: OIDCPeer) -> None:
        self.peer = peer
        self.codes_shown = 0
        self.threads: list[threading.Thread] = []

    def show_code(self, auth_info: LoctocatAuthInfo) -> None:
        self.codes_shown += 1
        # In a thread, as a person in a browser would: the flow must not wait for it.
        person = threading.Thread(target=self.peer.approve, args=(auth_info.user_code,))
        person.start()
        self.threads.append(person)

    def start_waiting(self) -> None:
        pass

    def succeeded(self, token: Token) -> None:
        pass

    def failed(self, error: BaseException) -> None:
        pass

    def close(self) -> None:
        for person in self.threads:
            person.join(timeout=30)


class NoPerson(ApprovingPerson):
    """A prompt for calls that must not need a login."""

    def show_code(self, auth_info: LoctocatAuthInfo) -> None:
        raise AssertionError("a stored or refreshable token should have been used")


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        yield client


def userinfo_status(peer: OIDCPeer, http: httpx.Client, access_token: str) -> int:
    response = http.get(peer.userinfo_url, headers={"Authorization": f"Bearer {access_token}"})
    return response.status_code


def expired(token: Token) -> Token:
    return dataclasses.replace(token, expires_at=datetime.now(UTC) - timedelta(seconds=1))


def test_discovery_finds_the_peers_endpoints(oidc_peer: OIDCPeer) -> None:
    auth = Authenticator.from_issuer(oidc_peer.issuer, oidc_peer.client_id, SCOPES)
    assert auth.auth_url == oidc_peer.device_authorization_url
    assert auth.token_url == oidc_peer.token_url
    assert auth.revocation_url == oidc_peer.revocation_url
    assert auth.issuer == oidc_peer.issuer


def test_the_whole_token_life(oidc_peer: OIDCPeer, http: httpx.Client, tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "tokens.json")
    auth = Authenticator.from_issuer(oidc_peer.issuer, oidc_peer.client_id, SCOPES, store=store)
    person = ApprovingPerson(oidc_peer)
    first = auth.get_token(prompt=person)
    assert person.codes_shown == 1
    assert userinfo_status(oidc_peer, http, first) == 200
    assert auth.token is not None
    first_refresh = auth.token.refresh_token

    # Another run of the program: the stored token is used, no login, no request.
    again = Authenticator.from_issuer(oidc_peer.issuer, oidc_peer.client_id, SCOPES, store=store)
    assert again.get_token(prompt=NoPerson(oidc_peer)) == first

    # Expired: refreshed quietly, the rotated refresh token stored.
    again.token = expired(again.token)  # type: ignore[arg-type]
    store.save(again.store_key(), again.token)
    second = again.get_token(prompt=NoPerson(oidc_peer))
    assert second != first
    assert again.token is not None
    assert again.token.refresh_token not in (None, first_refresh)
    assert store.load(again.store_key()) == again.token
    assert userinfo_status(oidc_peer, http, second) == 200

    # The httpx auth sends the current token.
    with httpx.Client(auth=again.http_auth(), timeout=10.0) as client:
        me = client.get(oidc_peer.userinfo_url)
    assert me.status_code == 200
    assert me.json()["sub"] == "alice"

    # Logout: forgotten here and in the store, and revoked at the server.
    again.logout()
    assert again.token is None
    assert store.load(again.store_key()) is None
    assert userinfo_status(oidc_peer, http, second) == 401


def test_a_used_refresh_token_means_logging_in_again(oidc_peer: OIDCPeer) -> None:
    store = MemoryTokenStore()
    auth = Authenticator.from_issuer(oidc_peer.issuer, oidc_peer.client_id, SCOPES, store=store)
    person = ApprovingPerson(oidc_peer)
    auth.get_token(prompt=person)
    assert auth.token is not None
    stale = expired(auth.token)
    auth.refresh()  # rotates: the refresh token in `stale` is now used up
    auth.token = stale
    store.save(auth.store_key(), stale)
    # The peer rejects the old refresh token (and revokes the grant): a new login follows.
    auth.get_token(prompt=person)
    assert person.codes_shown == 2


@pytest.mark.anyio
async def test_the_whole_token_life_async(oidc_peer: OIDCPeer, http: httpx.Client) -> None:
    store = MemoryTokenStore()
    auth = await AsyncAuthenticator.from_issuer(
        oidc_peer.issuer, oidc_peer.client_id, SCOPES, store=store
    )
    person = ApprovingPerson(oidc_peer)
    with anyio.fail_after(30):
        first = await auth.get_token(prompt=person)
    person.close()
    assert await auth.get_token(prompt=NoPerson(oidc_peer)) == first
    assert auth.token is not None
    auth.token = expired(auth.token)
    store.save(auth.store_key(), auth.token)
    second = await auth.get_token(prompt=NoPerson(oidc_peer))
    assert second != first
    async with httpx.AsyncClient(auth=auth.http_auth(), timeout=10.0) as client:
        me = await client.get(oidc_peer.userinfo_url)
    assert me.status_code == 200
    await auth.logout()
    assert userinfo_status(oidc_peer, http, second) == 401
