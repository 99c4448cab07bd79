"""The fake server with DPoP (RFC 9449): proofs at the token endpoint, tokens bound to their
key, the proof checks of §4.3 one by one, refresh keeping the binding, and DPoP off.

Proofs are made here with PyJWT and cryptography, as a client would make them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import get_default_algorithms
from jwt.warnings import InsecureKeyLengthWarning

from loctocat.testing import DEVICE_CODE_GRANT_TYPE, FakeAuthorizationServer, Fault

CLIENT_ID = "dpop-client"
# RFC 9449 §4.1: an example proof, POST https://server.example.com/token at iat 1562262616,
# by the key whose thumbprint §6.1 gives.
RFC_PROOF = (
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0Vj"
    "NoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5"
    "VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TV"
    "CIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8"
    "lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
)
RFC_JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class DPoPKey:
    """A client's DPoP key, and the proofs it signs."""

    def __init__(self, alg: str = "ES256", private_key: Any = None) -> None:
        self.alg = alg
        if private_key is None:
            if alg.startswith(("RS", "PS")):
                private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            elif alg == "EdDSA":
                private_key = ed25519.Ed25519PrivateKey.generate()
            else:
                curve = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1()}[alg]
                private_key = ec.generate_private_key(curve)
        self.private_key = private_key
        algorithm = get_default_algorithms()[alg]
        self.jwk: dict[str, Any] = json.loads(algorithm.to_jwk(private_key.public_key()))

    @property
    def jkt(self) -> str:
        """The RFC 7638 thumbprint: SHA-256 of the required members, sorted, no spaces."""
        required = {
            "EC": ("crv", "kty", "x", "y"),
            "RSA": ("e", "kty", "n"),
            "OKP": ("crv", "kty", "x"),
        }
        members = {name: self.jwk[name] for name in required[self.jwk["kty"]]}
        canonical = json.dumps(members, sort_keys=True, separators=(",", ":"))
        return b64url(hashlib.sha256(canonical.encode()).digest())

    def proof(
        self,
        method: str,
        url: str,
        *,
        access_token: str | None = None,
        nonce: str | None = None,
        header: Mapping[str, Any] | None = None,
        claims: Mapping[str, Any] | None = None,
        without: tuple[str, ...] = (),
    ) -> str:
        """A proof for `method` and `url`; `header` and `claims` change or add fields, and
        `without` names claims to leave out."""
        payload: dict[str, Any] = {
            "jti": str(uuid.uuid4()),
            "htm": method,
            "htu": url,
            "iat": int(time.time()),
        }
        if access_token is not None:
            payload["ath"] = b64url(hashlib.sha256(access_token.encode()).digest())
        if nonce is not None:
            payload["nonce"] = nonce
        payload.update(claims or {})
        for name in without:
            del payload[name]
        headers = {"typ": "dpop+jwt", "jwk": self.jwk, **(header or {})}
        return jwt.encode(payload, self.private_key, algorithm=self.alg, headers=headers)


def unsigned(token: str, header: Mapping[str, Any], signature: bytes = b"") -> str:
    """`token` with another header, and `signature` as its signature."""
    _, claims, _ = token.split(".")
    encoded = b64url(json.dumps(header).encode())
    return f"{encoded}.{claims}.{b64url(signature)}"


@pytest.fixture
def server() -> FakeAuthorizationServer:
    return FakeAuthorizationServer(dpop=True)


@pytest.fixture
def client(server: FakeAuthorizationServer) -> Iterator[httpx.Client]:
    with httpx.Client(transport=server.transport()) as client:
        yield client


@pytest.fixture
def key() -> DPoPKey:
    return DPoPKey()


def start(client: httpx.Client, server: FakeAuthorizationServer) -> str:
    """A device authorization request, approved at once; its device code."""
    response = client.post(server.device_authorization_url, data={"client_id": CLIENT_ID})
    assert response.status_code == 200, response.text
    server.approve()
    device_code: str = response.json()["device_code"]
    return device_code


def token_request(
    client: httpx.Client, server: FakeAuthorizationServer, form: dict[str, str], *proofs: str
) -> httpx.Response:
    """A token request with `form`, and a DPoP header for each of `proofs`."""
    headers = [("DPoP", proof) for proof in proofs]
    return client.post(server.token_url, data={"client_id": CLIENT_ID, **form}, headers=headers)


def poll(
    client: httpx.Client, server: FakeAuthorizationServer, device_code: str, *proofs: str
) -> httpx.Response:
    form = {"grant_type": DEVICE_CODE_GRANT_TYPE, "device_code": device_code}
    return token_request(client, server, form, *proofs)


