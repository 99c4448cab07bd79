"""The stored-token path: `loctocat token`, `git-credential get` and the keyring backend's
answers for a package index, from the token file.

These run before every `git fetch`, every index request of pip and in every script, so when the
token stored for exactly this command line (or index) is still valid they answer without loading
the rest of loctocat (no argument parser, no HTTP stack, no terminal UI). An index in the user
cache directory maps a command line or a package index (with the working directory, the
environment variables and the config file it depends on) to the token file and key the full
path found for it last time; the full path writes it. Anything unusual (no entry, an expired
token, another kind of store, a file others could write) falls through to the full path, which
decides as it always does.
"""

from __future__ import annotations

import json
import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

#: Seconds before its expiry at which a token counts as expired (the authenticators' default).
LEEWAY = 30.0
#: How many command lines the index remembers (the most recent ones).
INDEX_SIZE = 64
_INDEX_NAME = "token-index.json"
#: The environment variables a command line's meaning depends on.
_CONTEXT = ("LOCTOCAT_CONFIG", "LOCTOCAT_STORE", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "HOME")


def index_path() -> str:
    """Where the index lives: loctocat's directory in the user cache directory."""
    if sys.platform.startswith("linux"):
        # platformdirs' rule, without importing it: XDG_CACHE_HOME, else ~/.cache.
        base = os.environ.get("XDG_CACHE_HOME", "").strip() or os.path.expanduser("~/.cache")
        return os.path.join(base, "loctocat", _INDEX_NAME)
    import platformdirs

    return os.path.join(platformdirs.user_cache_dir("loctocat"), _INDEX_NAME)


def _signature(argv: Sequence[str]) -> str:
    """What a command line means, as the index's key."""
    context = {name: os.environ.get(name) for name in _CONTEXT}
    return json.dumps([list(argv), os.getcwd(), context])


def _command_line(argv: Sequence[str]) -> list[str] | None:
    """The part of `argv` that names the login, or None when the fast path does not apply."""
    words = [word for word in argv if word != "--no-login"]
    if words[0] == "token":
        shown = ("--json", "--id-token", "--debug", "-h", "--help")
        return None if any(word in shown for word in words) else words
    if words[0] == "git-credential" and words[-1] == "get" and "--debug" not in words:
        return words
    return None


def _file_state(path: str) -> list[Any] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return [status.st_mtime_ns, status.st_size]


def remember(
    argv: Sequence[str],
    token_file: str,
    key: str,
    config_file: str,
    git: dict[str, Any] | None = None,
) -> None:
    """Record that this command line's token is `key` in `token_file` (the full path's finding).

    Best effort: the index is a cache, and failing to write it only costs the next run time.
    """
    words = _command_line(argv)
    if words is not None:
        _remember(words, token_file, key, config_file, git)


def remember_index(url: str, token_file: str, key: str, config_file: str) -> None:
    """Record that the token for the package index `url` is `key` in `token_file`."""
    _remember(_index_words(url), token_file, key, config_file, None)


def _index_words(url: str) -> list[str]:
    # No command line starts with a URL: the two kinds of entries never meet.
    return [url, "keyring"]


def _remember(
    words: list[str], token_file: str, key: str, config_file: str, git: dict[str, Any] | None
) -> None:
    path = index_path()
    entries = _read_index(path)
    entries.pop(_signature(words), None)
    entries[_signature(words)] = {
        "store": os.path.abspath(token_file),
        "key": key,
        "config": [config_file, _file_state(config_file)],
        "git": git,
    }
    while len(entries) > INDEX_SIZE:
        entries.pop(next(iter(entries)))
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        temporary = f"{path}.{os.getpid()}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump({"version": 1, "entries": entries}, file)
        os.replace(temporary, path)
    except OSError:
        pass


def _read_index(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as file:
            document = json.load(file)
    except (OSError, ValueError):
        return {}
    if not isinstance(document, dict) or document.get("version") != 1:
        return {}
    entries = document.get("entries")
    return entries if isinstance(entries, dict) else {}


def _private(path: str) -> bool:
    """Whether the file is the user's own and no one else may write it."""
    try:
        status = os.stat(path)
    except OSError:
        return False
    owner = getattr(os, "getuid", lambda: status.st_uid)()
    return status.st_uid == owner and not status.st_mode & 0o022


def _valid_token(entry: dict[str, Any]) -> tuple[str, float | None] | None:
    """The access token the index entry points to, and its expiry, if it is still good."""
    token_file, key = entry.get("store"), entry.get("key")
    config = entry.get("config")
    if not isinstance(token_file, str) or not isinstance(key, str) or not isinstance(config, list):
        return None
    if len(config) != 2 or not isinstance(config[0], str) or _file_state(config[0]) != config[1]:
        return None  # the config file changed: what the command line means may have too
    if not _private(token_file):
        return None
    try:
        with open(token_file, encoding="utf-8") as file:
            document = json.load(file)
        stored = document["tokens"][key]
        response, expires_at = stored["response"], stored["expires_at"]
        access_token, token_type = response["access_token"], response.get("token_type", "")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if document.get("version") != 2 or not isinstance(access_token, str) or not access_token:
        return None
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        return None
    if expires_at is not None:
        if isinstance(expires_at, bool) or not isinstance(expires_at, int | float):
            return None
        if time.time() + LEEWAY >= expires_at:
            return None
    return access_token, expires_at


def answer_from_store(argv: Sequence[str]) -> int | None:
    """Answer `argv` from the stored token, or None to leave it to the full command line."""
    words = _command_line(argv)
    if words is None:
        return None
    entry = _read_index(index_path()).get(_signature(words))
    if not isinstance(entry, dict):
        return None
    found = _valid_token(entry)
    if found is None:
        return None
    access_token, expires_at = found
    if words[0] == "token":
        sys.stdout.write(access_token + "\n")
        return 0
    git = entry.get("git")
    if not isinstance(git, dict):
        return None
    from loctocat.cli._gitproto import answer, read_request

    request = read_request(sys.stdin)
    sys.stdout.write(answer(request, git, access_token, expires_at))
    return 0


def index_token(url: str) -> str | None:
    """The stored access token for the package index `url`, if one is known and still valid."""
    entry = _read_index(index_path()).get(_signature(_index_words(url)))
    if not isinstance(entry, dict):
        return None
    found = _valid_token(entry)
    return None if found is None else found[0]
