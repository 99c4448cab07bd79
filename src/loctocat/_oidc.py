"""OpenID Connect ID tokens: verified before anyone is told who logged in.

OpenID Connect Core 1.0 §3.1.3.7 (less what the device grant has no use for, such as `nonce`)
and §12.2 (a refreshed ID token names the same user). Sans-I/O like `_flow`: `IDTokenCheck.flow`
yields the `Request`s for the issuer's keys (its JWKS, and its discovery document when the
JWKS's URL is not known) and returns the token with its verified `claims`. Time is an input:
"now" is when the token answer arrived (`Token.received_at`).

The signature is checked with PyJWT (the `loctocat[oidc]` extra); every claim rule lives here.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import threading
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from loctocat._dpop import Nonces, nonce_challenge
from loctocat._flow import (
    ACCEPT_ENCODING,
    ClientConfig,
    Effect,
    Request,
    Response,
    authorization_header,
    fail_fast_answer,
    resource_proof,
)
from loctocat._lifecycle import (
    TENANT_PLACEHOLDER,
    LifecycleEffect,
    SaveToken,
    discovery_flow,
    get_token_flow,
)
from loctocat._models import Identity, IdentitySource, Token, WhoAmI, identity_from_claims
from loctocat._text import one_line, printable
from loctocat.errors import (
    ConfigurationError,
    InvalidIDToken,
    LoctocatError,
    ProtocolError,
    ServerError,
    StoreError,
)

__all__ = [
    "ALGORITHMS",
    "IDTokenCheck",
    "KeySets",
    "ask_identity_flow",
    "identity_flow",
    "jwt_available",
    "verify_claims",
]

log = logging.getLogger("loctocat")

#: The signature algorithms loctocat accepts: asymmetric only. Never `none` (no signature) and
#: never HMAC: an HMAC "signature" made with the issuer's *public* key as the secret is the
#: classic key-confusion forgery, and a client secret is not a signing key loctocat holds.
ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)

#: The JWK key type (and curve) each algorithm needs.
_KEY_TYPES: dict[str, tuple[str, str | None]] = {
    **{alg: ("RSA", None) for alg in ALGORITHMS if alg[:2] in ("RS", "PS")},
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
    "EdDSA": ("OKP", None),
}

#: Seconds a fetched JWKS is trusted before it is fetched again (a key the issuer withdrew
#: stops being accepted within this time).
JWKS_MAX_AGE = 600.0
#: Seconds after a refetch for an unknown `kid` before another may happen: tokens naming keys
#: that do not exist cannot make loctocat hammer the issuer.
JWKS_REFETCH_COOLDOWN = 30.0

_JWKS = "issuer's key set (JWKS)"
_DISCOVERY = "discovery document"


def jwt_available() -> bool:
    """Whether PyJWT (with `cryptography`) is installed, so signatures can be checked."""
    try:
        import jwt  # noqa: F401
        from jwt.algorithms import has_crypto
    except ImportError:
        return False
    return bool(has_crypto)


@dataclass
class _KeySet:
    keys: tuple[Mapping[str, Any], ...]
    fetched_at: datetime
    refetched_at: datetime | None = None


class KeySets:
    """The issuers' key sets (and JWKS URLs) read so far: one per process, shared by threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sets: dict[str, _KeySet] = {}
        self._jwks_uris: dict[str, tuple[str, str | None]] = {}

    def clear(self) -> None:
        """Forget every key set, so the next check fetches the JWKS again."""
        with self._lock:
            self._sets.clear()
            self._jwks_uris.clear()

    def _get(self, uri: str) -> _KeySet | None:
        with self._lock:
            return self._sets.get(uri)

    def _put(self, uri: str, key_set: _KeySet) -> None:
        with self._lock:
            self._sets[uri] = key_set


#: The key sets of this process.
KEY_SETS = KeySets()


