"""Fault injection: loctocat never hangs, never leaks a raw exception, and recovers where it should.

Every scenario of `SCENARIOS` is played (a) at the device authorization request and (b) while
polling, with the sync `Authenticator` and the `AsyncAuthenticator` under asyncio and trio,
against `MisbehavingServer` on loopback. At the device request everything fails fast with a
typed error (or succeeds); while polling, transient failures are retried until the server
recovers, and protocol violations end the flow. Exception types are asserted exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import json
import logging
import math
import re
import socket
import sys
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, TypeAlias

import httpx
import pytest
from misbehaving_server import (
    Behaviour,
    Endpoint,
    MisbehavingServer,
    endless_body,
    endless_interim,
    garbage,
    html,
    reset,
    respond,
    silence,
    too_many_requests,
    trickle,
    trickle_headers,
    truncated,
)

from loctocat import (
    AsyncAuthenticator,
    Authenticator,
    ExpiredToken,
    LoctocatError,
    ProtocolError,
    TransportError,
)
from loctocat._flow import MAX_BODY_BYTES

REQUEST_TIMEOUT = 0.5
MIN_INTERVAL = 0.05
SECRET = "s3cret-never-elsewhere"
#: How much longer than request_timeout a failing request may take to be reported.
SLACK = 1.0

pytestmark = pytest.mark.timeout(20)


# --- Expected outcomes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Fails:
    """The call raises exactly `error`, its message matching `match`, in bounded time."""

    error: type[LoctocatError]
    match: str


@dataclass(frozen=True)
class Succeeds:
    """The call succeeds with no retry."""


@dataclass(frozen=True)
class Recovers:
    """The failure is retried (the retry logged with a description matching `match`), then the
    flow succeeds; with `retry_after`, the next poll came no sooner than the server asked."""

    match: str
    retry_after: bool = False


Outcome: TypeAlias = Fails | Succeeds | Recovers
Arrange: TypeAlias = Callable[[MisbehavingServer, MisbehavingServer, Endpoint], None]


@dataclass(frozen=True)
class Scenario:
    name: str
    #: Sets the fault up: (server, another host, the endpoint to misbehave at).
    arrange: Arrange
    at_device: Fails | Succeeds
    while_polling: Outcome
    #: Pass loctocat a user's http client that follows redirects.
    client_follows_redirects: bool = False

    def __str__(self) -> str:
        return self.name


def scripted(make: Callable[[MisbehavingServer], Behaviour]) -> Arrange:
    """Script one behaviour (made knowing the other host) for the endpoint's next request."""

    def arrange(server: MisbehavingServer, other: MisbehavingServer, endpoint: Endpoint) -> None:
        server.script(endpoint, make(other))

    return arrange


def refused(server: MisbehavingServer, other: MisbehavingServer, endpoint: Endpoint) -> None:
    # At the device endpoint the port is closed from the start; while polling it closes right
    # after the device answer and opens again 0.3 s later.
    server.refuse(endpoint, 60 if endpoint == "device" else 0.3)


def error_page(status: int, _other: MisbehavingServer) -> Behaviour:
    return html(status)


def redirect(status: int, other_host: bool) -> Callable[[MisbehavingServer], Behaviour]:
    def make(other: MisbehavingServer) -> Behaviour:
        location = other.base_url + "/stolen" if other_host else "/moved"
        return respond(status, b"", content_type=None, headers=[("Location", location)])

    return make


def padded(body: bytes) -> bytes:
    """Valid JSON, the same answer, one byte over the cap once padded with spaces."""
    return b"{" + b" " * MAX_BODY_BYTES + body[1:]


def gzip_bomb(body: bytes) -> bytes:
    """About 4 KiB on the wire, 4 MiB of valid JSON once decompressed."""
    return gzip.compress(b"{" + b" " * (16 * MAX_BODY_BYTES) + body[1:])


@functools.cache
def _stacked_gzip_bomb() -> bytes:
    # Compressed a MiB at a time, so that making it never holds the 256 MiB it inflates to.
    deflater = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    spaces = b" " * (1 << 20)
    inner = b"".join(deflater.compress(spaces) for _ in range(256)) + deflater.flush()
    return gzip.compress(inner, compresslevel=9)


