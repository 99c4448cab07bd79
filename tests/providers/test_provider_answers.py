"""The services' own ways of answering, as their documentation and trackers show them.

Each test runs a whole flow against the fake server imitating that service's answers (the cases
of conftest.py). Flows that wait (slow_down adds 5 s) run under trio's MockClock, so virtual time
passes at once and the server stamps each poll with it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
import trio.testing
from provider_cases import CLIENT_ID, SECRET, Case, build, make_server

from loctocat import AccessDenied, ExpiredToken, InvalidClient, InvalidGrant, ProtocolError
from loctocat import predefined as p
from loctocat.auth import Authenticator, _discovered
from loctocat.testing import FakeAuthorizationServer, Fault


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    """trio with a clock that jumps over every wait: slow_down's 5 s take no time."""
    return "trio", {"clock": trio.testing.MockClock(autojump_threshold=0)}


def virtual_server(case: Case) -> FakeAuthorizationServer:
    """The service's fake, stamping requests with the event loop's (virtual) clock."""
    return FakeAuthorizationServer(
        interval=5, client_id=CLIENT_ID, clock=anyio.current_time, **case.server
    )


class Recording(httpx.AsyncBaseTransport):
    """The fake server's transport, noting the HTTP status of each answer to a poll."""

    def __init__(self, server: FakeAuthorizationServer) -> None:
        self.inner = server.transport()
        self.poll_statuses: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path.endswith("/token"):
            self.poll_statuses.append(response.status_code)
        return response


async def run_flow(case: Case, server: FakeAuthorizationServer) -> list[int]:
    """A whole async flow; the HTTP statuses of the poll answers."""
    transport = Recording(server)
    async with httpx.AsyncClient(transport=transport) as client:
        auth = build(case, client, asynchronous=True, via="provider")
        auth.min_interval = 1.0  # loctocat's own floor, as users have it
        await auth.ping()
        token = await auth.poll()
    assert token == server.issued_tokens[-1].access_token
    return transport.poll_statuses


def poll_gaps(server: FakeAuthorizationServer) -> list[float]:
    times = [r.timestamp for r in server.requests if r.endpoint == "token"]
    return [round(later - earlier, 3) for earlier, later in itertools.pairwise(times)]


# --- Twitch: the code is in "message" (twitchdev/issues#975) -------------------------------------


@pytest.mark.anyio
async def test_twitch_pending_and_slow_down_in_message_are_read(twitch: Case) -> None:
    server = virtual_server(twitch)
    server.plan("pending", "slow_down", "pending", "approve")
    assert await run_flow(twitch, server) == [400, 400, 400, 200]
    assert poll_gaps(server) == [5.0, 10.0, 10.0]  # slow_down: +5 s for good


def test_twitch_error_answer_shape(twitch: Case) -> None:
    server = make_server(twitch)
    server.plan("pending")
    with httpx.Client(transport=server.transport()) as client:
        auth = build(twitch, client, asynchronous=False, via="provider")
        auth.ping()
        answer = client.post(
            twitch.token_url,
            data={"client_id": CLIENT_ID, "grant_type": "x", "device_code": "y"},
        )
    assert answer.status_code == 400
    assert answer.json() == {"status": 400, "message": "unsupported_grant_type"}


@pytest.mark.parametrize(
    ("message", "error"),
    [("access_denied", AccessDenied), ("invalid device code", InvalidGrant)],
)
def test_twitch_errors_in_message_raise_their_class(
    twitch: Case, message: str, error: type[Exception]
) -> None:
    server = make_server(twitch)
    server.plan(Fault(body=f'{{"status":400,"message":"{message}"}}'.encode(), status=400))
    with httpx.Client(transport=server.transport()) as client:
        auth = build(twitch, client, asynchronous=False, via="provider")
        auth.ping()
        with pytest.raises(error, match=message):
            auth.poll()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        # The OAuth code in `error` wins over the service's field, which then only describes.
        (b'{"error":"access_denied","message":"Bad Request"}', AccessDenied),
        # `error` holding only the HTTP status's name leaves the code to the service's field.
        (b'{"error":"Bad Request","status":400,"message":"access_denied"}', AccessDenied),
    ],
)
def test_an_oauth_code_in_error_wins_over_the_services_own_field(
    twitch: Case, body: bytes, error: type[Exception]
) -> None:
    server = make_server(twitch)
    server.plan(Fault(body=body, status=400))
    with httpx.Client(transport=server.transport()) as client:
        auth = build(twitch, client, asynchronous=False, via="provider")
        auth.ping()
        with pytest.raises(error):
            auth.poll()


def test_a_message_field_is_no_error_for_other_services(microsoft: Case) -> None:
    """Only a service whose quirks say so has its errors read from "message"."""
    server = make_server(microsoft)
    server.plan(Fault(body=b'{"status":400,"message":"authorization_pending"}', status=400))
    with httpx.Client(transport=server.transport()) as client:
        auth = build(microsoft, client, asynchronous=False, via="provider")
        auth.ping()
        with pytest.raises(ProtocolError, match="HTTP 400 with neither a token nor an error"):
            auth.poll()