@dataclass(frozen=True, slots=True)
class IDTokenCheck:
    """How to verify the ID tokens of one client at one issuer.

    `jwks_uri` is where the issuer's keys are (discovery's `jwks_uri`); None reads it from the
    issuer's discovery document when first needed. `issuers` are the issuers ID tokens may
    name instead of `issuer` (Google's also go by ``accounts.google.com``); one with a
    ``{tenantid}`` placeholder is a multi-tenant issuer (Microsoft's common, organizations and
    consumers): each ID token then names its own tenant's, its `tid` in the placeholder.
    `algorithms` is the allow-list (at most `ALGORITHMS`); `leeway` the seconds of clock skew
    forgiven for `exp`, `iat` and `nbf`.
    """

    issuer: str
    client_id: str
    jwks_uri: str | None = None
    issuers: tuple[str, ...] = ()
    algorithms: tuple[str, ...] = ALGORITHMS
    leeway: float = 30.0
    user_agent: str = "loctocat"
    #: Without PyJWT: True raises `ConfigurationError`; False leaves the token unverified
    #: (no `claims`) and logs a warning once.
    required: bool = True
    key_sets: KeySets = field(default=KEY_SETS, repr=False, compare=False)

    def __post_init__(self) -> None:
        refused = [alg for alg in self.algorithms if alg not in ALGORITHMS]
        if refused or not self.algorithms:
            raise ConfigurationError(
                f"ID token algorithms must be among {', '.join(ALGORITHMS)} (asymmetric only), "
                f"got {', '.join(map(repr, refused)) or 'none'}",
                parameter="id_token_algorithms",
            )

    def flow(self, token: Token, previous: Token | None = None) -> Generator[Effect, Any, Token]:
        """Verify `token.id_token`; return `token` with its `claims`, or raise `InvalidIDToken`.

        `previous` is the token this one renews: §12.2 wants the same `iss`, `sub` and `aud`.
        A token without an ID token is returned as it is. The error carries the unverified
        token as `error.token`, so that it is not lost; it is not stored.
        """
        if token.id_token is None:
            return token
        try:
            return (yield from self._verified(token, previous))
        except InvalidIDToken as error:
            error.token = token
            raise

    def _verified(self, token: Token, previous: Token | None) -> Generator[Effect, Any, Token]:
        assert token.id_token is not None
        if not jwt_available():
            if not self.required:
                _warn_unverified()
                return token
            raise ConfigurationError(
                "verifying ID tokens needs PyJWT: pip install 'loctocat[oidc]' (or pass "
                "verify_id_token=False to keep them unverified, with no claims)",
                parameter="verify_id_token",
            )
        import jwt

        now = token.received_at
        try:
            header = jwt.get_unverified_header(token.id_token)
        except jwt.PyJWTError:
            raise _invalid("format", "the ID token is not a well-formed JWS") from None
        alg = header.get("alg")
        if alg not in self.algorithms:
            allowed = ", ".join(self.algorithms)
            raise _invalid(
                "alg",
                f"the ID token is signed with {_said(alg)}, which loctocat does not accept "
                f"(allowed: {allowed}); 'none' and HMAC are never accepted",
            )
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise _invalid("kid", "the ID token's 'kid' header is not a string")
        rules = self
        jwks_uri = self.jwks_uri
        if jwks_uri is None:
            jwks_uri, template = yield from self._discover()
            if not self.issuers and template is not None:
                rules = dataclasses.replace(self, issuers=(template,))
        key = yield from self._key(token, jwks_uri, kid, alg, now)
        try:
            signing_key = jwt.PyJWK(dict(key), algorithm=alg)
            claims = jwt.decode(
                token.id_token,
                signing_key.key,
                algorithms=[alg],
                # The claims are judged below, against `now`, not PyJWT's reading of the clock.
                options={
                    "verify_signature": True,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_aud": False,
                    "verify_iss": False,
                    "verify_sub": False,
                    "verify_jti": False,
                },
            )
        except jwt.InvalidSignatureError:
            raise _invalid(
                "signature", "the ID token's signature does not match the issuer's key"
            ) from None
        except jwt.PyJWTError as exc:
            raise _invalid(
                "signature", f"the ID token's signature cannot be checked: {exc}"
            ) from None
        verify_claims(rules, claims, now, previous.claims if previous is not None else None)
        return dataclasses.replace(token, claims=MappingProxyType(claims))

    def _discover(self) -> Generator[Effect, Any, tuple[str, str | None]]:
        """The issuer's `jwks_uri`, and its multi-tenant template if it has one."""
        known = self.key_sets._jwks_uris.get(self.issuer)
        if known is not None:
            return known
        try:
            metadata = yield from discovery_flow(self.issuer, self.user_agent)
        except LoctocatError as exc:
            raise _invalid(
                "jwks", f"the issuer's keys could not be found: {_reason(exc)}"
            ) from None
        uri = metadata.document.get("jwks_uri")
        if not isinstance(uri, str) or not uri:
            raise _invalid(
                "jwks",
                f"the issuer's {_DISCOVERY} names no jwks_uri, so its ID tokens cannot be "
                "verified; pass jwks_uri=... or verify_id_token=False",
            )
        found = (uri, metadata.issuer_template)
        self.key_sets._jwks_uris[self.issuer] = found
        return found

    def _key(
        self, token: Token, uri: str, kid: str | None, alg: str, now: datetime
    ) -> Generator[Effect, Any, Mapping[str, Any]]:
        """The issuer's key that signed the token: cached, fetched, or refetched once."""
        key_set = self.key_sets._get(uri)
        fetched = False
        if key_set is None or now - key_set.fetched_at > timedelta(seconds=JWKS_MAX_AGE):
            key_set = yield from self._fetch(token, uri)
            fetched = True
        key = _select(token, key_set.keys, kid, alg)
        if key is None and not fetched:
            # A kid not seen yet: the issuer may have rotated its keys. Look again, at most
            # once per cooldown, so that forged kids cannot make loctocat flood the issuer.
            last = key_set.refetched_at
            if last is None or now - last >= timedelta(seconds=JWKS_REFETCH_COOLDOWN):
                key_set = yield from self._fetch(token, uri)
                key_set.refetched_at = key_set.fetched_at
                key = _select(token, key_set.keys, kid, alg)
        if key is None:
            which = f"the key {kid!r}" if kid is not None else "a key"
            raise _invalid(
                "kid",
                f"the ID token is signed with {which} that the issuer's JWKS ({uri}) does not "
                f"have for {alg}",
            )
        return key

    def _fetch(self, token: Token, uri: str) -> Generator[Effect, Any, _KeySet]:
        headers = (
            ("Accept", "application/json"),
            ("Accept-Encoding", ACCEPT_ENCODING),
            ("User-Agent", self.user_agent),
        )
        request = Request(uri, (), headers, _JWKS, method="GET")
        result = yield request
        try:
            data = fail_fast_answer(request, result)
        except LoctocatError as exc:
            raise _invalid(
                "jwks", f"the issuer's keys could not be fetched: {_reason(exc)}"
            ) from None
        keys = data.get("keys")
        if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
            raise _invalid("jwks", f"the {_JWKS} at {uri} has no list of 'keys'")
        assert isinstance(result, Response)  # fail_fast_answer raised otherwise
        received = result.received_at or token.received_at
        key_set = _KeySet(tuple(MappingProxyType(k) for k in keys), received)
        self.key_sets._put(uri, key_set)
        log.debug("fetched the issuer's JWKS (%d keys)", len(keys))
        return key_set


