"""The sans-I/O core, stepped by hand with a fake clock: no sockets, no sleeping."""

from __future__ import annotations

import base64
import gzip
import json
import sys
import urllib.parse
import zlib
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from loctocat import (
    AccessDenied,
    ConfigurationError,
    ExpiredToken,
    FlowTimeout,
    Handler,
    InvalidGrant,
    LoctocatAuthInfo,
    ProtocolError,
    ServerError,
    Token,
    TransportError,
)
from loctocat._flow import (
    DEVICE_CODE_GRANT,
    MAX_BODY_BYTES,
    MAX_INTERVAL,
    MAX_RETRY_AFTER,
    CallHandler,
    ClientConfig,
    PendingGrant,
    Quirks,
    Request,
    Response,
    Sleep,
    TransportFailure,
    device_authorization_flow,
    poll_flow,
)

#: When every hand-made answer below arrived: the core counts expiries from it.
ARRIVED = datetime.now(UTC).replace(microsecond=0)

DEVICE_URL = "https://auth.example.com/device/code"
TOKEN_URL = "https://auth.example.com/token"


def config(**overrides: Any) -> ClientConfig:
    values: dict[str, Any] = {
        "client_id": "client-1",
        "device_authorization_url": DEVICE_URL,
        "token_url": TOKEN_URL,
        "scopes": ("read", "write"),
    }
    values.update(overrides)
    return ClientConfig(**values)


def json_response(status: int, body: object, **headers: str) -> Response:
    all_headers = {"content-type": "application/json"}
    all_headers.update({k.replace("_", "-").lower(): v for k, v in headers.items()})
    return Response(status, all_headers, json.dumps(body).encode(), received_at=ARRIVED)


