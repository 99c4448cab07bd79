"""The fake authorization server imitating services that depart from RFC 8628."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from loctocat.testing import DEVICE_CODE_GRANT_TYPE, FakeAuthorizationServer, Fault, SlowDown

CLIENT_ID = "test-client"
SECRET = "s3cret"


@contextmanager
def client_for(server: FakeAuthorizationServer) -> Iterator[httpx.Client]:
    with httpx.Client(transport=server.transport()) as client:
        yield client


def start(client: httpx.Client, server: FakeAuthorizationServer, **form: str) -> dict[str, Any]:
    response = client.post(server.device_authorization_url, data={"client_id": CLIENT_ID, **form})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def poll(
    client: httpx.Client,
    server: FakeAuthorizationServer,
    form: dict[str, str],
    **headers: str,
) -> httpx.Response:
    return client.post(server.token_url, data={"client_id": CLIENT_ID, **form}, headers=headers)


def rfc_poll(device_code: str) -> dict[str, str]:
    return {"grant_type": DEVICE_CODE_GRANT_TYPE, "device_code": device_code}


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def error_of(response: httpx.Response) -> str:
    error: str = response.json()["error"]
    return error


# -- Paths -------------------------------------------------------------------------------------

GITHUB_PATHS: dict[str, Any] = {
    "base_url": "https://github.com",
    "device_path": "/login/device/code",
    "token_path": "/login/oauth/access_token",
    "verification_path": "/login/device",
}


def test_default_paths_are_the_rfc_ones() -> None:
    server = FakeAuthorizationServer()
    assert server.device_authorization_url == "https://auth.example.test/device_authorization"
    assert server.token_url == "https://auth.example.test/token"
    assert server.verification_uri == "https://auth.example.test/device"


def test_custom_paths_set_the_urls_and_are_served_in_memory() -> None:
    server = FakeAuthorizationServer(**GITHUB_PATHS)
    assert server.device_authorization_url == "https://github.com/login/device/code"
    assert server.token_url == "https://github.com/login/oauth/access_token"
    assert server.verification_uri == "https://github.com/login/device"
    server.plan("approve")
    with client_for(server) as client:
        device = client.post("https://github.com/login/device/code", data={"client_id": CLIENT_ID})
        assert device.status_code == 200, device.text
        body = device.json()
        assert body["verification_uri"] == "https://github.com/login/device"
        assert body["verification_uri_complete"].startswith("https://github.com/login/device?")
        page = client.get(body["verification_uri_complete"])
        assert page.status_code == 200
        assert 'action="/login/device"' in page.text
        token = client.post(
            "https://github.com/login/oauth/access_token",
            data={"client_id": CLIENT_ID, **rfc_poll(body["device_code"])},
        )
        assert token.status_code == 200, token.text
        assert "access_token" in token.json()
        # The RFC paths are no longer endpoints.
        old = client.post("https://github.com/token", data=rfc_poll(body["device_code"]))
        assert old.status_code == 404
    endpoints = [r.endpoint for r in server.requests]
    assert endpoints == ["device_authorization", "page", "token", "other"]


def test_custom_paths_route_for_any_host_and_under_a_base_path() -> None:
    server = FakeAuthorizationServer(
        base_url="https://id.example.test/oauth2",
        device_path="/devicecode",
        token_path="/v2/token",
        verification_path="/activate/",
    )
    assert server.verification_uri == "https://id.example.test/oauth2/activate/"
    with client_for(server) as client:
        device = client.post(
            "https://elsewhere.test/oauth2/devicecode", data={"client_id": CLIENT_ID}
        )
        assert device.status_code == 200
        assert client.get("https://id.example.test/oauth2/activate").status_code == 200
        assert client.get("https://id.example.test/activate/").status_code == 404
    assert [r.endpoint for r in server.requests] == ["device_authorization", "page", "other"]


def test_custom_paths_in_the_discovery_documents() -> None:
    server = FakeAuthorizationServer(**GITHUB_PATHS, grant_type="device_code")
    with client_for(server) as client:
        for path in (
            "/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server",
        ):
            metadata = client.get("https://github.com" + path).json()
            assert metadata["device_authorization_endpoint"] == server.device_authorization_url
            assert metadata["token_endpoint"] == "https://github.com/login/oauth/access_token"
            assert metadata["grant_types_supported"][0] == "device_code"


def test_custom_paths_over_http() -> None:
    server = FakeAuthorizationServer(**GITHUB_PATHS)
    server.plan("approve")
    with server.serve_http() as base_url, httpx.Client() as client:
        assert server.token_url == base_url + "/login/oauth/access_token"
        assert server.verification_uri == base_url + "/login/device"
        body = client.post(base_url + "/login/device/code", data={"client_id": CLIENT_ID}).json()
        assert body["verification_uri"] == base_url + "/login/device"
        assert client.get(body["verification_uri"]).status_code == 200
        token = client.post(
            base_url + "/login/oauth/access_token",
            data={"client_id": CLIENT_ID, **rfc_poll(body["device_code"])},
        )
        assert token.status_code == 200, token.text
    assert [r.endpoint for r in server.requests] == ["device_authorization", "page", "token"]


@pytest.mark.parametrize(
    "paths",
    [
        {"token_path": "token"},
        {"device_path": "/device?x=1"},
        {"token_path": "/device_authorization"},
        {"verification_path": "/token/"},
    ],
)
def test_bad_paths_are_refused(paths: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="path"):
        FakeAuthorizationServer(**paths)


# -- Polling: grant type, device code parameter, echoed fields ---------------------------------


def test_custom_grant_type_is_required_when_polling() -> None:
    server = FakeAuthorizationServer(grant_type="device_code")
    server.plan("approve")
    with client_for(server) as client:
        device_code = start(client, server)["device_code"]
        urn = poll(client, server, rfc_poll(device_code))
        assert urn.status_code == 400
        assert error_of(urn) == "unsupported_grant_type"
        ok = poll(client, server, {"grant_type": "device_code", "device_code": device_code})
        assert ok.status_code == 200, ok.text
        refreshed = poll(
            client,
            server,
            {"grant_type": "refresh_token", "refresh_token": ok.json()["refresh_token"]},
        )
        assert refreshed.status_code == 200, refreshed.text


def test_default_grant_type_refuses_the_short_form() -> None:
    server = FakeAuthorizationServer()
    with client_for(server) as client:
        device_code = start(client, server)["device_code"]
        short = poll(client, server, {"grant_type": "device_code", "device_code": device_code})
        assert error_of(short) == "unsupported_grant_type"


def test_custom_device_code_param() -> None:
    server = FakeAuthorizationServer(device_code_param="code", grant_type="device_code")
    server.plan("approve")
    with client_for(server) as client:
        device_code = start(client, server)["device_code"]
        standard = poll(client, server, {"grant_type": "device_code", "device_code": device_code})
        assert standard.status_code == 400
        assert error_of(standard) == "invalid_request"
        assert "code" in standard.json()["error_description"]
        unknown = poll(client, server, {"grant_type": "device_code", "code": "nope"})
        assert error_of(unknown) == "invalid_grant"
        ok = poll(client, server, {"grant_type": "device_code", "code": device_code})
        assert ok.status_code == 200, ok.text
    assert server.grant().poll_count == 1  # only the poll naming it "code" reached it


def test_poll_code_fields_must_be_echoed() -> None:
    server = FakeAuthorizationServer(poll_code_fields=["user_code"])
    server.plan("approve")
    with client_for(server) as client:
        body = start(client, server)
        form = rfc_poll(body["device_code"])
        missing = poll(client, server, form)
        assert missing.status_code == 400
        assert error_of(missing) == "invalid_request"
        wrong = poll(client, server, {**form, "user_code": "BCDF-GHJK"})
        assert wrong.status_code == 400
        assert error_of(wrong) == "invalid_grant"
        ok = poll(client, server, {**form, "user_code": body["user_code"]})
        assert ok.status_code == 200, ok.text


def test_poll_code_fields_compare_numbers_as_text() -> None:
    server = FakeAuthorizationServer(poll_code_fields=["interval"], interval=3)
    server.plan("approve")
    with client_for(server) as client:
        form = rfc_poll(start(client, server)["device_code"])
        assert error_of(poll(client, server, {**form, "interval": "4"})) == "invalid_grant"
        assert poll(client, server, {**form, "interval": "3"}).status_code == 200


def test_poll_code_fields_must_be_in_the_device_answer() -> None:
    with pytest.raises(ValueError, match="no_such_field"):
        FakeAuthorizationServer(poll_code_fields=["no_such_field"])
    with pytest.raises(TypeError):
        FakeAuthorizationServer(poll_code_fields="user_code")


# -- Device request: scope parameter, required parameters ----------------------------------------


def test_custom_scope_param() -> None:
    server = FakeAuthorizationServer(scope_param="scopes", scopes_allowed=["read"])
    with client_for(server) as client:
        start(client, server, scopes="read")
        assert server.grant().scope == "read"
        # The standard name is not this service's: it is ignored, as unknown parameters are.
        start(client, server, scope="read")
        assert server.grant().scope is None
        bad = client.post(
            server.device_authorization_url, data={"client_id": CLIENT_ID, "scopes": "admin"}
        )
        assert error_of(bad) == "invalid_scope"


def test_required_device_params() -> None:
    server = FakeAuthorizationServer(required_device_params={"response_type": "device_code"})
    with client_for(server) as client:
        url = server.device_authorization_url
        missing = client.post(url, data={"client_id": CLIENT_ID})
        assert missing.status_code == 400
        assert error_of(missing) == "invalid_request"
        assert "response_type" in missing.json()["error_description"]
        wrong = client.post(url, data={"client_id": CLIENT_ID, "response_type": "code"})
        assert wrong.status_code == 400
        assert error_of(wrong) == "invalid_request"
        start(client, server, response_type="device_code")
    assert len(server.grants) == 1


# -- Answers: error codes, scope as list, form encoding, slow_down interval ----------------------


def test_error_codes_rename_every_error() -> None:
    server = FakeAuthorizationServer(
        error_codes={
            "access_denied": "authorization_declined",
            "authorization_pending": "still_waiting",
            "invalid_request": "bad_request",
            "invalid_token": "token_rejected",
        }
    )
    server.plan("pending", "deny")
    with client_for(server) as client:
        form = rfc_poll(start(client, server)["device_code"])
        assert error_of(poll(client, server, form)) == "still_waiting"
        assert error_of(poll(client, server, form)) == "authorization_declined"
        assert error_of(client.post(server.token_url, data={"client_id": "x"})) == "bad_request"
        # Codes without a mapping are sent as they are.
        assert error_of(poll(client, server, rfc_poll("unknown"))) == "invalid_grant"
        userinfo = client.get(server.userinfo_url, headers={"Authorization": "Bearer nope"})
        assert error_of(userinfo) == "token_rejected"
        assert 'error="token_rejected"' in userinfo.headers["www-authenticate"]


def test_error_codes_leave_scripted_faults_alone() -> None:
    server = FakeAuthorizationServer(error_codes={"access_denied": "authorization_declined"})
    server.plan(Fault(error="access_denied"))
    with client_for(server) as client:
        form = rfc_poll(start(client, server)["device_code"])
        assert error_of(poll(client, server, form)) == "access_denied"


def test_default_error_codes_are_the_standard_ones() -> None:
    server = FakeAuthorizationServer()
    server.plan("deny")
    with client_for(server) as client:
        form = rfc_poll(start(client, server)["device_code"])
        assert error_of(poll(client, server, form)) == "access_denied"


@pytest.mark.parametrize(
    ("as_list", "expected"), [(True, ["read", "write"]), (False, "read write")]
)
def test_scope_as_list(as_list: bool, expected: object) -> None:
    server = FakeAuthorizationServer(scope_as_list=as_list)
    server.plan("approve")
    with client_for(server) as client:
        form = rfc_poll(start(client, server, scope="read write")["device_code"])
        token = poll(client, server, form)
        assert token.json()["scope"] == expected
        refreshed = poll(
            client,
            server,
            {"grant_type": "refresh_token", "refresh_token": token.json()["refresh_token"]},
        )
        assert refreshed.json()["scope"] == expected


def form_of(response: httpx.Response) -> dict[str, list[str]]:
    assert response.headers["content-type"] == "application/x-www-form-urlencoded"
    return parse_qs(response.text, keep_blank_values=True, strict_parsing=True)


def test_form_encoded_unless_json() -> None:
    server = FakeAuthorizationServer(
        form_encoded_unless_json=True, errors_with_status_200=True, scope_as_list=True
    )
    server.plan("pending", "approve")
    with client_for(server) as client:
        url = server.device_authorization_url
        device = client.post(url, data={"client_id": CLIENT_ID, "scope": "repo gist"})
        assert device.status_code == 200
        device_form = form_of(device)
        assert device_form["interval"] == ["1"]
        assert device_form["verification_uri"] == [server.verification_uri]
        assert server.grant().device_code == device_form["device_code"][0]
        form = rfc_poll(device_form["device_code"][0])

        pending = poll(client, server, form)
        assert pending.status_code == 200
        assert form_of(pending)["error"] == ["authorization_pending"]

        token = poll(client, server, form)
        token_form = form_of(token)
        assert token_form["access_token"] == [server.issued_tokens[0].access_token]
        assert token_form["scope"] == ["repo", "gist"]
        assert token.headers["cache-control"] == "no-store"

        # Asking for JSON gets JSON, also among other media types.
        json_error = poll(client, server, form, accept="text/html, application/json;q=0.9")
        assert json_error.headers["content-type"] == "application/json"
        assert error_of(json_error) == "invalid_grant"
        json_device = client.post(
            url, data={"client_id": CLIENT_ID}, headers={"Accept": "application/json"}
        )
        assert "device_code" in json_device.json()

        # Other endpoints stay JSON.
        metadata = client.get(server.issuer + "/.well-known/openid-configuration")
        assert metadata.headers["content-type"] == "application/json"


def test_form_encoded_unless_json_applies_to_scripted_error_faults() -> None:
    server = FakeAuthorizationServer(form_encoded_unless_json=True)
    server.plan(Fault(error="device_flow_disabled"), Fault(status=503, body=b"down"))
    with client_for(server) as client:
        code = form_of(client.post(server.device_authorization_url, data={"client_id": "c"}))
        form = {**rfc_poll(code["device_code"][0]), "client_id": "c"}
        fault = client.post(server.token_url, data=form)
        assert fault.status_code == 400
        assert form_of(fault)["error"] == ["device_flow_disabled"]
        raw = client.post(server.token_url, data=form)
        assert raw.status_code == 503
        assert raw.content == b"down"


def test_json_by_default_whatever_the_accept_header() -> None:
    server = FakeAuthorizationServer()
    with client_for(server) as client:
        response = client.post(
            server.device_authorization_url,
            data={"client_id": CLIENT_ID},
            headers={"Accept": "text/plain"},
        )
        assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("sends", [True, False])
def test_slow_down_sends_interval(sends: bool) -> None:
    clock_now = [0.0]
    server = FakeAuthorizationServer(
        slow_down_sends_interval=sends,
        interval=2,
        enforce_interval=True,
        clock=lambda: clock_now[0],
    )
    server.plan("slow_down", SlowDown(), "pending")
    with client_for(server) as client:
        form = rfc_poll(start(client, server)["device_code"])
        answers = []
        for _ in range(3):
            answers.append(poll(client, server, form).json())
            clock_now[0] += 100
        answers.append(poll(client, server, form).json())
        answers.append(poll(client, server, form).json())  # too soon: enforce_interval
    assert [a["error"] for a in answers] == [
        "slow_down",
        "slow_down",
        "authorization_pending",
        "authorization_pending",
        "slow_down",
    ]
    if sends:
        assert [a.get("interval") for a in answers] == [7, 12, None, None, 17]
    else:
        assert all("interval" not in a for a in answers)
    assert server.grant().interval == 17


def test_slow_down_with_an_explicit_interval_always_sends_it() -> None:
    server = FakeAuthorizationServer()
    server.plan(SlowDown(interval=9))
    with client_for(server) as client:
        form = rfc_poll(start(client, server)["device_code"])
        assert poll(client, server, form).json() == {
            "error": "slow_down",
            "error_description": "polling too fast",
            "interval": 9,
        }


# -- Client authentication ------------------------------------------------------------------------


def secret_server(**options: Any) -> FakeAuthorizationServer:
    server = FakeAuthorizationServer(client_id=CLIENT_ID, client_secret=SECRET, **options)
    server.plan("approve")
    return server


def device_with(client: httpx.Client, server: FakeAuthorizationServer, how: str) -> httpx.Response:
    if how == "basic":
        return client.post(
            server.device_authorization_url,
            data={},
            headers={"Authorization": basic(CLIENT_ID, SECRET)},
        )
    if how == "body":
        return client.post(
            server.device_authorization_url,
            data={"client_id": CLIENT_ID, "client_secret": SECRET},
        )
    return client.post(server.device_authorization_url, data={"client_id": CLIENT_ID})


def poll_with(
    client: httpx.Client, server: FakeAuthorizationServer, device_code: str, how: str
) -> httpx.Response:
    if how == "basic":
        return client.post(
            server.token_url,
            data=rfc_poll(device_code),
            headers={"Authorization": basic(CLIENT_ID, SECRET)},
        )
    form = {**rfc_poll(device_code), "client_id": CLIENT_ID}
    if how == "body":
        form["client_secret"] = SECRET
    return client.post(server.token_url, data=form)


@pytest.mark.parametrize(
    ("client_auth", "how", "accepted"),
    [
        ("any", "basic", True),
        ("any", "body", True),
        ("basic", "basic", True),
        ("basic", "body", False),
        ("body", "body", True),
        ("body", "basic", False),
    ],
)
def test_client_auth(client_auth: Any, how: str, accepted: bool) -> None:
    server = secret_server(client_auth=client_auth)
    with client_for(server) as client:
        device = device_with(client, server, how)
        if not accepted:
            assert device.status_code == 401
            assert error_of(device) == "invalid_client"
            assert device.headers["www-authenticate"].startswith("Basic")
            device = device_with(client, server, "basic" if how == "body" else "body")
        assert device.status_code == 200, device.text
        token = poll_with(client, server, device.json()["device_code"], how)
        if accepted:
            assert token.status_code == 200, token.text
        else:
            assert token.status_code == 401
            assert error_of(token) == "invalid_client"


@pytest.mark.parametrize(
    ("client_auth", "methods"),
    [
        ("any", ["client_secret_basic", "client_secret_post"]),
        ("basic", ["client_secret_basic"]),
        ("body", ["client_secret_post"]),
    ],
)
def test_client_auth_in_metadata(client_auth: Any, methods: list[str]) -> None:
    server = secret_server(client_auth=client_auth)
    with client_for(server) as client:
        metadata = client.get(server.issuer + "/.well-known/oauth-authorization-server").json()
    assert metadata["token_endpoint_auth_methods_supported"] == methods


def test_client_auth_without_a_secret_takes_public_clients() -> None:
    server = FakeAuthorizationServer(client_auth="basic")
    with client_for(server) as client:
        start(client, server)


def test_client_auth_must_be_known() -> None:
    with pytest.raises(ValueError, match="client_auth"):
        FakeAuthorizationServer(client_auth="header")  # type: ignore[arg-type]


def test_secret_on_device_request_false() -> None:
    server = secret_server(client_auth="body", secret_on_device_request=False)
    with client_for(server) as client:
        device = device_with(client, server, "none")
        assert device.status_code == 200, device.text
        device_code = device.json()["device_code"]
        # The secret is still checked when polling.
        no_secret = poll_with(client, server, device_code, "none")
        assert no_secret.status_code == 401
        assert error_of(no_secret) == "invalid_client"
        assert poll_with(client, server, device_code, "body").status_code == 200
        # The client id still is checked at the device endpoint.
        stranger = client.post(server.device_authorization_url, data={"client_id": "other"})
        assert error_of(stranger) == "invalid_client"


def test_secret_on_device_request_by_default() -> None:
    server = secret_server()
    with client_for(server) as client:
        device = device_with(client, server, "none")
        assert device.status_code == 401
        assert error_of(device) == "invalid_client"


# -- A whole imitation ---------------------------------------------------------------------------


def test_amazon_like_server() -> None:
    server = FakeAuthorizationServer(
        grant_type="device_code",
        poll_code_fields=["user_code"],
        required_device_params={"response_type": "device_code"},
        scope_param="scope",
    )
    server.plan("pending", "approve")
    with client_for(server) as client:
        body = start(client, server, response_type="device_code", scope="profile")
        form = {
            "grant_type": "device_code",
            "device_code": body["device_code"],
            "user_code": body["user_code"],
        }
        assert error_of(poll(client, server, form)) == "authorization_pending"
        token = poll(client, server, form)
        assert token.status_code == 200
        assert token.json()["scope"] == "profile"


# --- presets: FakeAuthorizationServer.imitating ---------------------------------------------------


def test_every_provider_has_a_preset_that_its_authenticator_logs_in_against() -> None:
    from loctocat.predefined import PROVIDERS
    from loctocat.testing._dialects import DIALECTS

    assert set(DIALECTS) == set(PROVIDERS)


def test_a_preset_takes_the_services_parameters_and_options_that_win() -> None:
    server = FakeAuthorizationServer.imitating("keycloak", base_url="https://sso.test/", realm="x")
    assert server.token_url == "https://sso.test/realms/x/protocol/openid-connect/token"
    quick = FakeAuthorizationServer.imitating("github", interval=0, host="github.example.com")
    assert quick.interval == 0
    assert quick.device_authorization_url == "https://github.example.com/login/device/code"


@pytest.mark.parametrize(
    ("service", "parameters", "message"),
    [
        ("nowhere", {}, "no dialect for 'nowhere'"),
        ("auth0", {}, "imitating auth0 needs domain="),
        ("github", {"tenant": "x"}, "github takes no tenant"),
    ],
)
def test_a_preset_that_cannot_be_made_says_why(
    service: str, parameters: dict[str, str], message: str
) -> None:
    from loctocat.testing import dialect

    with pytest.raises(ValueError, match=message):
        dialect(service, **parameters)
