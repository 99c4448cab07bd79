"""Transports: carry out the core's `Request` effects over httpx, sync and async.

A transport owns (or borrows) one httpx client, sends each request under one deadline rule,
and closes. It decides nothing about the protocol: it hands back the status, the headers and
at most `max_body_bytes + 1` bytes of the body exactly as they came off the wire (content
decoding is the core's job, under its size cap), or a `TransportFailure`.

The deadline rule, for both: the whole request (connecting, TLS, sending, the answer's
headers, interim 1xx answers, the body) ends within `min(request_timeout, request.timeout)`
seconds. The async transport cancels the request when it comes (on asyncio, one timer per
event loop keeps the deadlines of all requests; on trio, a cancel scope). The sync one cannot
interrupt a blocking read from outside, so on the client it builds itself, every socket
operation is given only the time left until the deadline (`_DeadlineBackend`); on a client of
yours it is checked between the chunks of the body, and each read is bounded by your
client's timeout.
"""

from __future__ import annotations

import contextvars
import functools
import math
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from loctocat._flow import (
    Request,
    RequestResult,
    Response,
    TransportFailure,
    _is_loopback,
    decodable_coding,
)

if TYPE_CHECKING:
    import asyncio

    import httpcore
    import httpx

__all__ = ["AsyncTransport", "SyncTransport"]

ClientT = TypeVar("ClientT")

_DEADLINE_SLACK = 0.01

# The monotonic time by which the request being sent in this thread must be over.
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "loctocat_request_deadline", default=None
)


def _request_seconds(request: Request, request_timeout: float) -> float:
    if request.timeout is None:
        return request_timeout
    return min(request.timeout, request_timeout)


class _Transport(Generic[ClientT]):
    """What both transports keep: the client you gave, or the one they open when first used."""

    def __init__(
        self,
        http_client: ClientT | None,
        request_timeout: float,
        endpoints: Callable[[], Sequence[str | None]] | None = None,
    ) -> None:
        self.request_timeout = request_timeout
        self._user_client = http_client
        self._own_client: ClientT | None = None
        # The URLs the client will be used for, asked when it is made (see `_new_client`).
        self._endpoints = endpoints or tuple

    def _client(self, cls: type[ClientT], prepare: Callable[[ClientT], None] | None) -> ClientT:
        if self._user_client is not None:
            return self._user_client
        if self._own_client is None:
            self._own_client = _new_client(cls, self.request_timeout, self._endpoints, prepare)
        return self._own_client


class SyncTransport(_Transport["httpx.Client"]):
    """Sends requests with an `httpx.Client`: yours (never closed here) or one of its own."""

    def send(self, request: Request) -> RequestResult:
        """The answer to `request`, or a `TransportFailure`; never raises for network trouble."""
        import httpx

        client = self._client(httpx.Client, _bound_sync_pools)
        seconds = _request_seconds(request, self.request_timeout)
        deadline = time.monotonic() + seconds
        reset = _deadline.set(deadline)
        try:
            # Redirects are not followed, even on your client: credentials stay put.
            response = client.send(
                _outgoing(client, request, seconds), stream=True, follow_redirects=False
            )
            try:
                received_at = datetime.now(UTC)
                if response.is_stream_consumed:
                    return _already_read(response, request, received_at)
                body = bytearray()
                for chunk in response.iter_raw():
                    if time.monotonic() > deadline:
                        return _no_complete_answer(seconds)
                    body += chunk
                    if len(body) > request.max_body_bytes:
                        break  # enough to know it is too large; the core says so
                return _response(response, bytes(body), received_at)
            finally:
                response.close()
        except httpx.RequestError as exc:
            # A socket timeout set to the time left may fire a hair before the deadline.
            if time.monotonic() >= deadline - _DEADLINE_SLACK:
                return _no_complete_answer(seconds)
            return _transport_failure(exc)
        finally:
            _deadline.reset(reset)

    def close(self) -> None:
        """Close the client this transport opened (never one you passed)."""
        client, self._own_client = self._own_client, None
        if client is not None:
            client.close()


