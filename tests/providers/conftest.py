"""Provider tests: one fixture per provider, each the dialect of that service as documented.

Each fixture is a `Case`: the fake server's options to behave like the service, and what a
correct client must send it. The comment above each names the documentation it follows.
"""

from __future__ import annotations

import pytest
from provider_cases import CASES, CLIENT_ID, DEVICE_CODE, SECRET, USER_CODE, Case, rfc_poll

from loctocat.testing import dialect


@pytest.fixture
def anyio_backend() -> str:
    """asyncio only: the drivers' trio support is tested elsewhere; these test the dialects."""
    return "asyncio"


@pytest.fixture(params=CASES)
def case(request: pytest.FixtureRequest) -> Case:
    """Each provider case in turn."""
    value: Case = request.getfixturevalue(request.param)
    return value


# https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps#device-flow
@pytest.fixture
def github() -> Case:
    return Case(
        "github",
        server=dialect("github"),
        device_url="https://github.com/login/device/code",
        token_url="https://github.com/login/oauth/access_token",
        device_form={"client_id": CLIENT_ID, "scope": "repo read:org"},
        poll_form=rfc_poll(),
        scopes=("repo", "read:org"),
    )


# Same docs: GitHub Enterprise Server serves the same paths on its own host.
@pytest.fixture
def github_enterprise(github: Case) -> Case:
    server = dialect("github", host="github.example.com")
    return Case(
        "github",
        server=server,
        device_url="https://github.example.com/login/device/code",
        token_url="https://github.example.com/login/oauth/access_token",
        device_form={"client_id": CLIENT_ID, "scope": "repo"},
        poll_form=rfc_poll(),
        scopes=("repo",),
        params={"host": "github.example.com"},
    )


# https://docs.gitlab.com/api/oauth2/#device-authorization-grant-flow
@pytest.fixture
def gitlab() -> Case:
    return Case(
        "gitlab",
        server=dialect("gitlab", base_url="https://gitlab.example.com"),
        device_url="https://gitlab.example.com/oauth/authorize_device",
        token_url="https://gitlab.example.com/oauth/token",
        device_form={"client_id": CLIENT_ID, "scope": "read_api"},
        poll_form=rfc_poll(),
        scopes=("read_api",),
        params={"base_url": "https://gitlab.example.com/"},
    )


# https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-device-code
@pytest.fixture
def microsoft() -> Case:
    return Case(
        "microsoft",
        server=dialect("microsoft", tenant="contoso.onmicrosoft.com"),
        device_url="https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/devicecode",
        token_url="https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token",
        device_form={"client_id": CLIENT_ID, "scope": "User.Read offline_access"},
        poll_form=rfc_poll(),
        scopes=("User.Read", "offline_access"),
        params={"tenant": "contoso.onmicrosoft.com"},
    )


# https://developers.google.com/identity/protocols/oauth2/limited-input-device
@pytest.fixture
def google() -> Case:
    return Case(
        "google",
        server={**dialect("google"), "client_secret": SECRET},
        device_url="https://oauth2.googleapis.com/device/code",
        token_url="https://oauth2.googleapis.com/token",
        # The core sends a body secret with both requests; Google needs it when polling.
        device_form={"client_id": CLIENT_ID, "client_secret": SECRET, "scope": "openid email"},
        poll_form=rfc_poll(client_secret=SECRET),
        scopes=("openid", "email"),
        params={"client_secret": SECRET},
    )


# https://auth0.com/docs/get-started/authentication-and-authorization-flow/device-authorization-flow/call-your-api-using-the-device-authorization-flow
@pytest.fixture
def auth0() -> Case:
    return Case(
        "auth0",
        # Same docs: pending, denied and expired come with 403, slow_down with 429.
        server={
            **dialect("auth0", domain="example.us.auth0.com"),
            "required_device_params": {"audience": "https://api.example.com"},
        },
        device_url="https://example.us.auth0.com/oauth/device/code",
        token_url="https://example.us.auth0.com/oauth/token",
        device_form={
            "client_id": CLIENT_ID,
            "scope": "openid offline_access",
            "audience": "https://api.example.com",
        },
        poll_form=rfc_poll(),
        scopes=("openid", "offline_access"),
        params={"domain": "example.us.auth0.com", "audience": "https://api.example.com"},
    )


