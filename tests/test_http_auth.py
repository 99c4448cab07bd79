"""`LoctocatAuth` (httpx) and `LoctocatRequestsAuth` against the fake server over loopback HTTP.

The fake server's `/userinfo` checks the bearer token, so "the request succeeded" means the
right token was sent; counting the server's requests per endpoint proves what was refreshed.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import requests

from loctocat import AsyncAuthenticator, Authenticator, ConfigurationError
from loctocat.httpx_auth import LoctocatAuth
from loctocat.requests_auth import LoctocatRequestsAuth
from loctocat.testing import FakeAuthorizationServer


@contextmanager
def serve(**options: Any) -> Iterator[FakeAuthorizationServer]:
    options.setdefault("interval", 0)
    fake = FakeAuthorizationServer(**options)
    with fake.serve_http():
        yield fake


@pytest.fixture
def server() -> Iterator[FakeAuthorizationServer]:
    """A fast fake server on loopback: interval 0, so logins wait only for min_interval."""
    with serve() as fake:
        yield fake


@pytest.fixture
def rejecting_server() -> Iterator[FakeAuthorizationServer]:
    """A server whose clock jumps 1000 s per reading, so every access token it issued has
    expired (lifetime 60 s) when it is used, while the client believes it is fresh."""
    ticks = itertools.count(step=1000.0)
    with serve(token_lifetime=60, expires_in=10**9, clock=lambda: next(ticks)) as fake:
        yield fake


def authenticator(server: FakeAuthorizationServer, **options: Any) -> Authenticator:
    options.setdefault("min_interval", 0.01)
    return Authenticator(
        "client-1", server.device_authorization_url, server.token_url, ["read"], **options
    )


def async_authenticator(server: FakeAuthorizationServer, **options: Any) -> AsyncAuthenticator:
    options.setdefault("min_interval", 0.01)
    return AsyncAuthenticator(
        "client-1", server.device_authorization_url, server.token_url, ["read"], **options
    )


def endpoints(server: FakeAuthorizationServer) -> list[str]:
    """The server's requests, with token requests told apart by grant type."""
    names = []
    for request in server.requests:
        if request.endpoint == "token":
            names.append("refresh" if request.form["grant_type"] == "refresh_token" else "poll")
        else:
            names.append(request.endpoint)
    return names


def userinfo_statuses(server: FakeAuthorizationServer) -> list[str]:
    """Which access tokens reached /userinfo, as indexes into `server.issued_tokens`."""
    issued = [t.access_token for t in server.issued_tokens]
    return [
        f"token{issued.index(r.headers['authorization'].removeprefix('Bearer '))}"
        for r in server.requests
        if r.endpoint == "userinfo"
    ]


# --- httpx, sync ----------------------------------------------------------------------------


