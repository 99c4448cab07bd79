"""RedisTokenStore against a real redis-server (tests/redis_support.py): processes sharing one
login refresh it once, a holder killed with SIGKILL lets go within the lock's expiry, Redis
stopped in the middle of a refresh is a `StoreError` that loses nothing, and a holder whose lock
expired never overwrites what the next holder saved. The contract every store keeps (round
trip, locks across threads and tasks) is in test_store.py, and one refresh or one login per key
across authenticators in tests/test_token_races.py: both run with Redis too.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.connection
from redis_support import RedisServer, assert_no_lock_held, unique_prefix
from test_store import SECRET, make_token, start_together
from test_token_races import options, requests_of, stored_expired

from loctocat import Authenticator, ConfigurationError, StoreError
from loctocat.store import KeyLock, RedisTokenStore
from loctocat.testing import FakeAuthorizationServer

pytestmark = pytest.mark.timeout(60)

WORKER = Path(__file__).with_name("redis_worker.py")
KEY = "https://as.example/token|client|read"


@pytest.fixture
def prefix() -> str:
    return unique_prefix()


@pytest.fixture
def url(redis_server: RedisServer) -> str:
    return redis_server.url


@contextlib.contextmanager
def redis_store(url: str, prefix: str, **options: Any) -> Iterator[RedisTokenStore]:
    store = RedisTokenStore(url, prefix=prefix, **options)
    try:
        yield store
        assert_no_lock_held(store)  # not when the test failed already: that says more
    finally:
        store.close()


@pytest.fixture
def store(url: str, prefix: str) -> Iterator[RedisTokenStore]:
    with redis_store(url, prefix) as store:
        yield store


@pytest.fixture
def raw(url: str) -> Iterator[redis.Redis]:
    """A plain client, to look at (and tamper with) what the store keeps."""
    client = redis.Redis.from_url(url)
    yield client
    client.close()


def worker(mode: str, **arguments: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), mode, json.dumps(arguments)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


# --- what is stored, and where ----------------------------------------------------------------


def test_entries_are_the_file_stores_json_under_the_prefix(
    store: RedisTokenStore, raw: redis.Redis, prefix: str
) -> None:
    token = make_token(created_at=1234)
    store.save(KEY, token)
    entry = json.loads(raw.get(f"{prefix}token:{KEY}"))  # type: ignore[arg-type]
    assert entry["format"] == 2
    assert entry["response"]["access_token"] == SECRET
    assert entry["response"]["created_at"] == 1234
    assert entry["expires_at"] == token.expires_at.timestamp()  # type: ignore[union-attr]
    assert raw.ttl(f"{prefix}token:{KEY}") == -1  # tokens never expire in Redis by themselves
    assert store.keys() == [KEY]
    store.delete(KEY)
    assert raw.exists(f"{prefix}token:{KEY}") == 0


def test_keys_are_only_those_of_the_stores_own_prefix(url: str, raw: redis.Redis) -> None:
    # A prefix with the characters of a SCAN pattern must match only itself.
    with redis_store(url, "app[1]*:") as glob, redis_store(url, "app1x:") as plain:
        glob.save("a|c|", make_token())
        plain.save("b|c|", make_token())
        raw.set("app[1]*:pending:c|c|", "{}")  # another kind of entry of the same prefix
        assert glob.keys() == ["a|c|"]
        assert plain.keys() == ["b|c|"]
        raw.delete("app[1]*:token:a|c|", "app1x:token:b|c|", "app[1]*:pending:c|c|")


def test_repr_and_messages_never_show_the_password() -> None:
    store = RedisTokenStore("redis://worker:s3cr3t@127.0.0.1:1/2?password=s3cr3t")
    assert "s3cr3t" not in repr(store)
    assert store.url.startswith("redis://worker:***@127.0.0.1:1/2")
    with pytest.raises(StoreError) as caught:
        store.load(KEY)
    assert "s3cr3t" not in str(caught.value)
    assert "redis://worker:***@127.0.0.1:1/2" in str(caught.value)


def test_a_client_of_your_own_is_used_and_named_by_its_address(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url, decode_responses=True)
    store = RedisTokenStore(client, prefix=prefix)
    assert store.url == url
    store.save(KEY, make_token())
    assert store.load(KEY).access_token == SECRET  # type: ignore[union-attr]
    assert store.keys() == [KEY]
    store.delete(KEY)
    store.close()  # the client is the caller's: still open
    assert client.ping()
    client.close()


def test_an_asyncio_client_is_refused() -> None:
    import redis.asyncio

    client = redis.asyncio.Redis()
    with pytest.raises(ConfigurationError, match="synchronous") as caught:
        RedisTokenStore(client)
    assert caught.value.parameter == "url_or_client"


@pytest.mark.parametrize(
    ("arguments", "parameter"),
    [
        ({"url_or_client": "http://127.0.0.1:6379"}, "url_or_client"),
        ({"url_or_client": "redis://127.0.0.1:99999/0"}, "url_or_client"),
        ({"url_or_client": "redis://h", "lock_ttl": 0}, "lock_ttl"),
        ({"url_or_client": "redis://h", "lock_ttl": float("nan")}, "lock_ttl"),
        ({"url_or_client": "redis://h", "lock_timeout": -1}, "lock_timeout"),
    ],
)
def test_unusable_settings_are_configuration_errors(
    arguments: dict[str, Any], parameter: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        RedisTokenStore(**arguments)
    assert caught.value.parameter == parameter


def test_without_redis_py_the_message_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # import redis now raises ImportError
    with pytest.raises(ConfigurationError, match=r"pip install 'loctocat\[redis\]'"):
        RedisTokenStore("redis://127.0.0.1:6379/0")


# --- corrupt entries --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [b"not json " + SECRET.encode(), json.dumps([SECRET]).encode(), b"{}", b"\xff\xfe"],
    ids=["not-json", "a-list", "no-format", "not-utf8"],
)
def test_a_corrupt_entry_is_a_corrupt_store_error_that_saving_replaces(
    store: RedisTokenStore, raw: redis.Redis, prefix: str, value: bytes
) -> None:
    raw.set(f"{prefix}token:{KEY}", value)
    with pytest.raises(StoreError, match="unreadable") as caught:
        store.load(KEY)
    assert caught.value.corrupt
    assert SECRET not in str(caught.value)
    assert f"Redis at {store.url}" in str(caught.value)
    store.save(KEY, make_token("replaced"))
    assert store.load(KEY).access_token == "replaced"  # type: ignore[union-attr]


def test_an_entry_of_a_newer_format_is_not_called_corrupt(
    store: RedisTokenStore, raw: redis.Redis, prefix: str
) -> None:
    raw.set(f"{prefix}token:{KEY}", json.dumps({"format": 3, "anything": 1}))
    with pytest.raises(StoreError, match=r"newer loctocat.*another prefix") as caught:
        store.load(KEY)
    assert not caught.value.corrupt


# --- Redis failures ---------------------------------------------------------------------------

#: The ACL docs/fleets.md gives a Redis user of the store's own.
ACL = "~{prefix}* +get +set +del +pexpire +scan +eval +evalsha +script|load +script|exists"


def test_a_redis_user_with_the_documented_acl_can_do_everything_and_no_more(
    url: str, raw: redis.Redis, prefix: str
) -> None:
    user = prefix.rstrip(":")
    raw.execute_command("ACL", "SETUSER", user, "on", ">pw", *ACL.format(prefix=prefix).split())
    own = url.replace("redis://", f"redis://{user}:pw@")
    try:
        with redis_store(own, prefix, lock_ttl=1.0) as store:
            store.save(KEY, make_token())
            with store.lock(KEY):
                time.sleep(1.5)  # renewed meanwhile
                store.save(KEY, make_token("renewed"))
            store.save_pending(KEY, {"expires_at": time.time() + 60})
            assert store.load_pending(KEY) is not None
            assert store.keys() == [KEY]
            store.delete_pending(KEY)
            store.delete(KEY)
        with redis_store(own, "elsewhere:") as other, pytest.raises(StoreError) as caught:
            other.load(KEY)
        assert "the Redis user's ACL must allow the keys elsewhere:*" in str(caught.value)
        assert "pw@" not in str(caught.value)
    finally:
        raw.execute_command("ACL", "DELUSER", user)


def test_every_call_to_an_unreachable_redis_is_one_clear_store_error() -> None:
    store = RedisTokenStore("redis://127.0.0.1:1/0")  # nothing listens on port 1
    calls = {
        "load": lambda: store.load(KEY),
        "save": lambda: store.save(KEY, make_token()),
        "delete": lambda: store.delete(KEY),
        "keys": store.keys,
        "lock": lambda: store.lock(KEY).__enter__(),
        "load_pending": lambda: store.load_pending(KEY),
        "save_pending": lambda: store.save_pending(KEY, {"expires_at": time.time() + 60}),
        "delete_pending": lambda: store.delete_pending(KEY),
    }
    for name, call in calls.items():
        started = time.monotonic()
        with pytest.raises(StoreError) as caught:
            call()
        message = str(caught.value)
        assert time.monotonic() - started < 3, name
        assert "\n" not in message
        assert "Redis at redis://127.0.0.1:1/0" in message, name
        assert "check that Redis is running and reachable" in message, name
        assert type(caught.value) is StoreError
    # The lock was not taken, so nothing holds it here either.
    lock = store.lock(KEY)
    assert isinstance(lock, KeyLock)
    with pytest.raises(StoreError):
        lock.acquire(0, owner="someone")
    with pytest.raises(RuntimeError):
        lock.release(owner="someone")


def test_redis_loading_its_data_says_to_try_again_in_a_moment(
    url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = redis.Redis.from_url(url)
    loading = redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory")
    monkeypatch.setattr(client, "get", lambda name: (_ for _ in ()).throw(loading))
    with pytest.raises(StoreError, match="loading its data after a restart: try again"):
        RedisTokenStore(client, prefix=prefix).load(KEY)
    client.close()


def test_redis_stopped_in_the_middle_of_a_refresh_loses_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Stopped between the refresh's load and its save: the save is a StoreError, the new token
    is still in the authenticator's hands, and Redis restarted has the old token, whole."""
    with RedisServer(tmp_path / "redis") as server:
        stopped = threading.Event()

        def stop_redis_on_refresh(request: Any, status: int, error: str | None) -> None:
            if request.endpoint == "token" and request.form["grant_type"] == "refresh_token":
                server.stop()
                stopped.set()

        fake = FakeAuthorizationServer(
            interval=0, rotate_refresh_tokens=True, on_answer=stop_redis_on_refresh
        )
        with fake.serve_http():
            store = RedisTokenStore(server.url, prefix="app:")
            key = stored_expired(fake, store)
            old = store.load(key)
            assert old is not None
            auth = Authenticator(**options(fake, store=store))
            with pytest.raises(StoreError) as caught:
                auth.get_token(login=False)
            assert stopped.is_set()
            message = str(caught.value)
            assert f"save the token for {key!r} to Redis at {server.url}" in message
            assert "check that Redis is running" in message
            assert "kept in memory" in message  # the authenticator's own note
            assert auth.token is not None
            assert auth.token.access_token == fake.issued_tokens[-1].access_token
            # Releasing the lock failed too, quietly: the lock expires by itself.
            assert any("release the lock" in r.getMessage() for r in caplog.records)
            server.start()
            kept = RedisTokenStore(server.url, prefix="app:")
            after = kept.load(key)
            assert after is not None
            assert after.to_dict() == old.to_dict()
            store.close()
            kept.close()