def refresh(
    client: httpx.Client, server: FakeAuthorizationServer, refresh_token: str, *proofs: str
) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return token_request(client, server, form, *proofs)


def login(client: httpx.Client, server: FakeAuthorizationServer, key: DPoPKey) -> dict[str, Any]:
    """A device flow whose token request carries a proof by `key`; the token answer."""
    device_code = start(client, server)
    response = poll(client, server, device_code, key.proof("POST", server.token_url))
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def refused(response: httpx.Response, error: str, status: int = 400) -> str:
    """Assert an OAuth error answer; its description."""
    assert response.status_code == status, response.text
    assert response.json()["error"] == error, response.text
    description: str = response.json()["error_description"]
    return description


# -- Tokens bound at the token endpoint ------------------------------------------------------


def test_a_proof_binds_the_access_token_to_its_key(
    server: FakeAuthorizationServer, client: httpx.Client, key: DPoPKey
) -> None:
    tokens = login(client, server, key)
    assert tokens["token_type"] == "DPoP"
    issued = server.issued_tokens[-1]
    assert issued.access_token == tokens["access_token"]
    assert issued.jkt == key.jkt
    assert issued.grant_type == "device_code"


def test_without_a_proof_the_token_is_bearer(
    server: FakeAuthorizationServer, client: httpx.Client
) -> None:
    response = poll(client, server, start(client, server))
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"
    assert server.issued_tokens[-1].jkt is None


@pytest.mark.parametrize("alg", ["ES256", "PS256", "RS256", "EdDSA"])
def test_every_default_algorithm_binds(alg: str) -> None:
    server = FakeAuthorizationServer(dpop=True)
    key = DPoPKey(alg)
    with httpx.Client(transport=server.transport()) as client:
        assert login(client, server, key)["token_type"] == "DPoP"
    assert server.issued_tokens[-1].jkt == key.jkt


def test_the_example_proof_of_rfc_9449() -> None:
    server = FakeAuthorizationServer(
        dpop=True, base_url="https://server.example.com", wall_clock=lambda: 1562262616
    )
    with httpx.Client(transport=server.transport()) as client:
        response = poll(client, server, start(client, server), RFC_PROOF)
    assert response.status_code == 200, response.text
    assert server.issued_tokens[-1].jkt == RFC_JKT


def test_metadata_lists_the_proof_algorithms() -> None:
    for server, expected in [
        (FakeAuthorizationServer(dpop=True), ["ES256", "PS256", "RS256", "EdDSA"]),
        (FakeAuthorizationServer(dpop="required", dpop_algs=["ES384"]), ["ES384"]),
        (FakeAuthorizationServer(), None),
    ]:
        with httpx.Client(transport=server.transport()) as client:
            for path in (
                "/.well-known/openid-configuration",
                "/.well-known/oauth-authorization-server",
            ):
                metadata = client.get(server.base_url + path).json()
                assert metadata.get("dpop_signing_alg_values_supported") == expected


def test_dpop_off_ignores_the_header(key: DPoPKey) -> None:
    server = FakeAuthorizationServer()
    with httpx.Client(transport=server.transport()) as client:
        for proof in (key.proof("POST", server.token_url), "not a proof"):
            response = poll(client, server, start(client, server), proof)
            assert response.status_code == 200, response.text
            assert response.json()["token_type"] == "Bearer"
            assert server.issued_tokens[-1].jkt is None


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="dpop must be"):
        FakeAuthorizationServer(dpop="always")  # type: ignore[arg-type]
    for algs in (["HS256"], ["none"], ["ES256", "ES256K"]):
        with pytest.raises(ValueError, match="dpop_algs"):
            FakeAuthorizationServer(dpop=True, dpop_algs=algs)
    for empty in ([], "ES256"):
        with pytest.raises(TypeError, match="dpop_algs"):
            FakeAuthorizationServer(dpop=True, dpop_algs=empty)
    with pytest.raises(ValueError, match="dpop_iat_window"):
        FakeAuthorizationServer(dpop=True, dpop_iat_window=0)


def test_required_refuses_token_requests_without_a_proof(key: DPoPKey) -> None:
    server = FakeAuthorizationServer(dpop="required")
    with httpx.Client(transport=server.transport()) as client:
        device_code = start(client, server)
        assert "missing DPoP proof" in refused(poll(client, server, device_code), "invalid_request")
        assert server.grant().poll_count == 0
        tokens = poll(client, server, device_code, key.proof("POST", server.token_url)).json()
        assert tokens["token_type"] == "DPoP"
        refused(refresh(client, server, tokens["refresh_token"]), "invalid_request")
        response = refresh(
            client, server, tokens["refresh_token"], key.proof("POST", server.token_url)
        )
        assert response.json()["token_type"] == "DPoP"