DEVICE_ANSWER = {
    "device_code": "DEVICE-SECRET",
    "user_code": "WDJB-MJHT",
    "verification_uri": "https://auth.example.com/activate",
    "expires_in": 900,
    "interval": 5,
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Driver:
    """Steps a flow by hand: answers requests from a script, advances the clock on Sleep."""

    def __init__(self, flow: Generator[Any, Any, Any], clock: Clock) -> None:
        self.flow = flow
        self.clock = clock
        self.requests: list[tuple[float, Request]] = []
        self.sleeps: list[float] = []
        self.handler_calls: list[CallHandler] = []

    def run(self, *answers: Response | TransportFailure) -> Any:
        """Run to the end, answering each request with the next answer."""
        pending = list(answers)
        result: Any = None
        while True:
            try:
                effect = self.flow.send(result)
            except StopIteration as stop:
                assert not pending, f"{len(pending)} answers left unused"
                return stop.value
            result = None
            if isinstance(effect, Sleep):
                assert effect.seconds >= 0
                self.sleeps.append(effect.seconds)
                self.clock.now += effect.seconds
            elif isinstance(effect, Request):
                self.requests.append((self.clock.now, effect))
                assert pending, f"unexpected request to {effect.url}"
                result = pending.pop(0)
            else:
                assert isinstance(effect, CallHandler)
                self.handler_calls.append(effect)


def ping(cfg: ClientConfig, answer: Response | TransportFailure) -> PendingGrant:
    clock = Clock()
    grant = Driver(device_authorization_flow(cfg, clock=clock), clock).run(answer)
    assert isinstance(grant, PendingGrant)
    return grant


def start_polling(
    cfg: ClientConfig | None = None,
    device_answer: dict[str, Any] | None = None,
    handlers: dict[str, Handler] | None = None,
) -> Driver:
    cfg = cfg or config()
    clock = Clock()
    grant = Driver(device_authorization_flow(cfg, clock=clock), clock).run(
        json_response(200, device_answer or DEVICE_ANSWER)
    )
    return Driver(poll_flow(cfg, grant, handlers or {}, clock=clock), clock)


PENDING = json_response(400, {"error": "authorization_pending"})
SLOW_DOWN = json_response(400, {"error": "slow_down"})
TOKEN = json_response(
    200,
    {
        "access_token": "ACCESS-SECRET",
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": "REFRESH-SECRET",
        "scope": "read write",
        "id_token": "ID-SECRET",
        "created_at": 1700000000,
    },
)


def form_of(request: Request) -> dict[str, str]:
    return dict(request.form)


# --- requests ---------------------------------------------------------------------------------


def test_device_request_sends_parameters_in_the_body_and_asks_for_json() -> None:
    cfg = config(device_params={"audience": "api"})
    clock = Clock()
    driver = Driver(device_authorization_flow(cfg, clock=clock), clock)
    driver.run(json_response(200, DEVICE_ANSWER))
    (_, request) = driver.requests[0]
    assert request.method == "POST"
    assert request.url == DEVICE_URL
    assert urllib.parse.urlsplit(request.url).query == ""
    assert form_of(request) == {"client_id": "client-1", "scope": "read write", "audience": "api"}
    assert ("Accept", "application/json") in request.headers


def test_token_request_carries_the_device_code_grant() -> None:
    driver = start_polling(config(token_params={"extra": "1"}))
    driver.run(TOKEN)
    (_, request) = driver.requests[0]
    assert request.url == TOKEN_URL
    assert form_of(request) == {
        "grant_type": DEVICE_CODE_GRANT,
        "device_code": "DEVICE-SECRET",
        "client_id": "client-1",
        "extra": "1",
    }


def test_client_secret_in_the_body() -> None:
    driver = start_polling(config(client_secret="s3cret"))
    driver.run(TOKEN)
    assert form_of(driver.requests[0][1])["client_secret"] == "s3cret"
    assert not any(name == "Authorization" for name, _ in driver.requests[0][1].headers)


def test_client_secret_as_http_basic_is_form_encoded_first() -> None:
    driver = start_polling(config(client_id="id:1", client_secret="a b&c", client_auth="basic"))
    driver.run(TOKEN)
    request = driver.requests[0][1]
    assert "client_secret" not in form_of(request)
    auth = dict(request.headers)["Authorization"]
    assert auth.startswith("Basic ")
    assert base64.b64decode(auth[6:]).decode() == "id%3A1:a+b%26c"


# --- URL rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8080/device",
        "http://127.0.0.1/device",
        "http://127.8.9.10:1/device",
        "http://[::1]:9000/device",
        "http://app.localhost/device",
        "https://example.com/device",
    ],
)
def test_https_or_loopback_urls_are_accepted(url: str) -> None:
    config(device_authorization_url=url)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://example.com/device", "use https://"),
        ("http://10.0.0.1/device", "use https://"),
        ("ftp://example.com/device", "absolute https:// URL"),
        ("/device", "absolute https:// URL"),
        ("https://example.com/device?client_id=x", "query string"),
    ],
)
def test_unsafe_urls_are_refused_with_a_fix(url: str, says: str) -> None:
    with pytest.raises(ConfigurationError, match="auth_url") as info:
        config(device_authorization_url=url)
    assert says in str(info.value)


def test_client_id_must_be_given() -> None:
    with pytest.raises(ConfigurationError, match="client_id"):
        config(client_id="")


# --- the device answer ------------------------------------------------------------------------


def test_device_answer_becomes_auth_info_with_extra_fields() -> None:
    answer = dict(DEVICE_ANSWER, verification_uri_complete="https://x/a?c=1", message="Hi")
    grant = ping(config(), json_response(200, answer))
    info = grant.auth_info
    assert isinstance(info, LoctocatAuthInfo)
    assert (info.device_code, info.user_code, info.expires_in, info.interval) == (
        "DEVICE-SECRET",
        "WDJB-MJHT",
        900,
        5,
    )
    assert info.verification_uri_complete == "https://x/a?c=1"
    assert info.message == "Hi"
    assert info.extra == {"message": "Hi"}
    assert grant.expires_at == 1000.0 + 900
    assert "DEVICE-SECRET" not in repr(info)
    with pytest.raises(AttributeError):
        info.user_code = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("interval", "expected"),
    [(None, 5), ("absent", 5), ("7", 7), (7, 7), (2.5, 3), (0, 1), (10_000, MAX_INTERVAL)],
)
def test_interval_defaults_to_5_and_is_coerced_and_clamped(interval: object, expected: int) -> None:
    answer = dict(DEVICE_ANSWER)
    if interval == "absent":
        del answer["interval"]
    else:
        answer["interval"] = interval
    grant = ping(config(), json_response(200, answer))
    assert grant.interval == expected