def _select(
    token: Token, keys: tuple[Mapping[str, Any], ...], kid: str | None, alg: str
) -> Mapping[str, Any] | None:
    """The key for this `kid` and `alg` (RFC 7517 §4), or None when the set has none."""
    kty, crv = _KEY_TYPES[alg]

    def usable(key: Mapping[str, Any]) -> bool:
        return (
            key.get("kty") == kty
            and (crv is None or key.get("crv") == crv)
            and key.get("use", "sig") == "sig"
            and key.get("alg", alg) == alg
        )

    if kid is not None:
        named = [key for key in keys if key.get("kid") == kid]
        for key in named:
            if usable(key):
                return key
        if named:
            raise _invalid(
                "alg",
                f"the ID token says {alg} but the issuer's key {kid!r} is not a {alg} signing key",
            )
        return None
    # No kid: only unambiguous when the issuer has a single key of the right kind.
    candidates = [key for key in keys if usable(key)]
    if len(candidates) > 1:
        raise _invalid(
            "kid",
            f"the ID token names no key ('kid') and the issuer has {len(candidates)} {alg} keys",
        )
    return candidates[0] if candidates else None


def verify_claims(
    check: IDTokenCheck,
    claims: Mapping[str, Any],
    now: datetime,
    previous: Mapping[str, Any] | None = None,
) -> None:
    """OpenID Connect Core §3.1.3.7 steps 2-5, 9-10 and §12.2 on a signed token's claims.

    Raises `InvalidIDToken` naming the first rule broken.
    """
    # §2: iss, sub, aud, exp and iat are REQUIRED.
    for name in ("iss", "sub", "aud", "exp", "iat"):
        if name not in claims:
            raise InvalidIDToken(f"the ID token has no {name!r} claim", check=name)
    sub = claims["sub"]
    if not isinstance(sub, str) or not sub or len(sub) > 255:
        raise InvalidIDToken(
            "the ID token's 'sub' is not a string of 1 to 255 characters", check="sub"
        )
    # 2. "The Issuer Identifier ... MUST exactly match the value of the iss (issuer) Claim."
    if not _issuer_is_expected(check, claims):
        expected = " or ".join(map(repr, check.issuers or (check.issuer,)))
        raise InvalidIDToken(
            f"the ID token was issued by {_said(claims['iss'])}, not {expected}"
            + (" (with its 'tid')" if TENANT_PLACEHOLDER in expected else ""),
            check="iss",
        )
    # 3. "The Client MUST validate that the aud (audience) Claim contains its client_id value
    # ... The ID Token MUST be rejected if the ID Token does not list the Client as a valid
    # audience."
    aud = claims["aud"]
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise InvalidIDToken("the ID token's 'aud' is not a string or a list of them", check="aud")
    if check.client_id not in audiences:
        raise InvalidIDToken(
            f"the ID token is meant for {', '.join(map(repr, audiences)) or 'nobody'}, not "
            f"this client ({check.client_id!r})",
            check="aud",
        )
    # 4. "If the ID Token contains multiple audiences, the Client SHOULD verify that an azp
    # Claim is present." 5. "If an azp (authorized party) Claim is present, the Client SHOULD
    # verify that its client_id is the Claim Value."
    azp = claims.get("azp")
    if len(audiences) > 1 and azp is None:
        raise InvalidIDToken(
            "the ID token has several audiences and no 'azp' naming the one it was issued to",
            check="azp",
        )
    if azp is not None and azp != check.client_id:
        raise InvalidIDToken(
            f"the ID token was issued to {_said(azp)} ('azp'), not this client", check="azp"
        )
    # 9. "The current time MUST be before the time represented by the exp Claim (possibly
    # allowing for some small leeway to account for clock skew)."
    leeway = timedelta(seconds=check.leeway)
    exp = _time(claims, "exp")
    if now - leeway >= exp:
        raise InvalidIDToken(f"the ID token expired at {exp.isoformat()}", check="exp")
    # 10. "The iat Claim can be used to reject tokens that were issued too far away from the
    # current time": one issued in the future (beyond the skew forgiven) is refused.
    iat = _time(claims, "iat")
    if iat > now + leeway:
        raise InvalidIDToken(
            f"the ID token says it was issued at {iat.isoformat()}, in the future (check this "
            "machine's clock)",
            check="iat",
        )
    if "nbf" in claims and _time(claims, "nbf") > now + leeway:
        raise InvalidIDToken("the ID token is not valid yet ('nbf')", check="nbf")
    if previous is not None:
        # §12.2: "its iss Claim Value MUST be the same as in the ID Token issued when the
        # original authentication occurred, its sub Claim Value MUST be the same ..., its
        # aud Claim Value MUST be the same ..."
        for name in ("iss", "sub", "aud"):
            if _same_audiences(previous.get(name)) != _same_audiences(claims.get(name)):
                raise InvalidIDToken(
                    f"the refreshed ID token's {name!r} differs from the one of the login "
                    "(OpenID Connect Core §12.2): it is not the same user's; log in again",
                    check=name,
                )