# -- The proof checks of RFC 9449 §4.3 ---------------------------------------------------------

ProofMaker = Callable[[DPoPKey, FakeAuthorizationServer], str]


def _signed_by_another_key(key: DPoPKey, server: FakeAuthorizationServer) -> str:
    return DPoPKey().proof("POST", server.token_url, header={"jwk": key.jwk})


def _bad_signature(key: DPoPKey, server: FakeAuthorizationServer) -> str:
    signing_input, _, signature = key.proof("POST", server.token_url).rpartition(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[5] ^= 0x01
    return f"{signing_input}.{b64url(bytes(raw))}"


def _alg_none(key: DPoPKey, server: FakeAuthorizationServer) -> str:
    return unsigned(
        key.proof("POST", server.token_url), {"typ": "dpop+jwt", "alg": "none", "jwk": key.jwk}
    )


def _hmac(key: DPoPKey, server: FakeAuthorizationServer) -> str:
    payload = {"jti": "hmac", "htm": "POST", "htu": server.token_url, "iat": int(time.time())}
    headers = {"typ": "dpop+jwt", "jwk": key.jwk}
    return jwt.encode(
        payload, "a shared secret, 32 bytes or more", algorithm="HS256", headers=headers
    )


def _private_jwk(key: DPoPKey, server: FakeAuthorizationServer) -> str:
    private = json.loads(get_default_algorithms()["ES256"].to_jwk(key.private_key))
    return key.proof("POST", server.token_url, header={"jwk": private})


def _short_rsa_key(key: DPoPKey, server: FakeAuthorizationServer) -> str:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)  # the point of the test
        return DPoPKey("RS256", small).proof("POST", server.token_url)


def _rsa_jwk(key: DPoPKey, server: FakeAuthorizationServer) -> str:
    return key.proof("POST", server.token_url, header={"jwk": DPoPKey("RS256").jwk})


def _aged(key: DPoPKey, server: FakeAuthorizationServer, seconds: int) -> str:
    return key.proof("POST", server.token_url, claims={"iat": int(time.time()) - seconds})


def _proof(**changes: Any) -> ProofMaker:
    """A proof for the token endpoint with `changes` (keyword arguments of `DPoPKey.proof`)."""
    return lambda key, server: key.proof("POST", server.token_url, **changes)


BAD_PROOFS: dict[str, tuple[ProofMaker, str]] = {
    "not a JWT": (lambda key, server: "not-a.jwt", "not a JWT"),
    "typ JWT": (_proof(header={"typ": "JWT"}), "typ is 'JWT'"),
    "no typ": (_proof(header={"typ": None}), "typ is missing"),
    "alg none": (_alg_none, "alg is 'none'"),
    "HS256": (_hmac, "a MAC"),
    "alg not offered": (
        lambda key, server: DPoPKey("ES384").proof("POST", server.token_url),
        "ES384",
    ),
    "no jwk": (_proof(header={"jwk": None}), "no jwk"),
    "private key in jwk": (_private_jwk, "private key members: d"),
    "jwk of another type": (_rsa_jwk, "ES256 signs with EC"),
    "signed by another key": (_signed_by_another_key, "signature does not verify"),
    "bad signature": (_bad_signature, "signature does not verify"),
    "RSA key under 2048 bits": (_short_rsa_key, "1024-bit RSA key"),
    "no jti": (_proof(without=("jti",)), "jti is missing"),
    "empty jti": (_proof(claims={"jti": ""}), "jti is ''"),
    "no htm": (_proof(without=("htm",)), "htm is missing"),
    "no htu": (_proof(without=("htu",)), "htu is missing"),
    "no iat": (_proof(without=("iat",)), "iat is missing"),
    "iat a string": (_proof(claims={"iat": "1700000000"}), "not a time"),
    "iat too large": (_proof(claims={"iat": 10**400}), "not a time"),
    "iat Infinity": (_proof(claims={"iat": float("inf")}), "not a time"),
    "htm GET": (_proof(claims={"htm": "GET"}), "htm is 'GET', not POST"),
    "htm in lower case": (_proof(claims={"htm": "post"}), "htm is 'post'"),
    "htu of another endpoint": (
        lambda key, server: key.proof("POST", server.userinfo_url),
        "htu is 'https://auth.example.test/userinfo'",
    ),
    "htu of another host": (
        lambda key, server: key.proof("POST", "https://other.example.test/token"),
        "htu is",
    ),
    "htu over http": (
        lambda key, server: key.proof("POST", "http://auth.example.test/token"),
        "htu is",
    ),
    "htu not a URL": (_proof(claims={"htu": "/token"}), "htu is '/token'"),
    "iat too old": (lambda key, server: _aged(key, server, 90), "s old"),
    "iat in the future": (lambda key, server: _aged(key, server, -90), "in the future"),
}


