"""DPoP (RFC 9449) for the fake server: checking proofs, key thumbprints, nonces and replays.

A proof is checked against the rules of RFC 9449 §4.3, one at a time, in the order of
`_RULES`; the first one broken refuses it. PyJWT and cryptography verify the signatures
(`pip install 'loctocat[oidc]'`); they are imported when a server with DPoP is made.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import secrets
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias
from urllib.parse import urlsplit

from ._oidc import import_jwt

__all__ = [
    "DEFAULT_DPOP_ALGORITHMS",
    "DPOP_ALGORITHMS",
    "DPoPChecker",
    "ProofError",
    "access_token_hash",
    "jwk_thumbprint",
    "load_jwt",
    "target_uri",
]

DPoPError: TypeAlias = Literal["invalid_dpop_proof", "use_dpop_nonce"]

# RFC 7518 §3.1 and RFC 8037 §3.1: the key type each algorithm signs with, and its curves.
_KEY_TYPES: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "ES256": ("EC", ("P-256",)),
    "ES384": ("EC", ("P-384",)),
    "ES512": ("EC", ("P-521",)),
    "PS256": ("RSA", ()),
    "PS384": ("RSA", ()),
    "PS512": ("RSA", ()),
    "RS256": ("RSA", ()),
    "RS384": ("RSA", ()),
    "RS512": ("RSA", ()),
    "EdDSA": ("OKP", ("Ed25519", "Ed448")),
}
DPOP_ALGORITHMS: tuple[str, ...] = tuple(_KEY_TYPES)
"""The asymmetric JWS algorithms the fake server can check DPoP proofs of."""
DEFAULT_DPOP_ALGORITHMS: tuple[str, ...] = ("ES256", "PS256", "RS256", "EdDSA")

# RFC 7638 §3.2: the required members of each key type, the only ones its thumbprint covers.
_THUMBPRINT_MEMBERS: Mapping[str, tuple[str, ...]] = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
}
# RFC 7518 §6.2.2, §6.3.2 and §6.4.1, RFC 8037 §2: the members only a private (or secret) key has.
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_MIN_RSA_BITS = 2048  # RFC 7518 §3.3 and §3.5
_REQUIRED_STRINGS = ("jti", "htm", "htu")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_PERCENT_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_SHOWN_LENGTH = 60


class ProofError(Exception):
    """A refused proof: `error` is the OAuth error code, `description` says which rule."""

    def __init__(self, error: DPoPError, description: str) -> None:
        super().__init__(description)
        self.error: DPoPError = error
        self.description = description


def load_jwt() -> Any:
    """PyJWT, which checks the signatures; ImportError with the install hint without it."""
    return import_jwt("checking DPoP proofs")


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public JWK, base64url: a DPoP key's `jkt`."""
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def access_token_hash(access_token: str) -> str:
    """RFC 9449 §4.2: `ath`, the base64url SHA-256 of the access token's ASCII bytes."""
    return _b64url(hashlib.sha256(access_token.encode("ascii", "replace")).digest())


def target_uri(url: str, host: str | None) -> str:
    """The target URI of a request (RFC 9110 §7.1): its `Host` header names the authority."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{host or parts.netloc}{parts.path}"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(segment: str) -> bytes:
    if not _BASE64URL.fullmatch(segment):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _shown(value: object) -> str:
    """A value of the proof as an error description quotes it: ASCII, and not too long."""
    text = ascii(value)
    return text if len(text) <= _SHOWN_LENGTH else text[:_SHOWN_LENGTH] + "..."


def _normalized_uri(uri: str) -> str | None:
    """An http(s) URI without query and fragment, normalized as RFC 3986 §6.2.2 and §6.2.3 say:
    scheme and host in lower case, no default port, an empty path as "/", percent-encodings in
    upper case and unreserved characters decoded. None for anything else."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host or parts.username is not None:
        return None
    authority = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        authority += f":{port}"
    path = _PERCENT_ESCAPE.sub(_normalized_escape, parts.path) or "/"
    return f"{scheme}://{authority}{path}"


def _normalized_escape(match: re.Match[str]) -> str:
    char = chr(int(match[1], 16))
    return char if char in _UNRESERVED else "%" + match[1].upper()


@dataclass(frozen=True)
class _Proof:
    """A DPoP header parsed as a JWT, nothing of it checked yet."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    signing_input: bytes
    signature: bytes


def _parse(value: str) -> _Proof | None:
    segments = value.strip().split(".")
    if len(segments) != 3:
        return None
    try:
        header = json.loads(_b64url_decode(segments[0]))
        claims = json.loads(_b64url_decode(segments[1]))
        signature = _b64url_decode(segments[2])
    except ValueError:  # binascii.Error, UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    return _Proof(header, claims, f"{segments[0]}.{segments[1]}".encode("ascii"), signature)


@dataclass(frozen=True)
class _Request:
    """The request a proof came with, and the server's settings to check it by."""

    method: str
    uri: str
    now: float
    access_token: str | None
    algs: Sequence[str]
    window: float
    nonces: Sequence[str]
    seen: Mapping[tuple[str, str], float]


