"""The fake server as an OpenID Connect provider: signed ID tokens, the JWKS, key rotation,
discovery, the authorization endpoint, userinfo claims and deliberately broken ID tokens.

ID tokens are checked with PyJWT alone, against the keys the server publishes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal, get_args

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from loctocat.testing import DEVICE_CODE_GRANT_TYPE, FakeAuthorizationServer, IDTokenFault

CLIENT_ID = "oidc-client"
Algorithm = Literal["RS256", "ES256"]
ALGORITHMS: list[Algorithm] = ["RS256", "ES256"]
SOUND_CLAIMS = {"iss", "sub", "aud", "exp", "iat", "auth_time"}
PROFILE = {"name": "Fake User", "preferred_username": "fakeuser"}
EMAIL = {"email": "fakeuser@example.test", "email_verified": True}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server() -> FakeAuthorizationServer:
    return FakeAuthorizationServer()


@pytest.fixture
def client(server: FakeAuthorizationServer) -> Iterator[httpx.Client]:
    with httpx.Client(transport=server.transport()) as client:
        yield client


def start(
    client: httpx.Client, server: FakeAuthorizationServer, scope: str | None = "openid"
) -> dict[str, Any]:
    form = {"client_id": CLIENT_ID} if scope is None else {"client_id": CLIENT_ID, "scope": scope}
    response = client.post(server.device_authorization_url, data=form)
    assert response.status_code == 200, response.text
    device: dict[str, Any] = response.json()
    return device


def poll(client: httpx.Client, server: FakeAuthorizationServer, device_code: str) -> dict[str, Any]:
    form = {
        "client_id": CLIENT_ID,
        "grant_type": DEVICE_CODE_GRANT_TYPE,
        "device_code": device_code,
    }
    response = client.post(server.token_url, data=form)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def login(
    client: httpx.Client, server: FakeAuthorizationServer, scope: str | None = "openid"
) -> dict[str, Any]:
    """A whole device flow, approved by the server's default user; the token answer."""
    device = start(client, server, scope)
    server.approve(device["user_code"])
    return poll(client, server, device["device_code"])


def refresh(
    client: httpx.Client, server: FakeAuthorizationServer, token: str, **form: str
) -> dict[str, Any]:
    data = {"client_id": CLIENT_ID, "grant_type": "refresh_token", "refresh_token": token}
    response = client.post(server.token_url, data={**data, **form})
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def jwks_of(client: httpx.Client, server: FakeAuthorizationServer) -> dict[str, Any]:
    response = client.get(server.jwks_url)
    assert response.status_code == 200
    jwks: dict[str, Any] = response.json()
    return jwks


def verify(
    id_token: str, jwks: dict[str, Any], server: FakeAuthorizationServer, leeway: float = 0
) -> dict[str, Any]:
    """Validate an ID token as a careful client does: PyJWT against the published keys.

    `leeway`: seconds of clock skew to allow, for tokens stamped by a fake clock moved ahead.
    """
    key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(id_token)["kid"]]
    claims: dict[str, Any] = jwt.decode(
        id_token,
        key,
        algorithms=[server.id_token_alg],
        audience=CLIENT_ID,
        issuer=server.issuer,
        options={"require": sorted(SOUND_CLAIMS)},
        leeway=leeway,
    )
    return claims


