"""`loctocat login/token/logout/providers` run as a user's shell would, against a live fake server.

Each command runs in a subprocess (`python -m loctocat ...`) against a `FakeAuthorizationServer`
serving loopback HTTP in this process; a thread here plays the person who approves the code.
Every flow waits loctocat's 1 s polling floor once.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from login_support import approving, device_requests

from loctocat.cli import (
    EXIT_DENIED,
    EXIT_EXPIRED,
    EXIT_INTERRUPTED,
    EXIT_LOGIN_REQUIRED,
    EXIT_NETWORK,
    EXIT_OK,
    EXIT_USAGE,
)
from loctocat.cli._args import COMMANDS
from loctocat.testing import FakeAuthorizationServer

LOCTOCAT = [sys.executable, "-m", "loctocat"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: an empty config file, nothing from the user's own directories."""
    config = tmp_path / "config.toml"
    config.write_text("")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LOCTOCAT_")}
    environ.update(
        LOCTOCAT_CONFIG=str(config),
        XDG_CONFIG_HOME=str(tmp_path / "xdg-config"),
        XDG_DATA_HOME=str(tmp_path / "xdg-data"),
        NO_COLOR="1",
    )
    return environ


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "tokens.json"


@pytest.fixture
def server() -> Iterator[FakeAuthorizationServer]:
    server = FakeAuthorizationServer()
    with server.serve_http():
        yield server


def run(
    env: dict[str, str], *args: str, stdin: str | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LOCTOCAT, *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin if stdin is not None else "",
        timeout=timeout,
    )


def manual(server: FakeAuthorizationServer, store: Path, *more: str) -> list[str]:
    """Selection options for the server's endpoints given by hand."""
    return [
        "--auth-url",
        server.device_authorization_url,
        "--token-url",
        server.token_url,
        "--client-id",
        "cli-client",
        "--store",
        str(store),
        *more,
    ]


def discovered(server: FakeAuthorizationServer, store: Path, *more: str) -> list[str]:
    """Selection options for the server found through its metadata."""
    return ["--issuer", server.issuer, "--client-id", "cli-client", "--store", str(store), *more]


def stored_tokens(store: Path) -> dict[str, dict[str, object]]:
    tokens: dict[str, dict[str, object]] = json.loads(store.read_text())["tokens"]
    return tokens


def one_error_line(stderr: str) -> str:
    lines = [
        line
        for line in stderr.splitlines()
        if line.startswith("loctocat: ") and not line.startswith("loctocat: warning: ")
    ]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


# --- login, token, logout ---------------------------------------------------------------------


def test_login_prints_nothing_on_stdout_and_stores_the_token(
    server: FakeAuthorizationServer, env: dict[str, str], store: Path
) -> None:
    with approving(server):
        done = run(env, "login", *manual(server, store, "--scope", "read write"))
    assert done.returncode == EXIT_OK, done.stderr
    assert done.stdout == ""
    assert "Logged in to 127.0.0.1 (scopes: read write), token valid until" in done.stderr
    assert server.grants[0].user_code in done.stderr  # the prompt went to stderr
    [issued] = server.issued_tokens
    [(key, entry)] = stored_tokens(store).items()
    assert entry["response"]["access_token"] == issued.access_token
    assert key.endswith("|cli-client|read write")
    assert issued.scope == "read write"


def test_login_print_token_and_json(
    server: FakeAuthorizationServer, env: dict[str, str], store: Path
) -> None:
    with approving(server):
        printed = run(env, "login", *discovered(server, store, "--print-token"))
        as_json = run(env, "login", *manual(server, store, "--json"))
    assert printed.returncode == EXIT_OK, printed.stderr
    assert printed.stdout == server.issued_tokens[0].access_token + "\n"
    assert as_json.returncode == EXIT_OK, as_json.stderr
    token = json.loads(as_json.stdout)
    second = server.issued_tokens[1]
    assert token["access_token"] == second.access_token
    assert token["refresh_token"] == second.refresh_token
    assert 3000 < token["expires_in"] <= 3600  # seconds left
    assert token["expires_at"].endswith("Z")  # ISO 8601, UTC
    assert "loctocat_expires_at" not in token
    # login always runs the flow, even with a valid token stored.
    assert device_requests(server) == 2


def test_token_reuses_the_stored_token(
    server: FakeAuthorizationServer, env: dict[str, str], store: Path
) -> None:
    with approving(server):
        first = run(env, "login", *discovered(server, store, "--print-token"))
    assert first.returncode == EXIT_OK, first.stderr
    assert device_requests(server) == 1
    second = run(env, "token", *discovered(server, store))
    assert second.returncode == EXIT_OK, second.stderr
    assert second.stdout == first.stdout == server.issued_tokens[0].access_token + "\n"
    assert device_requests(server) == 1  # no new login
    assert second.stderr == ""  # nothing to show: no prompt
    as_json = run(env, "token", *discovered(server, store, "--json"))
    assert json.loads(as_json.stdout)["access_token"] == server.issued_tokens[0].access_token