def test_logs_in_on_first_use_then_sends_the_token(
    server: FakeAuthorizationServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.plan("approve")
    auth = authenticator(server)
    with httpx.Client(auth=LoctocatAuth(auth)) as client:
        first = client.get(server.userinfo_url)
        second = client.get(server.userinfo_url)
    assert first.status_code == second.status_code == 200
    assert first.json()["client_id"] == "client-1"
    assert first.request.headers["authorization"] == (
        f"Bearer {server.issued_tokens[0].access_token}"
    )
    assert endpoints(server) == ["device_authorization", "poll", "userinfo", "userinfo"]
    assert server.grants[0].user_code in capsys.readouterr().err  # the login prompt


def test_the_scheme_is_bearer_whatever_case_the_server_sent() -> None:
    with serve(extra_token_fields={"token_type": "bearer"}) as fake:
        fake.plan("approve")
        auth = authenticator(fake)
        with httpx.Client(auth=LoctocatAuth(auth)) as client:
            answer = client.get(fake.userinfo_url)
        assert auth.token is not None
        assert auth.token.token_type == "bearer"
        assert answer.request.headers["authorization"].startswith("Bearer ")


def test_a_token_known_to_be_expired_is_refreshed_before_the_request() -> None:
    # A lifetime of 1 s is within the client's leeway: expired as soon as it arrives.
    with serve(token_lifetime=1) as fake:
        fake.plan("approve")
        auth = authenticator(fake)
        auth.get_token()
        with httpx.Client(auth=LoctocatAuth(auth)) as client:
            answer = client.get(fake.userinfo_url)
        assert answer.status_code == 200
        assert answer.history == []
        assert endpoints(fake) == ["device_authorization", "poll", "refresh", "userinfo"]
        assert userinfo_statuses(fake) == ["token1"]


def test_a_401_refreshes_once_and_retries_once(server: FakeAuthorizationServer) -> None:
    server.plan("approve")
    auth = authenticator(server)
    with httpx.Client(auth=LoctocatAuth(auth)) as client:
        assert client.get(server.userinfo_url).status_code == 200
        server.expire_access_tokens()  # the client still believes its token is fresh
        answer = client.post(server.userinfo_url.replace("userinfo", "nowhere"), content=b"x")
        assert answer.status_code == 404  # not a 401: nothing renewed
        answer = client.get(server.userinfo_url)
    assert answer.status_code == 200
    assert [r.status_code for r in answer.history] == [401]
    assert endpoints(server)[2:] == ["userinfo", "other", "userinfo", "refresh", "userinfo"]
    assert userinfo_statuses(server) == ["token0", "token0", "token1"]
    assert auth.token is not None
    assert auth.token.access_token == server.issued_tokens[1].access_token


def test_a_second_401_is_returned_as_it_is(rejecting_server: FakeAuthorizationServer) -> None:
    rejecting_server.plan("approve")
    auth = authenticator(rejecting_server)
    with httpx.Client(auth=LoctocatAuth(auth)) as client:
        answer = client.get(rejecting_server.userinfo_url)
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_token"
    assert [r.status_code for r in answer.history] == [401]
    assert endpoints(rejecting_server) == [
        "device_authorization",
        "poll",
        "userinfo",
        "refresh",
        "userinfo",
    ]


def test_when_the_refresh_token_is_rejected_the_user_logs_in_again(
    server: FakeAuthorizationServer,
) -> None:
    server.plan("approve")
    server.plan("approve")
    auth = authenticator(server)
    with httpx.Client(auth=LoctocatAuth(auth)) as client:
        client.get(server.userinfo_url)
        assert auth.token is not None
        with httpx.Client() as plain:
            plain.post(
                server.revocation_url,
                data={"client_id": "client-1", "token": auth.token.refresh_token},
            )
        answer = client.get(server.userinfo_url)
    assert answer.status_code == 200
    assert endpoints(server)[-5:] == [
        "userinfo",
        "refresh",
        "device_authorization",
        "poll",
        "userinfo",
    ]


def test_a_streamed_body_is_not_resent(server: FakeAuthorizationServer) -> None:
    server.plan("approve")
    auth = authenticator(server)
    with httpx.Client(auth=LoctocatAuth(auth)) as client:
        client.get(server.userinfo_url)
        server.expire_access_tokens()
        answer = client.request("GET", server.userinfo_url, content=iter([b"once"]))
        assert answer.status_code == 401
        # The token was renewed all the same: the next request uses it.
        assert client.get(server.userinfo_url).status_code == 200
    assert endpoints(server)[2:] == ["userinfo", "userinfo", "refresh", "userinfo"]


def test_an_async_authenticator_in_a_sync_client_is_refused(
    server: FakeAuthorizationServer,
) -> None:
    with (
        httpx.Client(auth=LoctocatAuth(async_authenticator(server))) as client,
        pytest.raises(ConfigurationError, match=r"httpx\.AsyncClient"),
    ):
        client.get(server.userinfo_url)
    assert server.requests == []


def test_only_authenticators_are_accepted() -> None:
    with pytest.raises(ConfigurationError, match="Authenticator"):
        LoctocatAuth("a token")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="Authenticator"):
        LoctocatRequestsAuth("a token")  # type: ignore[arg-type]


