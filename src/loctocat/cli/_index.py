"""Package indexes: `loctocat setup-index`, and the keyring backend's answer for an index.

An index of the config file is the options of `loctocat login` written as keys, plus the
username pip and uv send with the token:

```toml
[indexes."https://pypi.example.com/simple/"]
issuer = "https://sso.example.com"
client_id = "pip"
scopes = ["read:packages"]
username = "__token__"
```

`login_args()` turns such a table back into the command line it stands for, so that `select()`
builds its login exactly as for `loctocat login` with those options: the same rules, the same
stored token. `setup-index` writes the table into the config file by editing its text (there is
no TOML writer in the standard library), keeping every other byte, and checks the result by
parsing it again.
"""

from __future__ import annotations

import argparse
import copy
import os
import shlex
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loctocat.cli._exits import EXIT_ERROR, EXIT_OK, CommandFailed, UsageError
from loctocat.cli._indexes import DEFAULT_USERNAME, normalize_index_url
from loctocat.cli._output import message, shown_path

if TYPE_CHECKING:
    from loctocat.cli._config import Config
    from loctocat.cli._run import Run
    from loctocat.cli._select import Selection

__all__ = ["index_credential", "login_args", "setup_index"]

#: The keys of an index table for the options of `loctocat login` that are kept as they are.
_PLAIN = ("issuer", "auth_url", "token_url", "revocation_url", "client_id", "secret_env")


# --- an index's login -------------------------------------------------------------------------


def login_args(entry: dict[str, Any]) -> argparse.Namespace:
    """The options of `loctocat login` that an index table stands for."""
    from loctocat.cli._args import parse

    args = parse(["login"])  # every option at its default, as the parser has it
    args.name = entry.get("provider") or entry.get("server")
    for key, value in entry.items():
        if key in (*_PLAIN, "store", "account"):
            setattr(args, key, value)
        elif key == "scopes":
            args.scopes = list(value)
        elif key not in ("provider", "server", "username"):
            setattr(args, f"param_{key}", value)  # a provider's option (checked with the file)
    return args


def _entry(args: argparse.Namespace, config: Config, username: str) -> dict[str, Any]:
    """The index table for the options given to `setup-index` (the inverse of `login_args`)."""
    from loctocat.cli._args import provider_options
    from loctocat.cli._select import absolute_store, split_scopes

    entry: dict[str, Any] = {}
    if args.name is not None:
        # select() accepted it: a server of the file, or a predefined provider.
        key = "server" if args.name in config.servers else "provider"
        entry[key] = args.name if key == "server" else args.name.lower()
    for key in _PLAIN:
        if getattr(args, key):
            entry[key] = getattr(args, key)
    for name in sorted(provider_options()):
        value = getattr(args, f"param_{name}", None)
        if value is not None:
            entry[name] = value
    if args.scopes:
        entry["scopes"] = split_scopes(args.scopes)
    if args.account:
        entry["account"] = args.account
    if args.store:
        entry["store"] = absolute_store(args.store)
    entry["username"] = username
    return entry


def _login_command(entry: dict[str, Any]) -> str:
    """The `loctocat login ...` that logs in for an index, quoted as one shell command."""
    from loctocat.cli._select import selection_words

    return "'" + shlex.join(["loctocat", "login", *selection_words(login_args(entry))]) + "'"


# --- the keyring backend's full path ----------------------------------------------------------


def index_credential(url: str) -> tuple[str, str] | None:
    """The username and a valid access token for the configured index `url`, or None.

    Stored, else refreshed, else from a device-flow login shown on the terminal (stderr, else
    /dev/tty). Without a terminal, or when anything fails, None and one line on stderr saying
    what to do: pip, uv and twine then go on without loctocat. Nothing is written on stdout.
    """
    from loctocat.cli._config import load_config
    from loctocat.cli._run import helper_token, terminal
    from loctocat.cli._select import select
    from loctocat.errors import LoginRequired

    config = load_config()
    entry = config.indexes.get(url)
    if entry is None:
        return None
    try:
        selection = select(login_args(entry), config)
    except UsageError as error:
        raise UsageError(f'[indexes."{url}"] of {config.path}: {error}') from None
    try:
        token = helper_token(selection.authenticator, terminal())
    except LoginRequired:
        # One line, unwrapped: pip and uv show it as it is, among their own.
        print(
            f"loctocat: not logged in to {selection.server} for the package index {url}, and "
            f"no terminal to log in on: run {_login_command(entry)}",
            file=sys.stderr,
        )
        return None
    _remember(url, selection)
    return str(entry.get("username", DEFAULT_USERNAME)), token.access_token


