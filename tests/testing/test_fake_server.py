"""The fake authorization server in memory: device requests, plans, strict rules, tokens."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from loctocat.testing import (
    DEVICE_CODE_GRANT_TYPE,
    USER_CODE_ALPHABET,
    FakeAuthorizationServer,
    Fault,
    RecordedRequest,
    SlowDown,
)

CLIENT_ID = "test-client"


@pytest.fixture
def server() -> FakeAuthorizationServer:
    return FakeAuthorizationServer()


@pytest.fixture
def client(server: FakeAuthorizationServer) -> Iterator[httpx.Client]:
    with httpx.Client(transport=server.transport()) as client:
        yield client


def start(client: httpx.Client, server: FakeAuthorizationServer, **form: str) -> dict[str, Any]:
    response = client.post(server.device_authorization_url, data={"client_id": CLIENT_ID, **form})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def poll(
    client: httpx.Client, server: FakeAuthorizationServer, device_code: str, **form: str
) -> httpx.Response:
    data = {
        "client_id": CLIENT_ID,
        "grant_type": DEVICE_CODE_GRANT_TYPE,
        "device_code": device_code,
    }
    return client.post(server.token_url, data={**data, **form})


def error_of(response: httpx.Response) -> str:
    error: str = response.json()["error"]
    return error


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- Device authorization ------------------------------------------------------------------


def test_device_response_has_the_codes_and_fields(
    server: FakeAuthorizationServer, client: httpx.Client
) -> None:
    response = client.post(
        server.device_authorization_url, data={"client_id": CLIENT_ID, "scope": "read write"}
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_in",
        "interval",
    }
    assert re.fullmatch(
        f"[{USER_CODE_ALPHABET}]{{4}}-[{USER_CODE_ALPHABET}]{{4}}", body["user_code"]
    )
    assert len(body["device_code"]) >= 32
    assert body["verification_uri"] == "https://auth.example.test/device"
    assert body["verification_uri_complete"] == (
        f"https://auth.example.test/device?user_code={body['user_code']}"
    )
    assert body["expires_in"] == 900
    assert body["interval"] == 1

    [grant] = server.grants
    assert grant.user_code == body["user_code"]
    assert grant.device_code == body["device_code"]
    assert grant.client_id == CLIENT_ID
    assert grant.scope == "read write"
    assert grant.status == "pending"
    assert grant.poll_count == 0


def test_urls_follow_base_url() -> None:
    server = FakeAuthorizationServer(base_url="https://login.example.test/oauth2/")

    assert (
        server.device_authorization_url == "https://login.example.test/oauth2/device_authorization"
    )
    assert server.token_url == "https://login.example.test/oauth2/token"
    assert server.verification_uri == "https://login.example.test/oauth2/device"
    with httpx.Client(transport=server.transport()) as client:
        body = start(client, server)
        assert poll(client, server, body["device_code"]).json()["error"] == "authorization_pending"
        assert client.post("https://login.example.test/token").status_code == 404
    assert [r.endpoint for r in server.requests] == ["device_authorization", "token", "other"]


def test_provider_shaped_device_response() -> None:
    server = FakeAuthorizationServer(
        interval=None,
        expires_in=600,
        verification_uri_complete=False,
        verification_field="verification_url",
        extra_device_fields={"message": "Go to the page and enter the code."},
    )
    with httpx.Client(transport=server.transport()) as client:
        body = start(client, server)

    assert body["verification_url"] == server.verification_uri
    assert "verification_uri" not in body
    assert "verification_uri_complete" not in body
    assert "interval" not in body
    assert body["expires_in"] == 600
    assert body["message"] == "Go to the page and enter the code."
    # No interval advertised: the server expects the RFC default of 5 seconds.
    assert server.grants[0].interval == 5


def test_user_codes_are_unique(server: FakeAuthorizationServer, client: httpx.Client) -> None:
    codes = {start(client, server)["user_code"] for _ in range(50)}
    assert len(codes) == 50
    assert len({g.device_code for g in server.grants}) == 50


def test_requests_are_recorded(server: FakeAuthorizationServer, client: httpx.Client) -> None:
    body = start(client, server, scope="read")
    poll(client, server, body["device_code"])

    device, token = server.requests
    assert isinstance(device, RecordedRequest)
    assert device.method == "POST"
    assert device.url == "https://auth.example.test/device_authorization"
    assert device.path == "/device_authorization"
    assert device.query == ""
    assert device.endpoint == "device_authorization"
    assert device.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert device.body == b"client_id=test-client&scope=read"
    assert device.form == {"client_id": CLIENT_ID, "scope": "read"}
    assert device.form_multi == {"client_id": [CLIENT_ID], "scope": ["read"]}
    assert token.endpoint == "token"
    assert token.form["device_code"] == body["device_code"]
    assert token.form["grant_type"] == DEVICE_CODE_GRANT_TYPE
    assert token.timestamp >= device.timestamp


# -- Polling without a plan -------------------------------------------------------------------


def test_unplanned_polls_stay_pending_until_approved(
    server: FakeAuthorizationServer, client: httpx.Client
) -> None:
    body = start(client, server, scope="read")
    for _ in range(3):
        response = poll(client, server, body["device_code"])
        assert response.status_code == 400
        assert error_of(response) == "authorization_pending"

    grant = server.approve()
    assert grant.status == "approved"
    response = poll(client, server, body["device_code"])

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    token = response.json()
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert token["scope"] == "read"
    [issued] = server.issued_tokens
    assert token["access_token"] == issued.access_token
    assert token["refresh_token"] == issued.refresh_token
    assert issued.grant_type == "device_code"
    assert issued.user_code == body["user_code"]
    assert server.grant(body["user_code"]).status == "redeemed"
    assert grant.poll_count == 4
    # One token per approval.
    assert error_of(poll(client, server, body["device_code"])) == "invalid_grant"


def test_manual_actions_by_user_code(server: FakeAuthorizationServer, client: httpx.Client) -> None:
    first = start(client, server)
    second = start(client, server)
    third = start(client, server)

    server.deny(first["user_code"].lower().replace("-", ""))
    server.expire(second["user_code"])
    server.approve(third["user_code"])

    assert error_of(poll(client, server, first["device_code"])) == "access_denied"
    assert error_of(poll(client, server, first["device_code"])) == "access_denied"
    assert error_of(poll(client, server, second["device_code"])) == "expired_token"
    assert poll(client, server, third["device_code"]).status_code == 200
    assert [g.status for g in server.grants] == ["denied", "expired", "redeemed"]
    assert server.grant(first["user_code"]) is server.grants[0]


def test_manual_action_errors(server: FakeAuthorizationServer, client: httpx.Client) -> None:
    with pytest.raises(LookupError):
        server.approve()
    body = start(client, server)
    with pytest.raises(LookupError):
        server.approve("BBBB-BBBB" if body["user_code"] != "BBBB-BBBB" else "CCCC-CCCC")
    server.approve()
    poll(client, server, body["device_code"])
    with pytest.raises(ValueError, match="redeemed"):
        server.deny(body["user_code"])


def test_codes_expire_after_expires_in() -> None:
    clock = FakeClock()
    server = FakeAuthorizationServer(expires_in=10, clock=clock)
    with httpx.Client(transport=server.transport()) as client:
        body = start(client, server)
        clock.now += 9.5
        assert error_of(poll(client, server, body["device_code"])) == "authorization_pending"
        clock.now += 0.5
        assert error_of(poll(client, server, body["device_code"])) == "expired_token"
        assert server.grant().status == "expired"
        server.grant().status = "pending"  # even if forced back, the clock still says expired
        assert error_of(poll(client, server, body["device_code"])) == "expired_token"


# -- Plans ------------------------------------------------------------------------------------


def test_plan_pending_then_approve(server: FakeAuthorizationServer, client: httpx.Client) -> None:
    server.plan("pending", "pending", "approve")
    body = start(client, server)

    answers = [poll(client, server, body["device_code"]) for _ in range(4)]

    assert [r.status_code for r in answers] == [400, 400, 200, 400]
    assert error_of(answers[0]) == error_of(answers[1]) == "authorization_pending"
    assert "access_token" in answers[2].json()
    assert error_of(answers[3]) == "invalid_grant"
    assert len(server.issued_tokens) == 1


def test_plan_slow_down_grows_the_interval(
    server: FakeAuthorizationServer, client: httpx.Client
) -> None:
    server.plan("slow_down", "slow_down", "approve")
    body = start(client, server)

    first = poll(client, server, body["device_code"])
    assert error_of(first) == "slow_down"
    assert "interval" not in first.json()
    assert server.grants[0].interval == 6
    assert error_of(poll(client, server, body["device_code"])) == "slow_down"
    assert server.grants[0].interval == 11
    assert poll(client, server, body["device_code"]).status_code == 200


def test_plan_slow_down_with_new_interval(
    server: FakeAuthorizationServer, client: httpx.Client
) -> None:
    server.plan(SlowDown(interval=10), SlowDown(), "approve")
    body = start(client, server)

    first = poll(client, server, body["device_code"])
    assert first.json() == {
        "error": "slow_down",
        "error_description": "polling too fast",
        "interval": 10,
    }
    assert server.grants[0].interval == 10
    second = poll(client, server, body["device_code"])
    assert error_of(second) == "slow_down"
    assert "interval" not in second.json()
    assert server.grants[0].interval == 15


@pytest.mark.parametrize(
    ("step", "error"), [("deny", "access_denied"), ("expire", "expired_token")]
)
def test_plan_terminal_state_persists(
    server: FakeAuthorizationServer, client: httpx.Client, step: Any, error: str
) -> None:
    server.plan(step)
    body = start(client, server)

    for _ in range(3):
        response = poll(client, server, body["device_code"])
        assert response.status_code == 400
        assert error_of(response) == error
    assert server.issued_tokens == []


def test_plan_last_step_repeats(server: FakeAuthorizationServer, client: httpx.Client) -> None:
    server.plan("pending")
    body = start(client, server)
    assert [error_of(poll(client, server, body["device_code"])) for _ in range(3)] == [
        "authorization_pending"
    ] * 3
    # A plan ending in "pending" leaves approval to the test.
    server.approve()
    assert poll(client, server, body["device_code"]).status_code == 200


def test_plan_raw_fault(server: FakeAuthorizationServer, client: httpx.Client) -> None:
    server.plan(
        Fault(status=503, body=b"<html>busy</html>", headers={"Content-Type": "text/html"}),
        Fault(status=429, headers={"Retry-After": "2"}),
        Fault(status=200, body=b"not json"),
        Fault(body=b"oops"),
        "approve",
    )
    body = start(client, server)

    busy = poll(client, server, body["device_code"])
    assert busy.status_code == 503
    assert busy.content == b"<html>busy</html>"
    assert busy.headers["content-type"] == "text/html"
    limited = poll(client, server, body["device_code"])
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "2"
    assert limited.content == b""
    garbage = poll(client, server, body["device_code"])
    assert garbage.status_code == 200
    assert garbage.content == b"not json"
    assert "content-type" not in garbage.headers
    assert poll(client, server, body["device_code"]).status_code == 500
    assert poll(client, server, body["device_code"]).status_code == 200
    assert server.grants[0].poll_count == 5


def test_plan_error_fault(server: FakeAuthorizationServer, client: httpx.Client) -> None:
    server.plan(
        Fault(error="my_custom_code"),
        Fault(error="server_error", error_description="try later", status=502),
        "approve",
    )
    body = start(client, server)

    custom = poll(client, server, body["device_code"])
    assert custom.status_code == 400
    assert custom.json() == {"error": "my_custom_code"}
    assert custom.headers["content-type"] == "application/json"
    other = poll(client, server, body["device_code"])
    assert other.status_code == 502
    assert other.json() == {"error": "server_error", "error_description": "try later"}


def test_plan_drop_raises_a_transport_error(
    server: FakeAuthorizationServer, client: httpx.Client
) -> None:
    server.plan(Fault(drop=True), "approve")
    body = start(client, server)

    with pytest.raises(httpx.RemoteProtocolError):
        poll(client, server, body["device_code"])
    assert poll(client, server, body["device_code"]).status_code == 200
    assert server.grants[0].poll_count == 2


def test_each_plan_scripts_one_flow(server: FakeAuthorizationServer, client: httpx.Client) -> None:
    server.plan("deny")
    server.plan("approve")
    first = start(client, server)
    second = start(client, server)
    third = start(client, server)

    assert error_of(poll(client, server, first["device_code"])) == "access_denied"
    assert poll(client, server, second["device_code"]).status_code == 200
    assert error_of(poll(client, server, third["device_code"])) == "authorization_pending"


def test_plan_for_existing_grant(server: FakeAuthorizationServer, client: httpx.Client) -> None:
    body = start(client, server)
    assert error_of(poll(client, server, body["device_code"])) == "authorization_pending"

    server.plan_for(body["user_code"], "slow_down", "approve")

    assert error_of(poll(client, server, body["device_code"])) == "slow_down"
    assert poll(client, server, body["device_code"]).status_code == 200


def test_manual_approval_overrides_the_plan(
    server: FakeAuthorizationServer, client: httpx.Client
) -> None:
    server.plan("pending", "pending", "deny")
    body = start(client, server)
    assert error_of(poll(client, server, body["device_code"])) == "authorization_pending"
    server.approve()
    assert poll(client, server, body["device_code"]).status_code == 200


def test_plan_rejects_unknown_steps(server: FakeAuthorizationServer) -> None:
    with pytest.raises(ValueError, match="unknown plan step"):
        server.plan("pending", "aprove")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one"):
        server.plan()
    with pytest.raises(TypeError):
        server.plan_device("approve")  # type: ignore[arg-type]


def test_fault_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="drop"):
        Fault(drop=True, status=500)
    with pytest.raises(ValueError, match="not both"):
        Fault(body=b"x", error="y")


def test_plan_device_faults_then_normal(
    server: FakeAuthorizationServer, client: httpx.Client
) -> None:
    server.plan_device(Fault(status=500), Fault(drop=True), Fault(error="slow_down"))

    url, form = server.device_authorization_url, {"client_id": CLIENT_ID}
    assert client.post(url, data=form).status_code == 500
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(url, data=form)
    limited = client.post(url, data=form)
    assert limited.status_code == 400
    assert limited.json() == {"error": "slow_down"}
    assert server.grants == []
    start(client, server)
    assert len(server.grants) == 1


# -- Interval enforcement ----------------------------------------------------------------------


def test_enforce_interval_answers_fast_polls_with_slow_down() -> None:
    clock = FakeClock()
    server = FakeAuthorizationServer(interval=2, enforce_interval=True, clock=clock)
    server.plan("pending", "pending", "approve")
    with httpx.Client(transport=server.transport()) as client:
        body = start(client, server)
        # The first poll is not constrained, only the spacing between polls.
        assert error_of(poll(client, server, body["device_code"])) == "authorization_pending"
        clock.now += 1.9  # within the 10% tolerance of 2 s
        assert error_of(poll(client, server, body["device_code"])) == "authorization_pending"
        clock.now += 1.7  # too soon
        assert error_of(poll(client, server, body["device_code"])) == "slow_down"
        grant = server.grants[0]
        assert grant.interval == 7
        clock.now += 6.5
        # A too-fast poll does not use up a step of the plan.
        assert poll(client, server, body["device_code"]).status_code == 200
    assert grant.poll_times == [1000.0, 1001.9, 1003.6, 1010.1]


def test_interval_not_enforced_by_default(
    server: FakeAuthorizationServer, client: httpx.Client
) -> None:
    body = start(client, server)
    responses = [poll(client, server, body["device_code"]) for _ in range(5)]
    assert {error_of(r) for r in responses} == {"authorization_pending"}


# -- Strict request rules ----------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["device_authorization", "token"])
def test_only_post_is_allowed(
    server: FakeAuthorizationServer, client: httpx.Client, endpoint: str
) -> None:
    response = client.get(f"{server.base_url}/{endpoint}")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert error_of(response) == "invalid_request"


@pytest.mark.parametrize("endpoint", ["device_authorization", "token"])
def test_query_parameters_are_rejected(
    server: FakeAuthorizationServer, client: httpx.Client, endpoint: str
) -> None:
    response = client.post(
        f"{server.base_url}/{endpoint}", params={"client_id": CLIENT_ID}, data={"x": "y"}
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "parameters must be in the body",
    }


@pytest.mark.parametrize("endpoint", ["device_authorization", "token"])
def test_form_content_type_is_required(
    server: FakeAuthorizationServer, client: httpx.Client, endpoint: str
) -> None:
    response = client.post(f"{server.base_url}/{endpoint}", json={"client_id": CLIENT_ID})
    assert response.status_code == 400
    assert error_of(response) == "invalid_request"
    assert "x-www-form-urlencoded" in response.json()["error_description"]


def test_charset_parameter_is_accepted(
    server: FakeAuthorizationServer, client: httpx.Client
) -> None:
    response = client.post(
        server.device_authorization_url,
        content=b"client_id=test-client",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"},
    )
    assert response.status_code == 200


def test_repeated_parameters_are_rejected(
    server: FakeAuthorizationServer, client: httpx.Client
) -> None:
    response = client.post(
        server.device_authorization_url,
        content=b"client_id=a&client_id=b",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert error_of(response) == "invalid_request"
    assert server.requests[0].form == {"client_id": "b"}
    assert server.requests[0].form_multi == {"client_id": ["a", "b"]}


def test_missing_client_id(server: FakeAuthorizationServer, client: httpx.Client) -> None:
    response = client.post(server.device_authorization_url, data={"scope": "read"})
    assert response.status_code == 400
    assert response.json()["error_description"] == "missing client_id"


def test_wrong_grant_type(server: FakeAuthorizationServer, client: httpx.Client) -> None:
    body = start(client, server)
    response = poll(client, server, body["device_code"], grant_type="authorization_code")
    assert response.status_code == 400
    assert error_of(response) == "unsupported_grant_type"
    missing = client.post(server.token_url, data={"client_id": CLIENT_ID})
    assert error_of(missing) == "invalid_request"


def test_unknown_or_foreign_device_code(
    server: FakeAuthorizationServer, client: httpx.Client
) -> None:
    body = start(client, server)
    assert error_of(poll(client, server, "no-such-code")) == "invalid_grant"
    assert error_of(poll(client, server, body["device_code"], client_id="other")) == (
        "invalid_grant"
    )
    assert error_of(poll(client, server, "")) == "invalid_request"


def test_client_id_must_match() -> None:
    server = FakeAuthorizationServer(client_id="my-app")
    with httpx.Client(transport=server.transport()) as client:
        response = client.post(server.device_authorization_url, data={"client_id": "intruder"})
        assert response.status_code == 401
        assert error_of(response) == "invalid_client"
        assert response.headers["www-authenticate"].startswith("Basic")
        ok = client.post(server.device_authorization_url, data={"client_id": "my-app"})
        assert ok.status_code == 200


def test_client_secret_in_body() -> None:
    server = FakeAuthorizationServer(client_id="my-app", client_secret="s3cret")
    with httpx.Client(transport=server.transport()) as client:
        url = server.device_authorization_url
        assert client.post(url, data={"client_id": "my-app"}).status_code == 401
        wrong = client.post(url, data={"client_id": "my-app", "client_secret": "nope"})
        assert wrong.status_code == 401
        assert error_of(wrong) == "invalid_client"
        right = client.post(url, data={"client_id": "my-app", "client_secret": "s3cret"})
        assert right.status_code == 200
        device_code = right.json()["device_code"]
        server.approve()
        token = client.post(
            server.token_url,
            data={
                "client_id": "my-app",
                "client_secret": "s3cret",
                "grant_type": DEVICE_CODE_GRANT_TYPE,
                "device_code": device_code,
            },
        )
        assert token.status_code == 200


def test_client_secret_as_http_basic() -> None:
    server = FakeAuthorizationServer(client_id="my-app", client_secret="s3cr+t")
    with httpx.Client(transport=server.transport()) as client:
        url = server.device_authorization_url
        right = client.post(url, data={"scope": "x"}, auth=("my-app", "s3cr+t"))
        assert right.status_code == 200, right.text
        assert server.grants[0].client_id == "my-app"
        # RFC 6749 §2.3.1 form-encodes the credentials before Basic encoding; accept that too.
        encoded = client.post(url, data={}, auth=("my-app", "s3cr%2Bt"))
        assert encoded.status_code == 200
        wrong = client.post(url, data={}, auth=("my-app", "wrong"))
        assert wrong.status_code == 401
        assert error_of(wrong) == "invalid_client"
        other_id = client.post(url, data={}, auth=("other", "s3cr+t"))
        assert other_id.status_code == 401
        both = client.post(url, data={"client_secret": "s3cr+t"}, auth=("my-app", "s3cr+t"))
        assert both.status_code == 400
        mismatch = client.post(url, data={"client_id": "x"}, auth=("my-app", "s3cr+t"))
        assert mismatch.status_code == 400
        garbage = client.post(url, data={}, headers={"Authorization": "Basic !!!"})
        assert garbage.status_code == 401
        bearer = client.post(url, data={}, headers={"Authorization": "Bearer abc"})
        assert bearer.status_code == 401
        creds = base64.b64encode(b"my-app:s3cr+t").decode()
        poll_ok = client.post(
            server.token_url,
            data={"grant_type": DEVICE_CODE_GRANT_TYPE, "device_code": "unknown"},
            headers={"Authorization": f"Basic {creds}"},
        )
        assert error_of(poll_ok) == "invalid_grant"  # authenticated, so no missing client_id


def test_scopes_allowed() -> None:
    server = FakeAuthorizationServer(scopes_allowed={"read", "write"})
    with httpx.Client(transport=server.transport()) as client:
        url = server.device_authorization_url
        bad = client.post(url, data={"client_id": CLIENT_ID, "scope": "read admin"})
        assert bad.status_code == 400
        assert error_of(bad) == "invalid_scope"
        assert "admin" in bad.json()["error_description"]
        assert client.post(url, data={"client_id": CLIENT_ID, "scope": "write read"}).is_success
        assert client.post(url, data={"client_id": CLIENT_ID}).is_success


def test_errors_with_status_200() -> None:
    server = FakeAuthorizationServer(errors_with_status_200=True, client_id="gh")
    server.plan("pending", "slow_down", Fault(error="custom"), "deny")
    with httpx.Client(transport=server.transport()) as client:
        device = client.post(server.device_authorization_url, data={"client_id": "gh"}).json()
        data = {
            "client_id": "gh",
            "grant_type": DEVICE_CODE_GRANT_TYPE,
            "device_code": device["device_code"],
        }
        answers = [client.post(server.token_url, data=data) for _ in range(4)]
        assert [r.status_code for r in answers] == [200] * 4
        assert [error_of(r) for r in answers] == [
            "authorization_pending",
            "slow_down",
            "custom",
            "access_denied",
        ]
        foreign = client.post(server.device_authorization_url, data={"client_id": "x"})
        assert (foreign.status_code, error_of(foreign)) == (200, "invalid_client")
        # HTTP-level failures keep their status.
        assert client.get(server.token_url).status_code == 405


# -- Tokens ------------------------------------------------------------------------------------


def test_token_response_shape() -> None:
    server = FakeAuthorizationServer(
        token_lifetime=None, issue_refresh_token=False, extra_token_fields={"id_token": "x.y.z"}
    )
    server.plan("approve")
    with httpx.Client(transport=server.transport()) as client:
        body = start(client, server)
        token = poll(client, server, body["device_code"]).json()
    assert set(token) == {"access_token", "token_type", "id_token"}
    assert token["id_token"] == "x.y.z"
    assert server.issued_tokens[0].refresh_token is None


def test_refresh_token_grant_rotates(server: FakeAuthorizationServer, client: httpx.Client) -> None:
    server.plan("approve")
    body = start(client, server, scope="read write")
    first = poll(client, server, body["device_code"]).json()

    def refresh(token: str, **form: str) -> httpx.Response:
        data = {"client_id": CLIENT_ID, "grant_type": "refresh_token", "refresh_token": token}
        return client.post(server.token_url, data={**data, **form})

    response = refresh(first["refresh_token"])
    assert response.status_code == 200
    second = response.json()
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert second["scope"] == "read write"
    assert second["token_type"] == "Bearer"
    # The used refresh token no longer works; the new one does.
    assert error_of(refresh(first["refresh_token"])) == "invalid_grant"
    assert error_of(refresh(second["refresh_token"], client_id="other")) == "invalid_grant"
    assert error_of(refresh(second["refresh_token"], scope="admin")) == "invalid_scope"
    narrowed = refresh(second["refresh_token"], scope="read")
    assert narrowed.json()["scope"] == "read"
    assert [t.grant_type for t in server.issued_tokens] == [
        "device_code",
        "refresh_token",
        "refresh_token",
    ]
    assert error_of(refresh("")) == "invalid_request"