def test_verification_url_is_accepted_as_verification_uri() -> None:
    answer = dict(DEVICE_ANSWER)
    answer["verification_url"] = answer.pop("verification_uri")
    assert ping(config(), json_response(200, answer)).auth_info.verification_uri == (
        "https://auth.example.com/activate"
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"device_code": None}, "device_code"),
        ({"user_code": 1234}, "user_code"),
        ({"verification_uri": None}, "verification_url"),
        ({"expires_in": None}, "expires_in"),
        ({"expires_in": "soon"}, "expires_in"),
        ({"expires_in": -5}, "expires_in"),
        ({"expires_in": 0}, "expires_in"),
        ({"interval": "fast"}, "interval"),
        ({"interval": True}, "interval"),
    ],
)
def test_bad_device_answers_name_the_field_and_endpoint(change: dict[str, Any], field: str) -> None:
    answer = {k: v for k, v in {**DEVICE_ANSWER, **change}.items() if v is not None}
    with pytest.raises(ProtocolError) as info:
        ping(config(), json_response(200, answer))
    assert info.value.field == field
    assert info.value.endpoint == DEVICE_URL
    assert field in str(info.value)
    assert DEVICE_URL in str(info.value)


@pytest.mark.parametrize(
    "response",
    [
        Response(200, {"content-type": "text/html"}, b"<html>hello</html>", received_at=ARRIVED),
        Response(200, {}, b"[1, 2]", received_at=ARRIVED),
        Response(200, {}, b"\xff\xfe", received_at=ARRIVED),
        Response(404, {"content-type": "text/html"}, b"Not Found", received_at=ARRIVED),
    ],
)
def test_non_json_device_answers_are_protocol_errors(response: Response) -> None:
    with pytest.raises(ProtocolError, match="device authorization endpoint"):
        ping(config(), response)


def test_json_with_a_wrong_content_type_is_still_read() -> None:
    answer = Response(
        200, {"content-type": "text/plain"}, json.dumps(DEVICE_ANSWER).encode(), received_at=ARRIVED
    )
    assert ping(config(), answer).auth_info.user_code == "WDJB-MJHT"


def test_form_encoded_answers_are_read() -> None:
    body = urllib.parse.urlencode(DEVICE_ANSWER).encode()
    answer = Response(
        200, {"content-type": "application/x-www-form-urlencoded"}, body, received_at=ARRIVED
    )
    assert ping(config(), answer).auth_info.interval == 5


def test_duplicate_keys_are_refused() -> None:
    body = b'{"device_code": "a", "device_code": "b"}'
    with pytest.raises(ProtocolError, match="appears twice"):
        ping(config(), Response(200, {}, body, received_at=ARRIVED))


def test_duplicate_form_fields_are_refused() -> None:
    body = urllib.parse.urlencode([*DEVICE_ANSWER.items(), ("device_code", "forged")]).encode()
    answer = Response(
        200, {"content-type": "application/x-www-form-urlencoded"}, body, received_at=ARRIVED
    )
    with pytest.raises(ProtocolError, match="'device_code' appears twice"):
        ping(config(), answer)


def test_the_response_repr_never_shows_the_body() -> None:
    answer = json_response(200, DEVICE_ANSWER)
    assert "DEVICE-SECRET" not in repr(answer)


