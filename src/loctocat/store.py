"""Keep tokens between runs, so a CLI logs in once and then reuses or refreshes its token.

```python
from loctocat.store import FileTokenStore, token_key

store = FileTokenStore()  # ~/.local/share/loctocat/tokens.json on Linux
key = token_key(token_url, client_id, scopes)
with store.lock(key):  # another thread or process after the same login waits here
    token = store.load(key)
    if token is None or token.is_expired():
        token = log_in_or_refresh(token)  # your code
        store.save(key, token)
```

Four stores share the `TokenStore` protocol, and their `lock(key)` returns a `KeyLock`, one
per key, which asyncio and trio tasks can share too (see there):

- `FileTokenStore`: one JSON file, mode 0600, replaced atomically, shared safely between
  threads and processes. The default.
- `KeyringTokenStore`: the OS keychain, through `keyring` (``pip install 'loctocat[keyring]'``).
- `RedisTokenStore`: Redis, shared by the processes of many machines: services and fleets
  (``pip install 'loctocat[redis]'``).
- `MemoryTokenStore`: a dict, for tests and for caching within one process.

Every failure to read or write is a `StoreError` whose message names the file (or keyring
service, or Redis URL) and says what to do. Tokens never appear in those messages nor in the
log.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import logging
import math
import os
import secrets
import stat
import threading
import time
import weakref
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any, Protocol, runtime_checkable

import filelock
import platformdirs

from loctocat._dpop import DPoPKey
from loctocat._models import _OWN_FIELDS, Identity, Token
from loctocat.errors import ConfigurationError, StoreError

__all__ = [
    "FileTokenStore",
    "KeyLock",
    "KeyringTokenStore",
    "MemoryTokenStore",
    "PendingLoginStore",
    "RedisTokenStore",
    "StoredLogin",
    "TokenStore",
    "keyring_usable",
    "parse_key",
    "token_key",
]

logger = logging.getLogger("loctocat")

#: The `version` written in a token file. Files of version 1 are read too, and saved as 2.
FILE_FORMAT_VERSION = 2

#: The `format` written in, and understood from, a keyring entry (and a Redis one: both stores
#: keep one JSON entry per key).
KEYRING_FORMAT = 2
#: The user name of the keychain entry listing a `KeyringTokenStore`'s keys.
KEYRING_INDEX = "loctocat:index"
#: What the user name of a pending login's keychain entry starts with (then the login key).
_PENDING = "pending:"

#: How long ``with lock(key)``, `save()` and `delete()` wait for another holder by default.
DEFAULT_LOCK_TIMEOUT = 60.0


@runtime_checkable
class TokenStore(Protocol):
    """Where tokens are kept between runs, by key (see `token_key`).

    Hold `lock(key)` around load -> refresh or login -> save: two threads, tasks or processes
    after the same login then take turns, and the second finds the token the first saved
    instead of spending the refresh token again (many servers rotate refresh tokens, so a
    second refresh with the old one fails) or logging in a second time. The lock is
    re-entrant for the same thread, so `save()` and `delete()` may be called while holding it.
    """

    def load(self, key: str) -> Token | None:
        """The token saved under `key`, or None if there is none."""
        ...

    def save(self, key: str, token: Token) -> None:
        """Save `token` under `key`, replacing any token saved there before."""
        ...

    def delete(self, key: str) -> None:
        """Forget the token saved under `key` (e.g. on logout). No error if there is none."""
        ...

    def lock(self, key: str) -> contextlib.AbstractContextManager[object]:
        """A context manager that holds the lock for `key` across threads and processes.

        loctocat's stores return a `KeyLock`, which also excludes tasks sharing a thread (see
        there); your own store may return any context manager.
        """
        ...


@runtime_checkable
class PendingLoginStore(Protocol):
    """A store that also keeps pending logins (`PendingLogin.to_dict()`), by login key, so that
    a login started in one process can be finished in another (`loctocat login --start` and
    `--finish`). loctocat's stores all are. The dicts hold a secret device code: a store keeps
    them as privately as tokens."""

    def save_pending(self, key: str, pending: Mapping[str, Any]) -> None:
        """Keep `pending` under `key`, replacing any pending login kept there."""
        ...

    def load_pending(self, key: str) -> dict[str, Any] | None:
        """The pending login kept under `key`, or None."""
        ...

    def delete_pending(self, key: str) -> None:
        """Forget the pending login kept under `key`. No error if there is none."""
        ...


def _pending_json(key: str, pending: Mapping[str, Any]) -> str:
    try:
        return json.dumps(dict(pending), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StoreError(
            f"cannot keep the pending login for {key!r}: it is not JSON data ({exc}); pass "
            "PendingLogin.to_dict()"
        ) from None


def _pending_from_json(raw: str | bytes, where: str) -> dict[str, Any]:
    """A kept pending login; `StoreError` (`corrupt`) when it is not a JSON object."""
    try:
        pending = json.loads(raw)
    except (ValueError, RecursionError):
        pending = None
    if not isinstance(pending, dict):
        raise StoreError(
            f"the pending login in {where} is unreadable (it is not a JSON object): start the "
            "login again, which replaces it",
            corrupt=True,
        )
    return pending


def token_key(
    server: str, client_id: str, scopes: Iterable[str] = (), account: str | None = None
) -> str:
    """The store key for one login: ``"<server>|<client_id>|<scopes>[|<account>]"``.

    `server` is the issuer or the token URL; pass the same string every time, as it is used
    verbatim. `scopes` are sorted and deduplicated and joined by single spaces, so their order
    does not matter; a single space-separated string is accepted too. `account` tells apart
    several logins of one client on one server (e.g. a user name). For example::

        >>> url = "https://github.com/login/oauth/access_token"
        >>> token_key(url, "Iv1.abc", ["repo", "read:org", "repo"])
        'https://github.com/login/oauth/access_token|Iv1.abc|read:org repo'
        >>> token_key(url, "Iv1.abc", "repo", account="octocat")
        'https://github.com/login/oauth/access_token|Iv1.abc|repo|octocat'

    The key holds no secret, so it may appear in messages. Raises `ConfigurationError` if
    `server` or `client_id` is empty, or if any part contains ``|`` (which would make two
    different logins share a key).
    """
    if isinstance(scopes, str):
        scopes = (scopes,)
    scope_set = {part for scope in scopes for part in scope.split()}
    parts = [("server", server), ("client_id", client_id), ("account", account or "")]
    parts.extend(("scopes", scope) for scope in sorted(scope_set))
    for name, value in parts:
        if "|" in value:
            raise ConfigurationError(
                f"{name} must not contain '|' (got {value!r}): it separates the parts of the "
                "key the token is stored under",
                parameter=name,
            )
    if not server or not client_id:
        raise ConfigurationError("a token's store key needs a server and a client_id")
    key = f"{server}|{client_id}|{' '.join(sorted(scope_set))}"
    return f"{key}|{account}" if account else key


@dataclass(frozen=True)
class StoredLogin:
    """What a store key names (see `token_key`): the server, client, scopes and account."""

    server: str
    client_id: str
    scopes: tuple[str, ...]
    account: str | None


def parse_key(key: str) -> StoredLogin:
    """The parts of a key made by `token_key` (the inverse of it)."""
    server, _, rest = key.partition("|")
    client_id, _, rest = rest.partition("|")
    scopes, _, account = rest.partition("|")
    return StoredLogin(server, client_id, tuple(scopes.split()), account or None)


class MemoryTokenStore:
    """Tokens in a dict, for tests and for caching within one process. Thread-safe.

    Nothing is written anywhere: the tokens are gone when the process ends. `lock(key)` is a
    `KeyLock` per key, which excludes the threads and tasks of this process only.
    """

    def __init__(self) -> None:
        self._tokens: dict[str, Token] = {}
        self._pending: dict[str, str] = {}
        self._lock = threading.Lock()

    def load(self, key: str) -> Token | None:
        """The token saved under `key`, or None if there is none."""
        with self._lock:
            return self._tokens.get(key)

    def save(self, key: str, token: Token) -> None:
        """Save `token` under `key`, replacing any token saved there before."""
        with self._lock:
            self._tokens[key] = token

    def delete(self, key: str) -> None:
        """Forget the token saved under `key`. No error if there is none."""
        with self._lock:
            self._tokens.pop(key, None)

    def keys(self) -> list[str]:
        """The keys tokens are saved under, sorted."""
        with self._lock:
            return sorted(self._tokens)

    def lock(self, key: str) -> KeyLock:
        """The lock for `key` (see `KeyLock`); ``with`` waits for it as long as it takes."""
        return KeyLock(_memory_lock(self, key), None, "using this login")

    def save_pending(self, key: str, pending: Mapping[str, Any]) -> None:
        """Keep a pending login (`PendingLogin.to_dict()`) under `key`."""
        data = _pending_json(key, pending)
        with self._lock:
            self._pending[key] = data

    def load_pending(self, key: str) -> dict[str, Any] | None:
        """The pending login kept under `key`, or None."""
        with self._lock:
            raw = self._pending.get(key)
        return None if raw is None else _pending_from_json(raw, "memory")

    def delete_pending(self, key: str) -> None:
        """Forget the pending login kept under `key`."""
        with self._lock:
            self._pending.pop(key, None)


class _AcrossProcesses(Protocol):
    """The part of a lock that excludes other processes: a lock file, or a key in Redis."""

    def take(self, deadline: float | None) -> bool:
        """Take it, waiting until `deadline` (`time.monotonic()`; None: for ever); False if that
        passed first. At least one attempt even when it has passed, so a timeout of 0 tries once.
        """
        ...

    def give_back(self) -> None:
        """Release it (only called by the process that took it)."""
        ...


class _SharedLock:
    """What every `KeyLock` of one lock identity in this process shares: who holds it, how often.

    The owner and its count live under a `threading.Condition`; waiters sleep on it until the
    count drops to 0. A lock with an `across` part (a lock file, a Redis key) also takes that
    when its count goes from 0 to 1, and gives it back at 1 -> 0, so other processes are
    excluded too. The in-process part comes first because a `FileLock` shared by threads
    (`thread_local=False`) neither tells owners apart nor, on every platform, excludes threads
    of one process from each other; and a Redis lock is one per process by design.
    """

    def __init__(self, where: str | None, across: _AcrossProcesses | None = None) -> None:
        #: What messages call this lock (a lock file's path, a Redis key); None: in memory only.
        self.where = where
        self._across = across
        self._condition = threading.Condition(threading.Lock())
        self._owner: Hashable | None = None
        self._count = 0
        # True while the next owner waits for the `across` part; others keep waiting meanwhile.
        self._taking = False

    def acquire(self, owner: Hashable, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            if self._count and self._owner == owner:
                self._count += 1
                return True
            while self._count or self._taking:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._condition.wait(left)
            if self._across is None:
                self._owner, self._count = owner, 1
                return True
            self._taking = True
        taken = False
        try:
            # Outside the condition: waiting for another process must not stop the threads of
            # this one from giving up on their own timeouts.
            taken = self._across.take(deadline)
        finally:
            with self._condition:
                self._taking = False
                if taken:
                    self._owner, self._count = owner, 1
                else:
                    self._condition.notify_all()
        return taken

    def release(self, owner: Hashable) -> None:
        with self._condition:
            if not self._count or self._owner != owner:
                where = self.where or "in memory"
                raise RuntimeError(f"release() of a lock this owner does not hold ({where})")
            if self._count > 1:
                self._count -= 1
                return
            try:
                if self._across is not None:
                    self._across.give_back()
            finally:
                self._owner, self._count = None, 0
                self._condition.notify_all()


class _LockFile:
    """A `filelock.FileLock` as the part of a lock that excludes other processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = filelock.FileLock(path, mode=0o600, thread_local=False)

    def take(self, deadline: float | None) -> bool:
        try:
            if deadline is None:
                self._lock.acquire(timeout=-1)
            else:
                left = deadline - time.monotonic()
                # A single attempt when no time is left, so that timeout=0 never sleeps.
                self._lock.acquire(timeout=max(left, 0.0), blocking=left > 0)
        except filelock.Timeout:
            return False
        except OSError as exc:
            raise StoreError(
                f"cannot create the lock file {self.path}: {exc.strerror or exc}; "
                "check that its directory is writable"
            ) from None
        return True

    def give_back(self) -> None:
        self._lock.release()


