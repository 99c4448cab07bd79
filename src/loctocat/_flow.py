"""The OAuth 2.0 Device Authorization Grant (RFC 8628) as a sans-I/O core.

Every protocol rule lives here, and nothing here does I/O: no sockets, no sleeping, no
printing. A flow is a generator that yields *effects* (`Request`, `Sleep`, `CallHandler`)
and is sent their results (`Response` or `TransportFailure` for a `Request`, `None`
otherwise). `Authenticator` drives it with `httpx.Client` and `time.sleep`;
`AsyncAuthenticator` with `httpx.AsyncClient` and `anyio.sleep`. Tests drive it by hand
with a fake clock.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
import logging
import math
import urllib.parse
import zlib
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from typing import Any, Literal, Protocol, TypeAlias

from loctocat._dpop import DPoP, DPoPKey, Nonces
from loctocat._handlers import Handler
from loctocat._models import LoctocatAuthInfo, Token, read_only
from loctocat._text import printable
from loctocat.errors import (
    ConfigurationError,
    ExpiredToken,
    FlowTimeout,
    LoctocatError,
    ProtocolError,
    ServerError,
    TransportError,
)

log = logging.getLogger("loctocat")

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

#: RFC 8628 §3.2: "If no value is provided, clients MUST use 5 as the default."
DEFAULT_INTERVAL = 5
#: RFC 8628 §3.5: on slow_down "the interval MUST be increased by 5 seconds for this and all
#: subsequent requests."
SLOW_DOWN_INCREMENT = 5
#: However small an interval a server sends, we never poll faster than this.
DEFAULT_MIN_INTERVAL = 1.0
#: However large an interval a server sends, we poll at least this often.
MAX_INTERVAL = 300
#: A code valid for longer than a day is a server bug; we stop waiting after a day.
MAX_EXPIRES_IN = 86_400
#: Access token lifetimes beyond a century are taken as a century (datetimes end at year 9999).
MAX_TOKEN_LIFETIME = 100 * 365 * 86_400
#: The longest Retry-After we honour; a longer one would only outlast the code.
MAX_RETRY_AFTER = float(MAX_INTERVAL)
#: Ceiling of the exponential backoff after transient failures, in seconds.
MAX_BACKOFF = 60.0
#: Answers larger than this are refused: token answers are a few kilobytes at most. The cap
#: holds for the bytes on the wire and again for the bytes once decompressed.
MAX_BODY_BYTES = 256 * 1024
#: The content codings we ask for and can undo, under a size cap (RFC 9110 §8.4.1). One layer
#: at most: a stack of them is what compression bombs are made of.
ACCEPT_ENCODING = "gzip, deflate"

#: Error codes that mean "try again later" rather than "this flow failed".
_TRANSIENT_ERROR_CODES = frozenset({"server_error", "temporarily_unavailable"})

ClientAuth: TypeAlias = Literal["body", "basic"]


@dataclass(frozen=True, slots=True)
class Quirks:
    """How a service departs from RFC 8628, as data the core interprets.

    Predefined providers (`loctocat.predefined`) set these; the drivers never special-case a
    service. The defaults are the RFC's.
    """

    #: The grant_type of each poll (Amazon and Yandex use "device_code", not the URN).
    grant_type: str = DEVICE_CODE_GRANT
    #: The name the device code travels under when polling (Yandex: "code").
    device_code_param: str = "device_code"
    #: Fields of the device answer sent back with each poll (Amazon: "user_code").
    poll_code_fields: tuple[str, ...] = ()
    #: The name of the scope parameter of the device request.
    scope_param: str = "scope"
    #: Service-specific error codes and the standard ones they mean (Microsoft:
    #: authorization_declined -> access_denied), so they raise the right class.
    error_aliases: Mapping[str, str] = field(default_factory=dict)
    #: What to tell a person about a service-specific error code (GitHub: device_flow_disabled).
    error_hints: Mapping[str, str] = field(default_factory=dict)
    #: Where the service puts its error code instead of `error` (Twitch: `{"status": 400,
    #: "message": "authorization_pending"}`). Read only from non-2xx answers whose `error` is
    #: missing or only the HTTP status's name (Twitch's refresh: "Bad Request").
    error_field: str | None = None
    #: Whether the device authorization request carries the client's secret. False: only
    #: `client_id`, in the body (Zoom's own example); the token requests still carry it.
    authenticate_device_request: bool = True


RFC_8628 = Quirks()

_DEVICE_ENDPOINT = "device authorization endpoint"
_TOKEN_ENDPOINT = "token endpoint"


# --- Effects: what the core asks its driver to do ------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    """Send a form-encoded POST and answer with a `Response` or a `TransportFailure`.

    The driver reads at most `max_body_bytes + 1` bytes of the body, as they come off the wire
    (not content-decoded), so that an oversized answer is noticed without being read whole.
    The whole request (connecting, sending, the answer's headers and body) must be over within
    `timeout` seconds, when given, or the driver's own request timeout if that is shorter;
    otherwise it is a `TransportFailure`.
    """

    url: str
    # Not in the repr: the form holds the device code and maybe the client secret, the
    # headers maybe HTTP Basic credentials.
    form: tuple[tuple[str, str], ...] = field(repr=False)
    headers: tuple[tuple[str, str], ...] = field(repr=False)
    endpoint: str
    max_body_bytes: int = MAX_BODY_BYTES
    method: str = "POST"
    #: Seconds left for this request, when the flow's own deadline is near; None: no limit
    #: beyond the driver's request timeout.
    timeout: float | None = None
    #: Send a fresh DPoP proof with it (RFC 9449): the driver adds `dpop.header(method, url)`
    #: as the `DPoP` header when it sends the request.
    dpop: DPoP | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Response:
    """What the server answered to a `Request`. Header names are lower-case.

    `body` is the body as it came off the wire: when the server compressed it, the
    `content-encoding` header says so and the core decompresses it, under the size cap. (An
    HTTP library that already decompressed the body must leave that header out.)
    `received_at` is when the answer arrived (an aware UTC datetime), which the driver
    records: the core never reads a clock, so a token's expiry, a code's expiry and a
    Retry-After date are counted from it. It is required of answers that carry a token or the
    codes.
    """

    status_code: int
    headers: Mapping[str, str]
    # Not in the repr: the body holds the codes and tokens.
    body: bytes = field(repr=False)
    received_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TransportFailure:
    """The request got no answer: connection refused or reset, timeout, broken HTTP."""

    description: str


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait this many seconds, then send `None`."""

    seconds: float


@dataclass(frozen=True, slots=True)
class CallHandler:
    """Run `handler.action(authenticator)` (awaiting it if needed), then send `None`."""

    handler: Handler
    error: ServerError


@dataclass(frozen=True, slots=True)
class ShowCode:
    """Show the user the codes of `grant` (`grant.auth_info`), then send `None`.

    `login_flow` yields it between asking for the codes and polling: the moment to print the
    code and the URL, open a browser, or hand them to your own UI.
    """

    grant: PendingGrant


Effect: TypeAlias = Request | Sleep | CallHandler | ShowCode
RequestResult: TypeAlias = Response | TransportFailure
Flow: TypeAlias = Generator[Effect, Any, Any]


# --- Configuration ------------------------------------------------------------------------


class IDTokenVerifier(Protocol):
    """What verifies the ID token of each token answer (`loctocat.core.IDTokenCheck`)."""

    def flow(self, token: Token, previous: Token | None = None) -> Generator[Effect, Any, Token]:
        """Return `token` with its verified `claims`, or raise `InvalidIDToken`."""
        ...


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """Everything the flow needs to know about the client and the server's endpoints."""

    client_id: str
    device_authorization_url: str
    token_url: str
    scopes: tuple[str, ...] = ()
    #: Extra parameters for the device authorization request (e.g. Auth0's `audience`).
    device_params: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: Extra parameters for every token request.
    token_params: Mapping[str, str] = field(default_factory=dict, repr=False)
    client_secret: str | None = field(default=None, repr=False)
    #: How `client_secret` is sent: in the form body (client_secret_post) or as HTTP Basic
    #: (client_secret_basic), RFC 6749 §2.3.1.
    client_auth: ClientAuth = "body"
    default_interval: int = DEFAULT_INTERVAL
    min_interval: float = DEFAULT_MIN_INTERVAL
    #: Seconds the whole flow may take, from the device request on; None: until the code expires.
    timeout: float | None = None
    user_agent: str = "loctocat"
    quirks: Quirks = RFC_8628
    #: How ID tokens are verified (`loctocat.core.IDTokenCheck`); None: not verified, and
    #: tokens carry no `claims`.
    id_token_check: IDTokenVerifier | None = field(default=None, repr=False)
    #: The key tokens of this login are bound to (RFC 9449 DPoP); None: no DPoP.
    dpop_key: DPoPKey | None = field(default=None, repr=False)
    #: The latest DPoP nonce of each server, shared by this client's requests.
    dpop_nonces: Nonces = field(default_factory=Nonces, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.client_id, str) or not self.client_id:
            raise ConfigurationError(
                f"client_id must be a non-empty string, got {self.client_id!r}: use the client "
                "ID the service gave your app when you registered it"
            )
        check_endpoint_url(self.device_authorization_url, "auth_url")
        check_endpoint_url(self.token_url, "token_url")
        if self.client_auth not in ("body", "basic"):
            raise ConfigurationError(
                f"client_auth must be 'body' or 'basic', got {self.client_auth!r}"
            )
        if self.client_auth == "basic" and self.client_secret is None:
            raise ConfigurationError("client_auth='basic' needs a client_secret")
        if self.default_interval < 0:
            raise ConfigurationError("poll_interval cannot be negative")
        if not self.min_interval > 0:  # nan too
            # A positive floor is what guarantees every wait moves time on toward the deadline.
            raise ConfigurationError(
                f"min_interval must be a positive number of seconds, got {self.min_interval!r} "
                "(0.01 is plenty against a local test server)"
            )
        if self.min_interval > MAX_INTERVAL:
            raise ConfigurationError(
                f"min_interval cannot exceed {MAX_INTERVAL} s, the longest wait between polls"
            )
        if self.timeout is not None and not 0 < self.timeout < math.inf:
            raise ConfigurationError(
                f"timeout must be a positive number of seconds or None, got {self.timeout!r}",
                parameter="timeout",
            )


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint_url(url: object, name: str) -> None:
    """Refuse a URL that would send secrets in the clear, before anything is sent.

    RFC 8628 §5.1 / RFC 6749 §3.1: the endpoints MUST use TLS. Plain http is allowed for
    loopback hosts (127.0.0.0/8, ::1, localhost), where nothing crosses a network.
    """
    if not isinstance(url, str) or not url:
        raise ConfigurationError(f"{name} must be a URL string, got {url!r}", parameter=name)
    _check_url_string(url, name)


# A pure function of its arguments, asked for the same few URLs by every authenticator a
# service makes (one per login): remembered, so that a new login costs no URL parsing.
@functools.lru_cache(maxsize=256)
def _check_url_string(url: str, name: str) -> None:
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number in range
    except ValueError as exc:  # "http://[::1" and the like
        raise ConfigurationError(
            f"{name} is not a valid URL ({exc}): {url!r}", parameter=name
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"{name} must be an absolute https:// URL, got {url!r}", parameter=name
        )
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ConfigurationError(
            f"{name} must not contain spaces or control characters, got {url!r}", parameter=name
        )
    if parts.query or parts.fragment:
        # Parameters travel in the body; a query string would be sent with every request.
        raise ConfigurationError(
            f"{name} must not carry a query string or fragment ({url!r}): pass extra "
            "parameters as keyword arguments instead, so they travel in the request body",
            parameter=name,
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigurationError(
            f"{name} uses plain http:// for the remote host {parts.hostname!r}, which would "
            f"send codes and tokens unencrypted: use https:// (http:// is only allowed for "
            f"loopback hosts such as localhost or 127.0.0.1)",
            parameter=name,
        )


# --- Requests (RFC 8628 §3.1 and §3.4) ------------------------------------------------------


def client_headers(
    config: ClientConfig, *, authenticate: bool = True
) -> tuple[tuple[str, str], ...]:
    """The headers of every request to the server: HTTP Basic client authentication if chosen."""
    headers = [
        ("Accept", "application/json"),
        ("Accept-Encoding", ACCEPT_ENCODING),
        ("User-Agent", config.user_agent),
    ]
    if authenticate and config.client_secret is not None and config.client_auth == "basic":
        # RFC 6749 §2.3.1: both parts are form-urlencoded before being joined and encoded.
        pair = (
            f"{urllib.parse.quote_plus(config.client_id)}:"
            f"{urllib.parse.quote_plus(config.client_secret)}"
        )
        headers.append(("Authorization", "Basic " + base64.b64encode(pair.encode()).decode()))
    return tuple(headers)


def client_params(config: ClientConfig, *, authenticate: bool = True) -> list[tuple[str, str]]:
    """The client's own form parameters: its ID, and the secret when it travels in the body."""
    params = [("client_id", config.client_id)]
    if authenticate and config.client_secret is not None and config.client_auth == "body":
        params.append(("client_secret", config.client_secret))
    return params


def device_authorization_request(config: ClientConfig) -> Request:
    """RFC 8628 §3.1: POST client_id and scope to the device authorization endpoint."""
    authenticate = config.quirks.authenticate_device_request
    form = client_params(config, authenticate=authenticate)
    if config.scopes:
        form.append((config.quirks.scope_param, " ".join(config.scopes)))
    form.extend(config.device_params.items())
    headers = client_headers(config, authenticate=authenticate)
    return Request(
        config.device_authorization_url,
        tuple(form),
        headers,
        _DEVICE_ENDPOINT,
        # The caller's deadline bounds this request too (the user waits on it).
        timeout=config.timeout,
    )


def token_request(config: ClientConfig, auth_info: LoctocatAuthInfo) -> Request:
    """RFC 8628 §3.4: POST the device_code grant to the token endpoint."""
    quirks = config.quirks
    form = [("grant_type", quirks.grant_type), (quirks.device_code_param, auth_info.device_code)]
    for name in quirks.poll_code_fields:
        form.append((name, str(getattr(auth_info, name))))
    form.extend(client_params(config))
    form.extend(config.token_params.items())
    request = Request(config.token_url, tuple(form), client_headers(config), _TOKEN_ENDPOINT)
    return with_dpop(config, request, config.dpop_key)


def with_dpop(config: ClientConfig, request: Request, key: DPoPKey | None) -> Request:
    """`request` with a DPoP proof of `key` (and the server's latest nonce), when there is a key."""
    if key is None:
        return request
    nonce = config.dpop_nonces.get(request.url)
    return dataclasses.replace(request, dpop=DPoP(key, nonce))


def exchange(config: ClientConfig, request: Request) -> Generator[Effect, Any, RequestResult]:
    """Send `request`; when it carries a DPoP proof, keep the server's nonce, and resend it
    once with a new nonce if the server asks for one (RFC 9449 §8: "use_dpop_nonce")."""
    result: RequestResult = yield request
    if request.dpop is None or not isinstance(result, Response):
        return result
    nonce = result.headers.get("dpop-nonce")
    if not nonce:
        return result
    config.dpop_nonces.remember(request.url, nonce)
    if nonce != request.dpop.nonce and _asks_for_nonce(result, request):
        retry = dataclasses.replace(request, dpop=dataclasses.replace(request.dpop, nonce=nonce))
        result = yield retry
        if isinstance(result, Response) and result.headers.get("dpop-nonce"):
            config.dpop_nonces.remember(request.url, result.headers["dpop-nonce"])
    return result


def _asks_for_nonce(response: Response, request: Request) -> bool:
    # §8: "the authorization server responds with an HTTP 400 (Bad Request) ... error code
    # use_dpop_nonce" and the nonce in a DPoP-Nonce header.
    if response.status_code != 400:
        return False
    try:
        data = decode_body(response, request)
    except LoctocatError:
        return False
    return isinstance(data, dict) and data.get("error") == "use_dpop_nonce"


def bound(token: Token, request: Request) -> Token:
    """`token` with the key its request's proof was signed with, when the server bound it to
    that key (`token_type` DPoP, RFC 9449 §5); a server that ignored the proof gives Bearer."""
    if token.token_type.lower() != "dpop":
        return token
    if request.dpop is None:
        # §5: a DPoP token answers a request with a proof; without one there is no key to
        # bind it to, and a token without its key can be used by no one.
        raise _protocol_error(
            request,
            "issued a DPoP-bound token (token_type DPoP) to a request without a DPoP proof; "
            "log in with DPoP (dpop=True, or --dpop)",
            "token_type",
        )
    return dataclasses.replace(token, dpop_key=request.dpop.key)


# --- Reading answers --------------------------------------------------------------------------


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            # Two values for one field would leave it to chance which one we trust.
            raise ValueError(f"the field {key!r} appears twice")
        data[key] = value
    return data


# What json.loads(text, object_pairs_hook=...) makes for every call, made once.
_JSON_FIELDS = json.JSONDecoder(object_pairs_hook=_reject_duplicate_keys)


def _form_fields(text: str) -> dict[str, Any]:
    # A form repeating a field is refused as JSON repeating one is: which value to trust?
    return _reject_duplicate_keys(urllib.parse.parse_qsl(text, keep_blank_values=True))


def _too_large(request: Request, after: str = "") -> ProtocolError:
    return ProtocolError(
        f"the {request.endpoint} ({request.url}) sent an answer larger than "
        f"{request.max_body_bytes} bytes{after}; refusing to read it",
        endpoint=request.url,
    )


class _Undecodable(Exception):
    """The body does not match its content coding: as if it had been garbled on the way."""


def _decompressed(body: bytes, coding: str, request: Request) -> bytes:
    """`body` decompressed, stopping one byte past the cap so a bomb never inflates whole."""
    limit = request.max_body_bytes
    # gzip: a gzip header only. deflate: RFC 9110 says zlib format, but servers also send raw
    # deflate, so both are accepted (as browsers and httpx do).
    attempts = (16 + zlib.MAX_WBITS,) if coding in ("gzip", "x-gzip") else (zlib.MAX_WBITS, -15)
    for wbits in attempts:
        inflater = zlib.decompressobj(wbits)
        try:
            data = inflater.decompress(body, limit + 1)
        except zlib.error:
            continue
        if len(data) > limit:
            raise _too_large(request, " once decompressed")
        if inflater.eof and not inflater.unused_data:
            return data
        break  # truncated, or data after the end of the stream
    raise _Undecodable(f"the body does not match its content encoding {coding!r}")


def _codings(header: str) -> list[str]:
    """The content codings a Content-Encoding header names, identity left out."""
    if not header:
        return []  # (most answers)
    codings = [c.strip().lower() for c in header.split(",")]
    return [c for c in codings if c and c != "identity"]


def decodable_coding(header: str) -> bool:
    """Whether the core undoes this Content-Encoding: at most one layer of gzip or deflate."""
    codings = _codings(header)
    return not codings or (len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"))


def _content(response: Response, request: Request) -> bytes:
    """The body with its content coding undone, within the size cap.

    Raises `ProtocolError` for a body over the cap (before or after decompressing) and for a
    coding loctocat did not ask for (a stack of them, or an unknown one), `_Undecodable` for a
    body its coding cannot undo.
    """
    if len(response.body) > request.max_body_bytes:
        raise _too_large(request)
    header = response.headers.get("content-encoding", "")
    codings = _codings(header)
    if not codings:
        return response.body
    if not decodable_coding(header):
        raise ProtocolError(
            f"the {request.endpoint} ({request.url}) sent an answer with the content encoding "
            f"{printable(header.strip())!r}; only one layer of gzip or deflate is accepted "
            f"(Accept-Encoding: {ACCEPT_ENCODING})",
            endpoint=request.url,
        )
    return _decompressed(response.body, codings[0], request)


def decode_body(response: Response, request: Request) -> dict[str, Any] | None:
    """The answer's fields, or None when the body is not a JSON object (or a form).

    The Content-Type is not trusted: servers label JSON as text/plain or text/html. A body
    labelled application/x-www-form-urlencoded is parsed as a form (GitHub answers so when
    the Accept header is lost on the way). A field given twice is a `ProtocolError`. The body
    is decompressed first (see `_content`); one its coding cannot undo raises `_Undecodable`.
    """
    body = _content(response, request)
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
        if content_type == "application/x-www-form-urlencoded":
            return _form_fields(text)
        data = _JSON_FIELDS.decode(text)
    except RecursionError:
        return None  # JSON nested a thousand deep is no token answer
    except (UnicodeDecodeError, ValueError) as exc:
        if "appears twice" in str(exc):
            raise ProtocolError(
                f"the {request.endpoint} ({request.url}) sent invalid data: {exc}",
                endpoint=request.url,
            ) from None
        return None
    return data if isinstance(data, dict) else None


def _describe_body(response: Response) -> str:
    content_type = printable(response.headers.get("content-type", "no content type"))
    return f"HTTP {response.status_code} with a body that is not a JSON object ({content_type})"


def _protocol_error(request: Request, message: str, field_name: str | None = None) -> ProtocolError:
    return ProtocolError(
        f"the {request.endpoint} ({request.url}) {message}",
        endpoint=request.url,
        field=field_name,
    )


def _successful_body(
    request: Request, response: Response, data: dict[str, Any] | None
) -> dict[str, Any]:
    """The fields of a 2xx answer; a redirect or any other status is a ProtocolError."""
    if 300 <= response.status_code < 400:
        location = printable(response.headers.get("location", "an unnamed place"))
        raise _protocol_error(
            request,
            f"redirected the request to {location}; configure that URL instead (redirects are "
            "not followed, so that credentials never go anywhere you did not name)",
        )
    if data is None:
        raise _protocol_error(request, f"answered {_describe_body(response)}")
    if not 200 <= response.status_code < 300:
        raise _protocol_error(
            request, f"answered HTTP {response.status_code} with neither a token nor an error"
        )
    return data


#: Fields whose values must never appear in an error message or a log.
SECRET_FIELDS = frozenset({"device_code", "access_token", "refresh_token", "id_token"})


def _shown(name: str, value: object) -> str:
    """A value for an error message: secret fields only by their type."""
    if name in SECRET_FIELDS:
        return f"a {type(value).__name__} (value hidden)"
    return repr(value)


def _string_field(
    data: Mapping[str, Any], name: str, request: Request, *, required: bool
) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise _protocol_error(request, f"did not send the required field {name!r}", name)
        return None
    if not isinstance(value, str) or (required and not value):
        raise _protocol_error(
            request,
            f"sent {name!r} as {_shown(name, value)}, but it must be a non-empty string",
            name,
        )
    return value


def _required_string(data: Mapping[str, Any], name: str, request: Request) -> str:
    value = _string_field(data, name, request, required=True)
    assert value is not None  # _string_field raised otherwise
    return value


def _visible_ascii(value: str, name: str, request: Request) -> str:
    """RFC 6749 Appendix A.12 and A.17: a token is printable ASCII (VSCHAR, %x20-7E).

    Anything else (escape sequences, line breaks) is no token, and would reach terminals and
    headers as it is: refused.
    """
    if not all(" " <= c <= "~" for c in value):
        raise _protocol_error(
            request, f"sent {name!r} with characters a token cannot have (RFC 6749 A.12)", name
        )
    return value


def _seconds_field(data: Mapping[str, Any], name: str, request: Request) -> int | None:
    """A number of seconds; numeric strings are accepted ("Some IdP returns string")."""
    value = data.get(name)
    if value is None:
        return None
    number: float | None = None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            number = float(value.strip())
    except (ValueError, OverflowError):  # OverflowError: an integer beyond 1.8e308
        number = None
    if number is None or not math.isfinite(number) or number < 0:
        raise _protocol_error(
            request,
            f"sent {name!r} as {_shown(name, value)}, but it must be a number of seconds",
            name,
        )
    return math.ceil(number)


def oauth_error(
    data: Mapping[str, Any] | None, response: Response, quirks: Quirks = RFC_8628
) -> ServerError | None:
    """RFC 6749 §5.2 error answer, whatever the HTTP status (GitHub sends errors with 200).

    A service that names its error otherwise (`Quirks.error_field`) is read there too, in an
    answer that is not a success.
    """
    code = _oauth_error_code(data, response, quirks)
    if code is None:
        return None
    assert data is not None  # (a code comes from the fields)
    description = data.get("error_description")
    uri = data.get("error_uri")
    return ServerError.from_code(
        code,
        description if isinstance(description, str) else None,
        uri if isinstance(uri, str) else None,
        status_code=response.status_code,
        meaning=quirks.error_aliases.get(code),
        hint=quirks.error_hints.get(code),
    )


def _oauth_error_code(
    data: Mapping[str, Any] | None, response: Response, quirks: Quirks
) -> str | None:
    """The error code of an answer (see `oauth_error`), as a non-empty string, or None."""
    if data is None:
        return None
    if (
        quirks.error_field is not None
        and not 200 <= response.status_code < 300
        and data.get(quirks.error_field) is not None
        and _no_error_code(data.get("error"), response.status_code)
    ):
        code = data[quirks.error_field]
    elif "error" in data:
        code = data["error"]
    else:
        return None
    return code if isinstance(code, str) and code else repr(code)


def _no_error_code(error: object, status_code: int) -> bool:
    """Whether an answer's `error` holds no error code: none, or the HTTP status's name, as in
    Twitch's {"error": "Bad Request", "status": 400, "message": "Invalid refresh token"}."""
    if error is None:
        return True
    from http import HTTPStatus  # (only for services with their own error field)

    try:
        return bool(error == HTTPStatus(status_code).phrase)
    except ValueError:  # a status with no name
        return False


def _meaning(code: str | None, quirks: Quirks) -> str | None:
    """The standard code a (maybe service-specific) error code stands for (None: no code)."""
    return None if code is None else quirks.error_aliases.get(code, code)


def _is_unavailable(response: Response) -> bool:
    return response.status_code == 429 or response.status_code >= 500


def _read(
    request: Request, result: RequestResult
) -> tuple[Response, dict[str, Any] | None] | TransportFailure:
    """The answer and its fields, or a `TransportFailure` when there is no usable answer.

    A 5xx or 429 answer's body is read only for an OAuth error code (see `_busy`): a body that
    is none (an error page of any size or shape) gives no fields. A body that does not match
    its content coding counts as garbled on the way, like a broken connection.
    """
    if isinstance(result, TransportFailure):
        return result
    try:
        return result, decode_body(result, request)
    except _Undecodable as exc:
        if _is_unavailable(result):
            return result, None
        return TransportFailure(f"the answer could not be decoded ({exc})")
    except ProtocolError:
        if _is_unavailable(result):
            return result, None  # too large, a stack of codings: a "not now" page all the same
        raise


def _busy(response: Response, meaning: str | None) -> bool:
    """Whether an answer means "not now": a 5xx or 429 unless its body says otherwise;
    `meaning` is its error code's (`_meaning`), None without one.

    Such an answer whose body is an RFC 6749 error is judged by its code, as any other
    (Auth0 answers slow_down with 429); without one, or with a transient code, it is a
    failure to retry later.
    """
    if not _is_unavailable(response):
        return False
    return meaning is None or meaning in _TRANSIENT_ERROR_CODES


def _arrival(response: Response, request: Request) -> datetime:
    """When `response` arrived: the driver must say, for the times counted from it."""
    if response.received_at is None:
        raise ConfigurationError(
            f"the answer of the {request.endpoint} carries no received_at: a driver of the "
            "core must set Response.received_at (datetime.now(UTC) when the answer arrived)"
        )
    return response.received_at


def retry_after_seconds(response: Response, now: datetime | None = None) -> float | None:
    """RFC 9110 §10.2.3 Retry-After as seconds: a delay, or an HTTP-date.

    An HTTP-date is counted from `now`, by default when the answer arrived; without either,
    it is ignored.
    """
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # "²".isdigit() is true too
        return float(value)
    try:
        import email.utils  # only for the rare HTTP-date form; kept off the import path

        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a year beyond 2**31
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or response.received_at
    if now is None:
        return None
    return max(0.0, (when - now).total_seconds())


def _clamp_interval(seconds: float, config: ClientConfig) -> float:
    # The floor guards against a server asking us to poll in a tight loop, the ceiling
    # against one that would leave the user waiting long after approving.
    return min(max(seconds, config.min_interval), MAX_INTERVAL)


# --- The device authorization request (RFC 8628 §3.1, §3.2) ------------------------------------


@dataclass(frozen=True, slots=True)
class PendingGrant:
    """A device authorization the user has yet to approve, and when we stop waiting for it."""

    auth_info: LoctocatAuthInfo
    #: Clock time at which the code expires (RFC 8628 §3.2 expires_in, counted from the request).
    expires_at: float
    #: Clock time at which the caller's `timeout` runs out (inf when there is none).
    timeout_at: float
    #: Seconds to wait between polls at the start.
    interval: float


def fail_fast_answer(
    request: Request, result: RequestResult, quirks: Quirks = RFC_8628
) -> dict[str, Any]:
    """The fields of a successful answer to a one-off request; anything else raised, typed.

    For the requests a person waits on (the codes, a refresh, discovery): retrying would only
    delay the error, so a failure is reported at once.
    """
    read = _read(request, result)
    if isinstance(read, TransportFailure):
        raise TransportError(
            f"could not reach the {request.endpoint} ({request.url}): {read.description}"
        )
    result, data = read
    error = oauth_error(data, result, quirks)
    meaning = _meaning(None if error is None else error.error, quirks)
    if _busy(result, meaning) or meaning == "slow_down":
        code = f" {error.error}" if error is not None else ""
        raise TransportError(
            f"the {request.endpoint} ({request.url}) is unavailable right now "
            f"(HTTP {result.status_code}{printable(code)}); try again later"
        )
    if error is not None:
        raise error
    return _successful_body(request, result, data)


def parse_device_response(
    config: ClientConfig, request: Request, result: RequestResult
) -> tuple[LoctocatAuthInfo, float]:
    """Judge the device authorization answer: the codes, or a typed error.

    Returns the codes and the interval to poll at. Unlike polling, this first request fails
    fast: the user is waiting for a code and a retry would only delay the error.
    """
    data = fail_fast_answer(request, result, config.quirks)
    device_code = _required_string(data, "device_code", request)
    user_code = _required_string(data, "user_code", request)
    # Google (and older drafts of the RFC) call it verification_url.
    uri_field = "verification_uri" if "verification_uri" in data else "verification_url"
    verification_uri = _required_string(data, uri_field, request)
    complete = _string_field(data, "verification_uri_complete", request, required=False)
    expires_in = _seconds_field(data, "expires_in", request)
    if expires_in is None:
        raise _protocol_error(request, "did not send the required field 'expires_in'", "expires_in")
    # Capped here, before any date arithmetic: 10**12 seconds is past the year 9999.
    expires_in = min(expires_in, MAX_EXPIRES_IN)
    if expires_in <= 0:
        raise _protocol_error(
            request, "sent an 'expires_in' of zero: the code is already expired", "expires_in"
        )
    interval = _seconds_field(data, "interval", request)
    if interval is None:
        interval = config.default_interval
    known = {
        "device_code",
        "user_code",
        uri_field,
        "verification_uri_complete",
        "expires_in",
        "interval",
    }
    extra = read_only({k: v for k, v in data.items() if k not in known})
    assert isinstance(result, Response)  # fail_fast_answer raised otherwise
    info = LoctocatAuthInfo(
        device_code=device_code,
        user_code=user_code,
        verification_uri=verification_uri,
        expires_in=expires_in,
        interval=interval,
        verification_uri_complete=complete,
        extra=extra,
        expires_at=_arrival(result, request) + timedelta(seconds=expires_in),
    )
    return info, _clamp_interval(interval, config)


def device_authorization_flow(
    config: ClientConfig, *, clock: Callable[[], float]
) -> Generator[Effect, Any, PendingGrant]:
    """RFC 8628 §3.1-3.2: ask for the codes. Returns the grant to poll for."""
    started = clock()
    request = device_authorization_request(config)
    result = yield request
    info, interval = parse_device_response(config, request, result)
    log.debug(
        "device authorization: code valid for %s s, polling every %s s",
        info.expires_in,
        interval,
    )
    timeout_at = started + config.timeout if config.timeout is not None else math.inf
    return PendingGrant(
        auth_info=info,
        # Counted from when we asked, not when we heard back: never later than the server's.
        expires_at=started + info.expires_in,
        timeout_at=timeout_at,
        interval=interval,
    )


def resumed_grant(
    config: ClientConfig,
    auth_info: LoctocatAuthInfo,
    interval: float,
    *,
    now: datetime,
    clock_now: float,
) -> PendingGrant:
    """The grant to poll for a device authorization started elsewhere (another process).

    Its expiry is the absolute `auth_info.expires_at`, placed on this process's clock: `now` is
    the wall-clock time at `clock_now`. The caller's `timeout` counts from now.
    """
    # Capped as a fresh code's is: a pending login claiming years would poll for years.
    left = min((auth_info.expires_at - now).total_seconds(), MAX_EXPIRES_IN)
    timeout_at = clock_now + config.timeout if config.timeout is not None else math.inf
    return PendingGrant(
        auth_info=auth_info,
        expires_at=clock_now + left,
        timeout_at=timeout_at,
        interval=_clamp_interval(interval, config),
    )


# --- Polling (RFC 8628 §3.4, §3.5) -------------------------------------------------------------


# The three verdicts below never leave the core (it only asks `isinstance` of them), so they
# are plain classes: a frozen dataclass costs ~0.4 ms at import to generate its methods, paid
# before every first prompt.


class _Pending:
    """authorization_pending: ask again after the interval."""

    __slots__ = ()


_PENDING = _Pending()


class _SlowDown:
    """slow_down, with the server's new interval if it sent one (GitHub does)."""

    __slots__ = ("interval",)

    def __init__(self, interval: int | None) -> None:
        self.interval = interval


class _Unavailable:
    """A transient failure: no answer, 5xx, 429, or a server_error code."""

    __slots__ = ("description", "retry_after")

    def __init__(self, description: str, retry_after: float | None = None) -> None:
        self.description = description
        self.retry_after = retry_after


PollOutcome: TypeAlias = Token | _Pending | _SlowDown | _Unavailable | ServerError


def judge_token_response(
    request: Request, result: RequestResult, quirks: Quirks = RFC_8628
) -> PollOutcome:
    """RFC 8628 §3.5: what one answer from the token endpoint means."""
    read = _read(request, result)
    if isinstance(read, TransportFailure):
        return _Unavailable(read.description)
    result, data = read
    # Judged by the code first: the answer to almost every poll (authorization_pending) is
    # not made into an error only to be dropped.
    code = _oauth_error_code(data, result, quirks)
    meaning = _meaning(code, quirks)
    if _busy(result, meaning) or meaning in _TRANSIENT_ERROR_CODES:
        shown = f" {printable(code)}" if code is not None else ""
        return _Unavailable(f"HTTP {result.status_code}{shown}", retry_after_seconds(result))
    if meaning == "authorization_pending":
        return _PENDING
    if meaning == "slow_down":
        assert data is not None  # (a code comes from the fields)
        return _SlowDown(_seconds_field(data, "interval", request))
    error = oauth_error(data, result, quirks)
    if error is not None:
        return error
    return parse_token(_successful_body(request, result, data), request, _arrival(result, request))


def parse_token(data: Mapping[str, Any], request: Request, received_at: datetime) -> Token:
    """RFC 6749 §5.1: a successful token answer, with expires_in counted from `received_at`."""
    access_token = _visible_ascii(
        _required_string(data, "access_token", request), "access_token", request
    )
    token_type = _string_field(data, "token_type", request, required=False) or "Bearer"
    expires_in = _seconds_field(data, "expires_in", request)
    if expires_in is not None:
        expires_in = min(expires_in, MAX_TOKEN_LIFETIME)
    refresh_token = _string_field(data, "refresh_token", request, required=False)
    if refresh_token is not None:
        _visible_ascii(refresh_token, "refresh_token", request)
    id_token = _string_field(data, "id_token", request, required=False)
    scope = data.get("scope")
    if isinstance(scope, list) and all(isinstance(s, str) for s in scope):
        scope = " ".join(scope)  # Twitch sends a JSON array
    elif scope is not None and not isinstance(scope, str):
        raise _protocol_error(
            request, f"sent 'scope' as {scope!r}, but it must be a string", "scope"
        )
    known = {"access_token", "token_type", "expires_in", "refresh_token", "id_token", "scope"}
    return Token(
        access_token=access_token,
        token_type=token_type,
        expires_at=received_at + timedelta(seconds=expires_in) if expires_in is not None else None,
        refresh_token=refresh_token,
        scope=scope,
        id_token=id_token,
        extra=read_only({k: v for k, v in data.items() if k not in known}),
        received_at=received_at,
    )


def authorization_header(token: Token) -> str:
    """The `Authorization` header value that presents `token` to a resource server.

    RFC 6750 §2.1 for Bearer tokens, whatever the case of the `token_type` the server sent
    (GitHub says "bearer"). RFC 6749 §7.1: "The client MUST NOT use an access token if it does
    not understand the token type", so any other type raises `ProtocolError` rather than being
    sent as if it were Bearer.
    """
    if token.token_type.lower() == "dpop":
        # RFC 9449 §7.1: "Authorization: DPoP <token>", with a proof (`resource_proof`).
        if token.dpop_key is None:
            raise ProtocolError(
                "the access token is bound to a DPoP key that is no longer known (it was not "
                "kept with the token): log in again",
                field="token_type",
            )
        return f"DPoP {token.access_token}"
    if token.token_type.lower() != "bearer":
        raise ProtocolError(
            f"the server issued an access token of type {printable(token.token_type)!r}, which "
            "loctocat cannot present (only Bearer tokens are supported); RFC 6749 §7.1 forbids "
            "using a token whose type the client does not understand",
            field="token_type",
        )
    return f"Bearer {token.access_token}"


def resource_proof(token: Token, nonces: Nonces, url: str) -> DPoP | None:
    """The DPoP proof to send with `token` to a resource at `url` (with `ath`, RFC 9449 §7),
    or None for a Bearer token. Resend once with the nonce a 401 `use_dpop_nonce` names."""
    if token.dpop_key is None or token.token_type.lower() != "dpop":
        return None
    return DPoP(token.dpop_key, nonces.get(url), token.access_token)


def poll_flow(
    config: ClientConfig,
    grant: PendingGrant,
    handlers: Mapping[str, Handler],
    *,
    clock: Callable[[], float],
) -> Generator[Effect, Any, Token]:
    """RFC 8628 §3.4-3.5: poll the token endpoint until the user decides or the code expires."""
    interval = grant.interval
    wait: float = interval
    failures = 0
    last_failure: str | None = None
    polls = 0
    while True:
        now = clock()
        end = min(grant.expires_at, grant.timeout_at)
        if now + wait >= end:
            # The next poll would come too late: wait out the remaining time, then stop. The
            # RFC leaves it to the client to stop polling once expires_in has passed (§3.5).
            if end > now:
                yield Sleep(end - now)
            raise _deadline_error(grant, last_failure)
        # "the client SHOULD wait at least `interval` seconds between polling requests"
        yield Sleep(wait)
        polls += 1
        outcome = yield from _poll_once(config, grant, clock, polls)

        if isinstance(outcome, _Unavailable):
            # §3.5: "clients MUST unilaterally reduce their polling frequency before retrying.
            # The use of an exponential backoff algorithm ... is RECOMMENDED."
            failures += 1
            last_failure = outcome.description
            # The exponent is capped: the wait is capped long before, and 2.0**1024 overflows.
            wait = min(interval * 2 ** min(failures, 32), max(MAX_BACKOFF, interval))
            if outcome.retry_after is not None:
                wait = max(wait, min(outcome.retry_after, MAX_RETRY_AFTER))
            log.debug(
                "poll %d: %s; retrying in %.1f s", polls, printable(outcome.description), wait
            )
            continue
        failures = 0
        if isinstance(outcome, Token):
            return (yield from verified(config, outcome))

        handler = handlers.get(_error_code(outcome))
        if handler is not None:
            error = outcome if isinstance(outcome, ServerError) else _pending_error(outcome)
            yield CallHandler(handler, error)
            if not handler.continue_on_error:
                raise error

        if isinstance(outcome, _SlowDown):
            # §3.5: "the interval MUST be increased by 5 seconds for this and all subsequent
            # requests"; a server that names a new interval (GitHub) gets it if it is longer.
            interval = _clamp_interval(
                max(interval + SLOW_DOWN_INCREMENT, outcome.interval or 0), config
            )
            log.debug("poll %d: slow_down; interval now %s s", polls, interval)
        elif isinstance(outcome, _Pending):
            log.debug("poll %d: authorization_pending", polls)
        elif handler is None:
            # access_denied, expired_token, and every other error end the flow.
            log.debug("poll %d: %s", polls, printable(outcome.error))
            raise outcome
        wait = interval


def _poll_once(
    config: ClientConfig, grant: PendingGrant, clock: Callable[[], float], poll: int
) -> Generator[Effect, Any, PollOutcome]:
    """One token request and what its answer means (a token comes bound to the request's DPoP
    key). The request and the answer end with it: a login waiting for its next poll keeps
    neither (a service may have thousands waiting)."""
    request = token_request(config, grant.auth_info)
    if grant.timeout_at < math.inf:
        # The caller's deadline bounds each request too, not only the waits between them.
        request = dataclasses.replace(request, timeout=max(0.0, grant.timeout_at - clock()))
    result = yield from exchange(config, request)
    outcome = judge_token_response(request, result, config.quirks)
    if not isinstance(outcome, Token):
        return outcome
    log.debug("poll %d: token received", poll)
    return bound(outcome, request)


def verified(
    config: ClientConfig, token: Token, previous: Token | None = None
) -> Generator[Effect, Any, Token]:
    """`token` with its ID token verified, when the configuration says how (else as it is)."""
    check = config.id_token_check
    if check is None or token.id_token is None:
        return token
    return (yield from check.flow(token, previous))


def login_flow(
    config: ClientConfig,
    handlers: Mapping[str, Handler] | None = None,
    *,
    clock: Callable[[], float],
) -> Generator[Effect, Any, Token]:
    """RFC 8628 from start to end: ask for the codes, `ShowCode`, poll until a decision."""
    grant = yield from device_authorization_flow(config, clock=clock)
    yield ShowCode(grant)
    token = yield from poll_flow(config, grant, handlers or {}, clock=clock)
    return token


def _error_code(outcome: _Pending | _SlowDown | ServerError) -> str:
    if isinstance(outcome, ServerError):
        return outcome.error
    return "slow_down" if isinstance(outcome, _SlowDown) else "authorization_pending"


def _pending_error(outcome: _Pending | _SlowDown) -> ServerError:
    return ServerError(_error_code(outcome))


def _deadline_error(grant: PendingGrant, last_failure: str | None) -> ServerError | FlowTimeout:
    because = f"; the last poll failed with {last_failure}" if last_failure else ""
    if grant.timeout_at < grant.expires_at:
        return FlowTimeout(f"the timeout for the login ran out before it was approved{because}")
    return ExpiredToken(
        "expired_token",
        f"the code expired after {grant.auth_info.expires_in} s without approval{because}",
    )
