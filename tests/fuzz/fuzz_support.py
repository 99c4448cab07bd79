"""Strategies and a hand driver for the property-based tests of the sans-I/O core.

The hostile inputs include those of the bugs the first fuzz runs found (see
`test_regressions.py`): integers too large for a float, JSON nested past the recursion limit,
non-decimal Unicode digits and absurd years in Retry-After.
"""

from __future__ import annotations

import functools
import json
import math
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from hypothesis import strategies as st

from loctocat import Handler
from loctocat._flow import (
    MAX_INTERVAL,
    CallHandler,
    ClientAuth,
    ClientConfig,
    Effect,
    Flow,
    Request,
    RequestResult,
    Response,
    Sleep,
    TransportFailure,
)
from loctocat.errors import LoctocatError

#: When every hand-made answer below arrived: the core counts expiries from it.
ARRIVED = datetime.now(UTC)

START = 1000.0
DEVICE_URL = "https://auth.example.com/device/code"
TOKEN_URL = "https://auth.example.com/token"

#: Secrets are drawn from the runic block, which no other generated text uses: any rune in an
#: output is (part of) a leaked secret.
SECRET_ALPHABET = "".join(chr(c) for c in range(0x16A0, 0x16EB))


# --- Driving a flow by hand -----------------------------------------------------------------


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Run:
    """What one flow did: its effects with the clock time they were yielded at, and its end."""

    result: Any = None
    error: LoctocatError | None = None
    effects: list[tuple[float, Effect]] = field(default_factory=list)
    requests: list[tuple[float, Request]] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)
    handler_calls: list[CallHandler] = field(default_factory=list)


def drive(
    flow: Flow,
    clock: Clock,
    answer: Callable[[int], RequestResult],
    max_requests: int = 10_000,
) -> Run:
    """Run `flow` to its end: request n is answered with `answer(n)`, Sleep advances `clock`.

    Only `LoctocatError` is caught: anything else the flow raises propagates and fails the test.
    """
    run = Run()
    to_send: RequestResult | None = None
    while True:
        try:
            effect = flow.send(to_send)
        except StopIteration as stop:
            run.result = stop.value
            return run
        except LoctocatError as exc:
            run.error = exc
            return run
        to_send = None
        run.effects.append((clock.now, effect))
        if isinstance(effect, Sleep):
            assert math.isfinite(effect.seconds), effect
            assert effect.seconds >= 0, effect
            run.sleeps.append(effect.seconds)
            clock.now += effect.seconds
        elif isinstance(effect, Request):
            assert len(run.requests) < max_requests, f"still polling after {max_requests} requests"
            run.requests.append((clock.now, effect))
            to_send = answer(len(run.requests) - 1)
        else:
            assert isinstance(effect, CallHandler), effect
            run.handler_calls.append(effect)


def cycle_answers(answers: list[RequestResult]) -> Callable[[int], RequestResult]:
    """Answer request n with answers[n], starting over when they run out."""
    return lambda n: answers[n % len(answers)]


def expand(runs: list[tuple[RequestResult, int]]) -> list[RequestResult]:
    return [answer for answer, times in runs for _ in range(times)]


def noop(_: object) -> None:
    return None


# --- Scalars and JSON -------------------------------------------------------------------------


_plain_characters = st.characters(exclude_categories=["Cs"], exclude_characters=SECRET_ALPHABET)


@functools.cache
def plain_text(min_size: int = 0, max_size: int = 12) -> st.SearchStrategy[str]:
    """Text for everything but secrets: encodable as UTF-8, never a rune."""
    return st.text(_plain_characters, min_size=min_size, max_size=max_size)


secrets = st.text(SECRET_ALPHABET, min_size=8, max_size=32)

#: Tokens are printable ASCII (RFC 6749 Appendix A.12, VSCHAR): a rune is no token. Token
#: secrets are told apart by a shape no other generated text has by chance.
VSCHAR = "".join(chr(c) for c in range(0x20, 0x7F))
token_secrets = st.from_regex(r"\Asecret_[A-Za-z0-9]{16,24}\Z")