@pytest.mark.parametrize("case", list(BAD_PROOFS))
def test_the_token_endpoint_refuses_bad_proofs(
    case: str, server: FakeAuthorizationServer, client: httpx.Client, key: DPoPKey
) -> None:
    make, expected = BAD_PROOFS[case]
    server.plan("approve")
    response = client.post(server.device_authorization_url, data={"client_id": CLIENT_ID})
    device_code = response.json()["device_code"]
    description = refused(
        poll(client, server, device_code, make(key, server)), "invalid_dpop_proof"
    )
    assert expected in description
    assert "(RFC 9449 section " in description
    # A refused proof is not a poll: the plan's answer waits for the next one.
    assert server.grant().poll_count == 0
    assert poll(client, server, device_code, key.proof("POST", server.token_url)).status_code == 200


def test_only_one_dpop_header(
    server: FakeAuthorizationServer, client: httpx.Client, key: DPoPKey
) -> None:
    device_code = start(client, server)
    proofs = [key.proof("POST", server.token_url) for _ in range(2)]
    description = refused(poll(client, server, device_code, *proofs), "invalid_dpop_proof")
    assert "2 DPoP headers" in description


def test_a_proof_is_taken_once(
    server: FakeAuthorizationServer, client: httpx.Client, key: DPoPKey
) -> None:
    proof = key.proof("POST", server.token_url)
    assert poll(client, server, start(client, server), proof).status_code == 200
    description = refused(poll(client, server, start(client, server), proof), "invalid_dpop_proof")
    assert "was used before" in description


def test_a_jti_is_forgotten_once_its_proof_is_too_old(key: DPoPKey) -> None:
    now = [1_700_000_000.0]
    server = FakeAuthorizationServer(dpop=True, wall_clock=lambda: now[0], dpop_iat_window=30)
    with httpx.Client(transport=server.transport()) as client:
        first = key.proof("POST", server.token_url, claims={"jti": "same", "iat": int(now[0])})
        assert poll(client, server, start(client, server), first).status_code == 200
        now[0] += 31
        again = key.proof("POST", server.token_url, claims={"jti": "same", "iat": int(now[0])})
        assert poll(client, server, start(client, server), again).status_code == 200


def test_iat_within_the_window_on_the_wall_clock(key: DPoPKey) -> None:
    now = 1_700_000_000
    server = FakeAuthorizationServer(dpop=True, wall_clock=lambda: now, dpop_iat_window=10)
    with httpx.Client(transport=server.transport()) as client:
        for iat in (now - 10, now + 10):
            proof = key.proof("POST", server.token_url, claims={"iat": iat})
            assert poll(client, server, start(client, server), proof).status_code == 200
        for iat in (now - 11, now + 11):
            proof = key.proof("POST", server.token_url, claims={"iat": iat})
            refused(poll(client, server, start(client, server), proof), "invalid_dpop_proof")


@pytest.mark.parametrize(
    "htu",
    [
        "HTTPS://Auth.Example.Test/token",
        "https://auth.example.test:443/token",
        "https://auth.example.test/%74oken",
        "https://auth.example.test/token?query=ignored#and-the-fragment",
    ],
)
def test_htu_is_compared_normalized(
    htu: str, server: FakeAuthorizationServer, client: httpx.Client, key: DPoPKey
) -> None:
    # RFC 9449 §4.3: syntax- and scheme-based normalization, query and fragment ignored.
    response = poll(client, server, start(client, server), key.proof("POST", htu))
    assert response.status_code == 200, response.text


def test_typ_as_a_full_media_type(
    server: FakeAuthorizationServer, client: httpx.Client, key: DPoPKey
) -> None:
    proof = key.proof("POST", server.token_url, header={"typ": "application/DPoP+JWT"})
    assert poll(client, server, start(client, server), proof).status_code == 200


