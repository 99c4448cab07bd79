"""`loctocat git-credential` (git's credential helper) and `loctocat setup-git`.

git runs the helper with the options `setup-git` wrote, plus `get`, `store` or `erase`. stdout
carries the protocol only: the prompt goes to the terminal (stderr, or /dev/tty when stderr is
not one), and without a terminal the helper answers nothing and says on stderr which
`loctocat login ...` would fix it, so git falls back to its other helpers or fails with its
own message. It never waits for someone who is not there.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import IO, TYPE_CHECKING, Any

from loctocat.cli._exits import EXIT_ERROR, EXIT_OK, CommandFailed, UsageError
from loctocat.cli._gitproto import answer, read_request, target_matches
from loctocat.cli._output import message
from loctocat.cli._run import helper_token, terminal
from loctocat.cli._select import Selection, index_for_fast_path, select, selection_words
from loctocat.errors import LoginRequired

if TYPE_CHECKING:
    from loctocat.cli._run import Run

__all__ = ["git_credential", "setup_git"]

#: What marks a helper entry as loctocat's own in git's config.
_MARK = "-m loctocat git-credential"
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]", "::1")


@dataclasses.dataclass(frozen=True)
class GitTarget:
    """Where git uses this login: its host (``host[:port]``), schemes, and username."""

    host: str
    username: str
    protocols: tuple[str, ...]

    def as_data(self) -> dict[str, Any]:
        return {"host": self.host, "username": self.username, "protocols": list(self.protocols)}


def _selected(args: argparse.Namespace) -> tuple[Selection, GitTarget]:
    """The login and the git host the options name; `--host` names the git host."""
    selection = select(args, optional=("host",))
    provider = selection.provider
    host = args.param_host or (
        provider.git_host_for(selection.values) if provider is not None else None
    )
    if not host:
        what = f"{provider.title} hosts no git repositories" if provider else "which git host?"
        raise UsageError(f"{what}: give --host HOST[:PORT], the host of your git remotes")
    host = host.strip().lower()
    if "/" in host or "@" in host or not host:
        raise UsageError(f"--host {host}: give a host name, with a port if any (HOST[:PORT])")
    username = args.username or (provider.git_username if provider is not None else "oauth2")
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    loopback = name in _LOOPBACK
    # Plain http only on the loopback, as for every URL loctocat sends a token to.
    protocols = ("https", "http") if loopback else ("https",)
    return selection, GitTarget(host, username, protocols)


# --- git credential <action> ------------------------------------------------------------------


def git_credential(args: argparse.Namespace, run: Run) -> int:
    """Answer git: `get` a token for the host, `erase` a refused one, ignore `store` and any
    operation git may add later."""
    request = read_request(sys.stdin.buffer)
    if args.operation not in ("get", "erase"):
        return EXIT_OK  # `store`: what git stores is our own answer, there is nothing to keep
    selection, target = _selected(args)
    if not target_matches(request, target.as_data()):
        return EXIT_OK  # another host: other helpers' business
    if args.operation == "erase":
        _invalidate(selection, request.get("password"))
        return EXIT_OK
    return _get(args, run, selection, target, request)


def _get(
    args: argparse.Namespace,
    run: Run,
    selection: Selection,
    target: GitTarget,
    request: dict[str, str],
) -> int:
    try:
        token = helper_token(selection.authenticator, _terminal())
    except LoginRequired:
        why = (
            "GIT_TERMINAL_PROMPT=0 says not to log in here"
            if _prompts_disabled()
            else "no terminal to log in on"
        )
        # One line, unwrapped, as every error of the command line: git shows it as it is.
        print(
            f"loctocat: not logged in to {selection.server} for git on {target.host}, and "
            f"{why}: run {_login_command(run)}",
            file=sys.stderr,
        )
        return EXIT_OK
    expires_at = token.expires_at.timestamp() if token.expires_at is not None else None
    sys.stdout.write(answer(request, target.as_data(), token.access_token, expires_at))
    index_for_fast_path(run, selection, git=target.as_data())
    return EXIT_OK


def _prompts_disabled() -> bool:
    # git's own switch for "never prompt on the terminal"; helpers inherit it.
    return os.environ.get("GIT_TERMINAL_PROMPT", "").strip().lower() in ("0", "false", "no")


def _terminal() -> IO[str] | None:
    """Where a person can see the code (see `terminal`); None with GIT_TERMINAL_PROMPT=0."""
    return None if _prompts_disabled() else terminal()


def _invalidate(selection: Selection, password: str | None) -> None:
    """git says the server refused `password`: if it is our stored access token, expire it.

    The refresh token is kept, so the next `get` refreshes, or logs in when that is refused.
    """
    if not password:
        return
    store, key = selection.store, selection.authenticator.store_key()
    with store.lock(key):
        token = store.load(key)
        if token is None or token.access_token != password:
            return
        expired = datetime.now(UTC) - timedelta(seconds=1)
        store.save(key, dataclasses.replace(token, expires_at=expired))


def _login_command(run: Run) -> str:
    """The `loctocat login ...` for the login this helper uses."""
    from loctocat.cli._run import login_command

    words = [word for word in list(run.argv)[1:] if word not in ("get", "store", "erase")]
    # GitHub's --host is both its server and its git host: `login` needs it too.
    git_only = ("--username",) if words[:1] == ["github"] else ("--username", "--host")
    return login_command(words, options=git_only)


# --- setup-git -------------------------------------------------------------------------------


def setup_git(args: argparse.Namespace, run: Run) -> int:
    """Make git use `loctocat git-credential` for the host (or stop, with `--unset`)."""
    git = shutil.which("git")
    if git is None:
        raise CommandFailed("git is not installed (or not on PATH): install git first", EXIT_ERROR)
    if args.client_secret is not None or args.client_secret_stdin:
        raise UsageError(
            "a client secret cannot go in git's config, where it would be readable: give "
            "--secret-env VAR, and set VAR where git runs"
        )
    selection, target = _selected(args)
    keys = [f"credential.{scheme}://{target.host}.helper" for scheme in target.protocols]
    if args.unset:
        return _unset(git, keys, target)
    command = _helper_command(args, target)
    for key in keys:
        # An empty value first ends the list of helpers git inherited for this URL (a keychain
        # holding an old token), as gh does; run twice, it still leaves exactly these two.
        _git_config(git, "--replace-all", key, "")
        _git_config(git, "--add", key, command)
    urls = " and ".join(f"{scheme}://{target.host}" for scheme in target.protocols)
    message(
        f"Configured git to get tokens for {urls} from loctocat ({selection.server}, username "
        f"{target.username}). Undo with the same command and --unset."
    )
    return EXIT_OK


def _unset(git: str, keys: list[str], target: GitTarget) -> int:
    removed = []
    for key in keys:
        values = _git_config(git, "--get-all", key, check=False)
        if any(_MARK in value for value in values.splitlines()):
            _git_config(git, "--unset-all", key)
            removed.append(key)
    if removed:
        message(f"Removed loctocat from git's config for {target.host} ({', '.join(removed)}).")
    else:
        message(f"loctocat was not set up for git on {target.host}: nothing to remove.")
    return EXIT_OK


def _helper_command(args: argparse.Namespace, target: GitTarget) -> str:
    """The helper entry: this Python running loctocat, with the options that name the login."""
    # --host is written once, as the git host (for GitHub also its server).
    words = [
        *selection_words(args, without=("host",)),
        "--host",
        target.host,
        "--username",
        target.username,
    ]
    return f"!{shlex.quote(sys.executable)} -m loctocat git-credential {shlex.join(words)}"


def _git_config(git: str, *words: str, check: bool = True) -> str:
    done = subprocess.run(
        [git, "config", "--global", *words], capture_output=True, text=True, check=False
    )
    # --get-all answers 1 when the key has no value; that is an answer, not a failure.
    if check and done.returncode != 0:
        reason = done.stderr.strip() or f"exit code {done.returncode}"
        raise CommandFailed(f"git config --global {words[0]} failed: {reason}", EXIT_ERROR)
    return done.stdout