def stacked_gzip_bomb() -> bytes:
    """590 bytes on the wire, gzip inside gzip: 256 MiB of spaces once both are undone.

    Made when the scenario is arranged (it takes most of a second), not while answering.
    """
    return _stacked_gzip_bomb()


def duplicated(body: bytes) -> bytes:
    """The answer with its first field given a second, different value."""
    first = next(iter(json.loads(body)))
    return body[:-1] + f', "{first}": "forged"}}'.encode()


def half(body: bytes) -> bytes:
    return body[: len(body) // 2]


_UNREACHED = "could not reach the device authorization endpoint"
_BROKE = "connection broke while reading|server broke the connection"
_SILENT = "no answer in time|no complete answer within"
_TRICKLED = "no complete answer within 0.5 s"
_MALFORMED = "malformed HTTP"
_UNDECODABLE = "could not be decoded"
_ENCODING = "content encoding .* only one layer of gzip or deflate"

SCENARIOS = [
    Scenario(
        "refused", refused, Fails(TransportError, f"{_UNREACHED}.*connection failed"),
        Recovers("connection failed"),
    ),
    Scenario(
        "reset-in-headers", scripted(lambda _: reset(in_body=False)),
        Fails(TransportError, f"{_UNREACHED}.*({_BROKE})"), Recovers(_BROKE),
    ),
    Scenario(
        "reset-in-body", scripted(lambda _: reset(in_body=True)),
        Fails(TransportError, f"{_UNREACHED}.*({_BROKE})"), Recovers(_BROKE),
    ),
    Scenario(
        "silence", scripted(lambda _: silence()),
        Fails(TransportError, f"{_UNREACHED}.*({_SILENT})"), Recovers(_SILENT),
    ),
    Scenario(
        "trickle", scripted(lambda _: trickle(0.2)),
        Fails(TransportError, f"{_UNREACHED}.*{_TRICKLED}"), Recovers(_TRICKLED),
    ),
    *(
        Scenario(
            f"http-{status}-html", scripted(functools.partial(error_page, status)),
            Fails(TransportError, rf"unavailable right now \(HTTP {status}\)"),
            Recovers(f"HTTP {status}"),
        )
        for status in (500, 502, 503, 504)
    ),
    Scenario(
        "429-retry-after-seconds", scripted(lambda _: too_many_requests("seconds", 1)),
        Fails(TransportError, r"unavailable right now \(HTTP 429\)"),
        Recovers("HTTP 429", retry_after=True),
    ),
    Scenario(
        "429-retry-after-date", scripted(lambda _: too_many_requests("date", 1)),
        Fails(TransportError, r"unavailable right now \(HTTP 429\)"),
        Recovers("HTTP 429", retry_after=True),
    ),
    Scenario(
        "429-no-retry-after", scripted(lambda _: too_many_requests(None)),
        Fails(TransportError, r"unavailable right now \(HTTP 429\)"), Recovers("HTTP 429"),
    ),
    *(
        Scenario(
            f"redirect-{status}-{where}",
            scripted(redirect(status, where == "other-host")),
            Fails(ProtocolError, "redirected the request to"),
            Fails(ProtocolError, "redirected the request to"),
        )
        for status in (302, 307)
        for where in ("same-host", "other-host")
    ),
    Scenario(
        "redirect-307-other-host-user-client-follows", scripted(redirect(307, True)),
        Fails(ProtocolError, "redirected the request to"),
        Fails(ProtocolError, "redirected the request to"),
        client_follows_redirects=True,
    ),
    Scenario(
        "oversized-body", scripted(lambda _: respond(body=padded)),
        Fails(ProtocolError, "larger than"), Fails(ProtocolError, "larger than"),
    ),
    Scenario(
        "gzip-bomb",
        scripted(lambda _: respond(body=gzip_bomb, headers=[("Content-Encoding", "gzip")])),
        Fails(ProtocolError, "larger than"), Fails(ProtocolError, "larger than"),
    ),
    Scenario(
        "gzip-gzip-bomb",
        scripted(
            lambda _: respond(
                body=stacked_gzip_bomb(), headers=[("Content-Encoding", "gzip, gzip")]
            )
        ),
        Fails(ProtocolError, _ENCODING), Fails(ProtocolError, _ENCODING),
    ),
    Scenario(
        "gzip-bomb-in-two-headers",
        scripted(
            lambda _: respond(
                body=stacked_gzip_bomb(),
                headers=[("Content-Encoding", "gzip"), ("Content-Encoding", "gzip")],
            )
        ),
        Fails(ProtocolError, _ENCODING), Fails(ProtocolError, _ENCODING),
    ),
    Scenario(
        "unknown-content-encoding",
        scripted(lambda _: respond(headers=[("Content-Encoding", "br")])),
        Fails(ProtocolError, _ENCODING), Fails(ProtocolError, _ENCODING),
    ),
    Scenario(
        "trickled-headers", scripted(lambda _: trickle_headers(0.2)),
        Fails(TransportError, f"{_UNREACHED}.*{_TRICKLED}"), Recovers(_TRICKLED),
    ),
    Scenario(
        "endless-102-processing", scripted(lambda _: endless_interim(0.2)),
        Fails(TransportError, f"{_UNREACHED}.*{_TRICKLED}"), Recovers(_TRICKLED),
    ),
    Scenario(
        "truncated-content-length", scripted(lambda _: truncated()),
        Fails(TransportError, f"{_UNREACHED}.*server broke the connection"),
        Recovers("server broke the connection"),
    ),
    Scenario(
        "truncated-json", scripted(lambda _: respond(body=half)),
        Fails(ProtocolError, "not a JSON object"), Fails(ProtocolError, "not a JSON object"),
    ),
    Scenario(
        "json-as-text/html", scripted(lambda _: respond(content_type="text/html")),
        Succeeds(), Succeeds(),
    ),
    Scenario(
        "json-as-text/plain", scripted(lambda _: respond(content_type="text/plain")),
        Succeeds(), Succeeds(),
    ),
    Scenario(
        "duplicate-keys", scripted(lambda _: respond(body=duplicated)),
        Fails(ProtocolError, "appears twice"), Fails(ProtocolError, "appears twice"),
    ),
    Scenario(
        "gzip-label-on-plain-body",
        scripted(lambda _: respond(headers=[("Content-Encoding", "gzip")])),
        Fails(TransportError, f"{_UNREACHED}.*{_UNDECODABLE}"), Recovers(_UNDECODABLE),
    ),
    Scenario(
        "not-http", scripted(lambda _: garbage()),
        Fails(TransportError, f"{_UNREACHED}.*{_MALFORMED}"), Recovers(_MALFORMED),
    ),
]  # fmt: skip

ENDPOINTS: tuple[Endpoint, ...] = ("device", "token")
#: When decoding fails inside httpx's aiter_bytes, the async generators below it (aiter_raw and
#: the stream wrappers) are left unclosed, and trio warns as it finalizes them. httpx's to fix:
#: nothing outside httpx holds those generators, so loctocat cannot close them.
_HTTPX_ABANDONS_GENERATORS = pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <async_generator object :pytest.PytestUnraisableExceptionWarning"
)
CASES = [
    pytest.param(
        scenario,
        endpoint,
        id=f"{scenario.name}@{endpoint}",
        marks=[_HTTPX_ABANDONS_GENERATORS] if scenario.name == "gzip-label-on-plain-body" else [],
    )
    for scenario in SCENARIOS
    for endpoint in ENDPOINTS
]