#: Integers beyond what a float holds (valid JSON all the same).
_big_numbers: st.SearchStrategy[int] = st.one_of(
    st.integers(min_value=10**309, max_value=10**400),
    st.integers(min_value=-(10**400), max_value=-(10**309)),
)

numbers: st.SearchStrategy[int | float] = st.one_of(
    st.integers(-(10**300), 10**300),
    st.integers(-10, 1000),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 0.5, 1e-300]),
    _big_numbers,
)

numeric_strings: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(
        [
            "5",
            " 7 ",
            "07",
            "1e3",
            "2.5",
            "-1",
            "0",
            "nan",
            "NaN",
            "inf",
            "-Infinity",
            "1e400",
            "1_000",
            "0x10",
            "5s",
            "",
            " ",
            "٣",  # an Arabic-Indic digit: float() reads it
            "²",  # a digit float() refuses
            "true",
            "null",
        ]
    ),
    numbers.map(str),
)

scalars: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), numbers, numeric_strings, plain_text()
)

json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(plain_text(max_size=8), children, max_size=4),
    ),
    max_leaves=6,
)


def _deep(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


#: JSON nested deeper than anything legitimate (Python's decoder recurses).
deep_json: st.SearchStrategy[bytes] = st.builds(
    _deep,
    st.integers(1, 500) | st.integers(900, 100_000),
    st.sampled_from(["array", "object"]),
)


# --- Responses --------------------------------------------------------------------------------

JSON_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "APPLICATION/JSON",
    "text/plain",
    "text/html; charset=iso-8859-1",
    "application/problem+json",
    "",
    ";;;",
]
FORM_TYPES = [
    "application/x-www-form-urlencoded",
    "Application/X-WWW-Form-Urlencoded; charset=utf-8",
]

json_content_types: st.SearchStrategy[str | None] = st.one_of(
    st.none(), st.sampled_from(JSON_TYPES)
)
any_content_types: st.SearchStrategy[str | None] = st.one_of(
    json_content_types, st.sampled_from(FORM_TYPES), plain_text(max_size=30)
)


def _http_date(offset_seconds: int) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=offset_seconds), usegmt=True)


_date_like = st.builds(
    "{}, {:02d} {} {} {:02d}:{:02d}:{:02d} {}".format,
    st.sampled_from(["Mon", "Sun", "Xyz"]),
    st.integers(-5, 40),
    st.sampled_from(["Jan", "Feb", "Dec", "Foo"]),
    st.integers(-(10**12), 10**12),
    st.integers(-1, 99),
    st.integers(-1, 99),
    st.integers(-1, 99),
    st.sampled_from(["GMT", "UTC", "+0200", "-9999", "+999999999999", "PST", "Z", ""]),
)

retry_after_values: st.SearchStrategy[str] = st.one_of(
    st.integers(0, 10**6).map(str),
    st.sampled_from(["0", "5", " 30 ", "-5", "1.5", "9" * 400, "", "soon"]),
    st.integers(-(10**5), 10**5).map(_http_date),
    _date_like,
    plain_text(max_size=30),
    st.sampled_from(["²", "³⁴", "¹²³", "٣٠"]),  # Unicode digits: str.isdigit() is True
)


locations = st.one_of(
    st.sampled_from(["https://elsewhere.example/device", "/relative", "http://x"]),
    plain_text(max_size=30),
)


_other_headers = st.fixed_dictionaries(
    {},
    optional={
        "retry-after": retry_after_values,
        "location": locations,
        "www-authenticate": plain_text(max_size=20),
    },
)


def extra_headers(content_type: str | None = None) -> st.SearchStrategy[dict[str, str]]:
    """Lower-case header names, as the drivers hand them over."""
    if content_type is None:
        return _other_headers
    return _other_headers.map(lambda headers: {"content-type": content_type, **headers})