def _checked_lock_timeout(seconds: float | None) -> float | None:
    """`seconds` if it is a usable lock timeout; `ConfigurationError` otherwise."""
    if seconds is not None and not (
        isinstance(seconds, int | float) and 0 <= seconds <= threading.TIMEOUT_MAX
    ):
        raise ConfigurationError(
            f"lock_timeout must be a number of seconds from 0 to {threading.TIMEOUT_MAX:g}, or "
            f"None to wait for ever, got {seconds!r}",
            parameter="lock_timeout",
        )
    return seconds


class KeyLock:
    """The lock of one key of a token store, as `lock(key)` returns it.

    It excludes other threads, other asyncio or trio tasks, and other processes (the file and
    keyring stores lock a file for that; `MemoryTokenStore` only this process). It is
    re-entrant for its owner: the same owner may acquire it again, and must release it as many
    times. The owner is the calling thread unless you pass `owner=`.

    As a context manager it acquires for the calling thread, waiting the store's
    `lock_timeout`, and raises `StoreError` when that runs out::

        with store.lock(key):
            ...

    Tasks that share a thread must not use ``with``: they would all be the same owner (the
    thread) and enter together. Each passes an owner of its own instead, and waits without
    blocking the event loop::

        lock = store.lock(key)
        me = asyncio.current_task()  # or anyio.get_current_task()
        while not lock.acquire(0, owner=me):
            await asyncio.sleep(0.05)
        try:
            ...
        finally:
            lock.release(owner=me)
    """

    def __init__(self, shared: _SharedLock, lock_timeout: float | None, holder: str) -> None:
        self._shared = shared
        self._lock_timeout = lock_timeout
        self._holder = holder  # who a timeout blames, e.g. "using this login"

    def __repr__(self) -> str:
        return f"KeyLock({self._shared.where or 'memory'!r})"

    def acquire(self, timeout: float | None = None, *, owner: Hashable | None = None) -> bool:
        """Take the lock for `owner`; True once it is held, False if `timeout` ran out first.

        `timeout` is in seconds: 0 tries once without waiting, None waits for ever. `owner`
        defaults to the calling thread; pass your task (e.g. ``asyncio.current_task()``) to
        exclude other tasks of the same thread. Raises `StoreError` if the lock file cannot be
        created.
        """
        if timeout is not None and not timeout >= 0:
            raise ValueError("KeyLock.acquire(): timeout must be None or at least 0 seconds")
        return self._shared.acquire(threading.get_ident() if owner is None else owner, timeout)

    def release(self, *, owner: Hashable | None = None) -> None:
        """Release the lock once for `owner` (the calling thread by default).

        Raises `RuntimeError` if `owner` does not hold it.
        """
        self._shared.release(threading.get_ident() if owner is None else owner)

    @property
    def timeout(self) -> float | None:
        """How long ``with`` waits, in seconds: the store's `lock_timeout` (None: for ever)."""
        return self._lock_timeout

    def timed_out(self) -> StoreError:
        """The error to raise when waiting `timeout` seconds for the lock was not enough."""
        where = self._shared.where or "the lock"
        return StoreError(
            f"could not lock {where} within {self._lock_timeout} s: another "
            f"thread or process is {self._holder}; try again, or pass a larger lock_timeout"
        )

    def __enter__(self) -> None:
        if not self.acquire(self._lock_timeout):
            raise self.timed_out()

    def __exit__(self, *exc_info: object) -> None:
        self.release()


_locks: dict[str, _SharedLock] = {}
_memory_locks: weakref.WeakKeyDictionary[MemoryTokenStore, dict[str, _SharedLock]] = (
    weakref.WeakKeyDictionary()
)
_locks_guard = threading.Lock()


def _file_lock(path: Path) -> _SharedLock:
    """The one `_SharedLock` of this process for the lock file `path`."""
    # The real path: two spellings of one file (through a symbolic link, say) are one lock.
    name = os.path.realpath(path)
    with _locks_guard:
        if name not in _locks:
            _locks[name] = _SharedLock(name, _LockFile(Path(name)))
        return _locks[name]