class AsyncTransport(_Transport["httpx.AsyncClient"]):
    """Sends requests with an `httpx.AsyncClient`: yours (never closed here) or its own."""

    async def send(self, request: Request) -> RequestResult:
        """The answer to `request`, or a `TransportFailure`; never raises for network trouble."""
        import httpx

        client = self._client(httpx.AsyncClient, None)
        seconds = _request_seconds(request, self.request_timeout)
        reading = _Reading(request)
        try:
            if on_asyncio():
                await _within_asyncio_deadline(seconds, reading, client)
            else:
                await _within_cancel_scope(seconds, reading, client)
        except httpx.RequestError as exc:
            return _transport_failure(exc)
        return reading.answer if reading.answer is not None else _no_complete_answer(seconds)

    async def aclose(self) -> None:
        """Close the client this transport opened (never one you passed)."""
        import anyio

        client, self._own_client = self._own_client, None
        if client is not None:
            # Shielded, so that closing still happens while the flow is being cancelled.
            with anyio.CancelScope(shield=True):
                await client.aclose()


class _Reading:
    """One request being sent by the async transport: its answer once there is one."""

    __slots__ = ("answer", "body_scope", "request", "stop")

    def __init__(self, request: Request) -> None:
        self.request = request
        self.answer: Response | None = None
        # What the body is read within, and how reading it is ended early (an answer already
        # too large): by cancelling, since `break` would abandon httpx's async generators
        # unclosed.
        self.body_scope: Callable[[], AbstractContextManager[object]] = nullcontext
        # Called with this reading (holding nothing that holds it: no reference cycle).
        self.stop: Callable[[_Reading], object] = _keep_reading

    async def send(self, client: httpx.AsyncClient, seconds: float) -> None:
        request = self.request
        # Redirects are not followed, even on your client: credentials stay put.
        response = await client.send(
            _outgoing(client, request, seconds), stream=True, follow_redirects=False
        )
        try:
            received_at = datetime.now(UTC)
            if response.is_stream_consumed:
                self.answer = _already_read(response, request, received_at)
                return
            body = bytearray()
            with self.body_scope():
                async for chunk in response.aiter_raw():
                    body += chunk
                    if len(body) > request.max_body_bytes:
                        # Enough to know it is too large; the core says so.
                        self.answer = _response(response, bytes(body), received_at)
                        self.stop(self)
            self.answer = _response(response, bytes(body), received_at)
        finally:
            await response.aclose()


def _keep_reading(reading: _Reading) -> None:
    """(Until the transport says how to stop.)"""


async def _within_asyncio_deadline(
    seconds: float, reading: _Reading, client: httpx.AsyncClient
) -> None:
    """`reading.send()` ended by its deadline the way asyncio.timeout() ends it (the task is
    cancelled, and the cancellation taken back), with one timer for all requests of the loop
    (`_AsyncioDeadlines`)."""
    import asyncio

    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None  # (a coroutine on asyncio runs in a task)
    deadlines = _asyncio_deadlines(loop)
    cancelling = task.cancelling()
    # Ending the read early is the deadline come now; the answer is kept (`reading.answer`).
    reading.stop = deadlines.expire_soon
    try:
        deadlines.start(loop, reading, task, seconds)
        await reading.send(client, seconds)
    except asyncio.CancelledError:
        if deadlines.end(reading) and task.uncancel() <= cancelling:
            return  # the deadline ended it, and no one else asked to cancel
        raise
    finally:
        # Any other ending: the request is over, and a cancellation it never saw taken back.
        if deadlines.end(reading):
            task.uncancel()