def test_token_refreshes_an_expired_token(
    server: FakeAuthorizationServer, env: dict[str, str], store: Path
) -> None:
    with approving(server):
        assert run(env, "login", *manual(server, store)).returncode == EXIT_OK
    document = json.loads(store.read_text())
    for entry in document["tokens"].values():
        entry["expires_at"] = time.time() - 60
    store.write_text(json.dumps(document))

    done = run(env, "token", *manual(server, store))
    assert done.returncode == EXIT_OK, done.stderr
    refreshed = server.issued_tokens[-1]
    assert refreshed.grant_type == "refresh_token"
    assert done.stdout == refreshed.access_token + "\n"
    assert device_requests(server) == 1
    [entry] = stored_tokens(store).values()
    assert entry["response"]["access_token"] == refreshed.access_token


def test_logout_forgets_and_revokes(
    server: FakeAuthorizationServer, env: dict[str, str], store: Path
) -> None:
    with approving(server):
        assert run(env, "login", *discovered(server, store)).returncode == EXIT_OK
    [issued] = server.issued_tokens
    done = run(env, "logout", *discovered(server, store))
    assert done.returncode == EXIT_OK, done.stderr
    assert "Logged out." in done.stderr
    assert done.stdout == ""
    assert stored_tokens(store) == {}
    assert any(r.endpoint == "revocation" for r in server.requests)
    assert issued.refresh_token in server.revoked_tokens
    assert issued.access_token in server.revoked_tokens

    again = run(env, "logout", *discovered(server, store))
    assert again.returncode == EXIT_OK
    assert "Not logged in" in again.stderr