def test_over_http_the_proof_names_the_loopback_url(key: DPoPKey) -> None:
    server = FakeAuthorizationServer(dpop=True)
    with server.serve_http(), httpx.Client() as client:
        assert server.token_url.startswith("http://127.0.0.1:")
        tokens = login(client, server, key)
    assert tokens["token_type"] == "DPoP"


# -- Refresh -------------------------------------------------------------------------------------


def test_a_refresh_keeps_the_binding(
    server: FakeAuthorizationServer, client: httpx.Client, key: DPoPKey
) -> None:
    tokens = login(client, server, key)
    response = refresh(client, server, tokens["refresh_token"], key.proof("POST", server.token_url))
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
    assert server.issued_tokens[-1].jkt == key.jkt
    assert server.issued_tokens[-1].grant_type == "refresh_token"


def test_a_bound_refresh_token_needs_its_key(
    server: FakeAuthorizationServer, client: httpx.Client, key: DPoPKey
) -> None:
    # RFC 9449 §5: a public client's refresh token is bound to the key of its proof.
    refresh_token = login(client, server, key)["refresh_token"]
    other = DPoPKey().proof("POST", server.token_url)
    for proofs in [(other,), ()]:
        description = refused(refresh(client, server, refresh_token, *proofs), "invalid_grant")
        assert "bound to a DPoP key" in description
    # Refused, the refresh token was not used up.
    response = refresh(client, server, refresh_token, key.proof("POST", server.token_url))
    assert response.status_code == 200, response.text


def test_a_refresh_token_kept_stays_bound(key: DPoPKey) -> None:
    server = FakeAuthorizationServer(dpop=True, rotate_refresh_tokens=False)
    with httpx.Client(transport=server.transport()) as client:
        refresh_token = login(client, server, key)["refresh_token"]
        for _ in range(2):
            proof = key.proof("POST", server.token_url)
            assert refresh(client, server, refresh_token, proof).json()["token_type"] == "DPoP"
        other = DPoPKey().proof("POST", server.token_url)
        refused(refresh(client, server, refresh_token, other), "invalid_grant")


def test_a_confidential_clients_refresh_token_is_not_bound(key: DPoPKey) -> None:
    # RFC 9449 §5: its refresh tokens are bound by its authentication, not to a DPoP key.
    server = FakeAuthorizationServer(dpop=True, client_secret="s3cret")
    with httpx.Client(transport=server.transport(), auth=(CLIENT_ID, "s3cret")) as client:
        refresh_token = login(client, server, key)["refresh_token"]
        other = DPoPKey()
        response = refresh(client, server, refresh_token, other.proof("POST", server.token_url))
        assert response.json()["token_type"] == "DPoP"
        assert server.issued_tokens[-1].jkt == other.jkt
        response = refresh(client, server, response.json()["refresh_token"])
        assert response.json()["token_type"] == "Bearer"


def test_a_bearer_refresh_token_refreshed_with_a_proof_gets_bound(
    server: FakeAuthorizationServer, client: httpx.Client, key: DPoPKey
) -> None:
    tokens = poll(client, server, start(client, server)).json()
    assert tokens["token_type"] == "Bearer"
    response = refresh(client, server, tokens["refresh_token"], key.proof("POST", server.token_url))
    assert response.json()["token_type"] == "DPoP"
    new_refresh_token = response.json()["refresh_token"]
    refused(refresh(client, server, new_refresh_token), "invalid_grant")


# -- The protected resource: /userinfo -----------------------------------------------------------

ALGS = 'algs="ES256 PS256 RS256 EdDSA"'


def userinfo(
    client: httpx.Client,
    server: FakeAuthorizationServer,
    access_token: str,
    *proofs: str,
    scheme: str = "DPoP",
) -> httpx.Response:
    headers = [("Authorization", f"{scheme} {access_token}")]
    headers += [("DPoP", proof) for proof in proofs]
    return client.get(server.userinfo_url, headers=headers)


def challenged(response: httpx.Response, error: str) -> str:
    """Assert a 401 with `error`; its WWW-Authenticate header."""
    refused(response, error, status=401)
    challenge: str = response.headers["www-authenticate"]
    return challenge


def test_userinfo_takes_a_bound_token_with_a_proof(
    server: FakeAuthorizationServer, client: httpx.Client, key: DPoPKey
) -> None:
    access_token = login(client, server, key)["access_token"]
    proof = key.proof("GET", server.userinfo_url, access_token=access_token)
    response = userinfo(client, server, access_token, proof)
    assert response.status_code == 200, response.text
    assert response.json()["sub"] == "fake-user-1"
    assert response.json()["cnf"] == {"jkt": key.jkt}


