"""DPoP keys and proofs (RFC 9449 §4), checked by an independent JWT library."""

from __future__ import annotations

import jwt
import pytest

from loctocat._dpop import DPOP_ALGORITHMS, DPoPKey, access_token_hash, jwk_thumbprint, proof_url


def test_the_thumbprint_is_rfc_7638s() -> None:
    # RFC 7638 §3.1: the example RSA key and its SHA-256 thumbprint.
    jwk = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSo"
            "c_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGj"
            "QR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-b"
            "FTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize("algorithm", DPOP_ALGORITHMS)
def test_a_proof_is_a_signed_dpop_jwt_naming_the_request(algorithm: str) -> None:
    key = DPoPKey.generate([algorithm])

    proof = key.proof(
        "post", "https://as.example/token?x=1#frag", iat=1700000000, jti="j-1", nonce="n-1",
        access_token="at-1",
    )  # fmt: skip

    header = jwt.get_unverified_header(proof)
    assert header["typ"] == "dpop+jwt"
    assert header["alg"] == algorithm
    assert "d" not in header["jwk"]  # the public key only
    public = jwt.PyJWK(header["jwk"], algorithm=algorithm).key
    claims = jwt.decode(proof, public, algorithms=[algorithm], options={"verify_iat": False})
    assert claims == {
        "jti": "j-1",
        "htm": "POST",
        "htu": "https://as.example/token",
        "iat": 1700000000,
        "nonce": "n-1",
        "ath": access_token_hash("at-1"),
    }
    assert jwk_thumbprint(header["jwk"]) == key.thumbprint


def test_the_key_survives_its_private_jwk_and_hides_it() -> None:
    key = DPoPKey.generate()
    kept = key.private_jwk()
    assert kept["alg"] == "ES256"
    assert "d" in kept
    again = DPoPKey.from_jwk(kept)
    assert again.thumbprint == key.thumbprint
    assert kept["d"] not in repr(key)
    with pytest.raises(ValueError, match="no private part"):
        DPoPKey.from_jwk({**key.public_jwk, "alg": "ES256"})
    with pytest.raises(ValueError, match="algorithm"):
        DPoPKey.from_jwk({**kept, "alg": "HS256"})


def test_the_algorithm_is_the_servers_choice_or_es256() -> None:
    assert DPoPKey.generate(None).algorithm == "ES256"
    assert DPoPKey.generate(["RS256", "ES256"]).algorithm == "ES256"
    assert DPoPKey.generate(["PS256"]).algorithm == "PS256"
    with pytest.raises(ValueError, match="HS256"):
        DPoPKey.generate(["HS256"])


def test_the_proof_url_drops_query_and_fragment_only() -> None:
    assert proof_url("https://as.example:8443/a/b?c=d#e") == "https://as.example:8443/a/b"
    assert access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU") == (
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"  # RFC 9449 §7.1's example
    )
