"""Services that offer the device flow, described as data, and authenticators built from them.

```python
from loctocat.predefined import GitHubAuthenticator, get_provider

token = GitHubAuthenticator("Iv1.0123456789abcdef", ["repo"]).authenticate()

# The same from the data, for any service in PROVIDERS:
entra = get_provider("microsoft").authenticator("your-client-id", ["User.Read"], tenant="common")
```

Each `Provider` names its endpoints as URL templates (`{tenant}`, `{domain}`, ...), the
parameters that fill them, whether a client secret is needed and how it is sent, how the
service departs from RFC 8628 as a `loctocat.Quirks` value, which the core interprets, and the
sources of these facts. Nothing here special-cases a service at run time. `catalogue()` lists
them as plain dicts. Each provider also has a class in the loctocat 1.0 style
(`GitHubAuthenticator`, ...) and an async twin (`AsyncGitHubAuthenticator`, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from loctocat._provider import (
    ParameterKind,
    Provider,
    ProviderParameter,
    SecretRequirement,
    Source,
    SourceKind,
    WhoAmI,
    _Scopes,
)
from loctocat._services import (
    AMAZON,
    AUTH0,
    AUTHENTIK,
    GITHUB,
    GITLAB,
    GOOGLE,
    HUGGING_FACE,
    KEYCLOAK,
    MICROSOFT,
    OKTA,
    ORY,
    SERVICES,
    TWITCH,
    YANDEX,
    ZITADEL,
    ZOOM,
)
from loctocat.auth import AsyncAuthenticator, Authenticator
from loctocat.errors import ConfigurationError

__all__ = [
    "AMAZON",
    "AUTH0",
    "AUTHENTIK",
    "GITHUB",
    "GITLAB",
    "GOOGLE",
    "HUGGING_FACE",
    "KEYCLOAK",
    "MICROSOFT",
    "OKTA",
    "ORY",
    "PROVIDERS",
    "TWITCH",
    "YANDEX",
    "ZITADEL",
    "ZOOM",
    "AmazonAuthenticator",
    "AsyncAmazonAuthenticator",
    "AsyncAuth0Authenticator",
    "AsyncAuthentikAuthenticator",
    "AsyncGitHubAuthenticator",
    "AsyncGitLabAuthenticator",
    "AsyncGoogleAuthenticator",
    "AsyncHuggingFaceAuthenticator",
    "AsyncKeycloakAuthenticator",
    "AsyncMicrosoftAuthenticator",
    "AsyncOktaAuthenticator",
    "AsyncOryAuthenticator",
    "AsyncTwitchAuthenticator",
    "AsyncYandexAuthenticator",
    "AsyncZitadelAuthenticator",
    "AsyncZoomAuthenticator",
    "Auth0Authenticator",
    "AuthentikAuthenticator",
    "GitHubAuthenticator",
    "GitLabAuthenticator",
    "GoogleAuthenticator",
    "HuggingFaceAuthenticator",
    "KeycloakAuthenticator",
    "MicrosoftAuthenticator",
    "OktaAuthenticator",
    "OryAuthenticator",
    "ParameterKind",
    "Provider",
    "ProviderAuthenticator",
    "ProviderParameter",
    "SecretRequirement",
    "Source",
    "SourceKind",
    "TwitchAuthenticator",
    "WhoAmI",
    "YandexAuthenticator",
    "ZitadelAuthenticator",
    "ZoomAuthenticator",
    "catalogue",
    "get_provider",
    "providers",
]

PROVIDERS: Mapping[str, Provider] = MappingProxyType({p.name: p for p in SERVICES})
"""Every predefined provider by name (read-only)."""


def providers() -> list[Provider]:
    """Every predefined provider, sorted by name."""
    return [PROVIDERS[name] for name in sorted(PROVIDERS)]


def get_provider(name: str) -> Provider:
    """The provider called `name` (case-insensitive); unknown names raise `ConfigurationError`."""
    provider = PROVIDERS.get(name.strip().lower()) if isinstance(name, str) else None
    if provider is None:
        raise ConfigurationError(
            f"unknown provider {name!r}; known providers: {', '.join(sorted(PROVIDERS))}"
        )
    return provider


def catalogue() -> list[dict[str, Any]]:
    """Every provider as a plain, JSON-ready dict, sorted by name: for the CLI and the docs.

    Keys: name, title, description, docs_url, required_parameters (list of names),
    optional_parameters (name -> default), client_secret ("none" | "optional" | "required"),
    client_auth, refresh, verified (the sources: a list of {"source", "backs", "kind"}),
    unverified (the facts no source backs), who_am_i ({"url", "scheme", "name_field",
    "subject_field"} or None), git ({"host", "username"}: where `loctocat setup-git` points
    git, the host as a template, or None), authenticator_class (the name of its class here, e.g.
    "GitHubAuthenticator"; "Async" + that name is the async twin).
    """
    return [
        {
            "name": p.name,
            "title": p.title,
            "description": p.description,
            "docs_url": p.docs_url,
            "required_parameters": [q.name for q in p.required_parameters],
            "optional_parameters": {q.name: q.default for q in p.optional_parameters},
            "client_secret": p.client_secret,
            "client_auth": p.client_auth,
            "refresh": p.refresh,
            "verified": [
                {"source": source.where, "backs": source.backs, "kind": source.kind}
                for source in p.verified
            ],
            "unverified": list(p.unverified),
            "who_am_i": None
            if p.who_am_i is None
            else {
                "url": p.who_am_i.url,
                "scheme": p.who_am_i.scheme,
                "name_field": p.who_am_i.name_field,
                "subject_field": p.who_am_i.subject_field,
            },
            "git": None if p.git_host is None else {"host": p.git_host, "username": p.git_username},
            "authenticator_class": _CLASS_NAMES.get(p.name),
        }
        for p in providers()
    ]


# --- Classes in the loctocat 1.0 style ------------------------------------------------------


#: Provider name -> the name of its 1.0-style class, filled as the classes are defined.
_CLASS_NAMES: dict[str, str] = {}


class ProviderAuthenticator(Authenticator):
    """An `Authenticator` for one `Provider`: the base of the `...Authenticator` classes.

    Subclasses set `provider`; keyword arguments are the provider's parameters and the
    options of `Authenticator`. The async twins mix in `AsyncAuthenticator` first. A subclass
    without a docstring gets one written from its provider's data.
    """

    provider: ClassVar[Provider]
    #: loctocat 1.0's GitHubAuthenticator sent unknown keywords with the device request.
    _extras_allowed: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        provider = cls.__dict__.get("provider", getattr(cls, "provider", None))
        if not isinstance(provider, Provider):
            return
        if issubclass(cls, AsyncAuthenticator):
            if not cls.__doc__:
                sync = _CLASS_NAMES.get(provider.name, "")
                cls.__doc__ = f"`{sync}` with awaitable methods, for asyncio and trio."
            return
        _CLASS_NAMES.setdefault(provider.name, cls.__name__)
        if not cls.__doc__:
            cls.__doc__ = _docstring(provider, cls)

    def __init__(self, client_id: str, scopes: _Scopes = None, **params_and_options: Any) -> None:
        urls, options = self.provider.resolve(
            params_and_options, extras_allowed=self._extras_allowed
        )
        super().__init__(client_id, *urls, scopes, **options)


class _SecretFirstAuthenticator(ProviderAuthenticator):
    """For services that always need a client secret: it comes second, as in 1.0."""

    def __init__(
        self, client_id: str, client_secret: str, scopes: _Scopes = None, **options: Any
    ) -> None:
        super().__init__(client_id, scopes, client_secret=client_secret, **options)


def _docstring(provider: Provider, cls: type) -> str:
    parameters = [
        f"`{p.name}` ({'required' if p.required else f'default {p.default!r}'}): {p.description}"
        for p in provider.parameters
    ]
    secret = {
        "none": "",
        "optional": "`client_secret` for apps that have one. ",
        "required": "`client_secret` (required). ",
    }[provider.client_secret]
    takes = "; ".join(parameters) + ". " if parameters else ""
    return (
        f"Log in to {provider.title} with the device flow.\n\n"
        f"    {provider.description}\n\n"
        f"    Arguments: `client_id`, `scopes`. {takes}{secret}"
        "Any keyword-only option of `Authenticator` (`http_client`, `timeout`, `store`, ...).\n\n"
        f"    Documentation: {provider.docs_url}\n"
    )


class GitHubAuthenticator(ProviderAuthenticator):
    """Log in to GitHub (or GitHub Enterprise Server with `host=`) with the device flow.

    Enable "Device Flow" in your OAuth app's or GitHub App's settings first; no client secret
    is needed.

    Args:
        client_id: your OAuth app's or GitHub App's client ID.
        scopes: OAuth app scopes such as ["repo"] (GitHub Apps ignore them).
        **options: `host="github.example.com"` for GitHub Enterprise Server, and any
            keyword-only option of `Authenticator` (http_client, timeout, ...).

    Documentation: https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps#device-flow
    """

    provider = GITHUB
    _extras_allowed = True


class MicrosoftAuthenticator(ProviderAuthenticator):
    provider = MICROSOFT

    def __init__(
        self, client_id: str, scopes: _Scopes = None, tenant: str = "common", **options: Any
    ) -> None:
        super().__init__(client_id, scopes, tenant=tenant, **options)


class GitLabAuthenticator(ProviderAuthenticator):
    provider = GITLAB


class GoogleAuthenticator(_SecretFirstAuthenticator):
    provider = GOOGLE


class Auth0Authenticator(ProviderAuthenticator):
    provider = AUTH0


class OktaAuthenticator(ProviderAuthenticator):
    provider = OKTA


class KeycloakAuthenticator(ProviderAuthenticator):
    provider = KEYCLOAK


class ZitadelAuthenticator(ProviderAuthenticator):
    provider = ZITADEL


class AuthentikAuthenticator(ProviderAuthenticator):
    provider = AUTHENTIK


class OryAuthenticator(ProviderAuthenticator):
    provider = ORY


class HuggingFaceAuthenticator(ProviderAuthenticator):
    provider = HUGGING_FACE


class TwitchAuthenticator(ProviderAuthenticator):
    provider = TWITCH


class AmazonAuthenticator(ProviderAuthenticator):
    provider = AMAZON


class YandexAuthenticator(_SecretFirstAuthenticator):
    provider = YANDEX


class ZoomAuthenticator(_SecretFirstAuthenticator):
    provider = ZOOM


class AsyncGitHubAuthenticator(AsyncAuthenticator, GitHubAuthenticator): ...


class AsyncGitLabAuthenticator(AsyncAuthenticator, GitLabAuthenticator): ...


class AsyncMicrosoftAuthenticator(AsyncAuthenticator, MicrosoftAuthenticator): ...


class AsyncGoogleAuthenticator(AsyncAuthenticator, GoogleAuthenticator): ...


class AsyncAuth0Authenticator(AsyncAuthenticator, Auth0Authenticator): ...


class AsyncOktaAuthenticator(AsyncAuthenticator, OktaAuthenticator): ...


class AsyncKeycloakAuthenticator(AsyncAuthenticator, KeycloakAuthenticator): ...


class AsyncZitadelAuthenticator(AsyncAuthenticator, ZitadelAuthenticator): ...


class AsyncAuthentikAuthenticator(AsyncAuthenticator, AuthentikAuthenticator): ...


class AsyncOryAuthenticator(AsyncAuthenticator, OryAuthenticator): ...


class AsyncHuggingFaceAuthenticator(AsyncAuthenticator, HuggingFaceAuthenticator): ...


class AsyncTwitchAuthenticator(AsyncAuthenticator, TwitchAuthenticator): ...


class AsyncAmazonAuthenticator(AsyncAuthenticator, AmazonAuthenticator): ...


class AsyncYandexAuthenticator(AsyncAuthenticator, YandexAuthenticator): ...


class AsyncZoomAuthenticator(AsyncAuthenticator, ZoomAuthenticator): ...
