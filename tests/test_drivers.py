"""Authenticator and AsyncAuthenticator against the fake server: in memory and over loopback."""

from __future__ import annotations

import gc
import os
import signal
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
import trio.testing

from loctocat import (
    AccessDenied,
    AsyncAuthenticator,
    Authenticator,
    ConfigurationError,
    ExpiredToken,
    FlowTimeout,
    Handler,
    ProtocolError,
    ServerError,
    Token,
    TransportError,
)
from loctocat._flow import ACCEPT_ENCODING, DEVICE_CODE_GRANT, Request
from loctocat._transport import AsyncTransport, SyncTransport
from loctocat.testing import FakeAuthorizationServer, Fault, RecordedRequest


@pytest.fixture
def server() -> Iterator[FakeAuthorizationServer]:
    """A fast fake server on loopback: interval 0, so tests wait only for min_interval."""
    fake = FakeAuthorizationServer(interval=0)
    with fake.serve_http():
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


# --- the sync driver ----------------------------------------------------------------------------


def test_sync_flow_sends_what_the_rfc_says_and_returns_the_token(
    server: FakeAuthorizationServer,
) -> None:
    server.plan("pending", "pending", "approve")
    auth = authenticator(server, audience="api")
    info = auth.ping()
    assert auth.auth_info is info
    assert info.user_code == server.grants[-1].user_code
    access_token = auth.poll()

    assert access_token == server.issued_tokens[-1].access_token
    assert isinstance(auth.token, Token)
    assert auth.token.refresh_token == server.issued_tokens[-1].refresh_token
    assert auth.token.scope == "read"

    device, *polls = server.requests
    assert device.method == "POST"
    assert device.query == ""
    assert device.form == {"client_id": "client-1", "scope": "read", "audience": "api"}
    assert device.headers["accept"] == "application/json"
    assert device.headers["content-type"] == "application/x-www-form-urlencoded"
    assert len(polls) == 3
    for poll in polls:
        assert poll.query == ""
        assert poll.form == {
            "grant_type": DEVICE_CODE_GRANT,
            "device_code": info.device_code,
            "client_id": "client-1",
        }
    # One keep-alive connection for the whole flow.
    assert server.connections_opened == 1


def test_poll_before_ping_is_a_clear_error(server: FakeAuthorizationServer) -> None:
    with pytest.raises(ConfigurationError, match=r"call ping\(\) first"):
        authenticator(server).poll()


def test_the_timeout_for_the_whole_flow(server: FakeAuthorizationServer) -> None:
    auth = authenticator(server, timeout=0.5, min_interval=0.1)
    auth.ping()
    started = time.monotonic()
    with pytest.raises(FlowTimeout):
        auth.poll()
    assert time.monotonic() - started < 1.5  # the 0.5 s, and a busy machine's slack


def test_a_device_code_is_used_once(server: FakeAuthorizationServer) -> None:
    server.plan("approve")
    auth = authenticator(server)
    auth.ping()
    auth.poll()
    with pytest.raises(ConfigurationError, match=r"ping\(\) first"):
        auth.poll()


def test_the_1_0_attributes_are_kept(server: FakeAuthorizationServer) -> None:
    auth = authenticator(server)
    assert (auth.client_id, auth.auth_url, auth.token_url, auth.scopes) == (
        "client-1",
        server.device_authorization_url,
        server.token_url,
        ["read"],
    )
    assert auth.auth_info is None
    assert auth.token is None


@pytest.mark.parametrize(("step", "error"), [("deny", AccessDenied), ("expire", ExpiredToken)])
def test_sync_errors_are_typed(
    server: FakeAuthorizationServer, step: str, error: type[ServerError]
) -> None:
    server.plan("pending", step)
    auth = authenticator(server)
    auth.ping()
    with pytest.raises(error):
        auth.poll()


def test_github_style_errors_with_status_200() -> None:
    server = FakeAuthorizationServer(interval=0, errors_with_status_200=True)
    server.plan("pending", "deny")
    with server.serve_http():
        auth = authenticator(server)
        auth.ping()
        with pytest.raises(AccessDenied):
            auth.poll()
    assert server.requests[-1].endpoint == "token"


def test_transient_failures_while_polling_are_retried(server: FakeAuthorizationServer) -> None:
    server.plan(
        Fault(status=503, body=b"<html>busy</html>", headers={"Content-Type": "text/html"}),
        Fault(drop=True),
        "approve",
    )
    auth = authenticator(server)
    auth.ping()
    assert auth.poll() == server.issued_tokens[-1].access_token


def test_a_failing_device_request_fails_fast(server: FakeAuthorizationServer) -> None:
    server.plan_device(Fault(status=503))
    with pytest.raises(TransportError, match="unavailable"):
        authenticator(server).ping()
    assert len(server.requests) == 1