# --- Running a flow ------------------------------------------------------------------------------


@dataclass
class Attempt:
    value: object = None
    error: Exception | None = None
    elapsed: float = 0.0


def attempt(call: Callable[[], object]) -> Attempt:
    started = time.monotonic()
    try:
        return Attempt(value=call(), elapsed=time.monotonic() - started)
    except Exception as exc:
        return Attempt(error=exc, elapsed=time.monotonic() - started)


async def attempt_async(call: Callable[[], Awaitable[object]]) -> Attempt:
    started = time.monotonic()
    try:
        return Attempt(value=await call(), elapsed=time.monotonic() - started)
    except Exception as exc:
        return Attempt(error=exc, elapsed=time.monotonic() - started)


def options(server: MisbehavingServer, http_client: Any = None) -> dict[str, Any]:
    return {
        "client_id": "client-1",
        "auth_url": server.device_url,
        "token_url": server.token_url,
        "scopes": ["read"],
        "client_secret": SECRET,  # in the form body: redirects must not carry it anywhere
        "request_timeout": REQUEST_TIMEOUT,
        "min_interval": MIN_INTERVAL,
        "http_client": http_client,
    }


def retries(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]


def check_raised(attempt: Attempt, expected: Fails, bound: float = math.inf) -> None:
    assert attempt.error is not None, f"expected {expected.error.__name__}, got {attempt.value!r}"
    assert type(attempt.error) is expected.error, repr(attempt.error)
    assert re.search(expected.match, str(attempt.error)), str(attempt.error)
    assert attempt.elapsed <= bound, f"took {attempt.elapsed:.2f} s"