def _memory_lock(store: MemoryTokenStore, key: str) -> _SharedLock:
    """The one `_SharedLock` of this process for `key` in `store`."""
    with _locks_guard:
        by_key = _memory_locks.setdefault(store, {})
        if key not in by_key:
            by_key[key] = _SharedLock(None)
        return by_key[key]


def _forget_locks_after_fork() -> None:
    # A forked child must not inherit locks that a thread of the parent holds: that thread does
    # not exist in the child, so they would never be released.
    global _locks_guard
    _locks_guard = threading.Lock()
    _locks.clear()
    _memory_locks.clear()
    for store in list(_redis_stores):
        store._forget_locks()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_locks_after_fork)


class _CorruptFileError(Exception):
    """The token file is not a token file; the message says why, without its contents."""


class _NewerFormatError(Exception):
    """Written by a newer loctocat, with a format version we do not know."""


class _CorruptEntryError(Exception):
    """A saved token is unreadable; the message says why, without quoting any value."""


def _parse_file(raw: bytes) -> tuple[int, dict[str, Any]]:
    """The format version and the `tokens` mapping of a token file's bytes, entries as they are."""
    try:
        document = json.loads(raw)
    except UnicodeDecodeError:
        raise _CorruptFileError("it is not UTF-8 text") from None
    except ValueError as exc:  # JSONDecodeError; its message gives a position, not content
        raise _CorruptFileError(f"it is not valid JSON: {exc}") from None
    except RecursionError:
        raise _CorruptFileError("it is not valid JSON: nested too deeply") from None
    if not isinstance(document, dict):
        raise _CorruptFileError("it is not a JSON object")
    version = document.get("version")
    if type(version) is not int:
        raise _CorruptFileError("its 'version' is missing or not an integer")
    if version > FILE_FORMAT_VERSION:
        raise _NewerFormatError(version)
    if version < 1:
        raise _CorruptFileError(f"its 'version' is {version}, expected 1 or 2")
    tokens = document.get("tokens")
    if not isinstance(tokens, dict):
        raise _CorruptFileError("its 'tokens' is missing or not a JSON object")
    return version, tokens


# The fields of the server's answer that `Token` has attributes for; the others are in `extra`.
_SERVER_FIELDS = tuple(f.name for f in dataclasses.fields(Token) if f.name not in _OWN_FIELDS)


def _entry(token: Token) -> dict[str, Any]:
    """`token` as a format 2 entry: the server's answer, and apart from it loctocat's own times.

    Built from the fields rather than with `Token.to_dict()`, which puts the times among the
    server's fields: a server field named like them would then be read back as the expiry.
    """
    response: dict[str, Any] = dict(token.extra)
    for name in _SERVER_FIELDS:
        value = getattr(token, name)
        if value is not None:
            response[name] = value
    entry: dict[str, Any] = {
        "response": response,
        "expires_at": None if token.expires_at is None else token.expires_at.timestamp(),
        "received_at": token.received_at.timestamp(),
    }
    # What loctocat learnt about the token: the ID token's claims as verified when it was
    # received, and who it belongs to (read back as they are: the store is the user's own).
    if token.claims is not None:
        entry["claims"] = dict(token.claims)
    if token.identity is not None:
        entry["identity"] = token.identity.to_dict()
    if token.dpop_key is not None:
        # The private key a DPoP-bound token needs: as private as the token itself.
        entry["dpop_key"] = token.dpop_key.private_jwk()
    return entry


def _time(value: object, name: str) -> datetime:
    """A saved POSIX time as an aware datetime; `_CorruptEntryError` if it is not one."""
    # bool is an int subclass, and float() would take a numeric string: neither is ours.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _CorruptEntryError(f"its {name!r} is not a number of seconds")
    try:
        # math.isfinite() itself overflows on an integer of hundreds of digits (valid JSON).
        if not math.isfinite(value):
            raise _CorruptEntryError(f"its {name!r} is not a number of seconds")
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise _CorruptEntryError(f"its {name!r} is out of range") from None


def _token_from_entry(entry: Any) -> Token:
    """Rebuild a token from a format 2 entry, or raise `_CorruptEntryError`."""
    if not isinstance(entry, dict):
        raise _CorruptEntryError(f"it is a JSON {type(entry).__name__}, not an object")
    response = entry.get("response")
    if not isinstance(response, dict):
        raise _CorruptEntryError("its 'response' is missing or not an object")
    access_token = response.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise _CorruptEntryError("its 'access_token' is missing or not a non-empty string")
    values = {name: response[name] for name in _SERVER_FIELDS if response.get(name) is not None}
    for name, value in values.items():
        if not isinstance(value, str):
            raise _CorruptEntryError(f"its {name!r} is not a string")
    expires_at = entry.get("expires_at")
    extra = {name: value for name, value in response.items() if name not in _SERVER_FIELDS}
    # Claims and identity are what loctocat learnt, not the token: a damaged one is dropped
    # (and learnt again) rather than costing the token.
    claims = entry.get("claims")
    if not isinstance(claims, dict):
        claims = None
    try:
        known = None if entry.get("identity") is None else Identity.from_dict(entry["identity"])
    except ValueError:
        known = None
    return Token(
        **values,
        expires_at=None if expires_at is None else _time(expires_at, "expires_at"),
        received_at=_time(entry.get("received_at"), "received_at"),
        extra=MappingProxyType(extra),
        claims=claims,
        identity=known,
        dpop_key=_dpop_key(entry.get("dpop_key")),
    )


def _dpop_key(jwk: object) -> DPoPKey | None:
    """A stored DPoP key; an unusable one is a corrupt entry (its token cannot be used)."""
    if jwk is None:
        return None
    if not isinstance(jwk, dict):
        raise _CorruptEntryError("its 'dpop_key' is not a JWK object")
    try:
        return DPoPKey.from_jwk(jwk)
    except (ValueError, ImportError) as exc:
        raise _CorruptEntryError(f"its 'dpop_key' cannot be used: {exc}") from None


def _token_from_flat_entry(entry: Any) -> Token:
    """Rebuild a token from a version 1 entry (`Token.to_dict()`), or raise `_CorruptEntryError`."""
    if not isinstance(entry, dict):
        raise _CorruptEntryError(f"it is a JSON {type(entry).__name__}, not an object")
    # Token.from_dict would take a bool or a numeric string as a time, and fail with the
    # platform's own error (OSError, OverflowError, ...) on one out of range.
    for name in ("loctocat_expires_at", "loctocat_received_at"):
        if entry.get(name) is not None:
            _time(entry[name], name)
    try:
        return Token.from_dict(entry)
    except (ValueError, TypeError, OverflowError, OSError) as exc:
        # Token.from_dict's own messages name a field and never a value; other errors may
        # quote the value, which could be a secret.
        message = str(exc)
        raise _CorruptEntryError(
            message if message.startswith("a saved token") else "a field has a bad value"
        ) from None


def _token_from_text(raw: str, key: str, where: str, other: str) -> Token:
    """Rebuild the token of a one-entry-per-key store (keyring, Redis) from the entry's text.

    The entry is `_entry()` plus ``"format"``, or `Token.to_dict()` as older versions saved it
    in a keyring. Raises `StoreError` naming `where`: with `corrupt` True when the entry is
    unreadable, and without when a newer loctocat wrote it (then the remedy is to upgrade, or to
    use another `other`, such as a keyring service).
    """
    try:
        entry = json.loads(raw)
    except (ValueError, RecursionError):
        entry = raw  # reported below as "a JSON str, not an object"; never quoted
    try:
        if isinstance(entry, dict) and "access_token" in entry:
            # Saved by an older loctocat: `Token.to_dict()`, with no "format".
            return _token_from_flat_entry(entry)
        if isinstance(entry, dict):
            entry_format = entry.get("format")
            if type(entry_format) is int and entry_format > KEYRING_FORMAT:
                raise StoreError(
                    f"the token saved under {key!r} in {where} has format {entry_format}, "
                    f"written by a newer loctocat; upgrade loctocat, or use another {other}"
                )
            if entry_format != KEYRING_FORMAT:
                raise _CorruptEntryError("its 'format' is missing or unknown")
        return _token_from_entry(entry)
    except _CorruptEntryError as exc:
        raise _unreadable(key, where, str(exc)) from None


