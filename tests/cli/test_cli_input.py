"""The CLI checks its input before any flow starts, never throws an issued token away, and logs
out only what the server revoked. Run as a user's shell would (see test_cli_commands)."""

from __future__ import annotations

import json
import os
import pty
import resource
import signal
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from test_cli_commands import (  # the CLI suite's own helpers and fixtures
    LOCTOCAT,
    approving,
    device_requests,
    discovered,
    env,
    manual,
    one_error_line,
    server,
    store,
    stored_tokens,
)

from loctocat.cli import EXIT_ERROR, EXIT_NETWORK, EXIT_OK, EXIT_USAGE
from loctocat.testing import FakeAuthorizationServer

__all__ = ["env", "server", "store"]  # fixtures, imported for pytest


def run_limited(
    env: dict[str, str], *args: str, file_size: int | None = None, terminal: bool = False
) -> subprocess.CompletedProcess[str]:
    """`loctocat ARGS`, with files it writes limited to `file_size` bytes (a full disk).

    With `terminal`, stderr is a pseudo-terminal, as when a person runs the command (then
    `token` may log in); its output comes back as `stderr`.
    """

    def limit() -> None:
        if file_size is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))

    if not terminal:
        return subprocess.run(
            [*LOCTOCAT, *args],
            capture_output=True,
            text=True,
            env=env,
            input="",
            timeout=30,
            preexec_fn=limit,
        )
    controller, tty = pty.openpty()
    child = subprocess.Popen(
        [*LOCTOCAT, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=tty,
        env={**env, "TERM": "dumb"},
        preexec_fn=limit,
    )
    os.close(tty)
    written = bytearray()
    reader = threading.Thread(target=lambda: _drain(controller, written), daemon=True)
    reader.start()
    out, _ = child.communicate(timeout=30)
    reader.join(5)
    os.close(controller)
    return subprocess.CompletedProcess(
        child.args, child.returncode, out.decode(), written.decode(errors="replace")
    )


def _drain(fd: int, into: bytearray) -> None:
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed its terminal
            return
        if not chunk:
            return
        into += chunk


# --- input checked before anything is sent (items 11-13) ----------------------------------------


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--issuer", "ftp://auth.example.com"], "issuer"),
        (["--issuer", "not a url"], "issuer"),
        (["--issuer", "http://auth.example.com"], "plain http"),
        (["--auth-url", "http://[::1", "--token-url", "http://127.0.0.1/t"], "not a valid URL"),
        (
            ["--auth-url", "http://127.0.0.1/d", "--token-url", "http://127.0.0.1:0x/t"],
            "--token-url",
        ),
    ],
)
def test_an_unusable_url_is_a_usage_error(
    env: dict[str, str], store: Path, args: list[str], named: str
) -> None:
    done = run_limited(env, "login", *args, "--client-id", "c", "--store", str(store))
    assert done.returncode == EXIT_USAGE, done.stderr
    line = one_error_line(done.stderr)
    assert named in line
    assert "unexpected error" not in line
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("more", "named"),
    [
        (["--client-id", "a|b"], "--client-id must not contain '|' (got 'a|b')"),
        (["--client-id", "c", "--scope", "read|write"], "--scope must not contain '|'"),
        (["--client-id", "c", "--account", "me|you"], "--account must not contain '|'"),
    ],
)
def test_a_login_that_cannot_be_stored_is_refused_before_the_flow(
    server: FakeAuthorizationServer,
    env: dict[str, str],
    store: Path,
    more: list[str],
    named: str,
) -> None:
    selection = manual(server, store)
    selection[selection.index("--client-id") : selection.index("--client-id") + 2] = []
    done = run_limited(env, "login", *selection, *more)
    assert done.returncode == EXIT_USAGE, done.stderr
    assert one_error_line(done.stderr).startswith(f"loctocat: {named}")
    assert server.requests == []  # no code asked for, nobody made to approve anything


def test_a_store_that_cannot_be_read_is_refused_before_the_flow(
    server: FakeAuthorizationServer, env: dict[str, str], tmp_path: Path
) -> None:
    where = tmp_path / "a-directory"
    where.mkdir()  # where the token file should be: no login could be kept there
    for started in ([], ["--start"]):  # --start: --finish would keep the token there
        done = run_limited(env, "login", *manual(server, where), *started)
        assert done.returncode == EXIT_ERROR, done.stderr
        assert "cannot read the token file" in one_error_line(done.stderr)
        assert server.requests == []  # nobody was asked to approve a code for nothing


# --- an issued token is never thrown away (item 13) ---------------------------------------------


