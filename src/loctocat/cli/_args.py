"""The command line's grammar: commands, flags, help that fits 80 columns, short errors."""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from loctocat.cli._exits import UsageError, exit_codes_help
from loctocat.cli._output import width, wrap

if TYPE_CHECKING:
    from loctocat.predefined import Provider

__all__ = ["COMMANDS", "build_parser", "did_you_mean", "flag", "parse", "provider_options"]

#: The commands, as `loctocat --help` lists them.
COMMANDS = (
    "login",
    "token",
    "status",
    "logout",
    "providers",
    "demo",
    "serve",
    "setup-git",
    "git-credential",
    "setup-kubectl",
    "kubectl-credential",
    "setup-index",
)

#: Seconds `--auto-approve` waits before approving, so the prompt can be seen.
AUTO_APPROVE_AFTER = 3.0

_MAIN_EPILOG = """\
examples:
  loctocat login github --client-id Iv1.0123456789abcdef --scope repo
  loctocat token github --client-id Iv1.0123456789abcdef --scope repo
  loctocat login --issuer https://auth.example.com --client-id my-app
  loctocat login work                   (a server named in the config file)
  loctocat status
  loctocat logout github --client-id Iv1.0123456789abcdef --scope repo

Run 'loctocat COMMAND --help' for the options of a command.

config file: ~/.config/loctocat/config.toml (or the file $LOCTOCAT_CONFIG
names) holds defaults per provider ([providers.NAME]), servers of your own
([servers.NAME]), package indexes for pip, uv and twine ([indexes."URL"], see
'loctocat setup-index') and where tokens are kept (store = ...). Flags win.

{exit_codes}"""

_SELECTION_NOTES = """\
Which server: a predefined PROVIDER (see 'loctocat providers') with its
options, or a server named in the config file, or --issuer URL (the
endpoints are read from its metadata), or --auth-url and --token-url. One
server, client ID, scope set and --account is one login, however the server
was named.

Where tokens are kept (--store, or store = ... in the config file): the OS
keychain when one is usable, else a file readable only by you in the user
data directory; --store keyring, --store file, --store PATH, or
--store redis://HOST:PORT/DB (shared by every machine using that Redis).

Client secrets: most device-flow clients have none. When one is needed,
prefer --secret-env VAR or --client-secret-stdin: a secret given as
--client-secret VALUE is visible in the process list and your history.

{exit_codes}"""

_LOGIN_EPILOG = (
    """\
examples:
  loctocat login github --client-id Iv1.0123456789abcdef --scope repo
  loctocat login microsoft --tenant organizations --client-id ID \\
      --scope User.Read --scope offline_access
  GOOGLE_SECRET=... loctocat login google --client-id ID \\
      --secret-env GOOGLE_SECRET --scope openid
  loctocat login --issuer https://auth.example.com --client-id my-app --json

Always runs the device flow (even when a valid token is stored) and stores
the new token. Prints nothing on stdout unless asked: --print-token or --json.

"""
    + _SELECTION_NOTES
)

_TOKEN_EPILOG = (
    """\
examples:
  curl -H "Authorization: Bearer $(loctocat token github \\
      --client-id Iv1.0123456789abcdef)" https://api.github.com/user
  loctocat token --issuer https://auth.example.com --client-id my-app \\
      --json | jq .expires_in

Prints a valid access token on stdout: the stored one while it is valid,
else a refreshed one, else a new one from the device flow. The device flow
runs only on a terminal (its prompt goes to stderr): without one (a script,
cron, CI), or with --no-login, the command fails at once with exit code 6
and the 'loctocat login ...' to run. --json prints the whole token, with
expires_in (seconds left), expires_at (ISO 8601), and the ID token's verified
claims and who is logged in, when known. --id-token prints the ID token (for
tools that take one), refreshed first if it has expired.

"""
    + _SELECTION_NOTES
)

_LOGOUT_EPILOG = (
    """\
examples:
  loctocat logout github --client-id Iv1.0123456789abcdef
  loctocat logout --issuer https://auth.example.com --client-id my-app

Revokes the stored token (RFC 7009) when the server has a revocation
endpoint (--issuer finds it in the metadata; with --auth-url/--token-url pass
--revocation-url), then forgets it. When revoking fails, the token is kept,
so that you can try again (or forget it with --no-revoke).

"""
    + _SELECTION_NOTES
)

