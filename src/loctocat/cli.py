"""The `loctocat` command line (also `python -m loctocat`).

```
loctocat login  PROVIDER --client-id ID [options]   log in with the device flow, store the token
loctocat login  --issuer URL --client-id ID          ... any server that publishes its metadata
loctocat login  --auth-url URL --token-url URL --client-id ID
loctocat token  <same selection>     print a valid access token (stored, refreshed or new)
loctocat logout <same selection>     forget the stored token and revoke it at the server
loctocat providers [--json]          the predefined providers and their options
loctocat demo [--auto-approve]       a whole device flow against a built-in local server
loctocat serve [--port N]            run the built-in fake authorization server
```

The prompt (code, link, spinner) and every message go to stderr; stdout carries only what a
script asks for: the access token (`token`, `login --print-token`) or JSON (`--json`).

Client secrets: `--secret-env VAR` (read from an environment variable) or
`--client-secret-stdin` (read from stdin) keep the secret out of the process list and the
shell history, where `--client-secret VALUE` would put it; prefer them.

Defaults per provider can live in a TOML file, `~/.config/loctocat/config.toml` on Linux
(platformdirs' user config directory; `LOCTOCAT_CONFIG` names another file)::

    [providers.github]
    client_id = "Iv1.0123456789abcdef"
    scopes = ["repo"]

    [providers.keycloak]
    client_id = "cli"
    base_url = "https://sso.example.com"
    realm = "staff"
    secret_env = "KEYCLOAK_SECRET"

Command-line flags win over the file.

Exit codes: 0 success, 1 error, 2 usage (bad or missing options, a broken config file),
3 denied, 4 expired or timed out, 5 network, 130 interrupted (Ctrl+C).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loctocat.errors import (
    AccessDenied,
    ConfigurationError,
    ExpiredToken,
    FlowTimeout,
    LoctocatError,
    ProtocolError,
    ServerError,
    TransportError,
)

if TYPE_CHECKING:
    from loctocat._models import LoctocatAuthInfo, Token
    from loctocat.auth import Authenticator
    from loctocat.predefined import Provider
    from loctocat.prompt import Prompt
    from loctocat.store import FileTokenStore

__all__ = ["main"]


class UsageError(Exception):
    """The command line (or the config file) cannot work: exit code 2."""


@dataclass(frozen=True)
class ExitCode:
    """One exit code: what it means, and the errors that end a command with it."""

    code: int
    meaning: str
    errors: tuple[type[BaseException], ...] = ()


#: Every exit code, in the order `--help` and the docs list them: the one table they are read
#: from. An error takes the first code whose `errors` it is an instance of; anything else is 1.
EXIT_CODES = (
    ExitCode(0, "ok"),
    ExitCode(1, "error"),
    ExitCode(
        2, "usage: bad or missing options, a broken config file", (UsageError, ConfigurationError)
    ),
    ExitCode(3, "the user denied the request", (AccessDenied,)),
    ExitCode(4, "the code expired, or --timeout ran out", (ExpiredToken, FlowTimeout)),
    ExitCode(5, "network: the server could not be reached", (TransportError,)),
    ExitCode(130, "interrupted (Ctrl+C)", (KeyboardInterrupt,)),
)
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_DENIED, EXIT_EXPIRED, EXIT_NETWORK, EXIT_INTERRUPTED = (
    exit_code.code for exit_code in EXIT_CODES
)

#: Seconds `demo --auto-approve` waits before approving, so the prompt can be seen.
AUTO_APPROVE_AFTER = 3.0

#: The environment variable naming another config file.
CONFIG_ENV = "LOCTOCAT_CONFIG"

_EXIT_CODES_HELP = "exit codes:\n" + "\n".join(
    f"  {exit_code.code:<4} {exit_code.meaning}" for exit_code in EXIT_CODES
)

_MAIN_EPILOG = f"""\
examples:
  loctocat login github --client-id Iv1.0123456789abcdef --scope repo
  curl -H "Authorization: Bearer $(loctocat token github --client-id Iv1.0123456789abcdef \\
      --scope repo)" https://api.github.com/user
  loctocat login keycloak --base-url https://sso.example.com --realm staff --client-id cli
  loctocat login --issuer https://auth.example.com --client-id my-app --scope openid
  loctocat logout github --client-id Iv1.0123456789abcdef --scope repo
  loctocat providers