statuses = st.one_of(
    st.integers(100, 599),
    st.sampled_from([200, 201, 204, 301, 302, 307, 400, 401, 403, 404, 429, 500, 502, 503]),
)


def form_body(data: Mapping[str, Any]) -> bytes:
    """A form-encoded body: every value as text (a form has no other types)."""
    return urllib.parse.urlencode(
        {k: v if isinstance(v, str) else str(v) for k, v in data.items()}
    ).encode()


_clean_encodings = st.sampled_from(["json", "json", "json", "form"])
_hostile_encodings = st.sampled_from(
    ["json", "json", "json", "form", "json as form", "duplicate key", "truncated", "latin-1"]
)
_form_types = st.sampled_from(FORM_TYPES)
_any_status = st.just(200) | statuses
_success_status = st.integers(200, 299)


@st.composite
def encoded(
    draw: st.DrawFn, data: Mapping[str, Any], status: int | None = None, *, hostile: bool = True
) -> Response:
    """`data` sent as JSON or a form; with `hostile`, a twist that spoils it now and then."""
    how = draw(_hostile_encodings if hostile else _clean_encodings)
    content_type: str | None
    if how == "form":
        body, content_type = form_body(data), draw(_form_types)
    else:
        body = json.dumps(data).encode()
        content_type = draw(json_content_types)
        if how == "json as form":
            content_type = draw(_form_types)
        elif how == "duplicate key" and data:
            key = draw(st.sampled_from(sorted(data)))
            dup = json.dumps({key: draw(json_values)})[1:-1].encode()
            body = body[:-1] + b", " + dup + b"}"
        elif how == "truncated" and body:
            body = body[: draw(st.integers(0, len(body) - 1))]
        elif how == "latin-1":
            body = json.dumps(data, ensure_ascii=False).encode("latin-1", "replace")
    if status is None:
        status = draw(_any_status if hostile else _success_status)
    return Response(status, draw(extra_headers(content_type)), body, received_at=ARRIVED)


junk_bodies: st.SearchStrategy[bytes] = st.one_of(
    st.just(b""),
    st.binary(max_size=64),
    json_values.map(lambda v: json.dumps(v).encode()),
    deep_json,
    st.sampled_from([b"null", b"[]", b"{}", b'"text"', b"NaN", b"<html>busy</html>", b"\xff\xfe"]),
)

junk_responses: st.SearchStrategy[Response] = st.builds(
    Response, statuses, any_content_types.flatmap(extra_headers), junk_bodies
)

transport_failures = st.builds(TransportFailure, plain_text(max_size=20))


# --- Configurations ---------------------------------------------------------------------------


_client_secrets = st.none() | plain_text(1, 12)
_client_ids = st.sampled_from(["client-1", "id:with spaces&stuff"])
_scope_lists = st.lists(st.sampled_from(["read", "write", "openid"]), max_size=3)
_client_auths: st.SearchStrategy[ClientAuth] = st.sampled_from(["body", "basic"])
_default_intervals = st.integers(0, 10)
_min_intervals = st.one_of(
    st.just(1.0), st.sampled_from([0.01, 0.5, 2, 5]), st.floats(0.01, MAX_INTERVAL)
)
_timeouts = st.none() | st.floats(0.5, 10_000)


@st.composite
def configs(
    draw: st.DrawFn,
    *,
    min_interval: st.SearchStrategy[float] | None = None,
    client_secret: st.SearchStrategy[str | None] | None = None,
    timeout: st.SearchStrategy[float | None] | None = None,
) -> ClientConfig:
    secret = draw(client_secret if client_secret is not None else _client_secrets)
    return ClientConfig(
        client_id=draw(_client_ids),
        device_authorization_url=DEVICE_URL,
        token_url=TOKEN_URL,
        scopes=tuple(draw(_scope_lists)),
        client_secret=secret,
        client_auth=draw(_client_auths) if secret is not None else "body",
        default_interval=draw(_default_intervals),
        min_interval=draw(min_interval if min_interval is not None else _min_intervals),
        timeout=draw(timeout if timeout is not None else _timeouts),
    )