def test_a_login_by_issuer_is_used_and_forgotten_while_the_issuer_is_down(
    env: dict[str, str], store: Path, tmp_path: Path
) -> None:
    env = {**env, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    server = FakeAuthorizationServer()
    with server.serve_http():
        issuer = server.issuer
        with approving(server):
            login = run(env, "login", *discovered(server, store, "--print-token"))
        assert login.returncode == EXIT_OK, login.stderr
    # The issuer cannot be reached now (an outage, no network). The options in another order
    # than any run before: nothing from the stored-token path's index.
    selection = ["--client-id", "cli-client", "--store", str(store), "--issuer", issuer]
    remembered = tmp_path / "cache" / "loctocat" / "discovery.json"
    assert remembered.stat().st_mode & 0o777 == 0o600
    remembered.chmod(0o666)  # others could have changed where codes and tokens go: unused
    assert run(env, "token", *selection, "--no-login").returncode == EXIT_NETWORK
    remembered.chmod(0o600)
    token = run(env, "token", *selection, "--no-login")
    assert (token.returncode, token.stdout) == (EXIT_OK, login.stdout), token.stderr
    forgotten = run(env, "logout", *selection, "--no-revoke")
    assert forgotten.returncode == EXIT_OK, forgotten.stderr
    assert stored_tokens(store) == {}
    # A server never reached before is still a network error, exit 5.
    other = run(env, "token", "--client-id", "c", "--issuer", f"http://127.0.0.1:{closed_port()}")
    assert other.returncode == EXIT_NETWORK, other.stderr


def test_a_warning_is_one_line_that_says_who_warns(
    server: FakeAuthorizationServer, env: dict[str, str], tmp_path: Path
) -> None:
    visible = tmp_path / "visible"
    visible.mkdir(mode=0o755)  # others can list the names of the files: the store warns
    done = run(env, "token", *manual(server, visible / "tokens.json"), "--no-login")
    assert done.returncode == EXIT_LOGIN_REQUIRED, done.stderr
    warning, error = done.stderr.splitlines()
    assert warning.startswith("loctocat: warning: The names of the files in the token directory")
    assert "chmod go-rwx" in warning
    assert error.startswith("loctocat: not logged in")


# --- client secrets ---------------------------------------------------------------------------


def test_client_secret_from_env_or_stdin(env: dict[str, str], store: Path) -> None:
    server = FakeAuthorizationServer(client_id="cli-client", client_secret="s3cret-value")
    with server.serve_http(), approving(server):
        from_env = run(
            {**env, "CLI_TEST_SECRET": "s3cret-value"},
            "login",
            *manual(server, store, "--secret-env", "CLI_TEST_SECRET"),
        )
        from_stdin = run(
            env, "login", *manual(server, store, "--client-secret-stdin"), stdin="s3cret-value\n"
        )
        wrong = run(env, "login", *manual(server, store, "--client-secret-stdin"), stdin="nope\n")
    assert from_env.returncode == EXIT_OK, from_env.stderr
    assert from_stdin.returncode == EXIT_OK, from_stdin.stderr
    assert wrong.returncode == 1
    assert "invalid_client" in one_error_line(wrong.stderr)
    for done in (from_env, from_stdin, wrong):
        assert "s3cret-value" not in done.stderr + done.stdout


# --- providers ----------------------------------------------------------------------------------


def test_providers_table_and_json(env: dict[str, str]) -> None:
    table = run(env, "providers")
    assert table.returncode == EXIT_OK
    lines = table.stdout.splitlines()
    # 80 columns: the TITLE column is left out (--json has it), every row one line.
    assert lines[0].split()[:2] == ["NAME", "REQUIRED"]
    assert max(len(line) for line in lines) <= 80
    keycloak = next(line for line in lines if line.startswith("keycloak "))
    assert "--base-url --realm" in keycloak
    github = next(line for line in lines if line.startswith("github "))
    assert "--host=github.com" in github
    google = next(line for line in lines if line.startswith("google "))
    assert google.rstrip().endswith("required")

    listed = run(env, "providers", "--json")
    assert listed.returncode == EXIT_OK
    catalogue = {entry["name"]: entry for entry in json.loads(listed.stdout)}
    assert catalogue["keycloak"]["required_parameters"] == ["base_url", "realm"]
    assert catalogue["microsoft"]["optional_parameters"] == {"tenant": "common"}
    assert catalogue["google"]["client_secret"] == "required"
    assert len(lines) == len(catalogue) + 1


# --- failures and their exit codes --------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["login", "keycloak", "--client-id", "c", "--realm", "r"], "--base-url"),
        (["login", "okta", "--client-id", "c"], "--domain"),
        (["token", "github"], "--client-id"),
        (["login", "--auth-url", "http://127.0.0.1:1/device", "--client-id", "c"], "--token-url"),
        (["login", "--client-id", "c"], "--issuer"),
        (["login", "github", "--client-id", "c", "--tenant", "x"], "--tenant"),
        (["login", "google", "--client-id", "c"], "--secret-env"),
        (["logout", "gitbub", "--client-id", "c"], "unknown provider 'gitbub'"),
        (
            ["login", "github", "--client-id", "c", "--secret-env", "CLI_TEST_UNSET"],
            "CLI_TEST_UNSET",
        ),
        (
            [
                "login",
                "--client-id",
                "c",
                "--auth-url",
                "http://auth.example.com/d",
                "--token-url",
                "http://auth.example.com/t",
            ],
            "https",
        ),
    ],
)
def test_usage_errors_exit_2_and_name_the_option(
    env: dict[str, str], store: Path, args: list[str], named: str
) -> None:
    done = run(env, *args, "--store", str(store))
    assert done.returncode == EXIT_USAGE, done.stderr
    assert named in one_error_line(done.stderr)
    assert done.stdout == ""
    assert not store.exists()


def test_argparse_usage_errors_exit_2(env: dict[str, str]) -> None:
    done = run(env, "login", "github", "--client-id", "c", "--print-token", "--json")
    assert done.returncode == EXIT_USAGE
    assert "not allowed with" in done.stderr


def test_denied_exits_3(server: FakeAuthorizationServer, env: dict[str, str], store: Path) -> None:
    server.plan("deny")
    done = run(env, "login", *manual(server, store))
    assert done.returncode == EXIT_DENIED
    assert "access_denied" in one_error_line(done.stderr)
    assert not store.exists()


def test_expired_exits_4(server: FakeAuthorizationServer, env: dict[str, str], store: Path) -> None:
    server.plan("expire")
    done = run(env, "login", *manual(server, store))
    assert done.returncode == EXIT_EXPIRED
    assert "expired_token" in one_error_line(done.stderr)
    assert done.stdout == ""


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_unreachable_server_exits_5(env: dict[str, str], store: Path) -> None:
    base = f"http://127.0.0.1:{closed_port()}"
    args = ["--auth-url", f"{base}/device", "--token-url", f"{base}/token", "--client-id", "c"]
    done = run(env, "login", *args, "--store", str(store))
    assert done.returncode == EXIT_NETWORK
    assert "connection failed" in one_error_line(done.stderr)
    # --debug adds the traceback (and debug logs) but keeps the exit code.
    debug = run(env, "--debug", "login", *args, "--store", str(store))
    assert debug.returncode == EXIT_NETWORK
    assert "Traceback" in debug.stderr
    debug_after = run(env, "login", *args, "--store", str(store), "--debug")
    assert debug_after.returncode == EXIT_NETWORK
    assert "Traceback" in debug_after.stderr


# --- the config file ------------------------------------------------------------------------------


