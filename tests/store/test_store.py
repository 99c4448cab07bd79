"""Token stores: keys, the memory, file and keyring stores, their locks, and their failures.

The file store is tested against real processes (tests/store/store_worker.py): concurrent
saves, two refreshes racing under `lock()`, and a writer SIGKILLed half-way through a save.
The contract every store keeps runs against a real redis-server too (the Redis store's own
tests are in test_redis_store.py).
No OS keychain exists here, so the keyring store runs against a fake in-process backend (a
real `keyring.backend.KeyringBackend` subclass keeping passwords in a dict).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import pickle
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import keyring
import keyring.errors
import pytest
from keyring.backend import KeyringBackend
from redis_support import RedisServer, assert_no_lock_held, unique_prefix

from loctocat import ConfigurationError, Identity, LoctocatError, Token
from loctocat.errors import StoreError
from loctocat.store import (
    KEYRING_INDEX,
    FileTokenStore,
    KeyLock,
    KeyringTokenStore,
    MemoryTokenStore,
    RedisTokenStore,
    TokenStore,
    token_key,
)

WORKER = Path(__file__).with_name("store_worker.py")
POSIX_ONLY = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes and signals")

SECRET = "gho_SECRET_access_0123456789"
REFRESH_SECRET = "ghr_SECRET_refresh_0123456789"


def make_token(access: str = SECRET, **extra: Any) -> Token:
    return Token(
        access_token=access,
        refresh_token=REFRESH_SECRET,
        scope="repo read:org",
        expires_at=datetime.now(UTC) + timedelta(hours=1),
        extra=extra,
    )


def start_together(procs: list[subprocess.Popen[str]], timeout: float = 15) -> None:
    """Wait for each worker's READY line, then tell them all to go at once (a line on stdin):
    a worker slow to start (a busy machine) would otherwise run after the others instead of
    against them."""
    for proc in procs:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        assert ready == "READY\n", ready + proc.communicate(timeout=timeout)[1]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()


def run_workers(*argvs: list[str], timeout: float = 15) -> list[dict[str, Any]]:
    """Run store_worker.py once per argv, all at the same time (`start_together`); their JSON
    results."""
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv in argvs
    ]
    start_together(procs, timeout)
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def in_thread(fn: Callable[[], object], timeout: float = 5) -> None:
    """Run fn in a thread; fail (instead of hanging the suite) if it deadlocks."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            fn()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "deadlocked"
    if errors:
        raise errors[0]


# -- token_key --------------------------------------------------------------------------------


def test_token_key_format_is_stable_and_readable() -> None:
    url = "https://github.com/login/oauth/access_token"
    assert token_key(url, "Iv1.abc", ["repo", "read:org"]) == f"{url}|Iv1.abc|read:org repo"
    assert token_key(url, "Iv1.abc") == f"{url}|Iv1.abc|"
    assert token_key(url, "Iv1.abc", ["repo"], account="octocat") == f"{url}|Iv1.abc|repo|octocat"


def test_token_key_ignores_scope_order_duplicates_and_accepts_a_string() -> None:
    keys = {
        token_key("s", "c", ["b", "a", "b"]),
        token_key("s", "c", ("a", "b")),
        token_key("s", "c", "b a"),
        token_key("s", "c", iter(["a b"])),
    }
    assert keys == {"s|c|a b"}


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("", "c"), {}),
        (("s", ""), {}),
        (("s|x", "c"), {}),
        (("s", "c|x"), {}),
        (("s", "c", ["a|b"]), {}),
        (("s", "c", ["a"]), {"account": "x|y"}),
    ],
)
def test_token_key_rejects_ambiguous_parts(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    # Without this, scope "a|b" and scope "a" with account "b" would share the key "s|c|a|b".
    with pytest.raises(ConfigurationError):
        token_key(*args, **kwargs)


# -- every store ------------------------------------------------------------------------------


@pytest.fixture
def fake_keyring() -> Iterator[FakeKeyring]:
    previous = keyring.get_keyring()
    backend = FakeKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # platformdirs reads XDG_CACHE_HOME on Linux: keyring lock files go under tmp_path.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(params=["memory", "file", "keyring", "redis"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, fake_keyring: FakeKeyring, cache_home: Path
) -> Iterator[TokenStore]:
    if request.param == "memory":
        yield MemoryTokenStore()
    elif request.param == "file":
        yield FileTokenStore(tmp_path / "tokens.json")
    elif request.param == "keyring":
        yield KeyringTokenStore()
    else:
        redis_store = RedisTokenStore(
            request.getfixturevalue("redis_server").url, prefix=unique_prefix()
        )
        yield redis_store
        assert_no_lock_held(redis_store)
        redis_store.close()


def test_store_round_trip_absent_and_delete(store: TokenStore) -> None:
    assert isinstance(store, TokenStore)
    assert store.load("k") is None
    store.delete("k")  # absent: no error
    token = make_token(created_at=1234)
    store.save("k", token)
    store.save("other", make_token("other-access"))
    loaded = store.load("k")
    assert loaded is not None
    assert loaded.to_dict() == token.to_dict()
    assert loaded.created_at == 1234  # extra fields survive
    store.save("k", make_token("replaced"))
    assert store.load("k").access_token == "replaced"  # type: ignore[union-attr]
    store.delete("k")
    assert store.load("k") is None
    assert store.load("other").access_token == "other-access"  # type: ignore[union-attr]


def test_store_lock_is_reentrant_and_save_inside_does_not_deadlock(store: TokenStore) -> None:
    def nested() -> None:
        with store.lock("k"), store.lock("k"):
            store.save("k", make_token())
            store.delete("k")
            store.save("k", make_token("again"))

    in_thread(nested)
    assert store.load("k").access_token == "again"  # type: ignore[union-attr]


