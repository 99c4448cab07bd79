"""How the fake server stands in for each service loctocat's providers know, as data.

Each entry is the `FakeAuthorizationServer` options that make it answer as the service's own
documentation (and, where that is silent, its trackers) shows, with `{placeholders}` for the
service's parameters (a tenant, a domain, a realm) and their defaults. The sources are those of
`loctocat.predefined`: `catalogue()` lists them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DIALECTS", "Dialect", "dialect"]


@dataclass(frozen=True)
class Dialect:
    """The fake server's options for one service; strings may hold `{parameter}`s."""

    options: Mapping[str, Any]
    #: The service's parameters and their defaults (None: required).
    parameters: Mapping[str, str | None] = field(default_factory=dict)


_MICROSOFT_TENANT = "/{tenant}/oauth2/v2.0"
_OKTA_SERVER = "/oauth2/{authorization_server}/v1"
_KEYCLOAK_REALM = "/realms/{realm}/protocol/openid-connect"

DIALECTS: Mapping[str, Dialect] = {
    "github": Dialect(
        {
            "base_url": "https://{host}",
            "device_path": "/login/device/code",
            "token_path": "/login/oauth/access_token",
            "verification_path": "/login/device",
            "verification_uri_complete": False,
            "errors_with_status_200": True,
            "form_encoded_unless_json": True,
            "slow_down_sends_interval": True,
            "error_codes": {
                "invalid_client": "incorrect_client_credentials",
                "invalid_grant": "incorrect_device_code",
            },
            "refresh_error_codes": {"invalid_grant": "bad_refresh_token"},
        },
        {"host": "github.com"},
    ),
    "gitlab": Dialect(
        {
            "base_url": "{base_url}",
            "device_path": "/oauth/authorize_device",
            "token_path": "/oauth/token",
            "verification_path": "/oauth/device",
            "extra_token_fields": {"created_at": 1_700_000_000},
        },
        {"base_url": "https://gitlab.com"},
    ),
    "microsoft": Dialect(
        {
            "base_url": "https://login.microsoftonline.com",
            "device_path": _MICROSOFT_TENANT + "/devicecode",
            "token_path": _MICROSOFT_TENANT + "/token",
            "verification_path": "/common/oauth2/deviceauth",
            "verification_uri_complete": False,
            # ID tokens name the user's own tenant; keys under each tenant's path.
            "issuer": "https://login.microsoftonline.com/{{tenantid}}/v2.0",
            "jwks_path": "/{tenant}/discovery/v2.0/keys",
            "user": {
                "sub": "fake-user-1",
                "name": "Fake User",
                "preferred_username": "fakeuser@example.test",
                "tid": "9188040d-6c67-4c5b-b112-36a304b66dad",
            },
            "extra_device_fields": {"message": "To sign in, use a web browser to open ..."},
            "error_codes": {
                "access_denied": "authorization_declined",
                "invalid_grant": "bad_verification_code",
            },
        },
        {"tenant": "common"},
    ),
    "google": Dialect(
        {
            "base_url": "https://oauth2.googleapis.com",
            "device_path": "/device/code",
            "token_path": "/token",
            "verification_field": "verification_url",
            "verification_uri_complete": False,
            "issuer": "https://accounts.google.com",
            "jwks_path": "/oauth2/v3/certs",
            "client_auth": "body",
            "secret_on_device_request": False,
        }
    ),
    "auth0": Dialect(
        {
            "base_url": "https://{domain}",
            "issuer": "https://{domain}/",  # with the slash, as Auth0's tokens name it
            "device_path": "/oauth/device/code",
            "token_path": "/oauth/token",
            "verification_path": "/activate",
            "error_statuses": {
                "authorization_pending": 403,
                "access_denied": 403,
                "expired_token": 403,
                "slow_down": 429,
            },
        },
        {"domain": None},
    ),
    "okta": Dialect(
        {
            "base_url": "https://{domain}",
            "issuer": "https://{domain}/oauth2/{authorization_server}",
            "device_path": _OKTA_SERVER + "/device/authorize",
            "token_path": _OKTA_SERVER + "/token",
            "verification_path": "/activate",
        },
        {"domain": None, "authorization_server": "default"},
    ),
    "keycloak": Dialect(
        {
            "base_url": "{base_url}",
            "issuer": "{base_url}/realms/{realm}",
            "device_path": _KEYCLOAK_REALM + "/auth/device",
            "token_path": _KEYCLOAK_REALM + "/token",
            "client_auth": "body",
        },
        {"base_url": None, "realm": None},
    ),
    "zitadel": Dialect(
        {
            "base_url": "https://{domain}",
            "device_path": "/oauth/v2/device_authorization",
            "token_path": "/oauth/v2/token",
        },
        {"domain": None},
    ),
    "authentik": Dialect(
        {
            "base_url": "{base_url}",
            "device_path": "/application/o/device/",
            "token_path": "/application/o/token/",
        },
        {"base_url": None},
    ),
    "ory": Dialect(
        {
            "base_url": "{base_url}",
            "device_path": "/oauth2/device/auth",
            "token_path": "/oauth2/token",
            "client_auth": "basic",
        },
        {"base_url": None},
    ),
    "huggingface": Dialect(
        {
            "base_url": "https://huggingface.co",
            "device_path": "/oauth/device",
            "token_path": "/oauth/token",
            "client_auth": "basic",
        }
    ),
    "twitch": Dialect(
        {
            "base_url": "https://id.twitch.tv",
            "device_path": "/oauth2/device",
            "token_path": "/oauth2/token",
            "verification_path": "/activate",
            "scope_param": "scopes",
            "scope_as_list": True,
            "error_field": "message",
            "refresh_error_codes": {"invalid_grant": "Invalid refresh token"},
        }
    ),
    "amazon": Dialect(
        {
            "base_url": "https://api.amazon.com",
            "device_path": "/auth/o2/create/codepair",
            "token_path": "/auth/o2/token",
            "verification_uri_complete": False,
            "grant_type": "device_code",
            "poll_code_fields": ["user_code"],
            "required_device_params": {"response_type": "device_code"},
        }
    ),
    "yandex": Dialect(
        {
            "base_url": "https://oauth.yandex.com",
            "device_path": "/device/code",
            "token_path": "/token",
            "verification_field": "verification_url",
            "verification_uri_complete": False,
            "grant_type": "device_code",
            "device_code_param": "code",
            "client_auth": "body",
            "secret_on_device_request": False,
        }
    ),
    "zoom": Dialect(
        {
            "base_url": "https://zoom.us",
            "device_path": "/oauth/devicecode",
            "token_path": "/oauth/token",
            "verification_path": "/oauth_device",
            "client_auth": "basic",
            "secret_on_device_request": False,
        }
    ),
}


def dialect(service: str, **parameters: str) -> dict[str, Any]:
    """The `FakeAuthorizationServer` options that imitate `service`, its parameters filled in.

    Raises ValueError for an unknown service, a missing parameter or an unknown one.
    """
    entry = DIALECTS.get(service)
    if entry is None:
        raise ValueError(f"no dialect for {service!r}; known: {', '.join(sorted(DIALECTS))}")
    unknown = sorted(set(parameters) - set(entry.parameters))
    if unknown:
        known = ", ".join(entry.parameters) or "none"
        raise ValueError(f"{service} takes no {', '.join(unknown)} (its parameters: {known})")
    values = {name: parameters.get(name, default) for name, default in entry.parameters.items()}
    if values.get("base_url"):
        values["base_url"] = str(values["base_url"]).rstrip("/")
    missing = [name for name, value in values.items() if value is None]
    if missing:
        raise ValueError(f"imitating {service} needs {', '.join(missing)}=...")
    filled: dict[str, Any] = {}
    for option, value in entry.options.items():
        filled[option] = value.format_map(values) if isinstance(value, str) else value
    if "base_url" in filled:
        filled["base_url"] = filled["base_url"].rstrip("/")
    return filled
