"""A separate process for the RedisTokenStore tests: `python redis_worker.py MODE JSON-ARGS`.

Modes:

- ``get-token``: print "READY" once set up and, at the next line on stdin,
  `Authenticator(**options, store=RedisTokenStore(url, prefix=...)).get_token(login=False)`;
  prints ``{"token": ...}``. The test tells all its workers to go at once, so that they really
  compete however long each took to start.
- ``hold``: hold `store.lock(key)` (with `lock_ttl`), print "HELD", and keep it until a line
  (or end of file) arrives on stdin; the test may SIGKILL it meanwhile.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from loctocat import Authenticator
from loctocat.store import RedisTokenStore


def get_token(url: str, prefix: str, options: dict[str, Any]) -> None:
    store = RedisTokenStore(url, prefix=prefix)
    authenticator = Authenticator(**options, store=store)
    print("READY", flush=True)
    sys.stdin.readline()
    print(json.dumps({"token": authenticator.get_token(login=False)}))


def hold(url: str, prefix: str, key: str, lock_ttl: float) -> None:
    store = RedisTokenStore(url, prefix=prefix, lock_ttl=lock_ttl)
    with store.lock(key):
        print("HELD", flush=True)
        sys.stdin.readline()
    print(json.dumps({"released": True}))


if __name__ == "__main__":
    mode, arguments = sys.argv[1], json.loads(sys.argv[2])
    {"get-token": get_token, "hold": hold}[mode](**arguments)
