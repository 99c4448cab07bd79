"""Refresh, revocation and discovery in the sans-I/O core: stepped by hand, no I/O."""

from __future__ import annotations

import json
from collections.abc import Generator
from datetime import UTC, datetime
from typing import Any

import pytest

from loctocat import (
    ConfigurationError,
    InvalidGrant,
    ProtocolError,
    ServerError,
    Token,
    TransportError,
)
from loctocat._flow import ClientConfig, Request, Response, TransportFailure
from loctocat._lifecycle import (
    ServerMetadata,
    discovery_flow,
    discovery_urls,
    refresh_flow,
    revocation_flow,
)

#: When every hand-made answer below arrived: the core counts expiries from it.
ARRIVED = datetime.now(UTC)

CONFIG = ClientConfig("client-1", "https://as.example/device", "https://as.example/token")
OLD = Token("old-access", refresh_token="old-refresh", scope="read write")


def answer(status: int, body: object = None) -> Response:
    raw = b"" if body is None else json.dumps(body).encode()
    return Response(status, {"content-type": "application/json"}, raw, received_at=ARRIVED)


def run(
    flow: Generator[Any, Any, Any], *answers: Response | TransportFailure
) -> tuple[Any, list[Request]]:
    """Answer each request in turn; return the flow's result and the requests it made."""
    requests: list[Request] = []
    pending = list(answers)
    result: Any = None
    while True:
        try:
            effect = flow.send(result)
        except StopIteration as stop:
            return stop.value, requests
        assert isinstance(effect, Request)
        requests.append(effect)
        result = pending.pop(0)


def test_refresh_sends_the_refresh_token_grant_in_the_body() -> None:
    new, requests = run(refresh_flow(CONFIG, OLD), answer(200, {"access_token": "new-access"}))
    assert dict(requests[0].form) == {
        "grant_type": "refresh_token",
        "refresh_token": "old-refresh",
        "client_id": "client-1",
    }
    assert requests[0].url == "https://as.example/token"
    # Not rotated: the old refresh token stays good (RFC 6749 §6), and so does the scope.
    assert (new.access_token, new.refresh_token, new.scope) == (
        "new-access",
        "old-refresh",
        "read write",
    )


def test_a_rotated_refresh_token_replaces_the_old_one() -> None:
    body = {"access_token": "a2", "refresh_token": "r2", "scope": "read", "expires_in": 60}
    new, _ = run(refresh_flow(CONFIG, OLD), answer(200, body))
    assert (new.refresh_token, new.scope) == ("r2", "read")
    assert new.expires_at is not None


def test_a_rejected_refresh_token_says_to_log_in_again() -> None:
    with pytest.raises(InvalidGrant, match="log in again"):
        run(refresh_flow(CONFIG, OLD), answer(400, {"error": "invalid_grant"}))


def test_refresh_fails_fast_on_network_errors() -> None:
    with pytest.raises(TransportError):
        run(refresh_flow(CONFIG, OLD), TransportFailure("connection failed"))


def test_a_token_without_refresh_token_cannot_be_refreshed() -> None:
    with pytest.raises(ConfigurationError, match="no refresh token"):
        run(refresh_flow(CONFIG, Token("a")))


def test_revocation_posts_the_token_with_a_hint() -> None:
    flow = revocation_flow(CONFIG, "https://as.example/revoke", "old-refresh", "refresh_token")
    _, requests = run(flow, answer(200))
    assert requests[0].url == "https://as.example/revoke"
    assert dict(requests[0].form) == {
        "token": "old-refresh",
        "token_type_hint": "refresh_token",
        "client_id": "client-1",
    }


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (answer(503), TransportError),
        (answer(400, {"error": "unsupported_token_type"}), ServerError),
        (Response(404, {"content-type": "text/html"}, b"nope", received_at=ARRIVED), ProtocolError),
    ],
)
def test_revocation_failures_are_typed(reply: Response, error: type[Exception]) -> None:
    with pytest.raises(error):
        run(revocation_flow(CONFIG, "https://as.example/revoke", "t", "access_token"), reply)


def test_discovery_urls_follow_oidc_then_rfc_8414() -> None:
    assert discovery_urls("https://as.example/tenant/") == [
        "https://as.example/tenant/.well-known/openid-configuration",
        "https://as.example/.well-known/oauth-authorization-server/tenant",
    ]


METADATA = {
    "issuer": "https://as.example",
    "device_authorization_endpoint": "https://as.example/device",
    "token_endpoint": "https://as.example/token",
    "revocation_endpoint": "https://as.example/revoke",
}


def test_discovery_reads_the_endpoints() -> None:
    metadata, requests = run(discovery_flow("https://as.example", "ua"), answer(200, METADATA))
    assert isinstance(metadata, ServerMetadata)
    assert metadata.device_authorization_endpoint == "https://as.example/device"
    assert metadata.revocation_endpoint == "https://as.example/revoke"
    assert requests[0].method == "GET"
    assert requests[0].form == ()


def test_discovery_falls_back_to_rfc_8414() -> None:
    metadata, requests = run(
        discovery_flow("https://as.example", "ua"), answer(404), answer(200, METADATA)
    )
    assert metadata.token_endpoint == "https://as.example/token"
    assert requests[1].url == "https://as.example/.well-known/oauth-authorization-server"


def test_discovery_refuses_a_document_for_another_issuer() -> None:
    forged = dict(METADATA, issuer="https://evil.example")
    with pytest.raises(ProtocolError, match="evil"):
        run(discovery_flow("https://as.example", "ua"), answer(200, forged))


def test_discovery_needs_a_token_endpoint() -> None:
    broken = {k: v for k, v in METADATA.items() if k != "token_endpoint"}
    with pytest.raises(ProtocolError, match="token_endpoint"):
        run(discovery_flow("https://as.example", "ua"), answer(200, broken))


def test_no_metadata_anywhere_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="no metadata found"):
        run(discovery_flow("https://as.example", "ua"), answer(404), answer(404))