def test_userinfo_refuses_a_bound_token_as_bearer(
    server: FakeAuthorizationServer, client: httpx.Client, key: DPoPKey
) -> None:
    access_token = login(client, server, key)["access_token"]
    proof = key.proof("GET", server.userinfo_url, access_token=access_token)
    for proofs in [(), (proof,)]:
        response = userinfo(client, server, access_token, *proofs, scheme="Bearer")
        challenge = challenged(response, "invalid_token")
        # RFC 9449 §7.2: the challenge of the scheme used carries the error, DPoP's is offered.
        assert challenge.startswith('Bearer realm="loctocat-fake", error="invalid_token", ')
        assert challenge.endswith(f', DPoP realm="loctocat-fake", {ALGS}')
        assert "DPoP-bound" in response.json()["error_description"]


def test_userinfo_refuses_a_proof_by_another_key(
    server: FakeAuthorizationServer, client: httpx.Client, key: DPoPKey
) -> None:
    access_token = login(client, server, key)["access_token"]
    proof = DPoPKey().proof("GET", server.userinfo_url, access_token=access_token)
    challenge = challenged(userinfo(client, server, access_token, proof), "invalid_token")
    assert challenge.startswith('DPoP realm="loctocat-fake", error="invalid_token", ')
    assert 'error_description="invalid DPoP key binding' in challenge
    assert challenge.endswith(ALGS)


def test_userinfo_needs_the_proof_with_the_dpop_scheme(
    server: FakeAuthorizationServer, client: httpx.Client, key: DPoPKey
) -> None:
    access_token = login(client, server, key)["access_token"]
    response = userinfo(client, server, access_token)
    assert "missing DPoP proof" in challenged(response, "invalid_token")


RESOURCE_PROOFS: dict[str, tuple[Callable[[DPoPKey, str, str], str], str]] = {
    "no ath": (lambda key, url, token: key.proof("GET", url), "ath is missing"),
    "ath of another token": (
        lambda key, url, token: key.proof("GET", url, access_token=token + "x"),
        "ath is not the hash",
    ),
    "htm POST": (
        lambda key, url, token: key.proof("POST", url, access_token=token),
        "htm is 'POST', not GET",
    ),
    "htu of the token endpoint": (
        lambda key, url, token: key.proof(
            "GET", url.replace("/userinfo", "/token"), access_token=token
        ),
        "htu is",
    ),
    "typ with a quote": (
        lambda key, url, token: key.proof("GET", url, access_token=token, header={"typ": 'é"'}),
        "typ is",
    ),
}


@pytest.mark.parametrize("case", list(RESOURCE_PROOFS))
def test_userinfo_refuses_bad_proofs(
    case: str, server: FakeAuthorizationServer, client: httpx.Client, key: DPoPKey
) -> None:
    make, expected = RESOURCE_PROOFS[case]
    access_token = login(client, server, key)["access_token"]
    response = userinfo(client, server, access_token, make(key, server.userinfo_url, access_token))
    challenge = challenged(response, "invalid_dpop_proof")
    assert challenge.startswith('DPoP realm="loctocat-fake", error="invalid_dpop_proof", ')
    assert challenge.endswith(ALGS)
    assert expected in response.json()["error_description"]
    # The description stays one quoted-string, whatever the proof held (RFC 6750 §3).
    description = challenge.split('error_description="', 1)[1].rsplit('", algs=', 1)[0]
    assert expected in description
    assert all(" " <= ch <= "~" and ch not in '"\\' for ch in description)


def test_userinfo_refuses_a_replayed_proof(
    server: FakeAuthorizationServer, client: httpx.Client, key: DPoPKey
) -> None:
    access_token = login(client, server, key)["access_token"]
    proof = key.proof("GET", server.userinfo_url, access_token=access_token)
    assert userinfo(client, server, access_token, proof).status_code == 200
    response = userinfo(client, server, access_token, proof)
    assert "was used before" in challenged(response, "invalid_dpop_proof")


def test_userinfo_still_takes_bearer_tokens(
    server: FakeAuthorizationServer, client: httpx.Client, key: DPoPKey
) -> None:
    access_token = poll(client, server, start(client, server)).json()["access_token"]
    response = userinfo(client, server, access_token, scheme="Bearer")
    assert response.status_code == 200, response.text
    assert "cnf" not in response.json()
    # An unbound token is not sent with the DPoP scheme (RFC 9449 §7.1 is for bound ones).
    proof = key.proof("GET", server.userinfo_url, access_token=access_token)
    response = userinfo(client, server, access_token, proof)
    assert "not DPoP-bound" in challenged(response, "invalid_token")