def test_store_lock_serializes_threads(store: TokenStore) -> None:
    """Two threads each load -> slow refresh -> save under the lock: neither update is lost."""
    store.save("k", make_token(refresh_count=0))
    spans: list[tuple[float, float]] = []

    def refresh() -> None:
        with store.lock("k"):
            start = time.monotonic()
            token = store.load("k")
            assert token is not None
            time.sleep(0.1)
            store.save("k", make_token(refresh_count=token.refresh_count + 1))
            spans.append((start, time.monotonic()))

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert store.load("k").refresh_count == 2  # type: ignore[union-attr]
    first, second = sorted(spans)
    assert first[1] <= second[0]  # the second got in only after the first was out


def test_key_lock_is_reentrant_per_owner_and_excludes_other_owners(store: TokenStore) -> None:
    lock = store.lock("k")
    assert isinstance(lock, KeyLock)
    assert lock.acquire(0, owner="a") is True
    assert lock.acquire(0, owner="a") is True  # re-entrant: counted
    assert lock.acquire(0, owner="b") is False
    assert store.lock("k").acquire(0) is False  # another KeyLock of the key, this thread
    assert store.lock("other").acquire(0, owner="b") is True  # another key: free
    store.lock("other").release(owner="b")
    lock.release(owner="a")
    assert lock.acquire(0, owner="b") is False  # still held once by "a"
    started = time.monotonic()
    assert lock.acquire(0.1, owner="b") is False
    assert time.monotonic() - started >= 0.09
    lock.release(owner="a")
    assert lock.acquire(0, owner="b") is True
    with pytest.raises(RuntimeError):
        lock.release(owner="a")
    with pytest.raises(RuntimeError):
        lock.release()  # the thread is not the owner either
    lock.release(owner="b")
    with pytest.raises(ValueError, match="timeout"):
        lock.acquire(-1)
    with lock:  # the thread is the owner of a ``with``
        assert lock.acquire(0) is True
        lock.release()
        assert lock.acquire(0, owner="b") is False
    assert lock.acquire(0, owner="b") is True
    lock.release(owner="b")


def test_key_lock_waits_for_a_release_by_another_thread(store: TokenStore) -> None:
    lock = store.lock("k")
    assert isinstance(lock, KeyLock)
    assert lock.acquire(0)
    got: list[bool] = []
    thread = threading.Thread(target=lambda: got.append(lock.acquire(5)))
    thread.start()
    time.sleep(0.1)
    assert got == []  # still waiting
    lock.release()
    thread.join(5)
    assert got == [True]
    assert lock.acquire(0) is False  # now the other thread holds it
    lock.release(owner=thread.ident)  # for it, now that it has ended


@pytest.mark.anyio
async def test_two_tasks_on_one_thread_exclude_each_other(store: TokenStore) -> None:
    """Tasks share the thread, so each passes itself as the owner, and waits without blocking."""
    spans: list[tuple[float, float]] = []

    async def refresh() -> None:
        lock = store.lock("k")
        assert isinstance(lock, KeyLock)
        me = anyio.get_current_task()
        while not lock.acquire(0, owner=me):
            await anyio.sleep(0.01)
        try:
            entered = time.monotonic()
            await anyio.sleep(0.1)  # the refresh request; the other task runs meanwhile
            spans.append((entered, time.monotonic()))
        finally:
            lock.release(owner=me)

    async with anyio.create_task_group() as group:
        group.start_soon(refresh)
        group.start_soon(refresh)
    first, second = sorted(spans)
    assert first[1] <= second[0]


def test_store_error_is_a_loctocat_error() -> None:
    assert issubclass(StoreError, LoctocatError)


# -- FileTokenStore: format, modes, default path ----------------------------------------------


def entry_of(token: Token) -> dict[str, Any]:
    """The format 2 entry of `token`, spelled out."""
    assert token.expires_at is not None
    return {
        "response": {
            "access_token": token.access_token,
            "token_type": "Bearer",
            "refresh_token": token.refresh_token,
            "scope": token.scope,
            **token.extra,
        },
        "expires_at": token.expires_at.timestamp(),
        "received_at": token.received_at.timestamp(),
    }