def test_an_unreachable_server_is_a_transport_error() -> None:
    auth = Authenticator("c", "http://127.0.0.1:9/device", "http://127.0.0.1:9/token")
    with pytest.raises(TransportError, match="could not reach"):
        auth.ping()


def test_oversized_answers_are_refused(server: FakeAuthorizationServer) -> None:
    server.plan_device(Fault(status=200, body=b"{" + b" " * 1_000_000 + b"}"))
    with pytest.raises(ProtocolError, match="larger than"):
        authenticator(server).ping()


def test_a_users_http_client_is_used_and_left_open(server: FakeAuthorizationServer) -> None:
    server.plan("approve")
    with httpx.Client(headers={"X-Trace": "1"}) as client:
        auth = authenticator(server, http_client=client)
        auth.ping()
        auth.poll()
        assert not client.is_closed
    assert server.requests[0].headers["x-trace"] == "1"


#: Defaults of a user's client, three of them named as headers loctocat sends.
CLASHING_DEFAULTS = {"Accept": "text/html", "Accept-Encoding": "br", "User-Agent": "mine/1"}


def assert_client_defaults_kept(requests: list[RecordedRequest]) -> None:
    """The client's own headers and cookies went along; loctocat's replaced those it names."""
    for request in requests:
        assert request.headers.get_list("accept") == ["application/json"]
        assert request.headers.get_list("accept-encoding") == [ACCEPT_ENCODING]
        assert [agent.split("/")[0] for agent in request.headers.get_list("user-agent")] == [
            "loctocat"
        ]
        assert request.headers["x-trace"] == "1"
        assert request.headers["cookie"] == "session=s1"


def test_a_users_client_sends_its_defaults_but_loctocats_headers(
    server: FakeAuthorizationServer,
) -> None:
    server.plan("pending", "approve")
    with httpx.Client(
        headers={**CLASHING_DEFAULTS, "X-Trace": "1"}, cookies={"session": "s1"}
    ) as client:
        auth = authenticator(server, http_client=client)
        auth.ping()
        auth.poll()
    assert len(server.requests) == 3
    assert_client_defaults_kept(server.requests)


@pytest.mark.anyio
async def test_a_users_async_client_sends_its_defaults_but_loctocats_headers(
    server: FakeAuthorizationServer,
) -> None:
    server.plan("pending", "approve")
    async with httpx.AsyncClient(
        headers={**CLASHING_DEFAULTS, "X-Trace": "1"}, cookies={"session": "s1"}
    ) as client:
        auth = async_authenticator(server, http_client=client)
        await auth.ping()
        await auth.poll()
    assert len(server.requests) == 3
    assert_client_defaults_kept(server.requests)


def non_ascii_request(server: FakeAuthorizationServer) -> Request:
    """A request with a header value httpx would not send (WhoAmI(scheme=...) can make one)."""
    headers = (("Accept", "application/json"), ("Authorization", "Bearér at-1"))
    return Request(server.token_url, (("client_id", "c"),), headers, "token endpoint")


def test_a_header_that_is_not_ascii_is_never_sent(server: FakeAuthorizationServer) -> None:
    transport = SyncTransport(None, 5.0)
    with pytest.raises(UnicodeEncodeError):
        transport.send(non_ascii_request(server))
    transport.close()
    assert server.requests == []


@pytest.mark.anyio
async def test_a_header_that_is_not_ascii_is_never_sent_async(
    server: FakeAuthorizationServer,
) -> None:
    transport = AsyncTransport(None, 5.0)
    with pytest.raises(UnicodeEncodeError):
        await transport.send(non_ascii_request(server))
    await transport.aclose()
    assert server.requests == []


def test_the_wrong_kind_of_http_client_is_refused(server: FakeAuthorizationServer) -> None:
    with pytest.raises(ConfigurationError, match=r"httpx\.Client"):
        authenticator(server, http_client=httpx.AsyncClient())


def test_in_memory_transport() -> None:
    server = FakeAuthorizationServer(interval=0)
    server.plan("approve")
    with httpx.Client(transport=server.transport()) as client:
        auth = authenticator(server, http_client=client)
        auth.ping()
        assert auth.poll() == server.issued_tokens[-1].access_token


def test_handlers_run_with_the_authenticator(server: FakeAuthorizationServer) -> None:
    server.plan("pending", Fault(error="not_yet"), "approve")
    seen: list[tuple[str, Authenticator]] = []
    auth = authenticator(server)
    auth.attach_handler(Handler("authorization_pending", lambda a: seen.append(("pending", a))))
    auth.attach_handler(Handler("not_yet", lambda a: seen.append(("not_yet", a))))
    assert [h.error for h in auth.get_handlers()] == ["authorization_pending", "not_yet"]
    auth.ping()
    auth.poll()
    assert seen == [("pending", auth), ("not_yet", auth)]


