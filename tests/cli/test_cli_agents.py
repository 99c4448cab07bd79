"""Logins driven by programs: `login --start` in one process and `login --finish` in another,
and `--events ndjson`, read line by line as an agent reads them."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from test_cli_commands import LOCTOCAT, approving, env, manual, one_error_line, run, server, store

from loctocat.cli import EXIT_DENIED, EXIT_ERROR, EXIT_EXPIRED, EXIT_OK, EXIT_USAGE
from loctocat.testing import FakeAuthorizationServer

__all__ = ["env", "server", "store"]  # fixtures, imported for pytest


def events(stdout: str) -> list[dict[str, object]]:
    """Each line of stdout, as the JSON object it must be."""
    return [json.loads(line) for line in stdout.splitlines()]


def test_a_login_started_in_one_process_is_finished_in_another(
    server: FakeAuthorizationServer, env: dict[str, str], store: Path
) -> None:
    started = run(env, "login", *manual(server, store), "--start", "--json")

    assert started.returncode == EXIT_OK, started.stderr
    shown = json.loads(started.stdout)
    assert set(shown) == {
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_at",
        "interval",
    }
    [grant] = server.grants
    assert shown["user_code"] == grant.user_code
    assert grant.device_code not in started.stdout + started.stderr  # the secret stays put
    assert "--finish" in one_line(started.stderr)

    with approving(server):
        finished = run(env, "login", *manual(server, store), "--finish")

    assert finished.returncode == EXIT_OK, finished.stderr
    assert finished.stdout == ""
    assert "Logged in to 127.0.0.1" in one_line(finished.stderr)
    token = run(env, "token", *manual(server, store), "--no-login")
    assert token.stdout == server.issued_tokens[-1].access_token + "\n"
    assert sum(r.endpoint == "device_authorization" for r in server.requests) == 1
    # Finished: nothing is left to finish.
    again = run(env, "login", *manual(server, store), "--finish")
    assert again.returncode == EXIT_ERROR
    assert "--start" in one_error_line(again.stderr)


def one_line(stderr: str) -> str:
    return " ".join(stderr.split())


def test_finish_honours_slow_down_after_the_hand_over(
    server: FakeAuthorizationServer, env: dict[str, str], store: Path
) -> None:
    server.plan("pending", "slow_down", "approve")
    assert run(env, "login", *manual(server, store), "--start").returncode == EXIT_OK

    finished = run(env, "login", *manual(server, store), "--finish", "--events", "ndjson")

    assert finished.returncode == EXIT_OK, finished.stderr
    assert [e["event"] for e in events(finished.stdout)] == [
        "waiting",
        "waiting",
        "slow_down",
        "success",
    ]
    polls = [r.timestamp for r in server.requests if r.endpoint == "token"]
    assert len(polls) == 3
    assert polls[2] - polls[1] >= 1 + 5 - 0.2  # the interval, 5 s longer after slow_down


def test_finish_stops_when_the_code_expires_even_if_it_started_late(
    env: dict[str, str], store: Path
) -> None:
    server = FakeAuthorizationServer(expires_in=3)
    with server.serve_http():
        assert run(env, "login", *manual(server, store), "--start").returncode == EXIT_OK
        time.sleep(2)  # the worker picks it up a while later

        finished = run(env, "login", *manual(server, store), "--finish", "--events", "ndjson")

        ended = time.monotonic()
    assert finished.returncode == EXIT_EXPIRED
    # Counted from when the server issued the code (its clock is time.monotonic), not from
    # when `--start` had exited: that exit may come well after the answer.
    [asked] = [r.timestamp for r in server.requests if r.endpoint == "device_authorization"]
    assert 2.5 < ended - asked < 4.5  # the code's own expiry, not 3 s after the hand-over
    polls = [r.timestamp for r in server.requests if r.endpoint == "token"]
    assert all(poll < asked + 3 for poll in polls)  # never a poll past the expiry
    assert events(finished.stdout)[-1] == {
        "event": "error",
        "error": "expired_token",
        "message": events(finished.stdout)[-1]["message"],
        "exit_code": EXIT_EXPIRED,
    }
    gone = run(env, "login", *manual(server, store), "--finish")
    assert gone.returncode == EXIT_ERROR  # an expired login is forgotten


def test_a_denied_login_is_an_error_event_and_forgotten(
    server: FakeAuthorizationServer, env: dict[str, str], store: Path
) -> None:
    server.plan("deny")
    assert run(env, "login", *manual(server, store), "--start").returncode == EXIT_OK

    finished = run(env, "login", *manual(server, store), "--finish", "--events", "ndjson")

    assert finished.returncode == EXIT_DENIED
    last = events(finished.stdout)[-1]
    assert (last["event"], last["error"], last["exit_code"]) == ("error", "access_denied", 3)
    assert not list(store.parent.glob("tokens.json.pending/*.json"))


def test_login_events_from_code_to_success_hold_no_secret_unless_asked(
    server: FakeAuthorizationServer, env: dict[str, str], store: Path
) -> None:
    server.plan("pending", "approve")
    with subprocess.Popen(
        [*LOCTOCAT, "login", *manual(server, store), "--events", "ndjson"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())  # an agent acts on the first line
        assert first["event"] == "code"
        assert first["user_code"] == server.grants[-1].user_code
        rest = process.stdout.read()  # what readline() read ahead is in here too
        process.wait(timeout=60)
    assert process.returncode == EXIT_OK
    lines = [first, *events(rest)]
    assert [e["event"] for e in lines] == ["code", "waiting", "waiting", "success"]
    success = lines[-1]
    assert success["server"] == "127.0.0.1"
    assert "access_token" not in success
    issued = server.issued_tokens[-1]
    assert issued.access_token not in rest
    assert server.grants[-1].device_code not in rest

    server.plan("approve")
    shown = run(env, "login", *manual(server, store), "--events", "ndjson", "--print-token")
    assert events(shown.stdout)[-1]["access_token"] == server.issued_tokens[-1].access_token


def test_token_events_log_in_without_a_terminal_for_the_program_reading_them(
    server: FakeAuthorizationServer, env: dict[str, str], store: Path
) -> None:
    server.plan("approve")
    done = run(env, "token", *manual(server, store), "--events", "ndjson")
    assert done.returncode == EXIT_OK, done.stderr
    assert [e["event"] for e in events(done.stdout)] == ["code", "waiting", "success"]

    # Logged in now: the stored token, no code; --print-token puts it in the event.
    again = run(env, "token", *manual(server, store), "--events", "ndjson", "--print-token")
    [success] = events(again.stdout)
    assert success["access_token"] == server.issued_tokens[-1].access_token


def test_usage_errors_are_events_too_and_print_token_needs_events(
    server: FakeAuthorizationServer, env: dict[str, str], store: Path
) -> None:
    done = run(env, "login", "--client-id", "x", "--events", "ndjson")
    assert done.returncode == EXIT_USAGE
    [error] = events(done.stdout)
    assert (error["event"], error["exit_code"]) == ("error", EXIT_USAGE)

    bare = run(env, "token", *manual(server, store), "--print-token")
    assert bare.returncode == EXIT_USAGE
    assert "--events" in one_error_line(bare.stderr)


def test_a_token_that_cannot_be_stored_is_kept_off_the_event_stream(
    server: FakeAuthorizationServer, env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "t.json.lock").mkdir()  # read, but never written: each save's lock fails
    server.plan("approve")

    done = run(env, "login", *manual(server, tmp_path / "t.json"), "--events", "ndjson")

    assert done.returncode == EXIT_ERROR
    lines = events(done.stdout)  # every line is still an event
    assert lines[-1]["event"] == "error"
    assert server.issued_tokens[-1].access_token not in done.stdout
    assert "written to" in one_line(done.stderr)  # the private file that keeps it


def test_two_finishers_poll_one_at_a_time_and_one_gets_the_token(
    server: FakeAuthorizationServer, env: dict[str, str], store: Path
) -> None:
    server.plan("pending", "pending", "approve")
    assert run(env, "login", *manual(server, store), "--start").returncode == EXIT_OK
    finishers = [
        subprocess.Popen(
            [*LOCTOCAT, "login", *manual(server, store), "--finish", "--events", "ndjson"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=60)[0] for process in finishers]

    codes = sorted(process.returncode for process in finishers)
    assert codes == [EXIT_OK, EXIT_ERROR]
    assert len(server.issued_tokens) == 1
    polls = [r for r in server.requests if r.endpoint == "token"]
    assert len(polls) == 3  # one poller: the other waited for it
    success = next(events(out)[-1] for out in outputs if events(out)[-1]["event"] == "success")
    assert success["token_type"] == "Bearer"


def test_a_dpop_bound_token_stays_out_of_the_events_even_with_print_token(
    env: dict[str, str], store: Path
) -> None:
    server = FakeAuthorizationServer(dpop=True)
    server.plan("approve")
    with server.serve_http():
        done = run(
            env, "login", *manual(server, store), "--dpop", "--events", "ndjson", "--print-token"
        )
    assert done.returncode == EXIT_OK, done.stderr
    success = events(done.stdout)[-1]
    assert success["token_type"] == "DPoP"
    assert "access_token" not in success
    assert server.issued_tokens[-1].access_token not in done.stdout