def _remember(url: str, selection: Selection) -> None:
    """Index the token for the stored-token path (file stores only)."""
    from loctocat.cli._fast import remember_index
    from loctocat.store import FileTokenStore

    if isinstance(selection.store, FileTokenStore) and selection.config is not None:
        key = selection.authenticator.store_key()
        remember_index(url, str(selection.store.path), key, str(selection.config.path))


# --- setup-index ------------------------------------------------------------------------------


def setup_index(args: argparse.Namespace, run: Run) -> int:
    """Write (or with `--unset` remove) the `[indexes."URL"]` table of the config file."""
    from loctocat.cli._config import Config, config_path, load_config
    from loctocat.cli._select import select

    try:
        url = normalize_index_url(args.url)
    except ValueError as exc:
        raise UsageError(f"{args.url}: {exc}") from None
    path = config_path()
    # A broken file is reported, and never edited; a missing one is made (even one that
    # $LOCTOCAT_CONFIG names, which other commands refuse to do without).
    config = load_config() if path.exists() else Config(path)
    old = _read_text(path)
    old_key = _key_in_file(old, url)
    if args.unset:
        if old_key is None:
            message(f"The package index {url} was not set up in {shown_path(path)}: no change.")
            return EXIT_OK
        _write(path, _edited(path, old, old_key, url, None))
        message(f"Removed the package index {url} from {shown_path(path)}.")
        return EXIT_OK

    if args.client_secret is not None or args.client_secret_stdin:
        raise UsageError(
            "a client secret cannot go in the config file, where it would be readable: give "
            "--secret-env VAR, and set VAR where pip, uv or twine runs"
        )
    if args.timeout is not None:
        raise UsageError("--timeout is not kept for an index: pip and uv wait for the login")
    username = args.username if args.username is not None else DEFAULT_USERNAME
    if not username or ":" in username:
        raise UsageError(f"--username {username!r}: give a username without ':'")
    selection = select(args, config)  # the login must work before it is written down
    entry = _entry(args, config, username)
    if old_key is not None and config.indexes.get(url) == entry:
        said = f"The package index {url} was already set up so in {shown_path(path)}: no change."
    else:
        _write(path, _edited(path, old, old_key, url, entry))
        done = "Changed" if old_key is not None else "Set up"
        said = (
            f"{done} the package index {url} in {shown_path(path)}: pip, uv and twine get its "
            f"token from loctocat ({selection.server}, username {username}) through keyring. "
            "Undo with the same command and --unset."
        )
    message(said)
    _say_how_to_use(url, username)
    return EXIT_OK


def _say_how_to_use(url: str, username: str) -> None:
    """The commands that use the index, each on a line of its own, never wrapped."""
    import importlib.util

    scheme, _, rest = url.partition("://")
    with_user = f"{scheme}://{username}@{rest}"
    lines = [
        "Use it with:",
        f"  pip install --keyring-provider import --index-url {url} PACKAGE",
        f"  uv pip install --keyring-provider subprocess --index-url {with_user} PACKAGE",
    ]
    if importlib.util.find_spec("keyring") is None:
        lines.append(
            "keyring is not installed beside loctocat: pip install 'loctocat[keyring]' first."
        )
    print("\n".join(lines), file=sys.stderr)


# --- editing the config file's text -------------------------------------------------------------


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        # load_config() has read it just now: only a race lands here.
        raise UsageError(f"cannot read the config file {path}: {exc}") from None


def _key_in_file(text: str, url: str) -> str | None:
    """The key (as written) of the file's table for the index `url`, if it has one."""
    import tomllib

    tables = tomllib.loads(text).get("indexes", {}) if text else {}
    for key in tables:
        if normalize_index_url(key) == url:  # load_config() checked every key
            return str(key)
    return None


