"""The stored-token path: `token`, `git-credential get`, `kubectl-credential` and the keyring
backend's answers for a package index, from the token file.

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
    """What a command line means, as the index's key: with the working directory only when a
    relative `--store` path depends on it (git and kubectl run helpers from anywhere)."""
    context = {name: os.environ.get(name) for name in _CONTEXT}
    directory = os.getcwd() if _relative_store(argv) else None
    return json.dumps([list(argv), directory, context])


def _relative_store(argv: Sequence[str]) -> bool:
    for index, word in enumerate(argv):
        if word == "--store" and index + 1 < len(argv):
            where = argv[index + 1]
        elif word.startswith("--store="):
            where = word.removeprefix("--store=")
        else:
            continue
        kind = where in ("keyring", "file") or "://" in where
        if not kind and not os.path.isabs(os.path.expanduser(where)):
            return True
    return False


def _command_line(argv: Sequence[str]) -> list[str] | None:
    """The part of `argv` that names the login, or None when the fast path does not apply."""
    words = [word for word in argv if word != "--no-login"]
    if words[0] == "token":
        shown = ("--json", "--id-token", "--events", "--debug", "-h", "--help")
        return None if any(word.split("=")[0] in shown for word in words) else words
    if words[0] == "git-credential" and words[-1] == "get" and "--debug" not in words:
        return words
    if words[0] == "kubectl-credential" and not {"--debug", "-h", "--help"} & set(words):
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
    kubectl: dict[str, Any] | None = None,
) -> None:
    """Record that this command line's token is `key` in `token_file` (the full path's finding).

    Best effort: the index is a cache, and failing to write it only costs the next run time.
    """
    words = _command_line(argv)
    if words is not None:
        _remember(words, token_file, key, config_file, git, kubectl)


def remember_index(url: str, token_file: str, key: str, config_file: str) -> None:
    """Record that the token for the package index `url` is `key` in `token_file`."""
    _remember(_index_words(url), token_file, key, config_file)


def _index_words(url: str) -> list[str]:
    # No command line starts with a URL: the two kinds of entries never meet.
    return [url, "keyring"]


def _remember(
    words: list[str],
    token_file: str,
    key: str,
    config_file: str,
    git: dict[str, Any] | None = None,
    kubectl: dict[str, Any] | None = None,
) -> None:
    path = index_path()
    entries = _read_index(path)
    entries.pop(_signature(words), None)
    entries[_signature(words)] = {
        "store": os.path.abspath(token_file),
        "key": key,
        "config": [config_file, _file_state(config_file)],
        "git": git,
        "kubectl": kubectl,
    }
    while len(entries) > INDEX_SIZE:
        entries.pop(next(iter(entries)))
    write_private_json(path, {"version": 1, "entries": entries})


def write_private_json(path: str, document: Any) -> None:
    """Replace the file at `path` with `document`, readable by the user alone (best effort:
    what loctocat keeps in its cache directory only saves time or helps in an outage)."""
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        # Never through a link someone left in the temporary file's place.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(document, file)
        os.replace(temporary, path)
    except (OSError, TypeError, ValueError):
        import contextlib  # (only here: the stored-token path loads as little as it can)

        with contextlib.suppress(OSError):
            os.remove(temporary)


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


def private(path: str) -> bool:
    """Whether the file is the user's own and no one else may write it."""
    try:
        status = os.stat(path)
    except OSError:
        return False
    owner = getattr(os, "getuid", lambda: status.st_uid)()
    return status.st_uid == owner and not status.st_mode & 0o022


def _stored(entry: dict[str, Any]) -> dict[str, Any] | None:
    """The stored token the index entry points to, if the file can be trusted and holds it."""
    token_file, key = entry.get("store"), entry.get("key")
    config = entry.get("config")
    if not isinstance(token_file, str) or not isinstance(key, str) or not isinstance(config, list):
        return None
    if len(config) != 2 or not isinstance(config[0], str) or _file_state(config[0]) != config[1]:
        return None  # the config file changed: what the command line means may have too
    if not private(token_file):
        return None
    try:
        with open(token_file, encoding="utf-8") as file:
            document = json.load(file)
        stored = document["tokens"][key]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if document.get("version") != 2 or not isinstance(stored, dict):
        return None
    return stored


def _valid(expires_at: object) -> bool:
    """Whether a token expiring at `expires_at` (Unix time, or None: never) is still good."""
    if expires_at is None:
        return True
    if isinstance(expires_at, bool) or not isinstance(expires_at, int | float):
        return False
    return time.time() + LEEWAY < expires_at


def _valid_token(stored: dict[str, Any]) -> tuple[str, float | None] | None:
    """The stored access token and its expiry, if it is still good."""
    try:
        response, expires_at = stored["response"], stored["expires_at"]
        access_token, token_type = response["access_token"], response.get("token_type", "")
    except (KeyError, TypeError, AttributeError):
        return None
    if not isinstance(access_token, str) or not access_token:
        return None
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        return None
    if not _valid(expires_at):
        return None
    return access_token, expires_at


def _valid_id_token(stored: dict[str, Any]) -> tuple[str, float] | None:
    """The stored ID token (verified when it was received) and its expiry, if it is still good
    and so is the access token beside it (the full path would refresh both otherwise)."""
    try:
        id_token, exp = stored["response"]["id_token"], stored["claims"]["exp"]
    except (KeyError, TypeError):
        return None
    if not isinstance(id_token, str) or not id_token or exp is None or not _valid(exp):
        return None
    if _valid_token(stored) is None:
        return None
    return id_token, float(exp)


def answer_from_store(argv: Sequence[str]) -> int | None:
    """Answer `argv` from the stored token, or None to leave it to the full command line."""
    words = _command_line(argv)
    if words is None:
        return None
    entry = _read_index(index_path()).get(_signature(words))
    stored = _stored(entry) if isinstance(entry, dict) else None
    if stored is None:
        return None
    assert isinstance(entry, dict)
    if words[0] == "kubectl-credential":
        return _answer_kubectl(entry, stored)
    found = _valid_token(stored)
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

    request = read_request(sys.stdin.buffer)
    sys.stdout.write(answer(request, git, access_token, expires_at))
    return 0


def _answer_kubectl(entry: dict[str, Any], stored: dict[str, Any]) -> int | None:
    from loctocat.cli._kubeproto import EXEC_INFO, ExecInfoError, exec_credential, read_exec_info

    kubectl = entry.get("kubectl")
    kind = kubectl.get("token") if isinstance(kubectl, dict) else None
    found: tuple[str, float | None] | None = None
    if kind == "id_token":
        found = _valid_id_token(stored)
    elif kind == "access_token":
        found = _valid_token(stored)
    if found is None:
        return None
    try:
        api_version, _ = read_exec_info(os.environ.get(EXEC_INFO))
    except ExecInfoError:
        return None  # the full path says what is wrong
    sys.stdout.write(exec_credential(api_version, *found))
    return 0


def index_token(url: str) -> str | None:
    """The stored access token for the package index `url`, if one is known and still valid."""
    entry = _read_index(index_path()).get(_signature(_index_words(url)))
    if not isinstance(entry, dict):
        return None
    stored = _stored(entry)
    found = None if stored is None else _valid_token(stored)
    return None if found is None else found[0]
