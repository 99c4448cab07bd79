"""The stored-token path: `token` and `git-credential get` answered from the token file alone.

Each test runs the command line in a fresh process and looks at which modules it loaded
(`sys.modules`), never at how long it took: the benchmarks time it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loctocat import Token
from loctocat.cli._gitproto import answer, read_request
from loctocat.store import FileTokenStore, token_key

TOKEN_URL = "https://auth.example.com/token"
SELECTION = [
    "--auth-url", "https://auth.example.com/device", "--token-url", TOKEN_URL,
    "--client-id", "cli", "--scope", "repo",
]  # fmt: skip
GIT = ["--host", "git.example.com", "--username", "oauth2", "get"]
#: What the stored-token path must never load: the HTTP stack, the terminal UI, the core.
HEAVY = ("httpx", "httpcore", "rich", "anyio", "loctocat.auth", "loctocat._flow", "argparse")

RUNNER = textwrap.dedent(
    """
    import json, sys
    from loctocat.cli import main
    code = main(sys.argv[1:])
    sys.stdout.flush()
    print(json.dumps(sorted(sys.modules)), file=sys.stderr)
    raise SystemExit(code)
    """
)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    tmp_path.chmod(0o700)
    (tmp_path / "config.toml").write_text("")
    return tmp_path


def environment(home: Path) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("LOCTOCAT_", "XDG_"))}
    environ.update(
        HOME=str(home),
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_DATA_HOME=str(home / "data"),
        LOCTOCAT_CONFIG=str(home / "config.toml"),
        GIT_TERMINAL_PROMPT="0",
    )
    return environ


def store_token(
    home: Path,
    expires_in: float = 3600,
    access_token: str = "at-1",
    scopes: tuple[str, ...] = ("repo",),
    id_token_expires_in: float | None = None,
) -> Path:
    tokens = home / "tokens.json"
    key = token_key(TOKEN_URL, "cli", scopes, None)
    expires = datetime.now(UTC) + timedelta(seconds=expires_in)
    oidc = {}
    if id_token_expires_in is not None:
        exp = int(datetime.now(UTC).timestamp() + id_token_expires_in)
        oidc = {"id_token": "header.claims.signature", "claims": {"sub": "u1", "exp": exp}}
    token = Token(access_token, expires_at=expires, refresh_token="rt", **oidc)  # type: ignore[arg-type]
    FileTokenStore(tokens).save(key, token)
    return tokens


def run(
    home: Path, *argv: str, stdin: str = "", cwd: Path | None = None
) -> tuple[int, str, list[str], str]:
    """Run the command line; its exit code, stdout, the modules it loaded, and stderr."""
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, *argv],
        input=stdin,
        env=environment(home),
        cwd=cwd or home,
        capture_output=True,
        text=True,
        timeout=60,
    )
    *said, modules = done.stderr.splitlines()
    return done.returncode, done.stdout, json.loads(modules), "\n".join(said)


def loaded_heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY]


def test_a_second_token_run_loads_nothing_heavy(home: Path) -> None:
    tokens = store_token(home)
    first = run(home, "token", *SELECTION, "--store", str(tokens))
    assert first[:2] == (0, "at-1\n"), first[3]
    assert "loctocat.auth" in first[2]  # the full path, which fills the index

    code, out, modules, _ = run(home, "token", *SELECTION, "--store", str(tokens))

    assert (code, out) == (0, "at-1\n")
    assert loaded_heavy(modules) == []


def test_git_credential_get_from_the_stored_token_loads_nothing_heavy(home: Path) -> None:
    tokens = store_token(home)
    helper = ["git-credential", *SELECTION, "--store", str(tokens), *GIT]
    request = "protocol=https\nhost=git.example.com\nwwwauth[]=Basic realm=x\n\n"
    assert run(home, *helper, stdin=request)[0] == 0

    code, out, modules, _ = run(home, *helper, stdin=request)

    assert code == 0
    lines = out.splitlines()
    assert lines[:2] == ["username=oauth2", "password=at-1"]
    expiry = int(lines[2].removeprefix("password_expiry_utc="))
    assert expiry > datetime.now(UTC).timestamp()
    assert loaded_heavy(modules) == []
    # Another host asked through the same helper: no answer, still from the fast path.
    code, out, modules, _ = run(home, *helper, stdin="protocol=https\nhost=evil.example\n\n")
    assert (code, out) == (0, "")
    assert loaded_heavy(modules) == []


@pytest.mark.parametrize("api_version", ["v1", "v1beta1"])
def test_kubectl_credential_from_the_stored_token_loads_nothing_heavy(
    home: Path, monkeypatch: pytest.MonkeyPatch, api_version: str
) -> None:
    tokens = store_token(home)
    plugin = ["kubectl-credential", *SELECTION, "--store", str(tokens)]
    info = {"kind": "ExecCredential", "apiVersion": f"client.authentication.k8s.io/{api_version}"}
    monkeypatch.setenv("KUBERNETES_EXEC_INFO", json.dumps({**info, "spec": {"interactive": False}}))
    full = run(home, *plugin)
    assert full[0] == 0, full[3]
    assert "loctocat.auth" in full[2]

    code, out, modules, _ = run(home, *plugin)

    assert (code, out) == (0, full[1])
    assert loaded_heavy(modules) == []
    answer = json.loads(out)
    assert answer["apiVersion"] == info["apiVersion"]
    assert answer["status"]["token"] == "at-1"
    expiry = datetime.fromisoformat(answer["status"]["expirationTimestamp"])
    assert 3500 < (expiry - datetime.now(UTC)).total_seconds() <= 3600


@pytest.mark.parametrize("id_token_expires_in", [3600, 10])
def test_kubectl_gets_the_stored_id_token_from_the_fast_path_while_it_is_valid(
    home: Path, id_token_expires_in: float
) -> None:
    openid = ("repo", "openid")
    tokens = store_token(home, scopes=openid, id_token_expires_in=3600)
    plugin = ["kubectl-credential", *SELECTION, "--scope", "openid", "--store", str(tokens)]
    assert run(home, *plugin)[0] == 0
    # Still valid (the fast path answers), or inside the 30 s leeway (the full path refreshes).
    store_token(home, scopes=openid, id_token_expires_in=id_token_expires_in)

    code, out, modules, said = run(home, *plugin)

    if id_token_expires_in == 3600:
        assert code == 0, said
        assert json.loads(out)["status"]["token"] == "header.claims.signature"
        assert loaded_heavy(modules) == []
    else:
        assert "loctocat.auth" in modules


@pytest.mark.parametrize("change", ["expired", "config", "writable", "elsewhere", "json"])
def test_anything_unusual_goes_the_full_way(home: Path, change: str) -> None:
    tokens = store_token(home)
    argv = ["token", *SELECTION, "--store", str(tokens)]
    assert run(home, *argv)[0] == 0
    cwd = home
    if change == "expired":
        store_token(home, expires_in=10)  # inside the 30 s leeway: must be refreshed
    elif change == "config":
        (home / "config.toml").write_text("# edited\n")
    elif change == "writable":
        tokens.chmod(0o666)
    elif change == "elsewhere":
        argv[argv.index("--store") + 1] = "tokens.json"  # relative: another file elsewhere
        assert run(home, *argv)[0] == 0
        cwd = home / "elsewhere"
        cwd.mkdir()
    elif change == "json":
        argv.append("--json")

    _, _, modules, _ = run(home, *argv, cwd=cwd)

    assert "loctocat.auth" in modules


def test_a_helper_run_from_another_directory_takes_the_fast_path(home: Path) -> None:
    # git and kubectl run their helpers in whatever directory the user is in.
    tokens = store_token(home)
    argv = ["token", *SELECTION, "--store", str(tokens)]
    assert run(home, *argv)[0] == 0
    elsewhere = home / "elsewhere"
    elsewhere.mkdir()

    code, out, modules, _ = run(home, *argv, cwd=elsewhere)

    assert (code, out) == (0, "at-1\n")
    assert loaded_heavy(modules) == []


def test_the_index_holds_no_secret(home: Path) -> None:
    tokens = store_token(home, access_token="secret-access-token")
    run(home, "token", *SELECTION, "--store", str(tokens))
    index = home / "cache" / "loctocat" / "token-index.json"
    assert "secret-access-token" not in index.read_text()
    assert index.stat().st_mode & 0o077 == 0


def test_an_answer_never_carries_a_line_break_from_the_server() -> None:
    git = {"host": "git.example.com", "username": "oauth2", "protocols": ["https"]}
    request = {"protocol": "https", "host": "git.example.com"}
    assert answer(request, git, "token\nhost=evil.example", None) == ""
    assert answer(request, git, "token\x00", None) == ""
    assert answer(request, git, "fine", None) == "username=oauth2\npassword=fine\n"
    # A username git already has (https://user@host) is kept: none is sent.
    assert answer({**request, "username": "me"}, git, "fine", 1.5) == (
        "password=fine\npassword_expiry_utc=1\n"
    )
    assert answer({**request, "protocol": "http"}, git, "fine", None) == ""


def test_git_requests_end_at_a_blank_line_or_the_end_of_input() -> None:
    import io

    text = b"protocol=https\nhost=h\ncapability[]=authtype\nnonsense\n\npassword=after\n"
    assert read_request(io.BytesIO(text)) == {"protocol": "https", "host": "h"}
    assert read_request(io.BytesIO(b"protocol=https\nhost=h")) == {"protocol": "https", "host": "h"}


def run_bytes(
    home: Path, *argv: str, stdin: bytes, stdout: int | None = subprocess.PIPE, **env: str
) -> subprocess.CompletedProcess[bytes]:
    """Run the command line with bytes on stdin (and stdout where given); stderr as it is."""
    return subprocess.run(
        [sys.executable, "-m", "loctocat", *argv],
        input=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        env={**environment(home), **env},
        cwd=home,
        timeout=60,
    )


@pytest.mark.parametrize("username", [b"jos\xc3\xa9", b"jos\xe9"], ids=["utf-8", "latin-1"])
def test_git_sends_any_bytes_whatever_the_locale(home: Path, username: bytes) -> None:
    # git passes on the username of the remote URL (https://jos%E9@host/) as it is.
    tokens = store_token(home)
    helper = ["git-credential", *SELECTION, "--store", str(tokens), *GIT]
    request = b"protocol=https\nhost=git.example.com\nusername=" + username + b"\n\n"
    for path in ("full", "fast"):
        done = run_bytes(home, *helper, stdin=request, PYTHONIOENCODING="ascii")
        assert done.returncode == 0, (path, done.stderr)
        assert done.stdout.startswith(b"password=at-1\n"), path
        assert done.stderr == b"", path


def test_a_reader_that_stops_reading_ends_the_command_quietly(home: Path) -> None:
    tokens = store_token(home)
    selection = [*SELECTION, "--store", str(tokens)]
    assert run(home, "token", *selection)[:2] == (0, "at-1\n")  # the index now knows it
    # The same options (the stored-token path), then in another order (the full path).
    for path, argv in (("fast", selection), ("full", [*selection[2:], *selection[:2]])):
        reader, writer = os.pipe()
        os.close(reader)  # `| head -c 0`: nobody reads what it prints
        try:
            done = subprocess.run(
                [sys.executable, "-m", "loctocat", "token", *argv],
                stdin=subprocess.DEVNULL,
                stdout=writer,
                stderr=subprocess.PIPE,
                # Buffered, as in a terminal session: the write fails only when flushed.
                env={k: v for k, v in environment(home).items() if k != "PYTHONUNBUFFERED"},
                cwd=home,
                timeout=60,
            )
        finally:
            os.close(writer)
        assert (done.returncode, done.stderr) == (141, b""), path


def test_git_credential_takes_its_operation_first_or_last(home: Path) -> None:
    tokens = store_token(home)
    helper = [*SELECTION, "--store", str(tokens), *GIT[:-1]]
    request = "protocol=https\nhost=git.example.com\n\n"
    for argv in (["git-credential", "get", *helper], ["git-credential", *helper, "get"]):
        code, out, _, said = run(home, *argv, stdin=request)
        assert (code, out.splitlines()[1]) == (0, "password=at-1"), said
    code, _, _, said = run(home, "git-credential", "github")  # no operation: not git
    assert code == 2, said


def test_git_operations_the_helper_does_not_know_are_ignored(home: Path) -> None:
    # gitcredentials(7): a helper silently ignores any other operation, so git can add some.
    tokens = store_token(home)
    helper = ["git-credential", *SELECTION, "--store", str(tokens), *GIT[:-1]]
    request = "protocol=https\nhost=git.example.com\n\n"
    code, out, _, said = run(home, *helper, "capability", stdin=request)
    assert (code, out, said) == (0, "", "")
    # A word that is an option's value is no operation: a helper line missing its operation
    # is still a usage error.
    code, _, _, said = run(home, "git-credential", *SELECTION, "--host", "git.example.com")
    assert code == 2, said
    assert said.startswith("loctocat: ")