Run 'loctocat COMMAND --help' for the options of a command.

config file: defaults per provider (client_id, scopes, account, secret_env and the provider's
options) in [providers.NAME] tables of ~/.config/loctocat/config.toml, or of the file that
${CONFIG_ENV} names. Command-line flags win.

{_EXIT_CODES_HELP}"""

_SELECTION_NOTES = f"""\
Which server: a predefined PROVIDER (see 'loctocat providers') with its options, or
--issuer URL (the endpoints are read from its metadata), or --auth-url and --token-url.
Tokens are stored in one JSON file (mode 0600) in the user data directory, or in --store PATH,
keyed by server, client ID, scopes and --account.

client secrets: most device-flow clients have none. When one is needed, prefer
--secret-env VAR or --client-secret-stdin: a secret given as --client-secret VALUE can be read
by other users in the process list and stays in your shell history.

{_EXIT_CODES_HELP}"""

_LOGIN_EPILOG = f"""\
examples:
  loctocat login github --client-id Iv1.0123456789abcdef --scope repo
  loctocat login microsoft --tenant organizations --client-id ID --scope User.Read \\
      --scope offline_access
  GOOGLE_SECRET=... loctocat login google --client-id ID --secret-env GOOGLE_SECRET \\
      --scope openid
  loctocat login --issuer https://auth.example.com --client-id my-app --json

Always runs the device flow (even when a valid token is stored) and stores the new token.
Prints nothing on stdout unless asked: --print-token or --json.

{_SELECTION_NOTES}"""

_TOKEN_EPILOG = f"""\
examples:
  curl -H "Authorization: Bearer $(loctocat token github --client-id Iv1.0123456789abcdef)" \\
      https://api.github.com/user
  loctocat token --issuer https://auth.example.com --client-id my-app --json | jq .expires_in

Prints a valid access token on stdout: the stored one while it is valid, else a refreshed
one, else a new one from the device flow (its prompt goes to stderr). Only the access token,
or the whole token as JSON with --json, is written to stdout.

{_SELECTION_NOTES}"""

_LOGOUT_EPILOG = f"""\
examples:
  loctocat logout github --client-id Iv1.0123456789abcdef
  loctocat logout --issuer https://auth.example.com --client-id my-app --account work

Revokes the stored token (RFC 7009) when the server has a revocation endpoint (--issuer finds
it in the metadata; with --auth-url/--token-url pass --revocation-url), then forgets it. When
revoking fails, the token is kept, so that you can try again (or forget it with --no-revoke).

{_SELECTION_NOTES}"""

_PROVIDERS_EPILOG = """\
examples:
  loctocat providers
  loctocat providers --json | jq '.[] | select(.name == "keycloak")'

Required options must be given (or set in the config file); optional ones show their default.
--json adds each provider's description, documentation link and refresh behaviour."""