_GIT_CREDENTIAL_EPILOG = (
    """\
example (what git runs, once 'loctocat setup-git' has set it up):
  printf 'protocol=https\\nhost=github.com\\n\\n' | loctocat git-credential \\
      github --client-id Iv1.0123456789abcdef --scope repo get

git runs this command itself, once 'loctocat setup-git' has configured it,
adding get, store or erase. It reads git's key=value lines on stdin and, for
get, answers the username and a valid access token (stored, refreshed, or,
on a terminal, from a new login) on stdout. --host (HOST[:PORT]) is the git
host it answers for; others get no answer. Without a terminal it answers
nothing and says on stderr which 'loctocat login ...' to run.

"""
    + _SELECTION_NOTES
)

_SETUP_GIT_EPILOG = (
    """\
examples:
  loctocat setup-git github --client-id Iv1.0123456789abcdef --scope repo
  loctocat setup-git gitlab --client-id ID --scope write_repository
  loctocat setup-git --issuer https://sso.example.com --client-id git \\
      --host git.example.com
  loctocat setup-git github --client-id Iv1.0123456789abcdef --unset

Writes git's global config so that https://HOST (and http:// for a loopback
host) gets its credentials from 'loctocat git-credential' with these options,
as 'gh auth setup-git' does: --host defaults to the provider's git host
(github.com, gitlab.com, your GitLab's host, ...). Running it again changes
nothing; --unset removes it.

"""
    + _SELECTION_NOTES
)

_KUBECTL_CREDENTIAL_EPILOG = (
    """\
example (what kubectl runs, once 'loctocat setup-kubectl' has set it up):
  KUBERNETES_EXEC_INFO='{{"kind": "ExecCredential", "apiVersion":
      "client.authentication.k8s.io/v1", "spec": {{"interactive": false}}}}' \\
      loctocat kubectl-credential --issuer https://sso.example.com \\
      --client-id kubernetes --scope openid

kubectl runs this command itself, once 'loctocat setup-kubectl' has put it in
the kubeconfig. It answers an ExecCredential on stdout with a valid token:
the ID token when the scopes include openid (what API servers' OpenID
Connect authenticators take; verified first), else or with --access-token
the access token, and when it expires, so that kubectl reuses it until then.
It logs in only when kubectl lets it use the terminal (the prompt on stderr);
otherwise it fails at once (exit code 6) with the 'loctocat login ...' to run.

"""
    + _SELECTION_NOTES
)

_SETUP_KUBECTL_EPILOG = (
    """\
examples:
  loctocat setup-kubectl --user sso --issuer https://sso.example.com \\
      --client-id kubernetes --scope openid --scope offline_access
  kubectl config set-context --current --user=sso
  loctocat setup-kubectl --user sso --issuer https://sso.example.com \\
      --client-id kubernetes --scope openid --print
  loctocat setup-kubectl --user sso --unset

Adds the user NAME to the kubeconfig (--kubeconfig, else the file of
$KUBECONFIG that has the user, else its first, else ~/.kube/config): an exec
entry that runs 'loctocat kubectl-credential' with these options, as the
terminal allows (interactiveMode: IfAvailable). Every other line of the file
stays as it was. --print prints the 'kubectl config set-credentials' command
that does the same instead; --unset removes the user again.

"""
    + _SELECTION_NOTES
)

_SETUP_INDEX_EPILOG = (
    """\
examples:
  loctocat setup-index https://pypi.example.com/simple/ work
  loctocat setup-index https://pypi.example.com/simple/ \\
      --issuer https://sso.example.com --client-id pip --scope read:packages
  pip install --keyring-provider import \\
      --index-url https://pypi.example.com/simple/ PACKAGE
  loctocat setup-index https://pypi.example.com/simple/ --unset

Writes an [indexes."URL"] table into the config file (keeping the rest of the
file as it is), so that loctocat's keyring backend gives pip, uv and twine a
valid token for URL and the URLs under it, and for no other URL: stored,
refreshed, or from a device-flow login on the terminal. The username sent
with it is __token__ unless --username says otherwise. uv asks keyring only
with the username in the URL: --index-url https://__token__@HOST/PATH/.
Running it again changes nothing; --unset removes the table.

"""
    + _SELECTION_NOTES
)

_STATUS_EPILOG = """\
examples:
  loctocat status
  loctocat status --json | jq '.[] | select(.expired)'

Lists every stored login: the server, client ID, scopes, account, who (when
known), until when the token is valid, whether it can be refreshed, and where
it is stored. --json prints a JSON array of them."""