# --- httpx, async (asyncio and trio) -------------------------------------------------------


@pytest.mark.anyio
async def test_async_logs_in_refreshes_on_401_and_retries_once(
    server: FakeAuthorizationServer,
) -> None:
    server.plan("approve")
    auth = async_authenticator(server)
    async with httpx.AsyncClient(auth=LoctocatAuth(auth)) as client:
        assert (await client.get(server.userinfo_url)).status_code == 200
        server.expire_access_tokens()
        answer = await client.get(server.userinfo_url)
    assert answer.status_code == 200
    assert [r.status_code for r in answer.history] == [401]
    assert endpoints(server) == [
        "device_authorization",
        "poll",
        "userinfo",
        "userinfo",
        "refresh",
        "userinfo",
    ]


@pytest.mark.anyio
async def test_async_second_401_is_returned(rejecting_server: FakeAuthorizationServer) -> None:
    rejecting_server.plan("approve")
    auth = async_authenticator(rejecting_server)
    async with httpx.AsyncClient(auth=LoctocatAuth(auth)) as client:
        answer = await client.get(rejecting_server.userinfo_url)
    assert answer.status_code == 401
    assert endpoints(rejecting_server).count("refresh") == 1
    assert endpoints(rejecting_server).count("userinfo") == 2


@pytest.mark.anyio
async def test_async_requests_failing_together_share_one_refresh(
    server: FakeAuthorizationServer,
) -> None:
    server.plan("approve")
    auth = async_authenticator(server)
    statuses: list[int] = []
    async with httpx.AsyncClient(auth=LoctocatAuth(auth)) as client:
        await client.get(server.userinfo_url)
        server.expire_access_tokens()

        async def fetch() -> None:
            statuses.append((await client.get(server.userinfo_url)).status_code)

        async with anyio.create_task_group() as tasks:
            for _ in range(4):
                tasks.start_soon(fetch)
    assert statuses == [200] * 4
    assert endpoints(server).count("refresh") == 1


@pytest.mark.anyio
async def test_a_sync_authenticator_in_an_async_client_is_refused(
    server: FakeAuthorizationServer,
) -> None:
    async with httpx.AsyncClient(auth=LoctocatAuth(authenticator(server))) as client:
        with pytest.raises(ConfigurationError, match="AsyncAuthenticator"):
            await client.get(server.userinfo_url)
    assert server.requests == []


# --- requests -----------------------------------------------------------------------------------


def test_requests_sends_the_token(server: FakeAuthorizationServer) -> None:
    server.plan("approve")
    with requests.Session() as session:
        session.auth = LoctocatRequestsAuth(authenticator(server))
        answer = session.get(server.userinfo_url)
    assert answer.status_code == 200
    assert answer.history == []
    assert endpoints(server) == ["device_authorization", "poll", "userinfo"]


def test_requests_refreshes_on_401_and_retries_once(server: FakeAuthorizationServer) -> None:
    server.plan("approve")
    auth = authenticator(server)
    with requests.Session() as session:
        session.auth = LoctocatRequestsAuth(auth)
        session.get(server.userinfo_url)
        server.expire_access_tokens()
        answer = session.post(server.userinfo_url.replace("userinfo", "nowhere"), data=b"x")
        assert answer.status_code == 404
        answer = session.get(server.userinfo_url)
    assert answer.status_code == 200
    assert [r.status_code for r in answer.history] == [401]
    assert answer.request.headers["Authorization"] == (
        f"Bearer {server.issued_tokens[1].access_token}"
    )
    assert endpoints(server)[2:] == ["userinfo", "other", "userinfo", "refresh", "userinfo"]
    assert userinfo_statuses(server) == ["token0", "token0", "token1"]