class CommandFailed(Exception):
    """A failure with its own message and exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class _Run:
    """What one run of `main` learns along the way."""

    def __init__(self) -> None:
        #: True once a prompt has shown the user why the flow ended (e.g. "✗ Cancelled.").
        self.failure_shown = False


class _TrackingPrompt:
    """The default terminal prompt, noting whether it has already reported the failure."""

    def __init__(self, run: _Run) -> None:
        from loctocat.prompt import prompt_from_options

        self._inner: Prompt = prompt_from_options()
        self._run = run

    def show_code(self, auth_info: LoctocatAuthInfo) -> None:
        self._inner.show_code(auth_info)

    def start_waiting(self) -> None:
        self._inner.start_waiting()

    def succeeded(self, token: Token) -> None:
        self._inner.succeeded(token)

    def failed(self, error: BaseException) -> None:
        self._inner.failed(error)
        self._run.failure_shown = True

    def close(self) -> None:
        self._inner.close()

    def __getattr__(self, name: str) -> Any:
        # Anything else the prompt offers (now or later) passes through unchanged.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._inner, name)


# --- the parser ---------------------------------------------------------------------------------


def _provider_options() -> dict[str, list[Provider]]:
    """Every provider parameter name -> the providers taking it."""
    from loctocat.predefined import providers

    options: dict[str, list[Provider]] = {}
    for provider in providers():
        for parameter in provider.parameters:
            options.setdefault(parameter.name, []).append(provider)
    return options


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _selection_parser() -> argparse.ArgumentParser:
    """The options shared by login, token and logout."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    parent.add_argument(
        "provider",
        nargs="?",
        metavar="PROVIDER",
        help="a predefined provider (see 'loctocat providers'), e.g. github",
    )
    server = parent.add_argument_group("server (instead of a PROVIDER)")
    server.add_argument("--issuer", metavar="URL", help="read the endpoints from its metadata")
    server.add_argument("--auth-url", metavar="URL", help="the device authorization endpoint")
    server.add_argument("--token-url", metavar="URL", help="the token endpoint")
    server.add_argument(
        "--revocation-url", metavar="URL", help="the revocation endpoint (RFC 7009), for logout"
    )

    client = parent.add_argument_group("client")
    client.add_argument("--client-id", metavar="ID", help="your app's client ID")
    client.add_argument(
        "--scope",
        dest="scopes",
        action="append",
        metavar="SCOPE",
        help="a scope to ask for; repeat it, or give several separated by spaces",
    )
    secrets = client.add_mutually_exclusive_group()
    secrets.add_argument(
        "--secret-env", metavar="VAR", help="read the client secret from environment variable VAR"
    )
    secrets.add_argument(
        "--client-secret-stdin",
        action="store_true",
        help="read the client secret from stdin (one line; hidden input on a terminal)",
    )
    secrets.add_argument(
        "--client-secret",
        metavar="SECRET",
        help="the client secret itself (discouraged: visible in the process list and history)",
    )
    client.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="give up waiting for approval after this long (default: when the code expires)",
    )

    params = parent.add_argument_group("provider options (see 'loctocat providers')")
    for name, takers in sorted(_provider_options().items()):
        params.add_argument(
            _flag(name),
            dest=f"param_{name}",
            metavar=name.upper(),
            help=_describe(takers, name),
        )

    storage = parent.add_argument_group("storage")
    storage.add_argument(
        "--store", metavar="PATH", help="the token file (default: in the user data directory)"
    )
    storage.add_argument(
        "--account", metavar="LABEL", help="keep several logins to one service apart"
    )
    return parent


def _describe(takers: Sequence[Provider], name: str) -> str:
    """Help for one provider option; a generic one when several providers share its name."""
    parameter = next(p for p in takers[0].parameters if p.name == name)
    text = parameter.description
    if len(takers) > 1:
        text = {
            "base_url": "the server's URL, e.g. https://sso.example.com",
            "host": "the host name, e.g. example.okta.com",
        }.get(parameter.kind, text)
    return f"for {', '.join(p.name for p in takers)}: {text}".replace("%", "%%")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loctocat",
        description="OAuth 2.0 device flow (RFC 8628) from the command line.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_MAIN_EPILOG,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    selection = _selection_parser()
    raw = argparse.RawDescriptionHelpFormatter

    login = commands.add_parser(
        "login",
        parents=[selection],
        help="log in with the device flow and store the token",
        description="Log in with the device flow and store the token.",
        epilog=_LOGIN_EPILOG,
        formatter_class=raw,
    )
    shown = login.add_mutually_exclusive_group()
    shown.add_argument("--print-token", action="store_true", help="print the access token")
    shown.add_argument("--json", action="store_true", help="print the whole token as JSON")

    token = commands.add_parser(
        "token",
        parents=[selection],
        help="print a valid access token (logging in only when needed)",
        description="Print a valid access token on stdout, for scripts.",
        epilog=_TOKEN_EPILOG,
        formatter_class=raw,
    )
    token.add_argument("--json", action="store_true", help="print the whole token as JSON")

    logout = commands.add_parser(
        "logout",
        parents=[selection],
        help="revoke the stored token and forget it",
        description="Revoke the stored token at the server, then forget it.",
        epilog=_LOGOUT_EPILOG,
        formatter_class=raw,
    )
    logout.add_argument(
        "--no-revoke",
        action="store_true",
        help="only forget the token here (it stays valid at the server until it expires)",
    )

    listing = commands.add_parser(
        "providers",
        help="list the predefined providers and their options",
        description="List the predefined providers, their options and client secret needs.",
        epilog=_PROVIDERS_EPILOG,
        formatter_class=raw,
    )
    listing.add_argument("--json", action="store_true", help="print the catalogue as JSON")

    demo = commands.add_parser(
        "demo",
        help="log in against a built-in local authorization server",
        description=(
            "Start a fake authorization server on 127.0.0.1, then run a whole device flow "
            "against it: open the URL shown, type the code and approve. The access token is "
            "printed on stdout."
        ),
        epilog="examples:\n  loctocat demo\n  loctocat demo --auto-approve",
        formatter_class=raw,
    )
    demo.add_argument(
        "--auto-approve",
        action="store_true",
        help=f"approve by itself after {AUTO_APPROVE_AFTER:g} seconds (no browser needed)",
    )
    demo.add_argument("--port", type=int, default=0, help="port to serve on (default: any)")

    serve = commands.add_parser(
        "serve",
        help="run the fake authorization server for manual testing",
        description="Serve loctocat.testing.FakeAuthorizationServer on 127.0.0.1 until Ctrl+C.",
        epilog="example:\n  loctocat serve --port 8765",
        formatter_class=raw,
    )
    serve.add_argument("--port", type=int, default=0, help="port to serve on (default: any)")
    serve.add_argument("--interval", type=int, default=1, help="polling interval to announce")
    for sub in (listing, demo, serve):
        sub.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
    return parser