_PROVIDERS_EPILOG = """\
examples:
  loctocat providers
  loctocat providers --json | jq '.[] | select(.name == "keycloak")'

Required options must be given (or set in the config file); optional ones
show their default. --json adds each provider's description, documentation,
refresh behaviour and sources."""

_DEMO_EPILOG = """\
examples:
  loctocat demo
  loctocat demo --auto-approve

Over SSH, the demo's page is on the remote machine's 127.0.0.1: forward its
port first (ssh -L PORT:127.0.0.1:PORT host, with --port PORT), or use
--auto-approve."""

_SERVE_EPILOG = """\
examples:
  loctocat serve --port 8765
  loctocat serve --auto-approve

Prints the server's URLs on stdout, then logs each request on stderr until
Ctrl+C."""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse's help, at most 80 columns wide (or the terminal's width if narrower)."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=width(), max_help_position=30)


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line, with a hint, and a guess when it can."""

    def error(self, message: str) -> NoReturn:
        invalid = re.match(r"argument (\S+): invalid choice: '([^']*)'", message)
        if invalid is not None and invalid[1] == "COMMAND":
            guess = did_you_mean(invalid[2], COMMANDS)
            raise UsageError(f"unknown command {invalid[2]!r}{guess}; see 'loctocat --help'")
        raise UsageError(f"{message}; see '{self.prog} --help'")

    def unknown_flags(self, extras: Sequence[str]) -> NoReturn:
        """Say which of `extras` this command does not take, guessing what was meant."""
        options = [o for action in self._actions for o in action.option_strings]
        first = next((extra for extra in extras if extra.startswith("-")), extras[0])
        name = first.split("=", 1)[0]
        command = self.prog.removeprefix("loctocat").strip() or "loctocat"
        if name.startswith("-"):
            guess = did_you_mean(name, options)
            what = f"{command} has no flag {name}{guess}"
        else:
            what = f"{command} takes no argument {first!r}"
        raise UsageError(f"{what}; see '{self.prog} --help'")


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """ "; did you mean 'x'?" for the nearest choice, or ""."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def flag(name: str) -> str:
    """The flag of a parameter name: client_id -> --client-id."""
    return "--" + name.replace("_", "-")


def provider_options() -> dict[str, list[Provider]]:
    """Every provider parameter name -> the providers taking it."""
    from loctocat.predefined import providers

    options: dict[str, list[Provider]] = {}
    for provider in providers():
        for parameter in provider.parameters:
            options.setdefault(parameter.name, []).append(provider)
    return options


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


def _selection(parent: argparse.ArgumentParser) -> None:
    """The options that name a login, shared by login, token, logout."""
    parent.add_argument(
        "name",
        nargs="?",
        metavar="PROVIDER|SERVER",
        help="a predefined provider (see 'loctocat providers'), or a server of the config file",
    )
    server = parent.add_argument_group("server (instead of a PROVIDER or SERVER)")
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
    # Not an argparse mutually exclusive group: its usage line cannot wrap within 80 columns.
    # The secret is read from one of them (see _select._read_secret).
    client.add_argument(
        "--secret-env", metavar="VAR", help="read the client secret from environment variable VAR"
    )
    client.add_argument(
        "--client-secret-stdin",
        action="store_true",
        help="read the client secret from stdin (one line; hidden on a terminal)",
    )
    client.add_argument(
        "--client-secret",
        metavar="SECRET",
        help="the client secret itself (discouraged: visible in the process list)",
    )
    client.add_argument(
        "--dpop",
        action="store_true",
        help="bind the token to a key kept with it (DPoP, RFC 9449), so it is useless alone",
    )
    client.add_argument(
        "--timeout",
        type=_positive_seconds,
        metavar="SECONDS",
        help="give up waiting for approval after this long (default: when the code expires)",
    )

    params = parent.add_argument_group("provider options (see 'loctocat providers')")
    for name, takers in sorted(provider_options().items()):
        params.add_argument(
            flag(name), dest=f"param_{name}", metavar=name.upper(), help=_describe(takers, name)
        )

    storage = parent.add_argument_group("storage")
    storage.add_argument(
        "--store",
        metavar="WHERE",
        help="keyring, file, a token file's PATH, or a redis:// URL (default: the keychain "
        "if usable)",
    )
    storage.add_argument(
        "--account", metavar="LABEL", help="keep several logins to one service apart"
    )