# --- Auth0: slow_down comes as HTTP 429 ----------------------------------------------------------


@pytest.mark.anyio
async def test_auth0_slow_down_with_429_adds_five_seconds_for_good(auth0: Case) -> None:
    server = virtual_server(auth0)
    server.plan("pending", "slow_down", "pending", "pending", "approve")
    assert await run_flow(auth0, server) == [403, 429, 403, 403, 200]
    # Not backoff then back to 5 s: the interval is 10 s from the slow_down on (RFC 8628 §3.5).
    assert poll_gaps(server) == [5.0, 10.0, 10.0, 10.0]


@pytest.mark.anyio
async def test_auth0_denied_and_expired_with_403(auth0: Case) -> None:
    for step, error in (("deny", AccessDenied), ("expire", ExpiredToken)):
        server = virtual_server(auth0)
        server.plan("pending", step)
        with pytest.raises(error):
            await run_flow(auth0, server)


@pytest.mark.anyio
async def test_a_429_without_an_oauth_error_still_backs_off(auth0: Case) -> None:
    server = virtual_server(auth0)
    server.plan(Fault(status=429, body=b"<html>Too Many Requests</html>"), "approve")
    assert await run_flow(auth0, server) == [429, 200]
    assert poll_gaps(server) == [10.0]  # backoff: twice the interval, then the interval again


# --- Ory: confidential clients use HTTP Basic -----------------------------------------------------


def test_ory_confidential_client_sends_its_secret_as_http_basic(ory_confidential: Case) -> None:
    server = make_server(ory_confidential)
    server.plan("approve")
    with httpx.Client(transport=server.transport()) as client:
        auth = build(ory_confidential, client, asynchronous=False, via="class")
        auth.authenticate(prompt=_Quiet())
    for request in server.requests:
        if request.method == "GET":
            continue  # the issuer's metadata and keys, to verify the ID token: public
        assert request.headers["authorization"].startswith("Basic ")
        assert "client_secret" not in request.form


def test_ory_refuses_a_secret_in_the_body(ory_confidential: Case) -> None:
    server = make_server(ory_confidential)
    with httpx.Client(transport=server.transport()) as client:
        auth = p.ORY.authenticator(
            CLIENT_ID,
            base_url="https://example.projects.oryapis.com",
            client_secret=SECRET,
            client_auth="body",
            http_client=client,
        )
        with pytest.raises(InvalidClient):
            auth.ping()


# --- GitHub: token_expired, as the docs' prose names it -------------------------------------------


def test_github_token_expired_is_an_expired_token(github: Case) -> None:
    server = make_server(github)
    server.plan(Fault(error="token_expired", status=200))
    with httpx.Client(transport=server.transport()) as client:
        auth = build(github, client, asynchronous=False, via="class")
        auth.ping()
        with pytest.raises(ExpiredToken, match="token_expired"):
            auth.poll()


# --- Microsoft: the common metadata names its issuer with {tenantid} ------------------------------


@pytest.fixture
def microsoft_common() -> Iterator[FakeAuthorizationServer]:
    server = FakeAuthorizationServer(
        base_url="https://login.microsoftonline.com/common/v2.0",
        issuer="https://login.microsoftonline.com/{tenantid}/v2.0",
        interval=0,
    )
    yield server
    _discovered.clear()


def test_microsoft_common_issuer_template_is_accepted(
    microsoft_common: FakeAuthorizationServer,
) -> None:
    with httpx.Client(transport=microsoft_common.transport()) as client:
        auth = Authenticator.from_issuer(
            "https://login.microsoftonline.com/common/v2.0", CLIENT_ID, http_client=client
        )
    assert auth.issuer == "https://login.microsoftonline.com/common/v2.0"
    assert auth.token_url == microsoft_common.token_url


@pytest.mark.parametrize(
    "asked",
    [
        "https://login.microsoftonline.com/a/b/v2.0",  # more than one path segment
        "https://login.microsoftonline.com/v2.0",  # none
        "https://login.microsoftonline.com.evil.example/common/v2.0",  # another host
    ],
)
def test_the_tenant_placeholder_stands_for_one_segment_only(asked: str) -> None:
    from loctocat._lifecycle import issuer_matches

    assert not issuer_matches(asked, "https://login.microsoftonline.com/{tenantid}/v2.0")
    assert issuer_matches(
        "https://login.microsoftonline.com/common/v2.0",
        "https://login.microsoftonline.com/{tenantid}/v2.0",
    )


class _Quiet:
    def show_code(self, auth_info: object) -> None: ...
    def start_waiting(self) -> None: ...
    def succeeded(self, token: object) -> None: ...
    def failed(self, error: BaseException) -> None: ...
    def close(self) -> None: ...
