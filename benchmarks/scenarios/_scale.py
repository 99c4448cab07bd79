"""N concurrent async flows in one process sharing one httpx.AsyncClient (used by scale_*.py).

`python scale_X.py N TARGET INTERVAL OUT [DEADLINE]` with TARGET `memory` (a canned in-memory
transport: the client's cost alone, the token comes on the 3rd poll) or a loopback base URL (the
benchmark server in its own process). Flows start spread evenly over one interval;
flows still running after DEADLINE seconds (default 90) are cancelled and counted as not done.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import httpx

MEMORY_BASE = "http://127.0.0.1:9"
POLLS_TO_APPROVE = 3
_PAGE = os.sysconf("SC_PAGE_SIZE")

Flow = Callable[[httpx.AsyncClient, str, str], Awaitable[None]]


class CannedTransport(httpx.AsyncBaseTransport):
    """A minimal in-memory RFC 8628 server: answers cost next to nothing."""

    def __init__(self, interval: int) -> None:
        self.interval = interval
        self.polls: dict[str, list[float]] = {}
        self.created: dict[str, float] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        form = parse_qs((await request.aread()).decode())
        headers = {"Content-Type": "application/json", "Cache-Control": "no-store"}
        if request.url.path.endswith("/device_authorization"):
            code = f"dc{len(self.polls)}"
            self.polls[code] = []
            self.created[code] = time.monotonic()
            body = {
                "device_code": code,
                "user_code": "ABCD-EFGH",
                "verification_uri": f"{MEMORY_BASE}/device",
                "expires_in": 900,
                "interval": self.interval,
            }
            return httpx.Response(200, headers=headers, content=json.dumps(body).encode())
        times = self.polls[form["device_code"][0]]
        times.append(time.monotonic())
        if len(times) >= POLLS_TO_APPROVE:
            body = {"access_token": "at", "token_type": "Bearer", "expires_in": 3600}
            return httpx.Response(200, headers=headers, content=json.dumps(body).encode())
        error = {"error": "authorization_pending"}
        return httpx.Response(400, headers=headers, content=json.dumps(error).encode())


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE


def lateness(
    created: dict[str, float], polls: dict[str, list[float]], interval: float
) -> list[float]:
    """How late each poll came: its gap from the previous request to the same grant, less the
    interval (negative: early)."""
    late: list[float] = []
    for code, times in polls.items():
        previous = created[code]
        for t in times:
            late.append(t - previous - interval)
            previous = t
    return late


def main(flow: Flow) -> None:
    n, target, interval, out = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    deadline = float(sys.argv[5]) if len(sys.argv) > 5 else 90.0
    asyncio.run(_main(flow, n, target, interval, out, deadline))


async def _main(flow: Flow, n: int, target: str, interval: int, out: str, deadline: float) -> None:
    memory = target == "memory"
    canned = CannedTransport(interval) if memory else None
    base = MEMORY_BASE if memory else target
    client = httpx.AsyncClient(
        transport=canned,
        timeout=60.0,
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
    )
    auth_url, token_url = f"{base}/device_authorization", f"{base}/token"
    rss_base = rss()
    peak = rss_base
    done = 0
    failures: list[str] = []

    async def one(delay: float) -> None:
        nonlocal done
        await asyncio.sleep(delay)
        try:
            await flow(client, auth_url, token_url)
            done += 1
        except Exception as error:
            failures.append(repr(error))

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, rss())
            await asyncio.sleep(0.25)

    sampler = asyncio.create_task(sample())
    cpu0, wall0 = time.process_time(), time.monotonic()
    tasks = [asyncio.create_task(one(interval * i / n)) for i in range(n)]
    _, pending = await asyncio.wait(tasks, timeout=deadline)
    for task in pending:  # the client could not keep up: report what it did by the deadline
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    sampler.cancel()
    await client.aclose()
    result: dict[str, Any] = {
        "n": n,
        "done": done,
        "failures": failures[:5],
        "failure_count": len(failures),
        "cpu": cpu,
        "wall": wall,
        "rss_base": rss_base,
        "rss_peak_during": peak,
        "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    if canned is not None:
        result["requests"] = len(canned.polls) + sum(len(t) for t in canned.polls.values())
        result["lateness"] = lateness(canned.created, canned.polls, interval)
    with open(out, "w") as file:
        json.dump(result, file)
