"""Signed OpenID Connect ID tokens for the fake server: keys, the JWKS, claims and faults.

PyJWT and cryptography (`pip install 'loctocat[oidc]'`) are imported only once a key is needed,
so that `loctocat.testing` imports without them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, get_args

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

__all__ = [
    "DEFAULT_USER",
    "ID_TOKEN_ALGORITHMS",
    "ID_TOKEN_FAULTS",
    "OTHER_AUDIENCE",
    "OTHER_ISSUER",
    "SUPPORTED_CLAIMS",
    "IDTokenAlgorithm",
    "IDTokenFault",
    "IDTokenSigner",
    "checked_user",
    "id_token_claims",
    "import_jwt",
    "user_claims",
]

IDTokenAlgorithm: TypeAlias = Literal["RS256", "ES256"]
"""How the fake server signs ID tokens: RSA 2048 with SHA-256, or ECDSA P-256 with SHA-256."""

IDTokenFault: TypeAlias = Literal[
    "bad_signature",
    "wrong_audience",
    "wrong_issuer",
    "expired",
    "issued_in_future",
    "unknown_kid",
    "alg_none",
    "hmac",
    "multiple_audiences",
    "wrong_azp",
    "other_subject",
    "missing_sub",
]
"""A deliberate flaw in every ID token the fake server issues, for a client's negative tests.

See `FakeAuthorizationServer` for what each one changes.
"""

ID_TOKEN_ALGORITHMS: tuple[str, ...] = get_args(IDTokenAlgorithm)
ID_TOKEN_FAULTS: tuple[str, ...] = get_args(IDTokenFault)

DEFAULT_USER: Mapping[str, object] = MappingProxyType(
    {
        "sub": "fake-user-1",
        "name": "Fake User",
        "preferred_username": "fakeuser",
        "email": "fakeuser@example.test",
        "email_verified": True,
    }
)

OTHER_AUDIENCE = "other-client"
OTHER_ISSUER = "https://other-issuer.example.test"

# OpenID Connect Core 1.0 §5.4: the claims each scope asks for (address and phone not offered).
_SCOPE_CLAIMS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "profile": (
            "name",
            "family_name",
            "given_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
        ),
        "email": ("email", "email_verified"),
    }
)
_ID_TOKEN_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "auth_time")
SUPPORTED_CLAIMS: tuple[str, ...] = tuple(
    sorted({*_ID_TOKEN_CLAIMS, *(claim for names in _SCOPE_CLAIMS.values() for claim in names)})
)
"""Every claim the fake server may put in an ID token or a userinfo answer."""

_INSTALL_HINT = "{} needs PyJWT and cryptography: pip install 'loctocat[oidc]'"
_EXPIRED_BY = 2 * 3600  # "expired": well past any clock tolerance a client allows
_FUTURE_BY = 3600  # "issued_in_future"


def checked_user(user: Mapping[str, object], name: str = "user") -> Mapping[str, object]:
    """A read-only copy of a user's claims; ValueError unless it has a non-empty string `sub`."""
    if not isinstance(user, Mapping):
        raise TypeError(f"{name} must be a mapping of claims, got {type(user).__name__}")
    sub = user.get("sub")
    if not isinstance(sub, str) or not sub:
        raise ValueError(f"{name} must have a non-empty string 'sub' claim, got {sub!r}")
    return MappingProxyType(dict(user))


def user_claims(user: Mapping[str, object], scopes: Collection[str]) -> dict[str, object]:
    """`sub`, and the user's claims that the granted `scopes` ask for (profile, email)."""
    claims: dict[str, object] = {"sub": user["sub"]}
    for scope, names in _SCOPE_CLAIMS.items():
        if scope in scopes:
            claims.update((name, user[name]) for name in names if name in user)
    return claims


