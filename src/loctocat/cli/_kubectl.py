"""`loctocat kubectl-credential` (a kubectl exec credential plugin) and `loctocat setup-kubectl`.

kubectl runs the plugin before it talks to a cluster whose kubeconfig user says `exec:`, and
reads an `ExecCredential` from its stdout (see `_kubeproto`). The token is the ID token when
the login asks for the `openid` scope (what API servers' OpenID Connect authenticators take),
verified by loctocat first; else, or with `--access-token`, the access token. kubectl says in
`KUBERNETES_EXEC_INFO` whether the plugin may use the terminal: only then does it log in (the
prompt on stderr, which kubectl leaves on the terminal); otherwise it fails at once with one
line naming the `loctocat login ...` to run.
"""

from __future__ import annotations

import argparse
import io
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loctocat.cli._exits import (
    EXIT_ERROR,
    EXIT_LOGIN_REQUIRED,
    EXIT_OK,
    CommandFailed,
    UsageError,
)
from loctocat.cli._kubeproto import API_VERSIONS, EXEC_INFO, ExecInfoError, exec_credential
from loctocat.cli._kubeproto import read_exec_info as _read_exec_info
from loctocat.cli._output import message, shown_path
from loctocat.cli._select import Selection, select
from loctocat.errors import LoginRequired

if TYPE_CHECKING:
    from loctocat._models import Token
    from loctocat.cli._run import Run

__all__ = ["kubectl_credential", "setup_kubectl"]

#: How kubectl may run the plugin: with the terminal when there is one, else without.
INTERACTIVE_MODE = "IfAvailable"
#: The arguments that make an exec entry loctocat's own.
_OWN_ARGS = ("loctocat", "kubectl-credential")


# --- kubectl-credential -------------------------------------------------------------------


def kubectl_credential(args: argparse.Namespace, run: Run) -> int:
    """Answer kubectl with a valid token for this login (stored, refreshed, or new)."""
    from loctocat.cli._run import QuietFailures, terminal

    try:
        api_version, interactive = _read_exec_info(os.environ.get(EXEC_INFO))
    except ExecInfoError as exc:
        raise CommandFailed(str(exc), EXIT_ERROR) from None
    selection = select(args)
    authenticator = selection.authenticator
    wants_id_token = _wants_id_token(args, selection)
    # kubectl says whether the plugin may use the terminal; run by hand, it is there or not.
    shown_to = terminal() if interactive is not False else None
    try:
        with authenticator:
            prompt = QuietFailures(console_file=shown_to, open_browser=_stdin_is_terminal())
            authenticator.get_token(prompt=prompt, login=shown_to is not None)
            if wants_id_token:
                value, expires_at = _id_token(selection, authenticator, run)
            else:
                token = authenticator.token
                assert token is not None
                value, expires_at = _access_token(token)
    except LoginRequired:
        why = "kubectl runs it without a terminal" if interactive is False else "no terminal"
        raise CommandFailed(
            f"not logged in to {selection.server} for kubectl, and {why} to log in on: run "
            f"{_login_command(run)}",
            EXIT_LOGIN_REQUIRED,
        ) from None
    finally:
        if shown_to is not None and shown_to is not sys.stderr:
            shown_to.close()
    sys.stdout.write(exec_credential(api_version, value, expires_at))
    from loctocat.cli._git import index_for_fast_path

    kind = "id_token" if wants_id_token else "access_token"
    index_for_fast_path(run, selection, kubectl={"token": kind})
    return EXIT_OK


def _wants_id_token(args: argparse.Namespace, selection: Selection) -> bool:
    from loctocat.auth import _scopes_tuple

    return not args.access_token and "openid" in _scopes_tuple(selection.authenticator.scopes)


def _stdin_is_terminal() -> bool | None:
    # Enter opens the browser only when the keyboard reaches the plugin (kubectl passes its
    # stdin through in interactive mode); None leaves it to the prompt's own rules.
    try:
        return None if os.isatty(sys.stdin.fileno()) else False
    except (AttributeError, OSError, ValueError):
        return False


def _id_token(selection: Selection, authenticator: Any, run: Run) -> tuple[str, float | None]:
    """The verified ID token and when it expires, refreshed first if it has."""
    import time

    from loctocat.cli._select import id_token_holder

    token = id_token_holder(selection, authenticator)
    assert token.id_token is not None
    exp = (token.claims or {}).get("exp")
    if token.claims is None or not isinstance(exp, int | float):
        # API servers check the signature, issuer and audience themselves; handing kubectl a
        # token loctocat could not check would only fail there, with a vaguer message.
        raise CommandFailed(
            f"the ID token from {selection.server} could not be verified (no keys are known "
            "for its issuer): log in with --issuer URL so that they are discovered, or pass "
            "--access-token to give kubectl the access token",
            EXIT_ERROR,
        )
    if exp <= time.time():
        raise CommandFailed(
            f"the ID token from {selection.server} has expired and the server gave no new "
            f"one when refreshed: log in again, with {_login_command(run)}",
            EXIT_LOGIN_REQUIRED,
        )
    return token.id_token, float(exp)


