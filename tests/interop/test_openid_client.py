"""The fake server's ID tokens judged by a real, independent client: ``openid-client`` 6 (Node.js).

``openid_client_device.mjs`` discovers the fake server over loopback HTTP, starts the device
flow with the scope "openid profile email" and prints the user code; this test approves it with
`server.approve()`, as a person would on the verification page. The client then polls, checks
the ID token (its signature against the served JWKS, `alg`, `iss`, `aud`, `azp`, `exp`, `sub`),
refreshes once and checks that ID token too, and prints the claims it validated. With an
`id_token_fault` set, it must refuse the token, naming the check that failed.

openid-client waits the announced interval (1 s) before its first poll, so each flow takes
about a second.
"""

from __future__ import annotations

import json
import selectors
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jwt
import pytest
from oidc_peer import REPO_ROOT

from loctocat.testing import FakeAuthorizationServer, IDTokenFault

pytestmark = pytest.mark.interop

SCRIPT = Path(__file__).resolve().with_name("openid_client_device.mjs")
CLIENT_ID = "openid-client-interop"
Algorithm = Literal["RS256", "ES256"]
ALGORITHMS: list[Algorithm] = ["RS256", "ES256"]
TIMEOUT = 30.0

# What openid-client (through oauth4webapi) says when it refuses each broken ID token.
REFUSALS: dict[IDTokenFault, str] = {
    "bad_signature": "JWT signature verification failed",
    "wrong_audience": 'unexpected JWT "aud" (audience) claim value',
    "wrong_issuer": 'unexpected JWT "iss" (issuer) claim value',
    "expired": 'unexpected JWT "exp" (expiration time) claim value',
    "unknown_kid": "no applicable keys found",
    "alg_none": 'unexpected JWT "alg" header parameter',
    "hmac": 'unexpected JWT "alg" header parameter',
    "multiple_audiences": 'ID Token "aud" (audience) claim includes additional untrusted audiences',
    "wrong_azp": 'unexpected ID Token "azp" (authorized party) claim value',
    "missing_sub": 'JWT "sub" (subject) claim missing',
}


@dataclass
class Run:
    """How one run of the script went."""

    issuer: str  # the fake server's, while it served HTTP
    device: dict[str, Any] | None  # the first line: the user code, once a device code was issued
    result: dict[str, Any] | None  # the second line: the validated claims
    returncode: int
    stderr: str


def _read_line(proc: subprocess.Popen[str], deadline: float) -> str:
    """The next line of the script's stdout ("" at its end), waiting no later than `deadline`."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while not selector.select(max(0.0, deadline - time.monotonic())):
            if time.monotonic() >= deadline:
                raise AssertionError(f"{SCRIPT.name} printed nothing within {TIMEOUT} s")
    # The script writes each line at once, so a readable pipe holds a whole line.
    return proc.stdout.readline()


def run_device_flow(
    node: str,
    server: FakeAuthorizationServer,
    *,
    scope: str = "openid profile email",
    user: Mapping[str, object] | None = None,
) -> Run:
    """Run the script against `server` over loopback HTTP, approving its code as `user`."""
    with (
        server.serve_http() as issuer,
        subprocess.Popen(
            [node, str(SCRIPT), issuer, CLIENT_ID, scope],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as proc,
    ):
        try:
            deadline = time.monotonic() + TIMEOUT
            first = _read_line(proc, deadline)
            device = json.loads(first) if first else None
            if device is not None:
                assert device["verification_uri"] == server.verification_uri
                server.approve(device["user_code"], user=user)
            rest, stderr = proc.communicate(timeout=max(0.0, deadline - time.monotonic()))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    lines = rest.splitlines()
    assert len(lines) <= 1, rest
    result = json.loads(lines[0]) if lines else None
    return Run(issuer, device, result, proc.returncode, stderr)


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_openid_client_validates_the_id_tokens(openid_client_node: str, alg: Algorithm) -> None:
    server = FakeAuthorizationServer(client_id=CLIENT_ID, interval=1, id_token_alg=alg)
    run = run_device_flow(openid_client_node, server)
    assert run.returncode == 0, run.stderr
    assert run.result is not None
    claims, refreshed = run.result["claims"], run.result["refreshed_claims"]
    assert claims["iss"] == run.issuer
    assert claims["aud"] == CLIENT_ID
    assert claims["sub"] == "fake-user-1"
    assert claims["name"] == "Fake User"
    assert claims["email"] == "fakeuser@example.test"
    assert claims["email_verified"] is True
    assert refreshed is not None
    assert refreshed["sub"] == claims["sub"]
    assert refreshed["auth_time"] == claims["auth_time"]
    assert (refreshed["iss"], refreshed["aud"]) == (claims["iss"], claims["aud"])
    # The signatures were checked against the served keys.
    endpoints = [request.endpoint for request in server.requests]
    assert endpoints[0] == "discovery"
    assert "jwks" in endpoints
    assert [token.grant_type for token in server.issued_tokens] == ["device_code", "refresh_token"]
    assert jwt.get_unverified_header(server.issued_tokens[0].id_token or "")["alg"] == alg


def test_openid_client_sees_the_user_who_approved(openid_client_node: str) -> None:
    server = FakeAuthorizationServer(client_id=CLIENT_ID, interval=1)
    user = {"sub": "alice", "name": "Alice", "email": "alice@example.test"}
    run = run_device_flow(openid_client_node, server, scope="openid email", user=user)
    assert run.returncode == 0, run.stderr
    assert run.result is not None
    claims = run.result["claims"]
    assert claims["sub"] == run.result["refreshed_claims"]["sub"] == "alice"
    assert claims["email"] == "alice@example.test"
    assert "name" not in claims  # no profile scope


@pytest.mark.parametrize("alg", ALGORITHMS)
@pytest.mark.parametrize("fault", list(REFUSALS))
def test_openid_client_refuses_a_broken_id_token(
    openid_client_node: str, alg: Algorithm, fault: IDTokenFault
) -> None:
    server = FakeAuthorizationServer(
        client_id=CLIENT_ID, interval=1, id_token_alg=alg, id_token_fault=fault
    )
    run = run_device_flow(openid_client_node, server)
    assert run.device is not None, run.stderr  # the flow itself went through
    assert run.returncode == 1, (run.result, run.stderr)
    assert run.result is None
    assert run.stderr.startswith("openid_client_device: "), run.stderr
    assert REFUSALS[fault] in run.stderr
    assert [token.grant_type for token in server.issued_tokens] == ["device_code"]
