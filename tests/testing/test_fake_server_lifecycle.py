"""The fake server after the device flow: discovery, refresh, revocation, a protected resource.

Every test runs twice, in memory (`server.transport()`) and over loopback HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from loctocat.testing import DEVICE_CODE_GRANT_TYPE, FakeAuthorizationServer

Make = Callable[..., tuple[FakeAuthorizationServer, httpx.Client]]


@pytest.fixture(params=["memory", "http"])
def make(request: pytest.FixtureRequest) -> Iterator[Make]:
    """Build a server with the given options and a client reaching it in the chosen mode."""
    started: list[FakeAuthorizationServer] = []
    clients: list[httpx.Client] = []

    def build(**options: Any) -> tuple[FakeAuthorizationServer, httpx.Client]:
        server = FakeAuthorizationServer(**options)
        if request.param == "http":
            server.start_http()
            started.append(server)
            client = httpx.Client()
        else:
            client = httpx.Client(transport=server.transport())
        clients.append(client)
        return server, client

    yield build
    for client in clients:
        client.close()
    for server in started:
        server.stop_http()


def login(
    server: FakeAuthorizationServer, client: httpx.Client, scope: str | None = None, **auth: str
) -> dict[str, Any]:
    """Run a device flow by hand (`auth`: client_secret=...); returns the token response."""
    server.plan("approve")
    form = {"client_id": "c", **auth}
    scoped = form if scope is None else {**form, "scope": scope}
    device = client.post(server.device_authorization_url, data=scoped).json()
    answer = client.post(
        server.token_url,
        data={**form, "grant_type": DEVICE_CODE_GRANT_TYPE, "device_code": device["device_code"]},
    )
    assert answer.status_code == 200, answer.text
    tokens: dict[str, Any] = answer.json()
    return tokens


def refresh(client: httpx.Client, server: FakeAuthorizationServer, token: str) -> httpx.Response:
    return client.post(
        server.token_url,
        data={"client_id": "c", "grant_type": "refresh_token", "refresh_token": token},
    )


def userinfo(client: httpx.Client, server: FakeAuthorizationServer, token: str) -> httpx.Response:
    return client.get(server.userinfo_url, headers={"Authorization": f"Bearer {token}"})


def revoke(
    client: httpx.Client, server: FakeAuthorizationServer, token: str, **form: str
) -> httpx.Response:
    return client.post(server.revocation_url, data={"client_id": "c", "token": token, **form})


# --- discovery ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]
)
def test_metadata_names_every_endpoint(make: Make, path: str) -> None:
    server, client = make()
    answer = client.get(server.base_url + path)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    metadata = answer.json()
    claims = metadata.pop("claims_supported")
    assert metadata == {
        "issuer": server.base_url,
        "authorization_endpoint": server.authorization_url,
        "device_authorization_endpoint": server.device_authorization_url,
        "token_endpoint": server.token_url,
        "revocation_endpoint": server.revocation_url,
        "userinfo_endpoint": server.userinfo_url,
        "jwks_uri": server.jwks_url,
        "grant_types_supported": [DEVICE_CODE_GRANT_TYPE, "refresh_token"],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
    }
    assert {"sub", "iss", "aud", "exp", "iat", "auth_time", "name", "email"} <= set(claims)
    assert not server.issuer.endswith("/")
    assert server.issuer == server.base_url
    assert [r.endpoint for r in server.requests] == ["discovery"]


def test_metadata_follows_the_configuration(make: Make) -> None:
    server, client = make(client_secret="s", issue_refresh_token=False, scopes_allowed=["b", "a"])
    metadata = client.get(server.base_url + "/.well-known/openid-configuration").json()
    assert metadata["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
    ]
    assert metadata["grant_types_supported"] == [DEVICE_CODE_GRANT_TYPE]
    assert metadata["scopes_supported"] == ["a", "b"]


def test_without_openid_configuration_only_rfc_8414_answers(make: Make) -> None:
    server, client = make(openid_configuration=False)
    assert client.get(server.base_url + "/.well-known/openid-configuration").status_code == 404
    rfc = client.get(server.base_url + "/.well-known/oauth-authorization-server")
    assert rfc.status_code == 200
    # The failed attempt counts as discovery too: tests can see the client fall back.
    assert [r.endpoint for r in server.requests] == ["discovery", "discovery"]


def test_a_gitlab_like_server_does_not_advertise_the_device_endpoint(make: Make) -> None:
    server, client = make(advertise_device_endpoint=False)
    metadata = client.get(server.base_url + "/.well-known/openid-configuration").json()
    assert "device_authorization_endpoint" not in metadata
    assert metadata["token_endpoint"] == server.token_url


def test_the_advertised_issuer_can_be_overridden(make: Make) -> None:
    server, client = make(issuer="https://evil.example.test")
    metadata = client.get(server.base_url + "/.well-known/openid-configuration").json()
    assert metadata["issuer"] == server.issuer == "https://evil.example.test"
    assert metadata["token_endpoint"] == server.token_url


def test_discovery_with_a_path_in_the_base_url() -> None:
    server = FakeAuthorizationServer(base_url="https://auth.example.test/realms/x")
    with httpx.Client(transport=server.transport()) as client:
        oidc = client.get("https://auth.example.test/realms/x/.well-known/openid-configuration")
        # RFC 8414 §3.1: the well-known part goes between the host and the issuer's path.
        rfc = client.get(
            "https://auth.example.test/.well-known/oauth-authorization-server/realms/x"
        )
        root = client.get("https://auth.example.test/.well-known/openid-configuration")
    assert oidc.json()["issuer"] == "https://auth.example.test/realms/x"
    assert rfc.json() == oidc.json()
    assert root.status_code == 404


def test_discovery_is_read_only(make: Make) -> None:
    server, client = make()
    answer = client.post(server.base_url + "/.well-known/openid-configuration")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, HEAD"


# --- the protected resource -----------------------------------------------------------------------


def test_userinfo_accepts_a_fresh_access_token(make: Make) -> None:
    server, client = make()
    tokens = login(server, client, scope="read")
    answer = userinfo(client, server, tokens["access_token"])
    assert answer.status_code == 200
    assert answer.json() == {"sub": "fake-user-1", "client_id": "c", "scope": "read"}
    assert server.requests[-1].endpoint == "userinfo"
    # The scheme is case-insensitive (RFC 7235 §2.1).
    lower = client.get(
        server.userinfo_url, headers={"Authorization": f"bearer {tokens['access_token']}"}
    )
    assert lower.status_code == 200


def _assert_invalid_token(answer: httpx.Response, description: str) -> None:
    assert answer.status_code == 401
    challenge = answer.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge
    assert answer.json() == {"error": "invalid_token", "error_description": description}


def test_userinfo_rejects_an_unknown_token(make: Make) -> None:
    server, client = make()
    _assert_invalid_token(userinfo(client, server, "fake-at-nope"), "unknown access token")


@pytest.mark.parametrize("authorization", [None, "Basic YzpzCg==", "Bearer", "Token abc"], ids=str)
def test_userinfo_without_a_bearer_token_gets_a_bare_challenge(
    make: Make, authorization: str | None
) -> None:
    server, client = make()
    headers = {} if authorization is None else {"Authorization": authorization}
    answer = client.get(server.userinfo_url, headers=headers)
    assert answer.status_code == 401
    # RFC 6750 §3.1: no error code when no credentials were sent.
    assert answer.headers["www-authenticate"] == 'Bearer realm="loctocat-fake"'


def test_userinfo_is_get_only(make: Make) -> None:
    server, client = make()
    answer = client.post(server.userinfo_url)
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET"


def test_access_tokens_expire_on_the_server_clock(make: Make) -> None:
    now = [1000.0]
    server, client = make(token_lifetime=60, clock=lambda: now[0])
    tokens = login(server, client)
    assert tokens["expires_in"] == 60
    now[0] += 59.9
    assert userinfo(client, server, tokens["access_token"]).status_code == 200
    now[0] += 0.1
    _assert_invalid_token(
        userinfo(client, server, tokens["access_token"]), "the access token has expired"
    )


def test_without_a_lifetime_tokens_never_expire(make: Make) -> None:
    now = [0.0]
    server, client = make(token_lifetime=None, clock=lambda: now[0])
    tokens = login(server, client)
    assert "expires_in" not in tokens
    now[0] = 1e12
    assert userinfo(client, server, tokens["access_token"]).status_code == 200


def test_expire_access_tokens_expires_those_issued_so_far(make: Make) -> None:
    server, client = make()
    first = login(server, client)
    server.expire_access_tokens()
    _assert_invalid_token(
        userinfo(client, server, first["access_token"]), "the access token has expired"
    )
    # The refresh token still works, and what it brings is not expired.
    fresh = refresh(client, server, first["refresh_token"]).json()
    assert userinfo(client, server, fresh["access_token"]).status_code == 200


# --- refresh -------------------------------------------------------------------------------------


def test_refresh_rotates_by_default(make: Make) -> None:
    server, client = make()
    tokens = login(server, client)
    answer = refresh(client, server, tokens["refresh_token"])
    assert answer.status_code == 200
    new = answer.json()
    assert new["refresh_token"] != tokens["refresh_token"]
    assert new["access_token"] != tokens["access_token"]
    reused = refresh(client, server, tokens["refresh_token"])
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    assert refresh(client, server, new["refresh_token"]).status_code == 200
    assert [t.grant_type for t in server.issued_tokens] == [
        "device_code",
        "refresh_token",
        "refresh_token",
    ]


def test_without_rotation_the_refresh_token_stays_and_is_not_resent(make: Make) -> None:
    server, client = make(rotate_refresh_tokens=False)
    tokens = login(server, client)
    assert "refresh_token" in tokens
    first = refresh(client, server, tokens["refresh_token"]).json()
    assert "refresh_token" not in first
    second = refresh(client, server, tokens["refresh_token"])
    assert second.status_code == 200
    assert second.json()["access_token"] != first["access_token"]
    assert server.issued_tokens[-1].refresh_token is None
    # Both access tokens work: nothing invalidates the older one.
    assert userinfo(client, server, first["access_token"]).status_code == 200


# --- revocation ----------------------------------------------------------------------------------


def test_revoking_an_access_token(make: Make) -> None:
    server, client = make()
    tokens = login(server, client)
    answer = revoke(client, server, tokens["access_token"], token_type_hint="access_token")
    assert answer.status_code == 200
    assert answer.content == b""
    assert server.requests[-1].endpoint == "revocation"
    assert server.revoked_tokens == [tokens["access_token"]]
    _assert_invalid_token(
        userinfo(client, server, tokens["access_token"]), "the access token has been revoked"
    )
    # The refresh token is not touched by revoking the access token.
    assert refresh(client, server, tokens["refresh_token"]).status_code == 200


def test_revoking_a_refresh_token_ends_the_grant(make: Make) -> None:
    server, client = make()
    tokens = login(server, client)
    rotated = refresh(client, server, tokens["refresh_token"]).json()
    # A wrong hint does not matter (RFC 7009 §2.1).
    answer = revoke(client, server, rotated["refresh_token"], token_type_hint="access_token")
    assert answer.status_code == 200
    assert server.revoked_tokens == [
        rotated["refresh_token"],
        tokens["access_token"],
        rotated["access_token"],
    ]
    for access_token in (tokens["access_token"], rotated["access_token"]):
        assert userinfo(client, server, access_token).status_code == 401
    assert refresh(client, server, rotated["refresh_token"]).json()["error"] == "invalid_grant"


def test_revoking_leaves_other_grants_alone(make: Make) -> None:
    server, client = make()
    mine, other = login(server, client), login(server, client)
    revoke(client, server, mine["refresh_token"])
    assert userinfo(client, server, other["access_token"]).status_code == 200
    assert refresh(client, server, other["refresh_token"]).status_code == 200


def test_revoking_unknown_or_revoked_tokens_answers_200_and_lists_nothing(make: Make) -> None:
    server, client = make()
    tokens = login(server, client)
    assert revoke(client, server, "fake-rt-unknown").status_code == 200
    assert server.revoked_tokens == []
    revoke(client, server, tokens["access_token"])
    again = revoke(client, server, tokens["access_token"])
    assert again.status_code == 200
    assert server.revoked_tokens == [tokens["access_token"]]


def test_revocation_checks_the_request_and_the_client(make: Make) -> None:
    server, client = make(client_id="c", client_secret="s")
    tokens = login(server, client, client_secret="s")
    no_secret = revoke(client, server, tokens["access_token"])
    assert no_secret.status_code == 401
    assert no_secret.json()["error"] == "invalid_client"
    missing = client.post(server.revocation_url, data={"client_id": "c", "client_secret": "s"})
    assert missing.json()["error"] == "invalid_request"
    get = client.get(server.revocation_url)
    assert get.status_code == 405
    assert server.revoked_tokens == []
    basic = client.post(
        server.revocation_url, data={"token": tokens["access_token"]}, auth=("c", "s")
    )
    assert basic.status_code == 200
    assert server.revoked_tokens == [tokens["access_token"]]


def test_a_client_cannot_revoke_another_clients_token(make: Make) -> None:
    server, client = make()
    tokens = login(server, client)
    answer = client.post(
        server.revocation_url, data={"client_id": "someone-else", "token": tokens["access_token"]}
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"
    assert server.revoked_tokens == []
    assert userinfo(client, server, tokens["access_token"]).status_code == 200


def test_requests_are_recorded_by_endpoint(make: Make) -> None:
    server, client = make()
    tokens = login(server, client)
    client.get(server.base_url + "/.well-known/oauth-authorization-server")
    userinfo(client, server, tokens["access_token"])
    revoke(client, server, tokens["access_token"])
    client.get(server.base_url + "/nowhere")
    assert [r.endpoint for r in server.requests] == [
        "device_authorization",
        "token",
        "discovery",
        "userinfo",
        "revocation",
        "other",
    ]
