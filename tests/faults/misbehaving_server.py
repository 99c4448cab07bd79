"""A loopback HTTP/1.1 authorization server that misbehaves on cue, down to the byte level.

Raw sockets and threads, so that it can do what no well-behaved framework would: reset a
connection halfway through the headers, trickle a body one byte at a time, lie in its
Content-Length, go silent, or stop listening altogether.

Each request to `/device` or `/token` takes the next behaviour scripted for that endpoint
(`script`), and once the script is used up the normal one: a valid RFC 8628 device answer, or
`authorization_pending` `pending` times and then a token. Every request is recorded, and the
connections opened and still open are counted. `stop()` (or leaving the `with` block) closes
every socket and joins every thread, and fails loudly if one would not end.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from types import TracebackType
from typing import Literal, Self

Endpoint = Literal["device", "token"]

#: How often blocked threads look up to see whether the server is stopping.
_TICK = 0.02
_JOIN_TIMEOUT = 5.0


class _Hangup(Exception):
    """The behaviour has ended the connection (or the server is stopping)."""


@dataclass
class RecordedRequest:
    method: str
    path: str
    #: Header names lower-case; a repeated header keeps its last value.
    headers: dict[str, str]
    body: bytes
    #: Which connection it came on (1 for the first connection the server accepted).
    connection: int
    received_at: float  # time.monotonic()
    received_wall: float  # time.time()
    #: Wall-clock time before which the answer asked not to be polled again (Retry-After).
    retry_not_before: float | None = None

    @property
    def endpoint(self) -> str:
        return self.path.lstrip("/")


@dataclass
class Exchange:
    """One request being answered: what a behaviour gets to misbehave with."""

    server: MisbehavingServer
    sock: socket.socket
    request: RecordedRequest

    def send(self, data: bytes) -> None:
        """Send all of `data`; `_Hangup` if the peer went away or the server is stopping."""
        view = memoryview(data)
        while view:
            if self.server.stopping:
                raise _Hangup
            try:
                sent = self.sock.send(view)
            except TimeoutError:
                continue
            except OSError as exc:
                raise _Hangup from exc
            view = view[sent:]

    def pause(self, seconds: float) -> None:
        if self.server.wait_stopping(seconds):
            raise _Hangup

    def reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0), not a FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()
        raise _Hangup

    def wait_for_peer_to_leave(self) -> None:
        """Say nothing until the peer closes the connection or the server stops."""
        while not self.server.stopping:
            try:
                if not self.sock.recv(65536):
                    return
            except TimeoutError:
                continue
            except OSError:
                return

    def success_body(self) -> bytes:
        """The normal successful answer's body: device codes, or a (freshly issued) token."""
        return self.server.success_body(self.request.endpoint)


#: Answers a request; returns whether the connection may carry another request.
Behaviour = Callable[[Exchange], bool]


def head(status: int, headers: Iterable[tuple[str, str]]) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Whatever"
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def respond(
    status: int = 200,
    body: bytes | Callable[[bytes], bytes] | None = None,
    *,
    content_type: str | None = "application/json",
    headers: Sequence[tuple[str, str]] = (),
    close: bool = False,
) -> Behaviour:
    """A complete, well-framed answer. `body=None` is the endpoint's normal success body; a
    callable makes the body from it."""

    def behave(exchange: Exchange) -> bool:
        if body is None or callable(body):
            payload = exchange.success_body()
            payload = payload if body is None else body(payload)
        else:
            payload = body
        fields = [("Content-Length", str(len(payload))), *headers]
        if content_type is not None:
            fields.insert(0, ("Content-Type", content_type))
        if close:
            fields.append(("Connection", "close"))
        exchange.send(head(status, fields) + payload)
        return not close

    return behave


def html(status: int) -> Behaviour:
    """An error status with an HTML page, as proxies and load balancers send."""
    page = f"<html><body><h1>{status}</h1><p>Bad gateway day.</p></body></html>".encode()
    return respond(status, page, content_type="text/html")


def reset(*, in_body: bool) -> Behaviour:
    """Send part of the headers (or the headers and part of the body), then RST."""

    def behave(exchange: Exchange) -> bool:
        payload = exchange.success_body()
        response = head(200, [("Content-Type", "application/json"), ("Content-Length", "999")])
        exchange.send(response + payload[:10] if in_body else response[:25])
        exchange.pause(0.05)  # let the partial answer reach the peer before the RST
        exchange.reset()
        return False

    return behave


def silence() -> Behaviour:
    """Read the request, then never answer (until the peer gives up)."""

    def behave(exchange: Exchange) -> bool:
        exchange.wait_for_peer_to_leave()
        return False

    return behave


def trickle(every: float = 0.2) -> Behaviour:
    """Headers at once, then the body one byte every `every` seconds."""

    def behave(exchange: Exchange) -> bool:
        payload = exchange.success_body()
        fields = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        exchange.send(head(200, fields))
        for i in range(len(payload)):
            exchange.pause(every)
            exchange.send(payload[i : i + 1])
        return True

    return behave