# --- the config file ----------------------------------------------------------------------------

_CONFIG_KEYS = ("client_id", "scopes", "account", "secret_env")


def config_path() -> Path:
    """The config file: `$LOCTOCAT_CONFIG`, else config.toml in the user config directory."""
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return platformdirs.user_config_path("loctocat") / "config.toml"


def load_config() -> dict[str, dict[str, Any]]:
    """The `[providers.NAME]` tables of the config file, checked; {} when there is no file.

    Raises `UsageError`, naming the file, when it cannot be read or holds something unknown.
    """
    path = config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if os.environ.get(CONFIG_ENV):
            raise UsageError(
                f"the config file {path} (from ${CONFIG_ENV}) does not exist"
            ) from None
        return {}
    except OSError as exc:
        raise UsageError(f"cannot read the config file {path}: {exc.strerror or exc}") from None
    import tomllib

    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"the config file {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"the config file {path} is not valid TOML: {exc}") from None

    def bad(what: str) -> UsageError:
        return UsageError(f"in the config file {path}: {what}")

    unknown = sorted(set(document) - {"providers"})
    if unknown:
        raise bad(f"unknown key {unknown[0]!r}: only [providers.NAME] tables are read")
    tables = document.get("providers", {})
    if not isinstance(tables, dict):
        raise bad("'providers' must be a table of [providers.NAME] tables")
    from loctocat.predefined import PROVIDERS

    result: dict[str, dict[str, Any]] = {}
    for name, table in tables.items():
        provider = PROVIDERS.get(name)
        if provider is None:
            raise bad(f"[providers.{name}]: unknown provider (see 'loctocat providers')")
        if not isinstance(table, dict):
            raise bad(f"providers.{name} must be a table")
        allowed = (*_CONFIG_KEYS, *(p.name for p in provider.parameters))
        for key, value in table.items():
            where = f"[providers.{name}] {key}"
            if key not in allowed:
                raise bad(f"{where}: unknown key; allowed: {', '.join(allowed)}")
            if key == "scopes":
                if isinstance(value, str):
                    value = value.split()
                if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
                    raise bad(f"{where} must be a list of strings")
            elif not isinstance(value, str) or not value:
                raise bad(f"{where} must be a non-empty string")
        result[name] = dict(table)
    return result


# --- building the authenticator -----------------------------------------------------------------


def _split_scopes(values: Sequence[str]) -> list[str]:
    return [scope for value in values for scope in value.split()]


def _read_secret(args: argparse.Namespace, defaults: Mapping[str, Any]) -> str | None:
    if args.client_secret is not None:
        return str(args.client_secret)
    if args.client_secret_stdin:
        if sys.stdin.isatty():
            import getpass

            secret = getpass.getpass("Client secret: ", stream=sys.stderr)
        else:
            secret = sys.stdin.readline().rstrip("\r\n")
        if not secret:
            raise UsageError("--client-secret-stdin: no client secret was read from stdin")
        return secret
    variable = args.secret_env or defaults.get("secret_env")
    if variable is None:
        return None
    from_env = os.environ.get(variable)
    if not from_env:
        raise UsageError(
            f"--secret-env {variable}: the environment variable {variable} is not set or empty"
        )
    return from_env