# --- Device authorization answers -------------------------------------------------------------

DEVICE_FIELDS = ("device_code", "user_code", "verification_uri", "expires_in", "interval")
_DEVICE_KNOWN = {*DEVICE_FIELDS, "verification_url", "verification_uri_complete", "error"}

#: Numbers of seconds a server may legitimately send: ints, floats and numeric strings.
valid_expires_in: st.SearchStrategy[int | float | str] = st.one_of(
    st.integers(1, 10**6),
    st.floats(min_value=1e-6, max_value=1e6),
    st.integers(1, 10**6).map(str),
    st.sampled_from(["900", " 600 ", "1e3", "2.5", "1_800"]),
)
valid_interval: st.SearchStrategy[int | float | str] = st.one_of(
    st.integers(0, 1000),
    st.floats(min_value=0, max_value=1000),
    st.integers(0, 1000).map(str),
    st.sampled_from(["5", " 7 ", "2.5", "0"]),
)


_user_codes = st.sampled_from(["WDJB-MJHT", "123456"]) | plain_text(1, 12)
_uri_fields = st.sampled_from(["verification_uri", "verification_url"])
_uris = st.sampled_from(["https://auth.example.com/activate"]) | plain_text(1, 30)
_optional_device_fields = st.fixed_dictionaries(
    {}, optional={"interval": valid_interval, "verification_uri_complete": plain_text(1, 30)}
)
_device_extras = st.dictionaries(
    plain_text(1, 10).filter(lambda k: k not in _DEVICE_KNOWN), json_values, max_size=3
)


@st.composite
def valid_device_answers(
    draw: st.DrawFn,
    device_code: st.SearchStrategy[str] | None = None,
    expires_in: st.SearchStrategy[int | float | str] = valid_expires_in,
) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "device_code": draw(device_code if device_code is not None else plain_text(1, 40)),
        "user_code": draw(_user_codes),
        draw(_uri_fields): draw(_uris),
        "expires_in": draw(expires_in),
        **draw(_optional_device_fields),
    }
    answer.update(draw(_device_extras))
    return answer


_mutation_counts = st.integers(1, 3)
_mutation_actions = st.sampled_from(["delete", "replace", "replace", "null"])


