"""The command line in scripts and at a terminal: fail fast, one login per server, status, one line
per error, 80 columns, --version, the keychain, servers of your own, serve. Run as a user would
(see test_cli_commands), with a pseudo-terminal where a person would have one."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
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
    run,
    server,
    store,
    stored_tokens,
)
from test_cli_input import run_limited

from loctocat.cli import (
    EXIT_DENIED,
    EXIT_LOGIN_REQUIRED,
    EXIT_OK,
    EXIT_USAGE,
)
from loctocat.cli._args import COMMANDS
from loctocat.testing import FakeAuthorizationServer

__all__ = ["env", "server", "store"]  # fixtures, imported for pytest

HERE = Path(__file__).parent


# --- 1. token fails fast where nobody can answer -------------------------------------------------


def test_token_without_a_terminal_fails_at_once_saying_what_to_run(
    server: FakeAuthorizationServer, env: dict[str, str], store: Path
) -> None:
    started = time.monotonic()
    done = run(env, "token", *manual(server, store, "--scope", "read"))
    assert time.monotonic() - started < 10
    assert done.returncode == EXIT_LOGIN_REQUIRED == 6
    assert done.stdout == ""
    line = one_error_line(done.stderr)
    assert "not logged in to 127.0.0.1" in line
    assert "no terminal" in line
    assert f"'loctocat login --auth-url {server.device_authorization_url}" in line
    assert server.requests == []  # no code asked for: nobody would see it
    # The command it names works, and then token answers.
    command = line.split("run '", 1)[1].rstrip("'")
    with approving(server):
        logged_in = run(env, *command.split()[1:])
    assert logged_in.returncode == EXIT_OK, logged_in.stderr
    again = run(env, "token", *manual(server, store, "--scope", "read"))
    assert again.returncode == EXIT_OK, again.stderr


def test_token_on_a_terminal_logs_in_unless_told_not_to(
    server: FakeAuthorizationServer, env: dict[str, str], store: Path
) -> None:
    refused = run_limited(env, "token", *manual(server, store), "--no-login", terminal=True)
    assert refused.returncode == EXIT_LOGIN_REQUIRED
    assert "--no-login was given" in refused.stderr
    with approving(server):
        done = run_limited(env, "token", *manual(server, store), terminal=True)
    assert done.returncode == EXIT_OK, done.stderr
    assert done.stdout == server.issued_tokens[0].access_token + "\n"
    assert server.grants[0].user_code in done.stderr  # the prompt, on the terminal


# --- 2. one server, client and scopes is one login ---------------------------------------------


def test_issuer_and_endpoints_of_one_server_share_one_login(
    server: FakeAuthorizationServer, env: dict[str, str], store: Path
) -> None:
    with approving(server):
        assert run(env, "login", *discovered(server, store)).returncode == EXIT_OK
    by_endpoints = run(env, "token", *manual(server, store))
    assert by_endpoints.returncode == EXIT_OK, by_endpoints.stderr
    assert by_endpoints.stdout == server.issued_tokens[0].access_token + "\n"
    assert device_requests(server) == 1
    [key] = stored_tokens(store)
    assert key.startswith(server.token_url + "|")


def test_a_login_stored_under_its_issuer_by_2_0_is_found(
    server: FakeAuthorizationServer, env: dict[str, str], store: Path
) -> None:
    with approving(server):
        assert run(env, "login", *discovered(server, store)).returncode == EXIT_OK
    document = json.loads(store.read_text())
    [(key, entry)] = document["tokens"].items()
    legacy = key.replace(server.token_url, server.issuer, 1)
    document["tokens"] = {legacy: entry}  # as loctocat 2.0.0 keyed it
    store.write_text(json.dumps(document))
    done = run(env, "token", *discovered(server, store))
    assert done.returncode == EXIT_OK, done.stderr
    assert list(stored_tokens(store)) == [key]  # moved to today's key


# --- 3. status, and what login says ---------------------------------------------------------------


def test_status_lists_every_stored_login(
    server: FakeAuthorizationServer, env: dict[str, str], store: Path
) -> None:
    empty = run(env, "status", "--store", str(store))
    assert empty.returncode == EXIT_OK
    assert "No stored logins" in empty.stderr
    with approving(server):
        login = run(env, "login", *manual(server, store, "--scope", "read"))
        run(env, "login", *manual(server, store, "--scope", "write", "--account", "ci"))
    assert login.returncode == EXIT_OK, login.stderr
    said = " ".join(login.stderr.split())  # wrapped to the terminal's width
    assert "Logged in to 127.0.0.1 (scopes: read), token valid until " in said
    assert f"stored in {store}." in said
    listed = run(env, "status", "--store", str(store), "--json")
    assert listed.returncode == EXIT_OK, listed.stderr
    logins = json.loads(listed.stdout)
    assert [(e["scopes"], e["account"]) for e in logins] == [(["read"], None), (["write"], "ci")]
    for entry in logins:
        assert entry["server"] == server.token_url
        assert entry["client_id"] == "cli-client"
        assert entry["refreshable"] is True
        assert entry["expired"] is False
        assert entry["expires_at"].endswith("Z")
        assert entry["store"] == str(store)
    shown = run(env, "status", "--store", str(store))
    lines = shown.stdout.splitlines()
    assert lines[0].split()[:4] == ["SERVER", "USER", "CLIENT", "ID"]
    assert len(lines) == 3
    assert "(ci)" in lines[2]
    assert max(len(line) for line in lines) <= 80


# --- 4. one failure, one line; short usage errors ---------------------------------------------


def test_a_failed_login_says_so_once(
    server: FakeAuthorizationServer, env: dict[str, str], store: Path
) -> None:
    server.plan("deny")
    done = run(env, "login", *manual(server, store))
    assert done.returncode == EXIT_DENIED
    assert done.stderr.count("access_denied") == 1
    assert "✗" not in done.stderr
    one_error_line(done.stderr)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["logni"], "unknown command 'logni' (did you mean login?); see 'loctocat --help'"),
        (
            ["login", "--clent-id", "x"],
            "login has no flag --clent-id (did you mean --client-id?); see 'loctocat login --help'",
        ),
        (
            ["token", "gitbub", "--client-id", "x"],
            "unknown provider 'gitbub' (did you mean github?)",
        ),
        (["login", "--timeout", "-1"], "--timeout: must be a positive number of seconds"),
        (["serve", "--port", "99999"], "--port: must be a port number from 0 to 65535"),
        (["demo", "--port", "http"], "--port: must be a port number from 0 to 65535"),
        (
            ["login", "github", "--client-id", "x", "--secret-env", "A", "--client-secret", "b"],
            "--secret-env and --client-secret: give the client secret one way only",
        ),
    ],
)
def test_usage_errors_are_one_short_line(env: dict[str, str], args: list[str], said: str) -> None:
    done = run(env, *args)
    assert done.returncode == EXIT_USAGE
    assert said in one_error_line(done.stderr)
    assert len(done.stderr.splitlines()) == 1  # no usage block


# --- 5, 6. 80 columns, --version ---------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [[], *([name] for name in COMMANDS)],
)
def test_help_fits_80_columns(env: dict[str, str], command: list[str]) -> None:
    done = run({**env, "COLUMNS": "200"}, *command, "--help")
    assert done.returncode == EXIT_OK
    too_wide = [line for line in done.stdout.splitlines() if len(line) > 80]
    assert too_wide == []


def test_providers_fold_to_a_narrow_terminal(env: dict[str, str]) -> None:
    done = run({**env, "COLUMNS": "50"}, "providers")
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 50
    assert "    optional: --host=github.com" in lines


def test_version(env: dict[str, str]) -> None:
    done = run(env, "--version")
    assert done.returncode == EXIT_OK
    assert done.stdout.startswith("loctocat 2.")


# --- 11. the OS keychain ------------------------------------------------------------------------


@pytest.fixture
def keychain(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """An environment with a usable keychain (a file-backed keyring backend)."""
    return {
        **env,
        "PYTHON_KEYRING_BACKEND": "file_keyring.FileKeyring",
        "FILE_KEYRING": str(tmp_path / "keychain.json"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")])),
        "XDG_CACHE_HOME": str(tmp_path / "xdg-cache"),
    }


def test_tokens_go_to_the_keychain_when_there_is_one(
    server: FakeAuthorizationServer, keychain: dict[str, str], tmp_path: Path
) -> None:
    selection = ["--auth-url", server.device_authorization_url, "--token-url", server.token_url]
    selection += ["--client-id", "cli-client"]
    with approving(server):
        login = run(keychain, "login", *selection)
    assert login.returncode == EXIT_OK, login.stderr
    assert "stored in the OS keychain (service 'loctocat')" in login.stderr
    assert server.issued_tokens[0].access_token in (tmp_path / "keychain.json").read_text()
    assert not (tmp_path / "xdg-data").exists()  # no token file
    status = run(keychain, "status", "--json")
    [entry] = json.loads(status.stdout)
    assert entry["store"] == "the OS keychain (service 'loctocat')"
    token = run(keychain, "token", *selection)
    assert token.stdout == server.issued_tokens[0].access_token + "\n"
    as_file = run(keychain, "status", "--store", "file")
    assert "No stored logins" in as_file.stderr


def test_without_a_keychain_tokens_go_to_a_private_file(
    server: FakeAuthorizationServer, env: dict[str, str], tmp_path: Path
) -> None:
    selection = ["--auth-url", server.device_authorization_url, "--token-url", server.token_url]
    with approving(server):
        login = run(env, "login", *selection, "--client-id", "cli-client")
    assert login.returncode == EXIT_OK, login.stderr
    path = tmp_path / "xdg-data" / "loctocat" / "tokens.json"
    assert path.exists()
    refused = run(env, "login", *selection, "--client-id", "x", "--store", "keyring")
    assert refused.returncode == EXIT_USAGE
    assert "no usable OS keychain" in one_error_line(refused.stderr)


# --- 12. servers of your own in the config file ------------------------------------------------


def test_a_server_named_in_the_config_file(
    server: FakeAuthorizationServer, env: dict[str, str], store: Path
) -> None:
    Path(env["LOCTOCAT_CONFIG"]).write_text(
        "[servers.work]\n"
        f'issuer = "{server.issuer}"\n'
        'client_id = "work-cli"\n'
        'scopes = ["read"]\n'
        f'store = "{store}"\n'
    )
    with approving(server):
        login = run(env, "login", "work")
    assert login.returncode == EXIT_OK, login.stderr
    assert "Logged in to work as fake-user-1 (scopes: read)" in login.stderr  # from userinfo
    token = run(env, "token", "work")
    assert token.stdout == server.issued_tokens[0].access_token + "\n"
    [device] = [r for r in server.requests if r.endpoint == "device_authorization"]
    assert device.form["client_id"] == "work-cli"
    typo = run(env, "token", "wrok")
    assert "unknown provider 'wrok' (did you mean work?)" in one_error_line(typo.stderr)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("[servers.x]\nclient_id = 'c'\n", "name the server one way"),
        ("[servers.x]\nissuer = 'https://a'\nauth_url = 'https://b'\n", "name the server one way"),
        ("[servers.github]\nissuer = 'https://a'\n", "github is a predefined provider"),
        ("[servers.x]\nprovider = 'nope'\n", "unknown provider"),
        ("[servers.x]\nauth_url = 'https://a'\n", "auth_url and token_url go together"),
        ("[servers.x]\nissuer = 'https://a'\ncolour = 'red'\n", "colour: unknown key"),
    ],
)
def test_a_broken_server_entry_is_named(env: dict[str, str], text: str, said: str) -> None:
    Path(env["LOCTOCAT_CONFIG"]).write_text(text)
    done = run(env, "token", "x", "--client-id", "c")
    assert done.returncode == EXIT_USAGE
    line = one_error_line(done.stderr)
    assert said in line
    assert env["LOCTOCAT_CONFIG"] in line


# --- 10. serve ----------------------------------------------------------------------------------


def test_serve_says_where_logs_requests_approves_and_stops_on_ctrl_c(env: dict[str, str]) -> None:
    served = subprocess.Popen(
        [*LOCTOCAT, "serve", "--auto-approve", "--interval", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert served.stdout is not None
    urls = dict(line.split(":", 1) for line in (served.stdout.readline().strip() for _ in range(5)))
    urls = {name: url.strip() for name, url in urls.items()}
    with approving(FakeAuthorizationServer()):  # nobody approves: --auto-approve does
        login = run(
            env,
            "login",
            "--issuer",
            urls["issuer"],
            "--client-id",
            "app",
            "--store",
            str(Path(env["XDG_DATA_HOME"]) / "t.json"),
        )
    served.send_signal(signal.SIGINT)
    _, errors = served.communicate(timeout=10)
    assert login.returncode == EXIT_OK, login.stderr
    assert served.returncode == 0
    assert urls["revocation_endpoint"].endswith("/revoke")
    assert "POST /device_authorization 200" in errors
    assert "POST /token 400 authorization_pending" in errors or "POST /token 200" in errors
    assert errors.rstrip().endswith("Stopped.")
    assert "Traceback" not in errors


def test_serve_on_a_busy_port_says_so_in_one_line(env: dict[str, str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run(env, "serve", "--port", str(port))
    assert done.returncode != EXIT_OK
    line = one_error_line(done.stderr)
    assert f"cannot serve on 127.0.0.1:{port}" in line
    assert "--port" in line


# --- 8. the demo over SSH ------------------------------------------------------------------------


def test_the_demo_over_ssh_says_how_to_reach_its_page(env: dict[str, str]) -> None:
    ssh = {**env, "SSH_CONNECTION": "10.0.0.1 50000 10.0.0.2 22"}
    done = subprocess.run(
        [*LOCTOCAT, "demo", "--port", "0", "--auto-approve"],
        capture_output=True,
        text=True,
        env=ssh,
        timeout=60,
    )
    assert done.returncode == EXIT_OK, done.stderr
    assert "▀" not in done.stderr  # no QR code of a loopback page
    assert "▄" not in done.stderr
    without = subprocess.Popen(
        [*LOCTOCAT, "demo"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ssh
    )
    try:
        assert without.stderr is not None
        said = ""
        while "--auto-approve" not in said:
            said += without.stderr.readline()
    finally:
        without.send_signal(signal.SIGINT)
        without.communicate(timeout=10)
    said = " ".join(said.split())  # wrapped to the terminal's width
    assert "ssh -L" in said
    assert "--auto-approve" in said


# --- 7. Ctrl+C at the secret prompt --------------------------------------------------------------


def test_ctrl_c_at_the_secret_prompt_ends_on_its_own_line(env: dict[str, str]) -> None:
    import pexpect

    child = pexpect.spawn(
        sys.executable,
        ["-m", "loctocat", "login", "google", "--client-id", "x", "--client-secret-stdin"],
        env={**env, "TERM": "xterm-256color"},
        encoding="utf-8",
        timeout=20,
        dimensions=(24, 80),
    )
    try:
        child.expect("Client secret: ")
        child.send("\x03")
        child.expect(pexpect.EOF)
        output = child.before
    finally:
        child.close(force=True)
    assert child.exitstatus == 130
    assert output.replace("\r", "") == "\nCancelled.\n"  # not "Client secret: Cancelled."


# --- who is logged in -----------------------------------------------------------------------------


def test_login_status_and_token_say_who_from_the_verified_id_token(
    server: FakeAuthorizationServer, env: dict[str, str], store: Path
) -> None:
    openid = discovered(server, store, "--scope", "openid", "--scope", "profile")
    with approving(server):
        login = run(env, "login", *openid)
    assert login.returncode == EXIT_OK, login.stderr
    assert "Logged in to 127.0.0.1 as fakeuser (scopes: openid profile)" in " ".join(
        login.stderr.split()
    )

    listed = run(env, "status", "--store", str(store), "--json")
    [entry] = json.loads(listed.stdout)
    assert entry["who"] == {"subject": "fake-user-1", "name": "fakeuser", "source": "id_token"}
    table = run(env, "status", "--store", str(store)).stdout.splitlines()
    assert table[0].split()[:2] == ["SERVER", "USER"]
    assert table[1].split()[:2] == [server.token_url, "fakeuser"]

    as_json = json.loads(run(env, "token", *openid, "--json").stdout)
    assert as_json["claims"]["sub"] == "fake-user-1"
    assert as_json["claims"]["aud"] == "cli-client"
    assert as_json["identity"]["name"] == "fakeuser"

    id_token = run(env, "token", *openid, "--id-token")
    assert id_token.returncode == EXIT_OK, id_token.stderr
    assert id_token.stdout == server.issued_tokens[-1].id_token + "\n"
    assert device_requests(server) == 1


def test_token_id_token_without_one_says_how_to_get_one(
    server: FakeAuthorizationServer, env: dict[str, str], store: Path
) -> None:
    with approving(server):
        assert run(env, "login", *discovered(server, store)).returncode == EXIT_OK
    done = run(env, "token", *discovered(server, store), "--id-token")
    assert done.returncode == 1
    assert done.stdout == ""
    assert "has no ID token" in one_error_line(done.stderr)
    assert "--scope openid" in done.stderr


def test_an_expired_id_token_is_refreshed_before_it_is_printed(
    server: FakeAuthorizationServer, env: dict[str, str], store: Path
) -> None:
    openid = discovered(server, store, "--scope", "openid")
    with approving(server):
        assert run(env, "login", *openid).returncode == EXIT_OK
    document = json.loads(store.read_text())
    [entry] = document["tokens"].values()
    entry["claims"]["exp"] = int(time.time()) - 60  # as if the ID token had expired
    store.write_text(json.dumps(document))

    done = run(env, "token", *openid, "--id-token")

    assert done.returncode == EXIT_OK, done.stderr
    assert server.issued_tokens[-1].grant_type == "refresh_token"
    assert done.stdout == server.issued_tokens[-1].id_token + "\n"


def test_a_broken_id_token_fails_the_login_in_one_line(
    server: FakeAuthorizationServer, env: dict[str, str], store: Path
) -> None:
    server.id_token_fault = "wrong_audience"
    with approving(server):
        done = run(env, "login", *discovered(server, store, "--scope", "openid"))
    assert done.returncode == 1
    line = one_error_line(done.stderr)
    assert "ID token is meant for" in line
    assert server.issued_tokens[-1].id_token not in done.stderr
    assert not store.exists() or stored_tokens(store) == {}