# https://developer.okta.com/docs/guides/device-authorization-grant/main/
@pytest.fixture
def okta() -> Case:
    return Case(
        "okta",
        server=dialect("okta", domain="example.okta.com"),
        device_url="https://example.okta.com/oauth2/default/v1/device/authorize",
        token_url="https://example.okta.com/oauth2/default/v1/token",
        device_form={"client_id": CLIENT_ID, "scope": "openid profile offline_access"},
        poll_form=rfc_poll(),
        scopes=("openid", "profile", "offline_access"),
        params={"domain": "example.okta.com"},
    )


# https://www.keycloak.org/securing-apps/oidc-layers (device authorization endpoint)
@pytest.fixture
def keycloak() -> Case:
    return Case(
        "keycloak",
        # A confidential client; the secret goes in the body.
        server={
            **dialect("keycloak", base_url="https://sso.example.com", realm="acme"),
            "client_secret": SECRET,
        },
        device_url="https://sso.example.com/realms/acme/protocol/openid-connect/auth/device",
        token_url="https://sso.example.com/realms/acme/protocol/openid-connect/token",
        device_form={"client_id": CLIENT_ID, "client_secret": SECRET, "scope": "openid"},
        poll_form=rfc_poll(client_secret=SECRET),
        scopes=("openid",),
        params={"base_url": "https://sso.example.com", "realm": "acme", "client_secret": SECRET},
    )


# https://zitadel.com/docs/guides/integrate/login/oidc/device-authorization
@pytest.fixture
def zitadel() -> Case:
    return Case(
        "zitadel",
        server=dialect("zitadel", domain="example.zitadel.cloud"),
        device_url="https://example.zitadel.cloud/oauth/v2/device_authorization",
        token_url="https://example.zitadel.cloud/oauth/v2/token",
        device_form={"client_id": CLIENT_ID, "scope": "openid"},
        poll_form=rfc_poll(),
        scopes=("openid",),
        params={"domain": "https://example.zitadel.cloud/"},
    )


# https://docs.goauthentik.io/add-secure-apps/providers/oauth2/device_code/
@pytest.fixture
def authentik() -> Case:
    return Case(
        "authentik",
        server=dialect("authentik", base_url="https://auth.example.com"),
        device_url="https://auth.example.com/application/o/device/",
        token_url="https://auth.example.com/application/o/token/",
        device_form={"client_id": CLIENT_ID, "scope": "openid"},
        poll_form=rfc_poll(),
        scopes=("openid",),
        params={"base_url": "https://auth.example.com"},
    )


# https://www.ory.sh/docs/oauth2-oidc/device-authorization
@pytest.fixture
def ory() -> Case:
    return Case(
        "ory",
        server=dialect("ory", base_url="https://example.projects.oryapis.com"),
        device_url="https://example.projects.oryapis.com/oauth2/device/auth",
        token_url="https://example.projects.oryapis.com/oauth2/token",
        device_form={"client_id": CLIENT_ID, "scope": "openid offline_access"},
        poll_form=rfc_poll(),
        scopes=("openid", "offline_access"),
        params={"base_url": "https://example.projects.oryapis.com"},
    )


# ory/hydra client/client.go: a confidential client's token_endpoint_auth_method defaults to
# client_secret_basic.
@pytest.fixture
def ory_confidential(ory: Case) -> Case:
    server = dict(ory.server, client_secret=SECRET, client_auth="basic")
    return Case(
        "ory",
        server=server,
        device_url=ory.device_url,
        token_url=ory.token_url,
        device_form=ory.device_form,
        poll_form=rfc_poll(),
        scopes=ory.scopes,
        params={**ory.params, "client_secret": SECRET},
        basic=(CLIENT_ID, SECRET),
    )


