"""The config file: defaults per provider, servers of your own by name, where tokens are kept.

```toml
store = "keyring"              # or "file", or a path to a token file

[providers.github]             # defaults for 'loctocat login github'
client_id = "Iv1.0123456789abcdef"
scopes = ["repo"]

[servers.work]                 # 'loctocat login work': any server, named
issuer = "https://sso.example.com/realms/staff"
client_id = "cli"
scopes = ["openid", "offline_access"]
secret_env = "WORK_SECRET"

[indexes."https://pypi.example.com/simple/"]   # pip, uv, twine (see 'loctocat setup-index')
server = "work"
username = "__token__"
```

A server names its endpoints with `issuer`, or `auth_url` and `token_url` (and
`revocation_url`), or `provider` and that provider's options. An index is the options of
`loctocat login` as keys: `provider` or `server` (a `[servers.NAME]` of the file) or `issuer`
or `auth_url` and `token_url`, the same others, and `username`. `LOCTOCAT_CONFIG` names another
file. Every problem is a `UsageError` naming the file and the key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loctocat.cli._exits import UsageError

__all__ = ["CONFIG_ENV", "Config", "config_path", "load_config"]

#: The environment variable naming another config file.
CONFIG_ENV = "LOCTOCAT_CONFIG"

#: Keys every provider table and server entry may have.
_LOGIN_KEYS = ("client_id", "scopes", "account", "secret_env", "store")
#: Keys that say where a server is.
_SERVER_KEYS = ("provider", "issuer", "auth_url", "token_url", "revocation_url")
#: Keys an index has beyond a server's: the server it logs in to by name, its username.
_INDEX_KEYS = ("server", "username")


@dataclass(frozen=True)
class Config:
    """What the config file says; empty when there is none."""

    path: Path
    #: Where tokens are kept unless a command line or an entry says otherwise.
    store: str | None = None
    #: Defaults per predefined provider, by provider name.
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Servers of the user's own, by the name they are used under.
    servers: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Package indexes pip, uv and twine get tokens for, by normalized URL (see `_indexes`).
    indexes: dict[str, dict[str, Any]] = field(default_factory=dict)


def config_path() -> Path:
    """The config file: `$LOCTOCAT_CONFIG`, else config.toml in the user config directory."""
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return platformdirs.user_config_path("loctocat") / "config.toml"


def load_config() -> Config:
    """The config file, checked; an empty `Config` when there is no file."""
    path = config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if os.environ.get(CONFIG_ENV):
            raise UsageError(
                f"the config file {path} (from ${CONFIG_ENV}) does not exist"
            ) from None
        return Config(path)
    except OSError as exc:
        raise UsageError(f"cannot read the config file {path}: {exc.strerror or exc}") from None
    import tomllib

    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"the config file {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"the config file {path} is not valid TOML: {exc}") from None
    return _Checker(path).config(document)


class _Checker:
    def __init__(self, path: Path) -> None:
        self.path = path

    def bad(self, what: str) -> UsageError:
        return UsageError(f"in the config file {self.path}: {what}")

    def config(self, document: dict[str, Any]) -> Config:
        unknown = sorted(set(document) - {"providers", "servers", "indexes", "store"})
        if unknown:
            raise self.bad(
                f"unknown key {unknown[0]!r}: the file has [providers.NAME], [servers.NAME] and "
                "[indexes.\"URL\"] tables and a 'store' key"
            )
        store = document.get("store")
        if store is not None:
            self.string(store, "store")
        servers = self.servers(document.get("servers", {}))
        return Config(
            self.path,
            store=store,
            providers=self.providers(document.get("providers", {})),
            servers=servers,
            indexes=self.indexes(document.get("indexes", {}), servers),
        )

    def providers(self, tables: object) -> dict[str, dict[str, Any]]:
        from loctocat.predefined import PROVIDERS

        if not isinstance(tables, dict):
            raise self.bad("'providers' must be a table of [providers.NAME] tables")
        result: dict[str, dict[str, Any]] = {}
        for name, table in tables.items():
            provider = PROVIDERS.get(name)
            if provider is None:
                raise self.bad(f"[providers.{name}]: unknown provider (see 'loctocat providers')")
            allowed = (*_LOGIN_KEYS, *(p.name for p in provider.parameters))
            result[name] = self.table(table, f"providers.{name}", allowed)
        return result

    def servers(self, tables: object) -> dict[str, dict[str, Any]]:
        from loctocat.predefined import PROVIDERS

        if not isinstance(tables, dict):
            raise self.bad("'servers' must be a table of [servers.NAME] tables")
        result: dict[str, dict[str, Any]] = {}
        for name, table in tables.items():
            where = f"servers.{name}"
            if name in PROVIDERS:
                raise self.bad(
                    f"[{where}]: {name} is a predefined provider: set its defaults in "
                    f"[providers.{name}], or give this server another name"
                )
            result[name] = self.login(table, where)
        return result

    def indexes(
        self, tables: object, servers: dict[str, dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        from loctocat.cli._indexes import normalize_index_url

        if not isinstance(tables, dict):
            raise self.bad("'indexes' must be a table of [indexes.\"URL\"] tables")
        result: dict[str, dict[str, Any]] = {}
        for url, table in tables.items():
            where = f'indexes."{url}"'
            try:
                key = normalize_index_url(url)
            except ValueError as exc:
                raise self.bad(f"[{where}]: {exc}") from None
            if key in result:
                raise self.bad(f"[{where}]: another table names the same index, {key}")
            entry = self.login(table, where, index=True)
            if "server" in entry and entry["server"] not in servers:
                raise self.bad(
                    f"[{where}] server: no [servers.{entry['server']}] in this file (a "
                    "predefined provider goes in 'provider')"
                )
            result[key] = entry
        return result

    def login(self, table: object, where: str, *, index: bool = False) -> dict[str, Any]:
        """A server entry, or (`index`) an index's: one way to name the server, known keys."""
        from loctocat.predefined import PROVIDERS

        provider = PROVIDERS.get(table.get("provider", "")) if isinstance(table, dict) else None
        options = () if provider is None else tuple(p.name for p in provider.parameters)
        extra = _INDEX_KEYS if index else ()
        entry = self.table(table, where, (*_SERVER_KEYS, *_LOGIN_KEYS, *extra, *options))
        if "provider" in entry and provider is None:
            raise self.bad(f"[{where}] provider: unknown provider (see 'loctocat providers')")
        ways = [
            way
            for way, keys in (
                ("provider", ("provider",)),
                ("server", ("server",)),
                ("issuer", ("issuer",)),
                ("endpoints", ("auth_url", "token_url")),
            )
            if any(key in entry for key in keys)
        ]
        if len(ways) != 1:
            server = "server (a [servers.NAME] of this file), or " if index else ""
            raise self.bad(
                f"[{where}]: name the server one way: provider (and its options), or "
                f"{server}issuer, or auth_url and token_url"
            )
        if ways == ["endpoints"] and not {"auth_url", "token_url"} <= set(entry):
            raise self.bad(f"[{where}]: auth_url and token_url go together")
        return entry

    def table(self, table: object, where: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(table, dict):
            raise self.bad(f"{where} must be a table")
        for key, value in table.items():
            if key not in allowed:
                raise self.bad(f"[{where}] {key}: unknown key; allowed: {', '.join(allowed)}")
            if key == "scopes":
                if isinstance(value, str):
                    value = value.split()
                if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
                    raise self.bad(f"[{where}] {key} must be a list of strings")
                table[key] = value
            else:
                self.string(value, f"[{where}] {key}")
        return dict(table)

    def string(self, value: object, where: str) -> None:
        if not isinstance(value, str) or not value:
            raise self.bad(f"{where} must be a non-empty string")
