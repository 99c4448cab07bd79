"""A real `redis-server` for the tests: on a free loopback port, in a directory of its own, with
an append-only file (so that what it stored survives a restart), started and stopped here.

`require_redis_server()` skips a test when redis-server is missing, and fails it instead when
`LOCTOCAT_REQUIRE_REDIS=1` (as `make test` sets: there the Makefile installs it).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from loctocat.store import RedisTokenStore

__all__ = ["RedisServer", "assert_no_lock_held", "require_redis_server", "unique_prefix"]


def require_redis_server() -> str:
    """Path of `redis-server`; skips (or fails, see above) without it."""
    path = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )
    if path is None:
        if os.environ.get("LOCTOCAT_REQUIRE_REDIS") == "1":
            pytest.fail("redis-server is missing (LOCTOCAT_REQUIRE_REDIS=1)", pytrace=False)
        pytest.skip("redis-server is missing (apt-get install redis-server)")
    return path


def unique_prefix() -> str:
    """A key prefix no other test uses, so tests can share one server."""
    return f"test-{uuid.uuid4().hex[:12]}:"


def assert_no_lock_held(store: RedisTokenStore) -> None:
    """Fails if `store` still holds a lock: its renewal would go on every lock_ttl / 3 for as
    long as the test process lives, long after the test (and perhaps its Redis) has ended."""
    held = [lock.name for lock in store._renewal._held if lock.token is not None]
    assert held == [], f"the test left Redis locks held: {held}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One redis-server process; `stop()` and `start()` again keep its port and its data."""

    def __init__(self, directory: Path, *, password: str | None = None) -> None:
        self.executable = require_redis_server()
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.password = password
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its URL, with the password in it when it has one."""
        credentials = f":{self.password}@" if self.password else ""
        return f"redis://{credentials}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.process is None, "already running"
        self.process = subprocess.Popen(
            [
                self.executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                # Every write on disk before it is acknowledged; no snapshots.
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--protected-mode",
                "yes",
                "--logfile",
                str(self.directory / "redis.log"),
                *(["--requirepass", self.password] if self.password else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while not self.ping():
            if self.process.poll() is not None:
                assert self.process.stderr is not None
                log = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited: {self.process.stderr.read()!r} {log}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("redis-server did not answer PING within 10 s")
            time.sleep(0.02)

    def ping(self) -> bool:
        """Whether the server answers PING (with a raw socket: no client state to clean up)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                if self.password:
                    sock.sendall(f"AUTH {self.password}\r\n".encode())
                    if not sock.recv(64).startswith(b"+OK"):
                        return False
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop it as an administrator would (SIGTERM: it writes its data and exits)."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        if self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