def trickle_headers(every: float = 0.2) -> Behaviour:
    """The status line and headers one byte every `every` seconds (each read succeeds)."""

    def behave(exchange: Exchange) -> bool:
        payload = exchange.success_body()
        fields = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        answer = head(200, fields) + payload
        for i in range(len(answer)):
            exchange.send(answer[i : i + 1])
            exchange.pause(every)
        return True

    return behave


def endless_body(chunk: int = 64 * 1024) -> Behaviour:
    """A 200 answer whose (chunked) body never ends, sent as fast as the peer reads it."""

    def behave(exchange: Exchange) -> bool:
        fields = [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")]
        exchange.send(head(200, fields))
        piece = b"%x\r\n%s\r\n" % (chunk, b" " * chunk)
        while True:
            exchange.send(piece)  # until the peer hangs up (_Hangup)

    return behave


def endless_interim(every: float = 0.2) -> Behaviour:
    """`102 Processing` interim answers, one every `every` seconds, and never a final one."""

    def behave(exchange: Exchange) -> bool:
        while True:
            exchange.send(b"HTTP/1.1 102 Processing\r\n\r\n")
            exchange.pause(every)

    return behave


def truncated() -> Behaviour:
    """Announce the whole body in Content-Length, send half of it, then close (FIN)."""

    def behave(exchange: Exchange) -> bool:
        payload = exchange.success_body()
        fields = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        exchange.send(head(200, fields) + payload[: len(payload) // 2])
        return False

    return behave


def garbage() -> Behaviour:
    """Something that is not HTTP at all, then close."""

    def behave(exchange: Exchange) -> bool:
        exchange.send(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        return False

    return behave


def too_many_requests(
    retry_after: Literal["seconds", "date"] | None, seconds: int = 1
) -> Behaviour:
    """429, with Retry-After as a delay, as an HTTP-date (`seconds` from now, or up to one
    second more: a date has whole seconds), or without it."""

    def behave(exchange: Exchange) -> bool:
        fields = [("Content-Type", "text/html")]
        not_before: float | None = None
        if retry_after == "date":
            not_before = math.ceil(time.time()) + seconds
            fields.append(("Retry-After", formatdate(not_before, usegmt=True)))
        elif retry_after == "seconds":
            fields.append(("Retry-After", str(seconds)))
            # Taken before sending: the peer cannot have the answer earlier, but it may have it
            # (and count its delay from then) before this thread runs again after the send.
            not_before = time.time() + seconds
        body = b"<html><body>Slow down</body></html>"
        fields.append(("Content-Length", str(len(body))))
        exchange.send(head(429, fields) + body)
        exchange.request.retry_not_before = not_before
        return True

    return behave


# --- The server --------------------------------------------------------------------------------


@dataclass
class _Listener:
    sock: socket.socket
    thread: threading.Thread
    down: threading.Event = field(default_factory=threading.Event)


class MisbehavingServer:
    """See the module docstring. Use as a context manager, or call `start()` and `stop()`."""

    def __init__(self, *, pending: int = 0, interval: int = 0, expires_in: int = 30) -> None:
        self.pending = pending
        self.interval = interval
        self.expires_in = expires_in
        self.requests: list[RecordedRequest] = []
        self.issued_tokens: list[str] = []
        self.connections_opened = 0
        self._port = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._scripts: dict[str, deque[Behaviour]] = {"device": deque(), "token": deque()}
        self._open: dict[int, socket.socket] = {}
        self._threads: list[threading.Thread] = []
        self._listener: _Listener | None = None
        self._refuse_after_device: float | None = None
        self._devices_issued = 0

    # --- the test's side ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def device_url(self) -> str:
        return self.base_url + "/device"

    @property
    def token_url(self) -> str:
        return self.base_url + "/token"

    @property
    def connections_open(self) -> int:
        with self._lock:
            return len(self._open)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def wait_stopping(self, seconds: float) -> bool:
        return self._stopping.wait(seconds)

    def script(self, endpoint: Endpoint, *behaviours: Behaviour, times: int = 1) -> None:
        """The next requests to `endpoint` get these behaviours (the sequence `times` over)."""
        with self._lock:
            self._scripts[endpoint].extend(list(behaviours) * times)

    def refuse(self, endpoint: Endpoint, seconds: float) -> None:
        """Refuse connections for `seconds`: at once for "device", or for "token" right after
        the next device answer (then also dropping the idle keep-alive connection)."""
        if endpoint == "device":
            self._go_down(seconds)
        else:
            with self._lock:
                self._refuse_after_device = seconds

    def requests_to(self, endpoint: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.endpoint == endpoint]

    def wait_until_idle(self, timeout: float = 2.0) -> bool:
        """Whether every connection got closed within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.connections_open and time.monotonic() < deadline:
            time.sleep(_TICK)
        return self.connections_open == 0

    def start(self) -> Self:
        self._listen()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._stop_listening()
        self._drop_connections()
        joined = 0
        while True:  # threads may spawn threads while stopping (come-back timers)
            with self._lock:
                threads = list(self._threads)
            if joined == len(threads):
                break
            for thread in threads[joined:]:
                thread.join(_JOIN_TIMEOUT)
            joined = len(threads)
        alive = [t.name for t in threads if t.is_alive()]
        if alive:
            raise RuntimeError(f"misbehaving server threads would not stop: {alive}")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- normal answers -----------------------------------------------------------------------

    def success_body(self, endpoint: str) -> bytes:
        with self._lock:
            if endpoint == "device":
                self._devices_issued += 1
                answer: dict[str, object] = {
                    "device_code": f"device-code-{self._devices_issued}",
                    "user_code": "WDJB-MJHT",
                    "verification_uri": self.base_url + "/verify",
                    "expires_in": self.expires_in,
                    "interval": self.interval,
                }
            else:
                token = f"token-{len(self.issued_tokens) + 1}"
                self.issued_tokens.append(token)
                answer = {"access_token": token, "token_type": "Bearer", "expires_in": 3600}
        return json.dumps(answer).encode()

    def _normal(self, exchange: Exchange) -> bool:
        endpoint = exchange.request.endpoint
        if endpoint == "token":
            with self._lock:
                pending = self.pending > 0
                self.pending -= pending
            if pending:
                return respond(400, b'{"error": "authorization_pending"}')(exchange)
            return respond()(exchange)
        if endpoint != "device":
            return respond(404, b'{"error": "not_found"}')(exchange)
        keep = respond()(exchange)
        with self._lock:
            refuse_for, self._refuse_after_device = self._refuse_after_device, None
        if refuse_for is not None:
            self._go_down(refuse_for)
            return False
        return keep

    # --- sockets and threads ------------------------------------------------------------------

    def _spawn(self, target: Callable[..., None], name: str, *args: object) -> None:
        thread = threading.Thread(target=target, name=name, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _listen(self) -> None:
        with self._lock:
            if self._stopping.is_set() or self._listener is not None:
                return
            # create_server sets SO_REUSEADDR, so that the port can be taken again after
            # `refuse` even with connections in TIME_WAIT.
            sock = socket.create_server(("127.0.0.1", self._port))
            sock.settimeout(_TICK)
            self._port = sock.getsockname()[1]
            listener = _Listener(sock, threading.Thread())
            listener.thread = threading.Thread(
                target=self._accept_loop, args=(listener,), name="accept", daemon=True
            )
            self._listener = listener
            self._threads.append(listener.thread)
            listener.thread.start()

    def _accept_loop(self, listener: _Listener) -> None:
        with listener.sock:
            while not listener.down.is_set():
                try:
                    conn, _ = listener.sock.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                conn.settimeout(_TICK)
                with self._lock:
                    self.connections_opened += 1
                    number = self.connections_opened
                    self._open[number] = conn
                self._spawn(self._serve, f"connection-{number}", conn, number)

    def _stop_listening(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.down.set()
            if listener.thread is not threading.current_thread():
                listener.thread.join(_JOIN_TIMEOUT)

    def _drop_connections(self, keep: socket.socket | None = None) -> None:
        with self._lock:
            socks = [s for s in self._open.values() if s is not keep]
        for sock in socks:
            with contextlib.suppress(OSError):  # already gone
                sock.shutdown(socket.SHUT_RDWR)

    def _go_down(self, seconds: float) -> None:
        """Stop listening and drop every connection; listen again on the port after `seconds`."""
        self._stop_listening()
        self._drop_connections()

        def come_back() -> None:
            if not self._stopping.wait(seconds):
                self._listen()

        self._spawn(come_back, "come-back")

    def _serve(self, sock: socket.socket, number: int) -> None:
        buffer = bytearray()
        try:
            with sock:
                while True:
                    request = self._read_request(sock, buffer, number)
                    if request is None:
                        return
                    with self._lock:
                        self.requests.append(request)
                        script = self._scripts.get(request.endpoint)
                        behaviour = script.popleft() if script else self._normal
                    keep = behaviour(Exchange(self, sock, request))
                    if not keep:
                        return
        except (_Hangup, OSError):
            return
        finally:
            with self._lock:
                self._open.pop(number, None)

    def _receive(self, sock: socket.socket, buffer: bytearray) -> bool:
        """Read more into `buffer`; False at the end of the connection or when stopping."""
        while not self._stopping.is_set():
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                return False
            buffer += data
            return True
        return False

    def _read_request(
        self, sock: socket.socket, buffer: bytearray, number: int
    ) -> RecordedRequest | None:
        while b"\r\n\r\n" not in buffer:
            if not self._receive(sock, buffer):
                return None
        end = buffer.index(b"\r\n\r\n")
        request_line, *lines = buffer[:end].decode("latin-1").split("\r\n")
        del buffer[: end + 4]
        received_at, received_wall = time.monotonic(), time.time()
        method, target, _ = request_line.split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(buffer) < length:
            if not self._receive(sock, buffer):
                return None
        body = bytes(buffer[:length])
        del buffer[:length]
        return RecordedRequest(method, target, headers, body, number, received_at, received_wall)
