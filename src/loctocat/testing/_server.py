"""`FakeAuthorizationServer`: a scriptable, strict RFC 8628 authorization server for tests."""

from __future__ import annotations

import base64
import hmac
import json
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from http import HTTPStatus
from types import MappingProxyType
from typing import Any, Literal, get_args
from urllib.parse import parse_qs, quote, unquote_plus, urlencode, urlsplit

import httpx

from ._dialects import DIALECTS, dialect
from ._dpop import (
    DEFAULT_DPOP_ALGORITHMS,
    DPOP_ALGORITHMS,
    DPoPChecker,
    ProofError,
    load_jwt,
    target_uri,
)
from ._http import HTTPRunner
from ._oidc import (
    DEFAULT_USER,
    ID_TOKEN_ALGORITHMS,
    ID_TOKEN_FAULTS,
    SUPPORTED_CLAIMS,
    IDTokenAlgorithm,
    IDTokenFault,
    IDTokenSigner,
    checked_user,
    id_token_claims,
    user_claims,
)
from ._page import (
    CONTENT_SECURITY_POLICY,
    device_flow_only_page,
    form_page,
    method_not_allowed_page,
    result_page,
)
from ._types import (
    Answer,
    Endpoint,
    Fault,
    Grant,
    GrantStatus,
    IssuedToken,
    PlanState,
    PlanStep,
    RecordedRequest,
    SlowDown,
    TokenGrantType,
)

__all__ = ["DEVICE_CODE_GRANT_TYPE", "USER_CODE_ALPHABET", "FakeAuthorizationServer"]

DEVICE_CODE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
"""Consonants only: no vowels to spell words, no look-alikes such as 0/O or 1/I (RFC 8628 §6.1)."""

_FORM_TYPE = "application/x-www-form-urlencoded"
_JSON_TYPE = "application/json"
_CLIENT_AUTH_CHOICES = ("any", "basic", "body")
_EMPTY: Mapping[str, object] = MappingProxyType({})
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})
_NO_STRINGS: Mapping[str, str] = MappingProxyType({})
_NO_STATUSES: Mapping[str, int] = MappingProxyType({})
_PLAN_STATES: frozenset[str] = frozenset(get_args(PlanState))
# RFC 8628 §3.5: polls sooner than the interval are answered slow_down; this much earlier is
# forgiven, since client and server clocks and scheduling never line up exactly.
_INTERVAL_TOLERANCE = 0.9
_DEFAULT_INTERVAL = 5  # RFC 8628 §3.2: what clients must assume when no interval is sent
_OPENID_CONFIGURATION = "/.well-known/openid-configuration"
_OAUTH_METADATA = "/.well-known/oauth-authorization-server"
_JWKS_PATH = "/jwks"
#: In an `issuer`, what stands for each ID token's tenant (its user's `tid` claim).
TENANT = "{tenantid}"
_AUTHORIZE_PATH = "/authorize"
# Metadata and keys are public and cacheable, unlike token responses.
_PUBLIC_CACHE = "max-age=60"


