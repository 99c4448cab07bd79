"""Tests of the interop harness itself: whole device flows against the real ``oidc-provider``
with plain httpx calls (no loctocat). They also pin down how this peer behaves, which is what
loctocat's interop tests rely on:

* the device authorization response has no ``interval`` (RFC 8628 §3.2: default 5 s);
* polling too fast never yields ``slow_down`` (the peer does not throttle);
* refresh tokens of the public client rotate (the old one is then ``invalid_grant``);
* redeeming a device code a second time gives ``invalid_grant`` AND revokes what it issued;
* an expired device code gives ``expired_token``; a denied one ``access_denied`` once, then
  ``invalid_grant`` (the code is consumed);
* a request with no scope at all ends in ``access_denied`` after the user signs in;
* the ID token carries only ``sub`` of the account's claims (``name`` of the profile scope is
  for the userinfo endpoint), and a refresh brings a new ID token when ``openid`` was granted;
* the userinfo endpoint refuses an access token without the ``openid`` scope: HTTP 403,
  ``error="insufficient_scope"`` (RFC 6750 §3.1) in ``WWW-Authenticate``;
* restarted from its state directory, the peer keeps its grants; restarted with a new signing
  key, it signs with it and still publishes the previous one.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from oidc_peer import (
    DEVICE_GRANT,
    SERVER_SCRIPT,
    OIDCPeer,
    ReloadablePeer,
    check_available,
    parse_forms,
    run_peer,
)

pytestmark = pytest.mark.interop

SCOPE = "openid offline_access"


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        yield client


def device_authorization(
    http: httpx.Client, peer: OIDCPeer, scope: str | None = SCOPE, **extra: str
) -> dict[str, Any]:
    data = {"client_id": peer.client_id, **extra}
    if scope is not None:
        data["scope"] = scope
    response = http.post(peer.device_authorization_url, data=data)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


def poll(http: httpx.Client, peer: OIDCPeer, device_code: str) -> httpx.Response:
    return http.post(
        peer.token_url,
        data={"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": peer.client_id},
    )


def error_of(response: httpx.Response) -> str:
    assert response.status_code in (400, 401), (response.status_code, response.text)
    error: str = response.json()["error"]
    return error


def jwt_part(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def jwt_claims(token: str) -> dict[str, Any]:
    return jwt_part(token, 1)


def jwt_kid(token: str) -> str:
    return str(jwt_part(token, 0)["kid"])


def refresh(http: httpx.Client, peer: OIDCPeer, refresh_token: str) -> httpx.Response:
    return http.post(
        peer.token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": peer.client_id,
        },
    )


def published_kids(http: httpx.Client, peer: OIDCPeer) -> list[str]:
    response = http.get(peer.jwks_uri)
    assert response.status_code == 200, response.text
    return [key["kid"] for key in response.json()["keys"]]


def userinfo(http: httpx.Client, peer: OIDCPeer, access_token: str) -> httpx.Response:
    return http.get(peer.userinfo_url, headers={"Authorization": f"Bearer {access_token}"})


# -- discovery and the device authorization response ------------------------------------------


def test_discovery(oidc_peer: OIDCPeer) -> None:
    assert oidc_peer.issuer == f"http://127.0.0.1:{oidc_peer.port}"
    assert oidc_peer.device_authorization_url == f"{oidc_peer.issuer}/device/auth"
    assert oidc_peer.token_url == f"{oidc_peer.issuer}/token"
    assert oidc_peer.userinfo_url == f"{oidc_peer.issuer}/me"
    assert oidc_peer.revocation_url == f"{oidc_peer.issuer}/token/revocation"
    assert DEVICE_GRANT in oidc_peer.metadata["grant_types_supported"]
    assert "refresh_token" in oidc_peer.metadata["grant_types_supported"]
    assert {"openid", "offline_access"} <= set(oidc_peer.metadata["scopes_supported"])


def test_device_response_has_no_interval(oidc_peer: OIDCPeer, http: httpx.Client) -> None:
    body = device_authorization(http, oidc_peer)
    # Exactly these members: no `interval`, so clients must use RFC 8628's default of 5 s.
    assert set(body) == {
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_in",
    }
    assert "interval" not in body
    assert body["expires_in"] == 600
    assert body["verification_uri"] == f"{oidc_peer.issuer}/device"
    assert body["verification_uri_complete"] == (
        f"{oidc_peer.issuer}/device?user_code={body['user_code']}"
    )
    # Default user code: 8 base-20 consonants shown as XXXX-XXXX.
    assert len(body["user_code"]) == 9
    assert body["user_code"][4] == "-"


def test_unknown_client_is_rejected(oidc_peer: OIDCPeer, http: httpx.Client) -> None:
    response = http.post(oidc_peer.device_authorization_url, data={"client_id": "nobody"})
    assert response.status_code == 401
    assert error_of(response) == "invalid_client"


# -- the whole flow ---------------------------------------------------------------------------


def test_full_flow(oidc_peer: OIDCPeer, http: httpx.Client) -> None:
    codes = device_authorization(http, oidc_peer)

    pending = poll(http, oidc_peer, codes["device_code"])
    assert error_of(pending) == "authorization_pending"

    assert oidc_peer.approve(codes["user_code"]) == "approved"

    response = poll(http, oidc_peer, codes["device_code"])
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    assert set(tokens) == {
        "access_token",
        "expires_in",
        "id_token",
        "refresh_token",
        "scope",
        "token_type",
    }
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["scope"] == SCOPE
    id_claims = jwt_claims(tokens["id_token"])
    assert id_claims["sub"] == "alice"
    assert id_claims["aud"] == oidc_peer.client_id
    assert id_claims["iss"] == oidc_peer.issuer

    me = userinfo(http, oidc_peer, tokens["access_token"])
    assert me.status_code == 200, me.text
    assert me.json()["sub"] == "alice"

    # Refresh: the public client's refresh token rotates, the old one stops working.
    refreshed = http.post(
        oidc_peer.token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": oidc_peer.client_id,
        },
    )
    assert refreshed.status_code == 200, refreshed.text
    new = refreshed.json()
    assert new["access_token"] != tokens["access_token"]
    assert new["refresh_token"] != tokens["refresh_token"]
    assert new["scope"] == SCOPE
    assert "id_token" in new
    reused = http.post(
        oidc_peer.token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": oidc_peer.client_id,
        },
    )
    assert error_of(reused) == "invalid_grant"
    # Reusing a rotated refresh token is treated as theft: the whole grant is revoked.
    assert userinfo(http, oidc_peer, new["access_token"]).status_code == 401


def test_revocation(oidc_peer: OIDCPeer, http: httpx.Client) -> None:
    codes = device_authorization(http, oidc_peer)
    oidc_peer.approve(codes["user_code"])
    tokens = poll(http, oidc_peer, codes["device_code"]).json()
    assert userinfo(http, oidc_peer, tokens["access_token"]).status_code == 200

    revoke = http.post(
        oidc_peer.revocation_url,
        data={"token": tokens["access_token"], "client_id": oidc_peer.client_id},
    )
    assert revoke.status_code == 200
    assert revoke.content == b""
    gone = userinfo(http, oidc_peer, tokens["access_token"])
    assert gone.status_code == 401
    assert error_of(gone) == "invalid_token"

    revoke = http.post(
        oidc_peer.revocation_url,
        data={
            "token": tokens["refresh_token"],
            "token_type_hint": "refresh_token",
            "client_id": oidc_peer.client_id,
        },
    )
    assert revoke.status_code == 200
    after = http.post(
        oidc_peer.token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": oidc_peer.client_id,
        },
    )
    assert error_of(after) == "invalid_grant"


def test_deny(oidc_peer: OIDCPeer, http: httpx.Client) -> None:
    codes = device_authorization(http, oidc_peer)
    assert oidc_peer.approve(codes["user_code"], deny=True) == "denied"
    response = poll(http, oidc_peer, codes["device_code"])
    assert error_of(response) == "access_denied"
    assert response.json()["error_description"] == "End-User aborted interaction"
    # The error is reported once; the device code is consumed by it.
    assert error_of(poll(http, oidc_peer, codes["device_code"])) == "invalid_grant"


@pytest.mark.parametrize("deny", [False, True])
def test_verification_uri_complete(oidc_peer: OIDCPeer, http: httpx.Client, deny: bool) -> None:
    codes = device_authorization(http, oidc_peer)
    outcome = oidc_peer.approve(
        None, deny=deny, verification_uri=codes["verification_uri_complete"]
    )
    assert outcome == ("denied" if deny else "approved")
    response = poll(http, oidc_peer, codes["device_code"])
    if deny:
        assert error_of(response) == "access_denied"
    else:
        assert response.status_code == 200, response.text


def test_user_code_is_case_and_dash_insensitive(oidc_peer: OIDCPeer, http: httpx.Client) -> None:
    codes = device_authorization(http, oidc_peer)
    typed = codes["user_code"].replace("-", "").lower()
    assert oidc_peer.approve(typed) == "approved"
    assert poll(http, oidc_peer, codes["device_code"]).status_code == 200


@pytest.mark.anyio
async def test_approve_async(oidc_peer: OIDCPeer, anyio_backend: str) -> None:
    async with httpx.AsyncClient(timeout=10.0) as http:
        response = await http.post(
            oidc_peer.device_authorization_url,
            data={"client_id": oidc_peer.client_id, "scope": SCOPE},
        )
        codes = response.json()
        assert await oidc_peer.approve_async(codes["user_code"]) == "approved"
        tokens = await http.post(
            oidc_peer.token_url,
            data={
                "grant_type": DEVICE_GRANT,
                "device_code": codes["device_code"],
                "client_id": oidc_peer.client_id,
            },
        )
        assert tokens.status_code == 200, tokens.text


# -- peer quirks loctocat has to live with -----------------------------------------------------


def test_polling_too_fast_is_not_slowed_down(oidc_peer: OIDCPeer, http: httpx.Client) -> None:
    """oidc-provider 9 defines ``slow_down`` but never sends it: it does not throttle polls."""
    codes = device_authorization(http, oidc_peer)
    errors = [error_of(poll(http, oidc_peer, codes["device_code"])) for _ in range(6)]
    assert errors == ["authorization_pending"] * 6


def test_redeeming_twice_revokes(oidc_peer: OIDCPeer, http: httpx.Client) -> None:
    """A client must stop polling after success: a second redemption kills the tokens."""
    codes = device_authorization(http, oidc_peer)
    oidc_peer.approve(codes["user_code"])
    tokens = poll(http, oidc_peer, codes["device_code"]).json()
    again = poll(http, oidc_peer, codes["device_code"])
    assert error_of(again) == "invalid_grant"
    assert userinfo(http, oidc_peer, tokens["access_token"]).status_code == 401


def test_unknown_device_code(oidc_peer: OIDCPeer, http: httpx.Client) -> None:
    assert error_of(poll(http, oidc_peer, "no-such-device-code")) == "invalid_grant"


def test_no_scope_ends_in_access_denied(oidc_peer: OIDCPeer, http: httpx.Client) -> None:
    """Without any scope nothing can be granted; the peer aborts after sign-in."""
    codes = device_authorization(http, oidc_peer, scope=None)
    with pytest.raises(AssertionError, match="was interrupted"):
        oidc_peer.approve(codes["user_code"])
    assert error_of(poll(http, oidc_peer, codes["device_code"])) == "access_denied"


def test_without_offline_access_no_refresh_token(oidc_peer: OIDCPeer, http: httpx.Client) -> None:
    codes = device_authorization(http, oidc_peer, scope="openid")
    oidc_peer.approve(codes["user_code"])
    tokens = poll(http, oidc_peer, codes["device_code"]).json()
    assert "refresh_token" not in tokens
    assert "id_token" in tokens
    assert tokens["scope"] == "openid"


def client_auth(peer: OIDCPeer, method: str, secret: str) -> tuple[dict[str, str], httpx.Auth]:
    """(form fields, HTTP auth) that authenticate a confidential client."""
    if method == "client_secret_basic":
        return {}, httpx.BasicAuth(peer.secret_client_id, secret)
    return {"client_id": peer.secret_post_client_id, "client_secret": secret}, httpx.Auth()


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_confidential_client(oidc_peer: OIDCPeer, http: httpx.Client, method: str) -> None:
    creds, basic = client_auth(oidc_peer, method, oidc_peer.client_secret)
    response = http.post(
        oidc_peer.device_authorization_url, data={"scope": SCOPE, **creds}, auth=basic
    )
    assert response.status_code == 200, response.text
    codes = response.json()
    oidc_peer.approve(codes["user_code"])
    token = http.post(
        oidc_peer.token_url,
        data={"grant_type": DEVICE_GRANT, "device_code": codes["device_code"], **creds},
        auth=basic,
    )
    assert token.status_code == 200, token.text
    assert "refresh_token" in token.json()

    creds, basic = client_auth(oidc_peer, method, "wrong secret")
    wrong = http.post(oidc_peer.device_authorization_url, data=creds, auth=basic)
    assert wrong.status_code == 401
    assert error_of(wrong) == "invalid_client"


def test_userinfo_refuses_a_token_without_openid(oidc_peer: OIDCPeer, http: httpx.Client) -> None:
    codes = device_authorization(http, oidc_peer, scope="offline_access")
    oidc_peer.approve(codes["user_code"])
    tokens = poll(http, oidc_peer, codes["device_code"]).json()
    assert tokens["scope"] == "offline_access"
    assert "id_token" not in tokens
    me = userinfo(http, oidc_peer, tokens["access_token"])
    assert me.status_code == 403
    challenge = me.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="openid"' in challenge


def test_id_token_has_only_sub_and_userinfo_has_the_profile(
    oidc_peer: OIDCPeer, http: httpx.Client
) -> None:
    codes = device_authorization(http, oidc_peer, scope="openid profile")
    oidc_peer.approve(codes["user_code"], login="ada")
    tokens = poll(http, oidc_peer, codes["device_code"]).json()
    claims = jwt_claims(tokens["id_token"])
    assert claims["sub"] == "ada"
    assert "name" not in claims
    me = userinfo(http, oidc_peer, tokens["access_token"])
    assert me.json() == {"sub": "ada", "name": "Ada"}


# -- restarts and key rotation -----------------------------------------------------------------


def test_a_reloaded_peer_keeps_its_grants_and_rotates_its_key(
    http: httpx.Client, tmp_path: Path
) -> None:
    with ReloadablePeer(tmp_path / "state") as deployment:
        peer = deployment.start()
        codes = device_authorization(http, peer)
        peer.approve(codes["user_code"], login="ada")
        tokens = poll(http, peer, codes["device_code"]).json()
        assert published_kids(http, peer) == ["interop"]
        assert jwt_kid(tokens["id_token"]) == "interop"

        # A plain restart: same issuer, same key, and the grant is still there.
        peer = deployment.reload()
        assert published_kids(http, peer) == ["interop"]
        assert userinfo(http, peer, tokens["access_token"]).status_code == 200
        renewed = refresh(http, peer, tokens["refresh_token"])
        assert renewed.status_code == 200, renewed.text
        tokens = renewed.json()
        assert jwt_kid(tokens["id_token"]) == "interop"

        # Rotation: the new key signs, the previous one is still published after it.
        peer = deployment.reload(rotate_signing_key=True)
        new_kid, old_kid = published_kids(http, peer)
        assert old_kid == "interop"
        assert new_kid != old_kid
        renewed = refresh(http, peer, tokens["refresh_token"])
        assert renewed.status_code == 200, renewed.text
        rotated = renewed.json()
        assert jwt_kid(rotated["id_token"]) == new_kid
        assert jwt_claims(rotated["id_token"])["sub"] == "ada"
        assert userinfo(http, peer, rotated["access_token"]).status_code == 200
        # The access log counts what the peer was asked, across its restarts.
        assert peer.requests_to(peer.jwks_uri) == 3
        assert peer.requests_to(peer.token_url, "POST") == 3


# -- the harness must be able to fail ----------------------------------------------------------


def test_approve_wrong_code_fails(oidc_peer: OIDCPeer) -> None:
    with pytest.raises(AssertionError, match="code you entered is incorrect"):
        oidc_peer.approve("BCDF-GHJK")


def test_approve_used_code_fails(oidc_peer: OIDCPeer, http: httpx.Client) -> None:
    codes = device_authorization(http, oidc_peer)
    oidc_peer.approve(codes["user_code"], deny=True)
    with pytest.raises(AssertionError, match="unexpected page"):
        oidc_peer.approve(codes["user_code"])


CONFIRM_PAGE = """<!DOCTYPE html><html><head><title>t</title><style>p{}</style></head><body>
<form id="op.deviceConfirmForm" method="post" action="/device">
<input type="hidden" name="xsrf" value="x&amp;y"/>
<input type="hidden" name="user_code" value="ABCD-EFGH"/>
<input type="hidden" name="confirm" value="yes"/>
<input type="checkbox" name="unchecked" value="1"/>
</form>
<button autofocus type="submit" form="op.deviceConfirmForm">Continue</button>
<div><button type="submit" form="op.deviceConfirmForm" value="yes" name="abort">[ Abort ]</button>
</div>
<form action="/other"><input name="q"><button type="submit">Go</button></form>
</body></html>"""


def test_form_parser_sends_only_the_clicked_button() -> None:
    confirm, other = parse_forms(CONFIRM_PAGE)
    assert confirm.id == "op.deviceConfirmForm"
    assert (confirm.action, confirm.method) == ("/device", "post")
    assert confirm.fields == [("xsrf", "x&y"), ("user_code", "ABCD-EFGH"), ("confirm", "yes")]
    assert [(b.name, b.text) for b in confirm.buttons] == [
        (None, "Continue"),
        ("abort", "[ Abort ]"),
    ]
    fields = confirm.fields
    assert confirm.submission(click=confirm.button(name=None)) == fields
    assert confirm.submission(click=confirm.button(name="abort")) == [*fields, ("abort", "yes")]
    assert (other.action, other.method, other.text_inputs) == ("/other", "get", {"q"})
    assert other.submission({"q": "cat"}) == [("q", "cat")]
    with pytest.raises(AssertionError, match="no fields"):
        other.submission({"nope": "x"})


# -- process lifecycle -------------------------------------------------------------------------


def test_expired_device_code(oidc_peer: OIDCPeer, http: httpx.Client) -> None:
    """A separate, short-lived peer whose device codes live 1 s."""
    with run_peer(device_code_ttl=1) as short:
        codes = device_authorization(http, short)
        assert codes["expires_in"] == 1
        time.sleep(1.5)
        expired = poll(http, short, codes["device_code"])
        assert error_of(expired) == "expired_token"
        assert expired.json()["error_description"] == "device code is expired"
        with pytest.raises(AssertionError, match="code you entered is incorrect"):
            short.approve(codes["user_code"])


@pytest.mark.parametrize("how", ["sigterm", "stdin-eof"])
def test_server_exits(oidc_peer: OIDCPeer, how: str) -> None:
    node = check_available()
    with subprocess.Popen(
        [node, str(SERVER_SCRIPT), "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=dict(os.environ),
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdin is not None
        ready = json.loads(proc.stdout.readline())
        assert ready["issuer"] == f"http://127.0.0.1:{ready['port']}"
        if how == "sigterm":
            proc.send_signal(signal.SIGTERM)
        else:
            proc.stdin.close()
        assert proc.wait(10) == 0
        assert proc.stdout.read() == b""  # nothing but the ready line on stdout