def _access_token(token: Token) -> tuple[str, float | None]:
    if token.token_type.lower() != "bearer":
        raise CommandFailed(
            f"the access token is of type {token.token_type!r}, not Bearer, and kubectl sends "
            "tokens as Bearer: it cannot use this one",
            EXIT_ERROR,
        )
    expires_at = token.expires_at.timestamp() if token.expires_at is not None else None
    return token.access_token, expires_at


def _login_command(run: Run) -> str:
    from loctocat.cli._run import login_command

    return login_command(list(run.argv)[1:], flags=("--access-token",))


# --- setup-kubectl ------------------------------------------------------------------------


def setup_kubectl(args: argparse.Namespace, run: Run) -> int:
    """Add (or replace, or with `--unset` remove) the kubeconfig user that runs the plugin."""
    if args.client_secret is not None or args.client_secret_stdin:
        raise UsageError(
            "a client secret cannot go in the kubeconfig, where it would be readable: give "
            "--secret-env VAR, and set VAR where kubectl runs"
        )
    name = args.user.strip()
    if not name or not name.isprintable():
        raise UsageError(f"--user {args.user!r}: give the kubeconfig user's name")
    if args.unset:
        return _unset(name, args.kubeconfig)
    selection = select(args)  # refuses a login that cannot work, before any file is touched
    exec_entry = _exec_entry(args)
    if args.print:
        print(_set_credentials_command(name, exec_entry, args.kubeconfig))
        return EXIT_OK
    path = _kubeconfig_for(name, args.kubeconfig)
    kubeconfig = Kubeconfig.read(path)
    changed = kubeconfig.set_user(name, exec_entry)
    if changed is None:
        message(f"User {name} in {shown_path(path)} already logs in with loctocat: no change.")
        return EXIT_OK
    kubeconfig.write()
    message(
        f"{changed} user {name} in {shown_path(path)}: kubectl gets its tokens from loctocat "
        f"({selection.server}). Use it: kubectl config set-context --current --user={name}"
    )
    return EXIT_OK


def _exec_entry(args: argparse.Namespace) -> dict[str, Any]:
    """The `exec` section: this Python running loctocat, with the options naming the login."""
    from loctocat.cli._git import selection_words

    plugin_args = ["-m", *_OWN_ARGS, *selection_words(args)]
    if args.access_token:
        plugin_args.append("--access-token")
    return {
        "apiVersion": API_VERSIONS[0],
        "command": sys.executable,
        "args": plugin_args,
        "interactiveMode": INTERACTIVE_MODE,
    }


def _set_credentials_command(name: str, exec_entry: dict[str, Any], kubeconfig: str | None) -> str:
    words = ["kubectl", "config", "set-credentials", name]
    if kubeconfig:
        words.append(f"--kubeconfig={os.path.abspath(os.path.expanduser(kubeconfig))}")
    words += [
        f"--exec-api-version={exec_entry['apiVersion']}",
        f"--exec-command={exec_entry['command']}",
        *(f"--exec-arg={arg}" for arg in exec_entry["args"]),
        f"--exec-interactive-mode={exec_entry['interactiveMode']}",
    ]
    return shlex.join(words)


def _unset(name: str, option: str | None) -> int:
    path = _kubeconfig_for(name, option)
    if not path.exists():
        message(f"{shown_path(path)} does not exist: nothing to remove.")
        return EXIT_OK
    kubeconfig = Kubeconfig.read(path)
    if not kubeconfig.remove_user(name):
        message(f"User {name} in {shown_path(path)} does not log in with loctocat: no change.")
        return EXIT_OK
    kubeconfig.write()
    message(f"Removed user {name} from {shown_path(path)}.")
    return EXIT_OK


def _kubeconfig_for(name: str, option: str | None) -> Path:
    """The file to change, by kubectl's rules: `--kubeconfig`; else of `$KUBECONFIG`'s files
    the one that defines the user, else the first that exists, else the last; else
    ~/.kube/config."""
    if option:
        return Path(option).expanduser()
    listed = [Path(p).expanduser() for p in os.environ.get("KUBECONFIG", "").split(os.pathsep)]
    paths = [path for path in listed if str(path) not in ("", ".")]
    if not paths:
        return Path("~/.kube/config").expanduser()
    existing = [path for path in paths if path.exists()]
    for path in existing:
        if Kubeconfig.read(path).user(name) is not None:
            return path
    return existing[0] if existing else paths[-1]


