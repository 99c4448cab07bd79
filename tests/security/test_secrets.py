"""Secrets stay secret: not in logs, reprs, errors, URLs, nor sent to a host nobody configured.

The secrets of a device flow are the device code (it claims the token), the access and refresh
tokens, and the client secret (in the body, or base64-encoded in an HTTP Basic header). Full
flows run over loopback HTTP with every logger at DEBUG; then each secret is searched for in
everything a user might print or log. The second half checks the floor and ceiling of the
poll interval and of the code's lifetime, which keep a hostile server from turning the client
into a tight loop or a hang.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import secrets
import traceback
import urllib.parse
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import pytest

from loctocat import (
    AccessDenied,
    AsyncAuthenticator,
    Authenticator,
    LoctocatError,
    ProtocolError,
)
from loctocat._flow import (
    DEFAULT_MIN_INTERVAL,
    MAX_EXPIRES_IN,
    MAX_INTERVAL,
    ClientConfig,
    Request,
    Response,
    Sleep,
    device_authorization_flow,
    judge_token_response,
    poll_flow,
    token_request,
)
from loctocat._models import LoctocatAuthInfo
from loctocat.testing import FakeAuthorizationServer, Fault, PlanStep

#: When every hand-made answer below arrived: the core counts expiries from it.
ARRIVED = datetime.now(UTC)

ClientAuth = Literal["body", "basic"]

CLIENT_ID = "client-1"
#: Characters that change under form encoding, so that encoded copies are searched for too.
CLIENT_SECRET = "cs-" + secrets.token_urlsafe(18) + "/+&="
#: The access token of the protocol-error scenario: a number, which the client must refuse.
NUMERIC_ACCESS_TOKEN = "12345678901234"


# --- capturing every log record -------------------------------------------------------------------


class Capture(logging.Handler):
    """Keeps every record fully formatted: message with its args, exception and stack text."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(
            logging.Formatter(
                "%(asctime)s %(name)s %(levelname)s %(pathname)s:%(lineno)d %(funcName)s "
                "%(threadName)s %(message)s"
            )
        )
        self.lines: list[str] = []
        self.logger_names: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.logger_names.add(record.name)
        self.lines.append(f"{self.format(record)} msg={record.msg!r} args={record.args!r}")

    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def logs() -> Iterator[Capture]:
    """Every record of every logger at DEBUG, through a handler on the root logger."""
    root = logging.getLogger()
    handler = Capture()
    named = [logging.getLogger(name) for name in ("loctocat", "httpx", "httpcore")]
    saved = (root.level, [(lg.level, lg.disabled, lg.propagate) for lg in named])
    root.setLevel(logging.DEBUG)
    for lg in named:
        lg.setLevel(logging.NOTSET)
        lg.disabled = False
        lg.propagate = True
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        for lg, (level, disabled, propagate) in zip(named, saved[1], strict=True):
            lg.setLevel(level)
            lg.disabled = disabled
            lg.propagate = propagate


# --- finding secrets ------------------------------------------------------------------------------


def spellings(value: str) -> set[str]:
    """A secret as it could appear: raw, form-encoded, percent-encoded, and, when long, its
    first and last 16 characters (a truncated secret is still a leak)."""
    found = {value, urllib.parse.quote_plus(value), urllib.parse.quote(value, safe="")}
    if len(value) >= 32:
        found |= {value[:16], value[-16:]}
    return found


def flow_secrets(server: FakeAuthorizationServer, client_auth: ClientAuth) -> dict[str, str]:
    """Every secret of the flow just run, by name."""
    found = {"client_secret": CLIENT_SECRET, "numeric access token": NUMERIC_ACCESS_TOKEN}
    for i, grant in enumerate(server.grants):
        found[f"device_code[{i}]"] = grant.device_code
    for i, token in enumerate(server.issued_tokens):
        found[f"access_token[{i}]"] = token.access_token
        if token.refresh_token is not None:
            found[f"refresh_token[{i}]"] = token.refresh_token
    if client_auth == "basic":
        for form, pair in (
            (
                "encoded",
                f"{urllib.parse.quote_plus(CLIENT_ID)}:{urllib.parse.quote_plus(CLIENT_SECRET)}",
            ),
            ("raw", f"{CLIENT_ID}:{CLIENT_SECRET}"),
        ):
            found[f"basic credentials ({form})"] = base64.b64encode(pair.encode()).decode()
    return found