def _git_options(parent: argparse.ArgumentParser) -> None:
    git = parent.add_argument_group("git")
    # --host is already a provider option (GitHub's): for git it also names the git host.
    git.add_argument(
        "--username",
        metavar="NAME",
        help="the username git sends with the token (default: the provider's, else oauth2)",
    )


def _events_option(group: Any) -> None:
    group.add_argument(
        "--events",
        choices=("ndjson",),
        help="print each step as a JSON object per line (code, waiting, success, error)",
    )


def _kubectl_options(parent: argparse.ArgumentParser) -> None:
    kubectl = parent.add_argument_group("kubectl")
    kubectl.add_argument(
        "--access-token",
        action="store_true",
        help="give kubectl the access token, not the ID token",
    )


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 0 to 65535, not {value!r}")
    return port


def _positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {value!r}")
    return seconds


def build_parser() -> _Parser:
    """The whole command line: `loctocat` and its commands."""
    parser = _Parser(
        prog="loctocat",
        description="OAuth 2.0 device flow (RFC 8628) from the command line.",
        formatter_class=_Formatter,
        epilog=_MAIN_EPILOG.format(exit_codes=exit_codes_help()),
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=_Parser, required=False
    )

    def command(name: str, help_: str, description: str, epilog: str) -> _Parser:
        sub: _Parser = commands.add_parser(
            name,
            help=help_,
            description=wrap(description),
            epilog=epilog.format(exit_codes=exit_codes_help()),
            formatter_class=_Formatter,
        )
        sub.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
        return sub

    login = command(
        "login",
        "log in with the device flow and store the token",
        "Log in with the device flow and store the token.",
        _LOGIN_EPILOG,
    )
    _selection(login)
    shown = login.add_mutually_exclusive_group()
    shown.add_argument("--print-token", action="store_true", help="print the access token")
    shown.add_argument("--json", action="store_true", help="print the whole token as JSON")
    _events_option(login)
    handover = login.add_argument_group("in two steps (agents, services)")
    steps = handover.add_mutually_exclusive_group()
    steps.add_argument(
        "--start",
        action="store_true",
        help="get the code, keep the login pending in the store, print the code; exit",
    )
    steps.add_argument(
        "--finish",
        action="store_true",
        help="wait for the approval of the login --start began; store the token",
    )

    token = command(
        "token",
        "print a valid access token (logging in only when needed)",
        "Print a valid access token on stdout, for scripts.",
        _TOKEN_EPILOG,
    )
    _selection(token)
    printed = token.add_mutually_exclusive_group()
    printed.add_argument("--json", action="store_true", help="print the whole token as JSON")
    printed.add_argument(
        "--id-token",
        action="store_true",
        help="print the OpenID Connect ID token instead (scope openid)",
    )
    token.add_argument(
        "--no-login", action="store_true", help="never log in: fail (exit code 6) instead"
    )
    _events_option(printed)
    token.add_argument(
        "--print-token",
        action="store_true",
        help="with --events: put the access token in the success event",
    )

    helper = command(
        "git-credential",
        "git's credential helper (run by git; see setup-git)",
        "git's credential helper: git runs it with get, store or erase.",
        _GIT_CREDENTIAL_EPILOG,
    )
    # First, though git appends it last: parse() moves it here, before the optional PROVIDER.
    helper.add_argument("operation", choices=_GIT_OPERATIONS, help="what git asks (git appends it)")
    _selection(helper)
    _git_options(helper)

    setup = command(
        "setup-git",
        "make git log in to a host with loctocat",
        "Make git get its tokens for a host from loctocat (git config --global).",
        _SETUP_GIT_EPILOG,
    )
    _selection(setup)
    _git_options(setup)
    setup.add_argument("--unset", action="store_true", help="remove it from git's config")

    kubectl_plugin = command(
        "kubectl-credential",
        "kubectl's exec credential plugin (run by kubectl; see setup-kubectl)",
        "kubectl's exec credential plugin: prints an ExecCredential with a valid token.",
        _KUBECTL_CREDENTIAL_EPILOG,
    )
    _selection(kubectl_plugin)
    _kubectl_options(kubectl_plugin)

    setup_kubectl = command(
        "setup-kubectl",
        "make kubectl log in to a cluster with loctocat",
        "Add a kubeconfig user whose token comes from loctocat (an exec credential plugin).",
        _SETUP_KUBECTL_EPILOG,
    )
    setup_kubectl.add_argument(
        "--user", required=True, metavar="NAME", help="the kubeconfig user to add or change"
    )
    _selection(setup_kubectl)
    _kubectl_options(setup_kubectl)
    kubeconfig = setup_kubectl.add_argument_group("kubeconfig")
    kubeconfig.add_argument(
        "--kubeconfig", metavar="PATH", help="the kubeconfig file to change (default: kubectl's)"
    )
    kubeconfig.add_argument(
        "--print",
        action="store_true",
        help="print the 'kubectl config set-credentials' command instead",
    )
    kubeconfig.add_argument("--unset", action="store_true", help="remove the user again")

    setup_index = command(
        "setup-index",
        "make pip, uv and twine log in to a package index with loctocat",
        "Make pip, uv and twine get their tokens for a package index from loctocat, "
        "through keyring (written to the config file).",
        _SETUP_INDEX_EPILOG,
    )
    setup_index.add_argument(
        "url", metavar="URL", help="the index URL, as given to pip's --index-url"
    )
    _selection(setup_index)
    index = setup_index.add_argument_group("index")
    index.add_argument(
        "--username",
        metavar="NAME",
        help="the username sent with the token (default: __token__)",
    )
    index.add_argument("--unset", action="store_true", help="remove the index from the config file")

    status = command(
        "status",
        "list the stored logins",
        "List the stored logins and the state of their tokens.",
        _STATUS_EPILOG,
    )
    status.add_argument("--json", action="store_true", help="print them as a JSON array")
    status.add_argument(
        "--store",
        metavar="WHERE",
        help="keyring, file, a token file's PATH, or a redis:// URL (default: as for login)",
    )

    logout = command(
        "logout",
        "revoke the stored token and forget it",
        "Revoke the stored token at the server, then forget it.",
        _LOGOUT_EPILOG,
    )
    _selection(logout)
    logout.add_argument(
        "--no-revoke",
        action="store_true",
        help="only forget the token here (it stays valid at the server until it expires)",
    )

    listing = command(
        "providers",
        "list the predefined providers and their options",
        "List the predefined providers, their options and client secret needs.",
        _PROVIDERS_EPILOG,
    )
    listing.add_argument("--json", action="store_true", help="print the catalogue as JSON")

    demo = command(
        "demo",
        "log in against a built-in local authorization server",
        "Start a fake authorization server on 127.0.0.1, then run a whole device "
        "flow against it: open the URL shown, type the code and approve. The "
        "access token is printed on stdout.",
        _DEMO_EPILOG,
    )
    demo.add_argument(
        "--auto-approve",
        action="store_true",
        help=f"approve by itself after {AUTO_APPROVE_AFTER:g} seconds (no browser needed)",
    )
    demo.add_argument("--port", type=_port, default=0, help="port to serve on (default: any)")

    serve = command(
        "serve",
        "run the fake authorization server for your app to log in against",
        "Serve loctocat.testing.FakeAuthorizationServer on 127.0.0.1 until Ctrl+C.",
        _SERVE_EPILOG,
    )
    serve.add_argument("--port", type=_port, default=0, help="port to serve on (default: any)")
    serve.add_argument("--interval", type=int, default=1, help="polling interval to announce")
    serve.add_argument(
        "--auto-approve",
        action="store_true",
        help=f"approve each code by itself after {AUTO_APPROVE_AFTER:g} seconds",
    )
    return parser


#: The operations of git's credential helper protocol; a helper ignores any other.
_GIT_OPERATIONS = ("get", "store", "erase")


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """The arguments of `argv`; `UsageError` (one line) when they cannot be."""
    parser = build_parser()
    argv = list(argv)
    if argv[:1] == ["git-credential"] and len(argv) > 1:
        operation = argv[-1]
        if operation in _GIT_OPERATIONS:
            argv = [argv[0], operation, *argv[1:-1]]  # git appends the operation
        elif not operation.startswith("-") and argv[1] not in _GIT_OPERATIONS:
            # gitcredentials(7): "If a helper receives any other operation, it should silently
            # ignore the request", so that git can add operations. Only when the rest is a
            # helper's command line naming its server: otherwise the word is an option's
            # value or the server's name, and the operation is missing.
            try:
                args = parse([*argv[:-1], "store"])
            except UsageError:
                pass
            else:
                if args.name is not None or args.issuer or args.auth_url or args.token_url:
                    args.operation = operation
                    return args
    args, extras = parser.parse_known_args(argv)
    if extras:
        subparsers: Any = next(
            a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
        )
        command = subparsers.choices.get(args.command, parser)
        command.unknown_flags(extras)
    return args