def _issuer_is_expected(check: IDTokenCheck, claims: Mapping[str, Any]) -> bool:
    """Whether `iss` is the issuer, or one of those its ID tokens may name."""
    iss = claims["iss"]
    for accepted in check.issuers or (check.issuer,):
        if TENANT_PLACEHOLDER not in accepted:
            if iss == accepted:
                return True
            continue
        tenant = claims.get("tid")
        if not isinstance(tenant, str) or not tenant or set("/?#") & set(tenant):
            continue
        if iss == accepted.replace(TENANT_PLACEHOLDER, tenant):
            return True
    return False


def _same_audiences(value: object) -> object:
    """`aud` compared as a set: ["a"] and "a" are the same audience."""
    if isinstance(value, str):
        return frozenset([value])
    if isinstance(value, list):
        return frozenset(v for v in value if isinstance(v, str))
    return value


def _time(claims: Mapping[str, Any], name: str) -> datetime:
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidIDToken(f"the ID token's {name!r} is not a number of seconds", check=name)
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidIDToken(f"the ID token's {name!r} is out of range", check=name) from None


def _said(value: object) -> str:
    """A value from the token, for a message: short, and printable."""
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return printable(text if len(text) <= 80 else text[:77] + "...")


def _reason(error: LoctocatError) -> str:
    return one_line(str(error))