def leaks(places: dict[str, str], secret_values: dict[str, str]) -> list[str]:
    """'<secret> in <place>: <line>' for every secret found in any place."""
    found: list[str] = []
    for place, text in places.items():
        for name, value in secret_values.items():
            for spelling in spellings(value):
                at = text.find(spelling)
                if at >= 0:
                    line_start = text.rfind("\n", 0, at) + 1
                    line_end = text.find("\n", at)
                    line = text[line_start : line_end if line_end >= 0 else len(text)]
                    found.append(f"{name} in {place}: {line[:300]}")
    return found


def places_of(auth: Authenticator, error: BaseException | None, capture: Capture) -> dict[str, str]:
    places = {
        "logs": capture.text(),
        "repr(auth_info)": repr(auth.auth_info),
        "str(auth_info)": str(auth.auth_info),
        "repr(token)": repr(auth.token),
        "str(token)": str(auth.token),
        "repr(authenticator)": repr(auth),
    }
    if error is not None:
        places["str(error)"] = str(error)
        places["repr(error)"] = repr(error)
        places["traceback"] = "".join(traceback.format_exception(error))
    return places


def test_the_leak_finder_finds_secrets_in_log_args_and_tracebacks(logs: Capture) -> None:
    secret = secrets.token_urlsafe(32)
    logging.getLogger("loctocat").debug("sending %s", {"device_code": secret})
    assert leaks({"logs": logs.text()}, {"device_code": secret}) != []
    logs.lines.clear()
    try:
        raise ValueError(secret[:20])  # the first 16 characters are enough to count
    except ValueError:
        logging.getLogger("httpx").exception("failed")
    assert leaks({"logs": logs.text()}, {"device_code": secret}) != []
    logs.lines.clear()
    logging.getLogger("httpcore.http11").debug("x=%r", urllib.parse.quote_plus(CLIENT_SECRET))
    assert leaks({"logs": logs.text()}, {"client_secret": CLIENT_SECRET}) != []


# --- full flows -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    steps: tuple[PlanStep, ...]
    raises: type[LoctocatError] | None


SCENARIOS = [
    Scenario("success", ("pending", "approve"), None),
    Scenario("access_denied", ("pending", "deny"), AccessDenied),
    Scenario(
        "protocol_error",
        (
            "pending",
            Fault(status=200, body=b'{"access_token": ' + NUMERIC_ACCESS_TOKEN.encode() + b"}"),
        ),
        ProtocolError,
    ),
    Scenario(
        "transient_then_success",
        (
            Fault(status=503, body=b"<html>busy</html>", headers={"Content-Type": "text/html"}),
            Fault(drop=True),
            Fault(error="temporarily_unavailable"),
            Fault(status=429, headers={"Retry-After": "0"}),
            "approve",
        ),
        None,
    ),
]