def deflated(data: bytes, wbits: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("coding", "pack"),
    [
        ("gzip", lambda b: gzip.compress(b)),
        ("x-gzip", lambda b: gzip.compress(b)),
        ("GZIP", lambda b: gzip.compress(b)),
        ("deflate", lambda b: deflated(b, zlib.MAX_WBITS)),  # zlib format, as RFC 9110 says
        ("deflate", lambda b: deflated(b, -zlib.MAX_WBITS)),  # raw deflate, as servers send
        ("identity", lambda b: b),
        ("gzip, identity", lambda b: gzip.compress(b)),
        ("", lambda b: b),
    ],
)
def test_one_content_coding_is_undone(coding: str, pack: Any) -> None:
    body = pack(json.dumps(DEVICE_ANSWER).encode())
    answer = Response(
        200,
        {"content-type": "application/json", "content-encoding": coding},
        body,
        received_at=ARRIVED,
    )
    assert ping(config(), answer).auth_info.user_code == "WDJB-MJHT"


@pytest.mark.parametrize("coding", ["gzip, gzip", "gzip,deflate", "br", "zstd", "compress"])
def test_stacked_or_unknown_content_codings_are_protocol_errors(coding: str) -> None:
    body = gzip.compress(gzip.compress(json.dumps(DEVICE_ANSWER).encode()))
    answer = Response(200, {"content-encoding": coding}, body, received_at=ARRIVED)
    with pytest.raises(ProtocolError, match="only one layer of gzip or deflate"):
        ping(config(), answer)


def test_decompression_stops_at_the_cap() -> None:
    body = gzip.compress(b"{" + b" " * (64 * MAX_BODY_BYTES) + b"}")
    assert len(body) < MAX_BODY_BYTES
    answer = Response(200, {"content-encoding": "gzip"}, body, received_at=ARRIVED)
    with pytest.raises(ProtocolError, match=r"larger than .* once decompressed"):
        ping(config(), answer)


@pytest.mark.parametrize(
    "body",
    [
        b"not gzip at all",
        gzip.compress(json.dumps(DEVICE_ANSWER).encode())[:-8],  # truncated
        gzip.compress(json.dumps(DEVICE_ANSWER).encode()) + b"trailing",
    ],
)
def test_a_body_its_coding_cannot_undo_is_a_garbled_answer(body: bytes) -> None:
    answer = Response(200, {"content-encoding": "gzip"}, body, received_at=ARRIVED)
    with pytest.raises(TransportError, match="could not be decoded"):
        ping(config(), answer)


def test_oversized_answers_are_refused() -> None:
    body = b" " * (MAX_BODY_BYTES + 1)
    with pytest.raises(ProtocolError, match="larger than"):
        ping(config(), Response(200, {}, body, received_at=ARRIVED))


def test_device_errors_are_typed_whatever_the_status() -> None:
    with pytest.raises(ServerError) as info:
        ping(config(), json_response(200, {"error": "invalid_client", "error_description": "no"}))
    assert info.value.error == "invalid_client"
    assert info.value.error_description == "no"
    assert info.value.status_code == 200


@pytest.mark.parametrize(
    "answer",
    [
        TransportFailure("connection failed"),
        Response(503, {"content-type": "text/html"}, b"<html>busy</html>", received_at=ARRIVED),
        Response(429, {}, b"", received_at=ARRIVED),
    ],
)
def test_the_device_request_fails_fast(answer: Response | TransportFailure) -> None:
    with pytest.raises(TransportError, match="device authorization endpoint"):
        ping(config(), answer)


@pytest.mark.parametrize("status", [429, 503])
def test_a_busy_answer_with_an_oauth_error_is_judged_by_its_code(status: int) -> None:
    # slow_down: +5 s for good (RFC 8628 §3.5), as with any status; not a backoff.
    driver = start_polling()
    driver.run(PENDING, json_response(status, {"error": "slow_down"}), PENDING, TOKEN)
    assert driver.sleeps == [5, 5, 10, 10]
    # server_error in a busy answer: a transient failure, retried with backoff.
    driver = start_polling()
    driver.run(json_response(status, {"error": "server_error"}), TOKEN)
    assert driver.sleeps == [5, 10]
    # Any other code ends the flow, typed.
    with pytest.raises(AccessDenied):
        start_polling().run(json_response(status, {"error": "access_denied"}))