def _edited(
    path: Path, text: str, old_key: str | None, url: str, entry: dict[str, Any] | None
) -> str:
    """`text` with the index table `old_key` replaced by `entry` (or removed, or `entry` added),
    checked by parsing: anything but that one change is refused, and the file left alone."""
    import tomllib

    lines = text.splitlines(keepends=True)
    table = _table_text(url, entry) if entry is not None else ""
    if old_key is not None:
        span = _table_span(lines, old_key)
        if span is None:
            raise CommandFailed(
                f'{path}: the index {old_key} is not written as an [indexes."URL"] table of '
                "its own here: edit the file by hand",
                EXIT_ERROR,
            )
        start, end = span
        lines[start:end] = [table] if table else []
        blank_before = 0 < start <= len(lines) and not lines[start - 1].strip()
        blank_after = start == len(lines) or not lines[start].strip()
        if not table and blank_before and blank_after:
            del lines[start - 1]  # the blank line that set the table apart
        edited = "".join(lines)
    else:
        edited = text
        if edited and not edited.endswith("\n"):
            edited += "\n"
        if edited.strip():
            edited += "\n"
        edited += table

    before = tomllib.loads(text) if text else {}
    expected = copy.deepcopy(before)
    indexes = expected.setdefault("indexes", {})
    if old_key is not None:
        del indexes[old_key]
    if entry is not None:
        indexes[url] = entry
    try:
        after = tomllib.loads(edited)
    except tomllib.TOMLDecodeError:
        after = None
    if after is None or _without_empty_indexes(after) != _without_empty_indexes(expected):
        what = f"add this table to it by hand:\n{table}" if table else "edit it by hand"
        raise CommandFailed(f"{path} could not be edited safely; {what}", EXIT_ERROR)
    return edited


def _without_empty_indexes(document: dict[str, Any]) -> dict[str, Any]:
    if document.get("indexes") == {}:
        return {k: v for k, v in document.items() if k != "indexes"}
    return document


def _table_span(lines: list[str], key: str) -> tuple[int, int] | None:
    """The lines of the `[indexes."key"]` table: its header to its last key line."""
    headers = [(i, _header(line)) for i, line in enumerate(lines)]
    headers = [(i, path) for i, path in headers if path is not None]
    for n, (start, header) in enumerate(headers):
        if header == ("indexes", key):
            end = headers[n + 1][0] if n + 1 < len(headers) else len(lines)
            # Blank lines and comments before the next header introduce it: they stay.
            while end - 1 > start and (
                not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")
            ):
                end -= 1
            return start, end
    return None


def _header(line: str) -> tuple[str, ...] | None:
    """The key path of a `[table]` header line, or None for any other line."""
    import tomllib

    if not line.lstrip().startswith("[") or line.lstrip().startswith("[["):
        return None
    try:
        document: Any = tomllib.loads(line)
    except tomllib.TOMLDecodeError:
        return None
    path: list[str] = []
    while isinstance(document, dict) and len(document) == 1:
        key = next(iter(document))
        path.append(key)
        document = document[key]
    return tuple(path) if path and document == {} else None


def _table_text(url: str, entry: dict[str, Any]) -> str:
    lines = [f"[indexes.{_string(url)}]"]
    for key, value in entry.items():
        if isinstance(value, list):
            lines.append(f"{key} = [{', '.join(_string(v) for v in value)}]")
        else:
            lines.append(f"{key} = {_string(value)}")
    return "\n".join(lines) + "\n"


def _string(value: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    escaped = "".join(
        f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else c
        for c in value.replace("\\", "\\\\").replace('"', '\\"')
    )
    return f'"{escaped}"'


def _write(path: Path, text: str) -> None:
    """Replace the file at once (never half written); a new file is readable only by you."""
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o600
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".config.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as file:
                file.write(text)
            os.chmod(temporary, mode)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError as exc:
        raise CommandFailed(
            f"cannot write the config file {path}: {exc.strerror or exc}", EXIT_ERROR
        ) from None
