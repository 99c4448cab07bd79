"""Cancellation and Ctrl+C stop a flow at once and leave no connection or socket behind.

Two moments are interrupted: while loctocat sleeps between polls (the fake server answered
`slow_down`, so the next poll is 5 s away), and while a poll is in flight to a server that
never answers (`SilentServer`, below: the fake server always answers at once). The latency is
measured from the cancel call (or the deadline) to the moment the flow's caller regains
control, and must be under 100 ms. Then every TCP connection must be closed, on both servers,
and no socket may be left for the garbage collector (ResourceWarning).
"""

from __future__ import annotations

import asyncio
import gc
import selectors
import signal
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import httpx
import pytest

from loctocat import AsyncAuthenticator, Authenticator
from loctocat.testing import FakeAuthorizationServer

Phase = Literal["sleeping", "in_flight"]
PHASES: list[Phase] = ["sleeping", "in_flight"]

#: What "stops polling at once" (docs/async.md) means here, from the cancel call to the return.
#: Returns take a few ms, so a miss is a stall worth a look, not noise to widen the bound for.
MAX_CANCEL_LATENCY = 0.1
#: How long the servers may take to notice that the client closed its sockets.
CLOSE_GRACE = 1.0


# --- a server that never answers ------------------------------------------------------------------


class SilentServer:
    """A loopback TCP server that accepts connections and reads requests, but never answers.

    `connections_open` counts the connections the client has not closed yet: the server
    closes its side as soon as it reads the client's end of stream.
    """

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._lock = threading.Lock()
        self._connections: dict[socket.socket, bytearray] = {}
        self._accepted = 0
        self._stopping = threading.Event()
        #: Set once the headers of a request have arrived.
        self.request_received = threading.Event()
        self._thread = threading.Thread(target=self._run, name="silent-server", daemon=True)
        self._thread.start()

    @property
    def token_url(self) -> str:
        port = self._listener.getsockname()[1]
        return f"http://127.0.0.1:{port}/token"

    @property
    def connections_open(self) -> int:
        with self._lock:
            return len(self._connections)

    @property
    def connections_accepted(self) -> int:
        with self._lock:
            return self._accepted

    def _run(self) -> None:
        while not self._stopping.is_set():
            for key, _ in self._selector.select(timeout=0.01):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self._listener:
                    self._accept()
                else:
                    self._read(sock)

    def _accept(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        with self._lock:
            self._connections[conn] = bytearray()
            self._accepted += 1
        self._selector.register(conn, selectors.EVENT_READ)

    def _read(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            with self._lock:
                received = self._connections[conn]
                received += data
            if b"\r\n\r\n" in received:
                self.request_received.set()
            return
        self._selector.unregister(conn)
        with self._lock:
            del self._connections[conn]
        conn.close()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()
        with self._lock:
            connections, self._connections = list(self._connections), {}
        for conn in connections:
            conn.close()
        self._selector.close()
        self._listener.close()


# --- scenes: a flow brought to the moment where it is interrupted ---------------------------------


@dataclass
class Scene:
    phase: Phase
    server: FakeAuthorizationServer
    silent: SilentServer

    def reached(self) -> bool:
        """Whether the flow is at the moment to interrupt it."""
        if self.phase == "in_flight":
            return self.silent.request_received.is_set()
        grants = self.server.grants
        return bool(grants) and grants[-1].poll_count >= 1

    def options(self) -> dict[str, Any]:
        """Authenticator arguments that bring a flow to this scene's moment."""
        token_url = self.silent.token_url if self.phase == "in_flight" else self.server.token_url
        return {
            "client_id": "client-1",
            "auth_url": self.server.device_authorization_url,
            "token_url": token_url,
            # The first poll comes at once; after the fake server's slow_down the next one is
            # 5 s away. `timeout` ends a flow that was never interrupted instead of hanging.
            "min_interval": 0.01,
            "timeout": 8,
        }

    def connections_open(self) -> int:
        return self.server.connections_open + self.silent.connections_open


@pytest.fixture(params=PHASES)
def scene(request: pytest.FixtureRequest) -> Iterator[Scene]:
    server = FakeAuthorizationServer(interval=0)
    server.plan("slow_down", "pending")
    silent = SilentServer()
    try:
        with server.serve_http():
            yield Scene(request.param, server, silent)
    finally:
        silent.stop()


def settle_after_reaching(scene: Scene) -> float:
    """Seconds to wait once the moment is reached: the slow_down answer must be read first."""
    return 0.1 if scene.phase == "sleeping" else 0.02


def wait_until_closed(count: Callable[[], int]) -> float:
    """Wait for `count()` to reach 0 (up to CLOSE_GRACE); returns how long it took."""
    started = time.monotonic()
    while count() and time.monotonic() - started < CLOSE_GRACE:
        time.sleep(0.005)
    return time.monotonic() - started


def collect_unraisable() -> list[str]:
    """Run the garbage collector with ResourceWarning as an error; return what it raised.

    A warning raised in `__del__` cannot propagate: Python hands it to `sys.unraisablehook`,
    so the hook is replaced while collecting.
    """
    caught: list[str] = []

    def hook(unraisable: Any) -> None:
        caught.append(f"{unraisable.exc_type.__name__}: {unraisable.exc_value}")

    previous = sys.unraisablehook
    sys.unraisablehook = hook
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            for _ in range(3):
                gc.collect()
    finally:
        sys.unraisablehook = previous
    return caught


def check_clean_end(scene: Scene, latency: float, name: str) -> None:
    print(f"{name}: {latency * 1000:.1f} ms from cancel to return")  # shown with -s or -rP
    assert scene.reached(), "the flow was interrupted before the intended moment"
    if scene.phase == "in_flight":
        assert scene.silent.connections_accepted == 1
    assert latency < MAX_CANCEL_LATENCY, f"{name}: returned {latency * 1000:.1f} ms after cancel"
    waited = wait_until_closed(scene.connections_open)
    to_fake, to_silent = scene.server.connections_open, scene.silent.connections_open
    assert (to_fake, to_silent) == (0, 0), (
        f"{name}: {to_fake} connection(s) to the fake server and {to_silent} to the silent "
        f"one still open after {waited:.2f} s"
    )
    assert collect_unraisable() == []


async def wait_for(scene: Scene) -> None:
    with anyio.fail_after(5):
        while not scene.reached():
            await anyio.sleep(0.002)
    await anyio.sleep(settle_after_reaching(scene))


async def pinged(scene: Scene) -> AsyncAuthenticator:
    auth = AsyncAuthenticator(**scene.options())
    await auth.ping()
    return auth


# --- the helpers can fail -------------------------------------------------------------------------


def test_a_leaked_socket_is_reported_by_the_collector_check() -> None:
    leak: list[Any] = [socket.socket()]
    leak.append(leak)  # a cycle: only the collector frees it, inside collect_unraisable()
    del leak
    caught = collect_unraisable()
    assert len(caught) == 1
    assert caught[0].startswith("ResourceWarning: unclosed <socket.socket")


def test_connections_open_counts_live_connections_only() -> None:
    server = FakeAuthorizationServer(interval=0)
    assert server.connections_open == 0  # not serving: nothing can be open
    with server.serve_http():
        with httpx.Client() as client:
            client.post(server.device_authorization_url, data={"client_id": "c"})
            client.post(server.device_authorization_url, data={"client_id": "c"})
            assert server.connections_open == 1  # keep-alive: one connection, still open
            raw = socket.create_connection(("127.0.0.1", int(server.base_url.rsplit(":", 1)[1])))
            try:
                deadline = time.monotonic() + CLOSE_GRACE
                while server.connections_open < 2 and time.monotonic() < deadline:
                    time.sleep(0.005)
                assert server.connections_open == 2
            finally:
                raw.close()
            wait_until_closed(lambda: server.connections_open - 1)
            assert server.connections_open == 1
        wait_until_closed(lambda: server.connections_open)
        assert server.connections_open == 0
        assert server.connections_opened == 2
        with httpx.Client() as client:
            client.post(server.device_authorization_url, data={"client_id": "c"})
            server.stop_http()  # the server closes its side first
            assert server.connections_open == 0


def test_the_silent_server_never_answers_and_sees_the_client_leave() -> None:
    silent = SilentServer()
    try:
        with (
            httpx.Client(timeout=0.2) as client,
            pytest.raises(httpx.ReadTimeout),
        ):
            client.post(silent.token_url, data={"a": "b"})
        assert silent.request_received.is_set()
        wait_until_closed(lambda: silent.connections_open)
        assert silent.connections_open == 0
        assert silent.connections_accepted == 1
    finally:
        silent.stop()


# --- async: asyncio task.cancel() and asyncio.timeout() -------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_asyncio_task_cancel(scene: Scene) -> None:
    auth = await pinged(scene)
    task = asyncio.create_task(auth.poll())
    await wait_for(scene)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    latency = time.monotonic() - started
    assert auth._transport._own_client is None
    check_clean_end(scene, latency, f"asyncio task.cancel() [{scene.phase}]")


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_asyncio_timeout(scene: Scene) -> None:
    auth = await pinged(scene)
    loop = asyncio.get_running_loop()
    ended: list[float] = []
    # Well after the moment is reached (tens of ms), well before the 5 s sleep ends.
    timed_out = False
    try:
        async with asyncio.timeout(0.4) as timeout:
            try:
                await auth.poll()
            finally:
                ended.append(loop.time())
    except TimeoutError:
        timed_out = True
    assert timed_out
    assert timeout.expired()
    assert auth._transport._own_client is None
    deadline = timeout.when()
    assert deadline is not None
    check_clean_end(scene, ended[0] - deadline, f"asyncio.timeout() [{scene.phase}]")


# --- async: anyio cancel scopes, under asyncio and trio -------------------------------------------


@pytest.mark.anyio
async def test_anyio_move_on_after(scene: Scene, anyio_backend: str) -> None:
    auth = await pinged(scene)
    with anyio.move_on_after(0.4) as scope:
        await auth.poll()
    ended = anyio.current_time()
    assert scope.cancelled_caught
    assert auth._transport._own_client is None
    check_clean_end(scene, ended - scope.deadline, f"move_on_after {anyio_backend} [{scene.phase}]")


@pytest.mark.anyio
async def test_anyio_cancel_scope_cancel(scene: Scene, anyio_backend: str) -> None:
    auth = await pinged(scene)
    started: list[float] = []

    async def cancel_when_reached(scope: anyio.CancelScope) -> None:
        await wait_for(scene)
        started.append(time.monotonic())
        scope.cancel()

    async with anyio.create_task_group() as tasks:
        with anyio.CancelScope() as scope:
            tasks.start_soon(cancel_when_reached, scope)
            await auth.poll()
        latency = time.monotonic() - started[0]
    assert scope.cancelled_caught
    assert auth._transport._own_client is None
    check_clean_end(scene, latency, f"CancelScope.cancel() {anyio_backend} [{scene.phase}]")


# --- sync: Ctrl+C ---------------------------------------------------------------------------------


def test_ctrl_c_stops_a_sync_flow(scene: Scene) -> None:
    auth = Authenticator(**scene.options())
    auth.ping()
    sent: list[float] = []

    def press_ctrl_c() -> None:
        deadline = time.monotonic() + 5
        while not scene.reached():
            if time.monotonic() > deadline:
                return  # the flow ends by itself (timeout=8) and the test fails below
            time.sleep(0.002)
        time.sleep(settle_after_reaching(scene))
        sent.append(time.monotonic())
        # What Ctrl+C does: SIGINT, handled in the main thread, which is inside poll().
        main = threading.main_thread().ident
        assert main is not None
        signal.pthread_kill(main, signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            auth.poll()
        ended = time.monotonic()
    finally:
        presser.join()
    assert auth._transport._own_client is None
    check_clean_end(scene, ended - sent[0], f"Ctrl+C sync [{scene.phase}]")
