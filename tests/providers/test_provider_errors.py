"""Each provider's own error codes raise the right loctocat class, with advice a person can act on.

The fake servers are configured as in test_provider_flows.py (same fixtures), so the errors come
in each service's dialect: GitHub's HTTP 200 errors, Microsoft's authorization_declined, ...
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from provider_cases import CLIENT_ID, SECRET, Case, make_server

from loctocat import (
    AccessDenied,
    Authenticator,
    ConfigurationError,
    ExpiredToken,
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    ServerError,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from loctocat import predefined as p
from loctocat.testing import FakeAuthorizationServer, Fault


@pytest.fixture
def clients() -> Iterator[list[httpx.Client]]:
    opened: list[httpx.Client] = []
    yield opened
    for client in opened:
        client.close()


def authenticator(
    case: Case, server: FakeAuthorizationServer, clients: list[httpx.Client], **changes: object
) -> Authenticator:
    client = httpx.Client(transport=server.transport())
    clients.append(client)
    options = {**case.params, "http_client": client, "min_interval": 0.01, **changes}
    auth: Authenticator = p.get_provider(case.provider).authenticator(
        CLIENT_ID, case.scopes, **options
    )
    return auth


# --- Microsoft ---------------------------------------------------------------------------------


def test_microsoft_authorization_declined_is_access_denied(
    microsoft: Case, clients: list[httpx.Client]
) -> None:
    server = make_server(microsoft)
    server.plan("pending", "deny")  # the fake sends authorization_declined, as Entra ID does
    auth = authenticator(microsoft, server, clients)
    auth.ping()
    with pytest.raises(AccessDenied) as caught:
        auth.poll()
    assert caught.value.error == "authorization_declined"
    assert "declined" in str(caught.value)


def test_microsoft_bad_verification_code_is_invalid_grant(
    microsoft: Case, clients: list[httpx.Client]
) -> None:
    server = make_server(microsoft)
    server.plan(Fault(error="bad_verification_code", error_description="AADSTS70019"))
    auth = authenticator(microsoft, server, clients)
    auth.ping()
    with pytest.raises(InvalidGrant) as caught:
        auth.poll()
    assert caught.value.error == "bad_verification_code"


def test_microsoft_expired_token_is_expired(microsoft: Case, clients: list[httpx.Client]) -> None:
    server = make_server(microsoft)
    server.plan("expire")
    auth = authenticator(microsoft, server, clients)
    auth.ping()
    with pytest.raises(ExpiredToken):
        auth.poll()


# --- GitHub ------------------------------------------------------------------------------------


def test_github_device_flow_disabled_says_how_to_enable_it(
    github: Case, clients: list[httpx.Client]
) -> None:
    server = make_server(github)
    server.plan_device(Fault(error="device_flow_disabled", error_description="Device Flow must"))
    auth = authenticator(github, server, clients)
    with pytest.raises(UnauthorizedClient) as caught:
        auth.ping()
    assert caught.value.error == "device_flow_disabled"
    assert caught.value.status_code == 200  # GitHub's errors come with HTTP 200
    assert "enable Device Flow in the app's settings" in str(caught.value)


def test_github_incorrect_client_credentials_is_invalid_client(
    github: Case, clients: list[httpx.Client]
) -> None:
    server = make_server(github)  # knows only CLIENT_ID: answers incorrect_client_credentials
    auth = p.GITHUB.authenticator(
        "someone-else", http_client=_client(server, clients), min_interval=0.01
    )
    with pytest.raises(InvalidClient) as caught:
        auth.ping()
    assert caught.value.error == "incorrect_client_credentials"
    assert "Client ID shown in your OAuth app" in str(caught.value)


def test_github_incorrect_device_code_is_invalid_grant(
    github: Case, clients: list[httpx.Client]
) -> None:
    server = make_server(github)
    server.plan(Fault(error="incorrect_device_code"))
    auth = authenticator(github, server, clients)
    auth.ping()
    with pytest.raises(InvalidGrant) as caught:
        auth.poll()
    assert "start a new login" in str(caught.value)


def test_github_unsupported_grant_type_names_the_expected_grant(
    github: Case, clients: list[httpx.Client]
) -> None:
    server = make_server(github)
    server.plan(Fault(error="unsupported_grant_type"))
    auth = authenticator(github, server, clients)
    auth.ping()
    with pytest.raises(UnsupportedGrantType) as caught:
        auth.poll()
    assert "urn:ietf:params:oauth:grant-type:device_code" in str(caught.value)


def test_github_quirks_do_not_leak_to_other_providers(
    microsoft: Case, clients: list[httpx.Client]
) -> None:
    server = make_server(microsoft)
    server.plan(Fault(error="device_flow_disabled"))
    auth = authenticator(microsoft, server, clients)
    auth.ping()
    with pytest.raises(ServerError) as caught:
        auth.poll()
    assert type(caught.value) is ServerError
    assert "enable Device Flow" not in str(caught.value)


# --- Services with client secrets and odd polls --------------------------------------------------


def test_zoom_needs_http_basic(zoom: Case, clients: list[httpx.Client]) -> None:
    server = make_server(zoom)
    auth = authenticator(zoom, server, clients, client_auth="body")  # the caller overrides
    auth.ping()
    with pytest.raises(InvalidClient):
        auth.poll()  # the polls are where Zoom checks the secret


def test_zoom_wrong_secret_is_invalid_client(zoom: Case, clients: list[httpx.Client]) -> None:
    server = make_server(zoom)
    auth = authenticator(zoom, server, clients, client_secret="wrong")
    auth.ping()  # the device request carries only client_id, as in Zoom's own example
    with pytest.raises(InvalidClient):
        auth.poll()
    device, poll = server.requests
    assert "authorization" not in device.headers
    assert poll.headers["authorization"].startswith("Basic ")


def test_hugging_face_public_app_sends_no_basic_header(
    huggingface_with_secret: Case, clients: list[httpx.Client]
) -> None:
    # A server expecting the secret rejects the public-app configuration: proof that the secret
    # is what makes loctocat switch to HTTP Basic.
    server = make_server(huggingface_with_secret)
    auth = p.HUGGING_FACE.authenticator(CLIENT_ID, http_client=_client(server, clients))
    with pytest.raises(InvalidClient):
        auth.ping()
    assert "authorization" not in server.requests[0].headers


def test_google_wrong_secret_fails_when_polling(google: Case, clients: list[httpx.Client]) -> None:
    server = make_server(google)
    auth = authenticator(google, server, clients, client_secret="wrong")
    auth.ping()  # Google checks the secret only at the token endpoint
    with pytest.raises(InvalidClient):
        auth.poll()


def test_amazon_poll_without_user_code_would_be_refused(
    amazon: Case, clients: list[httpx.Client]
) -> None:
    # Without the Amazon quirks, the same client is refused: the quirks are what make it work.
    server = make_server(amazon)
    auth = Authenticator(
        CLIENT_ID,
        "https://api.amazon.com/auth/o2/create/codepair",
        "https://api.amazon.com/auth/o2/token",
        ["profile"],
        http_client=_client(server, clients),
        min_interval=0.01,
        response_type="device_code",
    )
    auth.ping()
    with pytest.raises(UnsupportedGrantType):
        auth.poll()


def test_amazon_without_response_type_is_refused(amazon: Case, clients: list[httpx.Client]) -> None:
    server = make_server(amazon)
    auth = Authenticator(
        CLIENT_ID,
        "https://api.amazon.com/auth/o2/create/codepair",
        "https://api.amazon.com/auth/o2/token",
        ["profile"],
        http_client=_client(server, clients),
    )
    with pytest.raises(InvalidRequest):
        auth.ping()


def test_yandex_needs_a_secret() -> None:
    with pytest.raises(ConfigurationError, match=r"Yandex needs client_secret=\.\.\."):
        p.YANDEX.authenticator(CLIENT_ID)
    with pytest.raises(ConfigurationError, match="client_secret"):
        p.YandexAuthenticator(CLIENT_ID, "")


def test_yandex_wrong_secret_is_invalid_client(yandex: Case, clients: list[httpx.Client]) -> None:
    server = make_server(yandex)
    auth = authenticator(yandex, server, clients, client_secret="wrong")
    auth.ping()
    with pytest.raises(InvalidClient):
        auth.poll()
    assert SECRET not in str(server.requests[-1].form)


def _client(server: FakeAuthorizationServer, clients: list[httpx.Client]) -> httpx.Client:
    client = httpx.Client(transport=server.transport())
    clients.append(client)
    return client
