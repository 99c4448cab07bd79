"""A separate process for the FileTokenStore tests: run as `python store_worker.py MODE ...`.

Modes (every one prints a JSON line to stdout when done):

- ``save-many PATH PREFIX COUNT``: once told to go, save COUNT keys PREFIX-0, ...
- ``refresh PATH KEY ALWAYS``: once told to go, hold `store.lock(KEY)` around
  load -> (if ALWAYS is "1" or the token is expired: sleep 0.3 s, save it with
  `refresh_count` + 1). Prints when it asked for, got and released the lock.
- ``hold STORE KEY``: hold `store.lock(KEY)`, print "HELD", and keep it until a line (or
  end of file) arrives on stdin. STORE is a token file path, or ``keyring:SERVICE`` for a
  `KeyringTokenStore` (its lock file is under ``$XDG_CACHE_HOME``; the keychain is not used).
- ``slow-write PATH KEY SIZE``: save a token of SIZE characters, but `os.write` writes only
  half of it, prints "HALF-WRITTEN", and then hangs, so the test can SIGKILL this process in
  the middle of writing the temp file.

"Told to go": save-many and refresh print "READY" once set up and start at the next line on
stdin, so that processes started together really compete, however long each took to start.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from loctocat._models import Token
from loctocat.store import FileTokenStore, KeyringTokenStore, TokenStore


def wait_for_go() -> None:
    print("READY", flush=True)
    sys.stdin.readline()


def save_many(path: str, prefix: str, count: str) -> None:
    store = FileTokenStore(path)
    wait_for_go()
    for i in range(int(count)):
        store.save(f"{prefix}-{i}", Token(access_token=f"{prefix}-token-{i}"))
    print(json.dumps({"saved": int(count)}))


def refresh(path: str, key: str, always: str) -> None:
    store = FileTokenStore(path)
    wait_for_go()
    requested = time.time()
    with store.lock(key):
        entered = time.time()
        token = store.load(key)
        assert token is not None
        refreshed = always == "1" or token.is_expired()
        if refreshed:
            time.sleep(0.3)  # the refresh request to the server
            count = token.extra.get("refresh_count", 0) + 1
            fresh = Token(
                access_token=f"access-{count}",
                expires_at=datetime.now(UTC) + timedelta(hours=1),
                extra={"refresh_count": count},
            )
            store.save(key, fresh)
        exited = time.time()
    print(
        json.dumps(
            {"requested": requested, "entered": entered, "exited": exited, "refreshed": refreshed}
        )
    )


def hold(where: str, key: str) -> None:
    store: TokenStore
    if where.startswith("keyring:"):
        store = KeyringTokenStore(where.removeprefix("keyring:"))
    else:
        store = FileTokenStore(where)
    with store.lock(key):
        print("HELD", flush=True)
        sys.stdin.readline()
    print(json.dumps({"released": True}))


def slow_write(path: str, key: str, size: str) -> None:
    real_write = os.write

    def half_then_hang(fd: int, data: Any) -> int:
        if len(data) < int(size):
            return real_write(fd, data)
        written = real_write(fd, data[: len(data) // 2])
        os.fsync(fd)
        print("HALF-WRITTEN", flush=True)
        time.sleep(60)  # killed here by the test
        return written

    os.write = half_then_hang  # every write of this process goes through it
    FileTokenStore(path).save(key, Token(access_token="x" * int(size)))
    print(json.dumps({"finished": True}))  # must never be reached


if __name__ == "__main__":
    modes: dict[str, Callable[..., None]] = {
        "save-many": save_many,
        "refresh": refresh,
        "hold": hold,
        "slow-write": slow_write,
    }
    modes[sys.argv[1]](*sys.argv[2:])