class _OAuthError(Exception):
    def __init__(
        self,
        error: str,
        description: str | None = None,
        *,
        status: int = 400,
        headers: Sequence[tuple[str, str]] = (),
        keep_status: bool = False,
        sent_as: str | None = None,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.description = description
        self.status = status
        self.headers = list(headers)
        # HTTP-level failures (405) keep their status even for GitHub-style servers.
        self.keep_status = keep_status
        # The code sent instead of the standard one, where the service's differs (a refresh's).
        self.sent_as = sent_as


def _invalid_client(description: str) -> _OAuthError:
    return _OAuthError(
        "invalid_client",
        description,
        status=401,
        headers=[("WWW-Authenticate", 'Basic realm="loctocat-fake"')],
    )


def _normalize_user_code(code: str) -> str:
    # People type codes in any case, with or without the dash or spaces.
    return "".join(ch for ch in code.upper() if ch.isalnum())


def _media_type(headers: httpx.Headers) -> str | None:
    value: str | None = headers.get("content-type")
    if value is None:
        return None
    return value.split(";", 1)[0].strip().lower()


def _parse_form(body: bytes) -> dict[str, list[str]]:
    """Parse a form body strictly; raises ValueError (incl. UnicodeDecodeError) if malformed."""
    return parse_qs(body.decode("utf-8"), keep_blank_values=True, errors="strict")


class FakeAuthorizationServer:
    """A fake OAuth 2.0 device authorization server (RFC 8628) to run your client against.

    It serves, under `base_url`: `/device_authorization`, `/token` (device code and refresh
    grants) and the verification page `/device` (those three paths can be changed, see below);
    for the rest of a token's life, the metadata
    documents `/.well-known/openid-configuration` and `/.well-known/oauth-authorization-server`
    (RFC 8414, also at the host root followed by the path of `base_url`, as §3.1 says), the
    revocation endpoint `/revoke` (RFC 7009), and a protected resource `/userinfo` that takes
    `Authorization: Bearer <access token>` (RFC 6750) and answers 401 `invalid_token` once the
    token is unknown, revoked or expired; for OpenID Connect, the signing keys of its ID tokens
    at `/jwks` and an authorization endpoint `/authorize` that only says the server offers the
    device flow alone (see below). Use it in memory, by giving `server.transport()` to an
    `httpx.Client` or `httpx.AsyncClient`, or over real loopback HTTP with `serve_http()`.

    It is as strict as a careful real server: POST only, form-encoded bodies, no parameters in
    the query string, no parameter twice, client authentication when configured, device codes
    bound to their client, one token per approval.

    Script what polls receive with `plan()` (or approve by hand with `approve()`), and check what
    the client did with `requests`, `grants` and `issued_tokens`.

    Arguments shape the responses to mimic real providers:

    - `interval`: sent in the device response; None leaves the field out (clients must then
      wait 5 seconds). `expires_in`: lifetime of device codes, in seconds of `clock` time.
    - `client_id` / `client_secret`: when set, other clients get `invalid_client` (HTTP 401).
      The secret is accepted in the body (`client_secret`) or as HTTP Basic.
    - `scopes_allowed`: when set, requesting another scope gets `invalid_scope`.
    - `errors_with_status_200`: answer OAuth errors with HTTP 200, as GitHub does.
    - `verification_uri_complete`: send `verification_uri_complete`.
    - `verification_field`: the name of the verification URI field (Google: "verification_url").
    - `extra_device_fields` / `extra_token_fields`: merged into those responses, e.g.
      `{"message": ...}` as Microsoft sends.
    - `token_lifetime`: `expires_in` of access tokens, in seconds of `clock` time; `/userinfo`
      rejects them after that (None leaves the field out, and they never expire).
      `expire_access_tokens()` expires every access token issued so far, at once.
    - `issue_refresh_token`: include a refresh token (then `grant_type=refresh_token` works).
      `rotate_refresh_tokens`: each refresh answers a new refresh token and the old one stops
      working (`invalid_grant`); with False the answer has no refresh token and the old one
      stays valid. RFC 6749 §6 allows both.
    - `openid_configuration`: serve `/.well-known/openid-configuration`; False answers 404
      there, so clients must fall back to the RFC 8414 path.
      `advertise_device_endpoint`: False leaves `device_authorization_endpoint` out of the
      metadata, as GitLab does. `issuer`: the issuer the metadata names instead of `base_url`,
      to test that clients refuse a document naming another issuer (RFC 8414 §3.3).
    - `enforce_interval`: answer `slow_down` (and add 5 s to the grant's interval) to polls
      that come more than 10% sooner than the interval after the previous poll.
    - `clock`: the time source for expiry, interval checks and timestamps; pass a fake clock to
      test timing without sleeping. `wall_clock` (POSIX seconds, `time.time` by default)
      stamps ID tokens, whose times clients compare with their own clock.
    - `auto_approve_after`: approve each code by itself this many seconds (of `clock` time)
      after it was issued, as a person would; None (the default) waits for `approve()` or a
      plan.
    - `on_answer`: called after each answer, from the thread that served it, with the
      `RecordedRequest`, the HTTP status and the OAuth error code sent (None for none), e.g.
      to log what the server does.

    OpenID Connect: when the granted scope contains `openid`, every token answer (device code
    and refresh grants alike) carries an `id_token`, a JWS signed with a key the server makes on
    first use (this needs PyJWT and cryptography: `pip install 'loctocat[oidc]'`), whose public
    half is served at `jwks_url`. Its claims are `iss` (`issuer`), `sub` (the user's), `aud` (the
    client id of the grant), `iat`, `exp`, `auth_time` (when the grant was approved), and the
    user's claims its scopes ask for: with `profile`, `name`, `preferred_username` and any other
    OpenID Connect profile claim the user has; with `email`, `email` and `email_verified`.
    `/userinfo` answers `sub` and the same user claims. A refresh keeps the grant's `sub` and
    `auth_time`. Times are POSIX seconds of `wall_clock` (`time.time` by default), which is
    what clients compare them with: a fake `clock` moved ahead to expire codes and access
    tokens does not make ID tokens look issued in the future.

    - `user`: the claims of the person who approves, with a string `sub`; by default
      `{"sub": "fake-user-1", "name": "Fake User", "preferred_username": "fakeuser",
      "email": "fakeuser@example.test", "email_verified": True}`.
      `approve(user_code, user=...)` has another person approve one grant.
    - `id_token_alg`: "RS256" (an RSA 2048 key, the default) or "ES256" (a P-256 key).
      `rotate_keys()` replaces the key.
    - `id_token_lifetime`: seconds from `iat` to `exp`.
    - `id_token_fault`: break every ID token issued while it is set, to test that a client
      refuses it (also a public attribute, to change between requests; None issues sound ones):
      "bad_signature" (the signature's bytes altered), "wrong_audience" (`aud` is
      "other-client"), "wrong_issuer" (`iss` is "https://other-issuer.example.test"), "expired"
      (`exp` two hours ago, `iat` a lifetime before it), "issued_in_future" (`iat` an hour
      ahead, `exp` a lifetime after it), "unknown_kid" (signed with a key the JWKS does not
      have, under a `kid` it does not have), "alg_none" (header `"alg": "none"`, no signature),
      "hmac" (HS256 with the PEM of the server's public key, SubjectPublicKeyInfo, as the HMAC
      secret: the key confusion attack), "multiple_audiences" (`aud` is the client id and
      "other-client", with no `azp`), "wrong_azp" (the same `aud` with `azp` "other-client"),
      "other_subject" (`sub` is "other-" + the user's, e.g. to check that a client compares the
      `sub` of a refresh's ID token with the first one, OpenID Connect Core §12.2),
      "missing_sub" (no `sub`). Everything else about the token stays sound.

    DPoP (RFC 9449), to test a client's proofs of possession: with `dpop=True`, a token request
    (a device code poll or a refresh) carrying a `DPoP` header has its proof checked, and a
    sound one binds the access token to the proof's key: the answer says `"token_type":
    "DPoP"`, and `IssuedToken.jkt` is the key's JWK SHA-256 thumbprint (RFC 7638). A token
    request without the header gets a Bearer token. The metadata lists
    `dpop_signing_alg_values_supported`. With DPoP off (the default) the header is ignored, as
    by a server that does not know DPoP.

    - `dpop`: False, True, or "required": token requests without a proof get
      `invalid_request` (RFC 9449 §5.2 has a server refuse them, and names no error code).
    - `dpop_algs`: the JWS algorithms proofs may be signed with, by default ES256, PS256, RS256
      and EdDSA (Ed25519, Ed448); also ES384, ES512, PS384, PS512, RS384, RS512.
    - `dpop_iat_window`: how many seconds a proof's `iat` may be from `wall_clock`, either way
      (60 by default); a proof's `jti` is remembered that long, and a proof that comes again
      is refused.
    - `require_dpop_nonce`: proofs must carry the server's nonce (RFC 9449 §8, §9): one
      without it, or with another, gets `use_dpop_nonce` (HTTP 400 at the token endpoint, 401
      at `/userinfo`) and the nonce in a `DPoP-Nonce` header. Every answer of the token
      endpoint and `/userinfo` carries that header (scripted `Fault` answers excepted), so a
      client can take the nonce from a successful answer too. `dpop_nonce` is the current
      one; `rotate_dpop_nonce()` makes a new one, to test that a client retries once with the
      new nonce (or, with `keep_old=True`, which takes the old one until the next rotation,
      that it uses the nonce a successful answer gave).

    A refused proof gets `invalid_dpop_proof` (HTTP 400 at the token endpoint) and an
    `error_description` naming the rule of RFC 9449 it breaks: more than one `DPoP` header, not
    a JWT, `typ` not `dpop+jwt`, `alg` "none", a MAC or not in `dpop_algs`, no `jwk` or one
    with private key members, a key not of `alg`'s type and curve (or an RSA key under 2048
    bits), a signature that does not verify with the `jwk`, `jti`, `htm`, `htu` or `iat`
    missing, `htm` not the request's method, `htu` not the request's URL (compared normalized:
    scheme and host in any case, default port or not, percent-encoding; query and fragment
    ignored), `iat` out of the window, a `jti` seen before at that URL. Such a request (and one
    refused with `use_dpop_nonce`) is not a poll: it takes no planned answer and does not
    count for the interval.

    Refreshing a public client's (the server has no `client_secret`) bound refresh token takes
    a proof by the same key, else `invalid_grant` (RFC 9449 §5); a confidential client's
    refresh tokens are not bound. Each refresh binds its new access token to its own proof's
    key.

    `/userinfo` takes a bound access token as `Authorization: DPoP <token>` with a proof whose
    `ath` is the token's hash, signed by the token's key; its answer has `cnf: {"jkt": ...}`.
    It answers 401 with the error in a `WWW-Authenticate: DPoP ..., algs="..."` challenge to
    a bad proof (`invalid_dpop_proof`, as above, and `ath` missing or wrong), a missing or old
    nonce (`use_dpop_nonce`), and to no proof, a proof by another key, an unbound token sent
    with the DPoP scheme, or an unknown, revoked or expired token (`invalid_token`). A bound
    token sent as Bearer gets `invalid_token` in the Bearer challenge, followed by the DPoP
    challenge (RFC 9449 §7.2); unbound tokens work as Bearer, as before. `/revoke` does not
    look at DPoP headers: RFC 9449 defines no proof for revocation, the client's
    authentication is what counts there.

    Arguments to imitate a service that departs from RFC 8628 (the defaults follow the RFC), so
    that a client configured for that service can be tested against a faithful stand-in:

    - Paths: `device_path`, `token_path` and `verification_path` are where the device
      endpoint, the token endpoint and the verification page are served under `base_url`
      (GitHub: `base_url="https://github.com", device_path="/login/device/code",
      token_path="/login/oauth/access_token"`); `jwks_path` is where the ID token keys are
      (Google: "/oauth2/v3/certs"). The `*_url` properties, `verification_uri`,
      the metadata documents and `RecordedRequest.endpoint` follow them. The in-memory
      transport routes by path only, so any host works.
    - Polling: `grant_type` is the grant type polls must carry, anything else but
      `refresh_token` gets `unsupported_grant_type` (Amazon, Yandex: "device_code").
      `device_code_param` is the name the device code travels under (Yandex: "code").
      `poll_code_fields` are fields of the device answer each poll must send back unchanged
      (Amazon: `["user_code"]`): missing gets `invalid_request`, a different value
      `invalid_grant`.
    - Device request: `scope_param` is the name of its scope parameter (a scope sent under
      another name is ignored, as real services ignore unknown parameters).
      `required_device_params` are parameters it must carry with exactly these values (Amazon:
      `{"response_type": "device_code"}`); missing or different gets `invalid_request`.
    - Answers: `error_codes` maps standard error codes to what the service sends instead
      (Microsoft: `{"access_denied": "authorization_declined"}`), in every error the server
      makes up (scripted `Fault` errors are sent exactly as given); `refresh_error_codes` does
      so in the answers to a refresh (GitHub: `{"invalid_grant": "bad_refresh_token"}`).
      `scope_as_list` sends the token answer's scope as a JSON array of strings (Twitch).
      `form_encoded_unless_json` answers the device and token endpoints (tokens and errors
      alike) as `application/x-www-form-urlencoded` unless the request's `Accept` names
      `application/json` (GitHub; a list, such as a `scope_as_list` scope, becomes repeated
      parameters). `slow_down_sends_interval` adds the grant's new `interval` to every
      `slow_down` answer (GitHub). `error_statuses` maps standard error codes to the HTTP
      status the service answers them with (Auth0: `{"slow_down": 429,
      "authorization_pending": 403, ...}`; otherwise 400, or 401 for `invalid_client`).
      `error_field` names the field the code goes in when it is not `error`: such answers are
      `{"status": <HTTP status>, "<error_field>": <code>}`, with no description (Twitch:
      `"message"`); the answers to a refresh also name the HTTP status in `error`, as Twitch's
      do (`{"error": "Bad Request", "status": 400, "message": "Invalid refresh token"}`).
    - Client authentication, when `client_secret` is set: `client_auth` is how the secret must
      travel: "any" (HTTP Basic or the `client_secret` body parameter), "basic" (Zoom, Hugging
      Face) or "body" (Google, Yandex); the other way gets `invalid_client` (HTTP 401).
      `secret_on_device_request=False` lets the device endpoint take requests without the
      secret (it is then not checked there, only when polling, as Google and Yandex do).
    """

    def __init__(
        self,
        *,
        interval: int | None = 1,
        expires_in: int = 900,
        client_id: str | None = None,
        client_secret: str | None = None,
        scopes_allowed: Collection[str] | None = None,
        errors_with_status_200: bool = False,
        verification_uri_complete: bool = True,
        verification_field: str = "verification_uri",
        extra_device_fields: Mapping[str, object] = _EMPTY,
        extra_token_fields: Mapping[str, object] = _EMPTY,
        token_lifetime: int | None = 3600,
        issue_refresh_token: bool = True,
        enforce_interval: bool = False,
        rotate_refresh_tokens: bool = True,
        openid_configuration: bool = True,
        advertise_device_endpoint: bool = True,
        issuer: str | None = None,
        base_url: str = "https://auth.example.test",
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        device_path: str = "/device_authorization",
        token_path: str = "/token",
        verification_path: str = "/device",
        jwks_path: str = _JWKS_PATH,
        grant_type: str = DEVICE_CODE_GRANT_TYPE,
        device_code_param: str = "device_code",
        poll_code_fields: Sequence[str] = (),
        scope_param: str = "scope",
        required_device_params: Mapping[str, str] = _NO_STRINGS,
        error_codes: Mapping[str, str] = _NO_STRINGS,
        refresh_error_codes: Mapping[str, str] = _NO_STRINGS,
        scope_as_list: bool = False,
        form_encoded_unless_json: bool = False,
        slow_down_sends_interval: bool = False,
        error_statuses: Mapping[str, int] = _NO_STATUSES,
        error_field: str = "error",
        auto_approve_after: float | None = None,
        on_answer: Callable[[RecordedRequest, int, str | None], None] | None = None,
        client_auth: Literal["any", "basic", "body"] = "any",
        secret_on_device_request: bool = True,
        user: Mapping[str, object] | None = None,
        id_token_alg: Literal["RS256", "ES256"] = "RS256",
        id_token_lifetime: int = 3600,
        id_token_fault: IDTokenFault | None = None,
        dpop: bool | Literal["required"] = False,
        dpop_algs: Sequence[str] = DEFAULT_DPOP_ALGORITHMS,
        dpop_iat_window: float = 60,
        require_dpop_nonce: bool = False,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
        paths = {"device_path": device_path, "token_path": token_path}
        paths["verification_path"] = verification_path
        paths["jwks_path"] = jwks_path
        for name, path in paths.items():
            if not path.startswith("/") or "?" in path or "#" in path:
                raise ValueError(f"{name} must be a path starting with '/', got {path!r}")
        if len({device_path, token_path, verification_path.rstrip("/") or "/"}) < 3:
            raise ValueError("device_path, token_path and verification_path must differ")
        if client_auth not in _CLIENT_AUTH_CHOICES:
            raise ValueError(
                f"client_auth must be one of {_CLIENT_AUTH_CHOICES}, got {client_auth!r}"
            )
        if id_token_alg not in ID_TOKEN_ALGORITHMS:
            raise ValueError(
                f"id_token_alg must be one of {ID_TOKEN_ALGORITHMS}, got {id_token_alg!r}"
            )
        _check_id_token_fault(id_token_fault)
        if dpop not in (False, True, "required"):
            raise ValueError(f"dpop must be False, True or 'required', got {dpop!r}")
        if isinstance(dpop_algs, str) or not dpop_algs:
            raise TypeError("dpop_algs takes a non-empty sequence of algorithm names")
        for alg in dpop_algs:
            if alg not in DPOP_ALGORITHMS:
                raise ValueError(f"dpop_algs: {alg!r} is not one of {DPOP_ALGORITHMS}")
        if not dpop_iat_window > 0:
            raise ValueError(f"dpop_iat_window must be positive, got {dpop_iat_window!r}")
        if require_dpop_nonce and not dpop:
            raise ValueError("require_dpop_nonce needs dpop=True or dpop='required'")
        if dpop:
            load_jwt()  # without PyJWT, fail here rather than at the first proof
        if isinstance(poll_code_fields, str):
            raise TypeError("poll_code_fields takes a sequence of field names, not a string")
        echoable = {"device_code", "user_code", verification_field, "expires_in"}
        echoable.update(extra_device_fields)
        if verification_uri_complete:
            echoable.add("verification_uri_complete")
        if interval is not None:
            echoable.add("interval")
        for name in poll_code_fields:
            if name not in echoable:
                raise ValueError(f"poll_code_fields: the device answer has no field {name!r}")
        self.interval = interval
        self.expires_in = expires_in
        self.client_id = client_id
        self.client_secret = client_secret
        self.scopes_allowed = None if scopes_allowed is None else frozenset(scopes_allowed)
        self.errors_with_status_200 = errors_with_status_200
        self.verification_uri_complete = verification_uri_complete
        self.verification_field = verification_field
        self.extra_device_fields = dict(extra_device_fields)
        self.extra_token_fields = dict(extra_token_fields)
        self.token_lifetime = token_lifetime
        self.issue_refresh_token = issue_refresh_token
        self.enforce_interval = enforce_interval
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.openid_configuration = openid_configuration
        self.advertise_device_endpoint = advertise_device_endpoint
        self._issuer_override = issuer
        self.clock = clock
        self.wall_clock = wall_clock
        self.device_path = device_path
        self.token_path = token_path
        self.verification_path = verification_path
        self.jwks_path = jwks_path
        self.grant_type = grant_type
        self.device_code_param = device_code_param
        self.poll_code_fields = tuple(poll_code_fields)
        self.scope_param = scope_param
        self.required_device_params = dict(required_device_params)
        self.error_codes = dict(error_codes)
        self.refresh_error_codes = dict(refresh_error_codes)
        self.scope_as_list = scope_as_list
        self.form_encoded_unless_json = form_encoded_unless_json
        self.slow_down_sends_interval = slow_down_sends_interval
        self.error_statuses = dict(error_statuses)
        self.error_field = error_field
        self.auto_approve_after = auto_approve_after
        self.on_answer = on_answer
        self.client_auth = client_auth
        self.secret_on_device_request = secret_on_device_request
        self.user = checked_user(DEFAULT_USER if user is None else user)
        self.id_token_alg: IDTokenAlgorithm = id_token_alg
        self.id_token_lifetime = id_token_lifetime
        self.id_token_fault: IDTokenFault | None = id_token_fault
        self.dpop: bool | Literal["required"] = dpop
        self.dpop_algs = tuple(dpop_algs)
        self.dpop_iat_window = dpop_iat_window
        self._configured_base_url = base_url.rstrip("/")
        self._prefix = parts.path.rstrip("/")

        # One lock for all state: HTTP handler threads and the test thread share it.
        self._lock = threading.RLock()
        self._requests: list[RecordedRequest] = []
        self._grants: list[Grant] = []
        self._by_device_code: dict[str, Grant] = {}
        self._by_user_code: dict[str, Grant] = {}
        self._queued_plans: deque[list[PlanStep]] = deque()
        self._device_faults: deque[Fault] = deque()
        self._issued: list[IssuedToken] = []
        self._live_refresh_tokens: dict[str, IssuedToken] = {}
        # The device answer sent for each device code, to check `poll_code_fields` against.
        self._device_answers: dict[str, dict[str, object]] = {}
        # Every access token issued, with the clock reading it expires at (inf: never).
        self._access_tokens: dict[str, tuple[IssuedToken, float]] = {}
        self._revoked: list[str] = []
        self._revoked_set: set[str] = set()
        self._connections_opened = 0
        self._http: HTTPRunner | None = None
        self._signer = IDTokenSigner(id_token_alg)
        # Who approved each grant (by device code), fixed at approval or first issue, so that a
        # refresh's ID token names the same `sub`.
        self._grant_users: dict[str, Mapping[str, object]] = {}
        # Checks DPoP proofs (while `dpop` is on), and remembers their nonces and jti values.
        self._dpop = DPoPChecker(require_nonce=require_dpop_nonce)

    # -- URLs ---------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Where the endpoints live: the loopback URL while serving HTTP, else `base_url`."""
        http = self._http
        if http is not None:
            return http.base_url + self._prefix
        return self._configured_base_url

    @property
    def device_authorization_url(self) -> str:
        """The device authorization endpoint: `base_url + device_path`."""
        return self.base_url + self.device_path

    @property
    def token_url(self) -> str:
        """The token endpoint: `base_url + token_path`."""
        return self.base_url + self.token_path

    @property
    def verification_uri(self) -> str:
        """The verification page: `base_url + verification_path`."""
        return self.base_url + self.verification_path

    @property
    def revocation_url(self) -> str:
        """The revocation endpoint (RFC 7009): `base_url + "/revoke"`."""
        return self.base_url + "/revoke"

    @property
    def userinfo_url(self) -> str:
        """The protected resource that checks bearer tokens: `base_url + "/userinfo"`."""
        return self.base_url + "/userinfo"

    @property
    def jwks_url(self) -> str:
        """The public keys that verify ID tokens, a JWK Set: `base_url + jwks_path`."""
        return self.base_url + self.jwks_path

    @property
    def authorization_url(self) -> str:
        """The authorization endpoint the metadata names: `base_url + "/authorize"`.

        There is no authorization code flow: it answers 400 with a page saying so.
        """
        return self.base_url + _AUTHORIZE_PATH

    @property
    def issuer(self) -> str:
        """The issuer the metadata names: `issuer=` if given, else `base_url`.

        Pass this to a client's discovery: its metadata then lives at
        `issuer + "/.well-known/openid-configuration"`.
        """
        if self._issuer_override is not None:
            return self._issuer_override
        return self.base_url

    def verification_uri_complete_for(self, user_code: str) -> str:
        """The verification page URL with `user_code` filled in, as sent to clients."""
        return f"{self.verification_uri}?user_code={quote(user_code)}"

    # -- What happened --------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def grants(self) -> list[Grant]:
        """Every grant created so far, oldest first. The `Grant` objects update live."""
        with self._lock:
            return list(self._grants)

    @property
    def issued_tokens(self) -> list[IssuedToken]:
        """Every token response sent so far, oldest first."""
        with self._lock:
            return list(self._issued)

    @property
    def revoked_tokens(self) -> list[str]:
        """Every token revoked so far, oldest first: those named in revocation requests, and
        the tokens revoking them took along (a refresh token takes every access and refresh
        token of its grant, RFC 7009 §2.1). Unknown tokens are not listed."""
        with self._lock:
            return list(self._revoked)

    @property
    def connections_opened(self) -> int:
        """TCP connections the HTTP server accepted (0 in memory): 1 for many requests proves
        the client reuses its connection."""
        with self._lock:
            return self._connections_opened

    @property
    def connections_open(self) -> int:
        """TCP connections to the HTTP server that are open right now (0 in memory).

        A connection counts from when the server accepts it until the client closes its side
        (even if the server has not noticed yet) or the server closes it (an idle keep-alive
        connection after 5 s, `stop_http()`). After a client is closed, or a flow cancelled,
        this drops to 0 once the sockets are closed: wait for it briefly, the server's threads
        run on their own.
        """
        http = self._http
        return 0 if http is None else http.connections_open

    @property
    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The JWK Set served at `jwks_url`: `{"keys": [...]}`, the current signing key first.

        Each key has `kid`, `kty`, `alg`, `use: "sig"` and its public parameters. Reading it
        makes the signing key if there is none yet (which needs `loctocat[oidc]`).
        """
        with self._lock:
            return self._signer.jwks()

    def rotate_keys(self, *, keep_old: bool = False) -> str:
        """Replace the ID token signing key with a new one, under a new `kid`; returns that kid.

        ID tokens issued afterwards are signed with the new key. The old public keys stay in
        the JWKS only with `keep_old=True` (as servers publish both for a while); otherwise
        tokens signed before no longer verify against it.
        """
        with self._lock:
            return self._signer.rotate(keep_old=keep_old)

    @property
    def dpop_nonce(self) -> str | None:
        """The nonce DPoP proofs must carry now (`require_dpop_nonce=True`), else None."""
        with self._lock:
            return self._dpop.nonce

    def rotate_dpop_nonce(self, *, keep_old: bool = False) -> str:
        """Make a new DPoP nonce, which answers give from now on; returns it.

        Proofs with the old nonce get `use_dpop_nonce`, unless `keep_old=True`: then the old
        one is taken too, until the next rotation, as servers keep "a window of recent nonces"
        (RFC 9449 §8), so that a client's next proof may be checked for the new one.
        Raises ValueError for a server built without `require_dpop_nonce=True`.
        """
        with self._lock:
            return self._dpop.rotate_nonce(keep_old=keep_old)

    def grant(self, user_code: str | None = None) -> Grant:
        """The grant with this user code (any case, dash optional), or the latest one.

        Raises LookupError when there is no such grant.
        """
        with self._lock:
            return self._find(user_code)

    # -- Scripting -------------------------------------------------------------------------------

    def plan(self, *steps: PlanStep) -> None:
        """Script the answers to the polls of the next flow, in order.

        Steps: "pending", "slow_down" (interval + 5), `SlowDown(interval=n)`, "approve" (the
        token), "deny" (access_denied), "expire" (expired_token), or a `Fault`. Once all are used
        the last one keeps applying: after "approve" later polls get invalid_grant (one token
        per code), after "deny" access_denied, after "pending" authorization_pending until you
        call `approve()`.

        Each call scripts one flow: the first call applies to the next device authorization
        request, a second call to the one after, and so on. Use `plan_for` for a grant that
        already exists. Manual `approve`/`deny`/`expire` take precedence over the plan.
        """
        checked = _check_steps(steps)
        with self._lock:
            self._queued_plans.append(checked)

    def plan_for(self, user_code: str | None, *steps: PlanStep) -> None:
        """Replace the scripted answers of an existing grant (the latest if `user_code` is None).

        Steps are as for `plan`.
        """
        checked = _check_steps(steps)
        with self._lock:
            grant = self._find(user_code)
            grant.plan = checked
            grant.unused_steps = len(checked)

    def plan_device(self, *faults: Fault) -> None:
        """Script the next answers of the device authorization endpoint.

        Each request to that endpoint consumes one fault, before any checking; once they are
        used up the endpoint behaves normally again. For example `plan_device(Fault(status=503))`
        makes the first device request fail and the retry succeed.
        """
        for fault in faults:
            if not isinstance(fault, Fault):
                raise TypeError(f"plan_device takes Fault values, got {fault!r}")
        with self._lock:
            self._device_faults.extend(faults)

    @classmethod
    def imitating(cls, service: str, **options: Any) -> FakeAuthorizationServer:
        """A server that answers as `service` does (one of `loctocat.predefined`'s names).

        Keyword arguments are the service's parameters (`tenant=`, `domain=`, `realm=`, ...,
        as the provider takes them) and any constructor option, which wins over the
        service's own::

            server = FakeAuthorizationServer.imitating("github", interval=0)
            server = FakeAuthorizationServer.imitating("keycloak", base_url=..., realm="staff")

        Raises ValueError for an unknown service or a missing parameter.
        """
        entry = DIALECTS.get(service)
        known = set(entry.parameters) if entry is not None else set()
        parameters = {name: options.pop(name) for name in list(options) if name in known}
        if "base_url" in known and "base_url" not in parameters and "base_url" in options:
            parameters["base_url"] = options.pop("base_url")
        return cls(**{**dialect(service, **parameters), **options})

    def unused_plans(self) -> list[str]:
        """What was scripted and never served, one line each (empty when all was used).

        A `plan()` no device request took, steps of a grant's plan no poll received, and
        `plan_device()` faults no device request met.
        """
        with self._lock:
            unused = [
                f"plan{tuple(steps)!r}: no device request took it" for steps in self._queued_plans
            ]
            unused += [
                f"grant {grant.user_code}: planned answers never sent to a poll: "
                f"{tuple(grant.plan[-grant.unused_steps :])!r}"
                for grant in self._grants
                if grant.unused_steps
            ]
            unused += [
                f"plan_device({fault!r}): no device request met it" for fault in self._device_faults
            ]
            return unused

    def assert_all_used(self) -> None:
        """Fail (AssertionError) if anything scripted with `plan`/`plan_device` was never served.

        A test that planned "approve" but never polled would otherwise pass; the
        `fake_auth_server` fixtures call this when the test ends, as pytest-httpx does for its
        mocked responses.
        """
        unused = self.unused_plans()
        if unused:
            raise AssertionError(
                "the fake authorization server has planned answers no request received:\n  "
                + "\n  ".join(unused)
            )

    def approve(
        self, user_code: str | None = None, *, user: Mapping[str, object] | None = None
    ) -> Grant:
        """Approve a grant (the latest if `user_code` is None): its next poll gets the token.

        `user` is who approves, their claims for the ID token and `/userinfo` (with a string
        `sub`); by default the server's `user`.
        Raises LookupError for an unknown code and ValueError if its token was already issued.
        """
        checked = None if user is None else checked_user(user)
        with self._lock:
            grant = self._set_status(user_code, "approved")
            if checked is not None:
                self._grant_users[grant.device_code] = checked
            return grant

    def deny(self, user_code: str | None = None) -> Grant:
        """Deny a grant (the latest if `user_code` is None): its polls get access_denied."""
        return self._set_status(user_code, "denied")

    def expire(self, user_code: str | None = None) -> Grant:
        """Expire a grant now (the latest if `user_code` is None): polls get expired_token."""
        return self._set_status(user_code, "expired")

    def expire_access_tokens(self) -> None:
        """Expire every access token issued so far: their next use at `/userinfo` gets 401.

        Tokens issued afterwards (a refresh, say) are not affected. This is the server's view
        only: the `expires_in` the client was told, and hence its own idea of the expiry, stay.
        """
        with self._lock:
            for access_token, (issued, _) in self._access_tokens.items():
                self._access_tokens[access_token] = (issued, -math.inf)

    def _set_status(self, user_code: str | None, status: GrantStatus) -> Grant:
        with self._lock:
            grant = self._find(user_code)
            if grant.status == "redeemed":
                raise ValueError(f"grant {grant.user_code} has already been redeemed for a token")
            if status == "approved":
                _approve(grant, self.clock())
            else:
                grant.status = status
            return grant

    def _find(self, user_code: str | None) -> Grant:
        if user_code is None:
            if not self._grants:
                raise LookupError("no device authorization request has been made yet")
            return self._grants[-1]
        grant = self._by_user_code.get(_normalize_user_code(user_code))
        if grant is None:
            raise LookupError(f"no grant with user code {user_code!r}")
        return grant

    # -- Serving ----------------------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        """An in-memory transport serving this server, for `httpx.Client` or `httpx.AsyncClient`.

        `httpx.Client(transport=server.transport())`, then use `server.device_authorization_url`
        and `server.token_url`. A `Fault(drop=True)` raises `httpx.RemoteProtocolError`.
        """
        return httpx.MockTransport(self._handle_httpx)

    def _handle_httpx(self, request: httpx.Request) -> httpx.Response:
        answer = self._serve_request(
            request.method, str(request.url), request.headers, request.content
        )
        if answer.drop:
            # The same error httpx raises when a real server hangs up before answering.
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        return httpx.Response(answer.status, headers=answer.headers, content=answer.body)

    def start_http(self, port: int = 0) -> str:
        """Start serving real HTTP/1.1 on 127.0.0.1 in a background thread (port 0: any free one).

        Returns the base URL; the `*_url` properties point there until `stop_http()`.
        Prefer `with server.serve_http():`, which always stops the server.
        """
        with self._lock:
            if self._http is not None:
                raise RuntimeError("the HTTP server is already running")
            self._http = HTTPRunner(self, port)
        return self.base_url

    def stop_http(self) -> None:
        """Stop the HTTP server: close its connections and wait for its threads. Idempotent."""
        with self._lock:
            http, self._http = self._http, None
        if http is not None:
            http.stop()

    @contextmanager
    def serve_http(self, port: int = 0) -> Iterator[str]:
        """Serve real HTTP on loopback for the duration of a `with` block; yields the base URL."""
        base_url = self.start_http(port)
        try:
            yield base_url
        finally:
            self.stop_http()

    def _count_connection(self) -> None:
        """Count a TCP connection accepted by the HTTP server (called by its threads)."""
        with self._lock:
            self._connections_opened += 1

    # -- Request handling ------------------------------------------------------------------------

    def _serve_request(
        self, method: str, url: str, headers: Iterable[tuple[str, str]] | httpx.Headers, body: bytes
    ) -> Answer:
        """Answer one request. Both the in-memory transport and the HTTP server call this."""
        parts = urlsplit(url)
        request_headers = (
            headers if isinstance(headers, httpx.Headers) else httpx.Headers(list(headers))
        )
        form_multi: dict[str, list[str]] = {}
        form_error = False
        if _media_type(request_headers) == _FORM_TYPE:
            try:
                form_multi = _parse_form(body)
            except ValueError:
                form_error = True
        with self._lock:
            record = RecordedRequest(
                method=method.upper(),
                url=url,
                path=parts.path,
                query=parts.query,
                headers=request_headers,
                body=body,
                form={name: values[-1] for name, values in form_multi.items()},
                form_multi=form_multi,
                endpoint=self._route(parts.path),
                timestamp=self.clock(),
            )
            self._requests.append(record)
            answer = self._answer(record, form_error)
        if self.on_answer is not None:
            self.on_answer(record, answer.status, _error_of(answer))
        return answer

    def _answer(self, record: RecordedRequest, form_error: bool) -> Answer:
        if record.endpoint in ("device_authorization", "token"):
            return self._oauth_endpoint(record, form_error)
        try:
            if record.endpoint == "page":
                return self._page_endpoint(record, form_error)
            if record.endpoint == "discovery":
                return self._discovery_endpoint(record)
            if record.endpoint == "revocation":
                return self._revocation_endpoint(record, form_error)
            if record.endpoint == "userinfo":
                return self._with_dpop_nonce(self._userinfo_endpoint(record))
            if record.endpoint == "jwks":
                return self._jwks_endpoint(record)
            if record.endpoint == "authorization":
                return self._authorization_endpoint(record)
        except _OAuthError as error:
            return self._error_answer(error)
        return _not_found()

    def _oauth_endpoint(self, record: RecordedRequest, form_error: bool) -> Answer:
        """Answer the device or the token endpoint, as a form if the service does that."""
        try:
            if record.endpoint == "device_authorization":
                answer = self._device_endpoint(record, form_error)
            else:
                answer = self._token_endpoint(record, form_error)
        except _OAuthError as error:
            answer = self._error_answer(error)
        if record.endpoint == "token":
            answer = self._with_dpop_nonce(answer)
        if answer.payload is None or not self.form_encoded_unless_json:
            return answer
        accepted = record.headers.get("accept", "").split(",")
        if any(item.split(";", 1)[0].strip().lower() == _JSON_TYPE for item in accepted):
            return answer
        headers = [
            (name, _FORM_TYPE if name.lower() == "content-type" else value)
            for name, value in answer.headers
        ]
        return Answer(answer.status, headers, _form_body(answer.payload))

    def _route(self, path: str) -> Endpoint:
        # RFC 8414 §3.1 puts the well-known part before the issuer's path.
        if path == _OAUTH_METADATA + self._prefix:
            return "discovery"
        # An issuer of its own (Okta's authorization servers, Keycloak's realms) has its
        # metadata under its own path.
        issuer_path = urlsplit(self.issuer).path.rstrip("/")
        own = (issuer_path + _OPENID_CONFIGURATION, _OAUTH_METADATA + issuer_path)
        if self._issuer_override is not None and TENANT not in issuer_path and path in own:
            return "discovery"
        if path.startswith(self._prefix):
            rest = path[len(self._prefix) :]
            if rest == self.device_path:
                return "device_authorization"
            if rest == self.token_path:
                return "token"
            page = self.verification_path.rstrip("/")
            if rest in (page, page + "/"):
                return "page"
            # Many servers (Keycloak) also publish RFC 8414 metadata after the path.
            if rest in (_OPENID_CONFIGURATION, _OAUTH_METADATA):
                return "discovery"
            if rest == "/revoke":
                return "revocation"
            if rest == "/userinfo":
                return "userinfo"
            if rest == self.jwks_path:
                return "jwks"
            if rest == _AUTHORIZE_PATH:
                return "authorization"
        return "other"

    def _check_request(self, record: RecordedRequest, form_error: bool) -> str:
        """Apply the rules shared by both OAuth endpoints; returns the client id."""
        if record.method != "POST":
            raise _OAuthError(
                "invalid_request",
                "this endpoint only accepts POST",
                status=405,
                headers=[("Allow", "POST")],
                keep_status=True,
            )
        if record.query:
            # RFC 8628 §3.1 / RFC 6749 §3.2: credentials must not travel in URLs, which get logged.
            raise _OAuthError("invalid_request", "parameters must be in the body")
        media_type = _media_type(record.headers)
        # An empty body carries no parameters to misencode (httpx sends none for `data={}`).
        if media_type != _FORM_TYPE and (record.body or media_type is not None):
            raise _OAuthError(
                "invalid_request", f"the body must be sent as Content-Type: {_FORM_TYPE}"
            )
        if form_error:
            raise _OAuthError("invalid_request", "the form body is not valid UTF-8")
        for name, values in record.form_multi.items():
            if len(values) > 1:
                # RFC 6749 §3.1: parameters must not be included more than once.
                raise _OAuthError("invalid_request", f"parameter {name!r} given more than once")
        check_secret = record.endpoint != "device_authorization" or self.secret_on_device_request
        return self._authenticate_client(record, check_secret=check_secret)

    def _authenticate_client(self, record: RecordedRequest, *, check_secret: bool = True) -> str:
        form = record.form
        authorization = record.headers.get("authorization")
        secrets_given: list[str] = []
        if authorization is not None:
            scheme, _, credentials = authorization.strip().partition(" ")
            if scheme.lower() != "basic":
                raise _invalid_client("only HTTP Basic client authentication is supported")
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
            except ValueError:
                raise _invalid_client("malformed HTTP Basic credentials") from None
            raw_id, colon, raw_secret = decoded.partition(":")
            if not colon:
                raise _invalid_client("malformed HTTP Basic credentials")
            if "client_secret" in form:
                raise _OAuthError(
                    "invalid_request", "use one client authentication method, not two"
                )
            # RFC 6749 §2.3.1 form-encodes the credentials first; many clients don't. Take both.
            ids = (raw_id, unquote_plus(raw_id))
            if "client_id" in form and form["client_id"] not in ids:
                raise _OAuthError(
                    "invalid_request", "client_id in the body differs from HTTP Basic"
                )
            client_id = next((i for i in ids if i == self.client_id), form.get("client_id", raw_id))
            secrets_given = [raw_secret, unquote_plus(raw_secret)]
        else:
            client_id = form.get("client_id", "")
            if not client_id:
                raise _OAuthError("invalid_request", "missing client_id")
            if "client_secret" in form:
                secrets_given = [form["client_secret"]]
        if self.client_id is not None and client_id != self.client_id:
            raise _invalid_client("unknown client_id")
        if self.client_secret is not None and check_secret:
            if self.client_auth == "basic" and authorization is None:
                raise _invalid_client("send the client secret with HTTP Basic")
            if self.client_auth == "body" and authorization is not None:
                raise _invalid_client("send the client secret in the body, not with HTTP Basic")
            expected = self.client_secret.encode()
            if not any(hmac.compare_digest(s.encode(), expected) for s in secrets_given):
                raise _invalid_client("client authentication failed")
        return client_id

    def _device_endpoint(self, record: RecordedRequest, form_error: bool) -> Answer:
        if self._device_faults:
            return self._fault_answer(self._device_faults.popleft())
        client_id = self._check_request(record, form_error)
        for name, value in self.required_device_params.items():
            given = record.form.get(name)
            if given is None:
                raise _OAuthError("invalid_request", f"missing {name}")
            if given != value:
                raise _OAuthError("invalid_request", f"{name} must be {value!r}")
        scope = record.form.get(self.scope_param)
        if scope is not None and self.scopes_allowed is not None:
            unknown = [s for s in scope.split() if s not in self.scopes_allowed]
            if unknown:
                raise _OAuthError("invalid_scope", f"unknown scope: {' '.join(unknown)}")
        grant = self._new_grant(client_id, scope or None)
        payload: dict[str, object] = {
            "device_code": grant.device_code,
            "user_code": grant.user_code,
            self.verification_field: self.verification_uri,
        }
        if self.verification_uri_complete:
            payload["verification_uri_complete"] = self.verification_uri_complete_for(
                grant.user_code
            )
        payload["expires_in"] = self.expires_in
        if self.interval is not None:
            payload["interval"] = self.interval
        payload.update(self.extra_device_fields)
        self._device_answers[grant.device_code] = payload
        return self._json(200, payload)

    def _new_grant(self, client_id: str, scope: str | None) -> Grant:
        while True:
            letters = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
            if letters not in self._by_user_code:
                break
        now = self.clock()
        plan = self._queued_plans.popleft() if self._queued_plans else []
        grant = Grant(
            device_code=secrets.token_urlsafe(32),
            user_code=f"{letters[:4]}-{letters[4:]}",
            client_id=client_id,
            scope=scope,
            interval=self.interval if self.interval is not None else _DEFAULT_INTERVAL,
            created_at=now,
            expires_at=now + self.expires_in,
            plan=plan,
            unused_steps=len(plan),
        )
        self._grants.append(grant)
        self._by_device_code[grant.device_code] = grant
        self._by_user_code[letters] = grant
        return grant

    def _token_endpoint(self, record: RecordedRequest, form_error: bool) -> Answer:
        client_id = self._check_request(record, form_error)
        jkt = self._token_request_proof(record)
        grant_type = record.form.get("grant_type")
        if not grant_type:
            raise _OAuthError("invalid_request", "missing grant_type")
        if grant_type == self.grant_type:
            return self._poll(record, client_id, jkt)
        if grant_type == "refresh_token":
            try:
                return self._refresh(record, client_id, jkt)
            except _OAuthError as error:
                error.sent_as = self.refresh_error_codes.get(error.error)
                raise
        raise _OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")

    def _token_request_proof(self, record: RecordedRequest) -> str | None:
        """Check the DPoP proof of a token request: the thumbprint of its key, None if none."""
        if not self.dpop:
            return None  # a server without DPoP ignores the header, as RFC 9449 §5 expects
        values = record.headers.get_list("dpop")
        if not values:
            if self.dpop == "required":
                # RFC 9449 §5.2: reject "token requests ... that do not contain the DPoP header".
                raise _OAuthError("invalid_request", "missing DPoP proof: this server requires one")
            return None
        return self._check_proof(record, values, access_token=None)

    def _check_proof(
        self, record: RecordedRequest, values: Sequence[str], *, access_token: str | None
    ) -> str:
        """Check a request's DPoP proof (RFC 9449 §4.3); the thumbprint of its key."""
        try:
            return self._dpop.check(
                values,
                method=record.method,
                uri=target_uri(record.url, record.headers.get("host")),
                now=self.wall_clock(),
                access_token=access_token,
                algs=self.dpop_algs,
                window=self.dpop_iat_window,
            )
        except ProofError as error:
            raise _OAuthError(error.error, error.description) from None

    def _poll(self, record: RecordedRequest, client_id: str, jkt: str | None) -> Answer:
        device_code = record.form.get(self.device_code_param)
        if not device_code:
            raise _OAuthError("invalid_request", f"missing {self.device_code_param}")
        grant = self._by_device_code.get(device_code)
        if grant is None:
            raise _OAuthError("invalid_grant", f"unknown {self.device_code_param}")
        if grant.client_id != client_id:
            raise _OAuthError("invalid_grant", "device_code was issued to another client")
        device_answer = self._device_answers[device_code]
        for name in self.poll_code_fields:
            echoed = record.form.get(name)
            if echoed is None:
                raise _OAuthError("invalid_request", f"missing {name}")
            if echoed != _form_value(device_answer[name]):
                raise _OAuthError("invalid_grant", f"{name} does not match the device code")
        now = record.timestamp
        previous = grant.poll_times[-1] if grant.poll_times else None
        grant.poll_times.append(now)

        if grant.status == "redeemed":
            raise _OAuthError("invalid_grant", "device_code has already been used")
        if grant.status == "denied":
            raise _OAuthError("access_denied", "the user denied the request")
        if grant.status == "expired" or now >= grant.expires_at:
            grant.status = "expired"
            raise _OAuthError("expired_token", "device_code has expired")
        if (
            self.enforce_interval
            and previous is not None
            and now - previous < grant.interval * _INTERVAL_TOLERANCE
        ):
            return self._slow_down(grant, grant.interval + 5)
        if (
            grant.status == "pending"
            and self.auto_approve_after is not None
            and now - grant.created_at >= self.auto_approve_after
        ):
            _approve(grant, grant.created_at + self.auto_approve_after)
        if grant.status == "approved":
            return self._issue(grant, client_id, grant.scope, "device_code", jkt)

        step: PlanStep = "pending"
        if grant.plan:
            # The last step is kept so that it keeps applying once the script runs out.
            step = grant.plan.pop(0) if len(grant.plan) > 1 else grant.plan[0]
            grant.unused_steps = max(0, grant.unused_steps - 1)
        if isinstance(step, Fault):
            return self._fault_answer(step)
        if isinstance(step, SlowDown):
            if step.interval is None:
                return self._slow_down(grant, grant.interval + 5)
            return self._slow_down(grant, step.interval, send_interval=True)
        if step == "slow_down":
            return self._slow_down(grant, grant.interval + 5)
        if step == "approve":
            _approve(grant, now)
            return self._issue(grant, client_id, grant.scope, "device_code", jkt)
        if step == "deny":
            grant.status = "denied"
            raise _OAuthError("access_denied", "the user denied the request")
        if step == "expire":
            grant.status = "expired"
            raise _OAuthError("expired_token", "device_code has expired")
        raise _OAuthError("authorization_pending", "the user has not yet approved the request")

    def _slow_down(self, grant: Grant, interval: int, *, send_interval: bool = False) -> Answer:
        grant.interval = interval
        fields: dict[str, object] = {}
        if send_interval or self.slow_down_sends_interval:
            fields["interval"] = interval
        return self._error_answer(_OAuthError("slow_down", "polling too fast"), fields)

    def _refresh(self, record: RecordedRequest, client_id: str, jkt: str | None) -> Answer:
        refresh_token = record.form.get("refresh_token")
        if not refresh_token:
            raise _OAuthError("invalid_request", "missing refresh_token")
        previous = self._live_refresh_tokens.get(refresh_token)
        if previous is None:
            raise _OAuthError("invalid_grant", "unknown or already used refresh_token")
        if previous.client_id != client_id:
            raise _OAuthError("invalid_grant", "refresh_token was issued to another client")
        scope = previous.scope
        requested = record.form.get("scope")
        if requested is not None:
            # RFC 6749 §6: a refresh may narrow the scope, never widen it.
            granted = set((previous.scope or "").split())
            if not set(requested.split()) <= granted:
                raise _OAuthError("invalid_scope", "cannot widen the scope on refresh")
            scope = requested
        # RFC 9449 §5: a refresh token issued to a public client with a DPoP proof "MUST be
        # bound to the respective public key"; a confidential client's is bound by its secret.
        bound_to = previous.jkt if self.client_secret is None else None
        if bound_to is not None and jkt != bound_to:
            raise _OAuthError(
                "invalid_grant",
                "the refresh token is bound to a DPoP key: send a DPoP proof signed with it",
            )
        if self.rotate_refresh_tokens:
            del self._live_refresh_tokens[refresh_token]  # each refresh token works once
        grant = self._by_user_code[_normalize_user_code(previous.user_code)]
        return self._issue(grant, client_id, scope, "refresh_token", jkt)

    def _issue(
        self,
        grant: Grant,
        client_id: str,
        scope: str | None,
        grant_type: TokenGrantType,
        jkt: str | None,
    ) -> Answer:
        grant.status = "redeemed"
        new_refresh_token = self.issue_refresh_token and (
            grant_type == "device_code" or self.rotate_refresh_tokens
        )
        issued_at = self.clock()
        id_token = None
        if scope is not None and "openid" in scope.split():
            id_token = self._id_token(grant, client_id, scope, issued_at)
        token = IssuedToken(
            access_token="fake-at-" + secrets.token_urlsafe(24),
            refresh_token="fake-rt-" + secrets.token_urlsafe(24) if new_refresh_token else None,
            scope=scope,
            client_id=client_id,
            user_code=grant.user_code,
            grant_type=grant_type,
            issued_at=issued_at,
            id_token=id_token,
            jkt=jkt,
        )
        self._issued.append(token)
        lifetime = math.inf if self.token_lifetime is None else self.token_lifetime
        self._access_tokens[token.access_token] = (token, token.issued_at + lifetime)
        # RFC 9449 §5: "A token_type of DPoP MUST be included" for a token bound to a DPoP key.
        token_type = "Bearer" if jkt is None else "DPoP"
        payload: dict[str, object] = {"access_token": token.access_token, "token_type": token_type}
        if self.token_lifetime is not None:
            payload["expires_in"] = self.token_lifetime
        if token.refresh_token is not None:
            payload["refresh_token"] = token.refresh_token
            self._live_refresh_tokens[token.refresh_token] = token
        if scope is not None:
            payload["scope"] = scope.split() if self.scope_as_list else scope
        if id_token is not None:
            payload["id_token"] = id_token
        payload.update(self.extra_token_fields)
        return self._json(200, payload)

    def _grant_user(self, grant: Grant) -> Mapping[str, object]:
        """Who approved `grant`: given to `approve()`, else the server's `user` when first asked."""
        user = self._grant_users.get(grant.device_code)
        if user is None:
            user = self._grant_users[grant.device_code] = checked_user(self.user)
        return user

    def _wall_time(self, reading: float) -> float:
        """The `wall_clock` time of a `clock` reading: now, less the `clock` time since."""
        return self.wall_clock() - max(0.0, self.clock() - reading)

    def _id_token(self, grant: Grant, client_id: str, scope: str, issued_at: float) -> str:
        fault = self.id_token_fault
        _check_id_token_fault(fault)
        approved_at = issued_at if grant.approved_at is None else grant.approved_at
        user = self._grant_user(grant)
        # A multi-tenant issuer (Microsoft's common) names each token's tenant by its tid.
        issuer = self.issuer.replace(TENANT, str(user.get("tid", "")))
        claims = id_token_claims(
            issuer=issuer,
            client_id=client_id,
            user=user,
            scopes=scope.split(),
            now=int(self.wall_clock()),
            lifetime=self.id_token_lifetime,
            auth_time=int(self._wall_time(approved_at)),
            fault=fault,
        )
        return self._signer.sign(claims, fault)

    def _discovery_endpoint(self, record: RecordedRequest) -> Answer:
        if record.method not in ("GET", "HEAD"):
            return self._json(
                405, {"error": self._error_code("method_not_allowed")}, {"Allow": "GET, HEAD"}
            )
        if record.path == self._prefix + _OPENID_CONFIGURATION and not self.openid_configuration:
            return _not_found()
        if self.client_secret is None:
            auth_methods = ["none"]
        elif self.client_auth == "basic":
            auth_methods = ["client_secret_basic"]
        elif self.client_auth == "body":
            auth_methods = ["client_secret_post"]
        else:
            auth_methods = ["client_secret_basic", "client_secret_post"]
        grant_types = [self.grant_type]
        if self.issue_refresh_token:
            grant_types.append("refresh_token")
        if self.scopes_allowed is not None:
            scopes = sorted(self.scopes_allowed)
        else:
            scopes = ["openid", "profile", "email"]
            if self.issue_refresh_token:
                scopes.append("offline_access")
        metadata: dict[str, object] = {
            "issuer": self.issuer,
            "authorization_endpoint": self.authorization_url,
        }
        if self.advertise_device_endpoint:
            metadata["device_authorization_endpoint"] = self.device_authorization_url
        metadata.update(
            {
                "token_endpoint": self.token_url,
                "revocation_endpoint": self.revocation_url,
                "userinfo_endpoint": self.userinfo_url,
                "jwks_uri": self.jwks_url,
                "grant_types_supported": grant_types,
                "token_endpoint_auth_methods_supported": auth_methods,
                "revocation_endpoint_auth_methods_supported": auth_methods,
                # OpenID Connect Discovery 1.0 §3 requires this field (RFC 8414 §2 too), and
                # validators take an empty list for a broken document; "code" is the response
                # type every OpenID provider is expected to offer. There is no such flow here:
                # the authorization endpoint answers with a page that says so.
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": [self.id_token_alg],
                "scopes_supported": scopes,
                "claims_supported": list(SUPPORTED_CLAIMS),
            }
        )
        if self.dpop:
            metadata["dpop_signing_alg_values_supported"] = list(self.dpop_algs)  # RFC 9449 §5.1
        return Answer(
            200,
            [("Content-Type", "application/json"), ("Cache-Control", _PUBLIC_CACHE)],
            json.dumps(metadata).encode(),
        )

    def _jwks_endpoint(self, record: RecordedRequest) -> Answer:
        if record.method not in ("GET", "HEAD"):
            return self._json(
                405, {"error": self._error_code("method_not_allowed")}, {"Allow": "GET, HEAD"}
            )
        return Answer(
            200,
            [("Content-Type", "application/json"), ("Cache-Control", _PUBLIC_CACHE)],
            json.dumps(self._signer.jwks()).encode(),
        )

    def _authorization_endpoint(self, record: RecordedRequest) -> Answer:
        # RFC 6749 §4.1.2.1: with no client redirection to trust, the error is shown to the
        # person, not sent to a redirect URI.
        description = (
            "this server only offers the device authorization grant (RFC 8628): there is no "
            "authorization code flow; sign in on the device, then enter its code at "
            + self.verification_uri
        )
        accepted = record.headers.get("accept", "").split(",")
        if any(item.split(";", 1)[0].strip().lower() == _JSON_TYPE for item in accepted):
            payload = {"error": "unsupported_response_type", "error_description": description}
            return self._json(400, payload)
        return self._html(400, device_flow_only_page(self._prefix + self.verification_path))

    def _revocation_endpoint(self, record: RecordedRequest, form_error: bool) -> Answer:
        client_id = self._check_request(record, form_error)
        token = record.form.get("token")
        if not token:
            raise _OAuthError("invalid_request", "missing token")
        # `token_type_hint` is only a hint: RFC 7009 §2.1 has the server look everywhere anyway.
        access = self._access_tokens.get(token)
        issued = access[0] if access is not None else self._live_refresh_tokens.get(token)
        if issued is not None and token not in self._revoked_set:
            if issued.client_id != client_id:
                raise _OAuthError("invalid_request", "the token was issued to another client")
            self._revoke(token)
            if access is None:
                # A refresh token: RFC 7009 §2.1 says the access tokens of its grant go too.
                family = [
                    t
                    for t, (i, _) in self._access_tokens.items()
                    if i.user_code == issued.user_code
                ]
                family += [
                    t
                    for t, i in self._live_refresh_tokens.items()
                    if i.user_code == issued.user_code
                ]
                for other in family:
                    if other not in self._revoked_set:
                        self._revoke(other)
        # RFC 7009 §2.2: 200 whether or not the token was known, so it cannot be probed.
        return Answer(200, [("Cache-Control", "no-store")], b"")

    def _revoke(self, token: str) -> None:
        self._revoked.append(token)
        self._revoked_set.add(token)
        self._live_refresh_tokens.pop(token, None)

    def _userinfo_endpoint(self, record: RecordedRequest) -> Answer:
        if record.method != "GET":
            return self._json(
                405, {"error": self._error_code("method_not_allowed")}, {"Allow": "GET"}
            )
        scheme, _, token = record.headers.get("authorization", "").strip().partition(" ")
        scheme = scheme.lower()
        token = token.strip()
        schemes = ("bearer", "dpop") if self.dpop else ("bearer",)
        if scheme not in schemes or not token:
            # RFC 6750 §3.1 and RFC 9449 §7.2: a request without credentials gets the
            # challenges, no error code.
            names = "Bearer or DPoP" if self.dpop else "Bearer"
            return self._json(
                401,
                {"error": "unauthorized", "error_description": f"send Authorization: {names}"},
                {"WWW-Authenticate": self._challenges(None)},
            )
        jkt = None
        if scheme == "dpop":
            try:
                jkt = self._resource_proof(record, token)
            except _OAuthError as error:
                return self._resource_error(scheme, error.error, error.description)
        access = self._access_tokens.get(token)
        problem: str | None = None
        if access is None:
            problem = "unknown access token"
        elif token in self._revoked_set:
            problem = "the access token has been revoked"
        elif record.timestamp >= access[1]:
            problem = "the access token has expired"
        elif access[0].jkt is not None and scheme == "bearer":
            # RFC 9449 §7.2: "MUST reject a DPoP-bound access token received as a bearer token".
            problem = "the access token is DPoP-bound: send it as Authorization: DPoP, with a proof"
        elif access[0].jkt is None and scheme == "dpop":
            problem = "the access token is not DPoP-bound: send it as Authorization: Bearer"
        elif access[0].jkt != jkt:
            # RFC 9449 §7.1: "the public key of the DPoP proof matches the public key to which
            # the access token is bound".
            problem = "invalid DPoP key binding: the proof is signed with another key"
        if problem is not None or access is None:
            return self._resource_error(scheme, "invalid_token", problem)
        issued = access[0]
        grant = self._by_user_code[_normalize_user_code(issued.user_code)]
        scopes = (issued.scope or "").split()
        claims = user_claims(self._grant_user(grant), scopes)
        claims["client_id"] = issued.client_id
        if issued.scope is not None:
            claims["scope"] = issued.scope
        if issued.jkt is not None:
            claims["cnf"] = {"jkt": issued.jkt}  # as in introspection, RFC 9449 §6.2
        return self._json(200, claims)

    def _resource_proof(self, record: RecordedRequest, access_token: str) -> str:
        """Check the DPoP proof sent with `Authorization: DPoP`; the thumbprint of its key."""
        values = record.headers.get_list("dpop")
        if not values:
            # RFC 9449 §7.1: "a resource server MUST check that a DPoP proof was also received".
            raise _OAuthError("invalid_token", "missing DPoP proof: Authorization: DPoP needs one")
        return self._check_proof(record, values, access_token=access_token)

    def _resource_error(self, scheme: str, code: str, description: str | None) -> Answer:
        """A 401 from the protected resource, the error in the challenge of `scheme`."""
        code = self._error_code(code)
        return self._json(
            401,
            {"error": code, "error_description": description},
            {"WWW-Authenticate": self._challenges(scheme, code, description)},
        )

    def _challenges(
        self, used: str | None, error: str | None = None, description: str | None = None
    ) -> str:
        """The `WWW-Authenticate` value of the protected resource: a Bearer challenge, and with
        DPoP on a DPoP challenge naming the algorithms; the error goes in the challenge of the
        scheme the request `used` (RFC 9449 §7.2), which is alone if it is DPoP."""
        details = ""
        if error is not None:
            details = f', error="{error}"'
            if description is not None:
                details += f', error_description="{_auth_param(description)}"'
        bearer = f'Bearer realm="loctocat-fake"{details if used != "dpop" else ""}'
        if not self.dpop:
            return bearer
        # RFC 9449 §7.1: "An algs parameter SHOULD be included".
        dpop = f'DPoP realm="loctocat-fake"{details if used == "dpop" else ""}'
        dpop += f', algs="{" ".join(self.dpop_algs)}"'
        return dpop if used == "dpop" else f"{bearer}, {dpop}"

    def _page_endpoint(self, record: RecordedRequest, form_error: bool) -> Answer:
        action_url = self._prefix + self.verification_path
        if record.method in ("GET", "HEAD"):
            prefill = parse_qs(record.query).get("user_code", [""])[-1]
            grant = self._pending_grant(prefill) if prefill else None
            return self._html(
                200,
                form_page(
                    action=action_url,
                    user_code=prefill,
                    client_id=grant.client_id if grant else None,
                    scope=grant.scope if grant else None,
                ),
            )
        if record.method != "POST":
            return self._html(405, method_not_allowed_page(), [("Allow", "GET, POST")])
        user_code = record.form.get("user_code", "")
        action = record.form.get("action")
        valid_form = not form_error and _media_type(record.headers) == _FORM_TYPE
        if not valid_form or action not in ("approve", "deny"):
            page = form_page(
                action=action_url, user_code=user_code, error="Choose Approve or Deny."
            )
            return self._html(400, page)
        grant = self._pending_grant(user_code)
        if grant is None:
            page = form_page(
                action=action_url, user_code=user_code, error="Unknown or expired code."
            )
            return self._html(400, page)
        if action == "approve":
            _approve(grant, record.timestamp)
        else:
            grant.status = "denied"
        return self._html(200, result_page(approved=action == "approve"))

    def _pending_grant(self, user_code: str) -> Grant | None:
        grant = self._by_user_code.get(_normalize_user_code(user_code))
        if grant is None or grant.status != "pending":
            return None
        if self.clock() >= grant.expires_at:
            grant.status = "expired"
            return None
        return grant

    # -- Building answers ------------------------------------------------------------------------

    def _json(
        self,
        status: int,
        payload: Mapping[str, object],
        extra_headers: Mapping[str, str] = _NO_HEADERS,
    ) -> Answer:
        headers = {
            "Content-Type": "application/json",
            # RFC 6749 §5.1: token responses must not be cached.
            "Cache-Control": "no-store",
            "Pragma": "no-cache",
        }
        return Answer(
            status,
            _merge_headers(headers, extra_headers),
            json.dumps(payload).encode(),
            payload=payload,
        )

    def _html(
        self, status: int, body: bytes, extra_headers: Sequence[tuple[str, str]] = ()
    ) -> Answer:
        headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Cache-Control", "no-store"),
            ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            *extra_headers,
        ]
        return Answer(status, headers, body)

    def _with_dpop_nonce(self, answer: Answer) -> Answer:
        """`answer` with the nonce the next proof must carry, when the server requires one.

        RFC 9449 §8.2: a `DPoP-Nonce` header "in the HTTP 200 (OK) response from the previous
        request" saves clients a round trip; errors carry it too. Scripted answers stay as
        scripted.
        """
        nonce = self._dpop.nonce
        if not self.dpop or nonce is None or answer.scripted:
            return answer
        return replace(answer, headers=[*answer.headers, ("DPoP-Nonce", nonce)])

    def _error_answer(
        self, error: _OAuthError, extra_fields: Mapping[str, object] = _EMPTY
    ) -> Answer:
        status = self.error_statuses.get(error.error, error.status)
        if self.errors_with_status_200 and not error.keep_status:
            status = 200
        code = error.sent_as if error.sent_as is not None else self._error_code(error.error)
        payload: dict[str, object] = {"error": code}
        if self.error_field != "error":
            payload = {"status": status, self.error_field: code}
            if error.sent_as is not None:
                payload = {"error": HTTPStatus(status).phrase, **payload}
        elif error.description is not None:
            payload["error_description"] = error.description
        payload.update(extra_fields)
        return self._json(status, payload, dict(error.headers))

    def _error_code(self, code: str) -> str:
        """The code this service sends for the standard error `code` (see `error_codes`)."""
        return self.error_codes.get(code, code)

    def _fault_answer(self, fault: Fault) -> Answer:
        if fault.drop:
            return Answer(0, [], b"", drop=True, scripted=True)
        if fault.error is not None:
            payload: dict[str, object] = {"error": fault.error}
            if fault.error_description is not None:
                payload["error_description"] = fault.error_description
            status = fault.status
            if status is None:
                status = 200 if self.errors_with_status_200 else 400
            return replace(self._json(status, payload, fault.headers), scripted=True)
        status = 500 if fault.status is None else fault.status
        return Answer(status, list(fault.headers.items()), fault.body or b"", scripted=True)


def _form_value(value: object) -> str:
    """How a JSON value of an answer reads as a form parameter."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if value is None:
        return ""
    return json.dumps(value)


def _form_body(payload: Mapping[str, object]) -> bytes:
    """Encode an answer as a form, as GitHub does; a list becomes repeated parameters."""
    pairs: list[tuple[str, str]] = []
    for name, value in payload.items():
        if isinstance(value, (list, tuple)):
            pairs.extend((name, _form_value(item)) for item in value)
        else:
            pairs.append((name, _form_value(value)))
    return urlencode(pairs).encode()


def _error_of(answer: Answer) -> str | None:
    """The OAuth error code an answer carries, if any (for `on_answer`)."""
    payload = answer.payload or {}
    code = payload.get("error")
    if code is None and answer.status >= 400:
        code = payload.get("message")  # a Twitch-style answer
    return code if isinstance(code, str) else None


def _auth_param(text: str) -> str:
    """`text` as an `error_description` may hold it (RFC 6750 §3): printable ASCII but `"`, `\\`."""
    return "".join(ch if " " <= ch <= "~" and ch not in '"\\' else "?" for ch in text)


def _not_found() -> Answer:
    return Answer(404, [("Content-Type", "text/plain; charset=utf-8")], b"404 Not Found\n")


def _merge_headers(
    defaults: Mapping[str, str], overrides: Mapping[str, str]
) -> list[tuple[str, str]]:
    merged = {name.lower(): (name, value) for name, value in defaults.items()}
    for name, value in overrides.items():
        merged[name.lower()] = (name, value)
    return list(merged.values())


def _approve(grant: Grant, at: float) -> None:
    grant.status = "approved"
    grant.approved_at = at


def _check_id_token_fault(fault: object) -> None:
    if fault is not None and fault not in ID_TOKEN_FAULTS:
        raise ValueError(f"id_token_fault must be None or one of {ID_TOKEN_FAULTS}, got {fault!r}")


def _check_steps(steps: Sequence[object]) -> list[PlanStep]:
    if not steps:
        raise ValueError("a plan needs at least one step")
    checked: list[PlanStep] = []
    for step in steps:
        if isinstance(step, (Fault, SlowDown)):
            checked.append(step)
        elif isinstance(step, str) and step in _PLAN_STATES:
            checked.append(step)  # type: ignore[arg-type]  # narrowed by the membership test
        else:
            raise ValueError(
                f"unknown plan step {step!r}: use one of {sorted(_PLAN_STATES)}, "
                "SlowDown(...) or Fault(...)"
            )
    return checked
