"""The package indexes of the config file, as the keyring backend reads them on every request.

pip, uv and twine ask keyring for credentials with a URL; loctocat answers only for a URL under
an index of its config file, `[indexes."URL"]`. This module holds the rules of that, and reads
the file without loading the rest of loctocat: keyring evaluates the backend's priority in every
program that imports it, and an answer from a stored token must stay quick.

Matching (`index_for`): the scheme, the host and the port must be the index's, and the path
must be the index's path or lie under it, on a segment boundary: `https://pypi.example.com/simple/`
covers `https://pypi.example.com/simple/` and `.../simple/requests/`, not `.../simplex/` nor
`http://pypi.example.com/simple/`. A bare `host[:port]` (pip's second question, after the index
URL) is never answered: it does not say whether the token would go over plain HTTP, nor to which
path of the host.
"""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

__all__ = [
    "DEFAULT_USERNAME",
    "ConfigUnreadable",
    "Indexes",
    "configured_indexes",
    "index_for",
    "normalize_index_url",
]

#: The username sent with the token when an index names none: PyPI's and GitLab's for tokens.
DEFAULT_USERNAME = "__token__"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class ConfigUnreadable(Exception):
    """The config file exists but cannot be read or parsed as TOML."""


class Indexes:
    """The `[indexes."URL"]` tables of the config file, as read without checking them."""

    def __init__(self, usernames: dict[str, str | None], broken: bool) -> None:
        #: Normalized index URL -> its username; None when the entry is not right (the full
        #: path says why).
        self.usernames = usernames
        #: Some entry cannot be used at all (its URL is not an index URL).
        self.broken = broken


def normalize_index_url(url: str) -> str:
    """`url` as the config file keys an index: scheme and host in lower case, no default port,
    a path ending in "/". `ValueError` says why `url` cannot be an index URL."""
    scheme, host, port, path = _parts(url)
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    return f"{scheme}://{netloc}{path}"


def _parts(url: str) -> tuple[str, str, int | None, str]:
    """Scheme, host, port and path (ending in "/") of an index URL; `ValueError` if it is none."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not a URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError("an index URL starts with https://")
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("the URL holds a username or password: give the username apart")
    if parts.query or parts.fragment:
        raise ValueError("an index URL has no query (?...) or fragment (#...)")
    if scheme == "http" and host not in _LOOPBACK:
        # Plain HTTP only on the loopback, as for every URL loctocat sends a token to.
        raise ValueError("a token is sent over https:// only (http:// on the loopback)")
    path = parts.path or "/"
    for segment in path.split("/"):
        # "." and ".." (also percent-encoded) would let a URL outside the index look inside it.
        plain = unquote(segment)
        if plain in (".", "..") or "/" in plain or "\\" in plain:
            raise ValueError("the path has '.' or '..' segments or an encoded slash")
    return scheme, host, port, path if path.endswith("/") else path + "/"


def index_for(service: str, indexes: Iterable[str]) -> str | None:
    """The configured index (normalized URL) that the URL `service` lies under, or None.

    The longest one when several do (an index at `/` and another at `/private/`).
    """
    if not service[:8].lower().startswith(("http://", "https://")):
        return None  # a host alone, or another program's service name (loctocat's own)
    try:
        scheme, host, port, path = _parts(service)
    except ValueError:
        return None
    port = port or _DEFAULT_PORTS[scheme]
    best: str | None = None
    for index in indexes:
        index_scheme, index_host, index_port, index_path = _parts(index)
        if (index_scheme, index_host, index_port or _DEFAULT_PORTS[index_scheme]) != (
            scheme,
            host,
            port,
        ):
            continue
        if path.startswith(index_path) and (best is None or len(index) > len(best)):
            best = index
    return best


# --- the config file, read lightly --------------------------------------------------------------

_cache: tuple[tuple[str, int, int], Indexes] | None = None


def configured_indexes(config_file: str) -> Indexes:
    """The indexes of the config file at `config_file`.

    Only the `indexes` tables are looked at, not checked: the full path checks the whole file
    and reports its problems when it answers. Raises `ConfigUnreadable` when the file exists
    but cannot be read or is not TOML; no file is no index. Kept while the file is unchanged.
    """
    global _cache
    path = config_file
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return Indexes({}, broken=False)
    except OSError as exc:
        raise ConfigUnreadable(f"{path}: {exc.strerror or exc}") from None
    state = (path, status.st_mtime_ns, status.st_size)
    if _cache is not None and _cache[0] == state:
        return _cache[1]
    try:
        with open(path, "rb") as file:
            raw = file.read()
        import tomllib

        document = tomllib.loads(raw.decode("utf-8"))
    except OSError as exc:
        raise ConfigUnreadable(f"{path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConfigUnreadable(f"{path} is not valid TOML: {exc}") from None
    indexes = _indexes_of(document)
    _cache = (state, indexes)
    return indexes


def _indexes_of(document: dict[str, Any]) -> Indexes:
    tables = document.get("indexes")
    if tables is None:
        return Indexes({}, broken=False)
    if not isinstance(tables, dict):
        return Indexes({}, broken=True)
    usernames: dict[str, str | None] = {}
    broken = False
    for url, table in tables.items():
        try:
            key = normalize_index_url(url)
        except ValueError:
            broken = True
            continue
        username = table.get("username", DEFAULT_USERNAME) if isinstance(table, dict) else None
        usernames[key] = username if isinstance(username, str) and username else None
    return Indexes(usernames, broken)