def _json(key: str, entry: dict[str, Any]) -> str:
    """The entry for `key` as JSON text; `StoreError` if an extra field is not JSON data."""
    try:
        return json.dumps(entry)
    except (TypeError, ValueError):
        raise StoreError(
            f"cannot save the token for {key!r}: one of its extra fields is not JSON data"
        ) from None


def _unreadable(key: str, where: str, reason: str) -> StoreError:
    return StoreError(
        f"the token saved under {key!r} in {where} is unreadable ({reason}): a new login "
        "replaces it (or store.delete(key) removes it)",
        corrupt=True,
    )


class FileTokenStore:
    """Tokens in one JSON file, safe to share between threads and processes.

    The file is ``{"version": 2, "tokens": {key: entry, ...}}``, where each entry is
    ``{"response": {...}, "expires_at": ..., "received_at": ...}``: the token endpoint's answer
    exactly as received (every field, known or not), and apart from it the times loctocat
    computed (POSIX seconds; `expires_at` is null when the server gave no expiry). Files of
    version 1 (entries written by `Token.to_dict()`) are read too, and the next save rewrites
    them as version 2.

    The file is created with mode 0600 (its directory, if missing, with 0700) and always
    replaced atomically, so a process killed while saving leaves the previous file whole. Every
    save and delete reads, changes and writes the file under a short lock on ``<path>.lock``,
    so processes saving at once lose nothing.

    `lock(key)` is one lock per key, a `KeyLock` on a file in the directory
    ``<file name>.locks/`` next to the token file: holding it for one login never makes
    another login wait, and `save()` and `delete()` never wait for it (they wait only for each
    other's read-modify-write), so they may be called while holding it.

    A file that is not a token file makes `load()` raise `StoreError`; `save()` then moves it
    aside to ``<path>.corrupt-<UTC time>`` (with a warning in the ``loctocat`` log) and starts
    a new file. An unreadable entry only affects its own key: it is kept as it is when other
    keys are saved, and replaced when its own key is. Both raise a `StoreError` whose
    `corrupt` is True.

    `lock_timeout` is how many seconds ``with lock(key)``, `save()` and `delete()` wait for
    another holder before raising `StoreError` (None: wait for ever).
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
    ) -> None:
        own_directory = platformdirs.user_data_path("loctocat")
        if path is None:
            path = own_directory / "tokens.json"
        #: The token file.
        self.path = Path(path)
        self.lock_timeout = _checked_lock_timeout(lock_timeout)
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._key_lock_directory = self.path.with_name(self.path.name + ".locks")
        # loctocat's own directory may be tightened; one the caller chose is only warned about.
        self._in_own_directory = os.path.abspath(self.path.parent) == os.path.abspath(own_directory)
        self._warned_visible = False

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r})"

    def load(self, key: str) -> Token | None:
        """The token saved under `key`, or None if there is none (or no file yet).

        Raises `StoreError` if the file cannot be read or is not a token file, or if this
        entry is unreadable. Needs no lock: the file is only ever replaced whole.
        """
        self._check_directory()
        read = self._read()
        if read is None or key not in read[1]:
            return None
        version, tokens = read
        try:
            if version == 1:
                return _token_from_flat_entry(tokens[key])
            return _token_from_entry(tokens[key])
        except _CorruptEntryError as exc:
            raise _unreadable(key, str(self.path), str(exc)) from None

    def keys(self) -> list[str]:
        """The keys tokens are saved under, sorted ([] when there is no file yet).

        Raises `StoreError` if the file cannot be read or is not a token file.
        """
        read = self._read()
        return [] if read is None else sorted(read[1])

    def save(self, key: str, token: Token) -> None:
        """Save `token` under `key`, keeping every other entry as it is.

        Creates the file (and its directory) if needed. A corrupt file is moved aside first
        (see the class). Raises `StoreError` if the file cannot be written.
        """
        # Through JSON text and back: the file then holds a copy, checked to be JSON data.
        entry = json.loads(_json(key, _entry(token)))
        with self._file_lock():
            tokens = self._read_for_update()
            tokens[key] = entry
            self._write(tokens)

    def delete(self, key: str) -> None:
        """Forget the token saved under `key`. No error if there is none, or no file.

        A corrupt file is moved aside (see the class), which forgets every token in it.
        """
        if not self.path.exists():
            return
        with self._file_lock():
            tokens = self._read_for_update()
            if key in tokens:
                del tokens[key]
                self._write(tokens)

    def lock(self, key: str) -> KeyLock:
        """The lock for `key` alone, across threads, tasks and processes (see `KeyLock`).

        Its file is ``<first 32 hex digits of sha256(key)>.lock`` in ``<file name>.locks/``,
        created (mode 0700) if needed. ``with`` raises `StoreError` after `lock_timeout`
        seconds.
        """
        self._make_directory()
        try:
            self._key_lock_directory.mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the directory {self._key_lock_directory} for lock files: "
                f"{exc.strerror or exc}; check that {self.path.parent} is writable"
            ) from None
        name = sha256(key.encode()).hexdigest()[:32] + ".lock"
        # Looked up on each call rather than kept: a forked child gets fresh locks (see above).
        shared = _file_lock(self._key_lock_directory / name)
        return KeyLock(shared, self.lock_timeout, "using this login (perhaps refreshing it)")

    def save_pending(self, key: str, pending: Mapping[str, Any]) -> None:
        """Keep a pending login (`PendingLogin.to_dict()`) under `key`: a file readable by you
        only (mode 0600), ``<hash of key>.json`` in ``<file name>.pending/``."""
        data = _pending_json(key, pending)
        path = self._pending_path(key, create=True)
        temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        try:
            _write_privately(temp, data, lambda written: os.replace(written, path))
        except OSError as exc:
            raise StoreError(
                f"cannot write the pending login {path}: {exc.strerror or exc}; check that "
                f"{path.parent} is writable"
            ) from None

    def load_pending(self, key: str) -> dict[str, Any] | None:
        """The pending login kept under `key`, or None."""
        path = self._pending_path(key)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(
                f"cannot read the pending login {path}: {exc.strerror or exc}"
            ) from None
        return _pending_from_json(raw, str(path))

    def delete_pending(self, key: str) -> None:
        """Forget the pending login kept under `key`."""
        path = self._pending_path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot delete the pending login {path}: {exc.strerror or exc}"
            ) from None

    def _pending_path(self, key: str, create: bool = False) -> Path:
        directory = self.path.with_name(self.path.name + ".pending")
        if create:
            self._make_directory()
            try:
                directory.mkdir(mode=0o700, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the directory {directory} for pending logins: "
                    f"{exc.strerror or exc}; check that {self.path.parent} is writable"
                ) from None
        return directory / (sha256(key.encode()).hexdigest()[:32] + ".json")

    def _file_lock(self) -> KeyLock:
        """The short lock on the whole file that `save()` and `delete()` hold while writing."""
        self._make_directory()
        return KeyLock(
            _file_lock(self._lock_path), self.lock_timeout, f"saving to the token file {self.path}"
        )

    # -- reading ------------------------------------------------------------------------------

    def _read_bytes(self) -> bytes | None:
        try:
            with open(self.path, "rb") as file:
                self._check_owner(os.fstat(file.fileno()))
                return file.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(
                f"cannot read the token file {self.path}: {exc.strerror or exc}; "
                "check that it is a file you may read"
            ) from None

    def _check_owner(self, status: os.stat_result) -> None:
        """Refuse a token file someone else owns or may write to: its tokens are not yours."""
        if os.name != "posix":
            return
        if status.st_uid != os.getuid() or status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise StoreError(
                f"the token file {self.path} is owned by another user or writable by others, "
                "so its tokens may not be yours; delete it (or chmod go-w it if it is yours) "
                "and log in again"
            )

    def _read(self) -> tuple[int, dict[str, Any]] | None:
        raw = self._read_bytes()
        if raw is None:
            return None
        try:
            return _parse_file(raw)
        except _CorruptFileError as exc:
            raise StoreError(
                f"the token file {self.path} is corrupt ({exc}); move it aside or delete it "
                "and log in again (saving a token does this for you, keeping a copy)",
                corrupt=True,
            ) from None
        except _NewerFormatError as exc:
            raise self._newer_format(exc) from None

    def _read_for_update(self) -> dict[str, Any]:
        """The current entries, in format 2, moving a corrupt file aside.

        Call holding `_file_lock()`. Entries of a version 1 file are converted; those that
        cannot be read are kept as they are, so that they are not lost.
        """
        self._remove_stale_temp_files()
        raw = self._read_bytes()
        if raw is None:
            return {}
        try:
            version, tokens = _parse_file(raw)
        except _NewerFormatError as exc:
            # Not corrupt: a newer loctocat can read it, so leave it alone.
            raise self._newer_format(exc) from None
        except _CorruptFileError as exc:
            self._move_aside(str(exc))
            return {}
        if version == 1:
            for key, entry in tokens.items():
                with contextlib.suppress(_CorruptEntryError, StoreError):
                    tokens[key] = _entry(_token_from_flat_entry(entry))
        return tokens

    def _newer_format(self, exc: _NewerFormatError) -> StoreError:
        return StoreError(
            f"the token file {self.path} has format version {exc.args[0]}, written by a newer "
            "loctocat; upgrade loctocat, or use another file"
        )

    def _move_aside(self, reason: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        backup = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        try:
            # A rename keeps the original bytes (and mode 0600) and cannot half-happen.
            os.replace(self.path, backup)
        except OSError as exc:
            raise StoreError(
                f"the token file {self.path} is corrupt ({reason}) and could not be moved to "
                f"{backup}: {exc.strerror or exc}; move or delete it yourself"
            ) from None
        logger.warning(
            "The token file %s was corrupt (%s); moved it to %s and started a new one.",
            self.path,
            reason,
            backup,
        )

    # -- writing ------------------------------------------------------------------------------

    def _make_directory(self) -> None:
        try:
            # 0700: only the user may list the directory (or find the lock file in it).
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the directory {self.path.parent} for the token file: "
                f"{exc.strerror or exc}; create it, or pass another path"
            ) from None
        self._check_directory()

    def _check_directory(self) -> None:
        """Refuse a directory others may write to; tighten or warn about one they may list.

        POSIX only: Windows has ACLs instead of these mode bits.
        """
        directory = self.path.parent
        if os.name != "posix":
            return
        try:
            mode = directory.stat().st_mode
        except OSError:
            return  # missing (created 0700 when needed), or reported when the file is used
        if mode & (stat.S_IWGRP | stat.S_IWOTH):
            # Whoever may write to the directory may rename or replace the token file in it,
            # whatever the file's own mode: they could plant a token of their choosing. With
            # the sticky bit (/tmp) they can still create it before we do.
            raise StoreError(
                f"the directory {directory} of the token file may be written to by other users, "
                f"who could replace the token file; run chmod go-w {directory}, or pass a path "
                "in a directory only you may write to"
            )
        if not mode & (stat.S_IRWXG | stat.S_IRWXO):
            return
        # Other users can list it: they see the file names (not their contents, mode 0600).
        if self._in_own_directory:
            try:
                os.chmod(directory, 0o700)
            except OSError:
                pass  # not ours to change after all: warn below instead
            else:
                logger.warning(
                    "The token directory %s could be listed by other users; "
                    "changed its mode to 0700.",
                    directory,
                )
                return
        if not self._warned_visible:
            self._warned_visible = True
            logger.warning(
                "The names of the files in the token directory %s are visible to other users "
                "(their contents are not); to hide them, run chmod go-rwx %s",
                directory,
                directory,
            )

    def _temp_prefix(self) -> str:
        return f"{self.path.name}.tmp-"

    def _remove_stale_temp_files(self) -> None:
        # Every writer holds the file lock while its temp file exists, so any temp file seen
        # under that lock was left by a writer that was killed. It may hold a secret: remove it.
        prefix = self._temp_prefix()
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.path.parent):
                if entry.name.startswith(prefix):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)

    def _write(self, tokens: dict[str, Any]) -> None:
        """Replace the file atomically with `tokens`. Call holding `_file_lock()`."""
        data = json.dumps({"version": FILE_FORMAT_VERSION, "tokens": tokens}, indent=2) + "\n"
        temp = self.path.with_name(self._temp_prefix() + secrets.token_hex(8))
        try:
            _write_privately(temp, data, self._replace)
        except OSError as exc:
            raise StoreError(
                f"cannot write the token file {self.path}: {exc.strerror or exc}; "
                "check that its directory is writable and the disk is not full"
            ) from None
        if os.name == "posix":
            # Make the rename itself durable. Best effort: some file systems refuse this.
            with contextlib.suppress(OSError):
                dir_fd = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)

    def _replace(self, temp: Path) -> None:
        # On Windows, replacing fails while another process has the file open to read it;
        # readers are quick, so retry briefly.
        for attempt in range(10):
            try:
                os.replace(temp, self.path)
                return
            except PermissionError:
                if os.name != "nt" or attempt == 9:
                    raise
                time.sleep(0.05)


def _write_privately(temp: Path, data: str, replace: Callable[[Path], None]) -> None:
    """Write `data` to the new file `temp`, readable by its owner only, then `replace(temp)`
    (renaming it over the real file). `temp` is removed if anything fails; OSError as raised."""
    try:
        # 0600 from creation on (umask can only remove bits): a chmod afterwards would leave
        # a moment in which other users could open the file.
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        fd = os.open(temp, flags, 0o600)
        try:
            view = memoryview(data.encode())
            while view:
                view = view[os.write(fd, view) :]
            # On disk before the rename, so a crash cannot leave a renamed but empty file.
            os.fsync(fd)
        finally:
            os.close(fd)
        replace(temp)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


class KeyringTokenStore:
    """Tokens in the OS keychain (macOS Keychain, Windows Credential Manager, Secret Service).

    Needs the optional `keyring` package: ``pip install 'loctocat[keyring]'``. Each key is one
    entry: service `service`, user name the key, password the token as JSON, in the same form
    as an entry of `FileTokenStore`'s file plus ``"format": 2``. Entries saved by earlier
    versions (`Token.to_dict()`) are read too. `lock(key)` is a `KeyLock` on a file under the
    user cache directory, since keychains have no locks of their own.

    Windows Credential Manager holds at most about 2.5 KB per entry; a token too big for it
    (large ID tokens) makes `save()` raise `StoreError`: use `FileTokenStore` then.
    """

    def __init__(
        self, service: str = "loctocat", *, lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT
    ) -> None:
        try:
            # Imported here, not at the top: keyring is an optional dependency.
            import keyring
            import keyring.errors
        except ImportError:
            raise StoreError(
                "KeyringTokenStore needs the keyring package: pip install 'loctocat[keyring]'"
            ) from None
        self._keyring: ModuleType = keyring
        #: The keyring service name the entries are saved under.
        self.service = service
        self.lock_timeout = _checked_lock_timeout(lock_timeout)
        self._lock_dir = platformdirs.user_cache_path("loctocat")

    def __repr__(self) -> str:
        return f"KeyringTokenStore({self.service!r})"

    def load(self, key: str) -> Token | None:
        """The token saved under `key`, or None if there is none.

        Raises `StoreError` if the keychain cannot be used, or if the entry is not a token
        (then its `corrupt` is True, and saving a token under `key` replaces the entry).
        """
        with self._errors("read"):
            raw: str | None = self._keyring.get_password(self.service, key)
        if raw is None:
            return None
        return _token_from_text(raw, key, f"the keyring service {self.service!r}", "service")

    def save(self, key: str, token: Token) -> None:
        """Save `token` under `key`, replacing any token saved there before."""
        # The same entry as in a token file, marked so that it is told apart from the flat
        # `Token.to_dict()` that older versions saved.
        data = _json(key, {"format": KEYRING_FORMAT, **_entry(token)})
        # One keychain entry per key: a single call, so no read-modify-write needs a lock.
        with self._errors("write"):
            self._keyring.set_password(self.service, key, data)
        self._index(add=key)

    def delete(self, key: str) -> None:
        """Forget the token saved under `key`. No error if there is none."""
        try:
            with self._errors("delete"):
                self._keyring.delete_password(self.service, key)
        except StoreError as error:
            # Backends signal "no such entry" with the same exception as a real failure.
            if not isinstance(error.__cause__, self._keyring.errors.PasswordDeleteError):
                raise
            if self.load(key) is not None:
                raise
        self._index(remove=key)

    def save_pending(self, key: str, pending: Mapping[str, Any]) -> None:
        """Keep a pending login (`PendingLogin.to_dict()`) under `key`: an entry of its own,
        user name ``pending:KEY``, beside the token's."""
        data = _pending_json(key, pending)
        with self._errors("write"):
            self._keyring.set_password(self.service, _PENDING + key, data)

    def load_pending(self, key: str) -> dict[str, Any] | None:
        """The pending login kept under `key`, or None."""
        with self._errors("read"):
            raw: str | None = self._keyring.get_password(self.service, _PENDING + key)
        if raw is None:
            return None
        return _pending_from_json(raw, f"the keyring service {self.service!r}")

    def delete_pending(self, key: str) -> None:
        """Forget the pending login kept under `key`."""
        with contextlib.suppress(StoreError), self._errors("delete"):
            self._keyring.delete_password(self.service, _PENDING + key)
        if self.load_pending(key) is not None:
            raise StoreError(
                f"cannot delete the pending login under {key!r} from the keyring service "
                f"{self.service!r}: delete it with your keychain's own tool"
            )

    def keys(self) -> list[str]:
        """The keys tokens are saved under, sorted.

        Keychains cannot list their entries, so the store keeps an index of its keys in one
        more entry (user name ``KEYRING_INDEX``), updated by `save()` and `delete()`.
        """
        with self._errors("read"):
            raw: str | None = self._keyring.get_password(self.service, KEYRING_INDEX)
        try:
            keys = json.loads(raw) if raw else []
        except (ValueError, RecursionError):
            keys = []
        return sorted(k for k in keys if isinstance(k, str)) if isinstance(keys, list) else []

    def _index(self, *, add: str | None = None, remove: str | None = None) -> None:
        self._lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        index_lock = _file_lock(self._lock_dir / f"keyring-{self.service}-index.lock")
        with KeyLock(index_lock, self.lock_timeout, "updating the keyring index"):
            keys = set(self.keys())
            changed = keys | ({add} if add else set())
            changed -= {remove} if remove else set()
            if changed != keys:
                with self._errors("write"):
                    self._keyring.set_password(
                        self.service, KEYRING_INDEX, json.dumps(sorted(changed))
                    )

    def lock(self, key: str) -> KeyLock:
        """The lock for `key`, across threads, tasks and processes (see `KeyLock`).

        The lock file is ``keyring-<hash of service and key>.lock`` in the user cache directory.
        ``with`` raises `StoreError` after `lock_timeout` seconds.
        """
        digest = sha256(f"{self.service}|{key}".encode()).hexdigest()[:32]
        try:
            self._lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the directory {self._lock_dir} for keyring lock files: "
                f"{exc.strerror or exc}; check that it is writable"
            ) from None
        shared = _file_lock(self._lock_dir / f"keyring-{digest}.lock")
        return KeyLock(shared, self.lock_timeout, "using this login (perhaps refreshing it)")

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            # Backends raise their own types (D-Bus, Win32, ...), so catch them all. Keep the
            # cause for debugging: keyring messages describe the backend, not the password.
            if isinstance(exc, self._keyring.errors.NoKeyringError):
                hint = "no OS keychain is available here; use FileTokenStore instead"
            else:
                hint = "check that the keychain is unlocked, or use FileTokenStore instead"
            raise StoreError(
                f"cannot {action} the keyring service {self.service!r} "
                f"({type(exc).__name__}: {exc}); {hint}"
            ) from exc


