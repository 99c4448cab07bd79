"""Compression bombs at every endpoint: the size cap holds for the decoded bytes, in bounded memory.

A loopback server answers one path with a bomb and every other with a sound answer, so that each
operation (device request, polling, refresh, revocation, discovery) reaches the path it attacks.
Python's own allocations are traced (zlib's output buffers are Python bytes): the peak stays within
a few MiB of the 256 KiB cap, where inflating the stacked bomb whole would take 256 MiB. A
revocation's 200 answer has no meaning (RFC 7009 §2.2), so its body is never decoded: the bomb
there is harmless and the logout succeeds.
"""

from __future__ import annotations

import functools
import gzip
import http.server
import json
import threading
import tracemalloc
import zlib
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from loctocat import AsyncAuthenticator, Authenticator, ProtocolError, Token
from loctocat._flow import MAX_BODY_BYTES
from loctocat.store import MemoryTokenStore

pytestmark = pytest.mark.timeout(60)

#: How far above the cap the traced peak may go: buffers, httpx's own, the test's bookkeeping.
PEAK_ALLOWANCE = 4 * 1024 * 1024


@functools.cache
def stacked_bomb() -> bytes:
    """gzip inside gzip, 590 bytes: 256 MiB once both layers are undone."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    spaces = b" " * (1 << 20)
    inner = b"".join(deflater.compress(spaces) for _ in range(256)) + deflater.flush()
    return gzip.compress(inner, compresslevel=9)


@functools.cache
def single_bomb() -> bytes:
    """One gzip layer, about 64 KiB on the wire (under the cap): 64 MiB once undone."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    spaces = b" " * (1 << 20)
    return b"".join(deflater.compress(spaces) for _ in range(64)) + deflater.flush()


BOMBS = {
    "gzip, gzip": (stacked_bomb, "gzip, gzip", "only one layer of gzip or deflate"),
    "gzip": (single_bomb, "gzip", f"larger than {MAX_BODY_BYTES} bytes once decompressed"),
}


class BombServer:
    """Answers `bombed_path` with the bomb; the device, token and metadata paths soundly."""

    def __init__(self, bombed_path: str, body: bytes, encoding: str) -> None:
        self.bombed_path = bombed_path
        self.body = body
        self.encoding = encoding
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._answer()

            def _answer(self) -> None:
                path = self.path.split("?")[0]
                if path == outer.bombed_path:
                    body, headers = outer.body, [("Content-Encoding", outer.encoding)]
                else:
                    body, headers = json.dumps(outer.sound(path)).encode(), []
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def sound(self, path: str) -> dict[str, object]:
        if path == "/device":
            return {
                "device_code": "d",
                "user_code": "U",
                "verification_uri": f"{self.url}/verify",
                "expires_in": 60,
                "interval": 0,
            }
        if path == "/.well-known/openid-configuration":
            return {
                "issuer": self.url,
                "device_authorization_endpoint": f"{self.url}/device",
                "token_endpoint": f"{self.url}/token",
                "revocation_endpoint": f"{self.url}/revoke",
            }
        return {"access_token": "a", "token_type": "Bearer"}

    def __enter__(self) -> BombServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def expired_token() -> Token:
    return Token("old", refresh_token="r", expires_at=datetime.now(UTC) - timedelta(hours=1))


def options(server: BombServer) -> dict[str, Any]:
    store = MemoryTokenStore()
    return {
        "client_id": "client-1",
        "auth_url": f"{server.url}/device",
        "token_url": f"{server.url}/token",
        "revocation_url": f"{server.url}/revoke",
        "min_interval": 0.01,
        "request_timeout": 20,
        "store": store,
    }


def with_stored_token(auth: Authenticator) -> Authenticator:
    assert auth.store is not None
    auth.store.save(auth.store_key(), expired_token())
    return auth