def test_a_busy_answer_whatever_its_body_is_retried() -> None:
    driver = start_polling()
    huge = Response(
        503, {"content-type": "text/html"}, b"<html>" + b" " * MAX_BODY_BYTES, received_at=ARRIVED
    )
    driver.run(
        huge, Response(502, {"content-encoding": "gzip"}, b"not gzip", received_at=ARRIVED), TOKEN
    )
    assert driver.sleeps == [5, 10, 20]


def test_a_busy_device_answer_is_a_transport_error_unless_it_names_another_error() -> None:
    with pytest.raises(TransportError, match=r"HTTP 429 slow_down\); try again later"):
        ping(config(), json_response(429, {"error": "slow_down"}))
    with pytest.raises(ServerError, match="invalid_client"):
        ping(config(), json_response(503, {"error": "invalid_client"}))


def test_a_service_that_names_its_error_in_another_field() -> None:
    twitch = config(quirks=Quirks(error_field="message"))
    driver = start_polling(twitch)
    busy = json_response(400, {"status": 400, "message": "slow_down"})
    driver.run(json_response(400, {"status": 400, "message": "authorization_pending"}), busy, TOKEN)
    assert driver.sleeps == [5, 5, 10]
    # A success answer with such a field is a success.
    ok = json_response(200, {**json.loads(TOKEN.body), "message": "welcome"})
    assert start_polling(twitch).run(ok).access_token == "ACCESS-SECRET"


def test_the_device_request_can_leave_the_secret_for_the_polls() -> None:
    cfg = config(
        client_secret="s3cret",
        client_auth="basic",
        quirks=Quirks(authenticate_device_request=False),
    )
    clock = Clock()
    device = Driver(device_authorization_flow(cfg, clock=clock), clock)
    grant = device.run(json_response(200, DEVICE_ANSWER))
    (_, request) = device.requests[0]
    assert dict(request.headers).get("Authorization") is None
    assert "client_secret" not in form_of(request)
    polls = Driver(poll_flow(cfg, grant, {}, clock=clock), clock)
    polls.run(TOKEN)
    (_, poll) = polls.requests[0]
    assert dict(poll.headers)["Authorization"].startswith("Basic ")


def test_a_redirect_is_not_followed_and_says_where_it_led() -> None:
    with pytest.raises(ProtocolError, match=r"https://elsewhere\.example/device"):
        ping(
            config(),
            Response(
                302, {"location": "https://elsewhere.example/device"}, b"", received_at=ARRIVED
            ),
        )


# --- polling ------------------------------------------------------------------------------------


def test_polls_wait_the_interval_and_return_the_whole_token() -> None:
    driver = start_polling()
    token = driver.run(PENDING, PENDING, TOKEN)
    assert isinstance(token, Token)
    assert driver.sleeps == [5, 5, 5]
    assert [t for t, _ in driver.requests] == [1005.0, 1010.0, 1015.0]
    assert token.access_token == "ACCESS-SECRET"
    assert token.refresh_token == "REFRESH-SECRET"
    assert token.id_token == "ID-SECRET"
    assert token.scopes == ("read", "write")
    assert token.created_at == 1700000000
    assert token.expires_at is not None
    # Counted from when the answer arrived: exactly, the core reads no clock of its own.
    assert token.expires_at == ARRIVED + timedelta(seconds=3600)
    assert token.received_at == ARRIVED
    for secret in ("ACCESS-SECRET", "REFRESH-SECRET", "ID-SECRET"):
        assert secret not in repr(token)
        assert secret not in str(token)


