"""Bugs the first fuzz runs found in the sans-I/O core (fixed in src), kept as regressions.

Each was a raw exception (OverflowError, RecursionError, ValueError) escaping the core instead of
a `LoctocatError`, or a broken promise of the API.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fuzz_support import ARRIVED, START, Clock, cycle_answers, drive

from loctocat import Token
from loctocat._flow import (
    MAX_INTERVAL,
    ClientConfig,
    PendingGrant,
    RequestResult,
    Response,
    TransportFailure,
    device_authorization_flow,
    judge_token_response,
    poll_flow,
    token_request,
)
from loctocat._models import LoctocatAuthInfo
from loctocat.errors import ConfigurationError, LoctocatError, ProtocolError

DEVICE_ANSWER = {
    "device_code": "device",
    "user_code": "WDJB-MJHT",
    "verification_uri": "https://auth.example.com/activate",
    "expires_in": 900,
}


def config(**overrides: Any) -> ClientConfig:
    return ClientConfig(
        "client-1", "https://auth.example.com/device", "https://auth.example.com/token", **overrides
    )


def device_step(body: bytes, cfg: ClientConfig | None = None) -> object:
    cfg = cfg or config()
    clock = Clock()
    run = drive(
        device_authorization_flow(cfg, clock=clock),
        clock,
        lambda _: Response(200, {}, body, received_at=ARRIVED),
    )
    return run.result if run.error is None else run.error


def judge(response: Response) -> object:
    info = LoctocatAuthInfo("device", "user", "https://a.example/activate", 600, 5)
    return judge_token_response(token_request(config(), info), response)


@pytest.mark.parametrize("name", ["expires_in", "interval"])
def test_a_huge_integer_number_of_seconds_is_a_protocol_error(name: str) -> None:
    """float() of an integer beyond 1.8e308 (valid JSON) raised OverflowError."""
    body = json.dumps({**DEVICE_ANSWER, name: 10**400}).encode()
    assert isinstance(device_step(body), ProtocolError)


def test_a_slow_down_with_a_huge_interval_is_a_protocol_error() -> None:
    """The same OverflowError, while polling."""
    with pytest.raises(ProtocolError):
        judge(
            Response(
                400,
                {},
                b'{"error": "slow_down", "interval": 1' + b"0" * 400 + b"}",
                received_at=ARRIVED,
            )
        )


def test_deeply_nested_json_is_a_protocol_error() -> None:
    """A 2 KB body nested 1,000 deep raised RecursionError."""
    assert isinstance(device_step(b"[" * 1_000 + b"]" * 1_000), ProtocolError)


def test_a_retry_after_of_a_superscript_digit_is_ignored() -> None:
    """'²'.isdigit() is True, but float('²') raised ValueError."""
    assert (
        getattr(
            judge(Response(503, {"retry-after": "²"}, b"", received_at=ARRIVED)), "retry_after", 0
        )
        is None
    )


def test_a_retry_after_date_in_an_absurd_year_is_ignored() -> None:
    """parsedate_to_datetime raised OverflowError for a year beyond 2**31."""
    answer = Response(
        503, {"retry-after": "Mon, 01 Jan 3000000000 00:00:00 GMT"}, b"", received_at=ARRIVED
    )
    assert getattr(judge(answer), "retry_after", 0) is None


def test_a_day_of_transient_failures_ends_in_a_loctocat_error() -> None:
    """interval * 2**failures overflowed a float interval after 1,024 failures (fit in a day)."""
    cfg = config(min_interval=1.5)  # a float interval: max(server's 0, 1.5)
    clock = Clock()
    body = json.dumps({**DEVICE_ANSWER, "expires_in": 86_400, "interval": 0}).encode()
    grant = drive(
        device_authorization_flow(cfg, clock=clock),
        clock,
        lambda _: Response(200, {}, body, received_at=ARRIVED),
    ).result
    assert isinstance(grant, PendingGrant)
    failures: list[RequestResult] = [TransportFailure("connection refused")]
    run = drive(poll_flow(cfg, grant, {}, clock=clock), clock, cycle_answers(failures))
    assert isinstance(run.error, LoctocatError)


def test_a_min_interval_above_the_ceiling_is_refused() -> None:
    """It was accepted, then polling ran every MAX_INTERVAL s: faster than asked."""
    with pytest.raises(ConfigurationError, match="min_interval"):
        config(min_interval=MAX_INTERVAL + 1.0)


def test_to_dict_keeps_a_servers_own_expires_at() -> None:
    """to_dict() replaced a server's own expires_at (Strava sends one) with its own."""
    body = b'{"access_token": "a", "expires_in": 21600, "expires_at": 1568775134}'
    grant = PendingGrant(
        LoctocatAuthInfo("device", "user", "https://a.example/activate", 600, 5),
        expires_at=START + 600,
        timeout_at=START + 600,
        interval=5,
    )
    clock = Clock()
    run = drive(
        poll_flow(config(), grant, {}, clock=clock),
        clock,
        lambda _: Response(200, {}, body, received_at=ARRIVED),
    )
    assert isinstance(run.result, Token)
    assert run.result.extra["expires_at"] == 1568775134
    assert run.result.to_dict()["expires_at"] == 1568775134


@pytest.mark.parametrize("floor", [0.0, -1.0, float("nan")])
def test_a_min_interval_of_zero_is_refused(floor: float) -> None:
    """With no floor, a server answering 500 (backoff doubles 0) or pending with interval 0
    would be polled in a loop that never moves time on: found at 100,000 examples."""
    with pytest.raises(ConfigurationError, match="positive"):
        config(min_interval=floor)
