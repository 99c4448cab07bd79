"""The provider data: catalogue, look-up, parameters and their checks, the 1.0-style classes."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest
from provider_cases import CLASSES, CLIENT_ID

from loctocat import AsyncAuthenticator, Authenticator, ConfigurationError, Quirks
from loctocat import predefined as p

#: name -> (required parameters, optional parameters with defaults, client secret, client_auth),
#: as the services' documentation says.
EXPECTED = {
    "amazon": ([], {}, "none", "body"),
    "auth0": (["domain"], {"audience": ""}, "none", "body"),
    "authentik": (["base_url"], {}, "optional", "body"),
    "github": ([], {"host": "github.com"}, "none", "body"),
    "gitlab": ([], {"base_url": "https://gitlab.com"}, "optional", "body"),
    "google": ([], {}, "required", "body"),
    "huggingface": ([], {}, "optional", "basic"),
    "keycloak": (["base_url", "realm"], {}, "optional", "body"),
    "microsoft": ([], {"tenant": "common"}, "none", "body"),
    "okta": (["domain"], {"authorization_server": "default"}, "none", "body"),
    "ory": (["base_url"], {}, "optional", "basic"),
    "twitch": ([], {}, "optional", "body"),
    "yandex": ([], {}, "required", "body"),
    "zitadel": (["domain"], {}, "optional", "body"),
    "zoom": ([], {}, "required", "basic"),
}

#: Values for the required parameters, to build every provider.
REQUIRED_VALUES = {
    "domain": "example.test",
    "base_url": "https://sso.example.test",
    "realm": "acme",
}


def test_the_catalogue_lists_every_provider_with_what_it_needs() -> None:
    entries = p.catalogue()
    assert [e["name"] for e in entries] == sorted(EXPECTED)
    for entry in entries:
        required, optional, secret, client_auth = EXPECTED[entry["name"]]
        assert entry["required_parameters"] == required, entry["name"]
        assert entry["optional_parameters"] == optional, entry["name"]
        assert entry["client_secret"] == secret, entry["name"]
        assert entry["client_auth"] == client_auth, entry["name"]
        assert entry["docs_url"].startswith("https://")
        assert entry["title"]
        assert entry["description"].endswith(".")
        assert entry["verified"]
        assert set(entry) >= {"name", "title", "description", "refresh"}


def test_the_catalogue_is_plain_data() -> None:
    import json

    assert json.loads(json.dumps(p.catalogue())) == p.catalogue()


def test_providers_are_read_only_and_sorted() -> None:
    assert [provider.name for provider in p.providers()] == sorted(p.PROVIDERS)
    with pytest.raises(TypeError):
        p.PROVIDERS["evil"] = p.GITHUB  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.GITHUB.token_url = "https://evil.example/token"  # type: ignore[misc]
    with pytest.raises(TypeError):
        p.AMAZON.device_params["response_type"] = "code"  # type: ignore[index]


def test_get_provider() -> None:
    assert p.get_provider("github") is p.GITHUB
    assert p.get_provider(" Microsoft ") is p.MICROSOFT
    with pytest.raises(ConfigurationError, match="unknown provider 'bitbucket'") as caught:
        p.get_provider("bitbucket")
    for name in EXPECTED:
        assert name in str(caught.value)


def test_a_template_with_an_unknown_placeholder_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\{tenant\}"):
        p.Provider(
            name="x",
            title="X",
            description="x.",
            docs_url="https://x.test",
            device_authorization_url="https://{tenant}/device",
            token_url="https://x.test/token",
        )


# --- Parameters ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_provider_builds_with_its_required_values(name: str) -> None:
    provider = p.get_provider(name)
    values: dict[str, Any] = {q.name: REQUIRED_VALUES[q.name] for q in provider.required_parameters}
    if provider.client_secret == "required":
        values["client_secret"] = "secret"
    auth = provider.authenticator(CLIENT_ID, ["a"], **values)
    assert type(auth) is Authenticator
    assert auth.auth_url.startswith("https://")
    assert auth.token_url.startswith("https://")
    assert auth.quirks is provider.quirks
    assert "{" not in auth.auth_url + auth.token_url + str(auth.issuer) + str(auth.revocation_url)
    async_auth = provider.authenticator(CLIENT_ID, ["a"], asynchronous=True, **values)
    assert isinstance(async_auth, AsyncAuthenticator)
    assert async_auth.auth_url == auth.auth_url


@pytest.mark.parametrize(
    ("name", "missing", "what"),
    [
        ("auth0", "domain", "Auth0 tenant's domain"),
        ("okta", "domain", "Okta domain"),
        ("keycloak", "base_url", "Keycloak server's URL"),
        ("zitadel", "domain", "instance's domain"),
        ("authentik", "base_url", "authentik server's URL"),
        ("ory", "base_url", "Ory project"),
        ("google", "client_secret", "client secret"),
        ("yandex", "client_secret", "client secret"),
        ("zoom", "client_secret", "client secret"),
    ],
)
def test_a_missing_required_parameter_is_named_and_explained(
    name: str, missing: str, what: str
) -> None:
    provider = p.get_provider(name)
    with pytest.raises(ConfigurationError) as caught:
        provider.authenticator(CLIENT_ID)
    message = str(caught.value)
    assert f"needs {missing}=" in message
    assert what in message
    assert provider.docs_url in message


def test_keycloak_needs_the_realm_too() -> None:
    with pytest.raises(ConfigurationError, match=r"needs realm=\.\.\.: the realm's name"):
        p.KEYCLOAK.authenticator(CLIENT_ID, base_url="https://sso.example.com")


def test_an_unknown_keyword_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ConfigurationError) as caught:
        p.OKTA.authenticator(CLIENT_ID, domian="example.okta.com")
    message = str(caught.value)
    assert "'domian'" in message
    assert "authorization_server, domain" in message
    assert "device_params" in message
    with pytest.raises(ConfigurationError, match="'tennant'"):
        p.MicrosoftAuthenticator(CLIENT_ID, tennant="x")


def test_extra_device_request_parameters_go_in_device_params() -> None:
    auth = p.YANDEX.authenticator(
        CLIENT_ID, client_secret="s", device_params={"device_id": "tv-1", "device_name": "TV"}
    )
    assert auth.extras == {"device_id": "tv-1", "device_name": "TV"}
    amazon = p.AMAZON.authenticator(CLIENT_ID, ["profile"])
    assert amazon.extras == {"response_type": "device_code"}
    with pytest.raises(ConfigurationError, match="device_params"):
        p.AMAZON.authenticator(CLIENT_ID, device_params={"x": 1})


def test_optional_device_parameter_is_left_out_when_not_given() -> None:
    assert p.AUTH0.authenticator(CLIENT_ID, domain="x.auth0.com").extras == {}
    with_audience = p.AUTH0.authenticator(CLIENT_ID, domain="x.auth0.com", audience="api")
    assert with_audience.extras == {"audience": "api"}


@pytest.mark.parametrize(
    ("name", "values", "message"),
    [
        ("okta", {"domain": "example.okta.com/oauth2"}, "must be a host name"),
        ("okta", {"domain": "http://example.okta.com"}, "must be a host name"),
        ("okta", {"domain": "user@example.okta.com"}, "must be a host name"),
        ("okta", {"domain": "example.okta.com:99999"}, "invalid port"),
        ("okta", {"domain": ""}, "cannot be empty"),
        ("okta", {"domain": "x.okta.com", "authorization_server": "a/b"}, "single path segment"),
        ("microsoft", {"tenant": "common?x=1"}, "single path segment"),
        ("github", {"host": "github.example.com/api"}, "must be a host name"),
        ("keycloak", {"base_url": "sso.example.com", "realm": "a"}, "must be an https:// URL"),
        ("keycloak", {"base_url": "https://sso.test?x=1", "realm": "a"}, "plain https:// URL"),
        ("keycloak", {"base_url": "https://u:p@sso.test", "realm": "a"}, "plain https:// URL"),
        ("gitlab", {"base_url": "http://gitlab.example.com"}, "plain http:// for the remote"),
        ("gitlab", {"base_url": 42}, "must be a string"),
    ],
)
def test_malformed_values_are_refused_before_anything_is_sent(
    name: str, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        p.get_provider(name).authenticator(CLIENT_ID, **values)


def test_values_are_normalised() -> None:
    gitlab = p.GITLAB.authenticator(CLIENT_ID, base_url="https://gitlab.example.com/ ")
    assert gitlab.auth_url == "https://gitlab.example.com/oauth/authorize_device"
    zitadel = p.ZITADEL.authenticator(CLIENT_ID, domain="https://example.zitadel.cloud/")
    assert zitadel.token_url == "https://example.zitadel.cloud/oauth/v2/token"
    local = p.KEYCLOAK.authenticator(CLIENT_ID, base_url="http://localhost:8080", realm="dev")
    assert local.auth_url.startswith("http://localhost:8080/realms/dev/")


def test_the_callers_options_win_over_the_providers() -> None:
    mine = Quirks(scope_param="scope")
    auth = p.TWITCH.authenticator(CLIENT_ID, quirks=mine, client_secret="s")
    assert auth.quirks is mine
    assert auth.client_secret == "s"
    assert auth.client_auth == "body"


def test_http_basic_only_with_a_secret() -> None:
    assert p.HUGGING_FACE.authenticator(CLIENT_ID).client_auth == "body"
    assert p.HUGGING_FACE.authenticator(CLIENT_ID, client_secret="s").client_auth == "basic"
    assert p.ZoomAuthenticator(CLIENT_ID, "s").client_auth == "basic"


# --- The 1.0-style classes -------------------------------------------------------------------


def test_github_authenticator_keeps_its_1_0_signature_and_behaviour() -> None:
    github = p.GitHubAuthenticator("Iv1.abc", ["repo"])
    assert (github.auth_url, github.token_url, github.scopes) == (
        "https://github.com/login/device/code",
        "https://github.com/login/oauth/access_token",
        ["repo"],
    )
    assert list(inspect.signature(p.GitHubAuthenticator).parameters)[:2] == ["client_id", "scopes"]
    # loctocat 1.0 sent unknown keywords with the device request; GitHubAuthenticator still does.
    assert p.GitHubAuthenticator("Iv1.abc", login="octocat").extras == {"login": "octocat"}
    ghes = p.GitHubAuthenticator("Iv1.abc", host="github.example.com", timeout=30)
    assert ghes.token_url == "https://github.example.com/login/oauth/access_token"
    assert ghes.timeout == 30


def test_the_classes_with_positional_extras() -> None:
    ms = p.MicrosoftAuthenticator(CLIENT_ID, ["User.Read"], "organizations")
    assert ms.auth_url == "https://login.microsoftonline.com/organizations/oauth2/v2.0/devicecode"
    google = p.GoogleAuthenticator(CLIENT_ID, "secret", ["openid"])
    assert (google.client_secret, google.scopes) == ("secret", ["openid"])
    yandex = p.YandexAuthenticator(CLIENT_ID, "secret")
    assert yandex.quirks.device_code_param == "code"


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_each_class_and_its_async_twin_follow_the_provider(name: str) -> None:
    sync_cls, async_cls = CLASSES[name]
    provider = p.get_provider(name)
    assert sync_cls.provider is provider  # type: ignore[attr-defined]
    assert issubclass(async_cls, sync_cls)
    assert issubclass(async_cls, AsyncAuthenticator)
    assert not issubclass(sync_cls, AsyncAuthenticator)
    assert provider.docs_url in (sync_cls.__doc__ or "")
    values: dict[str, Any] = {q.name: REQUIRED_VALUES[q.name] for q in provider.required_parameters}
    if provider.client_secret == "required":
        values["client_secret"] = "secret"
    expected = provider.authenticator(CLIENT_ID, ["a"], **values)
    for cls in (sync_cls, async_cls):
        auth = cls(CLIENT_ID, scopes=["a"], **values)
        assert isinstance(auth, Authenticator)
        assert (auth.auth_url, auth.token_url) == (expected.auth_url, expected.token_url)
        assert (auth.quirks, auth.client_auth) == (expected.quirks, expected.client_auth)
        assert (auth.issuer, auth.revocation_url) == (expected.issuer, expected.revocation_url)
    assert isinstance(async_cls(CLIENT_ID, scopes=["a"], **values), AsyncAuthenticator)


def test_async_github_authenticator_is_an_async_authenticator() -> None:
    assert isinstance(p.AsyncGitHubAuthenticator("Iv1.abc"), AsyncAuthenticator)


def test_all_is_complete() -> None:
    # Defined here, or in the private modules whose names this one re-exports.
    homes = {p.__name__, "loctocat._provider", "loctocat._services", "loctocat._models"}
    public = {
        name
        for name, value in vars(p).items()
        if not name.startswith("_")
        and getattr(value, "__module__", p.__name__) in homes
        and (inspect.isclass(value) or inspect.isfunction(value) or isinstance(value, p.Provider))
    }
    public |= {"PROVIDERS", "SecretRequirement", "ParameterKind", "SourceKind"}
    assert set(p.__all__) == public
    for name in p.__all__:
        assert hasattr(p, name)
    assert set(CLASSES) == set(p.PROVIDERS)


# --- The README table ----------------------------------------------------------------------


def readme_table() -> str:
    """The README's provider table, rendered from `catalogue()` and the classes' signatures."""
    rows = [
        "| Provider | Create it with | Parameters | Notes |",
        "|---|---|---|---|",
    ]
    for entry in p.catalogue():
        cls = getattr(p, entry["authenticator_class"])
        positional = [
            name
            for name, parameter in inspect.signature(cls).parameters.items()
            if parameter.kind is parameter.POSITIONAL_OR_KEYWORD
        ]
        keywords = [f"{name}=..." for name in entry["required_parameters"]]
        create = f"`{cls.__name__}({', '.join(positional + keywords)})`"
        params = [f"`{name}`" for name in entry["required_parameters"]]
        params += [
            f"`{name}` (default `{default!r}`)" if default else f"`{name}` (optional)"
            for name, default in entry["optional_parameters"].items()
        ]
        secret = entry["client_secret"]
        if secret != "none":
            how = "HTTP Basic" if entry["client_auth"] == "basic" else "in the body"
            params.append(f"`client_secret` ({secret}, {how})")
        notes = f"refresh: {entry['refresh']}"
        if entry["unverified"]:
            notes += "; no source found for: " + "; ".join(entry["unverified"])
        title = f"[{entry['title']}]({entry['docs_url']})"
        rows.append(f"| {title} | {create} | {', '.join(params) or '-'} | {notes} |")
    return "\n".join(rows)


def test_the_readme_table_is_generated_from_the_catalogue() -> None:
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Providers", 1)[1].split("\n## ", 1)[0]
    regenerate = "regenerate it: python tests/providers/test_provider_catalogue.py"
    assert readme_table() in section, regenerate
    assert readme.index("## Providers") < readme.index("## Advanced usage")


if __name__ == "__main__":
    print(readme_table())