def test_ctrl_c_stops_a_sync_flow_at_once_and_closes_the_connection(
    server: FakeAuthorizationServer,
) -> None:
    auth = authenticator(server, min_interval=2)  # the server never approves
    auth.ping()
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            auth.poll()
    finally:
        timer.cancel()  # if poll() ended early, the Ctrl+C must not land in a later test
    assert time.monotonic() - started < 1.5
    assert auth._transport._own_client is None


def test_authenticate_prompts_on_stderr_and_keeps_stdout_clean(
    server: FakeAuthorizationServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.plan("pending", "approve")
    token = authenticator(server).authenticate()
    out, err = capsys.readouterr()
    assert out == ""
    assert server.grants[-1].user_code in err
    assert server.verification_uri in err
    assert token == server.issued_tokens[-1].access_token
    assert "\x1b" not in err  # not a terminal: plain lines


def test_authenticate_keeps_the_1_0_options(
    server: FakeAuthorizationServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.plan("approve")
    authenticator(server).authenticate(
        message="Custom prompt", success_message="Custom success", use_default_spinner=False
    )
    err = capsys.readouterr().err
    assert "Custom prompt" in err
    assert "Custom success" in err
    assert server.grants[-1].user_code not in err


# --- the async driver ---------------------------------------------------------------------------


#: trio with a clock that jumps over waits once every task has been idle for 0.1 s (real time):
#: long enough that loopback answers always come first, so only the polling waits are skipped.
MOCK_CLOCK_TRIO = pytest.param(
    ("trio", {"clock": trio.testing.MockClock(autojump_threshold=0.1)}), id="trio-mock-clock"
)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", [MOCK_CLOCK_TRIO])
async def test_async_flow(server: FakeAuthorizationServer) -> None:
    server.plan("pending", "slow_down", "approve")
    auth = async_authenticator(server)
    await auth.ping()
    started = anyio.current_time()
    access_token = await auth.poll()
    assert access_token == server.issued_tokens[-1].access_token
    # slow_down made the last wait 5 s longer, and the event loop was not blocked meanwhile:
    # the mock clock moved on while the flow waited (in no time at all).
    assert anyio.current_time() - started >= 5


@pytest.mark.anyio
async def test_async_flow_reuses_one_connection(server: FakeAuthorizationServer) -> None:
    server.plan("pending", "pending", "approve")
    auth = async_authenticator(server)
    await auth.ping()
    await auth.poll()
    assert len(server.requests) == 4
    assert server.connections_opened == 1


@pytest.mark.anyio
async def test_async_errors_are_typed(server: FakeAuthorizationServer) -> None:
    server.plan("deny")
    auth = async_authenticator(server)
    await auth.ping()
    with pytest.raises(AccessDenied):
        await auth.poll()


@pytest.mark.anyio
async def test_async_poll_before_ping(server: FakeAuthorizationServer) -> None:
    with pytest.raises(ConfigurationError):
        await async_authenticator(server).poll()


@pytest.mark.anyio
async def test_async_handlers_may_be_coroutines(server: FakeAuthorizationServer) -> None:
    server.plan("pending", "approve")
    seen: list[AsyncAuthenticator] = []

    async def record(auth: AsyncAuthenticator) -> None:
        await anyio.sleep(0)
        seen.append(auth)

    auth = async_authenticator(server)
    auth.attach_handler(Handler("authorization_pending", record))
    await auth.ping()
    await auth.poll()
    assert seen == [auth]


@pytest.mark.anyio
async def test_cancelling_an_async_flow_stops_at_once(server: FakeAuthorizationServer) -> None:
    auth = async_authenticator(server, min_interval=5)
    await auth.ping()
    started = time.monotonic()
    with anyio.move_on_after(0.2) as scope:
        await auth.poll()
    assert scope.cancelled_caught
    assert time.monotonic() - started < 2  # not the 5 s interval
    assert auth._transport._own_client is None


@pytest.mark.anyio
async def test_async_authenticate(
    server: FakeAuthorizationServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.plan("approve")
    token = await async_authenticator(server).authenticate()
    assert token == server.issued_tokens[-1].access_token
    assert server.grants[-1].user_code in capsys.readouterr().err


@pytest.mark.anyio
async def test_a_thousand_flows_wait_together_on_one_client() -> None:
    server = FakeAuthorizationServer(interval=0)
    results: list[str] = []
    async with httpx.AsyncClient(transport=server.transport()) as client:

        async def one_flow() -> None:
            auth = async_authenticator(server, http_client=client, min_interval=0.05)
            await auth.ping()
            results.append(await auth.poll())

        for _ in range(1000):
            server.plan("pending", "pending", "approve")
        async with anyio.create_task_group() as tasks:
            for _ in range(1000):
                tasks.start_soon(one_flow)
    assert sorted(results) == sorted(t.access_token for t in server.issued_tokens)
    assert len(set(results)) == 1000


def test_a_remote_http_url_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(ConfigurationError, match=r"use https://"):
        Authenticator("c", "http://auth.example.com/device", "https://auth.example.com/token")


def test_authenticate_says_how_the_flow_ended(
    server: FakeAuthorizationServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.plan("deny")
    with pytest.raises(AccessDenied):
        authenticator(server).authenticate()
    assert "denied" in capsys.readouterr().err


@pytest.mark.parametrize("order", [("asyncio", "trio"), ("trio", "asyncio")], ids="-then-".join)
def test_one_async_authenticator_under_asyncio_then_trio(
    server: FakeAuthorizationServer, order: tuple[str, str]
) -> None:
    # A program may run one event loop per command: asyncio.run(), later trio.run().
    server.plan("approve")
    auth = async_authenticator(server)

    async def get_token() -> str:
        return await auth.get_token(login=not server.issued_tokens)

    first = anyio.run(get_token, backend=order[0])
    assert anyio.run(get_token, backend=order[1]) == first


# --- nothing kept alive after use -----------------------------------------------------------------


def _freed_without_the_collector(make_and_use: Any) -> bool:
    """Whether the authenticator `make_and_use()` returns (through a weak reference) is gone once
    the last reference to it goes, with the cyclic garbage collector off: left in a reference
    cycle, it and its token would stay in memory until a full collection."""
    gc.collect()
    gc.disable()
    try:
        ref = make_and_use()
        return ref() is None
    finally:
        gc.enable()


@pytest.mark.parametrize("own_client", [True, False], ids=["own-client", "your-client"])
def test_a_sync_authenticator_is_freed_when_dropped(
    server: FakeAuthorizationServer, own_client: bool
) -> None:
    server.plan("approve")

    def make_and_use() -> weakref.ref[Authenticator]:
        with (
            httpx.Client() as client,
            authenticator(server, http_client=None if own_client else client) as auth,
        ):
            auth.ping()
            auth.poll()
            return weakref.ref(auth)

    assert _freed_without_the_collector(make_and_use)


@pytest.mark.anyio
@pytest.mark.parametrize("own_client", [True, False], ids=["own-client", "your-client"])
async def test_an_async_authenticator_is_freed_when_dropped(
    server: FakeAuthorizationServer, own_client: bool
) -> None:
    server.plan("approve")
    gc.collect()
    gc.disable()
    try:
        async with httpx.AsyncClient() as client:
            auth = async_authenticator(server, http_client=None if own_client else client)
            await auth.ping()
            await auth.poll()
            await auth.aclose()
            ref = weakref.ref(auth)
            del auth
            assert ref() is None
    finally:
        gc.enable()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_requests_leave_no_timers_behind_in_asyncio() -> None:
    # A timer per request would stay in the loop's heap, cancelled, until its deadline came
    # (behind the timers of logins waiting for their next poll): thousands of them in a
    # service polling for thousands of logins.
    import asyncio

    server = FakeAuthorizationServer(interval=0)
    loop = asyncio.get_running_loop()
    scheduled = loop._scheduled  # type: ignore[attr-defined]
    waiting = asyncio.create_task(asyncio.sleep(300))  # another login, waiting to poll
    await asyncio.sleep(0)
    async with httpx.AsyncClient(transport=server.transport()) as client:
        before = len(scheduled)
        for _ in range(20):
            server.plan("pending", "approve")
            auth = async_authenticator(server, http_client=client, request_timeout=600)
            await auth.ping()
            await auth.poll()
        assert len(server.requests) == 60
        assert len(scheduled) - before <= 1  # the one timer that keeps every deadline
    waiting.cancel()


def test_a_closed_event_loop_is_not_kept_alive() -> None:
    # A worker thread running asyncio.run() per job must not keep each closed loop around.
    import asyncio

    server = FakeAuthorizationServer(interval=0)
    server.plan("approve")

    async def login() -> None:
        async with httpx.AsyncClient(transport=server.transport()) as client:
            auth = async_authenticator(server, http_client=client, request_timeout=600)
            await auth.ping()
            await auth.poll()

    loop = asyncio.new_event_loop()
    loop.run_until_complete(login())
    loop.close()
    closed = weakref.ref(loop)
    del loop
    gc.collect()
    assert closed() is None