def check_token(attempt: Attempt, server: MisbehavingServer) -> None:
    assert attempt.error is None, repr(attempt.error)
    assert attempt.value == server.issued_tokens[-1]


def check(
    scenario: Scenario,
    endpoint: Endpoint,
    server: MisbehavingServer,
    ping: Attempt,
    poll: Attempt | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if endpoint == "device" and isinstance(scenario.at_device, Fails):
        check_raised(ping, scenario.at_device, REQUEST_TIMEOUT + SLACK)
        assert poll is None
        assert len(server.requests_to("device")) <= 1, "the device request was retried"
    else:
        assert ping.error is None, repr(ping.error)
        assert poll is not None
        outcome = scenario.while_polling if endpoint == "token" else Succeeds()
        if isinstance(outcome, Fails):
            # One poll after the first interval, then at most request_timeout for the answer.
            check_raised(poll, outcome, REQUEST_TIMEOUT + SLACK)
        elif isinstance(outcome, Succeeds):
            check_token(poll, server)
            assert retries(caplog) == []
        else:
            check_token(poll, server)
            logged = retries(caplog)
            assert logged, "the failure was not retried"
            assert re.search(outcome.match, logged[0]), logged[0]
            assert poll.elapsed <= 4 + 2 * outcome.retry_after, f"took {poll.elapsed:.2f} s"
            if outcome.retry_after:
                check_retry_after(server)
    paths = {r.path for r in server.requests}
    assert paths <= {"/device", "/token"}, f"a redirect was followed: {paths}"
    assert server.wait_until_idle(), f"{server.connections_open} connection(s) left open"


def check_retry_after(server: MisbehavingServer) -> None:
    polls = server.requests_to("token")
    told = [i for i, r in enumerate(polls) if r.retry_not_before is not None]
    assert told, "no Retry-After was sent"
    for i in told:
        not_before = polls[i].retry_not_before
        assert not_before is not None
        early = not_before - polls[i + 1].received_wall
        assert early <= 0.02, f"polled {early:.2f} s before Retry-After allowed"


# --- The table, with each driver -----------------------------------------------------------------


@pytest.mark.parametrize(("scenario", "endpoint"), CASES)
def test_sync(
    scenario: Scenario,
    endpoint: Endpoint,
    server: MisbehavingServer,
    elsewhere: MisbehavingServer,
    caplog: pytest.LogCaptureFixture,
    record_scenario: Callable[[str], None],
) -> None:
    caplog.set_level(logging.DEBUG, logger="loctocat")
    scenario.arrange(server, elsewhere, endpoint)
    follows = scenario.client_follows_redirects
    with httpx.Client(follow_redirects=True) if follows else nullcontext() as client:
        auth = Authenticator(**options(server, client))
        ping = attempt(auth.ping)
        poll = attempt(auth.poll) if ping.error is None else None
    check(scenario, endpoint, server, ping, poll, caplog)
    record_scenario(f"{scenario.name}@{endpoint}/sync")


@pytest.mark.anyio
@pytest.mark.parametrize(("scenario", "endpoint"), CASES)
async def test_async(
    scenario: Scenario,
    endpoint: Endpoint,
    server: MisbehavingServer,
    elsewhere: MisbehavingServer,
    caplog: pytest.LogCaptureFixture,
    record_scenario: Callable[[str], None],
    anyio_backend: str,
) -> None:
    caplog.set_level(logging.DEBUG, logger="loctocat")
    scenario.arrange(server, elsewhere, endpoint)
    client = httpx.AsyncClient(follow_redirects=True) if scenario.client_follows_redirects else None
    try:
        auth = AsyncAuthenticator(**options(server, client))
        ping = await attempt_async(auth.ping)
        poll = await attempt_async(auth.poll) if ping.error is None else None
    finally:
        if client is not None:
            await client.aclose()
    check(scenario, endpoint, server, ping, poll, caplog)
    record_scenario(f"{scenario.name}@{endpoint}/{anyio_backend}")


# --- Persistent failure while polling: ExpiredToken at the deadline -------------------------------

PERSISTENT: dict[str, tuple[Arrange, str]] = {
    "http-503": (
        lambda server, _o, _e: server.script("token", html(503), times=100),
        "HTTP 503",
    ),
    "silence": (lambda server, _o, _e: server.script("token", silence(), times=100), _SILENT),
    "trickle": (lambda server, _o, _e: server.script("token", trickle(), times=100), _TRICKLED),
    "refused": (lambda server, _o, _e: server.refuse("token", 60), "connection failed"),
}
EXPIRES_IN = 2


@pytest.fixture
def expiring_server() -> Iterator[MisbehavingServer]:
    with MisbehavingServer(expires_in=EXPIRES_IN) as server:
        yield server


def check_expired(ping: Attempt, poll: Attempt | None, last_failure: str) -> None:
    assert ping.error is None, repr(ping.error)
    assert poll is not None
    total = ping.elapsed + poll.elapsed
    check_raised(poll, Fails(ExpiredToken, f"the last poll failed with ({last_failure})"))
    # The deadline counts from the device request; a request in flight may overrun it by at
    # most request_timeout.
    assert EXPIRES_IN - 0.1 <= total <= EXPIRES_IN + REQUEST_TIMEOUT + SLACK, f"{total:.2f} s"


# An answer that never ends is cut off once it is too large, not when the request's time is up:
# a request timeout long enough to tell the two apart.
ENDLESS_REQUEST_TIMEOUT = 30.0


def endless_options(server: MisbehavingServer) -> dict[str, Any]:
    server.script("device", endless_body())
    return {**options(server), "request_timeout": ENDLESS_REQUEST_TIMEOUT}


def check_cut_off(ping: Attempt, server: MisbehavingServer) -> None:
    check_raised(ping, Fails(ProtocolError, "larger than"), ENDLESS_REQUEST_TIMEOUT / 3)
    assert server.wait_until_idle(), f"{server.connections_open} connection(s) left open"


def test_sync_an_endless_answer_is_cut_off_once_too_large(server: MisbehavingServer) -> None:
    auth = Authenticator(**endless_options(server))
    ping = attempt(auth.ping)
    check_cut_off(ping, server)


@pytest.mark.anyio
async def test_async_an_endless_answer_is_cut_off_once_too_large(
    server: MisbehavingServer, anyio_backend: str
) -> None:
    auth = AsyncAuthenticator(**endless_options(server))
    ping = await attempt_async(auth.ping)
    check_cut_off(ping, server)


@pytest.mark.anyio
async def test_a_request_made_while_another_is_in_flight_keeps_both_deadlines(
    server: MisbehavingServer, anyio_backend: str
) -> None:
    # The client's event hook logs in elsewhere first (one task, two requests in flight): the
    # outer request still ends at its own deadline, though its answer trickles in forever.
    server.script("device", respond(), trickle_headers(0.2))

    async def hook(request: httpx.Request) -> None:
        async with AsyncAuthenticator(**options(server)) as elsewhere:
            await elsewhere.ping()

    async with httpx.AsyncClient(event_hooks={"request": [hook]}) as client:
        auth = AsyncAuthenticator(**options(server, client))
        ping = await attempt_async(auth.ping)
    check_raised(ping, Fails(TransportError, _TRICKLED), REQUEST_TIMEOUT + SLACK)
    assert len(server.requests_to("device")) == 2


class _PlainHandle:
    """A timer handle that cannot say when it comes (qasync's loop hands out such)."""

    __slots__ = ("__weakref__", "_source_traceback", "_timer")

    def __init__(self, timer: asyncio.TimerHandle) -> None:
        self._timer = timer
        self._source_traceback = None  # (asyncio's call_later looks)

    def cancel(self) -> None:
        self._timer.cancel()

    def cancelled(self) -> bool:
        return self._timer.cancelled()


class _LoopWithPlainHandles(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        super().__init__()
        self.handles: list[_PlainHandle] = []  # kept, as that loop keeps its own

    def call_at(self, when: float, callback: Any, *args: Any, context: Any = None) -> Any:
        handle = _PlainHandle(super().call_at(when, callback, *args, context=context))
        self.handles.append(handle)
        return handle


def test_deadlines_on_a_loop_whose_timers_cannot_say_when_they_come(
    server: MisbehavingServer,
) -> None:
    server.script("token", trickle_headers(0.2))

    async def login() -> tuple[Attempt, Attempt]:
        auth = AsyncAuthenticator(**options(server))
        ping = await attempt_async(auth.ping)
        return ping, await attempt_async(auth.poll)

    with asyncio.Runner(loop_factory=_LoopWithPlainHandles) as runner:
        ping, poll = runner.run(login())
    assert ping.error is None, repr(ping.error)
    # The trickled answer ended at its deadline, and the next poll got the token.
    check_token(poll, server)
    assert len(server.requests_to("token")) == 2
    assert poll.elapsed <= MIN_INTERVAL * 4 + REQUEST_TIMEOUT + SLACK, f"{poll.elapsed:.2f} s"


@pytest.mark.parametrize("kind", list(PERSISTENT))
def test_sync_persistent_failure_expires(
    kind: str,
    expiring_server: MisbehavingServer,
    elsewhere: MisbehavingServer,
    record_scenario: Callable[[str], None],
) -> None:
    arrange, last_failure = PERSISTENT[kind]
    arrange(expiring_server, elsewhere, "token")
    auth = Authenticator(**options(expiring_server))
    ping = attempt(auth.ping)
    poll = attempt(auth.poll) if ping.error is None else None
    check_expired(ping, poll, last_failure)
    assert expiring_server.wait_until_idle()
    record_scenario(f"persistent-{kind}@token/sync")


@pytest.mark.anyio
@pytest.mark.parametrize("kind", list(PERSISTENT))
async def test_async_persistent_failure_expires(
    kind: str,
    expiring_server: MisbehavingServer,
    elsewhere: MisbehavingServer,
    record_scenario: Callable[[str], None],
    anyio_backend: str,
) -> None:
    arrange, last_failure = PERSISTENT[kind]
    arrange(expiring_server, elsewhere, "token")
    auth = AsyncAuthenticator(**options(expiring_server))
    ping = await attempt_async(auth.ping)
    poll = await attempt_async(auth.poll) if ping.error is None else None
    check_expired(ping, poll, last_failure)
    assert expiring_server.wait_until_idle()
    record_scenario(f"persistent-{kind}@token/{anyio_backend}")


# --- A host name with several unreachable addresses ----------------------------------------------


def _blackhole(ip: str, port: int = 0) -> tuple[socket.socket, list[socket.socket]]:
    """A listener on `ip` whose accept queue is full: further SYNs go unanswered."""
    listener = socket.socket()
    listener.bind((ip, port))
    listener.listen(0)
    fillers = []
    for _ in range(8):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect((ip, listener.getsockname()[1]))
        fillers.append(filler)
    return listener, fillers


@pytest.mark.skipif(sys.platform != "linux", reason="127.0.0.2 and .3 are loopback on Linux")
def test_every_address_of_a_name_shares_one_request_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, fillers = _blackhole("127.0.0.2")
    port = first.getsockname()[1]
    second, more = _blackhole("127.0.0.3", port)
    resolve = socket.getaddrinfo

    def two_addresses(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "auth.localhost":  # as a name with two A records (or ::1 and 127.0.0.1)
            return [
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.3", port)),
            ]
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", two_addresses)
    url = f"http://auth.localhost:{port}"
    # 1 s, so that one deadline for the whole request (under 1.8 s with a busy machine's
    # slack) stays well apart from one deadline per address (2 s at least).
    timeout = 1.0
    auth = Authenticator("c", f"{url}/device", f"{url}/token", request_timeout=timeout)
    try:
        outcome = attempt(auth.ping)
    finally:
        for sock in (first, second, *fillers, *more):
            sock.close()
    check_raised(outcome, Fails(TransportError, "connection timed out|no complete answer"))
    assert outcome.elapsed < 1.8 * timeout, f"took {outcome.elapsed:.2f} s"
