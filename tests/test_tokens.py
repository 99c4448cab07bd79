"""get_token(), refresh(), logout() and from_issuer() against the fake server on loopback."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from loctocat import (
    AsyncAuthenticator,
    Authenticator,
    ConfigurationError,
    InvalidGrant,
    LoctocatAuthInfo,
    ProtocolError,
    Token,
)
from loctocat.auth import _discovered
from loctocat.store import FileTokenStore, MemoryTokenStore
from loctocat.testing import FakeAuthorizationServer


class Person:
    """A prompt whose 'person' approves each code on the fake server at once."""

    def __init__(self, server: FakeAuthorizationServer) -> None:
        self.server = server
        self.codes_shown = 0

    def show_code(self, auth_info: LoctocatAuthInfo) -> None:
        self.codes_shown += 1
        self.server.approve(auth_info.user_code)

    def start_waiting(self) -> None:
        pass

    def succeeded(self, token: Token) -> None:
        pass

    def failed(self, error: BaseException) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def server() -> Iterator[FakeAuthorizationServer]:
    fake = FakeAuthorizationServer(interval=0)
    with fake.serve_http():
        yield fake
    _discovered.clear()


def authenticator(server: FakeAuthorizationServer, **options: Any) -> Authenticator:
    options.setdefault("min_interval", 0.01)
    options.setdefault("revocation_url", server.revocation_url)
    return Authenticator(
        "client-1", server.device_authorization_url, server.token_url, ["read"], **options
    )


def grants_used(server: FakeAuthorizationServer, grant_type: str) -> int:
    return sum(
        1 for r in server.requests if r.endpoint == "token" and r.form["grant_type"] == grant_type
    )


def expire(auth: Authenticator) -> None:
    assert auth.token is not None
    auth.token = dataclasses.replace(
        auth.token, expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    if auth.store is not None:
        auth.store.save(auth.store_key(), auth.token)


def test_get_token_logs_in_once_then_reuses_the_token(server: FakeAuthorizationServer) -> None:
    person = Person(server)
    auth = authenticator(server)
    first = auth.get_token(prompt=person)
    requests_after_login = len(server.requests)
    assert auth.get_token(prompt=person) == first
    assert len(server.requests) == requests_after_login
    assert person.codes_shown == 1


def test_an_expired_token_is_refreshed_and_stored(server: FakeAuthorizationServer) -> None:
    store = MemoryTokenStore()
    auth = authenticator(server, store=store)
    first = auth.get_token(prompt=Person(server))
    expire(auth)
    second = auth.get_token(prompt=Person(server))
    assert second != first
    assert grants_used(server, "refresh_token") == 1
    assert store.load(auth.store_key()) == auth.token
    assert server.issued_tokens[-1].access_token == second


def test_a_stored_token_is_used_by_a_new_authenticator(server: FakeAuthorizationServer) -> None:
    store = MemoryTokenStore()
    first = authenticator(server, store=store).get_token(prompt=Person(server))
    person = Person(server)
    assert authenticator(server, store=store).get_token(prompt=person) == first
    assert person.codes_shown == 0


def test_a_rejected_refresh_token_leads_to_a_new_login(server: FakeAuthorizationServer) -> None:
    person = Person(server)
    auth = authenticator(server)
    auth.get_token(prompt=person)
    assert auth.token is not None
    stale = auth.token
    auth.refresh()  # rotates: stale's refresh token is now used up
    auth.token = dataclasses.replace(stale, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    auth.get_token(prompt=person)
    assert person.codes_shown == 2


def test_refresh_raises_when_the_refresh_token_is_rejected(
    server: FakeAuthorizationServer,
) -> None:
    auth = authenticator(server)
    auth.get_token(prompt=Person(server))
    assert auth.token is not None
    stale = auth.token
    auth.refresh()
    auth.token = stale
    with pytest.raises(InvalidGrant, match="log in again"):
        auth.refresh()


def test_refresh_needs_a_token(server: FakeAuthorizationServer) -> None:
    with pytest.raises(ConfigurationError, match="no token to refresh"):
        authenticator(server).refresh()


def test_force_refresh_renews_a_token_still_in_date(server: FakeAuthorizationServer) -> None:
    auth = authenticator(server)
    first = auth.get_token(prompt=Person(server))
    assert auth.get_token(force_refresh=True) != first
    assert grants_used(server, "refresh_token") == 1


def test_threads_share_one_login(server: FakeAuthorizationServer) -> None:
    auth = authenticator(server)
    person = Person(server)
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(auth.get_token(prompt=person)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert person.codes_shown == 1
    assert len(set(results)) == 1
    assert len(results) == 8


@pytest.mark.anyio
async def test_tasks_share_one_login_and_one_refresh(server: FakeAuthorizationServer) -> None:
    auth = AsyncAuthenticator(
        "client-1", server.device_authorization_url, server.token_url, ["read"], min_interval=0.01
    )
    person = Person(server)
    results: list[str] = []

    async def call() -> None:
        results.append(await auth.get_token(prompt=person))

    async with anyio.create_task_group() as tasks:
        for _ in range(8):
            tasks.start_soon(call)
    assert person.codes_shown == 1
    assert len(set(results)) == 1
    expire(auth)
    results.clear()
    async with anyio.create_task_group() as tasks:
        for _ in range(8):
            tasks.start_soon(call)
    assert grants_used(server, "refresh_token") == 1
    assert len(set(results)) == 1


def test_logout_forgets_and_revokes(server: FakeAuthorizationServer) -> None:
    store = MemoryTokenStore()
    auth = authenticator(server, store=store)
    auth.get_token(prompt=Person(server))
    assert auth.token is not None
    refresh_token = auth.token.refresh_token
    auth.logout()
    assert auth.token is None
    assert store.load(auth.store_key()) is None
    revocation = [r for r in server.requests if r.endpoint == "revocation"]
    assert len(revocation) == 1
    assert revocation[0].form["token"] == refresh_token
    assert revocation[0].form["token_type_hint"] == "refresh_token"
    assert refresh_token in server.revoked_tokens


@pytest.mark.anyio
async def test_async_logout_and_refresh(server: FakeAuthorizationServer) -> None:
    auth = AsyncAuthenticator(
        "client-1",
        server.device_authorization_url,
        server.token_url,
        min_interval=0.01,
        revocation_url=server.revocation_url,
    )
    first = await auth.get_token(prompt=Person(server))
    assert await auth.refresh() != first
    await auth.logout()
    assert auth.token is None
    assert any(r.endpoint == "revocation" for r in server.requests)


def test_from_issuer_reads_the_metadata_once(server: FakeAuthorizationServer) -> None:
    auth = Authenticator.from_issuer(server.issuer, "client-1", ["read"], min_interval=0.01)
    assert (auth.auth_url, auth.token_url, auth.revocation_url, auth.issuer) == (
        server.device_authorization_url,
        server.token_url,
        server.revocation_url,
        server.issuer,
    )
    Authenticator.from_issuer(server.issuer, "client-2")
    assert sum(1 for r in server.requests if r.endpoint == "discovery") == 1
    assert auth.get_token(prompt=Person(server))


@pytest.mark.anyio
async def test_async_from_issuer_falls_back_to_rfc_8414() -> None:
    server = FakeAuthorizationServer(interval=0, openid_configuration=False)
    with server.serve_http():
        auth = await AsyncAuthenticator.from_issuer(server.issuer, "client-1")
        assert auth.token_url == server.token_url
    _discovered.clear()
    paths = [r.path for r in server.requests if r.endpoint == "discovery"]
    assert paths == [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ]


def test_from_issuer_without_a_device_endpoint_says_what_to_do() -> None:
    server = FakeAuthorizationServer(advertise_device_endpoint=False)
    with server.serve_http(), pytest.raises(ConfigurationError, match="pass auth_url"):
        Authenticator.from_issuer(server.issuer, "client-1")
    _discovered.clear()


def test_from_issuer_refuses_another_issuers_document() -> None:
    server = FakeAuthorizationServer(issuer="https://impostor.example")
    with server.serve_http(), pytest.raises(ProtocolError, match="impostor"):
        Authenticator.from_issuer(server.base_url, "client-1")
    _discovered.clear()


CHILD = textwrap.dedent(
    """
    import sys
    from loctocat import Authenticator
    from loctocat.store import FileTokenStore

    device_url, token_url, path = sys.argv[1:]
    auth = Authenticator("client-1", device_url, token_url, ["read"], store=FileTokenStore(path))
    print(auth.get_token())
    """
)


def test_two_processes_refreshing_at_once_share_one_refresh(
    server: FakeAuthorizationServer, tmp_path: Path
) -> None:
    path = tmp_path / "tokens.json"
    store = FileTokenStore(path)
    auth = authenticator(server, store=store)
    auth.get_token(prompt=Person(server))
    expire(auth)
    args = [sys.executable, "-c", CHILD, server.device_authorization_url, server.token_url]
    children = [
        subprocess.Popen([*args, str(path)], stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outputs = [child.communicate(timeout=30)[0].strip() for child in children]
    assert [child.returncode for child in children] == [0, 0]
    # One refreshed (rotating the refresh token); the other waited and found the new token.
    assert grants_used(server, "refresh_token") == 1
    assert outputs[0] == outputs[1] == server.issued_tokens[-1].access_token
    stored = store.load(auth.store_key())
    assert stored is not None
    assert stored.access_token == outputs[0]