def test_userinfo_challenges_both_schemes_without_credentials(
    server: FakeAuthorizationServer, client: httpx.Client
) -> None:
    response = client.get(server.userinfo_url)
    assert response.status_code == 401
    assert response.json()["error_description"] == "send Authorization: Bearer or DPoP"
    expected = f'Bearer realm="loctocat-fake", DPoP realm="loctocat-fake", {ALGS}'
    assert response.headers["www-authenticate"] == expected


def test_a_revoked_or_expired_bound_token_is_invalid(
    server: FakeAuthorizationServer, client: httpx.Client, key: DPoPKey
) -> None:
    tokens = login(client, server, key)
    server.expire_access_tokens()
    proof = key.proof("GET", server.userinfo_url, access_token=tokens["access_token"])
    response = userinfo(client, server, tokens["access_token"], proof)
    assert challenged(response, "invalid_token").startswith('DPoP realm="loctocat-fake", error=')
    assert response.json()["error_description"] == "the access token has expired"


def test_revocation_does_not_look_at_proofs(
    server: FakeAuthorizationServer, client: httpx.Client, key: DPoPKey
) -> None:
    # RFC 9449 defines no proof for revocation (RFC 7009): one sent is neither needed nor checked.
    tokens = login(client, server, key)
    for token, proofs in [(tokens["access_token"], ["not a proof"]), (tokens["refresh_token"], [])]:
        form = {"client_id": CLIENT_ID, "token": token}
        response = client.post(
            server.revocation_url, data=form, headers=[("DPoP", p) for p in proofs]
        )
        assert response.status_code == 200, response.text
    assert server.revoked_tokens == [tokens["access_token"], tokens["refresh_token"]]
    proof = key.proof("GET", server.userinfo_url, access_token=tokens["access_token"])
    response = userinfo(client, server, tokens["access_token"], proof)
    assert response.json()["error_description"] == "the access token has been revoked"


def test_dpop_off_userinfo_knows_only_bearer(key: DPoPKey) -> None:
    server = FakeAuthorizationServer()
    with httpx.Client(transport=server.transport()) as client:
        access_token = poll(client, server, start(client, server)).json()["access_token"]
        proof = key.proof("GET", server.userinfo_url, access_token=access_token)
        response = userinfo(client, server, access_token, proof)
        assert response.status_code == 401
        assert response.json()["error_description"] == "send Authorization: Bearer"
        assert response.headers["www-authenticate"] == 'Bearer realm="loctocat-fake"'
        response = userinfo(client, server, access_token, proof, scheme="Bearer")
        assert response.status_code == 200, response.text
        assert "cnf" not in response.json()
        assert "dpop-nonce" not in response.headers
    assert server.issued_tokens[-1].jkt is None
    assert server.dpop_nonce is None


# -- Nonces: RFC 9449 §8 and §9 --------------------------------------------------------------------


@pytest.fixture
def nonce_server() -> FakeAuthorizationServer:
    return FakeAuthorizationServer(dpop=True, require_dpop_nonce=True)


def test_a_token_request_without_the_nonce_is_told_it(
    nonce_server: FakeAuthorizationServer, key: DPoPKey
) -> None:
    server = nonce_server
    nonce = server.dpop_nonce
    assert nonce
    with httpx.Client(transport=server.transport()) as client:
        device_code = start(client, server)
        response = poll(client, server, device_code, key.proof("POST", server.token_url))
        assert "requires a nonce" in refused(response, "use_dpop_nonce")
        assert response.headers["dpop-nonce"] == nonce
        assert server.grant().poll_count == 0
        proof = key.proof("POST", server.token_url, nonce=response.headers["dpop-nonce"])
        response = poll(client, server, device_code, proof)
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
    assert response.headers["dpop-nonce"] == nonce
    assert server.grant().poll_count == 1


def test_a_wrong_nonce_is_told_the_right_one(
    nonce_server: FakeAuthorizationServer, key: DPoPKey
) -> None:
    server = nonce_server
    with httpx.Client(transport=server.transport()) as client:
        proof = key.proof("POST", server.token_url, nonce="made-up")
        response = poll(client, server, start(client, server), proof)
    assert "not the server's current one" in refused(response, "use_dpop_nonce")
    assert response.headers["dpop-nonce"] == server.dpop_nonce