def _typ(proof: _Proof, request: _Request) -> str | None:
    typ = proof.header.get("typ")
    # RFC 7515 §4.1.9: media type names ignore case, and "application/" may be left out.
    if isinstance(typ, str) and typ.lower().removeprefix("application/") == "dpop+jwt":
        return None
    return "typ is missing" if typ is None else f"typ is {_shown(typ)}"


def _alg(proof: _Proof, request: _Request) -> str | None:
    alg = proof.header.get("alg")
    if not isinstance(alg, str):
        return "alg is missing" if alg is None else f"alg is {_shown(alg)}"
    if alg.lower() == "none":
        return "alg is 'none': the proof is not signed"
    if alg.upper().startswith("HS"):
        return f"alg is {_shown(alg)}, a MAC, not an asymmetric signature"
    if alg not in request.algs:
        return f"alg {_shown(alg)} is not one of the server's: {' '.join(request.algs)}"
    return None


def _jwk(proof: _Proof, request: _Request) -> str | None:
    jwk = proof.header.get("jwk")
    if not isinstance(jwk, dict):
        return "the header has no jwk, the public key"
    private = [name for name in _PRIVATE_MEMBERS if name in jwk]
    if private:
        return f"jwk holds private key members: {', '.join(private)}"
    return None


def _signature(proof: _Proof, request: _Request) -> str | None:
    alg: str = proof.header["alg"]
    jwk: Mapping[str, Any] = proof.header["jwk"]
    kty, curves = _KEY_TYPES[alg]
    if jwk.get("kty") != kty or (curves and jwk.get("crv") not in curves):
        wanted = f"{kty} ({' or '.join(curves)})" if curves else kty
        found = f"{_shown(jwk.get('kty'))} ({_shown(jwk.get('crv'))})"
        return f"jwk is a {found} key, {alg} signs with {wanted}"
    jwt = load_jwt()
    algorithm = jwt.get_algorithm_by_name(alg)
    try:
        key = algorithm.from_jwk(dict(jwk))
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        return f"jwk is not a valid {kty} public key"
    if kty == "RSA" and key.key_size < _MIN_RSA_BITS:
        # RFC 7518 §3.3: "A key of size 2048 bits or larger MUST be used with these algorithms."
        return f"jwk is a {key.key_size}-bit RSA key, under {_MIN_RSA_BITS} bits"
    try:
        verified = algorithm.verify(proof.signing_input, key, proof.signature)
    except (ValueError, TypeError):
        verified = False
    return None if verified else "the signature does not verify with the jwk"


def _claims(proof: _Proof, request: _Request) -> str | None:
    for name in _REQUIRED_STRINGS:
        value = proof.claims.get(name)
        if not isinstance(value, str) or not value:
            return f"{name} is missing" if value is None else f"{name} is {_shown(value)}"
    iat = proof.claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, (int, float)) or not _finite(iat):
        return "iat is missing" if iat is None else f"iat is {_shown(iat)}, not a time"
    return None


def _finite(number: float) -> bool:
    """Whether a JSON number is a time: not Infinity or NaN (Python's json reads those), and
    not an integer too large for a float."""
    try:
        return math.isfinite(number)
    except OverflowError:
        return False


def _htm(proof: _Proof, request: _Request) -> str | None:
    htm = proof.claims["htm"]
    return None if htm == request.method else f"htm is {_shown(htm)}, not {request.method}"


def _htu(proof: _Proof, request: _Request) -> str | None:
    htu = proof.claims["htu"]
    if _normalized_uri(htu) == _normalized_uri(request.uri):
        return None
    return f"htu is {_shown(htu)}, not {request.uri}"


def _iat(proof: _Proof, request: _Request) -> str | None:
    age = request.now - proof.claims["iat"]
    if abs(age) <= request.window:
        return None
    when = "old" if age > 0 else "in the future"
    return f"iat is {abs(age):.0f} s {when}; the server takes {request.window:g} s either way"


def _ath(proof: _Proof, request: _Request) -> str | None:
    if request.access_token is None:
        return None
    ath = proof.claims.get("ath")
    if ath is None:
        return "ath is missing"
    if ath != access_token_hash(request.access_token):
        return "ath is not the hash of the access token sent"
    return None