@pytest.mark.parametrize("error", ["authorization_pending", "slow_down"])
def test_a_login_waiting_for_its_next_poll_keeps_neither_request_nor_answer(error: str) -> None:
    # A service may have thousands of logins waiting: what one poll sent and got ends with it.
    flow = start_polling().flow
    assert isinstance(flow.send(None), Sleep)
    request = flow.send(None)
    assert isinstance(request, Request)
    answer = json_response(400, {"error": error})
    assert isinstance(flow.send(answer), Sleep)
    only_here = object()  # referred to by this function alone, like `request` and `answer` now
    assert sys.getrefcount(request) == sys.getrefcount(answer) == sys.getrefcount(only_here)
    flow.close()


def test_slow_down_adds_5_seconds_for_this_and_all_later_polls() -> None:
    driver = start_polling()
    driver.run(PENDING, SLOW_DOWN, PENDING, SLOW_DOWN, PENDING, TOKEN)
    assert driver.sleeps == [5, 5, 10, 10, 15, 15]


def test_slow_down_takes_the_servers_new_interval_when_longer() -> None:
    driver = start_polling()
    longer = json_response(200, {"error": "slow_down", "interval": 30})
    shorter = json_response(200, {"error": "slow_down", "interval": 1})
    driver.run(longer, shorter, TOKEN)
    assert driver.sleeps == [5, 30, 35]


@pytest.mark.parametrize(
    ("code", "error_class"),
    [
        ("access_denied", AccessDenied),
        ("expired_token", ExpiredToken),
        ("invalid_grant", InvalidGrant),
        ("something_new", ServerError),
    ],
)
@pytest.mark.parametrize("status", [400, 200])
def test_other_errors_end_the_flow_typed(
    code: str, error_class: type[ServerError], status: int
) -> None:
    driver = start_polling()
    answer = json_response(status, {"error": code, "error_description": "why", "error_uri": "u"})
    with pytest.raises(error_class) as info:
        driver.run(PENDING, answer)
    assert type(info.value) is error_class
    assert (info.value.error, info.value.error_description, info.value.error_uri) == (
        code,
        "why",
        "u",
    )


def test_expiry_is_enforced_on_our_side() -> None:
    driver = start_polling(device_answer=dict(DEVICE_ANSWER, expires_in=12))
    with pytest.raises(ExpiredToken, match="expired after 12 s"):
        driver.run(PENDING, PENDING)
    # Polled at +5 and +10; the third poll would pass the deadline, so it waits until +12.
    assert [t for t, _ in driver.requests] == [1005.0, 1010.0]
    assert driver.clock.now == 1012.0


def test_the_flow_timeout_ends_the_flow_first() -> None:
    driver = start_polling(config(timeout=7))
    with pytest.raises(FlowTimeout):
        driver.run(PENDING)
    assert driver.clock.now == 1007.0


def test_transient_failures_back_off_then_recover() -> None:
    driver = start_polling()
    failures = [
        TransportFailure("connection failed"),
        Response(503, {"content-type": "text/html"}, b"<html>oops</html>", received_at=ARRIVED),
        json_response(400, {"error": "temporarily_unavailable"}),
    ]
    driver.run(*failures, PENDING, PENDING, TOKEN)
    # 5, then doubled per consecutive failure, then back to the interval after an answer.
    assert driver.sleeps == [5, 10, 20, 40, 5, 5]


def test_backoff_is_capped() -> None:
    driver = start_polling(device_answer=dict(DEVICE_ANSWER, expires_in=10_000))
    driver.run(*[TransportFailure("down")] * 8, TOKEN)
    assert max(driver.sleeps) == 60


def test_retry_after_is_honoured_in_seconds_and_as_a_date() -> None:
    driver = start_polling()
    when = format_datetime(ARRIVED + timedelta(seconds=100), usegmt=True)
    driver.run(
        Response(429, {"retry-after": "30"}, b"", received_at=ARRIVED),
        Response(503, {"retry-after": when}, b"", received_at=ARRIVED),
        TOKEN,
    )
    assert driver.sleeps[1] == 30
    assert driver.sleeps[2] == 100  # counted from when the answer arrived


def test_transient_failures_until_expiry_say_what_failed() -> None:
    driver = start_polling(device_answer=dict(DEVICE_ANSWER, expires_in=30))
    with pytest.raises(ExpiredToken, match="HTTP 502"):
        driver.run(*[Response(502, {}, b"bad gateway", received_at=ARRIVED)] * 2)