def keyring_usable() -> bool:
    """Whether the OS keychain can keep tokens here: `keyring` installed and a real backend.

    False when keyring is missing, or finds only its fail or null backends (no keychain, as
    on a server or in a container) or loctocat's own backend for package indexes, or cannot say.
    """
    try:
        import keyring
        import keyring.backends.fail
    except ImportError:
        return False
    try:
        backend = keyring.get_keyring()
        return _keeps_passwords(backend)
    except Exception:
        return False


def _keeps_passwords(backend: Any) -> bool:
    """Whether `backend` stores passwords: not the fail or null backend, nor loctocat's own
    (which only answers for package indexes, and says so: `keeps_passwords = False`), nor a
    chainer of nothing else."""
    import keyring.backends.chainer
    import keyring.backends.fail
    import keyring.backends.null

    if isinstance(backend, keyring.backends.chainer.ChainerBackend):
        return any(_keeps_passwords(chained) for chained in backend.backends)
    stores_nothing = (keyring.backends.fail.Keyring, keyring.backends.null.Keyring)
    if isinstance(backend, stores_nothing) or getattr(backend, "keeps_passwords", True) is False:
        return False
    priority = getattr(backend, "priority", 0)
    return isinstance(priority, int | float) and priority > 0


# -- Redis -------------------------------------------------------------------------------------