# --- the lock ---------------------------------------------------------------------------------


def test_the_renewal_keeps_a_lock_alive_past_its_ttl(url: str, prefix: str) -> None:
    # Renewed every 1/3 s: a busy machine may hold the renewal up by as much as 2/3 s.
    with redis_store(url, prefix, lock_ttl=1.0) as holder, redis_store(url, prefix) as other:
        with holder.lock(KEY):
            time.sleep(3.0)  # three times the lock's lifetime
            assert other.lock(KEY).acquire(0, owner="other") is False
        assert other.lock(KEY).acquire(0, owner="other") is True
        other.lock(KEY).release(owner="other")


def test_one_thread_and_one_round_trip_renew_every_lock(
    url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent_by_renewal: list[float] = []
    send = redis.connection.AbstractConnection.send_packed_command

    def counted(self: Any, command: Any, check_health: bool = True) -> None:
        name = threading.current_thread().name
        if name.startswith("loctocat-redis-lock-renewal") and name.endswith(f" {prefix}"):
            sent_by_renewal.append(time.monotonic())
        send(self, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)
    with redis_store(url, prefix, lock_ttl=0.6) as holder:
        locks = [holder.lock(f"{KEY}|{n}") for n in range(200)]
        for lock in locks:
            assert lock.acquire(0)
        renewing = [t for t in threading.enumerate() if t.name.endswith(f" {prefix}")]
        assert len(renewing) == 1  # one renewal thread for the store, not one per lock
        slept = time.monotonic()
        time.sleep(1.5)  # about seven renewals of every lock
        woke = time.monotonic()
        with redis_store(url, prefix) as other:
            assert not any(other.lock(f"{KEY}|{n}").acquire(0) for n in range(200))
        for lock in locks:
            lock.release()
    # A round is a pipeline (and redis-py's check that the script is loaded): 2 sends, not 200.
    # Counted only while the test sleeps: acquiring and releasing 200 locks, each waiting for
    # Redis's disk sync, takes a time that varies with the machine's load. Renewing lock by
    # lock would send at least 200 in any one round, far above the bound.
    during_sleep = [at for at in sent_by_renewal if slept <= at <= woke]
    assert 2 <= len(during_sleep) <= 60


def test_waiting_for_a_lock_times_out_naming_the_redis_key(url: str, prefix: str) -> None:
    with (
        redis_store(url, prefix) as holder,
        redis_store(url, prefix, lock_timeout=0.3) as waiter,
        holder.lock(KEY),
    ):
        started = time.monotonic()
        timed_out = r"could not lock the Redis key .* within 0\.3 s"
        with pytest.raises(StoreError, match=timed_out), waiter.lock(KEY):
            pass
        assert 0.29 <= time.monotonic() - started < 2


def test_a_waiter_gets_the_lock_soon_after_it_is_released(url: str, prefix: str) -> None:
    with redis_store(url, prefix) as holder, redis_store(url, prefix) as waiter:
        lock = holder.lock(KEY)
        assert lock.acquire(0, owner="holder")
        released: list[float] = []

        def release() -> None:
            released.append(time.monotonic())
            lock.release(owner="holder")

        threading.Timer(0.3, release).start()
        with waiter.lock(KEY):
            entered = time.monotonic()
        # Counted from the release itself, however late the timer ran: the waiter asks again
        # at least every 0.1 s, so it gets in well within half a second.
        assert 0 <= entered - released[0] < 0.5


def test_a_lock_that_expired_cannot_overwrite_what_the_next_holder_saved(
    url: str, prefix: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with redis_store(url, prefix, lock_ttl=0.3) as late, redis_store(url, prefix) as next_one:
        late.save(KEY, make_token("old"))
        late.save_pending(KEY, {"expires_at": time.time() + 60, "device_code": "d"})
        with late.lock(KEY):
            # This process stops renewing (paused, or cut off from Redis) and its lock expires.
            monkeypatch.setattr(late._renewal, "_renew", lambda held: None)
            time.sleep(0.6)
            with next_one.lock(KEY):
                next_one.save(KEY, make_token("newer"))
            for write in (
                lambda: late.save(KEY, make_token("stale")),
                lambda: late.delete(KEY),
                lambda: late.save_pending(KEY, {"expires_at": time.time() + 60}),
                lambda: late.delete_pending(KEY),
            ):
                with pytest.raises(StoreError, match=r"lock of .* expired before the write"):
                    write()
        assert next_one.load(KEY).access_token == "newer"  # type: ignore[union-attr]
        assert next_one.load_pending(KEY) == {
            "expires_at": pytest.approx(time.time() + 60, abs=5),
            "device_code": "d",
        }
        assert any("had expired before it was released" in r.getMessage() for r in caplog.records)
        # Without the lock, a write is a plain write again.
        late.save(KEY, make_token("later"))
        assert next_one.load(KEY).access_token == "later"  # type: ignore[union-attr]


def test_a_holder_cut_off_from_redis_learns_it_lost_its_lock_before_it_writes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with RedisServer(tmp_path / "redis") as server:
        holder = RedisTokenStore(server.url, prefix="app:", lock_ttl=0.6)
        other = RedisTokenStore(server.url, prefix="app:")
        holder.save(KEY, make_token("old"))
        with caplog.at_level(logging.WARNING, logger="loctocat"), holder.lock(KEY):
            server.stop()
            time.sleep(1.0)  # the renewals fail, and the lock's lifetime passes
            server.start()
            with other.lock(KEY):  # expired: another process takes it, and saves
                other.save(KEY, make_token("newer"))
            with pytest.raises(StoreError, match=r"lock of .* expired before the write"):
                holder.save(KEY, make_token("stale"))
        assert f"cannot renew the locks held in Redis at {server.url}" in caplog.text
        assert other.load(KEY).access_token == "newer"  # type: ignore[union-attr]
        holder.close()
        other.close()


def test_the_renewal_says_when_it_finds_a_lock_gone(
    url: str, raw: redis.Redis, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    with redis_store(url, prefix, lock_ttl=0.3) as holder:
        with holder.lock(KEY):
            raw.delete(f"{prefix}lock:{KEY}")  # gone, as if it had expired
            time.sleep(1.0)  # several renewal rounds
            with pytest.raises(StoreError, match=r"lock of .* expired before the write"):
                holder.save(KEY, make_token())
        assert [r for r in caplog.records if "expired before it could be renewed" in r.getMessage()]


def test_a_forked_child_does_not_inherit_the_parents_lock(store: RedisTokenStore) -> None:
    lock = store.lock(KEY)
    with lock:
        child = os.fork()
        if child == 0:  # the child: the lock is the parent's, so not re-entrant here
            taken = store.lock(KEY).acquire(0)
            os._exit(1 if taken else 0)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert lock.acquire(0)  # still the parent's, re-entrant
        lock.release()


# --- processes --------------------------------------------------------------------------------


def test_two_processes_with_an_expired_token_refresh_it_once(url: str, prefix: str) -> None:
    def slow_refresh(request: Any, status: int, error: str | None) -> None:
        if request.endpoint == "token" and request.form["grant_type"] == "refresh_token":
            time.sleep(0.3)  # the two processes overlap for certain

    fake = FakeAuthorizationServer(interval=0, rotate_refresh_tokens=True, on_answer=slow_refresh)
    with fake.serve_http(), redis_store(url, prefix) as store:
        key = stored_expired(fake, store)
        given = {"url": url, "prefix": prefix, "options": options(fake)}
        processes = [worker("get-token", **given) for _ in range(2)]
        start_together(processes)
        tokens = [finished(process)["token"] for process in processes]
        assert requests_of(fake, "refresh_token") == 1
        assert tokens == [fake.issued_tokens[-1].access_token] * 2
        stored = store.load(key)
        assert stored is not None
        assert stored.access_token == tokens[0]


def test_a_holder_killed_with_sigkill_lets_go_within_the_lock_ttl(url: str, prefix: str) -> None:
    ttl = 1.0
    holder = worker("hold", url=url, prefix=prefix, key=KEY, lock_ttl=ttl)
    assert holder.stdout is not None
    assert holder.stdout.readline() == "HELD\n"
    with redis_store(url, prefix) as store:
        lock = store.lock(KEY)
        # Alive, the holder keeps renewing its lock: still held after several lifetimes.
        time.sleep(2.5 * ttl)
        assert lock.acquire(0) is False
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        killed = time.monotonic()
        assert lock.acquire(ttl + 2) is True
        assert time.monotonic() - killed <= ttl + 0.5
        lock.release()
    holder.communicate()


# --- pending logins ---------------------------------------------------------------------------


def test_a_pending_login_round_trips_and_expires_with_its_device_code(
    store: RedisTokenStore, raw: redis.Redis, prefix: str
) -> None:
    assert store.load_pending(KEY) is None
    store.delete_pending(KEY)  # absent: no error
    expires = datetime.now(UTC) + timedelta(seconds=600)
    pending = {"device_code": "dc", "user_code": "ABCD-EFGH", "expires_at": expires.isoformat()}
    store.save_pending(KEY, pending)
    assert store.load_pending(KEY) == pending
    assert 598_000 <= raw.pttl(f"{prefix}pending:{KEY}") <= 600_000
    assert store.load(KEY) is None  # a pending login is no token
    assert store.keys() == []
    store.delete_pending(KEY)
    assert store.load_pending(KEY) is None
    # POSIX seconds, and an ISO time with a Z, expire alike; Redis forgets them by itself.
    expires_at = time.time() + 1.0  # long enough to save and load it on a busy machine
    store.save_pending(KEY, {"expires_at": expires_at})
    assert store.load_pending(KEY) is not None
    zulu = (datetime.now(UTC) + timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    store.save_pending("other", {"expires_at": zulu})
    assert 58_000 <= raw.pttl(f"{prefix}pending:other") <= 60_000
    time.sleep(max(0.0, expires_at + 0.2 - time.time()))
    assert store.load_pending(KEY) is None
    store.delete_pending("other")


def test_a_pending_login_that_has_expired_already_is_not_kept(store: RedisTokenStore) -> None:
    store.save_pending(KEY, {"expires_at": time.time() + 60})
    store.save_pending(KEY, {"expires_at": "2000-01-01T00:00:00+00:00"})
    assert store.load_pending(KEY) is None


@pytest.mark.parametrize("expires_at", [None, "soon", True, float("inf"), [1]])
def test_a_pending_login_needs_a_usable_expiry(store: RedisTokenStore, expires_at: Any) -> None:
    with pytest.raises(ConfigurationError, match="expires_at"):
        store.save_pending(KEY, {"expires_at": expires_at})


def test_a_pending_login_that_is_not_json_is_refused_and_a_corrupt_one_reported(
    store: RedisTokenStore, raw: redis.Redis, prefix: str
) -> None:
    with pytest.raises(StoreError, match="not JSON data"):
        store.save_pending(KEY, {"expires_at": time.time() + 60, "when": object()})
    with pytest.raises(StoreError, match="not JSON data"):
        store.save_pending(KEY, {"expires_at": time.time() + 60, "ratio": float("nan")})
    raw.set(f"{prefix}pending:{KEY}", "[1, 2]")
    with pytest.raises(StoreError, match="unreadable") as caught:
        store.load_pending(KEY)
    assert caught.value.corrupt


def test_a_worker_finishes_a_login_another_started(url: str, prefix: str) -> None:
    with redis_store(url, prefix) as first, redis_store(url, prefix) as second:
        first.save_pending(KEY, {"expires_at": time.time() + 60, "device_code": "dc"})
        with second.lock(KEY):
            assert second.load_pending(KEY) == {
                "expires_at": pytest.approx(time.time() + 60, abs=5),
                "device_code": "dc",
            }
            second.save(KEY, make_token("finished"))
            second.delete_pending(KEY)
        assert first.load(KEY).access_token == "finished"  # type: ignore[union-attr]
        assert first.load_pending(KEY) is None


def test_lock_release_failure_is_only_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with RedisServer(tmp_path / "redis") as server:
        store = RedisTokenStore(server.url)
        lock = store.lock(KEY)
        assert lock.acquire(0)
        server.stop()
        with caplog.at_level(logging.WARNING, logger="loctocat"):
            lock.release()  # no exception: the lock expires by itself
        assert "expires by itself" in caplog.text
        store.close()
