"""A lean RFC 8628 server for the loopback scale runs: asyncio, HTTP/1.1 keep-alive, canned.

The threaded fake server (server.py, a thread per connection) cannot serve the 2,000 requests/s
of 10,000 flows polling every 5 s on this machine; this one answers the same way the in-memory
transport of scenarios/_scale.py does (a device code, then `authorization_pending` until the
3rd poll, then a token) at a few tens of µs a request, so that the client is what is measured.

Protocol on stdin/stdout as server.py: prints `READY <base_url>`, then answers `stats` (one JSON
line: connections, requests, and per grant its creation and poll times), `reset` and `quit`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from typing import Any
from urllib.parse import parse_qs

POLLS_TO_APPROVE = 3
JSON_HEADERS = b"Content-Type: application/json\r\nCache-Control: no-store\r\n"


class State:
    def __init__(self, interval: int) -> None:
        self.interval = interval
        self.connections = 0
        self.requests = 0
        self.created: dict[str, float] = {}
        self.polls: dict[str, list[float]] = {}

    def answer(self, path: str, body: bytes) -> tuple[int, bytes]:
        self.requests += 1
        form = parse_qs(body.decode())
        if path.endswith("/device_authorization"):
            code = f"dc{len(self.created)}"
            self.created[code] = time.monotonic()
            self.polls[code] = []
            return 200, json.dumps(
                {
                    "device_code": code,
                    "user_code": "ABCD-EFGH",
                    "verification_uri": "http://127.0.0.1/device",
                    "expires_in": 900,
                    "interval": self.interval,
                }
            ).encode()
        times = self.polls[form["device_code"][0]]
        times.append(time.monotonic())
        if len(times) >= POLLS_TO_APPROVE:
            token = {"access_token": "at", "token_type": "Bearer", "expires_in": 3600}
            return 200, json.dumps(token).encode()
        return 400, b'{"error": "authorization_pending"}'

    def stats(self) -> dict[str, Any]:
        grants = [
            {"created_at": created, "poll_times": self.polls[code], "interval": self.interval}
            for code, created in self.created.items()
        ]
        return {"connections_opened": self.connections, "requests": self.requests, "grants": grants}


class Connection(asyncio.Protocol):
    def __init__(self, state: State) -> None:
        self.state = state
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.state.connections += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1").split("\r\n")
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            status, content = self.state.answer(head[0].split(" ")[1], body)
            reason = b"OK" if status == 200 else b"Bad Request"
            assert self.transport is not None
            self.transport.write(
                b"HTTP/1.1 %d %s\r\n%sContent-Length: %d\r\n\r\n%s"
                % (status, reason, JSON_HEADERS, len(content), content)
            )


async def main() -> None:
    interval = int(sys.argv[sys.argv.index("--interval") + 1]) if "--interval" in sys.argv else 5
    state = State(interval)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(state), "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print("READY", f"http://127.0.0.1:{port}", flush=True)
    done = asyncio.Event()

    def command(line: str) -> None:
        if line == "stats":
            print(json.dumps(state.stats()), flush=True)
        elif line == "reset":
            state.__init__(state.interval)  # type: ignore[misc]
            print("OK", flush=True)
        elif line in ("quit", ""):
            done.set()

    def read_commands() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(command, line.strip())
        loop.call_soon_threadsafe(command, "")

    threading.Thread(target=read_commands, daemon=True).start()
    await done.wait()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