# https://huggingface.co/docs/hub/oauth#device-code-oauth (a public app: no secret)
@pytest.fixture
def huggingface() -> Case:
    return Case(
        "huggingface",
        server=dialect("huggingface"),
        device_url="https://huggingface.co/oauth/device",
        token_url="https://huggingface.co/oauth/token",
        device_form={"client_id": CLIENT_ID, "scope": "openid profile"},
        poll_form=rfc_poll(),
        scopes=("openid", "profile"),
    )


# Same docs: "For apps with a secret, add an Authorization: Basic header ... to both the device
# and token requests."
@pytest.fixture
def huggingface_with_secret(huggingface: Case) -> Case:
    server = dict(huggingface.server, client_secret=SECRET, client_auth="basic")
    return Case(
        "huggingface",
        server=server,
        device_url=huggingface.device_url,
        token_url=huggingface.token_url,
        device_form={"client_id": CLIENT_ID, "scope": "openid"},
        poll_form=rfc_poll(),
        scopes=("openid",),
        params={"client_secret": SECRET},
        basic=(CLIENT_ID, SECRET),
    )


# https://dev.twitch.tv/docs/authentication/getting-tokens-oauth/#device-code-grant-flow
@pytest.fixture
def twitch() -> Case:
    return Case(
        "twitch",
        # https://github.com/twitchdev/issues/issues/975: errors are HTTP 400 with the code
        # in "message" beside "status", and no "error" field.
        server=dialect("twitch"),
        device_url="https://id.twitch.tv/oauth2/device",
        token_url="https://id.twitch.tv/oauth2/token",
        device_form={"client_id": CLIENT_ID, "scopes": "user:read:chat chat:edit"},
        poll_form=rfc_poll(),
        scopes=("user:read:chat", "chat:edit"),
        token_scope="user:read:chat chat:edit",
    )


# https://developer.amazon.com/docs/login-with-amazon/retrieve-code-other-platforms-cbl-docs.html
# https://developer.amazon.com/docs/login-with-amazon/retrieve-token-other-platforms-cbl-docs.html
@pytest.fixture
def amazon() -> Case:
    return Case(
        "amazon",
        server=dialect("amazon"),
        device_url="https://api.amazon.com/auth/o2/create/codepair",
        token_url="https://api.amazon.com/auth/o2/token",
        device_form={"client_id": CLIENT_ID, "scope": "profile", "response_type": "device_code"},
        poll_form={
            "grant_type": "device_code",
            "device_code": DEVICE_CODE,
            "user_code": USER_CODE,
            "client_id": CLIENT_ID,
        },
        scopes=("profile",),
    )


# https://yandex.com/dev/id/doc/en/codes/screen-code-oauth
@pytest.fixture
def yandex() -> Case:
    return Case(
        "yandex",
        server={**dialect("yandex"), "client_secret": SECRET},
        device_url="https://oauth.yandex.com/device/code",
        token_url="https://oauth.yandex.com/token",
        device_form={"client_id": CLIENT_ID, "client_secret": SECRET, "scope": "login:email"},
        poll_form={
            "grant_type": "device_code",
            "code": DEVICE_CODE,
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
        },
        scopes=("login:email",),
        params={"client_secret": SECRET},
    )


# https://developers.zoom.us/docs/integrations/oauth/#using-device-authorization
# zoom/skills skills/oauth/concepts/oauth-flows.md: the device request carries client_id in the
# body and no Basic header; the polls authenticate with HTTP Basic.
@pytest.fixture
def zoom() -> Case:
    return Case(
        "zoom",
        server={**dialect("zoom"), "client_secret": SECRET},
        device_url="https://zoom.us/oauth/devicecode",
        token_url="https://zoom.us/oauth/token",
        device_form={"client_id": CLIENT_ID},
        poll_form=rfc_poll(),
        params={"client_secret": SECRET},
        basic=(CLIENT_ID, SECRET),
        basic_on_device_request=False,
    )
