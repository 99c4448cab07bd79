"""The model behind `loctocat.predefined`: a service that offers the device flow, as data.

A `Provider` names its endpoints as URL templates (`{tenant}`, `{domain}`, ...), the
parameters that fill them, whether a client secret is needed and how it is sent, how the service
departs from RFC 8628 (a `Quirks` value the core interprets), and where each fact comes from.
`resolve()` turns a provider and the caller's values into an authenticator's arguments, checking
them first; nothing here special-cases a service at run time.
"""

from __future__ import annotations

import inspect
import string
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import Any, Literal, TypeAlias, overload

from loctocat._flow import RFC_8628, ClientAuth, Quirks
from loctocat._models import WhoAmI
from loctocat.auth import AsyncAuthenticator, Authenticator
from loctocat.errors import ConfigurationError

__all__ = [
    "ParameterKind",
    "Provider",
    "ProviderParameter",
    "SecretRequirement",
    "Source",
    "SourceKind",
    "WhoAmI",
]

_Scopes: TypeAlias = Iterable[str] | str | None

#: Whether a service needs a client secret: never, for some apps (confidential clients), always.
SecretRequirement: TypeAlias = Literal["none", "optional", "required"]

#: Where a parameter's value goes, and so how it is checked:
#: "base_url" an https:// URL the endpoint paths are appended to; "host" a host name (with an
#: optional port) put after https://; "segment" one path segment; "device_param" not in a URL
#: but sent with the device authorization request (e.g. Auth0's audience), only when not empty.
ParameterKind: TypeAlias = Literal["base_url", "host", "segment", "device_param"]


@dataclass(frozen=True, slots=True)
class ProviderParameter:
    """One value a provider needs from you, such as Microsoft's tenant or Auth0's domain.

    `default` None means the parameter is required; "" means optional and left out when not
    given (only for `device_param`).
    """

    name: str
    description: str
    default: str | None = None
    kind: ParameterKind = "segment"

    @property
    def required(self) -> bool:
        """True when there is no default: the provider cannot be used without it."""
        return self.default is None


#: What kind of source backs a fact: the service's own documentation, its own code or
#: repositories, a widely used client, or an issue tracker thread.
SourceKind: TypeAlias = Literal["docs", "code", "client", "issue"]


@dataclass(frozen=True, slots=True)
class Source:
    """Where facts about a service come from: a URL, or ``owner/repo path`` in a repository."""

    where: str
    #: The facts it backs, e.g. "endpoints, error codes".
    backs: str
    kind: SourceKind = "docs"


