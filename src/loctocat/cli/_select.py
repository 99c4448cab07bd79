"""From the command line and the config file to an authenticator and its token store.

The rules of what makes a valid login are the library's: this module gathers the values (flags
win over the config file), lets the library check them, and says its errors with flags.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loctocat.cli._args import did_you_mean, flag, provider_options
from loctocat.cli._config import Config, load_config
from loctocat.cli._exits import UsageError
from loctocat.errors import ConfigurationError

if TYPE_CHECKING:
    from loctocat._models import Token
    from loctocat.auth import Authenticator
    from loctocat.cli._run import Run
    from loctocat.predefined import Provider
    from loctocat.prompt import Prompt
    from loctocat.store import TokenStore

__all__ = [
    "Selection",
    "choose_store",
    "describe_store",
    "id_token_holder",
    "index_for_fast_path",
    "readable_store",
    "select",
    "selection_words",
    "split_scopes",
    "usage_error",
]


@dataclass
class Selection:
    """A login the command line names: its authenticator, and how it was named."""

    authenticator: Authenticator
    store: TokenStore
    #: The provider's title, a configured server's name, or the token endpoint's host.
    server: str
    #: The predefined provider behind it, if any, and the values of its parameters.
    provider: Provider | None = None
    values: dict[str, str] = field(default_factory=dict)
    #: The config file it was read with.
    config: Config | None = None


#: The command line's name for each library parameter that has a flag of its own.
_FLAG_FOR = {
    "client_id": "--client-id",
    "scopes": "--scope",
    "account": "--account",
    "timeout": "--timeout",
    "issuer": "--issuer",
    "auth_url": "--auth-url",
    "token_url": "--token-url",
    "revocation_url": "--revocation-url",
    "client_secret": "--secret-env VAR or --client-secret-stdin",
    "lock_timeout": "--store",
}


def usage_error(
    error: ConfigurationError,
    provider: Provider | None = None,
    from_config: Mapping[str, str] | None = None,
) -> UsageError:
    """A library's `ConfigurationError` in the command line's words.

    The parameter it is about becomes the flag that sets it ("realm=...", "'realm'", or the
    parameter opening the message), or where in the config file it was set (`from_config`),
    and a provider goes by its command-line name.
    """
    text = str(error)
    if provider is not None and text.startswith((f"{provider.title} ", f"{provider.title}'")):
        text = provider.name + text[len(provider.title) :]
    name = error.parameter
    option = None
    if name is not None:
        option = (
            (from_config or {}).get(name)
            or _FLAG_FOR.get(name)
            or (flag(name) if name in provider_options() else None)
        )
    if name is not None and option is not None:
        word = re.escape(name)
        text = re.sub(rf"\b{word}=\.\.\.|'{word}'|^{word}\b", option, text)
    return UsageError(text)


def choose_store(where: str | None) -> TokenStore:
    """The token store `where` names: "keyring", "file", a ``redis://`` or ``rediss://`` URL, a
    path; None: the keychain if usable, else the file."""
    from loctocat import store

    if where is None:
        where = os.environ.get("LOCTOCAT_STORE") or None
    if where is None:
        return store.KeyringTokenStore() if store.keyring_usable() else store.FileTokenStore()
    if where == "keyring":
        if not store.keyring_usable():
            raise UsageError(
                "--store keyring: no usable OS keychain here (install 'loctocat[keyring]' and "
                "a keychain, or use --store file)"
            )
        return store.KeyringTokenStore()
    if where == "file":
        return store.FileTokenStore()
    if where.startswith(("redis://", "rediss://")):
        try:
            return store.RedisTokenStore(where)
        except ConfigurationError as error:  # redis-py missing, or a URL it cannot use
            raise UsageError(f"--store: {error}") from None
    if "://" in where:
        raise UsageError(
            f"--store {where}: unknown kind of store; use keyring, file, a redis:// URL, or a path"
        )
    return store.FileTokenStore(Path(where).expanduser())


def describe_store(token_store: TokenStore) -> str:
    """Where a store keeps tokens, for a person."""
    from loctocat.cli._output import shown_path
    from loctocat.store import FileTokenStore, KeyringTokenStore, RedisTokenStore

    if isinstance(token_store, FileTokenStore):
        return shown_path(token_store.path)
    if isinstance(token_store, KeyringTokenStore):
        return f"the OS keychain (service {token_store.service!r})"
    if isinstance(token_store, RedisTokenStore):
        return f"Redis at {token_store.url} (prefix {token_store.prefix!r})"
    return repr(token_store)


def select(
    args: argparse.Namespace, config: Config | None = None, *, optional: Sequence[str] = ()
) -> Selection:
    """The login the selection options describe; `UsageError` when they cannot.

    `optional` names provider options that a provider not taking them lets pass (`--host`,
    which also names a git host), rather than refusing them.
    """
    from loctocat.auth import Authenticator
    from loctocat.predefined import PROVIDERS

    config = config or load_config()
    given = {
        name: value
        for name in provider_options()
        if (value := getattr(args, f"param_{name}", None)) is not None
    }
    urls = [name for name in ("auth_url", "token_url") if getattr(args, name)]
    if args.name is not None and (args.issuer or urls):
        raise UsageError(
            f"give either {args.name} or --issuer / --auth-url and --token-url, not both"
        )
    if args.issuer and urls:
        raise UsageError("give either --issuer or --auth-url and --token-url, not both")

    entry: dict[str, Any] = {}
    values: dict[str, Any] = {}
    provider: Provider | None = None
    server = ""
    if args.name is not None:
        if args.name in config.servers:
            entry = dict(config.servers[args.name])
            server = args.name
            provider = PROVIDERS.get(entry.pop("provider", ""))
        elif args.name.lower() in PROVIDERS:
            provider = PROVIDERS[args.name.lower()]
            entry = dict(config.providers.get(provider.name, {}))
        else:
            known = sorted([*PROVIDERS, *config.servers])
            guess = did_you_mean(args.name, known)
            raise UsageError(
                f"unknown provider {args.name!r}{guess}: see 'loctocat providers'; servers of "
                f"your own go in [servers.NAME] of {config.path}"
            )
    # What the config file gave, for errors to name where it is ("issuer in [servers.work]
    # of ~/.config/loctocat/config.toml") rather than a flag that was never given.
    table = f"servers.{args.name}" if server else f"providers.{provider.name}" if provider else ""
    from_config = {
        name: f"{name} in [{table}] of {config.path}"
        for name in entry
        if not getattr(args, name, None) and not given.get(name)
    }
    if provider is None and set(given) - set(optional):
        named = ", ".join(flag(name) for name in sorted(given))
        raise UsageError(f"{named}: provider options need a PROVIDER (see 'loctocat providers')")
    issuer = args.issuer or entry.pop("issuer", None)
    auth_url = args.auth_url or entry.pop("auth_url", None)
    token_url = args.token_url or entry.pop("token_url", None)
    revocation_url = args.revocation_url or entry.pop("revocation_url", None)
    if provider is None and not issuer and not (auth_url and token_url):
        if urls:
            missing = "--token-url" if urls == ["auth_url"] else "--auth-url"
            raise UsageError(f"{missing} is missing: --auth-url and --token-url go together")
        raise UsageError(
            "which server? name a PROVIDER (see 'loctocat providers') or a server of the "
            "config file, or give --issuer URL, or --auth-url and --token-url"
        )

    client_id = args.client_id or entry.pop("client_id", None)
    if not client_id:
        where = ""
        if provider is not None or server:
            table = f"servers.{server}" if server else f"providers.{provider.name}"  # type: ignore[union-attr]
            where = f" (or client_id in [{table}] of {config.path})"
        raise UsageError(f"--client-id is required{where}")
    scopes = split_scopes(args.scopes) if args.scopes else entry.pop("scopes", None)
    token_store = choose_store(args.store or entry.pop("store", None) or config.store)
    options: dict[str, Any] = {
        "client_secret": _read_secret(args, entry.pop("secret_env", None)),
        "store": token_store,
        "account": args.account or entry.pop("account", None),
        "timeout": args.timeout,
    }
    if args.dpop:
        options["dpop"] = True
    if revocation_url:
        options["revocation_url"] = revocation_url
    try:
        authenticator: Authenticator
        if provider is not None:
            # The flags of every provider share one parser: which ones this provider takes
            # is the parser's concern; what the values must be, the provider's.
            names = [p.name for p in provider.parameters]
            foreign = sorted(set(given) - set(names) - set(optional))
            if foreign:
                takes = ", ".join(flag(n) for n in names) or "no options"
                raise UsageError(
                    f"{provider.name} does not take {', '.join(flag(n) for n in foreign)} "
                    f"(it takes {takes})"
                )
            values = {n: entry[n] for n in names if n in entry} | {
                n: v for n, v in given.items() if n in names
            }
            authenticator = provider.authenticator(client_id, scopes, **values, **options)
            server = server or provider.title
        elif issuer:
            # Discovery talks to the server: its errors keep their own exit codes.
            authenticator = _from_issuer(issuer, client_id, scopes, options)
        else:
            authenticator = Authenticator(client_id, auth_url, token_url, scopes, **options)
    except ConfigurationError as error:
        raise usage_error(error, provider, from_config) from None
    if not server:
        from urllib.parse import urlsplit

        server = urlsplit(authenticator.token_url).hostname or authenticator.token_url
    return Selection(
        authenticator, token_store, server, provider, values if provider else {}, config
    )


def _from_issuer(
    issuer: str, client_id: str, scopes: Any, options: dict[str, Any]
) -> Authenticator:
    """`Authenticator.from_issuer()`, and while the issuer cannot be reached, its document as
    last read: the login's store key names its token endpoint, so without it a stored token
    could be neither used nor forgotten (`logout --no-revoke`) during an outage."""
    from loctocat.auth import Authenticator, _discovered
    from loctocat.errors import ServerError, TransportError

    try:
        authenticator = Authenticator.from_issuer(issuer, client_id, scopes, **options)
    except (TransportError, ServerError) as error:
        # Only when the server is unreachable or failing (5xx): a document it now refuses to
        # vouch for (another issuer, an http:// endpoint) is not replaced by the old one.
        unavailable = isinstance(error, TransportError) or (error.status_code or 0) >= 500
        remembered = _remembered_metadata(issuer) if unavailable else None
        if remembered is None:
            raise
        import logging

        logging.getLogger("loctocat").debug("%s; using its document as last read", error)
        _discovered[issuer] = remembered
        return Authenticator.from_issuer(issuer, client_id, scopes, **options)
    _remember_metadata(issuer, _discovered[issuer])
    return authenticator


def _metadata_path() -> str:
    """Where discovery documents are remembered: beside the stored-token path's index."""
    from loctocat.cli._fast import index_path

    return os.path.join(os.path.dirname(index_path()), "discovery.json")


