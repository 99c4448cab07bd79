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
import contextlib
import errno
import io
import json
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
from loctocat.cli._kubeproto import (
    API_VERSIONS,
    EXEC_INFO,
    ExecInfoError,
    exec_credential,
    read_exec_info,
)
from loctocat.cli._output import message, shown_path
from loctocat.cli._select import Selection, index_for_fast_path, select
from loctocat.errors import LoginRequired

if TYPE_CHECKING:
    from collections.abc import Iterator

    from loctocat._models import Token
    from loctocat.auth import Authenticator
    from loctocat.cli._run import QuietFailures, Run

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
        api_version, interactive = read_exec_info(os.environ.get(EXEC_INFO))
    except ExecInfoError as exc:
        raise CommandFailed(str(exc), EXIT_ERROR) from None
    selection = select(args)
    authenticator = selection.authenticator
    wants_id_token = _wants_id_token(args, selection)
    # kubectl says whether the plugin may use the terminal; run by hand, it is there or not.
    shown_to = terminal() if interactive is not False else None
    login = shown_to is not None
    expires_at: float | None
    try:
        with authenticator:
            prompt = QuietFailures(console_file=shown_to, open_browser=_stdin_is_terminal())
            authenticator.get_token(prompt=prompt, login=login)
            if wants_id_token:
                value, expires_at = _id_token(selection, authenticator, prompt, login)
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


def _id_token(
    selection: Selection, authenticator: Authenticator, prompt: QuietFailures, login: bool
) -> tuple[str, float]:
    """The verified ID token and when it expires, renewed first if it has."""
    from loctocat.cli._select import id_token_holder

    token = id_token_holder(selection, authenticator, prompt=prompt, login=login)
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
        if args.print:
            print(shlex.join(["kubectl", "config", "delete-user", name, *_file_flag(args)]))
            return EXIT_OK
        return _unset(name, args.kubeconfig)
    selection = select(args)  # refuses a login that cannot work, before any file is touched
    exec_entry = _exec_entry(args)
    if args.print:
        print(_set_credentials_command(name, exec_entry, args))
        return EXIT_OK
    path = _kubeconfig_for(name, args.kubeconfig)
    with _locked(path):
        kubeconfig = Kubeconfig.read(path)
        changed = kubeconfig.set_user(name, exec_entry)
        if changed is not None:
            kubeconfig.write()
    if changed is None:
        message(f"User {name} in {shown_path(path)} already logs in with loctocat: no change.")
        return EXIT_OK
    context = kubeconfig.document.get("current-context") or ""
    use = (
        f"kubectl config set-context --current --user={shlex.quote(name)}"
        if context
        else f"kubectl config set-context CONTEXT --cluster=CLUSTER --user={shlex.quote(name)}"
    )
    message(
        f"{changed} user {name} in {shown_path(path)}: kubectl gets its tokens from loctocat "
        f"({selection.server}). Use it: {use}"
    )
    return EXIT_OK


def _exec_entry(args: argparse.Namespace) -> dict[str, Any]:
    """The `exec` section: this Python running loctocat, with the options naming the login."""
    from loctocat.cli._select import selection_words

    plugin_args = ["-m", *_OWN_ARGS, *selection_words(args)]
    if args.access_token:
        plugin_args.append("--access-token")
    return {
        "apiVersion": API_VERSIONS[0],
        "command": sys.executable,
        "args": plugin_args,
        "interactiveMode": INTERACTIVE_MODE,
    }


def _file_flag(args: argparse.Namespace) -> list[str]:
    if not args.kubeconfig:
        return []
    return [f"--kubeconfig={os.path.abspath(os.path.expanduser(args.kubeconfig))}"]


def _set_credentials_command(
    name: str, exec_entry: dict[str, Any], args: argparse.Namespace
) -> str:
    words = [
        "kubectl",
        "config",
        "set-credentials",
        name,
        *_file_flag(args),
        f"--exec-api-version={exec_entry['apiVersion']}",
        f"--exec-command={exec_entry['command']}",
        *(f"--exec-arg={_csv_field(arg)}" for arg in exec_entry["args"]),
        f"--exec-interactive-mode={exec_entry['interactiveMode']}",
    ]
    return shlex.join(words)