@dataclass(frozen=True, slots=True)
class Provider:
    """One service that offers the device flow, described declaratively.

    Build an authenticator with `provider.authenticator(client_id, scopes, **parameters)`.
    `device_authorization_url`, `token_url`, `revocation_url` and `issuer` are templates whose
    `{placeholders}` are the names of `parameters`.
    """

    #: Short lower-case key, as in `get_provider("github")` and on the command line.
    name: str
    #: The service's name for people.
    title: str
    #: What to know before using it: app settings, secrets, limits.
    description: str
    #: The primary documentation this description follows.
    docs_url: str
    device_authorization_url: str
    token_url: str
    revocation_url: str | None = None
    issuer: str | None = None
    parameters: tuple[ProviderParameter, ...] = ()
    client_secret: SecretRequirement = "none"
    #: How a client secret travels: in the form body or as HTTP Basic (RFC 6749 §2.3.1).
    client_auth: ClientAuth = "body"
    #: Fixed parameters of the device authorization request (Amazon: response_type).
    device_params: Mapping[str, str] = field(default_factory=dict)
    quirks: Quirks = RFC_8628
    #: How refresh tokens behave: "rotating", "single-use", "with offline_access", ...
    refresh: str = "standard (RFC 6749 §6)"
    #: Where the facts above come from.
    verified: tuple[Source, ...] = ()
    #: The facts no source backs, each said in a few words.
    unverified: tuple[str, ...] = ()
    #: How to ask whom a token belongs to (`Authenticator.identity()` uses it).
    who_am_i: WhoAmI | None = None
    #: Where the issuer's ID token signing keys are (a template like the endpoints), when
    #: known without discovery; None reads it from the issuer's discovery document.
    jwks_uri: str | None = None
    #: The issuers ID tokens may name instead of `issuer`; ``{tenantid}`` in one stands for
    #: each token's `tid` claim (Microsoft's multi-tenant sign-in).
    id_token_issuers: tuple[str, ...] = ()
    #: Where the service hosts git repositories (a host, or a URL template whose host is
    #: taken), for `loctocat setup-git`; None when it hosts none.
    git_host: str | None = None
    #: The username git sends with an access token as the password over HTTPS.
    git_username: str = "oauth2"

    def __post_init__(self) -> None:
        object.__setattr__(self, "device_params", MappingProxyType(dict(self.device_params)))
        names = {p.name for p in self.parameters}
        for template in self._templates():
            for placeholder in _placeholders(template):
                if placeholder not in names:
                    raise ValueError(f"{self.name}: {template!r} uses unknown {{{placeholder}}}")

    def _templates(self) -> list[str]:
        who = self.who_am_i.url if self.who_am_i is not None else None
        urls = (self.device_authorization_url, self.token_url, self.revocation_url, self.issuer)
        return [url for url in (*urls, who, self.jwks_uri, self.git_host) if url is not None]

    def git_host_for(self, values: Mapping[str, str]) -> str | None:
        """The git host (``host[:port]``) for these parameter values, or None."""
        if self.git_host is None:
            return None
        filled = _fill(self.git_host, self._defaults(values))
        return urllib.parse.urlsplit(filled).netloc if "://" in filled else filled

    def _defaults(self, values: Mapping[str, str]) -> dict[str, str]:
        given = {p.name: p.default for p in self.parameters if p.default is not None}
        return {**given, **{k: v for k, v in values.items() if v is not None}}

    @property
    def required_parameters(self) -> tuple[ProviderParameter, ...]:
        """The parameters without a default."""
        return tuple(p for p in self.parameters if p.required)

    @property
    def optional_parameters(self) -> tuple[ProviderParameter, ...]:
        """The parameters with a default."""
        return tuple(p for p in self.parameters if not p.required)

    @overload
    def authenticator(
        self,
        client_id: str,
        scopes: _Scopes = None,
        *,
        asynchronous: Literal[False] = False,
        **params_and_options: Any,
    ) -> Authenticator: ...

    @overload
    def authenticator(
        self,
        client_id: str,
        scopes: _Scopes = None,
        *,
        asynchronous: Literal[True],
        **params_and_options: Any,
    ) -> AsyncAuthenticator: ...

    @overload
    def authenticator(
        self,
        client_id: str,
        scopes: _Scopes = None,
        *,
        asynchronous: bool,
        **params_and_options: Any,
    ) -> Authenticator: ...

    def authenticator(
        self,
        client_id: str,
        scopes: _Scopes = None,
        *,
        asynchronous: bool = False,
        **params_and_options: Any,
    ) -> Authenticator:
        """An `Authenticator` (or, with `asynchronous=True`, an `AsyncAuthenticator`).

        Keyword arguments are this provider's parameters (see `parameters`, e.g.
        `tenant="organizations"`) and any keyword-only option of `Authenticator`
        (`client_secret`, `http_client`, `timeout`, `store`, ...). Extra parameters for the
        device authorization request go in `device_params={...}`. A required parameter left
        out, an unknown keyword or a malformed value raises `ConfigurationError` before
        anything is sent.
        """
        cls = AsyncAuthenticator if asynchronous else Authenticator
        urls, options = self.resolve(params_and_options)
        return cls(client_id, *urls, scopes, **options)

    def resolve(
        self, params_and_options: Mapping[str, Any], *, extras_allowed: bool = False
    ) -> tuple[tuple[str, str], dict[str, Any]]:
        """The endpoint URLs and the `Authenticator` keyword options for these arguments.

        The building block of `authenticator()` and of the `...Authenticator` classes; with
        `extras_allowed`, unknown keywords go to the device request (loctocat 1.0 behaviour).
        """
        remaining = dict(params_and_options)
        allowed = _authenticator_options()
        names = {p.name for p in self.parameters}
        unknown = sorted(set(remaining) - allowed - names - {"device_params"})
        if unknown and not extras_allowed:
            known = ", ".join(sorted(names)) or "none"
            raise ConfigurationError(
                f"{self.title} does not take {', '.join(map(repr, unknown))}: its parameters "
                f"are {known}; other keywords must be Authenticator options "
                f"({', '.join(sorted(allowed))}); put extra device request parameters in "
                "device_params={...}",
                parameter=unknown[0],
            )
        device: dict[str, str] = dict(self.device_params)
        device.update(_string_mapping(remaining.pop("device_params", None), "device_params"))
        for name in unknown:  # loctocat 1.0: unknown keywords went with the device request
            device[name] = remaining.pop(name)
        values: dict[str, str] = {}
        for parameter in self.parameters:
            checked = self._check_value(parameter, remaining.pop(parameter.name, None))
            if parameter.kind != "device_param":
                values[parameter.name] = checked
            elif checked:
                device[parameter.name] = checked

        secret = remaining.get("client_secret")
        if self.client_secret == "required" and not secret:
            raise ConfigurationError(
                f"{self.title} needs client_secret=...: the client secret shown with the "
                f"client ID in your app's settings (see {self.docs_url})",
                parameter="client_secret",
            )
        options: dict[str, Any] = {
            "client_auth": self.client_auth if secret else "body",
            "quirks": self.quirks,
        }
        if self.issuer is not None:
            options["issuer"] = _fill(self.issuer, values)
        if self.revocation_url is not None:
            options["revocation_url"] = _fill(self.revocation_url, values)
        if self.who_am_i is not None:
            options["who_am_i"] = self.who_am_i.filled(values)
        if self.jwks_uri is not None:
            options["jwks_uri"] = _fill(self.jwks_uri, values)
        if self.id_token_issuers:
            options["id_token_issuers"] = self.id_token_issuers
        options.update(remaining)  # the caller's options win over the provider's
        options.update(device)
        urls = (_fill(self.device_authorization_url, values), _fill(self.token_url, values))
        return urls, options

    def _check_value(self, parameter: ProviderParameter, value: object) -> str:
        try:
            return self._checked(parameter, value)
        except ConfigurationError as error:
            if error.parameter is None:
                error.parameter = parameter.name
            raise

    def _checked(self, parameter: ProviderParameter, value: object) -> str:
        what = f"{self.title}'s {parameter.name!r} ({parameter.description})"
        if value is None:
            if parameter.default is None:
                raise ConfigurationError(
                    f"{self.title} needs {parameter.name}=...: {parameter.description} "
                    f"(see {self.docs_url})"
                )
            value = parameter.default
        if not isinstance(value, str):
            raise ConfigurationError(f"{what} must be a string, got {type(value).__name__}")
        value = value.strip()
        if parameter.kind == "device_param":
            return value
        if not value:
            raise ConfigurationError(f"{what} cannot be empty")
        if parameter.kind == "base_url":
            return _check_base_url(value, what)
        if parameter.kind == "host":
            return _check_host(value, what)
        if any(ch in value for ch in "/?#\\") or any(ch.isspace() for ch in value):
            raise ConfigurationError(f"{what} must be a single path segment, got {value!r}")
        return urllib.parse.quote(value, safe="@:.-_~")


