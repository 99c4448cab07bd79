"""The verification web page, served in memory."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from loctocat.testing import DEVICE_CODE_GRANT_TYPE, FakeAuthorizationServer


@pytest.fixture
def server() -> FakeAuthorizationServer:
    return FakeAuthorizationServer()


@pytest.fixture
def client(server: FakeAuthorizationServer) -> Iterator[httpx.Client]:
    with httpx.Client(transport=server.transport()) as client:
        yield client


def start(client: httpx.Client, server: FakeAuthorizationServer) -> dict[str, str]:
    response = client.post(
        server.device_authorization_url, data={"client_id": "tv-app", "scope": "videos"}
    )
    body: dict[str, str] = response.json()
    return body


def input_value(html: str) -> str:
    match = re.search(r'<input id="user_code" name="user_code" type="text" value="([^"]*)"', html)
    assert match is not None, html
    return match.group(1)


def test_get_shows_an_empty_form(server: FakeAuthorizationServer, client: httpx.Client) -> None:
    response = client.get(server.verification_uri)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    html = response.text
    assert html.startswith("<!DOCTYPE html>")
    assert '<html lang="en">' in html
    assert '<label for="user_code">' in html
    assert input_value(html) == ""
    assert '<form method="post" action="/device">' in html
    assert '<button type="submit" name="action" value="approve">' in html
    assert '<button type="submit" name="action" value="deny">' in html
    assert "<script" not in html
    assert "http" not in html.replace('content="width=device-width', "")  # no external resources
    assert server.requests[0].endpoint == "page"


def test_verification_uri_complete_prefills_the_code(
    server: FakeAuthorizationServer, client: httpx.Client
) -> None:
    body = start(client, server)
    html = client.get(body["verification_uri_complete"]).text

    assert input_value(html) == body["user_code"]
    assert "<strong>tv-app</strong> is asking for access to <strong>videos</strong>" in html


def test_prefill_is_escaped(server: FakeAuthorizationServer, client: httpx.Client) -> None:
    html = client.get(server.verification_uri, params={"user_code": '"><script>x</script>'}).text
    assert "<script>" not in html
    assert input_value(html) == "&quot;&gt;&lt;script&gt;x&lt;/script&gt;"


def test_post_approve(server: FakeAuthorizationServer, client: httpx.Client) -> None:
    body = start(client, server)
    typed = body["user_code"].lower().replace("-", "")

    response = client.post(server.verification_uri, data={"user_code": typed, "action": "approve"})

    assert response.status_code == 200
    assert "Device approved. You can return to your terminal." in response.text
    assert server.grants[0].status == "approved"
    token = client.post(
        server.token_url,
        data={
            "client_id": "tv-app",
            "grant_type": DEVICE_CODE_GRANT_TYPE,
            "device_code": body["device_code"],
        },
    )
    assert token.status_code == 200


def test_post_deny(server: FakeAuthorizationServer, client: httpx.Client) -> None:
    body = start(client, server)

    response = client.post(
        server.verification_uri, data={"user_code": body["user_code"], "action": "deny"}
    )

    assert response.status_code == 200
    assert "Device denied." in response.text
    assert server.grants[0].status == "denied"


def test_post_unknown_code(server: FakeAuthorizationServer, client: httpx.Client) -> None:
    start(client, server)
    response = client.post(
        server.verification_uri, data={"user_code": "AAAA-AAAA", "action": "approve"}
    )

    assert response.status_code == 400
    assert "Unknown or expired code." in response.text
    assert 'role="alert"' in response.text
    assert input_value(response.text) == "AAAA-AAAA"
    assert server.grants[0].status == "pending"


def test_post_used_or_expired_code(server: FakeAuthorizationServer, client: httpx.Client) -> None:
    first = start(client, server)
    second = start(client, server)
    server.expire(second["user_code"])
    data = {"user_code": first["user_code"], "action": "approve"}

    assert client.post(server.verification_uri, data=data).status_code == 200
    assert client.post(server.verification_uri, data=data).status_code == 400
    expired = {"user_code": second["user_code"], "action": "approve"}
    assert client.post(server.verification_uri, data=expired).status_code == 400


def test_post_without_action(server: FakeAuthorizationServer, client: httpx.Client) -> None:
    body = start(client, server)
    response = client.post(server.verification_uri, data={"user_code": body["user_code"]})
    assert response.status_code == 400
    assert server.grants[0].status == "pending"


def test_other_methods(server: FakeAuthorizationServer, client: httpx.Client) -> None:
    response = client.delete(server.verification_uri)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