def test_a_malformed_token_answer_is_a_protocol_error() -> None:
    driver = start_polling()
    with pytest.raises(ProtocolError) as info:
        driver.run(json_response(200, {"token_type": "Bearer"}))
    assert info.value.field == "access_token"
    assert info.value.endpoint == TOKEN_URL


def test_a_scope_list_is_joined() -> None:
    driver = start_polling()
    token = driver.run(json_response(200, {"access_token": "a", "scope": ["x", "y"]}))
    assert token.scope == "x y"
    assert token.token_type == "Bearer"
    assert token.expires_at is None


# --- handlers -----------------------------------------------------------------------------------


def test_a_handler_is_called_and_polling_goes_on_at_the_same_pace() -> None:
    handler = Handler("authorization_pending", lambda _: None)
    driver = start_polling(handlers={"authorization_pending": handler})
    driver.run(PENDING, PENDING, TOKEN)
    assert [c.handler for c in driver.handler_calls] == [handler, handler]
    assert driver.sleeps == [5, 5, 5]


def test_a_handler_can_keep_polling_through_a_custom_error() -> None:
    handler = Handler("not_yet", lambda _: None)
    driver = start_polling(handlers={"not_yet": handler})
    token = driver.run(json_response(400, {"error": "not_yet"}), TOKEN)
    assert token.access_token == "ACCESS-SECRET"
    assert driver.handler_calls[0].error.error == "not_yet"
    assert driver.sleeps == [5, 5]


def test_a_handler_can_stop_the_flow() -> None:
    handler = Handler("slow_down", lambda _: None, continue_on_error=False)
    driver = start_polling(handlers={"slow_down": handler})
    with pytest.raises(ServerError, match="slow_down"):
        driver.run(SLOW_DOWN)
    assert len(driver.handler_calls) == 1


def test_a_slow_down_handler_cannot_skip_the_slow_down() -> None:
    handler = Handler("slow_down", lambda _: None)
    driver = start_polling(handlers={"slow_down": handler})
    driver.run(SLOW_DOWN, TOKEN)
    assert driver.sleeps == [5, 10]


def test_a_huge_retry_after_is_capped() -> None:
    driver = start_polling(device_answer=dict(DEVICE_ANSWER, expires_in=3600))
    driver.run(Response(429, {"retry-after": "999999"}, b"", received_at=ARRIVED), TOKEN)
    assert driver.sleeps == [5, MAX_RETRY_AFTER]


# --- service quirks -----------------------------------------------------------------------------


def test_quirks_rename_the_poll_parameters() -> None:
    quirks = Quirks(
        grant_type="device_code",
        device_code_param="code",
        poll_code_fields=("user_code",),
        scope_param="scopes",
    )
    driver = start_polling(config(quirks=quirks))
    driver.run(TOKEN)
    assert form_of(driver.requests[0][1]) == {
        "grant_type": "device_code",
        "code": "DEVICE-SECRET",
        "user_code": "WDJB-MJHT",
        "client_id": "client-1",
    }
    clock = Clock()
    device = Driver(device_authorization_flow(config(quirks=quirks), clock=clock), clock)
    device.run(json_response(200, DEVICE_ANSWER))
    assert form_of(device.requests[0][1])["scopes"] == "read write"


def test_error_aliases_pick_the_class_and_keep_the_servers_code() -> None:
    quirks = Quirks(
        error_aliases={
            "authorization_declined": "access_denied",
            "pending": "authorization_pending",
        },
        error_hints={"authorization_declined": "the user said no"},
    )
    driver = start_polling(config(quirks=quirks))
    with pytest.raises(AccessDenied, match="the user said no") as info:
        driver.run(
            json_response(400, {"error": "pending"}),
            json_response(400, {"error": "authorization_declined"}),
        )
    assert info.value.error == "authorization_declined"
    assert driver.sleeps == [5, 5]