def test_login_that_cannot_store_the_token_hands_it_over(
    server: FakeAuthorizationServer, env: dict[str, str], store: Path
) -> None:
    with approving(server):
        done = run_limited(env, "login", *manual(server, store), "--print-token", file_size=16)
    assert done.returncode == EXIT_OK, done.stderr
    assert done.stdout == server.issued_tokens[0].access_token + "\n"
    assert "could not be stored" in done.stderr


def test_login_that_cannot_store_the_token_keeps_it_in_a_private_file(
    server: FakeAuthorizationServer, env: dict[str, str], tmp_path: Path
) -> None:
    rescue_dir = tmp_path / "tmp"
    rescue_dir.mkdir()
    env = {**env, "TMPDIR": str(rescue_dir)}
    tokens = tmp_path / "tokens.json"
    # Read, but not written: the lock every save takes cannot be made (a full disk, a
    # read-only directory); the login goes ahead, and only then is the token refused.
    (tmp_path / "tokens.json.lock").mkdir()
    with approving(server):
        done = run_limited(env, "login", *manual(server, tokens))
    assert done.returncode == EXIT_ERROR, done.stderr
    assert done.stdout == ""
    [rescued] = list(rescue_dir.iterdir())
    line = one_error_line(done.stderr)
    assert "could not be stored" in line
    assert str(rescued) in line
    assert stat.S_IMODE(rescued.stat().st_mode) == 0o600
    assert json.loads(rescued.read_text())["access_token"] == server.issued_tokens[0].access_token


def test_token_that_cannot_store_a_new_token_still_prints_it(
    server: FakeAuthorizationServer, env: dict[str, str], store: Path
) -> None:
    with approving(server):
        done = run_limited(env, "token", *discovered(server, store), file_size=16, terminal=True)
    assert done.returncode == EXIT_OK, done.stderr
    assert done.stdout == server.issued_tokens[0].access_token + "\n"
    assert "warning: the token could not be stored" in done.stderr


# --- logout revokes first, then forgets (item 8) ------------------------------------------------


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/revoke"


def test_logout_keeps_a_token_it_could_not_revoke(
    server: FakeAuthorizationServer, env: dict[str, str], store: Path
) -> None:
    with approving(server):
        assert run_limited(env, "login", *manual(server, store)).returncode == EXIT_OK
    unreachable = [*manual(server, store), "--revocation-url", closed_port()]
    failed = run_limited(env, "logout", *unreachable)
    assert failed.returncode == EXIT_NETWORK, failed.stderr
    line = one_error_line(failed.stderr)
    assert "still stored" in line
    assert "--no-revoke" in line
    assert len(stored_tokens(store)) == 1

    forgotten = run_limited(env, "logout", *unreachable, "--no-revoke")
    assert forgotten.returncode == EXIT_OK, forgotten.stderr
    assert "stays valid at the server" in forgotten.stderr
    assert stored_tokens(store) == {}
    assert device_requests(server) == 1


def test_logout_without_a_revocation_endpoint_says_the_token_stays_valid(
    server: FakeAuthorizationServer, env: dict[str, str], store: Path
) -> None:
    with approving(server):
        assert run_limited(env, "login", *manual(server, store)).returncode == EXIT_OK
    done = run_limited(env, "logout", *manual(server, store))
    assert done.returncode == EXIT_OK, done.stderr
    assert "no revocation endpoint is known" in done.stderr
    assert stored_tokens(store) == {}


def test_the_size_limit_really_makes_writes_fail(tmp_path: Path) -> None:
    """The store-failure tests above depend on this: a write past the limit fails."""
    write = "import os, sys; fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT); "
    write += "[os.write(fd, b'x' * 10) for _ in range(3)]"
    done = subprocess.run(
        [sys.executable, "-c", write, str(tmp_path / "f")],
        preexec_fn=lambda: (
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN),
            resource.setrlimit(resource.RLIMIT_FSIZE, (16, 16)),
        ),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "File too large" in done.stderr


# --- what reaches stdout is a usable token, or nothing --------------------------------------------


def test_a_dpop_token_answering_no_proof_is_refused_saying_why(
    env: dict[str, str], store: Path
) -> None:
    server = FakeAuthorizationServer(extra_token_fields={"token_type": "DPoP"})
    with server.serve_http(), approving(server):
        login = run_limited(env, "login", *discovered(server, store))
    assert login.returncode == EXIT_ERROR, login.stderr
    assert "without a DPoP proof" in one_error_line(login.stderr)
    assert "--dpop" in one_error_line(login.stderr)