def unverified(id_token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and the claims of a token, unchecked."""
    claims: dict[str, Any] = jwt.decode(id_token, options={"verify_signature": False})
    return jwt.get_unverified_header(id_token), claims


# -- Signed ID tokens ---------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_id_tokens_verify_against_the_served_jwks(alg: Algorithm) -> None:
    server = FakeAuthorizationServer(id_token_alg=alg)
    with server.serve_http(), httpx.Client() as client:
        before = int(time.time())
        tokens = login(client, server, "openid profile email")
        # PyJWT's own client fetches the keys over HTTP, as an application would.
        jwks_client = jwt.PyJWKClient(server.jwks_url)
        signing_key = jwks_client.get_signing_key_from_jwt(tokens["id_token"])
        claims = jwt.decode(
            tokens["id_token"],
            signing_key,
            algorithms=[alg],
            audience=CLIENT_ID,
            issuer=server.issuer,
            options={"require": sorted(SOUND_CLAIMS)},
        )
        assert claims["iss"] == server.issuer == server.base_url
        kid = server.jwks["keys"][0]["kid"]
    assert claims["sub"] == "fake-user-1"
    assert claims["aud"] == CLIENT_ID
    assert before <= claims["auth_time"] <= claims["iat"] <= int(time.time())
    assert claims["exp"] - claims["iat"] == 3600
    assert {k: claims[k] for k in [*PROFILE, *EMAIL]} == {**PROFILE, **EMAIL}
    assert "azp" not in claims
    header = jwt.get_unverified_header(tokens["id_token"])
    assert header["alg"] == alg
    assert header["kid"] == kid
    assert server.issued_tokens[-1].id_token == tokens["id_token"]


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_the_jwks_holds_the_public_signing_key(alg: Algorithm) -> None:
    server = FakeAuthorizationServer(id_token_alg=alg)
    with httpx.Client(transport=server.transport()) as client:
        answer = client.get(server.jwks_url)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["cache-control"] == "max-age=60"
    assert answer.json() == server.jwks
    [jwk] = server.jwks["keys"]
    assert jwk["alg"] == alg
    assert jwk["use"] == "sig"
    assert jwk["kid"]
    assert not {"d", "p", "q", "dp", "dq", "qi", "key_ops"} & set(jwk)  # public only
    key = jwt.PyJWK.from_dict(jwk).key
    if alg == "RS256":
        assert jwk["kty"] == "RSA"
        assert isinstance(key, rsa.RSAPublicKey)
        assert key.key_size == 2048
    else:
        assert (jwk["kty"], jwk["crv"]) == ("EC", "P-256")
        assert isinstance(key, ec.EllipticCurvePublicKey)
        assert isinstance(key.curve, ec.SECP256R1)
    assert server.requests[-1].endpoint == "jwks"


def test_the_jwks_is_read_only(server: FakeAuthorizationServer, client: httpx.Client) -> None:
    answer = client.post(server.jwks_url)
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    ("scope", "extra"),
    [
        ("openid", {}),
        ("openid profile", PROFILE),
        ("openid email", EMAIL),
        ("profile openid email offline_access", {**PROFILE, **EMAIL}),
    ],
)
def test_the_claims_follow_the_scope(
    server: FakeAuthorizationServer, client: httpx.Client, scope: str, extra: dict[str, object]
) -> None:
    tokens = login(client, server, scope)
    claims = verify(tokens["id_token"], jwks_of(client, server), server)
    assert set(claims) == SOUND_CLAIMS | set(extra)
    assert {name: claims[name] for name in extra} == extra


@pytest.mark.parametrize("scope", [None, "profile email", "openidx"])
def test_no_id_token_without_the_openid_scope(
    server: FakeAuthorizationServer, client: httpx.Client, scope: str | None
) -> None:
    tokens = login(client, server, scope)
    assert "id_token" not in tokens
    assert server.issued_tokens[-1].id_token is None


def test_a_refresh_keeps_the_subject_and_auth_time() -> None:
    clock = FakeClock()
    start = time.time() - clock.now
    server = FakeAuthorizationServer(clock=clock, wall_clock=lambda: start + clock.now)
    with httpx.Client(transport=server.transport()) as client:
        first = login(client, server, "openid profile")
        clock.now += 600
        second = refresh(client, server, first["refresh_token"])
        jwks = jwks_of(client, server)
    before = verify(first["id_token"], jwks, server)
    after = verify(second["id_token"], jwks, server, leeway=600)
    assert after["sub"] == before["sub"] == "fake-user-1"
    assert after["aud"] == before["aud"]
    assert after["iss"] == before["iss"]
    assert after["auth_time"] == before["auth_time"]
    assert after["iat"] == before["iat"] + 600
    assert after["name"] == "Fake User"
    assert server.issued_tokens[-1].grant_type == "refresh_token"
    assert server.issued_tokens[-1].id_token == second["id_token"]


def test_a_refresh_that_drops_openid_gets_no_id_token(
    server: FakeAuthorizationServer, client: httpx.Client
) -> None:
    first = login(client, server, "openid profile")
    second = refresh(client, server, first["refresh_token"], scope="profile")
    assert "id_token" not in second


def test_another_user_approves() -> None:
    server = FakeAuthorizationServer(user={"sub": "alice", "name": "Alice"})
    with httpx.Client(transport=server.transport()) as client:
        device = start(client, server, "openid profile email")
        server.approve(device["user_code"], user={"sub": "bob", "email": "bob@example.test"})
        tokens = poll(client, server, device["device_code"])
        alice = login(client, server, "openid profile email")
        server.user = {"sub": "carol"}  # later approvals only
        refreshed = refresh(client, server, tokens["refresh_token"])
        jwks = jwks_of(client, server)
        me = client.get(
            server.userinfo_url, headers={"Authorization": "Bearer " + tokens["access_token"]}
        )
    bob = verify(tokens["id_token"], jwks, server)
    assert bob["sub"] == "bob"
    assert bob["email"] == "bob@example.test"
    assert not {"name", "email_verified", "preferred_username"} & set(bob)  # bob has none
    assert verify(refreshed["id_token"], jwks, server)["sub"] == "bob"
    assert me.json()["sub"] == "bob"
    assert verify(alice["id_token"], jwks, server) | {"iat": 0, "exp": 0, "auth_time": 0} == {
        "iss": server.issuer,
        "aud": CLIENT_ID,
        "sub": "alice",
        "name": "Alice",
        "iat": 0,
        "exp": 0,
        "auth_time": 0,
    }


def test_a_user_needs_a_subject(server: FakeAuthorizationServer, client: httpx.Client) -> None:
    with pytest.raises(ValueError, match="'sub'"):
        FakeAuthorizationServer(user={"name": "Nobody"})
    device = start(client, server)
    with pytest.raises(ValueError, match="'sub'"):
        server.approve(device["user_code"], user={"sub": ""})
    assert server.grant().status == "pending"


def test_the_options_are_checked() -> None:
    with pytest.raises(ValueError, match="id_token_alg"):
        FakeAuthorizationServer(id_token_alg="HS256")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="id_token_fault"):
        FakeAuthorizationServer(id_token_fault="bad_sig")  # type: ignore[arg-type]


# -- Times --------------------------------------------------------------------------------------


def test_id_token_times_follow_the_wall_clock_not_a_fake_server_clock() -> None:
    clock = FakeClock()
    before = int(time.time())
    server = FakeAuthorizationServer(clock=clock, id_token_lifetime=300)
    with httpx.Client(transport=server.transport()) as client:
        clock.now += 86_400  # a day later, by the server's clock: codes and tokens expire
        device = start(client, server)
        server.approve(device["user_code"])
        clock.now += 30  # the client polls 30 s after the approval
        tokens = poll(client, server, device["device_code"])
    after = int(time.time()) + 1
    _, claims = unverified(tokens["id_token"])
    # A client compares them with its own clock: they must not be a day in the future.
    assert before <= claims["iat"] <= after
    assert claims["auth_time"] == claims["iat"] - 30
    assert claims["exp"] == claims["iat"] + 300


def test_a_wall_clock_of_its_own_stamps_the_id_tokens() -> None:
    server = FakeAuthorizationServer(wall_clock=lambda: 1_800_000_000.0)
    with httpx.Client(transport=server.transport()) as client:
        tokens = login(client, server)
    _, claims = unverified(tokens["id_token"])
    assert claims["iat"] == 1_800_000_000


# -- Key rotation -------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_rotate_keys_signs_with_a_new_kid_and_drops_the_old_key(alg: Algorithm) -> None:
    server = FakeAuthorizationServer(id_token_alg=alg)
    with httpx.Client(transport=server.transport()) as client:
        old = login(client, server)["id_token"]
        old_kid = jwt.get_unverified_header(old)["kid"]
        new_kid = server.rotate_keys()
        new = login(client, server)["id_token"]
        jwks = jwks_of(client, server)
    assert new_kid != old_kid
    assert jwt.get_unverified_header(new)["kid"] == new_kid
    assert [key["kid"] for key in jwks["keys"]] == [new_kid]
    verify(new, jwks, server)
    with pytest.raises(KeyError):
        verify(old, jwks, server)  # its key is gone


def test_rotate_keys_can_keep_the_old_key_published(
    server: FakeAuthorizationServer, client: httpx.Client
) -> None:
    old = login(client, server)["id_token"]
    first_kid = server.jwks["keys"][0]["kid"]
    second_kid = server.rotate_keys(keep_old=True)
    third_kid = server.rotate_keys(keep_old=True)
    jwks = jwks_of(client, server)
    assert [key["kid"] for key in jwks["keys"]] == [third_kid, second_kid, first_kid]
    verify(old, jwks, server)
    verify(login(client, server)["id_token"], jwks, server)
    server.rotate_keys()
    assert len(server.jwks["keys"]) == 1


def test_rotate_keys_before_any_token(server: FakeAuthorizationServer) -> None:
    kid = server.rotate_keys()
    assert [key["kid"] for key in server.jwks["keys"]] == [kid]


# -- Faults -------------------------------------------------------------------------------------


def _public_pem(jwks: dict[str, Any], kid: str) -> bytes:
    key = jwt.PyJWK.from_dict(next(k for k in jwks["keys"] if k["kid"] == kid)).key
    pem: bytes = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _signature_fails(token: str, jwks: dict[str, Any], server: FakeAuthorizationServer) -> bool:
    """Whether no published key verifies the token's signature (claims not checked)."""
    for jwk in jwks["keys"]:
        try:
            jwt.decode(
                token,
                jwt.PyJWK.from_dict(jwk),
                algorithms=[server.id_token_alg],
                options={"verify_aud": False, "verify_exp": False, "verify_iat": False},
            )
        except jwt.InvalidSignatureError:
            continue
        return False
    return True


# (the broken token, the claims of a sound one, the JWKS, the server)
Check = Callable[[str, dict[str, Any], dict[str, Any], FakeAuthorizationServer], None]


def _bad_signature(
    token: str, sound: dict[str, Any], jwks: dict[str, Any], s: FakeAuthorizationServer
) -> None:
    with pytest.raises(jwt.InvalidSignatureError):
        verify(token, jwks, s)
    header, claims = unverified(token)
    assert header["kid"] == jwks["keys"][0]["kid"]
    assert claims == sound


def _claims_differ(**expected: object) -> Check:
    """A fault that changes exactly these claims (`...` for "absent"); still correctly signed."""

    def check(
        token: str, sound: dict[str, Any], jwks: dict[str, Any], s: FakeAuthorizationServer
    ) -> None:
        _, claims = unverified(token)
        assert not _signature_fails(token, jwks, s)
        changed = {name for name in {*sound, *claims} if sound.get(name) != claims.get(name)}
        assert changed == set(expected), (claims, sound)
        for name, value in expected.items():
            if value is ...:
                assert name not in claims
            else:
                assert claims[name] == value

    return check


def _expired(
    token: str, sound: dict[str, Any], jwks: dict[str, Any], s: FakeAuthorizationServer
) -> None:
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(token, jwks, s)
    _, claims = unverified(token)
    assert claims["exp"] < time.time() - 3600
    assert claims["iat"] < claims["exp"]
    assert claims["exp"] - claims["iat"] == sound["exp"] - sound["iat"]
    assert claims["auth_time"] <= claims["iat"]
    assert {k: v for k, v in claims.items() if k not in ("exp", "iat", "auth_time")} == {
        k: v for k, v in sound.items() if k not in ("exp", "iat", "auth_time")
    }


def _issued_in_future(
    token: str, sound: dict[str, Any], jwks: dict[str, Any], s: FakeAuthorizationServer
) -> None:
    with pytest.raises(jwt.ImmatureSignatureError):
        verify(token, jwks, s)
    _, claims = unverified(token)
    assert claims["iat"] == sound["iat"] + 3600
    assert claims["exp"] == sound["exp"] + 3600
    assert {k: v for k, v in claims.items() if k not in ("exp", "iat")} == {
        k: v for k, v in sound.items() if k not in ("exp", "iat")
    }


def _unknown_kid(
    token: str, sound: dict[str, Any], jwks: dict[str, Any], s: FakeAuthorizationServer
) -> None:
    header, claims = unverified(token)
    assert header["alg"] == s.id_token_alg
    assert header["kid"] not in {key["kid"] for key in jwks["keys"]}
    with pytest.raises(KeyError):
        verify(token, jwks, s)
    assert _signature_fails(token, jwks, s)  # not signed with a published key under another kid
    assert claims == sound


def _alg_none(
    token: str, sound: dict[str, Any], jwks: dict[str, Any], s: FakeAuthorizationServer
) -> None:
    header, claims = unverified(token)
    assert header == {"alg": "none", "typ": "JWT"}
    assert token.endswith(".")
    assert claims == sound
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(token, jwt.PyJWKSet.from_dict(jwks).keys[0], algorithms=[s.id_token_alg])


def _hmac(
    token: str, sound: dict[str, Any], jwks: dict[str, Any], s: FakeAuthorizationServer
) -> None:
    header, claims = unverified(token)
    kid = jwks["keys"][0]["kid"]
    assert header == {"alg": "HS256", "kid": kid, "typ": "JWT"}
    assert claims == sound
    signing_input, _, signature = token.rpartition(".")
    expected = hmac.new(_public_pem(jwks, kid), signing_input.encode(), hashlib.sha256).digest()
    assert _b64decode(signature) == expected  # the public key's PEM was the HMAC secret
    with pytest.raises(jwt.InvalidAlgorithmError):
        verify(token, jwks, s)


FAULT_CHECKS: dict[str, Check] = {
    "bad_signature": _bad_signature,
    "wrong_audience": _claims_differ(aud="other-client"),
    "wrong_issuer": _claims_differ(iss="https://other-issuer.example.test"),
    "expired": _expired,
    "issued_in_future": _issued_in_future,
    "unknown_kid": _unknown_kid,
    "alg_none": _alg_none,
    "hmac": _hmac,
    "multiple_audiences": _claims_differ(aud=[CLIENT_ID, "other-client"]),
    "wrong_azp": _claims_differ(aud=[CLIENT_ID, "other-client"], azp="other-client"),
    "other_subject": _claims_differ(sub="other-fake-user-1"),
    "missing_sub": _claims_differ(sub=...),
}


def test_every_fault_has_a_check() -> None:
    assert set(FAULT_CHECKS) == set(get_args(IDTokenFault))


@pytest.mark.parametrize("alg", ALGORITHMS)
@pytest.mark.parametrize("fault", sorted(FAULT_CHECKS))
def test_each_fault_breaks_exactly_one_property(alg: Algorithm, fault: IDTokenFault) -> None:
    # A clock that stands still: a sound token and a broken one have the same times.
    start = time.time()
    server = FakeAuthorizationServer(clock=FakeClock(), wall_clock=lambda: start, id_token_alg=alg)
    with httpx.Client(transport=server.transport()) as client:
        sound_tokens = login(client, server, "openid email")
        jwks = jwks_of(client, server)
        sound = verify(sound_tokens["id_token"], jwks, server)
        server.id_token_fault = fault
        broken = login(client, server, "openid email")
        # While the fault is set, refreshed ID tokens have it too.
        refreshed = refresh(client, server, sound_tokens["refresh_token"])
    FAULT_CHECKS[fault](broken["id_token"], sound, jwks, server)
    FAULT_CHECKS[fault](refreshed["id_token"], sound, jwks, server)


def test_a_fault_given_to_the_constructor_applies_at_once() -> None:
    server = FakeAuthorizationServer(id_token_fault="wrong_audience")
    with httpx.Client(transport=server.transport()) as client:
        tokens = login(client, server)
        jwks = jwks_of(client, server)
    with pytest.raises(jwt.InvalidAudienceError):
        verify(tokens["id_token"], jwks, server)
    server.id_token_fault = None
    with httpx.Client(transport=server.transport()) as client:
        verify(login(client, server)["id_token"], jwks, server)


def test_missing_sub_is_refused_by_a_client_that_requires_it(
    server: FakeAuthorizationServer, client: httpx.Client
) -> None:
    server.id_token_fault = "missing_sub"
    tokens = login(client, server)
    with pytest.raises(jwt.MissingRequiredClaimError, match="sub"):
        verify(tokens["id_token"], jwks_of(client, server), server)


# -- Discovery, the authorization endpoint, userinfo ---------------------------------------------


@pytest.mark.parametrize(
    "path", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]
)
def test_discovery_has_every_field_openid_connect_requires(path: str) -> None:
    server = FakeAuthorizationServer(id_token_alg="ES256")
    with httpx.Client(transport=server.transport()) as client:
        metadata = client.get(server.base_url + path).json()
    # OpenID Connect Discovery 1.0 §3: the REQUIRED fields.
    assert metadata["issuer"] == server.issuer
    assert metadata["authorization_endpoint"] == server.authorization_url
    assert metadata["token_endpoint"] == server.token_url
    assert metadata["jwks_uri"] == server.jwks_url
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["subject_types_supported"] == ["public"]
    assert metadata["id_token_signing_alg_values_supported"] == ["ES256"]
    assert {"openid", "profile", "email", "offline_access"} <= set(metadata["scopes_supported"])
    assert metadata["userinfo_endpoint"] == server.userinfo_url
    assert set(metadata["claims_supported"]) >= {*SOUND_CLAIMS, *PROFILE, *EMAIL}