#: How long a `RedisTokenStore` lock lives unless its holder renews it, in seconds: a holder that
#: dies (killed, its machine lost) holds up the others for at most this long.
DEFAULT_REDIS_LOCK_TTL = 15.0

# The store's Lua scripts: Redis runs each one atomically, so no other client acts in between.

# Take the lock KEYS[1] for ARGV[1], or find that it is already ours: a command retried after a
# lost reply must not take its own first attempt for another holder.
_TAKE = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

# Push back the expiry of the lock KEYS[1], only if it is still ARGV[1]'s.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# Release the lock KEYS[1], only if it is still ARGV[1]'s (not one taken since it expired).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# Write KEYS[2] (value ARGV[2], expiring after ARGV[3] ms if given; '' deletes it), only while the
# lock KEYS[1] is still ARGV[1]'s ('': written without a lock). The fence: a holder whose lock
# expired never overwrites what the next holder saved.
_WRITE = """
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[2])
elseif ARGV[3] == '' then
  redis.call('SET', KEYS[2], ARGV[2])
else
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
end
return 1
"""

#: The longest pause between two tries of a Redis lock another process holds.
_REDIS_POLL_MAX = 0.1


def _import_redis() -> ModuleType:
    try:
        # Imported here, not at the top: redis-py is an optional dependency.
        import redis
    except ImportError:
        raise ConfigurationError(
            "RedisTokenStore needs redis-py: pip install 'loctocat[redis]'"
        ) from None
    return redis