def _store(args: argparse.Namespace) -> FileTokenStore:
    from loctocat.store import FileTokenStore

    return FileTokenStore(args.store) if args.store else FileTokenStore()


def _authenticator(args: argparse.Namespace, store: FileTokenStore) -> Authenticator:
    """The authenticator the selection options describe; `UsageError` when they cannot."""
    from loctocat.auth import Authenticator

    given = {
        name: value
        for name in _provider_options()
        if (value := getattr(args, f"param_{name}", None)) is not None
    }
    urls = [flag for flag in ("auth_url", "token_url") if getattr(args, flag)]
    if args.provider is not None and (args.issuer or urls):
        raise UsageError(
            f"give either a provider ({args.provider}) or --issuer / --auth-url and --token-url, "
            "not both"
        )
    if args.issuer and urls:
        raise UsageError("give either --issuer or --auth-url and --token-url, not both")
    if args.provider is None and given:
        flags = ", ".join(_flag(name) for name in sorted(given))
        raise UsageError(f"{flags}: provider options need a PROVIDER (see 'loctocat providers')")

    provider: Provider | None = None
    defaults: dict[str, Any] = {}
    if args.provider is not None:
        from loctocat.predefined import get_provider

        try:
            provider = get_provider(args.provider)
        except ConfigurationError as exc:
            raise UsageError(str(exc)) from None
        defaults = load_config().get(provider.name, {})
    elif not args.issuer and len(urls) != 2:
        if urls:
            missing = "--token-url" if urls == ["auth_url"] else "--auth-url"
            raise UsageError(f"{missing} is missing: --auth-url and --token-url go together")
        raise UsageError(
            "which server? name a PROVIDER (see 'loctocat providers'), or give --issuer URL, "
            "or --auth-url and --token-url"
        )

    client_id = args.client_id or defaults.get("client_id")
    if not client_id:
        where = ""
        if provider is not None:
            where = f" (or client_id in [providers.{provider.name}] of {config_path()})"
        raise UsageError(f"--client-id is required{where}")
    scopes = _split_scopes(args.scopes) if args.scopes else defaults.get("scopes")
    if isinstance(scopes, str):
        scopes = scopes.split()
    options: dict[str, Any] = {
        "client_secret": _read_secret(args, defaults),
        "store": store,
        "account": args.account or defaults.get("account"),
        "timeout": args.timeout,
    }
    if args.revocation_url:
        options["revocation_url"] = args.revocation_url

    try:
        if provider is not None:
            # The flags of every provider share one parser: which ones this provider takes is
            # the parser's concern; what the values must be, the provider's.
            names = [p.name for p in provider.parameters]
            foreign = sorted(set(given) - set(names))
            if foreign:
                takes = ", ".join(_flag(n) for n in names) or "no options"
                raise UsageError(
                    f"{provider.name} does not take {', '.join(_flag(n) for n in foreign)} "
                    f"(it takes {takes})"
                )
            values = {n: defaults[n] for n in names if n in defaults} | given
            authenticator: Authenticator = provider.authenticator(
                client_id, scopes, **values, **options
            )
            return authenticator
        if args.issuer:
            # Discovery talks to the server: its errors keep their own exit codes.
            return Authenticator.from_issuer(args.issuer, client_id, scopes, **options)
        return Authenticator(client_id, args.auth_url, args.token_url, scopes, **options)
    except ConfigurationError as error:
        raise _usage_error(error, provider) from None


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
}


def _usage_error(error: ConfigurationError, provider: Provider | None) -> UsageError:
    """A library's `ConfigurationError` in the command line's words.

    The parameter it is about becomes the flag that sets it ("realm=...", "'realm'", or the
    parameter opening the message), and a provider goes by its command-line name.
    """
    message = str(error)
    if provider is not None and message.startswith((f"{provider.title} ", f"{provider.title}'")):
        message = provider.name + message[len(provider.title) :]
    name = error.parameter
    flag = None
    if name is not None:
        flag = _FLAG_FOR.get(name) or (_flag(name) if name in _provider_options() else None)
    if name is not None and flag is not None:
        word = re.escape(name)
        message = re.sub(rf"\b{word}=\.\.\.|'{word}'|^{word}\b", flag, message)
    return UsageError(message)