def _placeholders(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def _fill(template: str, values: Mapping[str, str]) -> str:
    return template.format_map(values)


def _check_base_url(value: str, what: str) -> str:
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(
            f"{what} must be an https:// URL such as 'https://sso.example.com', got {value!r}"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigurationError(
            f"{what} must be a plain https:// URL, without credentials, query or fragment, "
            f"got {value!r}"
        )
    # http:// is refused for remote hosts by the core's endpoint check, with advice.
    return value.rstrip("/")


def _check_host(value: str, what: str) -> str:
    if value.lower().startswith("https://"):
        value = value[len("https://") :].rstrip("/")
    parts = urllib.parse.urlsplit("//" + value)
    if (
        "://" in value
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username
        or any(ch.isspace() for ch in value)
    ):
        raise ConfigurationError(
            f"{what} must be a host name such as 'example.okta.com' (no path), got {value!r}"
        )
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise ConfigurationError(f"{what} has an invalid port: {value!r}") from None
    return value


def _string_mapping(value: object, name: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ConfigurationError(f"{name} must be a mapping of strings to strings, got {value!r}")
    return dict(value)


@cache
def _authenticator_options() -> frozenset[str]:
    """The keyword-only options of `Authenticator.__init__`."""
    signature = inspect.signature(Authenticator.__init__)
    return frozenset(name for name, p in signature.parameters.items() if p.kind is p.KEYWORD_ONLY)