def _shown_url(url: str) -> str:
    """`url` with its password (in the authority or the query) replaced by ``***``."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            user = parts.username or ""
            netloc = f"{user}:***@{netloc.rpartition('@')[2]}"
        query = [
            (name, "***" if name == "password" else value)
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        ]
        return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query, safe="*/")))
    except ValueError:
        return "(a Redis URL that cannot be parsed)"


def _client_url(client: Any) -> str:
    """Where a redis-py client connects, as a URL without credentials, for messages."""
    pool = getattr(client, "connection_pool", None)
    options = getattr(pool, "connection_kwargs", {})
    db = options.get("db", 0)
    if options.get("path"):
        return f"unix://{options['path']}?db={db}"
    secure = "SSL" in getattr(getattr(pool, "connection_class", None), "__name__", "")
    host, port = options.get("host", "localhost"), options.get("port", 6379)
    return f"{'rediss' if secure else 'redis'}://{host}:{port}/{db}"


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _glob_escaped(text: str) -> str:
    """`text` as a literal in a Redis SCAN pattern."""
    return "".join("\\" + char if char in "*?[]\\" else char for char in text)


def _pending_expiry(pending: Mapping[str, Any]) -> float:
    """`pending["expires_at"]` in POSIX seconds: an ISO 8601 time (UTC unless it says) or a
    number of seconds; `ConfigurationError` otherwise."""
    value = pending.get("expires_at")
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            moment = datetime.fromisoformat(value)
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise ConfigurationError(
        "save_pending(): pending['expires_at'] must be an ISO 8601 time or a number of POSIX "
        f"seconds, got {type(value).__name__}"
    )


class _RedisLock:
    """The part of a `RedisTokenStore` key lock that excludes other processes: the Redis key
    ``<prefix>lock:<key>``, set to a random token of this process while it holds the lock,
    with an expiry that the store's `_Renewal` keeps pushing back."""

    def __init__(self, store: RedisTokenStore, key: str) -> None:
        self.store = store
        self.key = key
        self.name = store._name("lock", key)
        #: This process's token while it holds the lock, else None.
        self.token: str | None = None
        #: Set when the renewal found the lock gone (its warning is logged once).
        self.lost = False
        self.shared = _SharedLock(f"the Redis key {self.name!r} at {store.url}", self)

    def take(self, deadline: float | None) -> bool:
        store = self.store
        token = secrets.token_hex(16)
        pause = 0.005
        while True:
            with store._errors(f"take the lock for {self.key!r} in"):
                taken = store._take(keys=[self.name], args=[token, store._ttl_ms()])
            if taken:
                self.token, self.lost = token, False
                store._renewal.add(self)
                return True
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            time.sleep(pause if left is None else min(pause, left))
            pause = min(pause * 2, _REDIS_POLL_MAX)

    def give_back(self) -> None:
        store = self.store
        token, self.token = self.token, None
        store._renewal.discard(self)
        try:
            with store._errors(f"release the lock for {self.key!r} in"):
                released = store._release(keys=[self.name], args=[token])
        except StoreError as error:
            # Raising here would hide what went wrong inside the lock (often the same outage);
            # the lock expires by itself, which is what the expiry is for.
            logger.warning("%s; the lock expires by itself within %g s.", error, store.lock_ttl)
            return
        if not released and not self.lost:
            logger.warning(
                "The Redis lock %r at %s had expired before it was released: it was held "
                "longer than lock_ttl (%g s) without being renewed.",
                self.name,
                store.url,
                store.lock_ttl,
            )


class _Renewal:
    """The one thread of a `RedisTokenStore` that keeps every lock it holds alive.

    Every third of `lock_ttl` it pushes back the expiry of all of them in one pipeline: one
    round trip however many are held (a service may wait on thousands of logins at once), and
    no thread per lock. It runs only while locks are held.
    """

    def __init__(self, store: RedisTokenStore) -> None:
        self._store = store
        self._held: set[_RedisLock] = set()
        self._guard = threading.Lock()
        self._running = False
        self._failing = False

    def add(self, lock: _RedisLock) -> None:
        with self._guard:
            self._held.add(lock)
            if not self._running:
                self._running = True
                # Named after what it renews, for thread dumps (the URL has no password).
                name = f"loctocat-redis-lock-renewal {self._store.url} {self._store.prefix}"
                thread = threading.Thread(target=self._run, name=name, daemon=True)
                thread.start()

    def discard(self, lock: _RedisLock) -> None:
        with self._guard:
            self._held.discard(lock)

    def _run(self) -> None:
        while True:
            time.sleep(self._store.lock_ttl / 3)
            with self._guard:
                held = [(lock, lock.token) for lock in self._held if lock.token is not None]
                if not held:
                    self._running = False
                    return
            self._renew(held)

    def _renew(self, held: list[tuple[_RedisLock, str]]) -> None:
        store = self._store
        try:
            with store._errors("renew the locks held in"):
                pipe = store._redis.pipeline(transaction=False)
                for lock, token in held:
                    store._renew(keys=[lock.name], args=[token, store._ttl_ms()], client=pipe)
                renewed = pipe.execute()
        except Exception as error:
            # Anything at all (also redis-py's own ValueError on a connection closed under it):
            # the thread must outlive it, since every lock held depends on it. Tried again at
            # the next round; a write under a lock that expired meanwhile is refused (see
            # `_WRITE`), so nothing is lost by carrying on.
            still_held = any(lock.token == token for lock, token in held)
            if still_held and not self._failing:  # else all were released meanwhile
                reason = error if isinstance(error, StoreError) else repr(error)
                logger.warning("%s; trying again in %g s.", reason, store.lock_ttl / 3)
            self._failing = still_held
            return
        self._failing = False
        for (lock, token), kept in zip(held, renewed, strict=True):
            if not kept and lock.token == token and not lock.lost:
                lock.lost = True
                logger.warning(
                    "The Redis lock %r at %s expired before it could be renewed (Redis was "
                    "unreachable, or this process paused, for longer than lock_ttl = %g s): "
                    "another process may hold it now, so this one's writes to %r are refused.",
                    lock.name,
                    store.url,
                    store.lock_ttl,
                    lock.key,
                )