def test_file_format(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    token = make_token(created_at=1234)
    FileTokenStore(path).save("k", token)
    document = json.loads(path.read_text())
    assert document == {"version": 2, "tokens": {"k": entry_of(token)}}
    assert document["tokens"]["k"]["response"]["created_at"] == 1234


@pytest.mark.parametrize("kind", ["file", "keyring"])
def test_verified_claims_and_identity_are_stored_apart_from_the_servers_answer(
    kind: str, tmp_path: Path, fake_keyring: FakeKeyring, cache_home: Path
) -> None:
    claims = {"iss": "https://issuer.example", "sub": "alice", "aud": ["app"], "name": "Alice"}
    token = dataclasses.replace(make_token(), id_token="a.b.c", claims=claims)
    assert token.identity == Identity("alice", "Alice", "id_token")
    store: TokenStore = (
        FileTokenStore(tmp_path / "tokens.json") if kind == "file" else KeyringTokenStore()
    )
    store.save("k", token)
    loaded = store.load("k")
    assert loaded == token
    assert loaded is not None
    assert dict(loaded.claims or {}) == claims
    assert loaded.identity == token.identity
    if kind == "file":
        entry = json.loads((tmp_path / "tokens.json").read_text())["tokens"]["k"]
        assert entry["claims"] == claims
        assert entry["identity"] == {"subject": "alice", "name": "Alice", "source": "id_token"}
        # The server's answer holds what the server sent, and only that.
        assert "claims" not in entry["response"]
        assert "identity" not in entry["response"]


# What a server may send beside the standard fields: names loctocat uses (or used) for its own
# bookkeeping, with values that would break it if they were read as its own.
COLLIDING_FIELDS: list[dict[str, Any]] = [
    {"loctocat_expires_at": 0},  # read as the expiry: a new login every run
    {"loctocat_expires_at": 1e18},  # out of range: OSError
    {"loctocat_expires_at": "x", "loctocat_received_at": True},
    {"expires_at": 0, "received_at": "yesterday", "response": {"access_token": "other"}},
    {"format": 99, "version": 7, "tokens": [], "expires_in_ms": None},
    {"claims": {"sub": "mallory"}, "identity": {"subject": "mallory", "name": "m"}},
]


@pytest.mark.parametrize("fields", COLLIDING_FIELDS, ids=range(len(COLLIDING_FIELDS)))
@pytest.mark.parametrize("kind", ["file", "keyring"])
@pytest.mark.parametrize("expires", [True, False], ids=["expiry", "no-expiry"])
def test_server_fields_never_collide_with_the_stored_times(
    kind: str,
    expires: bool,
    fields: dict[str, Any],
    tmp_path: Path,
    fake_keyring: FakeKeyring,
    cache_home: Path,
) -> None:
    token = Token(
        access_token=SECRET,
        refresh_token=REFRESH_SECRET,
        expires_at=datetime.now(UTC) + timedelta(hours=1) if expires else None,
        extra=fields,
    )
    store: TokenStore = (
        FileTokenStore(tmp_path / "tokens.json") if kind == "file" else KeyringTokenStore()
    )
    store.save("k", token)
    loaded = store.load("k")
    assert loaded == token  # every field, the server's and loctocat's times, exactly
    assert dict(loaded.extra) == fields
    assert loaded.expires_at == token.expires_at
    assert loaded.received_at == token.received_at
    assert loaded.is_expired() is False


def test_version_1_file_is_read_and_saved_as_version_2(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    old = make_token("old-access", created_at=1234)
    no_expiry = Token(access_token="no-expiry", scope="repo")
    unreadable = {"access_token": SECRET, "scope": 42}
    tokens = {"old": old.to_dict(), "no-expiry": no_expiry.to_dict(), "bad": unreadable}
    path.write_text(json.dumps({"version": 1, "tokens": tokens}))
    store = FileTokenStore(path)
    assert store.load("old") == old
    assert store.load("no-expiry") == no_expiry

    store.save("new", make_token("new-access"))
    document = json.loads(path.read_text())
    assert document["version"] == 2
    assert document["tokens"]["old"] == entry_of(old)
    assert document["tokens"]["no-expiry"] == {
        "response": {"access_token": "no-expiry", "token_type": "Bearer", "scope": "repo"},
        "expires_at": None,
        "received_at": no_expiry.received_at.timestamp(),
    }
    assert document["tokens"]["bad"] == unreadable  # kept as it was, not lost
    assert store.load("old") == old
    assert store.load("no-expiry") == no_expiry
    assert store.load("new").access_token == "new-access"  # type: ignore[union-attr]
    with pytest.raises(StoreError, match="'bad'") as caught:
        store.load("bad")
    assert caught.value.corrupt


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG_DATA_HOME is Linux's")
def test_file_default_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert FileTokenStore().path == tmp_path / "data" / "loctocat" / "tokens.json"


@POSIX_ONLY
def test_file_is_0600_from_creation_and_directory_0700(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even with umask 0, no file the store creates is ever readable by others, not even briefly.

    Every `os.open` that creates a file is followed by an fstat of it, before anything is written.
    """
    created: list[tuple[str, int]] = []
    real_open = os.open

    def spying_open(path: Any, flags: int, mode: int = 0o777, **kwargs: Any) -> int:
        fd = real_open(path, flags, mode, **kwargs)
        if flags & os.O_CREAT:
            created.append((os.fspath(path), stat.S_IMODE(os.fstat(fd).st_mode)))
        return fd

    monkeypatch.setattr(os, "open", spying_open)
    old_umask = os.umask(0)
    try:
        path = tmp_path / "new" / "dir" / "tokens.json"
        store = FileTokenStore(path)
        store.save("k", make_token())
        store.save("k2", make_token())
    finally:
        os.umask(old_umask)
    temp_files = [(p, mode) for p, mode in created if ".tmp-" in p]
    assert len(temp_files) == 2
    assert all(mode == 0o600 for _, mode in created), created
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    names = {p.name for p in path.parent.iterdir()}
    assert names <= {"tokens.json", "tokens.json.lock"}  # no temp file left
    if "tokens.json.lock" in names:  # filelock may remove it on release
        assert stat.S_IMODE((path.parent / "tokens.json.lock").stat().st_mode) == 0o600


# -- FileTokenStore: the directory's permissions ------------------------------------------------


def loctocat_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "loctocat" and r.levelno == logging.WARNING
    ]


@POSIX_ONLY
@pytest.mark.parametrize("mode", [0o770, 0o730, 0o707, 0o777, 0o702])
def test_directory_others_may_write_to_is_refused(tmp_path: Path, mode: int) -> None:
    directory = tmp_path / "shared"
    directory.mkdir()
    directory.chmod(mode)
    store = FileTokenStore(directory / "tokens.json")
    actions: list[Callable[[], object]] = [
        lambda: store.save("k", make_token()),
        lambda: store.load("k"),
        lambda: store.lock("k"),
    ]
    for action in actions:
        with pytest.raises(StoreError) as caught:
            action()
        message = str(caught.value)
        assert str(directory) in message
        assert f"chmod go-w {directory}" in message
        assert not caught.value.corrupt
    assert list(directory.iterdir()) == []  # nothing was written there
    assert stat.S_IMODE(directory.stat().st_mode) == mode  # nor changed


@POSIX_ONLY
def test_sticky_directory_others_may_write_to_is_refused(tmp_path: Path) -> None:
    """Like /tmp: others may not rename ours, but may create the token file before we do."""
    directory = tmp_path / "sticky"
    directory.mkdir()
    directory.chmod(0o1777)
    with pytest.raises(StoreError, match="may be written to by other users"):
        FileTokenStore(directory / "tokens.json").save("k", make_token())


@POSIX_ONLY
def test_a_token_file_others_may_write_to_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    FileTokenStore(path).save("k", make_token())
    path.chmod(0o620)
    with pytest.raises(StoreError, match="owned by another user or writable by others"):
        FileTokenStore(path).load("k")


@POSIX_ONLY
@pytest.mark.skipif(os.name == "posix" and os.geteuid() != 0, reason="chown needs root")
def test_a_token_file_another_user_planted_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    FileTokenStore(path).save("k", make_token())
    os.chown(path, 65534, 65534)  # nobody: as if another user had created it first
    with pytest.raises(StoreError, match="owned by another user"):
        FileTokenStore(path).load("k")


@POSIX_ONLY
@pytest.mark.parametrize("mode", [0o755, 0o750, 0o711, 0o701])
def test_chosen_directory_others_may_list_is_used_with_one_warning_per_store(
    tmp_path: Path, mode: int, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "visible"
    directory.mkdir()
    directory.chmod(mode)
    path = directory / "tokens.json"
    store = FileTokenStore(path)
    with caplog.at_level(logging.WARNING, logger="loctocat"):
        store.save("k", make_token())
        assert store.load("k") is not None
        with store.lock("k"):
            store.delete("k")
    [warning] = loctocat_warnings(caplog)
    assert str(directory) in warning
    assert "visible to other users" in warning
    assert f"chmod go-rwx {directory}" in warning
    assert stat.S_IMODE(directory.stat().st_mode) == mode  # the caller's directory: not changed
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="loctocat"):
        FileTokenStore(path).load("k")  # another store warns again
    assert len(loctocat_warnings(caplog)) == 1


@POSIX_ONLY
def test_private_directory_gives_no_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "private"
    directory.mkdir(mode=0o700)
    directory.chmod(0o700)
    store = FileTokenStore(directory / "tokens.json")
    with caplog.at_level(logging.WARNING, logger="loctocat"):
        store.save("k", make_token())
        store.load("k")
        with store.lock("k"):
            pass
    assert loctocat_warnings(caplog) == []


@POSIX_ONLY
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG_DATA_HOME is Linux's")
@pytest.mark.parametrize("explicit", [False, True], ids=["default", "explicit-path"])
def test_own_default_directory_others_may_list_is_tightened(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    explicit: bool,
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    directory = tmp_path / "data" / "loctocat"
    directory.mkdir(parents=True)
    directory.chmod(0o755)
    store = FileTokenStore(directory / "other.json") if explicit else FileTokenStore()
    with caplog.at_level(logging.WARNING, logger="loctocat"):
        store.save("k", make_token())
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    [warning] = loctocat_warnings(caplog)
    assert str(directory) in warning
    assert "0700" in warning


@POSIX_ONLY
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG_DATA_HOME is Linux's")
def test_own_default_directory_others_may_write_to_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    directory = tmp_path / "data" / "loctocat"
    directory.mkdir(parents=True)
    directory.chmod(0o775)
    with pytest.raises(StoreError, match=r"chmod go-w"):
        FileTokenStore().save("k", make_token())
    assert stat.S_IMODE(directory.stat().st_mode) == 0o775


def test_load_does_not_create_anything(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "missing" / "tokens.json")
    assert store.load("k") is None
    store.delete("k")
    assert not (tmp_path / "missing").exists()


# -- FileTokenStore: processes ------------------------------------------------------------------


def test_two_processes_saving_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    run_workers(
        ["save-many", str(path), "a", "50"],
        ["save-many", str(path), "b", "50"],
    )
    tokens = json.loads(path.read_text())["tokens"]
    expected = {f"{prefix}-{i}" for prefix in "ab" for i in range(50)}
    assert set(tokens) == expected
    store = FileTokenStore(path)
    assert store.load("b-49").access_token == "b-token-49"  # type: ignore[union-attr]


def _assert_serialized(spans: list[dict[str, Any]]) -> None:
    first, second = sorted(spans, key=lambda span: span["entered"])
    # The lock held: the second got in only after the first was out...
    assert first["exited"] <= second["entered"]
    # ...and it really had to wait (it asked before the first was done), so this test is not
    # passing merely because the two processes happened to run one after the other.
    assert second["requested"] < first["exited"]


def test_two_processes_refreshing_at_once_serialize(tmp_path: Path) -> None:
    """Both load -> slow refresh -> save (counter + 1) under lock(): the final count is 2."""
    path = tmp_path / "tokens.json"
    FileTokenStore(path).save("k", make_token(refresh_count=0))
    spans = run_workers(
        ["refresh", str(path), "k", "1"],
        ["refresh", str(path), "k", "1"],
    )
    assert FileTokenStore(path).load("k").refresh_count == 2  # type: ignore[union-attr]
    _assert_serialized(spans)


def test_second_process_reuses_the_token_the_first_refreshed(tmp_path: Path) -> None:
    """With an expired token, one process refreshes; the other finds the fresh token instead."""
    path = tmp_path / "tokens.json"
    expired = Token(
        access_token="old",
        refresh_token="r",
        expires_at=datetime.now(UTC) - timedelta(minutes=1),
        extra={"refresh_count": 0},
    )
    FileTokenStore(path).save("k", expired)
    spans = run_workers(
        ["refresh", str(path), "k", "0"],
        ["refresh", str(path), "k", "0"],
    )
    assert sorted(span["refreshed"] for span in spans) == [False, True]
    assert FileTokenStore(path).load("k").refresh_count == 1  # type: ignore[union-attr]
    _assert_serialized(spans)


@POSIX_ONLY
def test_writer_killed_mid_write_leaves_previous_file_intact(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    store = FileTokenStore(path)
    for i in range(3):
        store.save(f"k{i}", make_token(f"access-{i}"))
    before = path.read_bytes()

    size = 2_000_000
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), "slow-write", str(path), "big", str(size)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "HALF-WRITTEN", proc.stderr.read() if proc.stderr else ""
        # It really is in the middle: a partly written temp file sits next to the token file.
        temps = [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
        assert len(temps) == 1
        assert 0 < temps[0].stat().st_size < size
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    assert path.read_bytes() == before
    assert [store.load(f"k{i}").access_token for i in range(3)] == [  # type: ignore[union-attr]
        "access-0",
        "access-1",
        "access-2",
    ]
    assert store.load("big") is None
    # The next save (under the lock, so no writer can be live) removes the dead writer's temp
    # file, which holds half a secret.
    store.save("k3", make_token("access-3"))
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    assert store.load("k0").access_token == "access-0"  # type: ignore[union-attr]


# -- FileTokenStore: corruption ----------------------------------------------------------------


CORRUPT_FILES = [
    b"{not json",
    b"",
    b"\xff\xfe garbage",
    b"[]",
    b'{"tokens": {}}',
    b'{"version": "1", "tokens": {}}',
    b'{"version": 1, "tokens": []}',
    b'{"version": 0, "tokens": {}}',
    b"[" * 100_000,
]


@pytest.mark.parametrize("content", CORRUPT_FILES, ids=range(len(CORRUPT_FILES)))
def test_corrupt_file_load_raises_naming_path_and_remedy(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "tokens.json"
    path.write_bytes(content)
    with pytest.raises(StoreError) as caught:
        FileTokenStore(path).load("k")
    message = str(caught.value)
    assert str(path) in message
    assert "corrupt" in message
    assert "delete it" in message
    assert caught.value.corrupt
    assert path.read_bytes() == content  # loading changes nothing


@pytest.mark.parametrize("content", CORRUPT_FILES[:5], ids=range(5))
def test_corrupt_file_save_moves_it_aside_and_starts_afresh(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tokens.json"
    path.write_bytes(content)
    store = FileTokenStore(path)
    with caplog.at_level(logging.WARNING, logger="loctocat"):
        store.save("k", make_token())
    backups = list(tmp_path.glob("tokens.json.corrupt-*"))
    assert len(backups) == 1
    assert backups[0].read_bytes() == content
    assert backups[0].name.endswith("Z")  # a UTC time stamp
    assert store.load("k").access_token == SECRET  # type: ignore[union-attr]
    assert list(json.loads(path.read_text())["tokens"]) == ["k"]
    [record] = [r for r in caplog.records if r.name == "loctocat"]
    assert record.levelno == logging.WARNING
    assert str(backups[0]) in record.getMessage()
    assert SECRET not in caplog.text
    assert REFRESH_SECRET not in caplog.text


def test_corrupt_file_delete_moves_it_aside(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_bytes(b"{oops")
    FileTokenStore(path).delete("k")
    assert [p.read_bytes() for p in tmp_path.glob("tokens.json.corrupt-*")] == [b"{oops"]
    assert FileTokenStore(path).load("k") is None


def test_newer_file_format_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    content = b'{"version": 3, "tokens": {"k": {"access_token": "a"}}}'
    path.write_bytes(content)
    store = FileTokenStore(path)
    actions: list[Callable[[], object]] = [
        lambda: store.load("k"),
        lambda: store.save("k", make_token()),
    ]
    for action in actions:
        with pytest.raises(StoreError, match="newer loctocat") as caught:
            action()
        assert not caught.value.corrupt  # a newer loctocat reads it: saving must not replace it
    assert path.read_bytes() == content
    assert not list(tmp_path.glob("*.corrupt-*"))


BAD_ENTRIES: dict[str, Any] = {
    "not-a-dict": [SECRET],
    "a-string": SECRET,
    "no-access-token": {"token_type": "Bearer", "refresh_token": REFRESH_SECRET},
    "wrong-type": {"access_token": SECRET, "scope": 42},
    # float() of this would quote it in its message: it must not reach ours.
    "bad-time": {"access_token": SECRET, "loctocat_expires_at": REFRESH_SECRET},
}


def test_corrupt_entry_affects_only_its_key_and_survives_other_saves(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    good = make_token("good-access")
    document = {"version": 1, "tokens": {"good": good.to_dict(), **BAD_ENTRIES}}
    path.write_text(json.dumps(document))
    store = FileTokenStore(path)

    for key in BAD_ENTRIES:
        with pytest.raises(StoreError) as caught:
            store.load(key)
        message = str(caught.value)
        assert repr(key) in message
        assert str(path) in message
        assert "a new login replaces it" in message
        assert SECRET not in message
        assert REFRESH_SECRET not in message
        assert caught.value.__cause__ is None  # no secret hiding in a chained error either
        assert caught.value.corrupt
    assert store.load("good").access_token == "good-access"  # type: ignore[union-attr]

    store.save("new", make_token("new-access"))
    tokens = json.loads(path.read_text())["tokens"]
    assert {key: tokens[key] for key in BAD_ENTRIES} == BAD_ENTRIES  # kept byte for byte
    assert store.load("new").access_token == "new-access"  # type: ignore[union-attr]
    assert not list(tmp_path.glob("*.corrupt-*"))  # the file as a whole was fine

    store.delete("not-a-dict")  # the remedy the message gives
    assert store.load("not-a-dict") is None


# Times no platform can turn into a datetime, or that are not times at all. Before, they raised a
# bare OSError, OverflowError or ValueError (reported by the CLI as an unexpected error), or, for
# a bool or a numeric string, were silently taken as a time.
BAD_TIMES: list[Any] = [
    1e18,
    -1e18,
    -1e11,  # year -1199
    10**400,  # valid JSON; even math.isfinite() overflows on it
    float("nan"),
    float("inf"),
    float("-inf"),
    REFRESH_SECRET,
    "1700000000",
    True,
    False,
    [],
    {},
]


@pytest.mark.parametrize("bad", BAD_TIMES, ids=range(len(BAD_TIMES)))
@pytest.mark.parametrize("field", ["expires_at", "received_at"])
@pytest.mark.parametrize("layout", ["file-v1", "file-v2", "keyring-flat", "keyring-v2"])
def test_bad_time_in_any_format_is_a_corrupt_entry_that_saving_replaces(
    layout: str,
    field: str,
    bad: Any,
    tmp_path: Path,
    fake_keyring: FakeKeyring,
    cache_home: Path,
) -> None:
    token = make_token()
    if layout.endswith("-v2"):
        entry = {**entry_of(token), field: bad}
    else:
        entry = {**token.to_dict(), f"loctocat_{field}": bad}
    path = tmp_path / "tokens.json"
    store: TokenStore
    if layout.startswith("file"):
        version = 1 if layout == "file-v1" else 2
        path.write_text(json.dumps({"version": version, "tokens": {"k": entry}}))
        store = FileTokenStore(path)
    else:
        marked = {"format": 2, **entry} if layout == "keyring-v2" else entry
        fake_keyring.passwords["loctocat", "k"] = json.dumps(marked)
        store = KeyringTokenStore()

    with pytest.raises(StoreError) as caught:
        store.load("k")
    message = str(caught.value)
    assert caught.value.corrupt
    assert "'k'" in message
    assert field in message  # names the field ('expires_at' or 'loctocat_expires_at', ...)
    for secret in (SECRET, REFRESH_SECRET, "1700000000"):
        assert secret not in message
    assert caught.value.__cause__ is None

    store.save("k", make_token("fresh"))  # logging in again replaces it
    assert store.load("k").access_token == "fresh"  # type: ignore[union-attr]


def test_a_bad_version_1_entry_under_another_key_never_stops_a_save(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    bad = {**make_token().to_dict(), "loctocat_expires_at": 10**400}
    path.write_text(json.dumps({"version": 1, "tokens": {"other": bad}}))
    FileTokenStore(path).save("k", make_token("fresh"))
    assert FileTokenStore(path).load("k").access_token == "fresh"  # type: ignore[union-attr]
    assert json.loads(path.read_text())["tokens"]["other"] == bad  # kept as it was


def test_failure_to_read_the_file_is_not_called_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.mkdir()  # reading it fails with an OSError, whatever the user's rights
    with pytest.raises(StoreError, match="cannot read the token file") as caught:
        FileTokenStore(path).load("k")
    assert not caught.value.corrupt


def test_save_waits_for_another_save_and_times_out_naming_the_file_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A save waits only for another save's read-modify-write, under ``<path>.lock``."""
    path = tmp_path / "tokens.json"
    holder = FileTokenStore(path)
    waiter = FileTokenStore(path, lock_timeout=0.2)
    writing = threading.Event()
    finish = threading.Event()
    real_write = FileTokenStore._write

    def slow_write(self: FileTokenStore, tokens: dict[str, Any]) -> None:
        if self is holder:
            writing.set()
            finish.wait(5)
        real_write(self, tokens)

    monkeypatch.setattr(FileTokenStore, "_write", slow_write)
    thread = threading.Thread(target=lambda: holder.save("a", make_token("a")))
    thread.start()
    try:
        assert writing.wait(5)
        started = time.monotonic()
        with pytest.raises(
            StoreError, match=r"could not lock .*tokens\.json\.lock within"
        ) as caught:
            waiter.save("b", make_token())
        assert 0.15 < time.monotonic() - started < 3
        assert "lock_timeout" in str(caught.value)
        assert not caught.value.corrupt
    finally:
        finish.set()
        thread.join(5)
    waiter.save("b", make_token("b"))  # free again
    assert holder.load("a").access_token == "a"  # type: ignore[union-attr]


def test_key_lock_timeout_names_the_key_lock_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    holder = FileTokenStore(path)
    waiter = FileTokenStore(path, lock_timeout=0.2)
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with holder.lock("k"):
            held.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(5)
        started = time.monotonic()
        with pytest.raises(StoreError) as caught, waiter.lock("k"):
            pass
        assert 0.15 < time.monotonic() - started < 3
        lock_file = path.parent / "tokens.json.locks" / f"{key_digest('k')}.lock"
        message = str(caught.value)
        assert f"could not lock {lock_file} within 0.2 s" in message
        assert "another thread or process is using this login" in message
        assert "larger lock_timeout" in message
        # Meanwhile, saving and deleting (any key) do not wait for the holder of "k".
        waiter.save("k", make_token("saved"))
        waiter.delete("k")
        with waiter.lock("other"):  # another key: its own lock
            waiter.save("other", make_token())
    finally:
        release.set()
        thread.join(5)
    with waiter.lock("k"):  # free again
        pass


def no_sleep(seconds: float) -> None:
    raise AssertionError(f"slept {seconds} s")


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


@contextlib.contextmanager
def held_by_another_process(where: str, key: str, cache_home: Path | None = None) -> Iterator[None]:
    """Run store_worker.py's `hold` mode: another process holds lock(key) inside the block."""
    env = dict(os.environ)
    if cache_home is not None:
        env["XDG_CACHE_HOME"] = str(cache_home)
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), "hold", where, key],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "HELD", proc.stderr.read() if proc.stderr else ""
        yield
    finally:
        out, err = proc.communicate("\n", timeout=10)
    assert proc.returncode == 0, err
    assert json.loads(out) == {"released": True}


@pytest.mark.parametrize("kind", ["file", "keyring"])
def test_try_lock_never_blocks_while_another_process_holds_the_key(
    kind: str,
    tmp_path: Path,
    fake_keyring: FakeKeyring,
    cache_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "tokens.json"
    store: FileTokenStore | KeyringTokenStore
    if kind == "file":
        where, store = str(path), FileTokenStore(path, lock_timeout=0.2)
    else:
        where, store = "keyring:my-cli", KeyringTokenStore("my-cli", lock_timeout=0.2)
    with held_by_another_process(where, "k", cache_home):
        lock = store.lock("k")
        with monkeypatch.context() as patched:
            # One attempt and no wait: sleeping at all (filelock's poll) fails the test.
            patched.setattr(time, "sleep", no_sleep)
            started = time.monotonic()
            assert lock.acquire(0) is False
            assert lock.acquire(0) is False
            assert time.monotonic() - started < 0.5
        started = time.monotonic()
        assert lock.acquire(0.2) is False
        assert 0.15 < time.monotonic() - started < 3
        message = "another thread or process is using this login"
        with pytest.raises(StoreError, match=message), store.lock("k"):
            pass
        assert store.lock("other").acquire(0)  # other keys are free
        store.lock("other").release()
        with pytest.raises(RuntimeError):
            lock.release()  # the failed attempts left "k" not even half held here
    assert lock.acquire(0) is True
    lock.release()


def test_lock_of_one_key_does_not_wait_for_another_key_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    # Waiting for the other process's lock would take the whole lock_timeout (5 s), far past
    # the bound; the bound itself leaves room for synced writes on a busy machine.
    store = FileTokenStore(path, lock_timeout=5)
    with held_by_another_process(str(path), "a"):
        started = time.monotonic()
        with store.lock("b"):
            store.save("b", make_token("b"))
        assert time.monotonic() - started < 2.5
        assert store.lock("a").acquire(0) is False  # while "a" really is held


def test_save_and_delete_do_not_wait_for_another_process_holding_a_key_lock(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tokens.json"
    store = FileTokenStore(path, lock_timeout=5)  # a wait would take 5 s: see above
    store.save("k", make_token("before"))
    with held_by_another_process(str(path), "k"):
        started = time.monotonic()
        store.save("k", make_token("during"))
        store.save("other", make_token("other"))
        store.delete("other")
        assert time.monotonic() - started < 2.5
        assert store.load("k").access_token == "during"  # type: ignore[union-attr]
    assert store.load("other") is None


def test_lock_file_that_cannot_be_created_is_a_store_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    store = FileTokenStore(path)
    key_lock_file = tmp_path / "tokens.json.locks" / f"{key_digest('k')}.lock"
    key_lock_file.mkdir(parents=True)  # a directory where the lock file should be
    (tmp_path / "tokens.json.lock").mkdir()
    actions: list[tuple[Path, Callable[[], object]]] = [
        (key_lock_file, lambda: store.lock("k").acquire(0)),
        (tmp_path / "tokens.json.lock", lambda: store.save("k", make_token())),
    ]
    for lock_file, action in actions:
        with pytest.raises(StoreError, match="cannot create the lock file") as caught:
            action()
        assert str(lock_file) in str(caught.value)
        assert not caught.value.corrupt
    assert store.lock("other").acquire(0)  # the failure left nothing half held
    store.lock("other").release()


@POSIX_ONLY
def test_one_lock_file_reached_through_a_symbolic_link_is_one_lock(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    direct = FileTokenStore(tmp_path / "real" / "tokens.json")
    linked = FileTokenStore(tmp_path / "link" / "tokens.json", lock_timeout=0.2)
    with direct.lock("k"):
        # Re-entrant for this thread: taken as a second lock, it would wait for itself.
        with linked.lock("k"):
            linked.save("k", make_token())
        assert linked.lock("k").acquire(0, owner="another task") is False


def test_key_lock_files_are_per_key_in_a_private_directory(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    store = FileTokenStore(path)
    with store.lock("a"), store.lock("b"):
        names = sorted(p.name for p in (tmp_path / "tokens.json.locks").iterdir())
    assert names == sorted(f"{key_digest(key)}.lock" for key in "ab")
    if os.name == "posix":
        assert stat.S_IMODE((tmp_path / "tokens.json.locks").stat().st_mode) == 0o700


# -- KeyringTokenStore -------------------------------------------------------------------------


class FakeKeyring(KeyringBackend):
    """A real keyring backend class that keeps passwords in a dict (no OS keychain exists here)."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.passwords: dict[tuple[str, str], str] = {}
        self.fail_with: Exception | None = None

    def get_password(self, service: str, username: str) -> str | None:
        if self.fail_with:
            raise self.fail_with
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        if self.fail_with:
            raise self.fail_with
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.fail_with:
            raise self.fail_with
        if self.passwords.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError("Password not found")


def test_keyring_entry_is_token_json_under_service_and_key(
    fake_keyring: FakeKeyring, cache_home: Path
) -> None:
    token = make_token()
    KeyringTokenStore("my-cli").save("s|c|repo", token)
    # The token's entry, and the index of the store's keys (keychains cannot list entries).
    assert sorted(fake_keyring.passwords) == [("my-cli", KEYRING_INDEX), ("my-cli", "s|c|repo")]
    entry = json.loads(fake_keyring.passwords["my-cli", "s|c|repo"])
    assert entry == {"format": 2, **entry_of(token)}
    assert KeyringTokenStore("other").load("s|c|repo") is None


def test_keyring_reads_the_flat_entries_of_older_versions(
    fake_keyring: FakeKeyring, cache_home: Path
) -> None:
    token = make_token(created_at=1234)
    fake_keyring.passwords["loctocat", "k"] = json.dumps(token.to_dict())
    store = KeyringTokenStore()
    assert store.load("k") == token
    store.save("k", token)
    assert json.loads(fake_keyring.passwords["loctocat", "k"])["format"] == 2
    assert store.load("k") == token


def test_keyring_entry_of_a_newer_format_is_not_called_corrupt(
    fake_keyring: FakeKeyring, cache_home: Path
) -> None:
    fake_keyring.passwords["loctocat", "k"] = json.dumps({"format": 3, "whatever": SECRET})
    with pytest.raises(StoreError, match="newer loctocat") as caught:
        KeyringTokenStore().load("k")
    assert not caught.value.corrupt
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("raw", ["not json " + SECRET, json.dumps([SECRET]), "{}"])
def test_keyring_corrupt_entry(fake_keyring: FakeKeyring, cache_home: Path, raw: str) -> None:
    fake_keyring.passwords["loctocat", "k"] = raw
    store = KeyringTokenStore()
    with pytest.raises(StoreError, match=r"'k' in the keyring service 'loctocat'") as caught:
        store.load("k")
    assert SECRET not in str(caught.value)
    assert caught.value.corrupt
    store.save("k", make_token("fresh"))  # logging in again replaces it
    assert store.load("k").access_token == "fresh"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("failure", "hint"),
    [
        (keyring.errors.NoKeyringError("no backend"), "no OS keychain"),
        (RuntimeError("D-Bus said no"), "unlocked"),
    ],
)
def test_keyring_backend_failure(
    fake_keyring: FakeKeyring, cache_home: Path, failure: Exception, hint: str
) -> None:
    store = KeyringTokenStore()
    fake_keyring.fail_with = failure
    actions: list[Callable[[], object]] = [
        lambda: store.load("k"),
        lambda: store.save("k", make_token()),
        lambda: store.delete("k"),
    ]
    for action in actions:
        with pytest.raises(StoreError, match=hint) as caught:
            action()
        assert "'loctocat'" in str(caught.value)
        assert SECRET not in str(caught.value)


def test_keyring_delete_failure_of_existing_entry_is_reported(
    fake_keyring: FakeKeyring, cache_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PasswordDeleteError means "absent" only when the entry really is absent."""
    store = KeyringTokenStore()
    store.save("k", make_token())

    def refuse(service: str, username: str) -> None:
        raise keyring.errors.PasswordDeleteError("access denied")

    monkeypatch.setattr(fake_keyring, "delete_password", refuse)
    with pytest.raises(StoreError, match="cannot delete"):
        store.delete("k")


def test_keyring_missing_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "keyring", None)  # makes `import keyring` fail
    with pytest.raises(StoreError, match=r"pip install 'loctocat\[keyring\]'"):
        KeyringTokenStore()


def test_keyring_lock_file_is_per_key_in_the_cache_directory(
    fake_keyring: FakeKeyring, cache_home: Path
) -> None:
    store = KeyringTokenStore()
    seen: list[list[str]] = []
    with store.lock("a"):
        seen.append(sorted(p.name for p in (cache_home / "loctocat").iterdir()))
        with store.lock("b"):  # another key: another lock, taken without waiting
            seen.append(sorted(p.name for p in (cache_home / "loctocat").iterdir()))
    assert len(seen[0]) == 1
    assert seen[0][0].startswith("keyring-")
    assert seen[0][0].endswith(".lock")
    assert len(seen[1]) == 2
    if os.name == "posix":
        assert stat.S_IMODE((cache_home / "loctocat").stat().st_mode) == 0o700


def test_store_error_says_whether_the_data_is_corrupt_and_keeps_it_when_pickled() -> None:
    assert StoreError("disk full").corrupt is False
    error = StoreError("the entry is unreadable", corrupt=True)
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.corrupt) == (StoreError, str(error), True)


def test_every_store_lists_its_keys(
    tmp_path: Path, fake_keyring: FakeKeyring, cache_home: Path, redis_server: RedisServer
) -> None:
    stores: list[TokenStore] = [
        MemoryTokenStore(),
        FileTokenStore(tmp_path / "tokens.json"),
        KeyringTokenStore(),
        RedisTokenStore(redis_server.url, prefix=unique_prefix()),
    ]
    for store in stores:
        assert store.keys() == []  # type: ignore[attr-defined]
        store.save("b|c|", make_token())
        store.save("a|c|read", make_token())
        store.save("b|c|", make_token("again"))
        assert store.keys() == ["a|c|read", "b|c|"]  # type: ignore[attr-defined]
        store.delete("a|c|read")
        assert store.keys() == ["b|c|"]  # type: ignore[attr-defined]


def test_a_key_reads_back_as_its_parts() -> None:
    from loctocat.store import StoredLogin, parse_key, token_key

    key = token_key("https://as.example/token", "app", ["write", "read"], "ci")
    assert parse_key(key) == StoredLogin("https://as.example/token", "app", ("read", "write"), "ci")
    bare = parse_key(token_key("https://as.example/token", "app"))
    assert bare == StoredLogin("https://as.example/token", "app", (), None)


def test_stores_keep_pending_logins_privately(store: TokenStore, tmp_path: Path) -> None:
    from loctocat.store import PendingLoginStore

    assert isinstance(store, PendingLoginStore)
    expires_at = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    pending = {"format": 1, "device_code": "dc", "user_code": "WDJB-MJHT", "expires_at": expires_at}
    assert store.load_pending("k") is None
    store.save_pending("k", pending)
    token = make_token()
    store.save("k", token)  # beside the token, not in its place
    assert store.load_pending("k") == pending
    assert store.load("k") == token
    if isinstance(store, FileTokenStore):
        [path] = (tmp_path / "tokens.json.pending").iterdir()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    store.delete_pending("k")
    store.delete_pending("k")  # no error when there is none
    assert store.load_pending("k") is None
    assert store.load("k") == token
    with pytest.raises(StoreError, match="not JSON data"):
        store.save_pending("k", {"expires_at": expires_at, "when": object()})