class _AsyncioDeadlines:
    """The deadlines of the requests in flight on one asyncio event loop, kept with one timer.

    A timer per request would stay in the loop's heap after the request, cancelled, until it
    came due: thousands of them with thousands of logins polling, each also pushed through
    the heap. Here a request costs a dict entry; the one timer moves only for a deadline
    that comes before it, and comes again at most every `_DEADLINE_GRANULARITY` seconds.
    Entries are per request, not per task: a request made while another waits in the same
    task (an auth flow or an event hook of the client) keeps its own deadline, as nested
    asyncio.timeout() blocks do.
    """

    def __init__(self) -> None:
        self._due: dict[_Reading, tuple[asyncio.Task[Any], float]] = {}
        self._expired: set[_Reading] = set()
        # Held weakly: the loop holds it while it is scheduled, and a closed loop drops it
        # (and with it the loop). When it is set to come, kept here: not every loop's timer
        # handles say (a handle of qasync's, or of uvloop's for a delay under 1 ms, does not).
        self._timer: weakref.ref[asyncio.Handle] | None = None
        self._timer_when = math.inf

    def start(
        self,
        loop: asyncio.AbstractEventLoop,
        reading: _Reading,
        task: asyncio.Task[Any],
        seconds: float,
    ) -> None:
        deadline = loop.time() + seconds
        if self._armed() is None or deadline < self._timer_when:
            self._arm(loop, deadline)
        self._due[reading] = (task, deadline)

    def expire_soon(self, reading: _Reading) -> None:
        """End this request on the loop's next turn, as if its deadline had come."""
        import asyncio

        entry = self._due.get(reading)
        if entry is not None:
            self._due[reading] = (entry[0], -math.inf)
            loop = asyncio.get_running_loop()
            loop.call_soon(self._expire, loop)

    def end(self, reading: _Reading) -> bool:
        """The request is over: whether its deadline cancelled its task."""
        self._due.pop(reading, None)
        if reading in self._expired:
            self._expired.remove(reading)
            return True
        return False

    def _armed(self) -> asyncio.Handle | None:
        timer = self._timer() if self._timer is not None else None
        return None if timer is None or timer.cancelled() else timer

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        timer = self._armed()
        if timer is not None:
            timer.cancel()
        self._timer = weakref.ref(loop.call_at(when, self._come_due, loop))
        self._timer_when = when

    def _come_due(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer, self._timer_when = None, math.inf
        self._expire(loop)
        if self._due and self._armed() is None:
            earliest = min(deadline for _, deadline in self._due.values())
            self._arm(loop, max(earliest, loop.time() + _DEADLINE_GRANULARITY))

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for reading, (task, deadline) in list(self._due.items()):
            if deadline <= now:
                # Only a request still in flight is in `_due`: its task waits in it, so the
                # cancellation lands in the request, as asyncio.timeout()'s would.
                del self._due[reading]
                self._expired.add(reading)
                task.cancel()


#: How late a request may end after its deadline, at most: a bound on how often the one
#: timer comes when many requests are past theirs.
_DEADLINE_GRANULARITY = 0.01

_loop_deadlines = threading.local()


def _asyncio_deadlines(loop: asyncio.AbstractEventLoop) -> _AsyncioDeadlines:
    """The deadlines of `loop`, the loop running in this thread (held weakly: a closed loop
    goes, and the next one gets its own)."""
    held: tuple[weakref.ref[asyncio.AbstractEventLoop], _AsyncioDeadlines] | None = getattr(
        _loop_deadlines, "held", None
    )
    if held is None or held[0]() is not loop:
        held = _loop_deadlines.held = (weakref.ref(loop), _AsyncioDeadlines())
    return held[1]


async def _within_cancel_scope(
    seconds: float, reading: _Reading, client: httpx.AsyncClient
) -> None:
    """`reading.send()` bounded by an anyio cancel scope, for trio and any other loop."""
    import anyio

    def body_scope() -> anyio.CancelScope:
        # A scope of its own to stop reading, so that closing the answer is not cancelled.
        scope = anyio.CancelScope()
        reading.stop = lambda _: scope.cancel()
        return scope

    reading.body_scope = body_scope
    # The cancel scope bounds everything httpx does, whatever it is waiting for.
    with anyio.move_on_after(seconds):
        await reading.send(client, seconds)


def on_asyncio() -> bool:
    """Whether this task runs on asyncio (not trio): asyncio's own primitives are cheaper."""
    if "trio" not in sys.modules:
        return True  # anyio runs on asyncio or trio: without trio loaded, only asyncio can run
    sniffio = _sniffio()
    if sniffio is None:  # trio needs sniffio: without it, only asyncio can be running
        return True
    try:
        return bool(sniffio.current_async_library() == "asyncio")
    except sniffio.AsyncLibraryNotFoundError:
        return False


@functools.cache
def _sniffio() -> Any:
    # Looked for once: a failed import searches the whole path every time.
    try:
        import sniffio
    except ImportError:
        return None
    return sniffio


# --- building a client --------------------------------------------------------------------------


def _outgoing(
    client: httpx.Client | httpx.AsyncClient, request: Request, seconds: float
) -> httpx.Request:
    """`request` as both transports send it on `client`: with the client's defaults (base URL,
    cookies, query parameters, headers), and the request's own headers in place of the
    client's of the same name."""
    outgoing = client.build_request(
        request.method,
        request.url,
        data=dict(request.form) or None,
        extensions={"timeout": _timeouts(seconds)},
    )
    # Set one by one: passed to build_request, each default they replace would be taken out
    # with two lookups and a scan of every header, a tenth of a poll's time. (The order of
    # fields with different names carries no meaning in HTTP, RFC 9110 §5.3.)
    headers = outgoing.headers
    for name, value in _headers(request):
        # ASCII only, as httpx insists when it merges them (it would send UTF-8 here): a
        # value that is not raises UnicodeEncodeError and nothing is sent.
        value.encode("ascii")
        headers[name] = value
    return outgoing


def _timeouts(seconds: float) -> dict[str, float]:
    return {"connect": seconds, "read": seconds, "write": seconds, "pool": seconds}


def _new_client(
    cls: type[ClientT],
    request_timeout: float,
    endpoints: Callable[[], Sequence[str | None]],
    prepare: Callable[[ClientT], None] | None,
) -> ClientT:
    options: dict[str, Any] = {"timeout": request_timeout, "follow_redirects": False}
    # httpx builds its default SSL context when the client is made, loading the whole CA
    # bundle: about 0.1 s, most of the time to the first prompt. When every endpoint this
    # client will call is plain http:// on loopback, no TLS is ever spoken, so it gets a
    # context that costs nothing instead: one that trusts no certificate and checks host
    # names, so that were it ever used for https (it cannot be: redirects are not followed)
    # it would fail closed. Any https:// endpoint, or an unknown one (the discovery probe),
    # keeps httpx's default verification exactly as before.
    urls = endpoints()
    if urls and _all_plain_loopback(urls):
        import ssl

        options["verify"] = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client = cls(**options)
    if prepare is not None:
        prepare(client)
    return client


def _all_plain_loopback(endpoints: Iterable[str | None]) -> bool:
    import urllib.parse

    # An https:// proxy from the environment (which httpx honours) still speaks TLS.
    import urllib.request  # already loaded by httpx, which uses it for the same lookup

    if any(str(p).startswith("https:") for p in urllib.request.getproxies().values()):
        return False
    for url in endpoints:
        if url is None:
            return False
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or not _is_loopback(parts.hostname or ""):
            return False
    return True


def _bound_sync_pools(client: httpx.Client) -> None:
    """Give every connection pool of `client` the network backend that keeps the deadline."""
    import httpcore

    transports = [client._transport, *client._mounts.values()]
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(pool, httpcore.ConnectionPool) and backend is not None:
            # httpcore calls the backend's methods only: any object with them will do.
            pool._network_backend = _DeadlineBackend(backend)  # type: ignore[assignment]


def _time_left(timeout: float | None, kind: str) -> float | None:
    """`timeout`, shortened to what is left until this thread's request deadline."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        import httpcore

        error = {"connect": httpcore.ConnectTimeout, "write": httpcore.WriteTimeout}
        raise error.get(kind, httpcore.ReadTimeout)("the request deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream:
    """An httpcore network stream whose every operation ends by the request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _time_left(timeout, "read"))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _time_left(timeout, "write"))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> _DeadlineStream:
        inner = self._inner.start_tls(ssl_context, server_hostname, _time_left(timeout, "connect"))
        return _DeadlineStream(inner)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend:
    """httpcore's network backend, each connection's operations kept within the deadline.

    Every read, write and connect gets only the time left until the deadline of the request
    being sent, so a server trickling its headers a byte at a time, or sending one interim
    `102 Processing` after another, cannot stretch a request past it; a reused connection
    obeys the deadline of each new request.
    """

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> _DeadlineStream:
        # socket.create_connection gives each address of a host name the whole timeout: a
        # name with N unreachable addresses would take N times as long. So the name is
        # resolved here and each address tried with what is left. (The lookup itself cannot
        # be bounded without a thread; the system resolver has its own timeouts.)
        import socket

        options = list(socket_options or ())
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            infos = []
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos)) or [host]
        error: Exception | None = None
        for address in addresses:
            try:
                inner = self._inner.connect_tcp(
                    address, port, _time_left(timeout, "connect"), local_address, options
                )
            except Exception as exc:  # httpcore's ConnectError / ConnectTimeout
                error = exc
                continue
            return _DeadlineStream(inner)
        assert error is not None
        raise error

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> _DeadlineStream:
        inner = self._inner.connect_unix_socket(
            path, _time_left(timeout, "connect"), socket_options
        )
        return _DeadlineStream(inner)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