class RedisTokenStore:
    """Tokens in Redis, shared by every process and machine using the same Redis: for services
    and fleets of workers.

    Needs redis-py: ``pip install 'loctocat[redis]'``. `url_or_client` is a Redis URL
    (``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` for TLS,
    ``unix:///path/to/redis.sock?db=0``) or a `redis.Redis` client of your own. A store made
    from a URL waits at most 5 s for Redis and retries a failed command 3 times within about
    0.2 s; a client you pass keeps its own timeouts and retries. Nothing connects until the
    first call.

    Its Redis keys all start with `prefix` (use one prefix per application or environment):

    - ``<prefix>token:<key>``: the token, as the same JSON entry as in `FileTokenStore`'s file
      plus ``"format": 2``. Each save and delete is one atomic command.
    - ``<prefix>lock:<key>``: the lock of `key` while a process holds it, with an expiry.
    - ``<prefix>pending:<key>``: a login started and not finished (see `save_pending`),
      expiring by itself with its device code.

    `lock(key)` is a `KeyLock` that excludes every thread, task and process using this Redis
    (as with the other stores, it is re-entrant for its owner, and tasks pass their own owner).
    Across processes it is the lock key, set only if absent, to a random value, expiring after
    `lock_ttl` seconds. One background thread per store renews every lock the store holds every
    third of that, in one round trip, so a login may hold its lock for as long as it takes,
    while the lock of a holder that dies (killed, its machine lost) expires within `lock_ttl`
    and another process goes ahead. Waiting for a lock, ``with`` tries again every 0.1 s at
    most, and raises `StoreError` after `lock_timeout` seconds (None: wait for ever).

    While this process holds a key's lock, `save()`, `delete()` and the pending-login writes
    check, in the same atomic step as the write, that the lock is still this process's. If it
    expired meanwhile (Redis unreachable, or the process paused, for longer than `lock_ttl`),
    the write is refused with `StoreError`, so that a token another process saved since is
    never overwritten.

    Every failure to reach Redis (refused connection, timeout, Redis restarting or loading its
    data, a wrong password) is a `StoreError` naming the URL, without its password, and what to
    do; whatever was stored before stays as it was. An entry that is not a token raises
    `StoreError` with `corrupt` True, and saving a token under its key replaces it.

    Use one store per process and share it between threads and tasks: each store keeps its own
    in-process locks, so two stores on the same Redis exclude each other as two processes do.
    """

    def __init__(
        self,
        url_or_client: str | Any,
        *,
        prefix: str = "loctocat:",
        lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
        lock_ttl: float = DEFAULT_REDIS_LOCK_TTL,
    ) -> None:
        redis = _import_redis()
        self._redis_module = redis
        if isinstance(url_or_client, str):
            #: Where the store keeps its tokens, without the password: safe to show.
            self.url = _shown_url(url_or_client)
            from redis.backoff import ExponentialBackoff
            from redis.retry import Retry

            try:
                self._redis: Any = redis.Redis.from_url(
                    url_or_client,
                    socket_timeout=5.0,
                    socket_connect_timeout=5.0,
                    # Ride out a dropped connection, not an outage: then StoreError, promptly.
                    retry=Retry(ExponentialBackoff(cap=0.1, base=0.025), 3),
                )
            except ValueError as exc:  # its messages name the part at fault, not the password
                raise ConfigurationError(
                    f"the Redis URL {self.url} is not usable: {exc}", parameter="url_or_client"
                ) from None
        else:
            if inspect.iscoroutinefunction(getattr(url_or_client, "execute_command", None)):
                raise ConfigurationError(
                    "RedisTokenStore needs a synchronous redis.Redis client, not a "
                    "redis.asyncio one (the async authenticators call the store from worker "
                    "threads)",
                    parameter="url_or_client",
                )
            self.url = _client_url(url_or_client)
            self._redis = url_or_client
        # Only a client made here is the store's to close.
        self._owns_client = isinstance(url_or_client, str)
        if not isinstance(prefix, str):
            raise ConfigurationError("prefix must be a string", parameter="prefix")
        if not (isinstance(lock_ttl, int | float) and 0.1 <= lock_ttl <= 86400):
            raise ConfigurationError(
                f"lock_ttl must be a number of seconds from 0.1 to 86400, got {lock_ttl!r}",
                parameter="lock_ttl",
            )
        #: The start of every Redis key this store uses.
        self.prefix = prefix
        self.lock_timeout = _checked_lock_timeout(lock_timeout)
        #: How long a lock outlives a holder that stopped renewing it, in seconds.
        self.lock_ttl = float(lock_ttl)
        self._take = self._redis.register_script(_TAKE)
        self._renew = self._redis.register_script(_RENEW)
        self._release = self._redis.register_script(_RELEASE)
        self._write_script = self._redis.register_script(_WRITE)
        self._forget_locks()
        _redis_stores.add(self)

    def __repr__(self) -> str:
        return f"RedisTokenStore({self.url!r}, prefix={self.prefix!r})"

    def load(self, key: str) -> Token | None:
        """The token saved under `key`, or None if there is none.

        Raises `StoreError` if Redis cannot be reached, or if the entry is not a token (then
        its `corrupt` is True, and saving a token under `key` replaces the entry).
        """
        with self._errors(f"read the token for {key!r} from"):
            raw = self._redis.get(self._name("token", key))
        if raw is None:
            return None
        try:
            text = _text(raw)
        except UnicodeDecodeError:
            raise _unreadable(key, f"Redis at {self.url}", "it is not UTF-8 text") from None
        return _token_from_text(text, key, f"Redis at {self.url}", "prefix")

    def save(self, key: str, token: Token) -> None:
        """Save `token` under `key`, replacing any token saved there before, in one step.

        Raises `StoreError` if Redis cannot be reached, or if this process holds the lock of
        `key` and it expired before the save (nothing is written then).
        """
        data = _json(key, {"format": KEYRING_FORMAT, **_entry(token)})
        self._write(key, "token", data, f"save the token for {key!r} to")

    def delete(self, key: str) -> None:
        """Forget the token saved under `key`. No error if there is none."""
        self._write(key, "token", None, f"delete the token for {key!r} from")

    def keys(self) -> list[str]:
        """The keys tokens are saved under, sorted (found with SCAN: it reads every key name
        in the Redis database, so keep it to occasional use, such as ``loctocat status``)."""
        start = self._name("token", "")
        with self._errors("list the tokens in"):
            names = self._redis.scan_iter(match=_glob_escaped(start) + "*", count=1000)
            return sorted({_text(name)[len(start) :] for name in names})

    def lock(self, key: str) -> KeyLock:
        """The lock for `key`, across threads, tasks, processes and machines (see the class).

        ``with`` raises `StoreError` after `lock_timeout` seconds, or at once if Redis cannot
        be reached.
        """
        with self._locks_guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = self._locks[key] = _RedisLock(self, key)
        return KeyLock(lock.shared, self.lock_timeout, "using this login (perhaps refreshing it)")

    def save_pending(self, key: str, pending: Mapping[str, Any]) -> None:
        """Keep a login started under `key` and not finished, so any worker can finish it.

        `pending` is a JSON-safe mapping with ``"expires_at"``, when its device code expires (an
        ISO 8601 time, UTC unless it says otherwise, or POSIX seconds): the entry expires in
        Redis then, by itself. One that has expired already is deleted instead. Raises
        `ConfigurationError` without a usable ``expires_at``, and `StoreError` as `save()` does.
        """
        left_ms = math.ceil((_pending_expiry(pending) - time.time()) * 1000)
        if left_ms <= 0:
            self.delete_pending(key)
            return
        data = _pending_json(key, pending)
        self._write(key, "pending", data, f"save the pending login for {key!r} to", left_ms)

    def load_pending(self, key: str) -> dict[str, Any] | None:
        """The pending login saved under `key`, or None if there is none (or it expired).

        Raises `StoreError` if Redis cannot be reached, or if the entry is unreadable (then its
        `corrupt` is True).
        """
        with self._errors(f"read the pending login for {key!r} from"):
            raw = self._redis.get(self._name("pending", key))
        if raw is None:
            return None
        return _pending_from_json(raw, f"Redis at {self.url} (key {key!r})")

    def delete_pending(self, key: str) -> None:
        """Forget the pending login saved under `key`. No error if there is none."""
        self._write(key, "pending", None, f"delete the pending login for {key!r} from")

    def close(self) -> None:
        """Close the store's connections to Redis (never those of a client you passed).
        Optional, e.g. at the end of a test: a later call connects again."""
        if self._owns_client:
            with self._errors("disconnect from"):
                self._redis.close()

    # -- internals ------------------------------------------------------------------------------

    def _name(self, kind: str, key: str) -> str:
        """The Redis key of `key`'s token, lock or pending login."""
        return f"{self.prefix}{kind}:{key}"

    def _ttl_ms(self) -> int:
        return math.ceil(self.lock_ttl * 1000)

    def _write(
        self, key: str, kind: str, data: str | None, action: str, expire_ms: int | None = None
    ) -> None:
        """Set (or, with `data` None, delete) `key`'s `kind` entry, fenced by this process's
        lock of `key` if it holds it."""
        with self._locks_guard:
            lock = self._locks.get(key)
        token = lock.token if lock is not None else None
        with self._errors(action):
            written = self._write_script(
                keys=[self._name("lock", key), self._name(kind, key)],
                args=[token or "", data or "", "" if expire_ms is None else expire_ms],
            )
        if not written:
            raise StoreError(
                f"cannot {action} Redis at {self.url}: this process's lock of {key!r} "
                "expired before the write (Redis was unreachable, or the process paused, for "
                f"longer than lock_ttl = {self.lock_ttl:g} s), and another process may have "
                "saved since; nothing was written, so that nothing it saved is lost. Try again"
            )

    def _forget_locks(self) -> None:
        """Start with no locks held (at creation, and in a forked child: the parent's locks
        stay the parent's, renewed by its own thread)."""
        self._locks_guard = threading.Lock()
        self._locks: dict[str, _RedisLock] = {}
        self._renewal = _Renewal(self)

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        errors = self._redis_module.exceptions
        try:
            yield
        except (errors.RedisError, OSError) as exc:
            if isinstance(exc, errors.BusyLoadingError):
                hint = "Redis is loading its data after a restart: try again in a moment"
            elif isinstance(exc, errors.AuthenticationError | errors.AuthorizationError):
                hint = "check the user name and password given for it"
            elif isinstance(exc, errors.ConnectionError | errors.TimeoutError | OSError):
                hint = "check that Redis is running and reachable there, then try again"
            elif isinstance(exc, errors.ReadOnlyError):
                hint = "that server is a read-only replica: use the primary's address"
            elif isinstance(exc, errors.NoPermissionError):
                hint = (
                    f"the Redis user's ACL must allow the keys {self.prefix}* and the commands "
                    "GET, SET, DEL, PEXPIRE, SCAN, EVAL, EVALSHA and SCRIPT LOAD / EXISTS"
                )
            else:
                hint = "see Redis's own log, then try again"
            detail = " ".join(str(exc).split())
            pool = getattr(self._redis, "connection_pool", None)
            password = getattr(pool, "connection_kwargs", {}).get("password")
            if isinstance(password, str) and password:
                detail = detail.replace(password, "***")  # never seen in one, but never shown
            raise StoreError(
                f"cannot {action} Redis at {self.url} ({type(exc).__name__}: {detail}); {hint}"
            ) from exc


_redis_stores: weakref.WeakSet[RedisTokenStore] = weakref.WeakSet()