def _read_remembered() -> dict[str, Any]:
    """What the file holds, if it is the user's own and no one else may write it (it says
    where the next login's code and the refresh token go)."""
    import json

    from loctocat.cli._fast import private

    path = _metadata_path()
    if not private(path):
        return {}
    try:
        with open(path, encoding="utf-8") as file:
            remembered = json.load(file)
    except (OSError, ValueError):
        return {}
    return remembered if isinstance(remembered, dict) else {}


def _remembered_metadata(issuer: str) -> Any:
    """The `ServerMetadata` last read for `issuer` (checked again as discovery checks it:
    it names this issuer), or None."""
    from loctocat._lifecycle import ServerMetadata, issuer_matches

    fields = _read_remembered().get(issuer)
    if not isinstance(fields, dict):
        return None
    try:
        metadata = ServerMetadata(**fields)
    except TypeError:  # written by another version
        return None
    if not isinstance(metadata.issuer, str) or not issuer_matches(issuer, metadata.issuer):
        return None
    return metadata


def _remember_metadata(issuer: str, metadata: Any) -> None:
    """Keep the document `issuer` gave (best effort: it only matters during an outage)."""
    import dataclasses

    from loctocat.cli._fast import write_private_json

    remembered = _read_remembered()
    fields = {f.name: getattr(metadata, f.name) for f in dataclasses.fields(metadata)}
    fields["document"] = dict(fields["document"])
    if remembered.get(issuer) != fields:
        remembered[issuer] = fields
        write_private_json(_metadata_path(), remembered)