# --- the commands -------------------------------------------------------------------------------


def _print_token(token: Token | None, as_json: bool) -> None:
    assert token is not None
    if not as_json and token.token_type.lower() != "bearer":
        raise CommandFailed(
            f"the token is of type {token.token_type!r}, not Bearer: the access token alone "
            "cannot be used as 'Authorization: Bearer ...'; pass --json for the whole token",
            EXIT_ERROR,
        )
    if as_json:
        import json

        print(json.dumps(token.to_dict(), indent=2, sort_keys=True))
    else:
        print(token.access_token)


def _login(args: argparse.Namespace, run: _Run) -> int:
    from loctocat.errors import StoreError

    store = _store(args)
    with _authenticator(args, store) as authenticator:
        authenticator.authenticate(prompt=_TrackingPrompt(run))
        token = authenticator.token
        assert token is not None
        try:
            store.save(authenticator.store_key(), token)
        except StoreError as exc:
            return _not_stored(token, exc, args.print_token or args.json, args.json)
    print("Logged in.", file=sys.stderr)
    if args.print_token or args.json:
        _print_token(token, args.json)
    return EXIT_OK


def _token(args: argparse.Namespace, run: _Run) -> int:
    from loctocat.errors import StoreError

    store = _store(args)
    with _authenticator(args, store) as authenticator:
        try:
            authenticator.get_token(prompt=_TrackingPrompt(run))
        except StoreError as exc:
            if authenticator.token is None:
                raise  # the store could not be read: no token was obtained
            return _not_stored(authenticator.token, exc, True, args.json)
        _print_token(authenticator.token, args.json)
    return EXIT_OK


def _not_stored(token: Token, error: Exception, hand_over: bool, as_json: bool) -> int:
    """A token was issued but could not be stored: never lose it.

    When the command prints it anyway, that is where it goes (with a warning); otherwise it is
    written to a new private file (mode 0600) whose name is given, and the command fails.
    """
    from loctocat._text import one_line

    # The store's own words, without the library's note about authenticator.token.
    reason = one_line(str(error.__cause__ or error))
    if hand_over and (as_json or token.token_type.lower() == "bearer"):
        _print_token(token, as_json)
        print(f"loctocat: warning: the token could not be stored: {reason}", file=sys.stderr)
        return EXIT_OK
    import json
    import tempfile

    fd, path = tempfile.mkstemp(prefix="loctocat-token-", suffix=".json")
    with os.fdopen(fd, "w") as rescue:
        json.dump(token.to_dict(), rescue, indent=2)
    print(
        f"loctocat: logged in, but the token could not be stored: {reason}; it was written to "
        f"{path} instead (readable only by you): use it from there, then delete the file",
        file=sys.stderr,
    )
    return EXIT_ERROR


def _logout(args: argparse.Namespace, run: _Run) -> int:
    from loctocat.errors import StoreError

    store = _store(args)
    with _authenticator(args, store) as authenticator:
        try:
            stored = store.load(authenticator.store_key())
        except StoreError as exc:
            if not exc.corrupt:
                raise
            stored = None  # unreadable: nothing to revoke, but forgetting it still helps
            args.no_revoke = True
        else:
            if stored is None:
                print(f"Not logged in: no such token in {store.path}.", file=sys.stderr)
                return EXIT_OK
        try:
            revoked = authenticator.logout(revoke=not args.no_revoke)
        except (TransportError, ProtocolError, ServerError) as exc:
            raise CommandFailed(
                f"revoking the token at the server failed, so it is still stored in "
                f"{store.path}: {exc}; try again later, or run logout with --no-revoke to "
                "only forget it here",
                _exit_code(exc),
            ) from exc
    if revoked:
        print("Logged out. The token was revoked at the server and forgotten.", file=sys.stderr)
    elif args.no_revoke:
        print(
            "Logged out. The token was forgotten here; it stays valid at the server until it "
            "expires.",
            file=sys.stderr,
        )
    else:
        print(
            "Logged out. The token was forgotten here, but no revocation endpoint is known, so it "
            "stays valid at the server until it expires (pass --revocation-url to revoke it).",
            file=sys.stderr,
        )
    return EXIT_OK


