"""The benchmark's authorization server: loctocat's fake server on loopback, in its own process.

Started by run.py. Prints `READY <base_url>` on stdout, then reads commands on stdin, one a line:
`stats` prints one JSON line (connections, and per grant its creation, approval and poll times),
`reset` forgets every grant, `quit` stops. Grants are approved automatically `--approve-after`
seconds after they are created (the "user" approving), by a thread that wakes every 2 ms.

Two departures from the stock fake server, both for the comparison libraries only:
- parameters sent in the query string (loctocat 1.0.3 sends them there) are moved to the form
  body, since the fake server is strict about RFC 6749 and would refuse them;
- the idle keep-alive timeout is raised from 5 s to 60 s (polls 5 s apart must not race it);
- TCP_NODELAY on its sockets (see `main`).
"""

from __future__ import annotations

import argparse
import heapq
import json
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from loctocat.testing import FakeAuthorizationServer
from loctocat.testing import _http as fake_http
from loctocat.testing._server import Answer


class BenchServer(FakeAuthorizationServer):
    def __init__(self, approve_after: float, **options: Any) -> None:
        super().__init__(**options)
        self.approve_after = approve_after
        self.approved_at: dict[str, float] = {}
        self._due: list[tuple[float, str]] = []
        self._due_lock = threading.Lock()
        self._stop = threading.Event()
        threading.Thread(target=self._approver, daemon=True).start()

    def _new_grant(self, client_id: str, scope: str | None) -> Any:
        grant = super()._new_grant(client_id, scope)
        with self._due_lock:
            heapq.heappush(self._due, (grant.created_at + self.approve_after, grant.user_code))
        return grant

    def _approver(self) -> None:
        while not self._stop.wait(0.002):
            now = time.monotonic()
            ready: list[str] = []
            with self._due_lock:
                while self._due and self._due[0][0] <= now:
                    ready.append(heapq.heappop(self._due)[1])
            for code in ready:
                try:
                    with self._lock:
                        if self.grant(code).status == "pending":
                            self.approve(code)
                            self.approved_at[code] = time.monotonic()
                except LookupError:
                    pass  # forgotten by `reset`

    def _serve_request(
        self, method: str, url: str, headers: Iterable[tuple[str, str]] | httpx.Headers, body: bytes
    ) -> Answer:
        parts = urlsplit(url)
        if parts.query:
            body = parts.query.encode() + (b"&" + body if body else b"")
            headers = [
                (k, v) for k, v in headers if k.lower() not in ("content-type", "content-length")
            ]
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))
            url = urlunsplit(parts._replace(query=""))
        return super()._serve_request(method, url, headers, body)

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._grants.clear()
            self._by_device_code.clear()
            self._by_user_code.clear()
            self._device_answers.clear()
            self._issued.clear()
            self._access_tokens.clear()
            self._live_refresh_tokens.clear()
            self._connections_opened = 0
            self.approved_at.clear()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            grants = [
                {
                    "user_code": g.user_code,
                    "created_at": g.created_at,
                    "approved_at": self.approved_at.get(g.user_code),
                    "poll_times": list(g.poll_times),
                    "status": g.status,
                    "interval": g.interval,
                }
                for g in self._grants
            ]
            return {
                "connections_opened": self._connections_opened,
                "requests": len(self._requests),
                "grants": grants,
            }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--interval", type=int, default=1)
    parser.add_argument("--approve-after", type=float, default=2.5)
    args = parser.parse_args()
    fake_http._Handler.timeout = 60.0
    # http.server writes a response's headers and body separately; without TCP_NODELAY the
    # body waits for the client's delayed ACK (40 ms on Linux) once a busy connection leaves
    # quick-ACK mode, which would show up as poll lateness that is the server's doing.
    fake_http._Handler.disable_nagle_algorithm = True
    server = BenchServer(
        approve_after=args.approve_after,
        interval=args.interval,
        client_id="bench-client",
        issue_refresh_token=False,
    )
    with server.serve_http() as base_url:
        print("READY", base_url, flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                print(json.dumps(server.stats()), flush=True)
            elif command == "reset":
                server.reset()
                print("OK", flush=True)
            elif command == "quit":
                break
        server._stop.set()


if __name__ == "__main__":
    main()