@pytest.fixture
def server() -> Iterator[FakeAuthorizationServer]:
    """A loopback server that requires the client secret: a flow only works if it was sent."""
    fake = FakeAuthorizationServer(interval=0, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    with fake.serve_http():
        yield fake


def options(server: FakeAuthorizationServer, client_auth: ClientAuth) -> dict[str, Any]:
    return {
        "client_id": CLIENT_ID,
        "auth_url": server.device_authorization_url,
        "token_url": server.token_url,
        "scopes": ["read"],
        "client_secret": CLIENT_SECRET,
        "client_auth": client_auth,
        "min_interval": 0.01,
        "timeout": 20,
    }


def check_flow(
    server: FakeAuthorizationServer,
    scenario: Scenario,
    client_auth: ClientAuth,
    auth: Authenticator,
    error: LoctocatError | None,
    capture: Capture,
) -> None:
    if scenario.raises is None:
        assert error is None
        assert auth.token is not None
        assert auth.token.access_token == server.issued_tokens[-1].access_token
    else:
        assert isinstance(error, scenario.raises)
    # The search is not vacuous: loctocat, httpx and httpcore all logged, and the secrets
    # were really sent (the server checked the client secret on every request).
    assert {"loctocat", "httpx"} <= capture.logger_names
    assert any(name.startswith("httpcore.") for name in capture.logger_names)
    assert server.grants[-1].poll_count == len(scenario.steps)
    secret_values = flow_secrets(server, client_auth)
    assert leaks(places_of(auth, error, capture), secret_values) == []
    for request in server.requests:
        assert request.query == ""
        assert leaks({request.url: request.url}, secret_values) == []
        if client_auth == "basic":
            assert "client_secret" not in request.form
            assert request.headers["authorization"].startswith("Basic ")
        else:
            assert request.form["client_secret"] == CLIENT_SECRET
            assert "authorization" not in request.headers


@pytest.mark.parametrize("client_auth", ["body", "basic"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_sync_flows_leak_no_secret(
    server: FakeAuthorizationServer, scenario: Scenario, client_auth: ClientAuth, logs: Capture
) -> None:
    server.plan(*scenario.steps)
    auth = Authenticator(**options(server, client_auth))
    error: LoctocatError | None = None
    try:
        auth.ping()
        auth.poll()
    except LoctocatError as exc:
        error = exc
    check_flow(server, scenario, client_auth, auth, error, logs)


@pytest.mark.anyio
@pytest.mark.parametrize("client_auth", ["body", "basic"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
async def test_async_flows_leak_no_secret(
    server: FakeAuthorizationServer, scenario: Scenario, client_auth: ClientAuth, logs: Capture
) -> None:
    server.plan(*scenario.steps)
    auth = AsyncAuthenticator(**options(server, client_auth))
    error: LoctocatError | None = None
    try:
        await auth.ping()
        await auth.poll()
    except LoctocatError as exc:
        error = exc
    check_flow(server, scenario, client_auth, auth, error, logs)


# --- redirects: credentials go only where they were configured ------------------------------------


@pytest.fixture
def elsewhere() -> Iterator[FakeAuthorizationServer]:
    """A second server, on another port (so another origin), that records what reaches it."""
    fake = FakeAuthorizationServer(interval=0)
    with fake.serve_http():
        yield fake


def redirect_polls(
    server: FakeAuthorizationServer, to: FakeAuthorizationServer, status: int
) -> None:
    server.plan(Fault(status=status, headers={"Location": to.token_url}))


@pytest.mark.parametrize("status", [307, 308])
def test_a_following_client_does_not_carry_basic_credentials_to_another_host(
    server: FakeAuthorizationServer, elsewhere: FakeAuthorizationServer, status: int
) -> None:
    assert server.base_url != elsewhere.base_url
    redirect_polls(server, elsewhere, status)
    with httpx.Client(follow_redirects=True) as client:
        auth = Authenticator(**options(server, "basic"), http_client=client)
        auth.ping()
        with pytest.raises(LoctocatError):
            auth.poll()
    assert server.requests[-1].headers["authorization"].startswith("Basic ")  # it was sent there
    for request in elsewhere.requests:
        assert "authorization" not in request.headers
        assert "client_secret" not in request.form
        assert leaks({"body": request.body.decode()}, {"client_secret": CLIENT_SECRET}) == []


@pytest.mark.parametrize("client_auth", ["body", "basic"])
def test_a_following_client_sends_nothing_to_another_host(
    server: FakeAuthorizationServer, elsewhere: FakeAuthorizationServer, client_auth: ClientAuth
) -> None:
    # A 307 keeps the method and the body: followed, it would re-POST the device code (and the
    # client secret, with client_auth="body") to the other host. loctocat must not follow it,
    # even on a user's client that follows redirects.
    redirect_polls(server, elsewhere, 307)
    with httpx.Client(follow_redirects=True) as client:
        auth = Authenticator(**options(server, client_auth), http_client=client)
        auth.ping()
        with pytest.raises(ProtocolError, match=elsewhere.token_url):
            auth.poll()
    assert elsewhere.requests == []
    assert elsewhere.connections_opened == 0


@pytest.mark.anyio
@pytest.mark.parametrize("client_auth", ["body", "basic"])
async def test_a_following_async_client_sends_nothing_to_another_host(
    server: FakeAuthorizationServer, elsewhere: FakeAuthorizationServer, client_auth: ClientAuth
) -> None:
    redirect_polls(server, elsewhere, 307)
    async with httpx.AsyncClient(follow_redirects=True) as client:
        auth = AsyncAuthenticator(**options(server, client_auth), http_client=client)
        await auth.ping()
        with pytest.raises(ProtocolError, match=elsewhere.token_url):
            await auth.poll()
    assert elsewhere.requests == []
    assert elsewhere.connections_opened == 0


@pytest.mark.parametrize("endpoint", ["device", "token"])
@pytest.mark.parametrize("client_auth", ["body", "basic"])
def test_loctocats_own_client_does_not_follow_a_redirect(
    server: FakeAuthorizationServer,
    elsewhere: FakeAuthorizationServer,
    endpoint: str,
    client_auth: ClientAuth,
) -> None:
    location = elsewhere.token_url if endpoint == "token" else elsewhere.device_authorization_url
    fault = Fault(status=307, headers={"Location": location})
    if endpoint == "device":
        server.plan_device(fault)
    else:
        server.plan(fault)
    auth = Authenticator(**options(server, client_auth))
    if endpoint == "device":
        with pytest.raises(ProtocolError) as info:
            auth.ping()
    else:
        auth.ping()
        with pytest.raises(ProtocolError) as info:
            auth.poll()
    assert location in str(info.value)
    assert elsewhere.requests == []
    assert elsewhere.connections_opened == 0


@pytest.mark.anyio
async def test_loctocats_own_async_client_does_not_follow_a_redirect(
    server: FakeAuthorizationServer, elsewhere: FakeAuthorizationServer
) -> None:
    redirect_polls(server, elsewhere, 307)
    auth = AsyncAuthenticator(**options(server, "basic"))
    await auth.ping()
    with pytest.raises(ProtocolError, match=elsewhere.token_url):
        await auth.poll()
    assert elsewhere.requests == []
    assert elsewhere.connections_opened == 0


# --- the interval's floor, over real HTTP ---------------------------------------------------------


def check_floor(grant_created_at: float, poll_times: list[float]) -> None:
    assert len(poll_times) == 2
    gaps = [poll_times[0] - grant_created_at, poll_times[1] - poll_times[0]]
    # Both clocks are this process's time.monotonic(); 1 ms of slack for float rounding.
    assert min(gaps) >= DEFAULT_MIN_INTERVAL - 0.001, gaps
    assert max(gaps) < DEFAULT_MIN_INTERVAL + 0.5, gaps  # the floor, not a slower pace


def test_interval_zero_never_polls_faster_than_the_default_floor() -> None:
    server = FakeAuthorizationServer(interval=0)
    server.plan("pending", "approve")
    with server.serve_http():
        auth = Authenticator("c", server.device_authorization_url, server.token_url)
        assert auth.min_interval == DEFAULT_MIN_INTERVAL == 1.0
        auth.ping()
        auth.poll()
    grant = server.grants[-1]
    check_floor(grant.created_at, grant.poll_times)


@pytest.mark.anyio
async def test_interval_zero_never_polls_faster_than_the_default_floor_async() -> None:
    server = FakeAuthorizationServer(interval=0)
    server.plan("pending", "approve")
    with server.serve_http():
        auth = AsyncAuthenticator("c", server.device_authorization_url, server.token_url)
        await auth.ping()
        await auth.poll()
    grant = server.grants[-1]
    check_floor(grant.created_at, grant.poll_times)


# --- floors and ceilings in the core (no waiting) -------------------------------------------------

DEVICE_URL = "https://auth.example.com/device"
TOKEN_URL = "https://auth.example.com/token"


def core_config(**overrides: Any) -> ClientConfig:
    return ClientConfig(
        client_id=CLIENT_ID, device_authorization_url=DEVICE_URL, token_url=TOKEN_URL, **overrides
    )


def answer(status: int, body: str) -> Response:
    return Response(
        status, {"content-type": "application/json"}, body.encode(), received_at=ARRIVED
    )


def device_answer(**fields: Any) -> str:
    values: dict[str, Any] = {
        "device_code": "DEVICE-CODE",
        "user_code": "ABCD-EFGH",
        "verification_uri": "https://auth.example.com/activate",
        "expires_in": 900,
        "interval": 5,
    }
    values.update(fields)
    # allow_nan: NaN and Infinity are what a careless server's JSON encoder may send.
    return json.dumps({k: v for k, v in values.items() if v is not None}, allow_nan=True)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def drive(
    flow: Generator[Any, Any, Any], clock: FakeClock, answers: list[Response], sleeps: list[float]
) -> Any:
    """Run one core flow to its end: answer requests in order, advance the clock on Sleep."""
    result: Any = None
    while True:
        try:
            effect = flow.send(result)
        except StopIteration as stop:
            return stop.value
        result = None
        if isinstance(effect, Sleep):
            sleeps.append(effect.seconds)
            clock.now += effect.seconds
        else:
            assert isinstance(effect, Request), effect
            result = answers.pop(0)


def run_core(
    cfg: ClientConfig, device: str, polls: list[Response]
) -> tuple[list[float], Exception | None]:
    """Ping and poll with a fake clock; returns the sleeps and the error that ended the flow."""
    clock = FakeClock()
    sleeps: list[float] = []
    answers = list(polls)
    try:
        grant = drive(
            device_authorization_flow(cfg, clock=clock), clock, [answer(200, device)], sleeps
        )
        drive(poll_flow(cfg, grant, {}, clock=clock), clock, answers, sleeps)
    except Exception as exc:
        return sleeps, exc
    assert answers == [], "answers left unused"
    return sleeps, None


def slow_down(interval: object) -> Response:
    return answer(400, json.dumps({"error": "slow_down", "interval": interval}))


PENDING = answer(400, '{"error": "authorization_pending"}')
TOKEN = answer(200, '{"access_token": "at", "token_type": "Bearer"}')


def test_slow_down_with_interval_zero_still_adds_5_seconds_over_the_floor() -> None:
    sleeps, error = run_core(
        core_config(),
        device_answer(interval=0),
        [PENDING, slow_down(0), PENDING, TOKEN],
    )
    assert error is None
    assert sleeps == [DEFAULT_MIN_INTERVAL, DEFAULT_MIN_INTERVAL, 6.0, 6.0]


def test_a_custom_floor_holds_against_interval_zero_and_slow_down_interval_zero() -> None:
    sleeps, error = run_core(
        core_config(min_interval=2.5),
        device_answer(interval=0),
        [slow_down(0), slow_down(0), TOKEN],
    )
    assert error is None
    assert min(sleeps) >= 2.5
    assert sleeps == [2.5, 7.5, 12.5]


@pytest.mark.parametrize("interval", [10**9, "1000000000", 1e300, 2**70])
def test_a_huge_interval_is_capped(interval: object) -> None:
    sleeps, error = run_core(core_config(), device_answer(interval=interval), [PENDING, TOKEN])
    assert error is None
    assert sleeps == [MAX_INTERVAL, MAX_INTERVAL]


def test_a_huge_slow_down_interval_is_capped_and_stays_capped() -> None:
    sleeps, error = run_core(
        core_config(),
        device_answer(expires_in=3600),
        [slow_down(10**9), answer(400, '{"error": "slow_down"}'), TOKEN],
    )
    assert error is None
    assert sleeps == [5, MAX_INTERVAL, MAX_INTERVAL]


@pytest.mark.parametrize("interval", ["NaN", "Infinity", "-Infinity", "1e400", "-1"])
def test_a_non_finite_or_negative_interval_is_a_protocol_error(interval: str) -> None:
    body = device_answer().replace('"interval": 5', f'"interval": {interval}')
    sleeps, error = run_core(core_config(), body, [])
    assert isinstance(error, ProtocolError)
    assert error.field == "interval"
    assert sleeps == []


def test_a_long_lived_code_is_waited_for_one_day_at_most() -> None:
    cfg = core_config()
    clock = FakeClock()
    flow = device_authorization_flow(cfg, clock=clock)
    assert isinstance(next(flow), Request)
    with pytest.raises(StopIteration) as stop:
        flow.send(answer(200, device_answer(expires_in=10**10)))
    assert stop.value.value.expires_at == clock.now + MAX_EXPIRES_IN


@pytest.mark.parametrize("expires_in", [10**12, 1e300])
def test_an_absurd_code_lifetime_is_capped_at_a_day(expires_in: object) -> None:
    cfg = core_config()
    clock = FakeClock()
    flow = device_authorization_flow(cfg, clock=clock)
    next(flow)
    with pytest.raises(StopIteration) as stop:
        flow.send(answer(200, device_answer(expires_in=expires_in)))
    assert stop.value.value.expires_at == clock.now + MAX_EXPIRES_IN


@pytest.mark.parametrize(
    "expires_in",
    [
        "NaN",
        "Infinity",
        "-Infinity",
        "1e400",
        "-0.0",
        '"nan"',
        '"inf"',
        '"-1"',
        '"0"',
        "true",
        "false",
        "[900]",
        '{"s": 900}',
    ],
)
def test_a_nan_infinite_or_non_positive_code_lifetime_is_a_protocol_error(expires_in: str) -> None:
    body = device_answer().replace('"expires_in": 900', f'"expires_in": {expires_in}')
    assert body != device_answer()
    sleeps, error = run_core(core_config(), body, [])
    assert isinstance(error, ProtocolError), repr(error)
    assert error.field == "expires_in"
    assert sleeps == []


def token_answer_error(expires_in: str) -> BaseException | None:
    info = LoctocatAuthInfo("DEVICE-CODE", "USER-CODE", "https://as.example/device", 600, 5)
    request = token_request(core_config(), info)
    body = f'{{"access_token": "at", "expires_in": {expires_in}}}'
    try:
        judge_token_response(request, answer(200, body))
    except Exception as exc:
        return exc
    return None


@pytest.mark.parametrize("expires_in", ["NaN", "Infinity", "-1", '"soon"'])
def test_a_bad_access_token_lifetime_is_a_protocol_error(expires_in: str) -> None:
    error = token_answer_error(expires_in)
    assert isinstance(error, ProtocolError)
    assert error.field == "expires_in"


@pytest.mark.parametrize("expires_in", ["1000000000000", "1e300"])
def test_an_absurd_access_token_lifetime_is_not_a_crash(expires_in: str) -> None:
    error = token_answer_error(expires_in)
    assert error is None or isinstance(error, ProtocolError), repr(error)


def test_a_retry_after_never_makes_the_client_poll_faster_than_the_floor() -> None:
    sleeps, error = run_core(
        core_config(),
        device_answer(interval=0),
        [
            Response(429, {"retry-after": "0"}, b"", received_at=ARRIVED),
            Response(503, {}, b"", received_at=ARRIVED),
            PENDING,
            TOKEN,
        ],
    )
    assert error is None
    assert min(sleeps) >= DEFAULT_MIN_INTERVAL
    assert all(math.isfinite(s) for s in sleeps)
