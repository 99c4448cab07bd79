"""Whatever shares a token store does one refresh or one login per key, and never waits on others.

Authenticators sharing a store (memory, file, Redis; on one event loop, in threads, in
processes) against the fake server with rotating refresh tokens: one refresh, one login, the
others reuse the result; a login in progress never holds up another login's token, nor freezes
an event loop; force_refresh really refreshes; a corrupt entry is replaced by the next login;
logout forgets only what was revoked.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from redis_support import assert_no_lock_held, unique_prefix

from loctocat import (
    AsyncAuthenticator,
    Authenticator,
    ConfigurationError,
    InvalidGrant,
    LoctocatAuthInfo,
    ProtocolError,
    StoreError,
    Token,
    TransportError,
)
from loctocat.auth import _discovered
from loctocat.store import FileTokenStore, MemoryTokenStore, RedisTokenStore, TokenStore
from loctocat.testing import FakeAuthorizationServer

pytestmark = pytest.mark.timeout(30)


class Person:
    """A prompt whose person approves each code at once, or only when told (`hold=True`)."""

    def __init__(self, server: FakeAuthorizationServer, *, hold: bool = False) -> None:
        self.server = server
        self.hold = hold
        self.codes: list[str] = []
        self.shown = threading.Event()

    def show_code(self, auth_info: LoctocatAuthInfo) -> None:
        self.codes.append(auth_info.user_code)
        self.shown.set()
        if not self.hold:
            self.server.approve(auth_info.user_code)

    def start_waiting(self) -> None: ...
    def succeeded(self, token: Token) -> None: ...
    def failed(self, error: BaseException) -> None: ...
    def close(self) -> None: ...


@pytest.fixture
def server() -> Iterator[FakeAuthorizationServer]:
    fake = FakeAuthorizationServer(interval=0, rotate_refresh_tokens=True)
    with fake.serve_http():
        yield fake
    _discovered.clear()


STORES: dict[str, Callable[[Path], TokenStore]] = {
    "file": lambda tmp: FileTokenStore(tmp / "tokens.json"),
    "memory": lambda tmp: MemoryTokenStore(),
}


@pytest.fixture(params=[*STORES, "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TokenStore]:
    if request.param != "redis":
        yield STORES[request.param](tmp_path)
        return
    # A real redis-server (tests/redis_support.py), shared: each test has a prefix of its own.
    redis_store = RedisTokenStore(
        request.getfixturevalue("redis_server").url, prefix=unique_prefix()
    )
    yield redis_store
    assert_no_lock_held(redis_store)
    redis_store.close()


def options(server: FakeAuthorizationServer, **more: Any) -> dict[str, Any]:
    return {
        "client_id": "client-1",
        "auth_url": server.device_authorization_url,
        "token_url": server.token_url,
        "scopes": ["read"],
        "min_interval": 0.01,
        "revocation_url": server.revocation_url,
        **more,
    }


def requests_of(server: FakeAuthorizationServer, grant_type: str) -> int:
    return sum(
        1 for r in server.requests if r.endpoint == "token" and r.form["grant_type"] == grant_type
    )


def device_requests(server: FakeAuthorizationServer) -> int:
    return sum(1 for r in server.requests if r.endpoint == "device_authorization")


def stored_expired(server: FakeAuthorizationServer, store: TokenStore, **more: Any) -> str:
    """Log in once, then leave the stored token expired; returns the store key."""
    auth = Authenticator(**options(server, store=store, **more))
    auth.get_token(prompt=Person(server))
    assert auth.token is not None
    past = datetime.now(UTC) - timedelta(minutes=5)
    store.save(auth.store_key(), dataclasses.replace(auth.token, expires_at=past))
    return auth.store_key()


# --- one refresh, one login per key (item 3) ----------------------------------------------------


@pytest.mark.anyio
async def test_two_async_authenticators_on_one_loop_refresh_once(
    server: FakeAuthorizationServer, store: TokenStore
) -> None:
    stored_expired(server, store)
    refreshes_before = requests_of(server, "refresh_token")
    results: list[str] = []

    async def call() -> None:
        auth = AsyncAuthenticator(**options(server, store=store))
        results.append(await auth.get_token(prompt=Person(server)))

    async with anyio.create_task_group() as tasks:
        for _ in range(4):
            tasks.start_soon(call)
    assert requests_of(server, "refresh_token") - refreshes_before == 1
    assert device_requests(server) == 1  # the first login only: nobody logged in again
    assert len(set(results)) == 1
    assert results[0] == server.issued_tokens[-1].access_token


@pytest.mark.anyio
async def test_two_async_authenticators_on_one_loop_log_in_once(
    server: FakeAuthorizationServer, store: TokenStore
) -> None:
    person = Person(server)
    results: list[str] = []

    async def call() -> None:
        auth = AsyncAuthenticator(**options(server, store=store))
        results.append(await auth.get_token(prompt=person))

    async with anyio.create_task_group() as tasks:
        for _ in range(4):
            tasks.start_soon(call)
    assert len(person.codes) == 1
    assert device_requests(server) == 1
    assert len(set(results)) == 1


def test_authenticators_in_threads_refresh_once(
    server: FakeAuthorizationServer, store: TokenStore
) -> None:
    stored_expired(server, store)
    refreshes_before = requests_of(server, "refresh_token")
    results: list[str] = []

    def call() -> None:
        results.append(Authenticator(**options(server, store=store)).get_token())

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert requests_of(server, "refresh_token") - refreshes_before == 1
    assert len(results) == 4
    assert len(set(results)) == 1


# --- a login in progress holds up nobody else (item 4) -----------------------------------------


@pytest.fixture
def login_in_progress(
    server: FakeAuthorizationServer, tmp_path: Path
) -> Iterator[tuple[Person, FileTokenStore]]:
    """Another program logging in to key A, waiting for its user, on a shared token file."""
    store = FileTokenStore(tmp_path / "tokens.json", lock_timeout=1)
    person = Person(server, hold=True)
    waiting = Authenticator(**options(server, store=store))
    outcome: list[object] = []
    thread = threading.Thread(target=lambda: outcome.append(waiting.get_token(prompt=person)))
    thread.start()
    assert person.shown.wait(10)
    try:
        yield person, store
    finally:
        with contextlib.suppress(ValueError):  # the test may have approved it already
            server.approve(person.codes[0])
        thread.join(10)
        assert outcome
        assert isinstance(outcome[0], str)


def test_a_login_in_progress_does_not_hold_up_another_logins_token(
    server: FakeAuthorizationServer, login_in_progress: tuple[Person, FileTokenStore]
) -> None:
    _, store = login_in_progress
    other = Authenticator(**options(server, store=store, scopes=["write"]))
    valid = Token("other-access", expires_at=datetime.now(UTC) + timedelta(hours=1))
    store.save(other.store_key(), valid)
    started = time.monotonic()
    assert other.get_token() == "other-access"  # read without waiting for the login
    other.logout(revoke=False)  # and written, too
    # Waiting for the login's lock would end in the store's 1 s lock timeout, an error.
    assert time.monotonic() - started < 0.9


@pytest.mark.anyio
async def test_waiting_for_a_login_in_progress_never_freezes_the_event_loop(
    server: FakeAuthorizationServer, login_in_progress: tuple[Person, FileTokenStore]
) -> None:
    person, store = login_in_progress
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await anyio.sleep(0.01)
            ticks += 1

    same_login = AsyncAuthenticator(**options(server, store=FileTokenStore(store.path)))
    tokens: list[str] = []

    async def get_token() -> None:
        tokens.append(await same_login.get_token(prompt=Person(server)))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(get_token)  # waits for the other program's login to end
        tasks.start_soon(tick)
        await anyio.sleep(1.0)
        assert tokens == []  # still waiting
        # 100 ticks if nothing else ran; a frozen loop would manage none until the login ends.
        assert ticks >= 20, f"the event loop ran {ticks} timer ticks in 1 s"
        server.approve(person.codes[0])
        with anyio.fail_after(5):
            while not tokens:
                await anyio.sleep(0.01)
        tasks.cancel_scope.cancel()
    # It waited for that login and used its token: one device request in all.
    assert device_requests(server) == 1
    assert tokens == [server.issued_tokens[0].access_token]


# --- force_refresh (item 5) ---------------------------------------------------------------------


def test_force_refresh_on_a_fresh_authenticator_refreshes_the_stored_token(
    server: FakeAuthorizationServer, store: TokenStore
) -> None:
    first = Authenticator(**options(server, store=store))
    old = first.get_token(prompt=Person(server))
    fresh = Authenticator(**options(server, store=store))
    new = fresh.get_token(force_refresh=True)
    assert new != old
    assert requests_of(server, "refresh_token") == 1
    assert new == server.issued_tokens[-1].access_token


@pytest.mark.anyio
async def test_async_force_refresh_on_a_fresh_authenticator(
    server: FakeAuthorizationServer, store: TokenStore
) -> None:
    old = await AsyncAuthenticator(**options(server, store=store)).get_token(prompt=Person(server))
    new = await AsyncAuthenticator(**options(server, store=store)).get_token(force_refresh=True)
    assert new != old
    assert requests_of(server, "refresh_token") == 1


def test_force_refresh_uses_a_token_another_authenticator_renewed_meanwhile(
    server: FakeAuthorizationServer, store: TokenStore
) -> None:
    mine = Authenticator(**options(server, store=store))
    mine.get_token(prompt=Person(server))
    Authenticator(**options(server, store=store)).refresh()  # someone else renews it
    assert mine.get_token(force_refresh=True) == server.issued_tokens[-1].access_token
    assert requests_of(server, "refresh_token") == 1


# --- a corrupt entry never stops a login (item 7) ----------------------------------------------


@pytest.mark.parametrize("bad_time", [1e18, -1e18, "soon", True])
def test_a_corrupt_entry_is_replaced_by_the_next_login(
    server: FakeAuthorizationServer, tmp_path: Path, bad_time: object
) -> None:
    path = tmp_path / "tokens.json"
    auth = Authenticator(**options(server, store=FileTokenStore(path)))
    entry = {"response": {"access_token": "a"}, "expires_at": bad_time, "received_at": 0}
    path.write_text(json.dumps({"version": 2, "tokens": {auth.store_key(): entry}}))
    with pytest.raises(StoreError, match="unreadable") as caught:
        FileTokenStore(path).load(auth.store_key())
    assert caught.value.corrupt
    token = auth.get_token(prompt=Person(server))
    assert token == server.issued_tokens[-1].access_token
    reloaded = FileTokenStore(path).load(auth.store_key())
    assert reloaded is not None
    assert reloaded.access_token == token


def test_a_store_that_cannot_be_read_is_not_taken_for_an_empty_one(
    server: FakeAuthorizationServer, tmp_path: Path
) -> None:
    path = tmp_path / "tokens.json"
    path.mkdir()  # a directory where the file should be: unreadable, not corrupt
    auth = Authenticator(**options(server, store=FileTokenStore(path)))
    with pytest.raises(StoreError, match="cannot read"):
        auth.get_token(prompt=Person(server))
    assert device_requests(server) == 0  # no login for a token that could not be kept


def test_a_token_that_cannot_be_stored_is_kept_in_memory(
    server: FakeAuthorizationServer, tmp_path: Path
) -> None:
    class Full(MemoryTokenStore):
        def save(self, key: str, token: Token) -> None:
            raise StoreError("the disk is full")

    auth = Authenticator(**options(server, store=Full()))
    with pytest.raises(StoreError, match=r"the disk is full.*kept in memory"):
        auth.get_token(prompt=Person(server))
    assert auth.token is not None
    assert auth.token.access_token == server.issued_tokens[-1].access_token


class FullOnce(MemoryTokenStore):
    """A store whose next save fails (a full disk, a locked keychain) when told to."""

    full = False

    def save(self, key: str, token: Token) -> None:
        if self.full:
            self.full = False
            raise StoreError("the disk is full")
        super().save(key, token)


def expire(auth: Authenticator) -> None:
    """Make the token the authenticator holds, and the stored one, look expired."""
    assert auth.token is not None
    assert auth.store is not None
    past = datetime.now(UTC) - timedelta(minutes=5)
    auth.token = dataclasses.replace(auth.token, expires_at=past)
    stored = auth.store.load(auth.store_key())
    assert stored is not None
    auth.store.save(auth.store_key(), dataclasses.replace(stored, expires_at=past))


def logged_in(server: FakeAuthorizationServer, store: TokenStore) -> Authenticator:
    """An authenticator on `store` that has logged in once."""
    auth = Authenticator(**options(server, store=store))
    auth.get_token(prompt=Person(server))
    return auth


def test_a_refreshed_token_the_store_did_not_take_is_used_and_stored_next_time(
    server: FakeAuthorizationServer,
) -> None:
    # Refresh tokens rotate: the stored one is spent once the refresh that was not stored
    # happened, so only the token kept in memory can go on without a new login.
    store = FullOnce()
    auth = logged_in(server, store)
    expire(auth)
    store.full = True
    with pytest.raises(StoreError, match="kept in memory"):
        auth.get_token(login=False)
    kept = auth.token
    assert kept is not None
    assert kept.access_token == server.issued_tokens[-1].access_token
    assert auth.get_token(login=False) == kept.access_token  # still valid: no request
    expire(auth)
    renewed = auth.get_token(login=False)  # refreshed with the refresh token kept in memory
    assert renewed == server.issued_tokens[-1].access_token != kept.access_token
    assert server.requests[-1].form["refresh_token"] == kept.refresh_token
    stored = store.load(auth.store_key())
    assert stored is not None
    assert stored.access_token == renewed
    assert device_requests(server) == 1


@pytest.mark.anyio
async def test_async_refreshed_token_the_store_did_not_take_is_used(
    server: FakeAuthorizationServer,
) -> None:
    store = FullOnce()
    auth = AsyncAuthenticator(**options(server, store=store))
    await auth.get_token(prompt=Person(server))
    expire(auth)
    store.full = True
    with pytest.raises(StoreError, match="kept in memory"):
        await auth.get_token(login=False)
    kept = auth.token
    assert kept is not None
    expire(auth)
    assert await auth.refresh() == server.issued_tokens[-1].access_token
    assert server.requests[-1].form["refresh_token"] == kept.refresh_token
    assert device_requests(server) == 1


def test_a_login_after_a_spent_refresh_token_is_the_one_get_token_uses(
    server: FakeAuthorizationServer, store: TokenStore
) -> None:
    # tokens.md: refresh(), and on InvalidGrant authenticate(); get_token() then goes on
    # with the new login, not with the stored token whose refresh token is spent.
    auth = logged_in(server, store)
    elsewhere = Authenticator(**options(server))  # no store: its refresh is not shared
    elsewhere.token = auth.token
    elsewhere.refresh()
    with pytest.raises(InvalidGrant):
        auth.refresh()
    new_login = auth.authenticate(prompt=Person(server))
    refreshes = requests_of(server, "refresh_token")
    assert auth.get_token(login=False) == new_login
    assert requests_of(server, "refresh_token") == refreshes  # valid: nothing sent


def test_a_token_someone_else_stored_still_wins_over_the_one_held(
    server: FakeAuthorizationServer, store: TokenStore
) -> None:
    auth = logged_in(server, store)
    other = Authenticator(**options(server, store=store))
    renewed = other.refresh()
    assert auth.get_token(login=False) == renewed


def test_a_token_renewed_elsewhere_is_held_even_when_the_call_that_found_it_fails(
    server: FakeAuthorizationServer,
) -> None:
    # A holds X; B renews it to S (X's refresh token is spent). A's next call finds S but
    # fails (the server is down for a moment): A must go on with S, not with X.
    store = MemoryTokenStore()
    auth = logged_in(server, store)
    renewed = Authenticator(**options(server, store=store)).refresh()
    expire(auth)  # both the token A holds and S in the store: the next call must refresh
    port = int(server.base_url.rsplit(":", 1)[1])
    server.stop_http()
    try:
        with pytest.raises(TransportError):
            auth.get_token(login=False)
    finally:
        server.start_http(port)
    assert auth.token is not None
    assert auth.token.access_token == renewed  # held now, though the call failed
    assert auth.get_token(login=False) == server.issued_tokens[-1].access_token != renewed
    assert device_requests(server) == 1


def test_a_token_renewed_elsewhere_and_found_by_identity_is_the_one_get_token_uses(
    server: FakeAuthorizationServer, store: TokenStore
) -> None:
    auth = Authenticator(**options(server, store=store, userinfo_url=server.userinfo_url))
    auth.get_token(prompt=Person(server))
    other = Authenticator(**options(server, store=store, userinfo_url=server.userinfo_url))
    renewed = other.refresh()
    other.identity()  # stored with the renewed token: A's identity() finds it, saves nothing
    auth.identity()
    assert auth.get_token(login=False) == renewed


# --- logout revokes first, then forgets (item 8) ------------------------------------------------


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/revoke"


def test_a_failed_revocation_forgets_nothing(
    server: FakeAuthorizationServer, store: TokenStore
) -> None:
    auth = Authenticator(**options(server, store=store, revocation_url=closed_port_url()))
    auth.get_token(prompt=Person(server))
    with pytest.raises(TransportError) as caught:
        auth.logout()
    assert any("not forgotten" in note for note in caught.value.__notes__)
    kept = store.load(auth.store_key())
    assert kept is not None
    assert auth.token is not None
    # Once the server answers, the same logout works: revoked, then forgotten.
    auth.revocation_url = server.revocation_url
    assert auth.logout() is True
    assert store.load(auth.store_key()) is None
    assert kept.refresh_token in server.revoked_tokens


@pytest.mark.anyio
async def test_async_failed_revocation_forgets_nothing(
    server: FakeAuthorizationServer, store: TokenStore
) -> None:
    auth = AsyncAuthenticator(**options(server, store=store, revocation_url=closed_port_url()))
    await auth.get_token(prompt=Person(server))
    with pytest.raises(TransportError):
        await auth.logout()
    assert store.load(auth.store_key()) is not None


def test_logout_says_whether_the_token_was_revoked(
    server: FakeAuthorizationServer, store: TokenStore
) -> None:
    auth = Authenticator(**options(server, store=store, revocation_url=None))
    auth.get_token(prompt=Person(server))
    assert auth.logout() is False  # no revocation endpoint: only forgotten
    assert store.load(auth.store_key()) is None
    auth = logged_in(server, store)
    assert auth.logout(revoke=False) is False
    assert server.revoked_tokens == []


# --- configuration (items 11, 12) ---------------------------------------------------------------


def recording_client(seen: list[httpx.Request]) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(404)

    return httpx.Client(transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    "issuer",
    ["http://auth.example.com", "ftp://auth.example.com", "not a url", "https://a.example/?x=1"],
)
def test_from_issuer_refuses_an_unusable_issuer_before_any_request(issuer: str) -> None:
    seen: list[httpx.Request] = []
    with recording_client(seen) as client, pytest.raises(ConfigurationError) as caught:
        Authenticator.from_issuer(issuer, "client-1", http_client=client)
    assert caught.value.parameter == "issuer"
    assert seen == []


@pytest.mark.anyio
async def test_async_from_issuer_refuses_a_plain_http_issuer() -> None:
    with pytest.raises(ConfigurationError, match="plain http"):
        await AsyncAuthenticator.from_issuer("http://auth.example.com", "client-1")


@pytest.mark.parametrize(
    "field", ["token_endpoint", "device_authorization_endpoint", "revocation_endpoint"]
)
def test_metadata_naming_a_plain_http_endpoint_is_refused(field: str) -> None:
    document = {
        "issuer": "https://auth.example.com",
        "token_endpoint": "https://auth.example.com/token",
        "device_authorization_endpoint": "https://auth.example.com/device",
        "revocation_endpoint": "https://auth.example.com/revoke",
        field: "http://auth.example.com/elsewhere",
    }
    client = httpx.Client(
        transport=httpx.MockTransport(lambda _: httpx.Response(200, json=document))
    )
    with client, pytest.raises(ProtocolError, match=f"{field}.*plain http") as caught:
        Authenticator.from_issuer("https://auth.example.com", "client-1", http_client=client)
    assert caught.value.field == field


def test_from_issuer_takes_the_device_endpoint_from_the_caller() -> None:
    server = FakeAuthorizationServer(advertise_device_endpoint=False, interval=0)
    with server.serve_http():
        auth = Authenticator.from_issuer(
            server.issuer, "client-1", auth_url=server.device_authorization_url, min_interval=0.01
        )
        assert auth.auth_url == server.device_authorization_url
        assert auth.token_url == server.token_url
        assert auth.authenticate(prompt=Person(server)) == server.issued_tokens[-1].access_token
    _discovered.clear()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://[::1", "not a valid URL"),
        ("https://auth.example.com:99999/device", "not a valid URL"),
        ("https://auth.example.com/de vice", "spaces or control characters"),
        ("https://auth.example.com/\x1b[2J", "spaces or control characters"),
    ],
)
def test_a_malformed_url_is_a_configuration_error_naming_it(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        Authenticator("client-1", url, "https://auth.example.com/token")
    assert caught.value.parameter == "auth_url"


def test_a_key_that_cannot_be_stored_is_refused_before_anything_is_sent(
    server: FakeAuthorizationServer,
) -> None:
    with pytest.raises(ConfigurationError, match="must not contain"):
        Authenticator(**options(server, client_id="a|b", store=MemoryTokenStore()))
    assert server.requests == []


# --- found by attacking the above -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["httpx", "requests"])
def test_requests_refused_together_renew_once_whatever_auth_objects_they_use(
    server: FakeAuthorizationServer, kind: str
) -> None:
    """Each request built with its own authenticator.http_auth(), as the docs' one-liners do."""
    import requests

    auth = Authenticator(**options(server, store=MemoryTokenStore()))
    auth.get_token(prompt=Person(server))
    server.expire_access_tokens()  # every request below is refused once
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def fetch() -> None:
        barrier.wait()
        if kind == "httpx":
            answer = httpx.get(server.userinfo_url, auth=auth.http_auth(), timeout=10)
        else:
            answer = requests.get(server.userinfo_url, auth=auth.requests_auth(), timeout=10)
        statuses.append(answer.status_code)

    threads = [threading.Thread(target=fetch) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert statuses == [200] * 4
    assert requests_of(server, "refresh_token") == 1


def test_logout_revokes_the_token_held_and_the_one_stored(
    server: FakeAuthorizationServer, store: TokenStore
) -> None:
    auth = logged_in(server, store)
    stored = auth.token
    auth.authenticate(prompt=Person(server))  # a new login, held but not stored
    held = auth.token
    assert stored is not None
    assert held is not None
    assert auth.logout() is True
    assert {stored.refresh_token, held.refresh_token} <= set(server.revoked_tokens)
    assert store.load(auth.store_key()) is None


def test_get_token_from_inside_its_own_login_is_refused_at_once(
    server: FakeAuthorizationServer, store: TokenStore
) -> None:
    """A Prompt that calls back into the authenticator would wait for itself."""
    auth = Authenticator(**options(server, store=store))
    twin = Authenticator(**options(server, store=store))  # the same login
    seen: list[BaseException] = []

    class CallingBack(Person):
        def show_code(self, auth_info: LoctocatAuthInfo) -> None:
            for other in (auth, twin):
                try:
                    other.get_token()
                except ConfigurationError as error:
                    seen.append(error)
            super().show_code(auth_info)

    started = time.monotonic()
    auth.get_token(prompt=CallingBack(server))
    assert time.monotonic() - started < 5
    assert len(seen) == 2
    assert "would wait for itself" in str(seen[0])
    assert device_requests(server) == 1


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("timeout", float("nan")),
        ("timeout", float("inf")),
        ("request_timeout", float("nan")),
        ("request_timeout", -1),
        ("request_timeout", 1e100),
        ("leeway", float("nan")),
    ],
)
def test_seconds_that_are_no_seconds_are_refused(option: str, value: float) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Authenticator("c", "https://a.example/d", "https://a.example/t", **{option: value})
    assert caught.value.parameter == option