def _replay(proof: _Proof, request: _Request) -> str | None:
    if _replay_key(proof) in request.seen:
        return f"jti {_shown(proof.claims['jti'])} was used before at this URI"
    return None


def _nonce(proof: _Proof, request: _Request) -> str | None:
    if not request.nonces:
        return None  # the server gave no nonce: a nonce claim is one more claim, ignored
    nonce = proof.claims.get("nonce")
    if nonce is None:
        return "the server requires a nonce: use the one its DPoP-Nonce header gives"
    if nonce not in request.nonces:
        return "nonce is not the server's current one: use the one its DPoP-Nonce header gives"
    return None


def _replay_key(proof: _Proof) -> tuple[str, str]:
    htu: str = proof.claims["htu"]
    return (_normalized_uri(htu) or htu, proof.claims["jti"])


@dataclass(frozen=True)
class _Rule:
    section: str
    says: str  # RFC 9449's words, shortened
    problem: Callable[[_Proof, _Request], str | None]  # what breaks the rule, None if nothing
    error: DPoPError = "invalid_dpop_proof"


# Each rule may take for granted the ones above it (the header's `alg` and `jwk` are there).
_RULES: tuple[_Rule, ...] = (
    _Rule("4.3", "the typ JOSE header parameter has the value dpop+jwt", _typ),
    _Rule("4.3", "alg is an asymmetric algorithm, not none, supported by the server", _alg),
    _Rule("4.3", "the jwk JOSE header parameter does not contain a private key", _jwk),
    _Rule("4.3", "the JWT signature verifies with the public key in the jwk", _signature),
    _Rule("4.2", "the payload MUST contain at least jti, htm, htu and iat", _claims),
    _Rule("4.3", "the htm claim matches the HTTP method of the current request", _htm),
    _Rule("4.3", "the htu claim matches the HTTP URI, ignoring query and fragment", _htu),
    _Rule("11.1", "servers MUST only accept DPoP proofs for a limited time", _iat),
    _Rule("7", "the DPoP proof MUST include the ath claim with a valid hash", _ath),
    _Rule("11.1", "requests for which the jti value has been seen before are declined", _replay),
    _Rule("8", "the server requires a nonce in DPoP proofs", _nonce, "use_dpop_nonce"),
)


class DPoPChecker:
    """What a server remembers between proofs: its nonces and the `jti` values it has seen.

    The caller holds the server's lock.
    """

    def __init__(self, *, require_nonce: bool) -> None:
        # The nonce proofs must carry, first, then the one before it while it is still taken.
        self._nonces: list[str] = [_new_nonce()] if require_nonce else []
        # (normalized htu, jti) of each proof taken, with the wall clock time it may be forgotten.
        self._seen: dict[tuple[str, str], float] = {}

    @property
    def nonce(self) -> str | None:
        """The nonce proofs must carry now, None when the server requires none."""
        return self._nonces[0] if self._nonces else None

    def rotate_nonce(self, *, keep_old: bool) -> str:
        if not self._nonces:
            raise ValueError("no nonce to rotate: build the server with require_dpop_nonce=True")
        self._nonces = [_new_nonce(), self._nonces[0]] if keep_old else [_new_nonce()]
        return self._nonces[0]

    def check(
        self,
        values: Sequence[str],
        *,
        method: str,
        uri: str,
        now: float,
        access_token: str | None,
        algs: Sequence[str],
        window: float,
    ) -> str:
        """Check the DPoP header `values` of a request; the JWK thumbprint of the proof's key.

        Raises ProofError for a proof the server refuses. A proof taken is remembered until its
        `iat` is `window` seconds old, so that it cannot be taken twice.
        """
        if len(values) != 1:
            raise ProofError(
                "invalid_dpop_proof",
                f"{len(values)} DPoP headers (RFC 9449 section 4.3: there is not more than one)",
            )
        proof = _parse(values[0])
        if proof is None:
            raise ProofError(
                "invalid_dpop_proof",
                "the DPoP header is not a JWT (RFC 9449 section 4.3: a single well-formed JWT)",
            )
        self._seen = {key: until for key, until in self._seen.items() if until >= now}
        request = _Request(
            method, uri, now, access_token, tuple(algs), window, tuple(self._nonces), self._seen
        )
        for rule in _RULES:
            problem = rule.problem(proof, request)
            if problem is not None:
                raise ProofError(
                    rule.error, f"{problem} (RFC 9449 section {rule.section}: {rule.says})"
                )
        self._seen[_replay_key(proof)] = proof.claims["iat"] + window
        return jwk_thumbprint(proof.header["jwk"])


def _new_nonce() -> str:
    # RFC 9449 §8: "Nonce values MUST be unpredictable"; §8.1: 1*NQCHAR, which base64url is.
    return secrets.token_urlsafe(24)