def test_discovery_offers_offline_access_only_with_refresh_tokens() -> None:
    server = FakeAuthorizationServer(issue_refresh_token=False)
    with httpx.Client(transport=server.transport()) as client:
        metadata = client.get(server.base_url + "/.well-known/openid-configuration").json()
    assert metadata["scopes_supported"] == ["openid", "profile", "email"]


def test_the_authorization_endpoint_says_there_is_only_the_device_flow(
    server: FakeAuthorizationServer, client: httpx.Client
) -> None:
    page = client.get(
        server.authorization_url,
        params={"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": "https://x"},
    )
    assert page.status_code == 400
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "location" not in page.headers  # nothing is sent to the redirect URI
    assert "only offers the device authorization grant" in page.text
    assert '<a href="/device">' in page.text
    as_json = client.get(server.authorization_url, headers={"Accept": "application/json"})
    assert as_json.status_code == 400
    assert as_json.json()["error"] == "unsupported_response_type"
    assert server.verification_uri in as_json.json()["error_description"]
    assert [r.endpoint for r in server.requests] == ["authorization", "authorization"]


@pytest.mark.parametrize(
    ("scope", "extra"),
    [
        ("read", {}),
        ("openid", {}),
        ("openid profile", PROFILE),
        ("email", EMAIL),
        ("openid profile email", {**PROFILE, **EMAIL}),
    ],
)
def test_userinfo_answers_the_claims_of_the_scope(
    server: FakeAuthorizationServer, client: httpx.Client, scope: str, extra: dict[str, object]
) -> None:
    tokens = login(client, server, scope)
    answer = client.get(
        server.userinfo_url, headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert answer.status_code == 200
    assert answer.json() == {"sub": "fake-user-1", **extra, "client_id": CLIENT_ID, "scope": scope}
    if "id_token" in tokens:
        # OpenID Connect Core §5.3.2: the same sub as the ID token.
        assert unverified(tokens["id_token"])[1]["sub"] == answer.json()["sub"]


def test_approving_on_the_page_sets_auth_time() -> None:
    clock = FakeClock()
    server = FakeAuthorizationServer(clock=clock)
    with httpx.Client(transport=server.transport()) as client:
        device = start(client, server)
        clock.now += 5
        client.post(
            server.verification_uri, data={"user_code": device["user_code"], "action": "approve"}
        )
        assert server.grant().approved_at == 1005.0
        clock.now += 20
        tokens = poll(client, server, device["device_code"])
    _, claims = unverified(tokens["id_token"])
    assert claims["iat"] - claims["auth_time"] == 20


# -- Without PyJWT ------------------------------------------------------------------------------


def test_loctocat_testing_imports_without_pyjwt() -> None:
    code = (
        "import sys\n"
        "from loctocat.testing import FakeAuthorizationServer\n"
        "FakeAuthorizationServer(id_token_alg='ES256').rotate_keys\n"
        "assert not {'jwt', 'cryptography'} & set(sys.modules), 'imported too early'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_an_id_token_without_pyjwt_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, server: FakeAuthorizationServer, client: httpx.Client
) -> None:
    monkeypatch.setitem(sys.modules, "jwt", None)
    assert "access_token" in login(client, server, "read")  # no ID token, no need for PyJWT
    with pytest.raises(ImportError, match=r"pip install 'loctocat\[oidc\]'"):
        login(client, server, "openid")


@pytest.mark.fake_auth_server(id_token_alg="ES256", user={"sub": "fixture-user"})
def test_the_fixtures_take_the_options(fake_auth_server_http: FakeAuthorizationServer) -> None:
    server = fake_auth_server_http
    with httpx.Client() as client:
        tokens = login(client, server, "openid")
        claims = verify(tokens["id_token"], jwks_of(client, server), server)
    assert claims["sub"] == "fixture-user"
    assert json.loads(_b64decode(tokens["id_token"].split(".")[0]))["alg"] == "ES256"