def test_rotating_the_nonce_refuses_the_old_one(
    nonce_server: FakeAuthorizationServer, key: DPoPKey
) -> None:
    server = nonce_server
    old = server.dpop_nonce
    with httpx.Client(transport=server.transport()) as client:
        proof = key.proof("POST", server.token_url, nonce=old)
        assert poll(client, server, start(client, server), proof).status_code == 200
        new = server.rotate_dpop_nonce()
        assert new != old
        assert server.dpop_nonce == new
        device_code = start(client, server)
        response = poll(client, server, device_code, key.proof("POST", server.token_url, nonce=old))
        refused(response, "use_dpop_nonce")
        # The client retries once, with the nonce the error gave.
        assert response.headers["dpop-nonce"] == new
        proof = key.proof("POST", server.token_url, nonce=response.headers["dpop-nonce"])
        assert poll(client, server, device_code, proof).status_code == 200


def test_rotating_and_keeping_the_old_nonce(
    nonce_server: FakeAuthorizationServer, key: DPoPKey
) -> None:
    server = nonce_server
    first = server.dpop_nonce
    second = server.rotate_dpop_nonce(keep_old=True)
    with httpx.Client(transport=server.transport()) as client:
        # The old nonce is still taken, and the answer gives the new one to remember.
        response = poll(
            client, server, start(client, server), key.proof("POST", server.token_url, nonce=first)
        )
        assert response.status_code == 200, response.text
        assert response.headers["dpop-nonce"] == second
        third = server.rotate_dpop_nonce()
        for nonce in (first, second):
            proof = key.proof("POST", server.token_url, nonce=nonce)
            refused(poll(client, server, start(client, server), proof), "use_dpop_nonce")
        proof = key.proof("POST", server.token_url, nonce=third)
        assert poll(client, server, start(client, server), proof).status_code == 200


def test_userinfo_asks_for_the_nonce_with_a_401(
    nonce_server: FakeAuthorizationServer, key: DPoPKey
) -> None:
    server = nonce_server
    with httpx.Client(transport=server.transport()) as client:
        device_code = start(client, server)
        proof = key.proof("POST", server.token_url, nonce=server.dpop_nonce)
        access_token = poll(client, server, device_code, proof).json()["access_token"]
        response = userinfo(
            client,
            server,
            access_token,
            key.proof("GET", server.userinfo_url, access_token=access_token),
        )
        challenge = challenged(response, "use_dpop_nonce")
        assert challenge.startswith('DPoP realm="loctocat-fake", error="use_dpop_nonce", ')
        assert challenge.endswith(ALGS)
        nonce = response.headers["dpop-nonce"]
        assert nonce == server.dpop_nonce
        proof = key.proof("GET", server.userinfo_url, access_token=access_token, nonce=nonce)
        response = userinfo(client, server, access_token, proof)
    assert response.status_code == 200, response.text
    assert response.headers["dpop-nonce"] == nonce


def test_every_token_answer_gives_the_nonce_but_scripted_ones(
    nonce_server: FakeAuthorizationServer, key: DPoPKey
) -> None:
    server = nonce_server
    server.plan("pending", Fault(status=503, body=b"down"), "approve")
    with httpx.Client(transport=server.transport()) as client:
        response = client.post(server.device_authorization_url, data={"client_id": CLIENT_ID})
        assert "dpop-nonce" not in response.headers  # not a token request
        device_code = response.json()["device_code"]
        answers = [
            poll(
                client,
                server,
                device_code,
                key.proof("POST", server.token_url, nonce=server.dpop_nonce),
            )
            for _ in range(3)
        ]
        assert [answer.status_code for answer in answers] == [400, 503, 200]
        assert [answer.headers.get("dpop-nonce") for answer in answers] == [
            server.dpop_nonce,
            None,
            server.dpop_nonce,
        ]
        access_token = answers[-1].json()["access_token"]
        response = userinfo(client, server, access_token, scheme="Bearer")
        assert response.headers["dpop-nonce"] == server.dpop_nonce


def test_without_require_dpop_nonce_there_is_no_nonce(
    server: FakeAuthorizationServer, client: httpx.Client, key: DPoPKey
) -> None:
    assert server.dpop_nonce is None
    with pytest.raises(ValueError, match="require_dpop_nonce"):
        server.rotate_dpop_nonce()
    with pytest.raises(ValueError, match="require_dpop_nonce"):
        FakeAuthorizationServer(require_dpop_nonce=True)
    # A nonce no one asked for is one more claim.
    response = poll(
        client, server, start(client, server), key.proof("POST", server.token_url, nonce="x")
    )
    assert response.status_code == 200, response.text
    assert "dpop-nonce" not in response.headers