def readable_store(selection: Selection) -> None:
    """Fail before anyone approves a code when the store cannot be read at all (a directory
    where the token file should be, an unreachable Redis): the login could not be kept there.
    An unreadable entry is no obstacle: the login replaces it."""
    from loctocat.errors import StoreError

    try:
        selection.store.load(selection.authenticator.store_key())
    except StoreError as error:
        if not error.corrupt:
            raise


def selection_words(args: argparse.Namespace, *, without: Sequence[str] = ()) -> list[str]:
    """The options that name this login, as a command line (paths made absolute).

    What a helper entry (git's config, the hint naming `loctocat login ...`) records, so that
    it names the same login from any directory. `without` names provider options left out.
    """
    words = [args.name] if args.name else []
    for option in ("issuer", "auth_url", "token_url", "revocation_url", "client_id"):
        value = getattr(args, option)
        if value:
            words += [flag(option), value]
    for scope in args.scopes or []:
        words += ["--scope", scope]
    if args.secret_env:
        words += ["--secret-env", args.secret_env]
    if args.timeout:
        words += ["--timeout", str(args.timeout)]
    if args.dpop:
        words.append("--dpop")
    for name in sorted(provider_options()):
        value = getattr(args, f"param_{name}", None)
        if value is not None and name not in without:
            words += [flag(name), value]
    if args.store:
        words += ["--store", absolute_store(args.store)]
    if args.account:
        words += ["--account", args.account]
    return words