def _invalid(check: str, message: str) -> InvalidIDToken:
    return InvalidIDToken(message, check=check)


_warned: list[bool] = []


def _warn_unverified() -> None:
    if not _warned:
        _warned.append(True)
        log.warning(
            "ID tokens are not verified, so tokens carry no claims: pip install "
            "'loctocat[oidc]' to verify them"
        )


# --- Who is logged in ------------------------------------------------------------------------


def identity_flow(
    config: ClientConfig,
    key: str,
    current: Token | None,
    *,
    leeway: float,
    issuer: str | None,
    userinfo_url: str | None,
    who_am_i: WhoAmI | None,
    last_stored: Token | None = None,
) -> Generator[LifecycleEffect, Any, Identity]:
    """Who the current token belongs to, learnt once and then kept with the token.

    `current` and `last_stored` are as in `get_token_flow`.

    From the verified ID token's claims; else from the OpenID Connect userinfo endpoint
    (`userinfo_url`, or the one the issuer's discovery document names); else from the
    service's own "who am I" API. Never logs in: `LoginRequired` when there is no usable token.
    """
    token = yield from get_token_flow(
        config, key, current, leeway=leeway, login=False, last_stored=last_stored
    )
    if token.identity is not None:
        return token.identity
    if userinfo_url is None and who_am_i is None and issuer is not None:
        metadata = yield from discovery_flow(issuer, config.user_agent)
        userinfo_url = metadata.userinfo_endpoint
    if userinfo_url is not None:
        who = WhoAmI(userinfo_url, name_field="", subject_field="sub")
        identity = yield from ask_identity_flow(
            token, who, config.user_agent, "userinfo", config.dpop_nonces
        )
    elif who_am_i is not None:
        identity = yield from ask_identity_flow(
            token, who_am_i, config.user_agent, "provider", config.dpop_nonces
        )
    else:
        raise ConfigurationError(
            "cannot tell who is logged in: the token has no verified ID token, and neither a "
            "userinfo endpoint nor the service's own API for it is known; pass userinfo_url=... "
            "(or ask for the 'openid' scope, with issuer=... to verify the ID token)",
            parameter="userinfo_url",
        )
    try:
        yield SaveToken(key, dataclasses.replace(token, identity=identity))
    except StoreError as exc:
        log.warning("who is logged in was not stored with the token: %s", exc)
    return identity


