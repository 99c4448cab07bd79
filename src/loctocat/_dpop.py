"""DPoP (RFC 9449): the key a token is bound to, and the proofs that show it is held.

A `DPoPKey` is made per login and kept with the token. For each request to the token endpoint
(each device-flow poll, each refresh) and to a resource, the client sends a fresh proof: a JWT
signed by the key, naming the request (`htm`, `htu`), when it was made (`iat`), a unique `jti`,
the server's latest `nonce` when it asked for one, and at a resource the hash of the access
token (`ath`). Time and randomness are inputs: the caller says when (`iat`) and which `jti`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "DPOP_ALGORITHMS",
    "DPoP",
    "DPoPKey",
    "Nonces",
    "access_token_hash",
    "jwk_thumbprint",
    "origin",
    "proof_url",
]

#: The algorithms loctocat signs proofs with, most preferred first (RFC 9449 §4.2: asymmetric
#: only). ES256 is what every server that lists any supports.
DPOP_ALGORITHMS = ("ES256", "ES384", "PS256", "RS256", "EdDSA")

#: The members of a public JWK that its RFC 7638 thumbprint covers, by key type.
_THUMBPRINT_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public JWK, base64url: the `jkt` a token is bound to."""
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None:
        raise ValueError(f"no thumbprint for a JWK of key type {jwk.get('kty')!r}")
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def access_token_hash(access_token: str) -> str:
    """The proof's `ath` (RFC 9449 §4.2): base64url of the SHA-256 of the access token."""
    return _b64url(hashlib.sha256(access_token.encode("ascii")).digest())


def proof_url(url: str) -> str:
    """The proof's `htu`: "the HTTP target URI ... without query and fragment parts" (§4.2)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class DPoPKey:
    """A key pair a token is bound to. The private key never appears in a repr or a log line.

    Make one with `generate()` (for a new login) or `from_jwk()` (the private JWK kept with a
    stored token, `private_jwk()`).
    """

    def __init__(self, private_key: Any, algorithm: str) -> None:
        import jwt

        self._key = private_key
        self.algorithm = algorithm
        public = json.loads(
            jwt.algorithms.get_default_algorithms()[algorithm].to_jwk(private_key.public_key())
        )
        #: The public key, as a JWK: what each proof carries in its header.
        self.public_jwk: dict[str, Any] = {
            k: v for k, v in public.items() if k not in ("key_ops", "ext")
        }
        #: The RFC 7638 thumbprint of the public key: the token's `cnf.jkt`.
        self.thumbprint = jwk_thumbprint(self.public_jwk)

    def __repr__(self) -> str:
        return f"DPoPKey({self.algorithm}, jkt={self.thumbprint!r})"

    @classmethod
    def generate(cls, supported: Sequence[str] | None = None) -> DPoPKey:
        """A new key, of the first of `DPOP_ALGORITHMS` the server supports (its metadata's
        `dpop_signing_alg_values_supported`; None: ES256). `ValueError` when none is."""
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

        algorithm = next((a for a in DPOP_ALGORITHMS if supported is None or a in supported), None)
        if algorithm is None:
            raise ValueError(
                f"the server signs DPoP proofs only with {', '.join(supported or [])}; loctocat "
                f"can use {', '.join(DPOP_ALGORITHMS)}"
            )
        key: Any
        if algorithm == "ES256":
            key = ec.generate_private_key(ec.SECP256R1())
        elif algorithm == "ES384":
            key = ec.generate_private_key(ec.SECP384R1())
        elif algorithm == "EdDSA":
            key = ed25519.Ed25519PrivateKey.generate()
        else:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(key, algorithm)

    def private_jwk(self) -> dict[str, Any]:
        """The whole key, private part included, as a JWK with `alg` (keep it as the token)."""
        import jwt

        algorithm = jwt.algorithms.get_default_algorithms()[self.algorithm]
        jwk: dict[str, Any] = json.loads(algorithm.to_jwk(self._key))
        return {**jwk, "alg": self.algorithm}

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> DPoPKey:
        """The key `private_jwk()` gave; `ValueError` when it is not a private key loctocat uses."""
        import jwt

        algorithm = jwk.get("alg")
        if algorithm not in DPOP_ALGORITHMS:
            raise ValueError(f"a DPoP key of algorithm {algorithm!r}, not one of {DPOP_ALGORITHMS}")
        try:
            key = jwt.algorithms.get_default_algorithms()[algorithm].from_jwk(json.dumps(dict(jwk)))
        except (jwt.exceptions.PyJWKError, jwt.exceptions.InvalidKeyError, ValueError, KeyError):
            raise ValueError("the DPoP key is not a valid JWK") from None
        if not hasattr(key, "public_key"):
            raise ValueError("the DPoP key has no private part: it cannot sign proofs")
        return cls(key, str(algorithm))

    def proof(
        self,
        method: str,
        url: str,
        *,
        iat: int,
        jti: str,
        nonce: str | None = None,
        access_token: str | None = None,
    ) -> str:
        """A DPoP proof JWT for one request (RFC 9449 §4.2).

        `iat` is now (Unix time) and `jti` a value never used before (e.g. 16 random bytes in
        hex); `nonce` the server's latest `DPoP-Nonce`, if it sent one; `access_token` the
        token the request presents to a resource, for `ath`.
        """
        import jwt

        claims: dict[str, Any] = {
            "jti": jti,
            "htm": method.upper(),
            "htu": proof_url(url),
            "iat": iat,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        if access_token is not None:
            claims["ath"] = access_token_hash(access_token)
        headers = {"typ": "dpop+jwt", "jwk": self.public_jwk}
        return jwt.encode(claims, self._key, algorithm=self.algorithm, headers=headers)


def origin(url: str) -> str:
    """Where a server's nonces apply: "scheme://host:port" (RFC 9449 §8: per server)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class Nonces:
    """The latest `DPoP-Nonce` each server sent (RFC 9449 §8.2: the client uses the most
    recent one it received), shared by the requests of one client."""

    def __init__(self) -> None:
        self._latest: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"Nonces({sorted(self._latest)!r})"

    def get(self, url: str) -> str | None:
        return self._latest.get(origin(url))

    def remember(self, url: str, nonce: str) -> None:
        self._latest[origin(url)] = nonce


@dataclass(frozen=True, slots=True)
class DPoP:
    """Send this request with a fresh DPoP proof of `key`: the sender signs it as it sends,
    with the time then (`iat`) and a new `jti`; `nonce` and `access_token` (for `ath`) go in."""

    key: DPoPKey
    nonce: str | None = None
    access_token: str | None = field(default=None, repr=False)

    def header(self, method: str, url: str) -> str:
        """The `DPoP` header for sending `method` `url` now."""
        import secrets
        import time

        return self.key.proof(
            method,
            url,
            iat=int(time.time()),
            jti=secrets.token_urlsafe(16),
            nonce=self.nonce,
            access_token=self.access_token,
        )


def nonce_challenge(status_code: int, headers: Mapping[str, str], nonces: Nonces, url: str) -> bool:
    """Keep the nonce a resource's answer carries; whether it refused the request for lack of
    it (RFC 9449 §9: 401 with ``WWW-Authenticate: DPoP error="use_dpop_nonce"``), so that the
    request is sent once more with a proof holding it. `headers` look-ups ignore case."""
    nonce = headers.get("dpop-nonce")
    if not nonce:
        return False
    nonces.remember(url, nonce)
    challenge = headers.get("www-authenticate", "")
    return status_code == 401 and "use_dpop_nonce" in challenge and "dpop" in challenge.lower()