def absolute_store(where: str) -> str:
    """A `--store` value that means the same from any directory: a path made absolute."""
    if where in ("keyring", "file") or "://" in where:
        return where
    return os.path.abspath(os.path.expanduser(where))


def split_scopes(values: Sequence[str]) -> list[str]:
    """`--scope` values as scopes: each may hold several, separated by spaces."""
    return [scope for value in values for scope in value.split()]


def _read_secret(args: argparse.Namespace, secret_env: str | None) -> str | None:
    sources = [
        name
        for name, given in (
            ("--secret-env", args.secret_env),
            ("--client-secret-stdin", args.client_secret_stdin),
            ("--client-secret", args.client_secret is not None),
        )
        if given
    ]
    if len(sources) > 1:
        raise UsageError(f"{' and '.join(sources)}: give the client secret one way only")
    if args.client_secret is not None:
        return str(args.client_secret)
    if args.client_secret_stdin:
        if sys.stdin.isatty():
            import getpass

            try:
                secret = getpass.getpass("Client secret: ", stream=sys.stderr)
            except KeyboardInterrupt:
                print(file=sys.stderr)  # Ctrl+C leaves the cursor after the prompt
                raise
        else:
            secret = sys.stdin.readline().rstrip("\r\n")
        if not secret:
            raise UsageError("--client-secret-stdin: no client secret was read from stdin")
        return secret
    variable = args.secret_env or secret_env
    if variable is None:
        return None
    from_env = os.environ.get(variable)
    if not from_env:
        raise UsageError(
            f"--secret-env {variable}: the environment variable {variable} is not set or empty"
        )
    return from_env


def id_token_holder(
    selection: Selection,
    authenticator: Authenticator,
    *,
    prompt: Prompt | None = None,
    login: bool = False,
) -> Token:
    """The token whose ID token to hand out, after `get_token()`: renewed when the ID token
    has expired (some services' ID tokens end before their access tokens), by a refresh, else
    by a new login when `login` allows one (`LoginRequired` when it does not).

    Raises `CommandFailed` when the token has no ID token at all.
    """
    from loctocat.cli._exits import EXIT_ERROR, CommandFailed
    from loctocat.errors import LoginRequired

    token = authenticator.token
    assert token is not None
    if token.id_token is None:
        raise CommandFailed(
            f"the token from {selection.server} has no ID token: log in with the 'openid' "
            "scope (--scope openid) from a server that offers OpenID Connect",
            EXIT_ERROR,
        )
    if _id_token_valid(token, authenticator.leeway):
        return token
    # Refreshed, or else a new login: the stored access token is no use for this.
    authenticator.get_token(rejected=token.access_token, prompt=prompt, login=login)
    renewed = authenticator.token
    if renewed is not None and _id_token_valid(renewed, authenticator.leeway):
        return renewed
    # The refresh brought no new ID token (servers need not send one): only a login does.
    if not login:
        raise LoginRequired("the ID token has expired and a refresh gives no new one")
    authenticator.authenticate(prompt=prompt)
    assert authenticator.token is not None
    selection.store.save(authenticator.store_key(), authenticator.token)
    return authenticator.token


def _id_token_valid(token: Token, leeway: float) -> bool:
    """Whether the ID token's `exp` (verified claims) is more than `leeway` seconds away."""
    import time

    exp = (token.claims or {}).get("exp")
    if token.id_token is None or not isinstance(exp, int | float) or isinstance(exp, bool):
        return token.id_token is not None and exp is None  # no verified expiry: taken as is
    return exp > time.time() + leeway


def index_for_fast_path(
    run: Run,
    selection: Selection,
    git: dict[str, Any] | None = None,
    kubectl: dict[str, str] | None = None,
) -> None:
    """Index this command line's token for the stored-token path (file stores only), with
    what git's or kubectl's answer needs besides the token."""
    from loctocat.cli._config import config_path
    from loctocat.cli._fast import remember
    from loctocat.store import FileTokenStore

    if isinstance(selection.store, FileTokenStore):
        key = selection.authenticator.store_key()
        config = selection.config.path if selection.config is not None else config_path()
        remember(run.argv, str(selection.store.path), key, str(config), git, kubectl)
