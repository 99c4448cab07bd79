"""Faults that reach through the drivers to the sans-I/O core, where each rule is fixed."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from misbehaving_server import MisbehavingServer, html, respond

from loctocat import Authenticator, ExpiredToken
from loctocat._flow import (
    ClientConfig,
    Response,
    Sleep,
    TransportFailure,
    device_authorization_flow,
    poll_flow,
)

#: When every hand-made answer below arrived: the core counts expiries from it.
ARRIVED = datetime.now(UTC)


def test_core_backoff_survives_more_than_1024_transient_failures() -> None:
    """`poll_flow` computes `interval * 2**failures`; with a float interval (the server's 0
    clamped up to `min_interval`, 1.0 by default) that is a float times an int, which raises a
    raw OverflowError at the 1024th failure: 17 h into a code valid for a day with the server
    down. The rule: cap the exponent, e.g. `interval * 2 ** min(failures, 32)`."""
    config = ClientConfig("c", "https://a.example/device", "https://a.example/token")
    now = [0.0]
    device = device_authorization_flow(config, clock=lambda: now[0])
    next(device)
    answer = {
        "device_code": "d",
        "user_code": "u",
        "verification_uri": "https://a.example/v",
        "expires_in": 86_400,
        "interval": 0,
    }
    try:
        device.send(Response(200, {}, json.dumps(answer).encode(), received_at=ARRIVED))
    except StopIteration as stop:
        grant = stop.value
    flow = poll_flow(config, grant, {}, clock=lambda: now[0])
    effect = next(flow)
    # The only acceptable end: the code's expiry, naming the failure.
    with pytest.raises(ExpiredToken, match="connection failed"):  # noqa: PT012
        while True:
            if isinstance(effect, Sleep):
                now[0] += effect.seconds
                effect = flow.send(None)
            else:
                effect = flow.send(TransportFailure("connection failed"))
    assert now[0] == 86_400


def test_core_retry_after_with_a_non_ascii_digit_is_no_crash(server: MisbehavingServer) -> None:
    """`retry_after_seconds` trusts `str.isdigit()`, which is True for '²' (latin-1 byte 0xB2,
    which httpx decodes a header to), then `float('²')` raises a raw ValueError out of
    `poll()`. The rule: `value.isascii() and value.isdigit()`; an invalid one is ignored."""
    headers = [("Retry-After", "\u00b2")]
    server.script("token", respond(429, b"busy", content_type="text/plain", headers=headers))
    auth = Authenticator(
        "c", server.device_url, server.token_url, request_timeout=0.5, min_interval=0.05
    )
    auth.ping()
    assert auth.poll() == server.issued_tokens[-1]


def test_core_a_503_with_a_large_error_page_while_polling_is_retried(
    server: MisbehavingServer,
) -> None:
    """`decode_body` refuses an oversized body before anyone looks at the status, so a 503
    whose HTML error page is over 256 KiB ends the flow with ProtocolError while polling,
    where any other 503 is retried. The rule: in `judge_token_response`, treat an unavailable
    status (429/5xx) as transient before (or without) decoding an oversized body."""
    big_page = b"<html><body>" + b"x" * 300_000 + b"</body></html>"
    server.script("token", respond(503, big_page, content_type="text/html"))
    server.script("token", html(503))
    auth = Authenticator(
        "c", server.device_url, server.token_url, request_timeout=0.5, min_interval=0.05
    )
    auth.ping()
    assert auth.poll() == server.issued_tokens[-1]
