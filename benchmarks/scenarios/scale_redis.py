"""One of the worker processes of the Redis scale run: N concurrent loctocat 2
`AsyncAuthenticator.get_token()` flows sharing one `RedisTokenStore` (and one httpx.AsyncClient).

`python scale_redis.py N TARGET INTERVAL OUT` as for `_scale.py`, with three environment
variables from run.py: `BENCH_REDIS_URL` (the shared redis-server), `BENCH_WORKER` (this
worker's number: each flow is a login of its own, `account=w<worker>-<n>`), and
`BENCH_START_AT` (the `time.time()` at which every worker starts its flows together).

Each flow holds its login's lock in Redis from before its device request to after it saved its
token, as any `get_token()` login does. OUT gets `_scale.py`'s figures plus
`redis_round_trips`: the requests this process sent to Redis (a pipeline is one), counted where
redis-py sends them.
"""

import itertools
import json
import os
import sys
import time

import httpx
import redis.connection
from _common import CLIENT_ID, SCOPE
from _scale import main

from loctocat import AsyncAuthenticator, LoctocatAuthInfo, Token
from loctocat.store import RedisTokenStore

round_trips = itertools.count()  # next() is atomic: the renewal and worker threads send too
_send = redis.connection.AbstractConnection.send_packed_command


def counted_send(self, command, check_health=True):  # type: ignore[no-untyped-def]
    next(round_trips)
    return _send(self, command, check_health)


redis.connection.AbstractConnection.send_packed_command = counted_send  # type: ignore[method-assign]

store = RedisTokenStore(os.environ["BENCH_REDIS_URL"], prefix="bench:")
accounts = (f"w{os.environ['BENCH_WORKER']}-{n}" for n in itertools.count())


class Silent:
    """The benchmark server approves by itself: nobody needs to see the code."""

    def show_code(self, auth_info: LoctocatAuthInfo) -> None: ...
    def start_waiting(self) -> None: ...
    def succeeded(self, token: Token) -> None: ...
    def failed(self, error: BaseException) -> None: ...
    def close(self) -> None: ...


async def flow(client: httpx.AsyncClient, auth_url: str, token_url: str) -> None:
    authenticator = AsyncAuthenticator(
        CLIENT_ID,
        auth_url,
        token_url,
        scopes=[SCOPE],
        http_client=client,
        request_timeout=60,
        store=store,
        account=next(accounts),
    )
    await authenticator.get_token(prompt=Silent())


time.sleep(max(0.0, float(os.environ["BENCH_START_AT"]) - time.time()))
main(flow)
out = sys.argv[4]
with open(out) as file:
    result = json.load(file)
result["redis_round_trips"] = next(round_trips)
with open(out, "w") as file:
    json.dump(result, file)