@pytest.mark.parametrize("value", [float("inf"), 1e10, -1.0, float("nan")])
def test_a_lock_timeout_no_lock_can_take_is_refused(value: float, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="lock_timeout"):
        FileTokenStore(tmp_path / "tokens.json", lock_timeout=value)


@pytest.mark.parametrize(
    "bad", [{"timeout": -1}, {"account": "x|y"}, {"revocation_url": "http://evil.example/r"}]
)
def test_from_issuer_checks_the_options_before_asking_the_server(bad: dict[str, Any]) -> None:
    seen: list[httpx.Request] = []
    with recording_client(seen) as client, pytest.raises(ConfigurationError):
        Authenticator.from_issuer(
            "https://auth.example.com", "c", store=MemoryTokenStore(), http_client=client, **bad
        )
    assert seen == []


def test_a_token_with_control_characters_is_no_token() -> None:
    from loctocat._flow import Request, Response, judge_token_response

    request = Request("https://a.example/t", (), (), "token endpoint")
    for field in ("access_token", "refresh_token"):
        body = {"access_token": "abc", field: "abc\x1b]0;owned\x07"}
        answer = Response(
            200, {"content-type": "application/json"}, json.dumps(body).encode(), datetime.now(UTC)
        )
        with pytest.raises(ProtocolError, match=f"'{field}' with characters"):
            judge_token_response(request, answer)
