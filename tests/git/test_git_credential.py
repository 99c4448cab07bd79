"""`loctocat setup-git` and `loctocat git-credential` with the real git, end to end.

git clones from, fetches from and pushes to a loopback git server whose passwords are the
access tokens of a fake authorization server (see conftest.py): the credential helper that
`setup-git` configures logs in with the device flow on a terminal (the test approves the code
it shows), reuses and refreshes the stored token without one, and, without a terminal and with
nothing to refresh, fails at once with the command to run.

The last part speaks git's credential protocol to `python -m loctocat git-credential` directly.
Each login waits loctocat's 1 s polling floor once.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from git_support import CLIENT_ID, GitRun, GitServer, run_git
from login_support import (
    approving,
    device_requests,
    expire_stored_tokens,
    hints,
    login_command,
    plain,
    refresh_requests,
)

from loctocat.testing import FakeAuthorizationServer

LOCTOCAT = [sys.executable, "-m", "loctocat"]
#: A quick failure: git and two Python processes start, and nothing waits.
FAST = 20.0


# --- shared steps ---------------------------------------------------------------------------------


def loctocat(
    env: dict[str, str], *args: str, stdin: str = "", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`python -m loctocat *args`, with no terminal (a new session, so /dev/tty cannot open)."""
    return subprocess.run(
        [*LOCTOCAT, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        start_new_session=True,
    )


def setup_git(
    env: dict[str, str], selection: list[str], host: str, *more: str
) -> subprocess.CompletedProcess[str]:
    return loctocat(env, "setup-git", *selection, "--host", host, *more)


def helpers(env: dict[str, str], url: str) -> list[str]:
    """Every `credential.<url>.helper` in git's global config, in order."""
    done = subprocess.run(
        ["git", "config", "--global", "--get-all", f"credential.{url}.helper"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode in (0, 1), done.stderr  # 1: the key is not set
    return done.stdout.splitlines()


def helper_command(helper: str) -> list[str]:
    """The command line of a `!command` helper, without a `--username` that names the default
    (writing it out or leaving it out are the same)."""
    assert helper.startswith("!"), helper
    words = shlex.split(helper[1:])
    if words[-2:] == ["--username", "oauth2"]:
        del words[-2:]
    return words


def git(env: dict[str, str], cwd: Path, *args: str) -> str:
    """A local git command (no network), which must succeed; its stdout."""
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def commit(env: dict[str, str], clone: Path, name: str) -> str:
    (clone / name).write_text(f"{name}\n")
    git(env, clone, "add", name)
    git(env, clone, "commit", "-q", "-m", f"Add {name}")
    return git(env, clone, "rev-parse", "HEAD")


def stored_access_token(token_store: Path) -> str:
    """The access token of the one token stored."""
    [entry] = json.loads(token_store.read_text())["tokens"].values()
    access_token: str = entry["response"]["access_token"]
    return access_token


def clone_on_a_terminal(
    env: dict[str, str], git_server: GitServer, fake_server: FakeAuthorizationServer, cwd: Path
) -> GitRun:
    return run_git(
        env,
        "clone",
        f"{git_server.url}/repo.git",
        "clone",
        cwd=cwd,
        terminal=True,
        approve=fake_server.approve,
    )


@pytest.fixture
def configured(
    git_env: dict[str, str], git_server: GitServer, selection: list[str]
) -> dict[str, str]:
    """`git_env` once `loctocat setup-git` has configured the git server's host."""
    done = setup_git(git_env, selection, git_server.host)
    assert done.returncode == 0, done.stderr
    return git_env


@pytest.fixture
def clone(
    configured: dict[str, str],
    git_server: GitServer,
    fake_server: FakeAuthorizationServer,
    tmp_path: Path,
) -> Path:
    """A clone of the git server's repository, made on a terminal with one device login."""
    cloned = clone_on_a_terminal(configured, git_server, fake_server, tmp_path)
    assert cloned.status == 0, cloned.output
    assert len(cloned.codes) == 1, cloned.output
    return tmp_path / "clone"


# --- a. setup-git, then clone (one login) and push (none) ----------------------------------------


def test_setup_git_then_clone_logs_in_once_and_push_reuses_the_token(
    git_env: dict[str, str],
    git_server: GitServer,
    fake_server: FakeAuthorizationServer,
    selection: list[str],
    token_store: Path,
    tmp_path: Path,
) -> None:
    host = git_server.host
    done = setup_git(git_env, selection, host)
    assert done.returncode == 0, done.stderr
    assert f"http://{host}" in done.stderr  # says what it configured
    expected = [*LOCTOCAT, "git-credential", *selection, "--host", host]
    for url in (f"https://{host}", f"http://{host}"):  # a loopback host: http too
        reset, ours = helpers(git_env, url)
        assert reset == ""  # the helpers configured before this one are dropped
        assert helper_command(ours) == expected
    config = Path(git_env["GIT_CONFIG_GLOBAL"]).read_bytes()

    again = setup_git(git_env, selection, host)
    assert again.returncode == 0, again.stderr
    assert Path(git_env["GIT_CONFIG_GLOBAL"]).read_bytes() == config
    assert device_requests(fake_server) == 0  # configuring does not log in

    cloned = clone_on_a_terminal(git_env, git_server, fake_server, tmp_path)
    assert cloned.status == 0, cloned.output
    assert len(cloned.codes) == 1, cloned.output  # one code shown, and approved
    assert device_requests(fake_server) == 1
    [grant] = fake_server.grants
    assert grant.client_id == CLIENT_ID
    assert grant.scope == "repo"
    [issued] = fake_server.issued_tokens
    assert stored_access_token(token_store) == issued.access_token
    clone = tmp_path / "clone"
    assert (clone / "README").read_text() == "seed\n"
    assert {r.user for r in git_server.authenticated_requests()} == {"oauth2"}

    head = commit(git_env, clone, "pushed")
    pushed = run_git(git_env, "push", "origin", "main", cwd=clone)  # no terminal
    assert pushed.status == 0, pushed.output
    assert hints(pushed.stderr) == []
    assert device_requests(fake_server) == 1  # no second login
    assert refresh_requests(fake_server) == 0
    assert git(git_env, git_server.root / "repo.git", "rev-parse", "main") == head
    assert any(
        r.method == "POST" and r.path.endswith("/git-receive-pack") and r.status == 200
        for r in git_server.authenticated_requests()
    )


def test_a_large_push_goes_in_chunks_with_the_same_token(
    configured: dict[str, str],
    clone: Path,
    git_server: GitServer,
    fake_server: FakeAuthorizationServer,
) -> None:
    # Past http.postBuffer, git probes the server, then sends the pack in chunks.
    (clone / "large.bin").write_bytes(os.urandom(256 * 1024))
    git(configured, clone, "add", "large.bin")
    git(configured, clone, "commit", "-q", "-m", "Add large.bin")
    head = git(configured, clone, "rev-parse", "HEAD")
    pushed = run_git(configured, "-c", "http.postBuffer=65536", "push", "origin", "main", cwd=clone)
    assert pushed.status == 0, pushed.output
    assert git(configured, git_server.root / "repo.git", "rev-parse", "main") == head
    assert any(r.chunked and r.status == 200 for r in git_server.authenticated_requests())
    assert device_requests(fake_server) == 1
    assert refresh_requests(fake_server) == 0


# --- b. an expired token is refreshed, with no terminal -----------------------------------------


def test_expired_token_is_refreshed_silently_without_a_terminal(
    configured: dict[str, str],
    clone: Path,
    git_server: GitServer,
    fake_server: FakeAuthorizationServer,
    token_store: Path,
) -> None:
    fake_server.expire_access_tokens()
    expire_stored_tokens(token_store)
    before = len(git_server.requests)

    fetched = run_git(configured, "fetch", cwd=clone)
    assert fetched.status == 0, fetched.output
    assert hints(fetched.stderr) == []
    assert device_requests(fake_server) == 1  # the clone's login only
    assert refresh_requests(fake_server) == 1
    refreshed = fake_server.issued_tokens[-1]
    assert refreshed.grant_type == "refresh_token"
    assert stored_access_token(token_store) == refreshed.access_token
    assert any(r.user is not None for r in git_server.requests[before:])

    again = run_git(configured, "fetch", cwd=clone)  # the refreshed token, as it is
    assert again.status == 0, again.output
    assert refresh_requests(fake_server) == 1


def test_token_the_server_rejects_is_erased_and_refreshed_on_the_next_run(
    configured: dict[str, str],
    clone: Path,
    fake_server: FakeAuthorizationServer,
) -> None:
    # Only the server knows: loctocat still thinks the token valid, git's request gets 401,
    # and git calls `erase` with the token it sent.
    fake_server.expire_access_tokens()
    failed = run_git(configured, "fetch", cwd=clone)
    assert failed.status != 0
    assert "Authentication failed" in failed.stderr
    assert refresh_requests(fake_server) == 0

    fetched = run_git(configured, "fetch", cwd=clone)
    assert fetched.status == 0, fetched.output
    assert refresh_requests(fake_server) == 1
    assert device_requests(fake_server) == 1


# --- c. a revoked grant: the next run fails, then a login on a terminal ---------------------------


def test_revoked_grant_fails_without_a_terminal_then_logs_in_again_on_one(
    configured: dict[str, str],
    clone: Path,
    fake_server: FakeAuthorizationServer,
    token_store: Path,
) -> None:
    [issued] = fake_server.issued_tokens
    assert issued.refresh_token is not None
    revoked = httpx.post(
        fake_server.revocation_url,
        data={"token": issued.refresh_token, "client_id": CLIENT_ID},
        trust_env=False,
    )
    assert revoked.status_code == 200
    assert issued.access_token in fake_server.revoked_tokens  # the whole grant goes

    failed = run_git(configured, "fetch", cwd=clone, timeout=60)
    assert failed.status != 0
    assert "Authentication failed" in failed.stderr
    assert device_requests(fake_server) == 1  # no login without a terminal

    # `erase` marked the token expired: the refresh is refused, so a login follows.
    fetched = run_git(configured, "fetch", cwd=clone, terminal=True, approve=fake_server.approve)
    assert fetched.status == 0, fetched.output
    assert len(fetched.codes) == 1, fetched.output
    assert refresh_requests(fake_server) == 1
    assert device_requests(fake_server) == 2
    assert [g.status for g in fake_server.grants] == ["redeemed", "redeemed"]
    assert stored_access_token(token_store) == fake_server.issued_tokens[-1].access_token

    quiet = run_git(configured, "fetch", cwd=clone)  # and no terminal is needed again
    assert quiet.status == 0, quiet.output
    assert device_requests(fake_server) == 2


# --- d. no terminal, no token: a quick failure that says what to run ----------------------------


def test_without_a_terminal_or_a_token_git_fails_at_once_with_the_login_command(
    configured: dict[str, str],
    git_server: GitServer,
    fake_server: FakeAuthorizationServer,
    tmp_path: Path,
) -> None:
    cloned = run_git(configured, "clone", f"{git_server.url}/repo.git", "clone", cwd=tmp_path)
    assert cloned.status != 0
    assert cloned.seconds < FAST
    assert "fatal: " in cloned.stderr
    [hint] = hints(cloned.stderr)
    assert "Traceback" not in cloned.stderr
    assert device_requests(fake_server) == 0
    assert git_server.authenticated_requests() == []
    assert not (tmp_path / "clone").exists()

    # The command it names is the one to run: after it, git needs no terminal.
    with approving(fake_server):
        logged_in = loctocat(configured, *login_command(hint))
    assert logged_in.returncode == 0, logged_in.stderr
    assert device_requests(fake_server) == 1
    cloned = run_git(configured, "clone", f"{git_server.url}/repo.git", "clone", cwd=tmp_path)
    assert cloned.status == 0, cloned.output
    assert device_requests(fake_server) == 1


def test_on_a_terminal_git_terminal_prompt_0_still_means_no_login(
    configured: dict[str, str],
    git_server: GitServer,
    fake_server: FakeAuthorizationServer,
    tmp_path: Path,
) -> None:
    cloned = run_git(
        {**configured, "GIT_TERMINAL_PROMPT": "0"},
        "clone",
        f"{git_server.url}/repo.git",
        "clone",
        cwd=tmp_path,
        terminal=True,
        approve=fake_server.approve,
    )
    assert cloned.status != 0
    assert cloned.seconds < FAST
    assert cloned.codes == []
    assert "fatal: " in cloned.output
    said = hints(plain(cloned.output))
    assert any(
        "GIT_TERMINAL_PROMPT=0 says not to log in here: run 'loctocat login" in line
        for line in said
    ), said
    assert device_requests(fake_server) == 0


def test_with_git_s_stderr_captured_the_code_still_shows_on_the_terminal(
    configured: dict[str, str],
    git_server: GitServer,
    fake_server: FakeAuthorizationServer,
    tmp_path: Path,
) -> None:
    # A program that runs git and keeps its messages (an editor, a GUI) takes git's stderr,
    # which the credential helper inherits: a code shown there alone would never be seen.
    captured = tmp_path / "git-stderr.txt"
    cloned = run_git(
        configured,
        "clone",
        f"{git_server.url}/repo.git",
        "clone",
        cwd=tmp_path,
        terminal=True,
        approve=fake_server.approve,
        stderr_to=captured,
        timeout=30,
    )
    assert cloned.status == 0, cloned.output + captured.read_text()
    assert len(cloned.codes) == 1, cloned.output  # seen on the terminal, and approved
    assert device_requests(fake_server) == 1
    assert (tmp_path / "clone" / "README").exists()


# --- e. --unset -----------------------------------------------------------------------------------


def test_setup_git_unset_removes_the_helpers(
    configured: dict[str, str], git_server: GitServer, selection: list[str]
) -> None:
    host = git_server.host
    assert len(helpers(configured, f"http://{host}")) == 2
    done = setup_git(configured, selection, host, "--unset")
    assert done.returncode == 0, done.stderr
    assert helpers(configured, f"http://{host}") == []
    assert helpers(configured, f"https://{host}") == []
    assert git(configured, Path.cwd(), "config", "--global", "user.name") == "Test User"


def test_setup_git_for_a_remote_host_configures_https_only(
    git_env: dict[str, str], selection: list[str]
) -> None:
    done = setup_git(git_env, selection, "git.example.test", "--username", "x-access-token")
    assert done.returncode == 0, done.stderr
    [reset, ours] = helpers(git_env, "https://git.example.test")
    assert reset == ""
    assert helper_command(ours) == [
        *LOCTOCAT,
        "git-credential",
        *selection,
        "--host",
        "git.example.test",
        "--username",
        "x-access-token",
    ]
    assert helpers(git_env, "http://git.example.test") == []


# --- f. git's credential protocol, spoken directly ------------------------------------------------

HOST = "git.example.test"
ASK = f"protocol=https\nhost={HOST}\n"


@pytest.fixture
def logged_in(
    loctocat_env: dict[str, str], fake_server: FakeAuthorizationServer, selection: list[str]
) -> str:
    """The access token `loctocat login` stored."""
    with approving(fake_server):
        done = loctocat(loctocat_env, "login", *selection)
    assert done.returncode == 0, done.stderr
    [issued] = fake_server.issued_tokens
    return issued.access_token


def credential(
    env: dict[str, str], selection: list[str], action: str, stdin: str, *more: str
) -> subprocess.CompletedProcess[str]:
    return loctocat(env, "git-credential", *selection, "--host", HOST, *more, action, stdin=stdin)


def answer(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """The attributes of a `get` answer (which ends at a blank line or at EOF)."""
    assert done.returncode == 0, done.stderr
    attributes: dict[str, str] = {}
    for line in done.stdout.split("\n"):
        if not line:
            break
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line!r}"
        assert key not in attributes
        attributes[key] = value
    return attributes


def test_get_answers_the_stored_token_with_its_expiry(
    loctocat_env: dict[str, str],
    fake_server: FakeAuthorizationServer,
    selection: list[str],
    logged_in: str,
) -> None:
    seen = len(fake_server.requests)
    done = credential(loctocat_env, selection, "get", ASK)
    attributes = answer(done)
    assert set(attributes) == {"username", "password", "password_expiry_utc"}
    assert attributes["username"] == "oauth2"
    assert attributes["password"] == logged_in
    expiry = int(attributes["password_expiry_utc"])
    assert time.time() < expiry <= time.time() + 3600
    assert done.stderr == ""
    assert fake_server.requests[seen:] == []  # a valid token: nothing asked of the server


@pytest.mark.parametrize(
    "stdin",
    [
        pytest.param(ASK + "\n", id="blank-line"),
        pytest.param(ASK.rstrip("\n"), id="eof-without-newline"),
        pytest.param(ASK + "\nhost=other.example.test\n", id="after-the-blank-line-ignored"),
        pytest.param(
            "capability[]=authtype\ncapability[]=state\n"
            + ASK
            + 'wwwauth[]=Basic realm="loctocat-test"\nsome_future_key=1\n',
            id="unknown-keys",
        ),
    ],
)
def test_get_reads_git_s_framing_and_ignores_what_it_does_not_know(
    loctocat_env: dict[str, str], selection: list[str], logged_in: str, stdin: str
) -> None:
    attributes = answer(credential(loctocat_env, selection, "get", stdin))
    assert attributes["password"] == logged_in


def test_get_honours_username(
    loctocat_env: dict[str, str], selection: list[str], logged_in: str
) -> None:
    done = credential(loctocat_env, selection, "get", ASK, "--username", "x-access-token")
    attributes = answer(done)
    assert attributes["username"] == "x-access-token"
    assert attributes["password"] == logged_in


@pytest.mark.parametrize(
    "stdin",
    [
        pytest.param("protocol=https\nhost=other.example.test\n", id="other-host"),
        pytest.param(f"protocol=https\nhost={HOST}:8443\n", id="other-port"),
        pytest.param("protocol=https\nhost=other.example.test\n\n" + ASK, id="after-blank-line"),
    ],
)
def test_get_for_another_host_answers_nothing(
    loctocat_env: dict[str, str],
    fake_server: FakeAuthorizationServer,
    selection: list[str],
    logged_in: str,
    stdin: str,
) -> None:
    seen = len(fake_server.requests)
    done = credential(loctocat_env, selection, "get", stdin)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert hints(done.stderr) == []
    assert fake_server.requests[seen:] == []


def test_store_does_nothing(
    loctocat_env: dict[str, str],
    fake_server: FakeAuthorizationServer,
    selection: list[str],
    token_store: Path,
    logged_in: str,
) -> None:
    before = token_store.read_bytes()
    seen = len(fake_server.requests)
    stdin = ASK + "username=oauth2\npassword=something-else\npassword_expiry_utc=1\n"
    done = credential(loctocat_env, selection, "store", stdin)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert token_store.read_bytes() == before
    assert fake_server.requests[seen:] == []


def test_erase_of_the_stored_token_makes_the_next_get_refresh(
    loctocat_env: dict[str, str],
    fake_server: FakeAuthorizationServer,
    selection: list[str],
    token_store: Path,
    logged_in: str,
) -> None:
    before = token_store.read_bytes()
    other = credential(loctocat_env, selection, "erase", ASK + "username=oauth2\npassword=nope\n")
    assert other.returncode == 0, other.stderr
    assert token_store.read_bytes() == before  # not the stored token: nothing to do
    assert answer(credential(loctocat_env, selection, "get", ASK))["password"] == logged_in

    erased = credential(
        loctocat_env, selection, "erase", ASK + f"username=oauth2\npassword={logged_in}\n"
    )
    assert erased.returncode == 0, erased.stderr
    assert erased.stdout == ""
    assert refresh_requests(fake_server) == 0  # erase itself asks nothing

    attributes = answer(credential(loctocat_env, selection, "get", ASK))
    refreshed = fake_server.issued_tokens[-1]
    assert refreshed.grant_type == "refresh_token"
    assert attributes["password"] == refreshed.access_token != logged_in
    assert refresh_requests(fake_server) == 1
    assert device_requests(fake_server) == 1  # the login's


def test_get_without_a_token_or_a_terminal_answers_nothing_and_names_the_login(
    loctocat_env: dict[str, str], fake_server: FakeAuthorizationServer, selection: list[str]
) -> None:
    started = time.monotonic()
    done = credential(loctocat_env, selection, "get", ASK)
    assert time.monotonic() - started < FAST
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    [hint] = hints(done.stderr)
    assert "loctocat login" in hint
    assert CLIENT_ID in hint
    assert "Traceback" not in done.stderr
    assert device_requests(fake_server) == 0