def test_config_file_gives_defaults_and_flags_win(env: dict[str, str], store: Path) -> None:
    # Keycloak's endpoint layout, served under a path prefix on loopback.
    server = FakeAuthorizationServer(
        base_url="https://sso.example.test/realms/staff/protocol/openid-connect",
        device_path="/auth/device",
        token_path="/token",
    )
    with server.serve_http() as served:
        base_url = served.removesuffix("/realms/staff/protocol/openid-connect")
        Path(env["LOCTOCAT_CONFIG"]).write_text(
            "[providers.keycloak]\n"
            'client_id = "from-config"\n'
            f'base_url = "{base_url}"\n'
            'realm = "not-this-one"\n'
            'scopes = ["profile", "email"]\n'
        )
        with approving(server):
            done = run(
                env, "login", "keycloak", "--realm", "staff", "--store", str(store), "--print-token"
            )
    assert done.returncode == EXIT_OK, done.stderr
    assert done.stdout == server.issued_tokens[0].access_token + "\n"
    [device] = [r for r in server.requests if r.endpoint == "device_authorization"]
    assert device.form["client_id"] == "from-config"
    assert device.form["scope"] == "profile email"


@pytest.mark.parametrize(
    ("table", "name", "flags"),
    [
        ('[servers.work]\nissuer = "http://example.com"\nclient_id = "x"\n', "work", []),
        ("[providers.keycloak]\nbase_url = 'ftp://sso'\n", "keycloak", ["--realm", "r"]),
    ],
)
def test_a_bad_value_from_the_config_file_is_named_there_not_as_a_flag(
    env: dict[str, str], store: Path, table: str, name: str, flags: list[str]
) -> None:
    Path(env["LOCTOCAT_CONFIG"]).write_text(table)
    done = run(env, "token", name, "--client-id", "c", *flags, "--store", str(store), "--no-login")
    assert done.returncode == EXIT_USAGE, done.stderr
    line = one_error_line(done.stderr)
    where = table.split("\n")[0]  # [servers.work]
    assert f"in {where} of {env['LOCTOCAT_CONFIG']}" in line
    assert "--issuer" not in line
    assert "--base-url" not in line


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[providers.github\nclient_id = 'x'\n", "not valid TOML"),
        ("[providers.github]\nclient_secret = 'x'\n", "client_secret"),
        ("[providers.gitbub]\nclient_id = 'x'\n", "gitbub"),
        ("[providers.github]\nclient_id = 3\n", "client_id"),
    ],
)
def test_broken_config_file_exits_2_naming_it(
    env: dict[str, str], store: Path, text: str, named: str
) -> None:
    Path(env["LOCTOCAT_CONFIG"]).write_text(text)
    done = run(env, "token", "github", "--client-id", "c", "--store", str(store))
    assert done.returncode == EXIT_USAGE
    line = one_error_line(done.stderr)
    assert env["LOCTOCAT_CONFIG"] in line
    assert named in line


def test_missing_config_file_named_by_the_variable(env: dict[str, str], tmp_path: Path) -> None:
    env["LOCTOCAT_CONFIG"] = str(tmp_path / "nowhere.toml")
    done = run(env, "token", "github", "--client-id", "c")
    assert done.returncode == EXIT_USAGE
    assert "nowhere.toml" in one_error_line(done.stderr)


# --- help -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [[], *([name] for name in COMMANDS)],
)
def test_every_command_has_help_with_examples(env: dict[str, str], command: list[str]) -> None:
    done = run(env, *command, "--help")
    assert done.returncode == EXIT_OK
    assert "example" in done.stdout
    if command in ([], ["login"], ["token"], ["logout"]):
        assert "130" in done.stdout  # the exit codes are listed


# --- Ctrl+C in a real terminal --------------------------------------------------------------------


def test_ctrl_c_in_a_terminal_exits_130_cleanly(
    server: FakeAuthorizationServer, env: dict[str, str], store: Path
) -> None:
    pexpect = pytest.importorskip("pexpect")
    env = {**env, "TERM": "xterm-256color"}
    child = pexpect.spawn(
        sys.executable,
        ["-m", "loctocat", "login", *manual(server, store)],
        env=env,
        encoding="utf-8",
        timeout=20,
        dimensions=(40, 120),
    )
    try:
        child.expect("one-time code")
        child.expect(r"[A-Z]{4}-[A-Z]{4}")
        while not server.grants or server.grants[0].poll_count == 0:
            time.sleep(0.05)  # polling has begun
        child.send("\x03")
        child.expect(pexpect.EOF)
        output = child.before
    finally:
        child.close(force=True)
    assert child.exitstatus == EXIT_INTERRUPTED, output
    assert "Cancelled." in output
    assert "Traceback" not in output
    assert not store.exists()