class Kubeconfig:
    """A kubeconfig file, changed in place: every other line stays as it was (ruamel.yaml's
    round trip keeps comments, order, quoting and flow style; the indentation is the file's)."""

    def __init__(self, path: Path, text: str, document: Any, yaml: Any) -> None:
        self.path = path
        self.text = text
        self.document = document
        self._yaml = yaml

    @classmethod
    def read(cls, path: Path) -> Kubeconfig:
        try:
            from ruamel.yaml import YAML
            from ruamel.yaml.error import YAMLError
        except ImportError:
            raise UsageError(
                "setup-kubectl edits the kubeconfig with ruamel.yaml, which keeps its comments "
                "and layout: pip install 'loctocat[kubectl]', or pass --print for the kubectl "
                "command that does it"
            ) from None
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read the kubeconfig {path}: {exc}") from None
        try:
            loader = YAML()
            loader.preserve_quotes = True  # 'a' and "a" stay as they were written
            document = loader.load(text) if text.strip() else None
        except YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            line = f" (line {where.line + 1})" if where is not None else ""
            problem = f"the kubeconfig {path} is not valid YAML{line}: fix it first"
            raise UsageError(problem) from None
        if document is None:
            from ruamel.yaml.comments import CommentedMap

            # What `kubectl config` writes to a new file, in its order.
            document = CommentedMap(
                [
                    ("apiVersion", "v1"),
                    ("clusters", []),
                    ("contexts", []),
                    ("current-context", ""),
                    ("kind", "Config"),
                    ("preferences", CommentedMap()),
                    ("users", []),
                ]
            )
        if not isinstance(document, dict) or not isinstance(document.get("users") or [], list):
            raise UsageError(f"{path} is not a kubeconfig (no list of users): fix it first")
        return cls(path, text, document, _yaml_like(text, document, YAML))

    def user(self, name: str) -> dict[str, Any] | None:
        """The entry of the user `name`, if the file has one."""
        for entry in self.document.get("users") or []:
            if isinstance(entry, dict) and entry.get("name") == name:
                return entry
        return None

    def set_user(self, name: str, exec_entry: dict[str, Any]) -> str | None:
        """Give user `name` the exec entry: "Added", "Updated", or None when it had it already.

        A user with credentials of another kind is refused: they would be lost.
        """
        from ruamel.yaml.comments import CommentedMap, CommentedSeq

        entry = self.user(name)
        wanted = CommentedMap(exec_entry)
        wanted["args"] = CommentedSeq(exec_entry["args"])
        if entry is None:
            users = self.document.get("users")
            if not users:  # absent, null or [] (flow style): a block list reads best
                users = self.document["users"] = CommentedSeq()
            users.append(CommentedMap([("name", name), ("user", CommentedMap(exec=wanted))]))
            return "Added"
        if not _is_own(entry):
            raise UsageError(
                f"user {name} in {self.path} has credentials of its own, which this would "
                f"replace: choose another --user, or remove it first (kubectl config "
                f"delete-user {name})"
            )
        current = entry["user"]["exec"]
        if {key: current.get(key) for key in exec_entry} == exec_entry:
            return None
        for key, value in wanted.items():
            current[key] = value
        return "Updated"

    def remove_user(self, name: str) -> bool:
        """Remove user `name` if loctocat set it up; whether it did."""
        entry = self.user(name)
        if entry is None or not _is_own(entry):
            return False
        self.document["users"].remove(entry)
        return True

    def write(self) -> None:
        """Replace the file at once (a temporary file renamed over it), keeping its mode."""
        stream = io.StringIO()
        self._yaml.dump(self.document, stream)
        target = self.path.resolve() if self.path.is_symlink() else self.path
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            mode = target.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o600  # a kubeconfig can hold credentials: readable by its owner only
        temporary = target.with_name(f".{target.name}.loctocat-{os.getpid()}")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(stream.getvalue())
            os.replace(temporary, target)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            problem = f"cannot write the kubeconfig {target}: {exc.strerror or exc}"
            raise CommandFailed(problem, EXIT_ERROR) from None


def _is_own(entry: dict[str, Any]) -> bool:
    """Whether a kubeconfig user is one loctocat set up (its exec runs kubectl-credential)."""
    user = entry.get("user")
    if not isinstance(user, dict) or set(user) != {"exec"}:
        return False
    exec_entry = user["exec"]
    if not isinstance(exec_entry, dict):
        return False
    words = [str(exec_entry.get("command", "")), *map(str, exec_entry.get("args") or [])]
    return _OWN_ARGS[1] in words and any("loctocat" in word for word in words)


def _yaml_like(text: str, document: Any, yaml_class: Any) -> Any:
    """A ruamel.yaml dumper that writes `document` as `text` is written, when one can.

    ruamel.yaml keeps comments and order but indents every list alike: the layout that gives
    back the file's own text is the one kubectl (lists flush with their key) or a person
    (lists indented) wrote it in.
    """
    layouts = ((2, 2, 0), (2, 4, 2), (4, 4, 0), (4, 6, 2), (4, 4, 2))
    best = None
    for mapping, sequence, offset in layouts:
        yaml = yaml_class()
        yaml.width = 4096  # never fold a long line (certificate data, URLs)
        yaml.preserve_quotes = True
        yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
        if text.lstrip().startswith("---"):
            yaml.explicit_start = True
        best = best or yaml
        stream = io.StringIO()
        yaml.dump(document, stream)
        if stream.getvalue() == text:
            return yaml
    return best
