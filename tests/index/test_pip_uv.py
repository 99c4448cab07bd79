"""pip and uv install from a package index that wants a token, through loctocat's keyring
backend, end to end.

`loctocat setup-index` sets up the index's /simple/; then the real pip (`--keyring-provider
import`, and `subprocess` with the `keyring` command) and the real uv (`--keyring-provider
subprocess`) install `tinypkg` from it into a throwaway directory. The index takes the fake
authorization server's current access tokens only (see conftest.py). /other/simple/ on the same
host is not set up: loctocat gives it nothing. Nothing leaves the loopback: pip and uv read no
config and know no index but the one given.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from index_support import (
    CLIENT_ID,
    CONFIGURED,
    PACKAGE,
    UNCONFIGURED,
    GatedIndex,
    ToolRun,
    loctocat,
    run_tool,
    uv_command,
)
from login_support import (
    approve_pending,
    approving,
    device_requests,
    expire_stored_tokens,
    hints,
    login_command,
    plain,
    refresh_requests,
)

from loctocat.testing import FakeAuthorizationServer

#: A quick failure: pip or uv and a keyring process start, and nothing waits.
FAST = 30.0
#: Each test runs pip or uv up to three times: room for a slow, busy machine.
pytestmark = pytest.mark.timeout(360)


def pip(
    env: dict[str, str],
    url: str,
    provider: str,
    target: Path,
    *,
    terminal: bool = False,
    server: FakeAuthorizationServer | None = None,
) -> ToolRun:
    """`pip install tinypkg` from `url` only, into `target`, with pip's keyring `provider`.

    Without a terminal with `--no-input`, as scripts run pip: otherwise pip itself, given no
    credentials, reads a username from stdin and fails on its end with a traceback.
    """
    command = [
        sys.executable, "-m", "pip", "install", "--no-cache-dir", "--no-deps",
        "--target", str(target), "--keyring-provider", provider, "--index-url", url, PACKAGE,
    ]  # fmt: skip
    if not terminal:
        command.insert(4, "--no-input")
    approve = (lambda: approve_pending(server)) if server is not None else None
    return run_tool(command, env, cwd=target.parent, terminal=terminal, approve=approve)


def uv(env: dict[str, str], url: str, target: Path) -> ToolRun:
    """`uv pip install tinypkg` from `url` only, into `target`, asking the keyring command."""
    command = [
        uv_command(), "pip", "install", "--no-cache", "--python", sys.executable,
        "--target", str(target), "--keyring-provider", "subprocess", "--index-url", url, PACKAGE,
    ]  # fmt: skip
    return run_tool(command, env, cwd=target.parent)


def with_username(url: str, username: str = "__token__") -> str:
    """`url` with the username in it, which uv needs to ask keyring at all."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{username}@{rest}"


def installed(target: Path) -> bool:
    return (target / PACKAGE / "__init__.py").read_text() == "VALUE = 42\n"


def accepted_users(index: GatedIndex, prefix: str = CONFIGURED) -> set[str | None]:
    return {r.user for r in index.seen(prefix) if r.status == 200}


# --- pip, --keyring-provider import --------------------------------------------------------------


def test_setup_index_then_pip_logs_in_on_the_terminal_once_then_needs_none(
    env: dict[str, str],
    index: GatedIndex,
    fake_server: FakeAuthorizationServer,
    selection: list[str],
    tmp_path: Path,
) -> None:
    done = loctocat(env, "setup-index", index.url(), *selection)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert f"--keyring-provider import --index-url {index.url()} PACKAGE" in done.stderr
    assert device_requests(fake_server) == 0  # setting up does not log in

    first = pip(env, index.url(), "import", tmp_path / "t1", terminal=True, server=fake_server)
    assert first.status == 0, first.output
    assert installed(tmp_path / "t1")
    [grant] = fake_server.grants
    assert grant.user_code in plain(first.output)  # the code was shown on the terminal
    assert grant.client_id == CLIENT_ID
    assert grant.scope == "read"
    assert accepted_users(index) == {"__token__"}

    second = pip(env, index.url(), "import", tmp_path / "t2")  # no terminal now
    assert second.status == 0, second.output
    assert installed(tmp_path / "t2")
    assert hints(second.stderr) == []
    assert device_requests(fake_server) == 1
    assert refresh_requests(fake_server) == 0


