"""Resumable logins: `pending_login()` in one process, `resume()` and `poll()` in another."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta

import pytest

from loctocat import Authenticator, ConfigurationError, ExpiredToken, PendingLogin
from loctocat.testing import FakeAuthorizationServer

START = textwrap.dedent(
    """
    import json, sys
    from loctocat import Authenticator
    auth = Authenticator("cli", sys.argv[1], sys.argv[2], ["read"])
    auth.ping()
    print(json.dumps(auth.pending_login().to_dict()))
    """
)
FINISH = textwrap.dedent(
    """
    import json, sys
    from loctocat import Authenticator
    auth = Authenticator("cli", sys.argv[1], sys.argv[2], ["read"])
    auth.resume(json.loads(sys.stdin.read()))
    print(auth.poll())
    """
)


def python(script: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_login_started_in_one_process_is_polled_to_the_end_in_another() -> None:
    server = FakeAuthorizationServer(interval=1)
    server.plan("pending", "slow_down", "approve")
    with server.serve_http():
        urls = (server.device_authorization_url, server.token_url)
        started = python(START, *urls)
        assert started.returncode == 0, started.stderr
        handed_over = time.monotonic()

        finished = python(FINISH, *urls, stdin=started.stdout)

    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == server.issued_tokens[-1].access_token
    polls = [r.timestamp for r in server.requests if r.endpoint == "token"]
    assert len(polls) == 3
    assert polls[0] - handed_over >= 1 - 0.2  # the interval before the first poll too
    assert polls[2] - polls[1] >= 6 - 0.2  # slow_down: 5 s more, in the new process


def test_a_resumed_login_ends_at_the_codes_own_expiry() -> None:
    server = FakeAuthorizationServer(interval=1, expires_in=3)
    with server.serve_http():
        with Authenticator(
            "cli", server.device_authorization_url, server.token_url, "read"
        ) as auth:
            auth.ping()
            pending = auth.pending_login().to_dict()
        time.sleep(1.5)  # handed over late
        other = Authenticator("cli", server.device_authorization_url, server.token_url, "read")
        other.resume(pending)
        began = time.monotonic()
        with pytest.raises(ExpiredToken):
            other.poll()
        assert time.monotonic() - began < 3 - 1.5 + 1  # what was left of the 3 s, not 3 s more

        # Already expired when resumed: no poll at all.
        before = len(server.requests)
        late = Authenticator("cli", server.device_authorization_url, server.token_url, "read")
        late.resume(pending)
        with pytest.raises(ExpiredToken):
            late.poll()
        assert len(server.requests) == before


def test_the_pending_login_keeps_its_device_code_out_of_sight_and_round_trips() -> None:
    import httpx

    server = FakeAuthorizationServer()
    with httpx.Client(transport=server.transport()) as client:
        auth = Authenticator(
            "cli",
            "https://auth.example.test/device_authorization",
            "https://auth.example.test/token",
            http_client=client,
        )
        auth.ping()
        pending = auth.pending_login()
    device_code = server.grants[-1].device_code

    assert device_code not in repr(pending)
    data = pending.to_dict()
    assert data["secret"] == ["device_code"]
    assert data["device_code"] == device_code
    assert datetime.fromisoformat(data["expires_at"]).tzinfo is not None
    again = PendingLogin.from_dict(json.loads(json.dumps(data)))
    assert again == pending


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"format": 99}, "format"),
        ({"device_code": ""}, "device_code"),
        ({"expires_at": "tomorrow"}, "expires_at"),
        ({"expires_at": "2030-01-01T00:00:00"}, "time zone"),
        ({"interval": -1}, "interval"),
        ({"scopes": "read"}, "scopes"),
    ],
)
def test_a_malformed_pending_login_is_refused_naming_the_field(
    change: dict[str, object], complaint: str
) -> None:
    good = PendingLogin.from_dict(_pending_dict())
    auth = Authenticator("cli", "https://a.example/device", "https://a.example/token", "read")
    with pytest.raises(ConfigurationError, match=complaint):
        auth.resume({**good.to_dict(), **change})


def test_a_pending_login_of_another_client_or_scope_set_is_refused() -> None:
    data = _pending_dict()
    for client_id, scopes in (("other", "read"), ("cli", "read write")):
        auth = Authenticator(
            client_id, "https://a.example/device", "https://a.example/token", scopes
        )
        with pytest.raises(ConfigurationError, match="same server, client and scopes"):
            auth.resume(data)


def _pending_dict() -> dict[str, object]:
    expires = datetime.now(UTC) + timedelta(minutes=5)
    return {
        "format": 1,
        "secret": ["device_code"],
        "device_code": "dc-1",
        "user_code": "WDJB-MJHT",
        "verification_uri": "https://a.example/device",
        "verification_uri_complete": None,
        "expires_at": expires.isoformat(),
        "expires_in": 300,
        "interval": 5,
        "extra": {},
        "token_url": "https://a.example/token",
        "client_id": "cli",
        "scopes": ["read"],
    }


@pytest.mark.parametrize(
    ("change", "complaint"),
    [({"interval": float("inf")}, "finite"), ({"expires_in": float("inf")}, "finite")],
)
def test_an_infinite_number_in_a_pending_login_is_refused(
    change: dict[str, object], complaint: str
) -> None:
    auth = Authenticator("cli", "https://a.example/device", "https://a.example/token", "read")
    with pytest.raises(ConfigurationError, match=complaint):
        auth.resume({**_pending_dict(), **change})


def test_a_pending_login_claiming_years_is_polled_for_a_day_at_most() -> None:
    from loctocat._flow import MAX_EXPIRES_IN

    auth = Authenticator("cli", "https://a.example/device", "https://a.example/token", "read")
    auth.resume({**_pending_dict(), "expires_at": "9999-12-31T23:59:59+00:00"})
    grant = auth._pending_grant()
    assert grant.expires_at - time.monotonic() <= MAX_EXPIRES_IN