def id_token_claims(
    *,
    issuer: str,
    client_id: str,
    user: Mapping[str, object],
    scopes: Collection[str],
    now: int,
    lifetime: int,
    auth_time: int,
    fault: IDTokenFault | None,
) -> dict[str, object]:
    """The payload of an ID token, with the claim `fault` breaks (if it is a claim fault)."""
    claims: dict[str, object] = {
        "iss": issuer,
        "sub": user["sub"],
        "aud": client_id,
        "exp": now + lifetime,
        "iat": now,
        "auth_time": auth_time,
    }
    claims.update(user_claims(user, scopes))
    if fault == "wrong_audience":
        claims["aud"] = OTHER_AUDIENCE
    elif fault == "wrong_issuer":
        claims["iss"] = OTHER_ISSUER
    elif fault == "expired":
        claims["exp"] = now - _EXPIRED_BY
        claims["iat"] = now - _EXPIRED_BY - lifetime
        claims["auth_time"] = min(auth_time, now - _EXPIRED_BY - lifetime)
    elif fault == "issued_in_future":
        claims["iat"] = now + _FUTURE_BY
        claims["exp"] = now + _FUTURE_BY + lifetime
    elif fault == "multiple_audiences":
        claims["aud"] = [client_id, OTHER_AUDIENCE]
    elif fault == "wrong_azp":
        claims["aud"] = [client_id, OTHER_AUDIENCE]
        claims["azp"] = OTHER_AUDIENCE
    elif fault == "other_subject":
        claims["sub"] = f"other-{user['sub']}"
    elif fault == "missing_sub":
        del claims["sub"]
    return claims


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_uint(value: int, size: int | None = None) -> str:
    length = size if size is not None else max(1, (value.bit_length() + 7) // 8)
    return _b64url(value.to_bytes(length, "big"))


def _json_segment(value: Mapping[str, object]) -> str:
    return _b64url(json.dumps(value, separators=(",", ":")).encode())


def import_jwt(purpose: str = "signing ID tokens") -> ModuleType:
    """PyJWT, or an ImportError saying that `purpose` needs it and how to install it."""
    try:
        import cryptography  # noqa: F401  # PyJWT needs it for the asymmetric algorithms
        import jwt
    except ImportError as error:
        raise ImportError(_INSTALL_HINT.format(purpose), name=error.name) from error
    return jwt


@dataclass(frozen=True)
class _Key:
    kid: str
    alg: IDTokenAlgorithm
    private_key: RSAPrivateKey | EllipticCurvePrivateKey
    public_jwk: Mapping[str, object]
    public_pem: bytes


def _new_key(alg: IDTokenAlgorithm, kid: str) -> _Key:
    import_jwt()
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    private_key: RSAPrivateKey | EllipticCurvePrivateKey
    jwk: dict[str, object]
    if alg == "RS256":
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = private_key.public_key().public_numbers()
        jwk = {"kty": "RSA", "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)}
    else:
        private_key = ec.generate_private_key(ec.SECP256R1())
        point = private_key.public_key().public_numbers()
        jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64url_uint(point.x, 32),
            "y": _b64url_uint(point.y, 32),
        }
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return _Key(kid, alg, private_key, MappingProxyType(jwk), pem)


class IDTokenSigner:
    """The server's signing keys, made on first use; the caller holds the server's lock."""

    def __init__(self, alg: IDTokenAlgorithm) -> None:
        self.alg = alg
        self._keys: list[_Key] = []  # the current key first, then those kept by rotations
        self._outsider: _Key | None = None  # signs "unknown_kid" tokens; never published

    def _new_kid(self) -> str:
        return f"fake-{self.alg.lower()}-{secrets.token_hex(6)}"

    def current(self) -> _Key:
        if not self._keys:
            self._keys.append(_new_key(self.alg, self._new_kid()))
        return self._keys[0]

    def rotate(self, *, keep_old: bool) -> str:
        """Make a new current key; the old ones stay published only with `keep_old`."""
        key = _new_key(self.alg, self._new_kid())
        self._keys = [key, *self._keys] if keep_old else [key]
        return key.kid

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The public JWK Set (RFC 7517 §5): the current key first."""
        self.current()
        return {"keys": [dict(key.public_jwk) for key in self._keys]}

    def sign(self, claims: Mapping[str, object], fault: IDTokenFault | None) -> str:
        """A compact JWS of `claims`, broken as `fault` says if it is a signature fault."""
        jwt = import_jwt()
        key = self.current()
        if fault == "alg_none":
            header = {"alg": "none", "typ": "JWT"}
            return f"{_json_segment(header)}.{_json_segment(claims)}."
        if fault == "hmac":
            # Key confusion: the public key's PEM as an HMAC secret, for verifiers that take
            # the algorithm from the token. PyJWT refuses to do this, so it is built by hand.
            header = {"alg": "HS256", "kid": key.kid, "typ": "JWT"}
            signing_input = f"{_json_segment(header)}.{_json_segment(claims)}"
            mac = hmac.new(key.public_pem, signing_input.encode("ascii"), hashlib.sha256)
            return f"{signing_input}.{_b64url(mac.digest())}"
        if fault == "unknown_kid":
            if self._outsider is None:
                self._outsider = _new_key(self.alg, f"fake-unknown-{secrets.token_hex(6)}")
            key = self._outsider
        token: str = jwt.encode(
            dict(claims), key.private_key, algorithm=key.alg, headers={"kid": key.kid}
        )
        if fault == "bad_signature":
            signing_input, _, signature = token.rpartition(".")
            raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
            raw[len(raw) // 2] ^= 0x01
            token = f"{signing_input}.{_b64url(bytes(raw))}"
        return token