def test_requests_rewinds_a_file_body_for_the_retry(
    server: FakeAuthorizationServer, tmp_path: Path
) -> None:
    # /userinfo ignores bodies, but the server records them: both sends carry the whole file.
    server.plan("approve")
    auth = authenticator(server)
    body = tmp_path / "body"
    body.write_bytes(b"payload")
    with requests.Session() as session, body.open("rb") as file:
        session.auth = LoctocatRequestsAuth(auth)
        session.get(server.userinfo_url)
        server.expire_access_tokens()
        answer = session.request("GET", server.userinfo_url, data=file)
    assert answer.status_code == 200
    assert [r.body for r in server.requests if r.endpoint == "userinfo"][1:] == [b"payload"] * 2


def test_requests_second_401_is_returned(rejecting_server: FakeAuthorizationServer) -> None:
    rejecting_server.plan("approve")
    with requests.Session() as session:
        session.auth = LoctocatRequestsAuth(authenticator(rejecting_server))
        answer = session.get(rejecting_server.userinfo_url)
    assert answer.status_code == 401
    assert [r.status_code for r in answer.history] == [401]
    assert endpoints(rejecting_server).count("refresh") == 1
    assert endpoints(rejecting_server).count("userinfo") == 2


def test_requests_threads_failing_together_share_one_refresh(
    server: FakeAuthorizationServer,
) -> None:
    server.plan("approve")
    auth = LoctocatRequestsAuth(authenticator(server))
    requests.get(server.userinfo_url, auth=auth, timeout=10)
    server.expire_access_tokens()
    statuses: list[int] = []
    barrier = threading.Barrier(4)

    def fetch() -> None:
        barrier.wait()
        statuses.append(requests.get(server.userinfo_url, auth=auth, timeout=10).status_code)

    threads = [threading.Thread(target=fetch) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 4
    assert endpoints(server).count("refresh") == 1


def test_requests_refuses_an_async_authenticator(server: FakeAuthorizationServer) -> None:
    with pytest.raises(ConfigurationError, match="synchronous"):
        LoctocatRequestsAuth(async_authenticator(server))


# --- token types (RFC 6749 §7.1) ------------------------------------------------------------------


def holding(token_type: str, **options: Any) -> Authenticator:
    """An authenticator whose stored, valid token has this token_type."""
    from datetime import UTC, datetime, timedelta

    from loctocat import Token
    from loctocat.store import MemoryTokenStore

    store = MemoryTokenStore()
    auth = Authenticator(
        "client-1", "https://as.example/device", "https://as.example/token", store=store, **options
    )
    expires = datetime.now(UTC) + timedelta(hours=1)
    store.save(auth.store_key(), Token("the-token", token_type=token_type, expires_at=expires))
    return auth


def test_a_bearer_token_of_any_case_is_sent_as_bearer() -> None:
    seen: list[str | None] = []

    def resource(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization"))
        return httpx.Response(200)

    auth = holding("bearer")
    with httpx.Client(transport=httpx.MockTransport(resource), auth=auth.http_auth()) as client:
        client.get("https://api.example/me")
    assert seen == ["Bearer the-token"]


@pytest.mark.parametrize("token_type", ["mac", "N_A"])
def test_a_token_of_another_type_is_never_sent_as_bearer(token_type: str) -> None:
    from loctocat import ProtocolError

    seen: list[httpx.Request] = []

    def resource(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    auth = holding(token_type)
    with (
        httpx.Client(transport=httpx.MockTransport(resource), auth=auth.http_auth()) as client,
        pytest.raises(ProtocolError, match=f"type '{token_type}'.*only Bearer"),
    ):
        client.get("https://api.example/me")
    assert seen == []

    class Adapter(requests.adapters.BaseAdapter):
        def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
            raise AssertionError("nothing may be sent")

        def close(self) -> None:
            pass

    session = requests.Session()
    session.mount("https://", Adapter())
    with pytest.raises(ProtocolError, match="only Bearer"):
        session.get("https://api.example/me", auth=auth.requests_auth())