# What each endpoint's operation is, and the path it reaches last (the one that is bombed).
SYNC_OPERATIONS: dict[str, tuple[str, Callable[[BombServer], object]]] = {
    "device": ("/device", lambda s: Authenticator(**options(s)).ping()),
    "token": ("/token", lambda s: Authenticator(**options(s)).authenticate(prompt=_Quiet())),
    "refresh": ("/token", lambda s: with_stored_token(Authenticator(**options(s))).get_token()),
    "revocation": ("/revoke", lambda s: with_stored_token(Authenticator(**options(s))).logout()),
    "discovery": (
        "/.well-known/openid-configuration",
        lambda s: Authenticator.from_issuer(s.url, "client-1"),
    ),
}


async def _async_token(s: BombServer) -> object:
    return await AsyncAuthenticator(**options(s)).authenticate(prompt=_Quiet())


async def _async_refresh(s: BombServer) -> object:
    auth = AsyncAuthenticator(**options(s))
    with_stored_token(auth)
    return await auth.get_token()


async def _async_revocation(s: BombServer) -> object:
    auth = AsyncAuthenticator(**options(s))
    with_stored_token(auth)
    return await auth.logout()


ASYNC_OPERATIONS: dict[str, tuple[str, Callable[[BombServer], Awaitable[object]]]] = {
    "device": ("/device", lambda s: AsyncAuthenticator(**options(s)).ping()),
    "token": ("/token", _async_token),
    "refresh": ("/token", _async_refresh),
    "revocation": ("/revoke", _async_revocation),
    "discovery": (
        "/.well-known/openid-configuration",
        lambda s: AsyncAuthenticator.from_issuer(s.url, "client-1"),
    ),
}


class _Quiet:
    """A prompt that shows nothing."""

    def show_code(self, auth_info: object) -> None: ...
    def start_waiting(self) -> None: ...
    def succeeded(self, token: object) -> None: ...
    def failed(self, error: BaseException) -> None: ...
    def close(self) -> None: ...


@pytest.fixture(autouse=True)
def _no_cached_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    import loctocat.auth

    monkeypatch.setattr(loctocat.auth, "_discovered", {})


@pytest.fixture
def traced() -> Iterator[Callable[[], int]]:
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        yield lambda: tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("bomb", list(BOMBS))
@pytest.mark.parametrize("operation", list(SYNC_OPERATIONS))
def test_sync_bomb_is_refused_in_bounded_memory(
    operation: str, bomb: str, traced: Callable[[], int]
) -> None:
    path, run = SYNC_OPERATIONS[operation]
    make, encoding, message = BOMBS[bomb]
    with BombServer(path, make(), encoding) as server:
        tracemalloc.reset_peak()
        if operation == "revocation":
            assert run(server) is True
        else:
            with pytest.raises(ProtocolError, match=message):
                run(server)
        peak = traced()
    assert peak < MAX_BODY_BYTES + PEAK_ALLOWANCE, f"peak {peak / 2**20:.1f} MiB"


@pytest.mark.anyio
@pytest.mark.parametrize("bomb", list(BOMBS))
@pytest.mark.parametrize("operation", list(ASYNC_OPERATIONS))
async def test_async_bomb_is_refused_in_bounded_memory(
    operation: str, bomb: str, traced: Callable[[], int]
) -> None:
    path, run = ASYNC_OPERATIONS[operation]
    make, encoding, message = BOMBS[bomb]
    with BombServer(path, make(), encoding) as server:
        tracemalloc.reset_peak()
        if operation == "revocation":
            assert await run(server) is True
        else:
            with pytest.raises(ProtocolError, match=message):
                await run(server)
        peak = traced()
    assert peak < MAX_BODY_BYTES + PEAK_ALLOWANCE, f"peak {peak / 2**20:.1f} MiB"


def test_a_client_whose_hook_reads_the_body_still_refuses_a_stacked_coding() -> None:
    """httpx has then undone every layer itself; the coding is refused all the same."""
    import httpx

    def read(response: httpx.Response) -> None:
        response.read()

    bomb = gzip.compress(gzip.compress(b'{"access_token": "a"}'))
    with (
        BombServer("/device", bomb, "gzip, gzip") as server,
        httpx.Client(event_hooks={"response": [read]}) as client,
        pytest.raises(ProtocolError, match="only one layer of gzip or deflate"),
    ):
        Authenticator(**{**options(server), "http_client": client}).ping()
