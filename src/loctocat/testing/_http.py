"""Serve a fake authorization server over real HTTP/1.1 on loopback, in background threads."""

from __future__ import annotations

import contextlib
import select
import socket
import socketserver
import sys
import threading
import traceback
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ._types import Answer

__all__ = ["HTTPRunner"]

_MAX_LINE = 65536


class _App(Protocol):
    def _serve_request(
        self, method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> Answer: ...

    def _count_connection(self) -> None: ...


class _BadRequest(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: connections stay open between requests
    # Answers go out at once: with Nagle's algorithm a client's delayed ACK adds ~40 ms.
    disable_nagle_algorithm = True
    # An idle keep-alive connection gives up after this long, so no thread can linger forever.
    timeout = 5.0
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests want quiet output; `requests` on the fake server records everything

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except _BadRequest as error:
            self.send_error(400, str(error))
            return
        url = f"http://127.0.0.1:{self.server.server_port}{self.path}"
        try:
            answer = self.server.app._serve_request(self.command, url, self.headers.items(), body)
        except Exception:
            # A bug in the fake server: show it to the client instead of a silent hang.
            text = traceback.format_exc().encode()
            self._send(500, [("Content-Type", "text/plain; charset=utf-8")], text)
            return
        if answer.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(answer.status, answer.headers, answer.body)

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            size = int(length)
        except ValueError:
            raise _BadRequest("invalid Content-Length") from None
        if size < 0:
            raise _BadRequest("invalid Content-Length")
        return self.rfile.read(size)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            line = self.rfile.readline(_MAX_LINE)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadRequest("invalid chunk size") from None
            if size == 0:
                while self.rfile.readline(_MAX_LINE) not in (b"\r\n", b"\n", b""):
                    pass  # trailers carry nothing the fake server needs
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(_MAX_LINE)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The stdlib does not join daemon handler threads; `join_handlers` does it instead.
    block_on_close = False

    def __init__(self, app: _App, port: int = 0) -> None:
        self.app = app
        self._handlers_lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._handlers: set[threading.Thread] = set()
        super().__init__(("127.0.0.1", port), _Handler)

    def process_request(self, request: socketserver._RequestType, client_address: Any) -> None:
        self.app._count_connection()
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"loctocat-fake-auth-connection:{self.server_port}",
            daemon=True,
        )
        with self._handlers_lock:
            self._handlers = {t for t in self._handlers if t.is_alive()}
            self._handlers.add(thread)
            if isinstance(request, socket.socket):
                self._open.add(request)
        thread.start()

    def shutdown_request(self, request: socketserver._RequestType) -> None:
        if isinstance(request, socket.socket):
            with self._handlers_lock:
                self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: socketserver._RequestType, client_address: Any) -> None:
        # Clients hanging up, and our own shutdown closing sockets, are normal here.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def count_open(self) -> int:
        """Accepted connections that neither side has closed yet.

        A socket leaves `_open` when its handler ends (`shutdown_request`). A client that has
        hung up is not counted even before its handler thread has noticed: a poll with timeout
        0 reports the peer's FIN (POLLRDHUP, Linux) or a reset (POLLHUP, POLLERR) without
        reading anything. Where `select.poll` is missing (Windows), handlers ending is all
        that counts.
        """
        with self._handlers_lock:
            open_sockets = list(self._open)
        if not hasattr(select, "poll"):
            return len(open_sockets)
        rdhup: int = getattr(select, "POLLRDHUP", 0)
        gone = rdhup | select.POLLHUP | select.POLLERR | select.POLLNVAL
        count = 0
        for sock in open_sockets:
            poller = select.poll()
            try:
                poller.register(sock, rdhup)
                events = poller.poll(0)
            except (OSError, ValueError):
                continue  # closed since the copy was taken
            if not any(mask & gone for _, mask in events):
                count += 1
        return count

    def close_connections(self) -> None:
        """Wake every handler thread blocked on a keep-alive connection, so they can finish."""
        with self._handlers_lock:
            open_sockets = list(self._open)
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def join_handlers(self) -> None:
        """Wait for the connection threads (each ends within its socket timeout anyway)."""
        with self._handlers_lock:
            handlers = list(self._handlers)
        for thread in handlers:
            thread.join()


class HTTPRunner:
    """A loopback HTTP server for `app`, running until `stop()`."""

    def __init__(self, app: _App, port: int = 0) -> None:
        self._server = _Server(app, port)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            # A short poll makes shutdown() return quickly.
            kwargs={"poll_interval": 0.05},
            name=f"loctocat-fake-auth-server:{self._server.server_port}",
            daemon=True,
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>`."""
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def connections_open(self) -> int:
        """TCP connections accepted and not yet closed by the client or the server."""
        return self._server.count_open()

    def stop(self) -> None:
        """Stop accepting, close open connections and join every thread."""
        self._server.shutdown()
        self._thread.join()
        self._server.close_connections()
        self._server.join_handlers()
        self._server.server_close()