def _providers(args: argparse.Namespace, run: _Run) -> int:
    from loctocat.predefined import catalogue, providers

    if args.json:
        import json

        print(json.dumps(catalogue(), indent=2))
        return EXIT_OK
    rows = [("NAME", "TITLE", "REQUIRED", "OPTIONAL (default)", "CLIENT SECRET")]
    for provider in providers():
        required = " ".join(_flag(p.name) for p in provider.required_parameters)
        optional = " ".join(
            f"{_flag(p.name)}={p.default}" if p.default else _flag(p.name)
            for p in provider.optional_parameters
        )
        rows.append(
            (
                provider.name,
                provider.title,
                required or "-",
                optional or "-",
                provider.client_secret,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    print(
        "\nEvery provider also takes --client-id (required) and --scope. "
        "'loctocat providers --json' has the details.",
        file=sys.stderr,
    )
    return EXIT_OK


def _demo(args: argparse.Namespace, run: _Run) -> int:
    from loctocat.auth import Authenticator
    from loctocat.testing import FakeAuthorizationServer

    server = FakeAuthorizationServer(interval=1, expires_in=300)
    with server.serve_http(port=args.port):
        print(f"Built-in authorization server: {server.verification_uri}", file=sys.stderr)
        authenticator = Authenticator(
            client_id="loctocat-demo",
            auth_url=server.device_authorization_url,
            token_url=server.token_url,
            scopes=["profile"],
        )
        timer: threading.Timer | None = None
        if args.auto_approve:
            print(f"(--auto-approve: approving in {AUTO_APPROVE_AFTER:g} s)", file=sys.stderr)
            timer = threading.Timer(AUTO_APPROVE_AFTER, server.approve)
            timer.daemon = True
            timer.start()
        try:
            access_token = authenticator.authenticate(prompt=_TrackingPrompt(run))
        finally:
            if timer is not None:
                timer.cancel()
    print(access_token)
    return EXIT_OK


def _serve(args: argparse.Namespace, run: _Run) -> int:
    import time

    from loctocat.testing import FakeAuthorizationServer

    server = FakeAuthorizationServer(interval=args.interval)
    with server.serve_http(port=args.port):
        print(f"device_authorization_endpoint: {server.device_authorization_url}")
        print(f"token_endpoint:                {server.token_url}")
        print(f"verification page:             {server.verification_uri}")
        print("Press Ctrl+C to stop.", file=sys.stderr, flush=True)
        sys.stdout.flush()
        while True:
            time.sleep(3600)


# --- running ------------------------------------------------------------------------------------


def _exit_code(error: BaseException) -> int:
    """The exit code `error` ends a command with (see `EXIT_CODES`)."""
    if isinstance(error, CommandFailed):
        return error.exit_code
    for exit_code in EXIT_CODES:
        if exit_code.errors and isinstance(error, exit_code.errors):
            return exit_code.code
    return EXIT_ERROR


_COMMANDS = {
    "login": _login,
    "token": _token,
    "logout": _logout,
    "providers": _providers,
    "demo": _demo,
    "serve": _serve,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with `argv` (default: sys.argv[1:]) and return the exit code."""
    from loctocat._text import one_line  # error lines below may quote a server: escape them

    run = _Run()
    debug = False
    try:
        args = _parser().parse_args(argv)
        debug = bool(args.debug)
        if debug:
            import logging

            logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
        return _COMMANDS[args.command](args, run)
    except KeyboardInterrupt:
        if debug:
            import traceback

            traceback.print_exc()
        if not run.failure_shown:  # the prompt says "Cancelled." itself during a flow
            print("Cancelled.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (LoctocatError, UsageError, CommandFailed) as error:
        if debug:
            import traceback

            traceback.print_exc()
        # The prompt has already said what happened when a flow was running; repeat it
        # in one line for logs and scripts, with the server's control characters escaped.
        print(f"loctocat: {one_line(str(error))}", file=sys.stderr)
        return _exit_code(error)
    except Exception as error:
        if debug:
            import traceback

            traceback.print_exc()
            hint = ""
        else:
            hint = " (run with --debug for the traceback)"
        message = one_line(f"{type(error).__name__}: {error}")
        print(f"loctocat: unexpected error: {message}{hint}", file=sys.stderr)
        return EXIT_ERROR