# --- answers ------------------------------------------------------------------------------------


def _response(response: httpx.Response, body: bytes, received_at: datetime) -> Response:
    return Response(response.status_code, _answer_headers(response), body, received_at)


def _answer_headers(response: httpx.Response) -> dict[str, str]:
    """The answer's headers by lower-case name (httpx's `items()` gives them so), a repeated
    one with its values joined by ", "."""
    return dict(response.headers.items())


def _already_read(response: httpx.Response, request: Request, received_at: datetime) -> Response:
    """An answer httpx read (and decoded) before handing it over.

    In-memory transports answer so, and so does a client of yours whose response hook reads
    the body: then httpx has undone every content coding already, with no size cap. A coding
    the core would refuse is still refused (the header is kept, the body dropped); otherwise
    the decoded body is handed over, capped.
    """
    headers = _answer_headers(response)
    if not decodable_coding(headers.get("content-encoding", "")):
        return Response(response.status_code, headers, b"", received_at)
    headers.pop("content-encoding", None)  # already undone
    body = response.content[: request.max_body_bytes + 1]
    return Response(response.status_code, headers, body, received_at)


def _no_complete_answer(seconds: float) -> TransportFailure:
    return TransportFailure(f"no complete answer within {seconds:g} s")


def _transport_failure(exc: httpx.RequestError) -> TransportFailure:
    """No usable answer: a network failure, or broken HTTP."""
    import httpx

    if isinstance(exc, httpx.TransportError):
        return TransportFailure(_describe_transport_error(exc))
    return TransportFailure(f"the request failed ({exc})")


def _describe_transport_error(exc: httpx.TransportError) -> str:
    import httpx

    kind = {
        httpx.ConnectTimeout: "connection timed out",
        httpx.ReadTimeout: "no answer in time",
        httpx.WriteTimeout: "sending timed out",
        httpx.PoolTimeout: "no free connection in time",
        httpx.ConnectError: "connection failed",
        httpx.ReadError: "connection broke while reading the answer",
        httpx.WriteError: "connection broke while sending",
        httpx.RemoteProtocolError: "the server broke the connection or sent malformed HTTP",
        httpx.ProxyError: "the proxy failed",
    }.get(type(exc), "network error")
    detail = str(exc)
    return f"{kind} ({detail})" if detail else kind


def _headers(request: Request) -> tuple[tuple[str, str], ...]:
    """The request's headers, with a DPoP proof signed now when it asks for one."""
    if request.dpop is None:
        return request.headers
    return (*request.headers, ("DPoP", request.dpop.header(request.method, request.url)))