def test_an_expired_token_is_refreshed_silently(
    logged_in: str,
    index: GatedIndex,
    fake_server: FakeAuthorizationServer,
    token_store: Path,
    configured: dict[str, str],
    tmp_path: Path,
) -> None:
    fake_server.expire_access_tokens()
    expire_stored_tokens(token_store)

    done = pip(configured, index.url(), "import", tmp_path / "t")
    assert done.status == 0, done.output
    assert installed(tmp_path / "t")
    assert hints(done.stderr) == []
    assert refresh_requests(fake_server) == 1
    assert device_requests(fake_server) == 1  # the login's only
    refreshed = fake_server.issued_tokens[-1]
    assert refreshed.grant_type == "refresh_token"
    assert refreshed.access_token != logged_in


def test_without_a_terminal_or_a_token_pip_fails_at_once_saying_what_to_run(
    configured: dict[str, str],
    index: GatedIndex,
    fake_server: FakeAuthorizationServer,
    tmp_path: Path,
) -> None:
    failed = pip(configured, index.url(), "import", tmp_path / "t")
    assert failed.status != 0
    assert failed.seconds < FAST
    [hint] = hints(failed.stderr)
    assert f"for the package index {index.url()}, and no terminal to log in on" in hint
    assert "Traceback" not in failed.stderr
    assert device_requests(fake_server) == 0
    assert accepted_users(index) == set()

    # The command it names is the one to run: after it, pip needs no terminal.
    with approving(fake_server):
        done = loctocat(configured, *login_command(hint))
    assert done.returncode == 0, done.stderr
    again = pip(configured, index.url(), "import", tmp_path / "t")
    assert again.status == 0, again.output
    assert device_requests(fake_server) == 1


# --- pip, --keyring-provider subprocess ----------------------------------------------------------


def test_pip_with_the_keyring_command_logs_in_on_the_terminal_keyring_cannot_see(
    configured: dict[str, str],
    index: GatedIndex,
    fake_server: FakeAuthorizationServer,
    tmp_path: Path,
) -> None:
    # pip takes the keyring command's stderr: the code goes to /dev/tty, which is the person's.
    done = pip(
        configured, index.url(), "subprocess", tmp_path / "t", terminal=True, server=fake_server
    )
    assert done.status == 0, done.output
    assert installed(tmp_path / "t")
    [grant] = fake_server.grants
    assert grant.user_code in plain(done.output)
    assert grant.status == "redeemed"


# --- uv ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tool", ["pip", "uv"])
def test_the_keyring_command_gives_pip_and_uv_the_stored_token(
    tool: str,
    logged_in: str,
    configured: dict[str, str],
    index: GatedIndex,
    fake_server: FakeAuthorizationServer,
    tmp_path: Path,
) -> None:
    if tool == "pip":  # pip asks `keyring --mode=creds get URL`, with no username
        done = pip(configured, index.url(), "subprocess", tmp_path / "t")
    else:  # uv asks `keyring get URL USERNAME`, only with the username in the URL
        done = uv(configured, with_username(index.url()), tmp_path / "t")
    assert done.status == 0, done.output
    assert installed(tmp_path / "t")
    assert accepted_users(index) == {"__token__"}
    assert device_requests(fake_server) == 1
    assert refresh_requests(fake_server) == 0


def test_uv_without_a_token_or_a_terminal_fails_at_once(
    configured: dict[str, str],
    index: GatedIndex,
    fake_server: FakeAuthorizationServer,
    tmp_path: Path,
) -> None:
    failed = uv(configured, with_username(index.url()), tmp_path / "t")
    assert failed.status != 0
    assert failed.seconds < FAST
    # uv leaves the keyring command's stderr on its own: the hint shows among uv's lines.
    [hint] = hints(failed.stderr)
    assert "no terminal to log in on: run 'loctocat login" in hint
    assert "Traceback" not in failed.output
    assert device_requests(fake_server) == 0
    assert accepted_users(index) == set()


# --- an index that is not set up gets nothing ----------------------------------------------------


def test_an_index_that_is_not_set_up_gets_no_token(
    logged_in: str,
    configured: dict[str, str],
    index: GatedIndex,
    fake_server: FakeAuthorizationServer,
    tmp_path: Path,
) -> None:
    other = index.url(UNCONFIGURED)
    for provider in ("import", "subprocess"):
        done = pip(configured, other, provider, tmp_path / f"pip-{provider}")
        assert done.status != 0, done.output
        assert not (tmp_path / f"pip-{provider}" / PACKAGE).exists()
    done = uv(configured, with_username(other), tmp_path / "uv")
    assert done.status != 0, done.output

    asked = index.seen("/other/")
    assert asked, "pip and uv asked the index"
    assert [r for r in asked if r.password] == []  # no token, nor any password
    assert device_requests(fake_server) == 1
    assert refresh_requests(fake_server) == 0