@st.composite
def mutated(draw: st.DrawFn, answer: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """`answer` with one to three fields deleted, retyped or added."""
    answer = dict(answer)
    names = st.sampled_from([*fields, "error", "error_description", "scope", "x"])
    for _ in range(draw(_mutation_counts)):
        name = draw(names)
        action = draw(_mutation_actions)
        if action == "delete":
            answer.pop(name, None)
        elif action == "null":
            answer[name] = None
        else:
            answer[name] = draw(json_values)
    return answer


# --- Token endpoint answers -------------------------------------------------------------------

TOKEN_KNOWN = {"access_token", "token_type", "expires_in", "refresh_token", "id_token", "scope"}
#: The fields `Token.to_dict()` adds: a server's fields of these names would be replaced.
TO_DICT_OWN = {"loctocat_expires_at", "loctocat_received_at"}

scopes = st.one_of(
    st.none(),
    st.sampled_from(["read write", "", "openid profile email"]),
    plain_text(max_size=20),
    st.lists(st.sampled_from(["read", "write", "user:email"]), max_size=3),
)


_tokens = st.text(VSCHAR, min_size=1, max_size=40)
_optional_token_fields = st.fixed_dictionaries(
    {},
    optional={
        "token_type": st.sampled_from(["Bearer", "bearer", "mac", ""]),
        "expires_in": st.one_of(
            st.integers(0, 10**8), st.floats(0, 1e8), st.sampled_from(["3600", "0"])
        ),
    },
)
_token_extras = st.dictionaries(
    plain_text(1, 10).filter(lambda k: k not in TOKEN_KNOWN | TO_DICT_OWN | {"error"}),
    json_values,
    max_size=4,
)


@st.composite
def valid_token_answers(
    draw: st.DrawFn, secret: st.SearchStrategy[str] | None = None
) -> dict[str, Any]:
    token = secret if secret is not None else _tokens
    answer: dict[str, Any] = {"access_token": draw(token), **draw(_optional_token_fields)}
    for name in ("refresh_token", "id_token"):
        if draw(_booleans):
            answer[name] = draw(token)
    scope = draw(scopes)
    if scope is not None:
        answer["scope"] = scope
    answer.update(draw(_token_extras))
    return answer


def oauth_error(code: Any, **fields: Any) -> dict[str, Any]:
    return {"error": code, **fields}


error_statuses = st.sampled_from([400, 400, 401, 403, 200])
pending_answers = st.builds(
    lambda status, extra: Response(
        status,
        {"content-type": "application/json"},
        json.dumps(oauth_error("authorization_pending", **extra)).encode(),
        received_at=ARRIVED,
    ),
    error_statuses,
    st.fixed_dictionaries({}, optional={"error_description": plain_text(max_size=20)}),
)


_booleans = st.booleans()


@st.composite
def slow_down_answers(draw: st.DrawFn, interval: st.SearchStrategy[Any] | None = None) -> Response:
    answer = oauth_error("slow_down")
    if draw(_booleans):
        answer["interval"] = draw(interval if interval is not None else json_values)
    return draw(encoded(answer, status=draw(error_statuses)))


_transient_kinds = st.sampled_from(["transport", "5xx", "429", "code"])
_transient_codes = st.sampled_from(["server_error", "temporarily_unavailable"])
_transient_code_statuses = st.sampled_from([400, 200, 503])
_5xx = st.integers(500, 599)
_junk_headers = any_content_types.flatmap(extra_headers)


@st.composite
def transient_answers(draw: st.DrawFn) -> RequestResult:
    kind = draw(_transient_kinds)
    if kind == "transport":
        return draw(transport_failures)
    if kind == "code":
        code = draw(_transient_codes)
        return draw(encoded(oauth_error(code), status=draw(_transient_code_statuses)))
    status = 429 if kind == "429" else draw(_5xx)
    return Response(status, draw(_junk_headers), draw(junk_bodies), received_at=ARRIVED)


terminal_errors = st.builds(
    lambda code, status: Response(
        status, {}, json.dumps(oauth_error(code)).encode(), received_at=ARRIVED
    ),
    st.one_of(
        st.sampled_from(["access_denied", "expired_token", "invalid_grant", "not_yet", ""]),
        json_values,
    ),
    statuses,
)


_answer_kinds = st.sampled_from(
    ["pending"] * 4
    + ["slow_down"] * 2
    + ["transient"] * 3
    + ["token", "bad token", "error", "junk"]
)
_slow_downs = slow_down_answers(st.one_of(valid_interval, json_values))
_transients = transient_answers()
_valid_tokens = valid_token_answers()


@st.composite
def token_endpoint_answers(draw: st.DrawFn) -> RequestResult:
    """Any answer the token endpoint could give, weighted towards the ones that keep polling."""
    kind = draw(_answer_kinds)
    if kind == "pending":
        return draw(pending_answers)
    if kind == "slow_down":
        return draw(_slow_downs)
    if kind == "transient":
        return draw(_transients)
    if kind == "token":
        return draw(encoded(draw(_valid_tokens)))
    if kind == "bad token":
        return draw(encoded(draw(mutated(draw(_valid_tokens), tuple(sorted(TOKEN_KNOWN))))))
    if kind == "error":
        return draw(terminal_errors)
    return draw(junk_responses)


handler_maps = st.dictionaries(
    st.sampled_from(["authorization_pending", "slow_down", "not_yet", "access_denied"]),
    st.booleans(),
    max_size=3,
).map(lambda m: {code: Handler(code, noop, continue_on_error=go_on) for code, go_on in m.items()})