def _csv_field(value: str) -> str:
    # kubectl reads each --exec-arg as comma-separated values: a comma or a quote would split
    # or break the argument unless the field is quoted, CSV-style.
    if any(char in value for char in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _unset(name: str, option: str | None) -> int:
    path = _kubeconfig_for(name, option)
    if not path.exists():
        message(f"{shown_path(path)} does not exist: nothing to remove.")
        return EXIT_OK
    with _locked(path):
        kubeconfig = Kubeconfig.read(path)
        removed = kubeconfig.remove_user(name)
        if removed:
            kubeconfig.write()
    if not removed:
        message(f"User {name} in {shown_path(path)} does not log in with loctocat: no change.")
    else:
        message(f"Removed user {name} from {shown_path(path)}.")
    return EXIT_OK


def _kubeconfig_for(name: str, option: str | None) -> Path:
    """The file to change, by kubectl's rules: `--kubeconfig`; else of `$KUBECONFIG`'s files
    the one that defines the user, else the first that exists, else the last; else
    ~/.kube/config. (kubectl expands no `~` in $KUBECONFIG: neither does this.)"""
    if option:
        return Path(option).expanduser()
    listed = os.environ.get("KUBECONFIG", "").split(os.pathsep)
    paths = list(dict.fromkeys(Path(p) for p in listed if p))
    if not paths:
        return Path("~/.kube/config").expanduser()
    existing = [path for path in paths if path.exists()]
    for path in existing:
        if Kubeconfig.read(path).user(name) is not None:
            return path
    return existing[0] if existing else paths[-1]


#: How long to wait for a kubeconfig another program is changing (its lock file).
LOCK_WAIT = 10.0


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold kubectl's own lock on the file (`FILE.lock`, created exclusively), so that
    neither `kubectl config` nor another setup-kubectl changes it meanwhile."""
    import time

    lock = path.with_name(path.name + ".lock")
    lock.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            break
        except FileExistsError:
            if time.monotonic() >= deadline:
                raise CommandFailed(
                    f"{lock} exists: kubectl or loctocat is changing {path}, or one stopped "
                    f"while it did; if neither runs, delete {lock} and try again",
                    EXIT_ERROR,
                ) from None
            time.sleep(0.05)
        except OSError as exc:
            problem = f"cannot lock the kubeconfig {path} ({lock}): {exc.strerror or exc}"
            raise CommandFailed(problem, EXIT_ERROR) from None
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


class Kubeconfig:
    """A kubeconfig file, changed in place: every other line stays as it was (ruamel.yaml's
    round trip keeps comments, order, quoting and flow style; the indentation, line endings
    and byte order mark are the file's)."""

    def __init__(
        self, path: Path, text: str, document: Any, yaml: Any, crlf: bool = False, bom: bool = False
    ) -> None:
        self.path = path
        self.text = text
        self.document = document
        self._yaml = yaml
        # How ruamel.yaml writes the document as read (nothing, for a file that had none):
        # what changes is measured against it.
        self._rendered = _dumped(yaml, document) if _has_document(text) else ""
        self._crlf = crlf
        self._bom = bom

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
            raw = path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            raw = ""
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read the kubeconfig {path}: {exc}") from None
        # Written back as they came: with a byte order mark, with CRLF line ends.
        bom, crlf = raw.startswith("\ufeff"), "\r\n" in raw
        text = raw.removeprefix("\ufeff").replace("\r\n", "\n")
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
        return cls(path, text, document, _yaml_like(text, document, YAML), crlf, bom)

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
        wanted = CommentedMap((key, _yaml11_string(value)) for key, value in exec_entry.items())
        wanted["args"] = CommentedSeq(_yaml11_string(arg) for arg in exec_entry["args"])
        if entry is None:
            users = self.document.get("users")
            if not users:  # absent, null or [] (flow style): a block list reads best
                users = self.document["users"] = CommentedSeq()
            user = CommentedMap([("name", _yaml11_string(name)), ("user", CommentedMap())])
            user["user"]["exec"] = wanted
            users.append(user)
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
        users = self.document["users"]
        users.remove(entry)
        if not users:
            # An empty block list would leave `users:` with nothing under it but a comment
            # that once followed it: `[]` keeps the file a valid kubeconfig.
            users.fa.set_flow_style()
        return True

    def write(self) -> None:
        """Replace the file at once (a temporary file renamed over it), keeping its mode."""
        if self.text.lstrip().startswith("{"):
            # A kubeconfig in JSON (some tools write them) stays JSON, laid out as it was.
            indent = 2 if "\n" in self.text.strip() else None
            text = json.dumps(self.document, indent=indent) + "\n"
        elif self._rendered.strip() or not self.text.strip():
            text = _carried_over(self.text, self._rendered, _dumped(self._yaml, self.document))
        else:  # only comments or blank lines: they stay, and the kubeconfig follows them
            text = self.text.rstrip("\n") + "\n" + _dumped(self._yaml, self.document)
        if self._crlf:
            text = text.replace("\n", "\r\n")
        if self._bom:
            text = "\ufeff" + text
        target = self.path.resolve() if self.path.is_symlink() else self.path
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            mode = target.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o600  # a kubeconfig can hold credentials: readable by its owner only
        temporary = target.with_name(f".{target.name}.loctocat-{os.getpid()}")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as file:
                file.write(text)
                file.flush()
                os.fsync(file.fileno())
            try:
                os.replace(temporary, target)
            except OSError as exc:
                if exc.errno not in (errno.EBUSY, errno.EXDEV):
                    raise
                # A file mounted on its own (a container's -v ~/.kube/config:...) cannot be
                # replaced, only rewritten, as kubectl itself does.
                with open(target, "w", encoding="utf-8", newline="") as file:
                    file.write(text)
        except OSError as exc:
            problem = f"cannot write the kubeconfig {target}: {exc.strerror or exc}"
            raise CommandFailed(problem, EXIT_ERROR) from None
        finally:
            temporary.unlink(missing_ok=True)


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


def _yaml11_string(value: Any) -> Any:
    """`value`, quoted when YAML 1.1 would read it as something else than this string.

    kubectl reads kubeconfigs as YAML 1.1, where `no`, `on`, `y` or `010` are not strings;
    ruamel.yaml writes YAML 1.2 and leaves them bare, which would break the whole file.
    """
    import warnings

    from ruamel.yaml import YAML
    from ruamel.yaml.scalarstring import SingleQuotedScalarString

    if not isinstance(value, str):
        return value
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            read = YAML(typ="safe", pure=True).load(f"%YAML 1.1\n---\n{value}")
    except Exception:
        read = None
    return value if read == value and isinstance(read, str) else SingleQuotedScalarString(value)


def _has_document(text: str) -> bool:
    lines = (line.strip() for line in text.splitlines())
    return any(line and not line.startswith("#") for line in lines)


def _dumped(yaml: Any, document: Any) -> str:
    stream = io.StringIO()
    yaml.dump(document, stream)
    return stream.getvalue()


def _carried_over(original: str, rendered: str, changed: str) -> str:
    """`changed` (ruamel.yaml's text of the changed document) as the lines it changes in
    `original`: where ruamel.yaml writes a line of the file otherwise than the file has it (a
    trailing space, a comment's column), the file's line is kept.

    `rendered` is ruamel.yaml's text of the document before the change: the edits from it to
    `changed` are applied to `original` where its lines match. The result must mean what
    `changed` means, or `changed` is returned.
    """
    import difflib

    from ruamel.yaml import YAML

    if not original.strip():
        return changed
    ours, theirs, new = (
        original.splitlines(True),
        rendered.splitlines(True),
        changed.splitlines(True),
    )
    # Where each line boundary of `rendered` falls in `original`.
    position = [0] * (len(theirs) + 1)
    for tag, a1, a2, b1, b2 in difflib.SequenceMatcher(None, ours, theirs, False).get_opcodes():
        for b in range(b1, b2 + 1):
            position[b] = a1 + (b - b1) if tag == "equal" else (a1 if b == b1 else a2)
    result = list(ours)
    edits = difflib.SequenceMatcher(None, theirs, new, False).get_opcodes()
    for tag, b1, b2, c1, c2 in reversed(edits):
        if tag != "equal":
            result[position[b1] : position[b2]] = new[c1:c2]
    text = "".join(result)
    try:
        same = YAML(typ="safe", pure=True).load(text) == YAML(typ="safe", pure=True).load(changed)
    except Exception:
        same = False
    return text if same else changed


def _yaml_like(text: str, document: Any, yaml_class: Any) -> Any:
    """A ruamel.yaml dumper that writes `document` as `text` is written, when one can.

    ruamel.yaml keeps comments and order but indents every list alike: the layout that gives
    back the file's own text (or most of its lines) is the one kubectl (lists flush with their
    key) or a person (lists indented) wrote it in.
    """
    import difflib

    from ruamel.yaml.util import load_yaml_guess_indent

    layouts = [(2, 2, 0), (2, 4, 2), (4, 4, 0), (4, 6, 2), (4, 4, 2)]
    if text.strip():
        try:
            _, indent, offset = load_yaml_guess_indent(text)
        except Exception:
            indent = offset = None
        if indent is not None and offset is not None:
            layouts.insert(0, (max(indent - offset, 2) if offset else indent, indent, offset))
    best, best_score = None, -1.0
    for mapping, sequence, offset in layouts:
        yaml = yaml_class()
        yaml.width = sys.maxsize  # never fold a long line (certificate data, URLs)
        yaml.preserve_quotes = True
        yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
        if text.lstrip().startswith("---"):
            yaml.explicit_start = True
        rendered = _dumped(yaml, document)
        if rendered == text:
            best = yaml
            break
        score = difflib.SequenceMatcher(None, text.splitlines(), rendered.splitlines())
        if score.ratio() > best_score:
            best, best_score = yaml, score.ratio()
    return best