def ask_identity_flow(
    token: Token,
    who: WhoAmI,
    user_agent: str,
    source: IdentitySource,
    nonces: Nonces | None = None,
) -> Generator[Effect, Any, Identity]:
    """Ask `who.url` whom `token` belongs to: a JSON object naming the user.

    For the userinfo endpoint (OpenID Connect Core §5.3), the standard claims name the user;
    for a service's own API, `who.subject_field` and `who.name_field` do. A DPoP-bound token
    goes as `Authorization: DPoP` with a proof of its key (RFC 9449 §7), with the server's
    latest nonce from `nonces` (kept there), and once more when the server asks for a new one.
    """
    what = "userinfo endpoint" if source == "userinfo" else "service's who-am-I API"
    if nonces is None:
        nonces = Nonces()
    # A bound token is never sent in another scheme: without its key it raises ProtocolError.
    bound = token.token_type.lower() == "dpop"
    authorization = authorization_header(token) if bound else f"{who.scheme} {token.access_token}"
    headers = (
        ("Authorization", authorization),
        ("Accept", "application/json"),
        ("Accept-Encoding", ACCEPT_ENCODING),
        ("User-Agent", user_agent),
    )
    proof = resource_proof(token, nonces, who.url)
    request = Request(who.url, (), headers, what, method="GET", dpop=proof)
    result = yield request
    if (
        proof is not None
        and isinstance(result, Response)
        and nonce_challenge(result.status_code, result.headers, nonces, who.url)
    ):
        # RFC 9449 §9: the server wants its nonce in the proof: once more, with a new proof.
        result = yield dataclasses.replace(request, dpop=resource_proof(token, nonces, who.url))
    if isinstance(result, Response) and result.status_code in (401, 403):
        raise _refused(what, who.url, result)
    data = fail_fast_answer(request, result)
    if source == "userinfo":
        identity = identity_from_claims(data, "userinfo")
        # §5.3.2: "The sub Claim in the UserInfo Response MUST be verified to exactly match
        # the sub Claim in the ID Token; if they do not match, the UserInfo Response values
        # MUST NOT be used."
        claims = token.claims
        if claims is not None and identity is not None and identity.subject != claims.get("sub"):
            raise ProtocolError(
                f"the {what} ({who.url}) names another user than the ID token: not using it",
                endpoint=who.url,
                field="sub",
            )
    else:
        identity = _identity_from_fields(data, who)
    if identity is None:
        raise ProtocolError(
            f"the {what} ({who.url}) did not say who the token belongs to",
            endpoint=who.url,
            field=who.subject_field,
        )
    return identity


# RFC 6750 §3: auth-param = token "=" ( token / quoted-string ).
_AUTH_PARAM = re.compile(r'([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
# RFC 6749 §5.2: error codes are printable ASCII without '"' and '\'.
_ERROR_CODE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}")


def _refused(what: str, url: str, response: Response) -> ServerError:
    """The error for a 401 or 403: the server's own code when its challenge names one."""
    params: dict[str, str] = {}
    scheme, _, challenge = response.headers.get("www-authenticate", "").strip().partition(" ")
    # A DPoP-bound token is refused in a DPoP challenge, with RFC 6750's codes (RFC 9449 §7.1).
    if scheme.lower() in ("bearer", "dpop"):
        for name, quoted, plain in _AUTH_PARAM.findall(challenge):
            params.setdefault(name.lower(), re.sub(r"\\(.)", r"\1", quoted) or plain)
    error = params.get("error", "")
    if not _ERROR_CODE.fullmatch(error):
        error = "invalid_token"
    refused = f"the {what} ({url}) refused the token (HTTP {response.status_code})"
    description = one_line(params.get("error_description", ""))[:200]
    if description:
        refused += f": {description}"
    if error == "insufficient_scope":
        scope = one_line(params.get("scope", ""))[:200]
        needed = f" with the scope '{scope}'" if scope else " asking for more scopes"
        hint = f"the token lacks the scope to say who you are: log in again{needed}"
    else:
        hint = "it may have expired or been revoked, or lack the scope to say who you are"
    return ServerError.from_code(error, refused, status_code=response.status_code, hint=hint)


def _identity_from_fields(data: Mapping[str, Any], who: WhoAmI) -> Identity | None:
    subject = data.get(who.subject_field)
    if isinstance(subject, bool) or not isinstance(subject, str | int) or subject == "":
        return None
    name = data.get(who.name_field)
    shown = name if isinstance(name, str) and name else str(subject)
    return Identity(str(subject), shown, "provider")
