"""`Authenticator` and `AsyncAuthenticator`: thin drivers of the sans-I/O core.

Each public method is a lock plus one run of a core flow (`_flow`, `_lifecycle`); running a
flow turns its effects into I/O: `Request` into an HTTP call through a transport
(`_transport`), `Sleep` into a wait, `CallHandler` into a call of the user's handler, the
store effects into calls of the token store, `Login` into the device flow with its prompt.
No protocol rule lives here.
"""

from __future__ import annotations

import contextvars
import inspect
import threading
import time
import weakref
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager, nullcontext
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from loctocat import _flow
from loctocat._dpop import DPoPKey, Nonces
from loctocat._flow import (
    CallHandler,
    ClientAuth,
    ClientConfig,
    PendingGrant,
    Quirks,
    Request,
    ShowCode,
    Sleep,
)
from loctocat._handlers import Handler
from loctocat._models import NO_ENTRIES, Identity, LoctocatAuthInfo, PendingLogin, Token, WhoAmI
from loctocat._transport import AsyncTransport, SyncTransport, on_asyncio
from loctocat._version import __version__
from loctocat.errors import ConfigurationError, StoreError

if TYPE_CHECKING:
    import asyncio

    import anyio
    import httpx

    from loctocat import _lifecycle, _oidc
    from loctocat.httpx_auth import LoctocatAuth
    from loctocat.prompt import Prompt
    from loctocat.requests_auth import LoctocatRequestsAuth
    from loctocat.store import TokenStore

__all__ = ["AsyncAuthenticator", "Authenticator", "Handler", "LoctocatAuthInfo", "Token"]


class _ModuleOnFirstUse:
    """A module imported when one of its names is first used.

    Token lifetimes (`_lifecycle`) and ID tokens (`_oidc`) are not needed to show a code:
    imported up front they cost about 3 ms of every program's start, before the first prompt.
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        import importlib

        return getattr(importlib.import_module(self._name), attribute)


if not TYPE_CHECKING:
    _lifecycle = _ModuleOnFirstUse("loctocat._lifecycle")
    _oidc = _ModuleOnFirstUse("loctocat._oidc")

T = TypeVar("T")
Flow = Generator[Any, Any, T]

#: Sent with every request: what is asking, and which version of it.
_USER_AGENT = f"loctocat/{__version__}"

#: Seconds one HTTP request may take, from connecting to the last byte of the answer.
DEFAULT_REQUEST_TIMEOUT = 10.0
#: Seconds before its expiry at which a token is treated as expired (clock skew, slow requests).
DEFAULT_LEEWAY = 30.0
#: The longest pause between two tries of a store lock another holder has (async only).
_LOCK_POLL_MAX = 0.1

# Discovery documents, read once per process and issuer.
_discovered: dict[str, _lifecycle.ServerMetadata] = {}


class Authenticator:
    """Log a user in with the OAuth 2.0 device flow (RFC 8628), blocking until they approve.

    ```python
    authenticator = Authenticator(
        client_id="your_client_id",
        auth_url="https://example.com/oauth2/device",
        token_url="https://example.com/oauth2/token",
        scopes=["read"],
    )
    token = authenticator.authenticate()  # shows the code, waits, returns the access token
    ```

    Args:
        client_id: your app's client ID, as registered with the service.
        auth_url: the device authorization endpoint (where the codes come from).
        token_url: the token endpoint (polled for the token).
        scopes: the scopes to ask for, or None for the service's default.
        **extras: additional parameters sent with the device authorization request
            (e.g. `audience="..."` for Auth0).

    Keyword-only options:
        client_secret: for services that need one (Google, confidential clients).
        client_auth: how `client_secret` is sent: `"body"` (default) or `"basic"` (HTTP Basic).
        token_params: additional parameters sent with every token request.
        http_client: your own `httpx.Client` (proxies, custom CA, shared pool); loctocat
            never closes it. By default loctocat opens one for the flow and closes it after.
        timeout: seconds the whole flow may take before `FlowTimeout`; by default it lasts
            until the code expires.
        request_timeout: seconds one HTTP request may take, from connecting to the last byte
            of the answer (default 10).
        poll_interval: seconds between polls when the server does not say (RFC default 5).
        min_interval: the shortest wait between polls, whatever the server says (default 1);
            lower it only against a local test server.
        store: a `loctocat.store.TokenStore` where `get_token()` keeps the token between runs
            (`FileTokenStore()`, `KeyringTokenStore()`); by default it lives in memory only.
        account: a label to keep several logins to the same service apart in the store.
        issuer: the server's issuer URL (set by `from_issuer()` and the predefined providers):
            ID tokens must name it, and are verified against its keys.
        revocation_url: the RFC 7009 revocation endpoint, used by `logout()`.
        leeway: seconds before its expiry at which a token counts as expired (default 30);
            also the clock skew forgiven when checking an ID token's times.
        quirks: how the service departs from RFC 8628 (`loctocat.Quirks`); the predefined
            providers set it for you.
        verify_id_token: whether ID tokens are verified (see the Identity docs): None (the
            default) verifies them when the issuer is known and PyJWT is installed (the
            `loctocat[oidc]` extra), True insists (a `ConfigurationError` now if it cannot),
            False never does. Verified claims are in `token.claims`; an ID token that fails
            raises `InvalidIDToken`.
        jwks_uri: where the issuer's signing keys are (`from_issuer()` finds it; by default
            read from the issuer's discovery document when first needed).
        id_token_issuers: the issuers ID tokens may name instead of `issuer`; in one,
            ``{tenantid}`` stands for each token's `tid` (Microsoft's multi-tenant sign-in;
            `from_issuer()` and the providers set it).
        userinfo_url: the OpenID Connect userinfo endpoint, which `identity()` asks when the
            token has no verified claims (`from_issuer()` finds it).
        who_am_i: a `loctocat.predefined.WhoAmI`: how to ask the service itself who the token
            belongs to (the predefined providers set it).

    Attributes `client_id`, `auth_url`, `token_url`, `scopes`, `extras` are kept as given.
    After `ping()`, `auth_info` holds the codes; after `poll()`, `token` holds the whole
    `Token` (refresh token, expiry, scope, ID token, other fields).
    """

    _transport_class: type[SyncTransport] | type[AsyncTransport] = SyncTransport
    _http_client_type_name = "httpx.Client"

    # State that keeps its default in most authenticators lives here, not in each instance:
    # an instance with more than 30 attributes gets a dict of its own keys, 1.2 KiB more for
    # each of the thousands of logins a service may have waiting.
    # The key of the login in progress (a new one per login, with DPoP).
    _dpop_key: DPoPKey | None = None
    # Set by from_issuer(): the algorithms the issuer accepts DPoP proofs signed with.
    _dpop_algorithms: tuple[str, ...] | None = None
    # Set by from_issuer(): the algorithms the issuer says it signs ID tokens with.
    _id_token_algorithms: tuple[str, ...] | None = None  # None: all that loctocat checks
    # attach_handler() replaces it with a list of the instance's own.
    _handlers: Sequence[Handler] = ()

    def __init__(
        self,
        client_id: str,
        auth_url: str,
        token_url: str,
        scopes: Iterable[str] | str | None = None,
        *,
        client_secret: str | None = None,
        client_auth: ClientAuth = "body",
        token_params: Mapping[str, object] | None = None,
        http_client: httpx.Client | httpx.AsyncClient | None = None,
        timeout: float | None = None,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        poll_interval: int = _flow.DEFAULT_INTERVAL,
        min_interval: float = _flow.DEFAULT_MIN_INTERVAL,
        store: TokenStore | None = None,
        account: str | None = None,
        issuer: str | None = None,
        revocation_url: str | None = None,
        leeway: float = DEFAULT_LEEWAY,
        quirks: Quirks | None = None,
        verify_id_token: bool | None = None,
        jwks_uri: str | None = None,
        id_token_issuers: Iterable[str] = (),
        userinfo_url: str | None = None,
        who_am_i: WhoAmI | None = None,
        dpop: bool = False,
        **extras: object,
    ) -> None:
        self.client_id = client_id
        self.auth_url = auth_url
        self.token_url = token_url
        self.scopes = scopes
        self.extras = extras
        self.client_secret = client_secret
        self.client_auth = client_auth
        self.token_params = dict(token_params or {})
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.min_interval = min_interval
        self.auth_info: LoctocatAuthInfo | None = None
        self.token: Token | None = None
        self.store = store
        # The token this authenticator last loaded from or saved to `store` (and then held):
        # while the store still holds it, a different `self.token` is newer (one the store did
        # not take).
        self._last_stored: Token | None = None
        self.account = account
        self.issuer = issuer
        self.revocation_url = revocation_url
        self.leeway = leeway
        self.quirks = quirks or _flow.RFC_8628
        self.verify_id_token = verify_id_token
        self.jwks_uri = jwks_uri
        self.id_token_issuers = tuple(id_token_issuers)
        self.userinfo_url = userinfo_url
        self.who_am_i = who_am_i
        if dpop not in (True, False):
            raise ConfigurationError(f"dpop must be True or False, got {dpop!r}", parameter="dpop")
        self.dpop = dpop
        # The servers' DPoP nonces.
        self._dpop_nonces = Nonces()
        self._grant: PendingGrant | None = None
        self._check_http_client(http_client)
        self._transport: Any = self._transport_class(
            http_client,  # type: ignore[arg-type]
            request_timeout,
            None if http_client is not None else _weak_endpoints(self),
        )
        # Refuse a bad configuration now, before anything is sent.
        _check_seconds(request_timeout, "request_timeout", positive=True)
        _check_seconds(leeway, "leeway", positive=False)
        self._config()
        for name, url in (
            ("revocation_url", revocation_url),
            ("jwks_uri", jwks_uri),
            ("userinfo_url", userinfo_url),
        ):
            if url is not None:
                _flow.check_endpoint_url(url, name)
        self._check_id_token_options()
        if store is not None:
            self.store_key()

    @classmethod
    def _check_before_discovery(
        cls, issuer: str, client_id: str, scopes: Iterable[str] | str | None, options: Any
    ) -> None:
        """Refuse options that cannot work before asking the server anything.

        An authenticator is built with stand-in endpoints (and the caller's own, if given)
        and thrown away: every rule of the constructor applies, and nothing is sent.
        """
        _flow.check_endpoint_url(issuer, "issuer")
        stand_in = {"auth_url": f"{issuer}/device", "token_url": f"{issuer}/token"}
        cls(client_id, scopes=scopes, **{"issuer": issuer, **stand_in, **options})

    @property
    def request_timeout(self) -> float:
        """Seconds one HTTP request may take, from connecting to the last byte of the answer."""
        timeout: float = self._transport.request_timeout
        return timeout

    @request_timeout.setter
    def request_timeout(self, seconds: float) -> None:
        self._transport.request_timeout = seconds

    # --- configuration shared by both drivers -------------------------------------------

    @classmethod
    def _check_http_client(cls, http_client: object) -> None:
        if http_client is None:
            return
        import httpx

        expected = httpx.AsyncClient if cls._transport_class is AsyncTransport else httpx.Client
        if not isinstance(http_client, expected):
            raise ConfigurationError(
                f"http_client must be an {cls._http_client_type_name} for "
                f"{cls.__name__}, got {type(http_client).__name__}",
                parameter="http_client",
            )

    def _check_id_token_options(self) -> None:
        if self.verify_id_token not in (None, True, False):
            raise ConfigurationError(
                f"verify_id_token must be None, True or False, got {self.verify_id_token!r}",
                parameter="verify_id_token",
            )
        if self.verify_id_token is not True:
            return
        if self.issuer is None:
            raise ConfigurationError(
                "verify_id_token=True needs the issuer the ID tokens must name: pass "
                "issuer=..., or make the authenticator with from_issuer()",
                parameter="issuer",
            )
        if not _oidc.jwt_available():
            raise ConfigurationError(
                "verify_id_token=True needs PyJWT to check signatures: pip install "
                "'loctocat[oidc]'",
                parameter="verify_id_token",
            )

    def _id_token_check(self) -> _oidc.IDTokenCheck | None:
        """How ID tokens are verified: against the issuer, when it is known."""
        if self.verify_id_token is False or self.issuer is None:
            return None
        return _oidc.IDTokenCheck(
            issuer=self.issuer,
            client_id=self.client_id,
            jwks_uri=self.jwks_uri,
            issuers=self.id_token_issuers,
            algorithms=self._id_token_algorithms or _oidc.ALGORITHMS,
            leeway=self.leeway,
            user_agent=_USER_AGENT,
            required=self.verify_id_token is True,
        )

    def _config(self) -> ClientConfig:
        return ClientConfig(
            client_id=self.client_id,
            device_authorization_url=self.auth_url,
            token_url=self.token_url,
            scopes=_scopes_tuple(self.scopes),
            device_params=_string_params(self.extras, "extra parameter"),
            token_params=_string_params(self.token_params, "token_params entry"),
            client_secret=self.client_secret,
            client_auth=self.client_auth,
            default_interval=self.poll_interval,
            min_interval=self.min_interval,
            timeout=self.timeout,
            user_agent=_USER_AGENT,
            quirks=self.quirks,
            id_token_check=self._id_token_check(),
            dpop_key=self._login_dpop_key(),
            dpop_nonces=self._dpop_nonces,
        )

    def _login_dpop_key(self) -> DPoPKey | None:
        """The key this login's token will be bound to, made when first needed (with DPoP)."""
        if not self.dpop:
            return None
        if self._dpop_key is None:
            try:
                self._dpop_key = DPoPKey.generate(self._dpop_algorithms)
            except ImportError:
                raise ConfigurationError(
                    "dpop=True needs the cryptography package: pip install 'loctocat[dpop]'",
                    parameter="dpop",
                ) from None
            except ValueError as exc:
                raise ConfigurationError(str(exc), parameter="dpop") from None
        return self._dpop_key

    def _endpoints(self) -> tuple[str, str, str]:
        """The URLs this authenticator sends requests to (its transport asks)."""
        return (self.auth_url, self.token_url, self.revocation_url or self.token_url)

    def _forget_dpop_key(self) -> None:
        """A key pair per login: the next one makes its own."""
        if self._dpop_key is not None:  # (not assigned otherwise: see the class's defaults)
            self._dpop_key = None

    def _pending_grant(self) -> PendingGrant:
        if self._grant is None:
            raise ConfigurationError(
                "poll() needs the codes from ping(): call ping() first (or use authenticate(), "
                "which does both)"
            )
        return self._grant

    def _handler_map(self) -> dict[str, Handler]:
        return {handler.error: handler for handler in self._handlers}

    # The core's flows, configured from this authenticator: each driver only runs them.

    def _device_flow(self, clock: Callable[[], float]) -> Flow[PendingGrant]:
        self._forget_dpop_key()
        return _flow.device_authorization_flow(self._config(), clock=clock)

    def _poll_flow(self, grant: PendingGrant, clock: Callable[[], float]) -> Flow[Token]:
        return _flow.poll_flow(self._config(), grant, self._handler_map(), clock=clock)

    def _login_flow(self, clock: Callable[[], float]) -> Flow[Token]:
        self._forget_dpop_key()
        return _flow.login_flow(self._config(), self._handler_map(), clock=clock)

    def _get_token_flow(
        self, force_refresh: bool, rejected: str | None = None, login: bool = True
    ) -> Flow[Token]:
        return _lifecycle.get_token_flow(
            self._config(),
            self.store_key(),
            self.token,
            leeway=self.leeway,
            force_refresh=force_refresh,
            rejected=rejected,
            login=login,
            last_stored=self._last_stored,
        )

    def _refresh_flow(self) -> Flow[Token]:
        return _lifecycle.stored_refresh_flow(
            self._config(), self.store_key(), self.token, last_stored=self._last_stored
        )

    def _identity_flow(self) -> Flow[Identity]:
        return _oidc.identity_flow(
            self._config(),
            self.store_key(),
            self.token,
            leeway=self.leeway,
            issuer=self.issuer,
            userinfo_url=self.userinfo_url,
            who_am_i=self.who_am_i,
            last_stored=self._last_stored,
        )

    def _logout_flow(self, revoke: bool) -> Flow[bool]:
        return _lifecycle.logout_flow(
            self._config(), self.store_key(), self.token, self.revocation_url, revoke=revoke
        )

    # --- handlers (loctocat 1.0 API) ----------------------------------------------------

    def attach_handler(self, handler: Handler) -> None:
        """Attach a `Handler`; one already attached for the same error code is replaced."""
        if not isinstance(handler, Handler):
            raise ConfigurationError(
                f"attach_handler() takes a loctocat.Handler, got {type(handler).__name__}"
            )
        self._handlers = [*(h for h in self._handlers if h.error != handler.error), handler]

    def get_handlers(self) -> list[Handler]:
        """The handlers attached so far, in the order they were attached."""
        return list(self._handlers)

    # --- the device flow ----------------------------------------------------------------

    def ping(self) -> LoctocatAuthInfo:
        """Ask the server for a device code and a user code (RFC 8628 §3.1).

        Returns the `LoctocatAuthInfo` to show the user (also kept as `self.auth_info`).
        Fails fast with `TransportError`, `ServerError` or `ProtocolError`: nothing is retried
        while the user waits for a code.
        """
        try:
            grant = self._run(self._device_flow(time.monotonic))
        except BaseException:
            self.close()
            raise
        return self._remember(grant)

    def poll(self) -> str:
        """Poll until the user approves, then return the access token (RFC 8628 §3.4-3.5).

        Waits the server's interval between polls, slows down when asked, retries transient
        failures with backoff, and stops at the code's expiry with `ExpiredToken`. The whole
        answer is kept as `self.token`. Raises `ConfigurationError` if `ping()` was not called.
        """
        grant = self._pending_grant()
        try:
            token = self._run(self._poll_flow(grant, time.monotonic))
        finally:
            self.close()
        return self._finish(token)

    def pending_login(self) -> PendingLogin:
        """The device authorization `ping()` started, as data to finish elsewhere.

        Keep `pending_login().to_dict()` (JSON-safe; it holds the secret device code) where
        another process can read it, show the user the codes, and let that process call
        `resume()` and `poll()`, now or later, until the code expires. Raises
        `ConfigurationError` if `ping()` was not called.
        """
        grant = self._pending_grant()
        return PendingLogin(
            grant.auth_info,
            self.token_url,
            self.client_id,
            _scopes_tuple(self.scopes),
            grant.interval,
        )

    def resume(self, pending: PendingLogin | Mapping[str, Any]) -> LoctocatAuthInfo:
        """Take over a device authorization another authenticator started (`pending_login()`,
        or its `to_dict()`); then `poll()` finishes it.

        Polling keeps the rules: the interval, `slow_down`, and the code's absolute expiry
        (`ExpiredToken` once it has passed, at once if it already has). Raises
        `ConfigurationError` when `pending` is malformed or belongs to another server, client
        or scope set. Returns the codes, as `ping()` does.
        """
        if not isinstance(pending, PendingLogin):
            try:
                pending = PendingLogin.from_dict(pending)
            except ValueError as exc:
                raise ConfigurationError(str(exc), parameter="pending") from None
        ours = (self.token_url, self.client_id, _scopes_tuple(self.scopes))
        theirs = (pending.token_url, pending.client_id, pending.scopes)
        if theirs != ours:
            raise ConfigurationError(
                f"this pending login was started for client {pending.client_id!r} at "
                f"{pending.token_url} with scopes {' '.join(pending.scopes) or '(none)'}: "
                "resume it with an authenticator for the same server, client and scopes",
                parameter="pending",
            )
        self._forget_dpop_key()  # a resumed login too
        grant = _flow.resumed_grant(
            self._config(),
            pending.auth_info,
            pending.interval,
            now=datetime.now(UTC),
            clock_now=time.monotonic(),
        )
        return self._remember(grant)

    def authenticate(
        self,
        use_default_message: bool = True,
        message: str | Callable[[LoctocatAuthInfo], str] | None = None,
        use_default_success_message: bool = True,
        success_message: str | None = None,
        use_default_spinner: bool = True,
        spinner: Any = None,
        *,
        prompt: Prompt | None = None,
    ) -> str:
        """Run the whole flow: get the codes, show them, wait for approval, return the token.

        The prompt goes to stderr. `message` / `success_message` replace the default texts
        (`use_default_*=False` with no text shows none); `spinner` is a rich spinner name or a
        Halo-like object (`use_default_spinner=False` shows none). Pass `prompt` to replace the
        whole display with your own `loctocat.prompt.Prompt`.
        """
        shown = _prompt(
            prompt,
            use_default_message,
            message,
            use_default_success_message,
            success_message,
            use_default_spinner,
            spinner,
        )
        with _showing(shown):
            try:
                token = self._run(self._login_flow(time.monotonic), shown)
            finally:
                self.close()
            shown.succeeded(token)
            return self._finish(token)

    # --- the whole token: discovery, refresh, storage, revocation -------------------------

    @classmethod
    def from_issuer(
        cls, issuer: str, client_id: str, scopes: Iterable[str] | str | None = None, **options: Any
    ) -> Self:
        """An authenticator for the server at `issuer`, its endpoints read from its metadata.

        Reads `/.well-known/openid-configuration`, then RFC 8414's
        `/.well-known/oauth-authorization-server`, checks that the document names this issuer,
        and takes the device, token and revocation endpoints from it (cached for the process).
        The issuer must be an `https://` URL (`http://` only for a loopback host), and so must
        every endpoint the document names: anything else is refused before it is used.
        Other keyword options are those of `Authenticator`, and win over the document's:
        pass `auth_url=` when the server offers the device flow but does not advertise its
        endpoint (django-oauth-toolkit, GitLab). Raises `ConfigurationError` when there is no
        device authorization endpoint either way.
        """
        metadata = _discovered.get(issuer)
        if metadata is None:
            cls._check_before_discovery(issuer, client_id, scopes, options)
            transport = SyncTransport(
                options.get("http_client"),
                options.get("request_timeout", DEFAULT_REQUEST_TIMEOUT),
            )
            try:
                metadata = _drive(_lifecycle.discovery_flow(issuer, _USER_AGENT), transport.send)
            finally:
                transport.close()
            _discovered[issuer] = metadata
        return _told_about_id_tokens(
            cls(client_id, scopes=scopes, **_discovered_options(metadata, options)), metadata
        )

    def get_token(
        self,
        *,
        force_refresh: bool = False,
        prompt: Prompt | None = None,
        rejected: str | None = None,
        login: bool = True,
    ) -> str:
        """A valid access token, with as little asking as possible: the call most apps want.

        A token that is still valid (in memory or in `store`) is returned with no request; an
        expired one is refreshed with its refresh token and stored; otherwise the device flow
        runs with the prompt (see `authenticate()`) and the new token is stored.
        `force_refresh=True` renews the token held now, e.g. after the server answered 401
        (a token someone else renewed meanwhile is used instead). `rejected=` says which
        access token the server refused: it is renewed only if it is still the current one, so
        that requests refused together with one token cause one renewal. `login=False` never
        starts a device flow (nobody would see the code: a script, a background job): it raises
        `LoginRequired` instead.

        Whatever shares the store (threads, tasks, authenticators, processes) does one refresh
        or one login per login key, and the others wait for it and use its token; logins to
        other servers or clients are not held up. A corrupt stored entry is replaced by the
        new login. If the new token cannot be stored, `StoreError` says so and the token is
        still at `self.token`.
        """
        with self._exclusive():
            try:
                flow = self._get_token_flow(force_refresh, rejected, login)
                self.token = self._run(flow, prompt)
                return self.token.access_token
            finally:
                self.close()

    def refresh(self) -> str:
        """Refresh the current (or stored) token now and return the new access token.

        Keeps the old refresh token when the server does not send a new one. Raises
        `InvalidGrant` when the server rejects the refresh token: log in again then.
        """
        with self._exclusive():
            try:
                return self._run(self._refresh_flow()).access_token
            finally:
                self.close()

    def logout(self, *, revoke: bool = True) -> bool:
        """Revoke the token at the server (RFC 7009), then forget it here and in `store`.

        Returns True when the server revoked it, False when it was only forgotten: there is
        no `revocation_url` (`from_issuer()` finds it), or `revoke=False`; the token then
        stays valid at the server until it expires. The refresh token is revoked when there
        is one, which ends the whole grant. When revoking fails (the server is unreachable,
        or answers an error), the error is raised and nothing is forgotten, so that you can
        try again, or forget it only with `revoke=False`.
        """
        with self._exclusive():
            try:
                return self._run(self._logout_flow(revoke))
            finally:
                self.close()

    def identity(self) -> Identity:
        """Who is logged in: an `Identity` with a stable `subject` and a `name` to show.

        From the verified ID token's claims when there are some (no request); else from the
        server's OpenID Connect userinfo endpoint; else from the service's own "who am I" API
        (the predefined providers know it: GitHub's /user, ...). Learnt once, then kept with
        the token in `store`. Uses the current or stored token (refreshing it if it expired)
        and never logs in: `LoginRequired` when there is no usable token. `ConfigurationError`
        when there is no way to tell (pass `userinfo_url=`).
        """
        with self._exclusive():
            try:
                return self._run(self._identity_flow())
            finally:
                self.close()

    def http_auth(self) -> LoctocatAuth:
        """An `httpx.Auth` that sends this authenticator's token and refreshes it as needed.

        `httpx.Client(auth=authenticator.http_auth())`; with an `AsyncAuthenticator`, use it
        in an `httpx.AsyncClient`.
        """
        from loctocat.httpx_auth import LoctocatAuth

        return LoctocatAuth(self)

    def requests_auth(self) -> LoctocatRequestsAuth:
        """The same for `requests`: `requests.get(url, auth=authenticator.requests_auth())`."""
        from loctocat.requests_auth import LoctocatRequestsAuth

        return LoctocatRequestsAuth(self)

    def store_key(self) -> str:
        """The key this login's token is stored under (server, client, scopes, account).

        The server is named by its token endpoint, the one that issues the tokens, however the
        authenticator was made (`from_issuer()`, endpoints given by hand, a provider): one
        server, client and scope set is one login.
        """
        from loctocat.store import token_key

        return token_key(self.token_url, self.client_id, _scopes_tuple(self.scopes), self.account)

    def _legacy_store_key(self) -> str | None:
        """The key loctocat 2.0 stored this login under when it knew the issuer, if different."""
        from loctocat.store import token_key

        if not self.issuer:
            return None
        key = token_key(self.issuer, self.client_id, _scopes_tuple(self.scopes), self.account)
        return key if key != self.store_key() else None

    def _adopt_legacy_entry(self) -> None:
        """Move a token stored under the legacy key to the current one (once, holding the lock)."""
        legacy = self._legacy_store_key()
        if self.store is None or legacy is None:
            return
        try:
            if self.store.load(self.store_key()) is not None:
                return
            old = self.store.load(legacy)
        except StoreError:
            return  # unreadable: the flow reports it, or logs in and replaces it
        if old is not None:
            self.store.save(self.store_key(), old)
            self.store.delete(legacy)

    def close(self) -> None:
        """Close the HTTP connection loctocat opened (never an `http_client` you passed)."""
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- the sync driver ----------------------------------------------------------------

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One operation at a time on this authenticator, and on its login in the store."""
        store_lock: AbstractContextManager[object] = (
            self.store.lock(self.store_key()) if self.store is not None else nullcontext()
        )
        with _not_within_itself(self), self._thread_lock(), store_lock:
            self._adopt_legacy_entry()
            yield

    def _thread_lock(self) -> threading.Lock:
        # Made on first use (an AsyncAuthenticator never needs one). dict.setdefault is one
        # step under the GIL: threads racing here all get the same lock.
        lock: threading.Lock = self.__dict__.setdefault("_login_lock", threading.Lock())
        return lock

    def _run(self, flow: Flow[T], prompt: Prompt | None = None) -> T:
        return _drive(flow, lambda effect: self._perform(effect, prompt))

    def _perform(self, effect: object, prompt: Prompt | None) -> object:
        if isinstance(effect, Request):
            return self._transport.send(effect)
        if isinstance(effect, Sleep):
            time.sleep(effect.seconds)
        elif isinstance(effect, CallHandler):
            effect.handler.action(self)
        elif isinstance(effect, ShowCode):
            self._show(effect, prompt)
        elif isinstance(effect, _lifecycle.Login):
            self.authenticate(prompt=prompt)
            return self.token
        else:
            return self._perform_store(effect)
        return None

    def _show(self, effect: ShowCode, prompt: Prompt | None) -> None:
        self._remember(effect.grant)
        if prompt is not None:
            prompt.show_code(effect.grant.auth_info)
            prompt.start_waiting()

    # --- state shared by both drivers ---------------------------------------------------

    def _perform_store(self, effect: object) -> object:
        """Carry out a store effect (blocking: the async driver calls it in a worker thread)."""
        if isinstance(effect, _lifecycle.CurrentTime):
            return datetime.now(UTC)
        if isinstance(effect, _lifecycle.LoadToken):
            if self.store is None:
                return None
            try:
                loaded = self.store.load(effect.key)
            except StoreError as error:
                return error  # the flow judges it
            last = self._last_stored
            if loaded is not None and (last is None or not _lifecycle.same_grant(loaded, last)):
                # Renewed elsewhere since this authenticator last looked: it holds that token
                # now, whether or not the operation that found it succeeds.
                self.token = loaded
            self._last_stored = loaded
            return loaded
        if isinstance(effect, _lifecycle.SaveToken):
            self.token = effect.token
            if self.store is not None:
                try:
                    self.store.save(effect.key, effect.token)
                except Exception as error:  # a store of your own may raise anything
                    raise StoreError(
                        f"{error} (the token was received but not stored: it is kept in "
                        "memory, as authenticator.token, for as long as this program runs)"
                    ) from error
                self._last_stored = effect.token
            return None
        assert isinstance(effect, _lifecycle.DeleteToken), effect
        if self.store is not None:
            self.store.delete(effect.key)
            self._last_stored = None
        self.token = None
        return None

    def _remember(self, grant: PendingGrant) -> LoctocatAuthInfo:
        self._grant = grant
        self.auth_info = grant.auth_info
        self.token = None
        return grant.auth_info

    def _finish(self, token: Token) -> str:
        self.token = token
        self._grant = None  # a device code is single-use (RFC 8628 §3.5)
        return token.access_token


class AsyncAuthenticator(Authenticator):
    """`Authenticator` with awaitable methods, for asyncio and trio (through anyio).

    Waiting never blocks the event loop, so thousands of flows can wait in one process.
    Cancelling the task (or the enclosing cancel scope) stops polling at once and closes the
    connection. `http_client` takes an `httpx.AsyncClient`; handlers' actions may be
    coroutine functions. Token-store reads and writes run in a worker thread, and waiting for
    a store lock another task or process holds never blocks the loop.

    ```python
    token = await AsyncAuthenticator(client_id, auth_url, token_url).authenticate()
    ```
    """

    _transport_class = AsyncTransport
    _http_client_type_name = "httpx.AsyncClient"
    _store_in_thread = False

    async def ping(self) -> LoctocatAuthInfo:  # type: ignore[override]
        """Ask the server for a device code and a user code (see `Authenticator.ping`)."""
        try:
            grant = await self._run_async(self._device_flow(_event_loop_clock()))
        except BaseException:
            await self.aclose()
            raise
        return self._remember(grant)

    async def poll(self) -> str:  # type: ignore[override]
        """Poll until the user approves and return the access token (see `Authenticator.poll`)."""
        grant = self._pending_grant()
        try:
            token = await self._run_async(self._poll_flow(grant, _event_loop_clock()))
        finally:
            await self.aclose()
        return self._finish(token)

    async def authenticate(  # type: ignore[override]
        self,
        use_default_message: bool = True,
        message: str | Callable[[LoctocatAuthInfo], str] | None = None,
        use_default_success_message: bool = True,
        success_message: str | None = None,
        use_default_spinner: bool = True,
        spinner: Any = None,
        *,
        prompt: Prompt | None = None,
    ) -> str:
        """Run the whole flow and return the access token (see `Authenticator.authenticate`)."""
        shown = _prompt(
            prompt,
            use_default_message,
            message,
            use_default_success_message,
            success_message,
            use_default_spinner,
            spinner,
        )

        with _showing(shown):
            try:
                token = await self._run_async(self._login_flow(_event_loop_clock()), shown)
            finally:
                await self.aclose()
            shown.succeeded(token)
            return self._finish(token)

    @classmethod
    async def from_issuer(  # type: ignore[override]
        cls, issuer: str, client_id: str, scopes: Iterable[str] | str | None = None, **options: Any
    ) -> Self:
        """An authenticator for the server at `issuer` (see `Authenticator.from_issuer`)."""
        metadata = _discovered.get(issuer)
        if metadata is None:
            cls._check_before_discovery(issuer, client_id, scopes, options)
            transport = AsyncTransport(
                options.get("http_client"),
                options.get("request_timeout", DEFAULT_REQUEST_TIMEOUT),
            )
            try:
                flow = _lifecycle.discovery_flow(issuer, _USER_AGENT)
                metadata = await _drive_async(flow, transport)
            finally:
                await transport.aclose()
            _discovered[issuer] = metadata
        return _told_about_id_tokens(
            cls(client_id, scopes=scopes, **_discovered_options(metadata, options)), metadata
        )

    async def get_token(  # type: ignore[override]
        self,
        *,
        force_refresh: bool = False,
        prompt: Prompt | None = None,
        rejected: str | None = None,
        login: bool = True,
    ) -> str:
        """A valid access token, refreshing or logging in only when needed.

        See `Authenticator.get_token`: tasks of one event loop are kept apart like threads
        and processes, one refresh or one login per login key.
        """
        async with self._exclusive_async():
            try:
                flow = self._get_token_flow(force_refresh, rejected, login)
                self.token = await self._run_async(flow, prompt)
                return self.token.access_token
            finally:
                await self.aclose()

    async def refresh(self) -> str:  # type: ignore[override]
        """Refresh the current (or stored) token now (see `Authenticator.refresh`)."""
        async with self._exclusive_async():
            try:
                return (await self._run_async(self._refresh_flow())).access_token
            finally:
                await self.aclose()

    async def logout(self, *, revoke: bool = True) -> bool:  # type: ignore[override]
        """Revoke the token at the server, then forget it (see `Authenticator.logout`)."""
        async with self._exclusive_async():
            try:
                return await self._run_async(self._logout_flow(revoke))
            finally:
                await self.aclose()

    async def identity(self) -> Identity:  # type: ignore[override]
        """Who is logged in (see `Authenticator.identity`)."""
        async with self._exclusive_async():
            try:
                return await self._run_async(self._identity_flow())
            finally:
                await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connection loctocat opened (never an `http_client` you passed)."""
        await self._transport.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- the async driver ---------------------------------------------------------------

    @asynccontextmanager
    async def _exclusive_async(self) -> AsyncIterator[None]:
        """One operation at a time on this authenticator, and on its login in the store."""
        with _not_within_itself(self):
            async with self._exclusive_locked():
                yield

    @asynccontextmanager
    async def _exclusive_locked(self) -> AsyncIterator[None]:
        import anyio

        async with self._async_login_lock():
            if self.store is None:
                yield
                return
            lock = self.store.lock(self.store_key())
            # A store whose lock can be tried without waiting (loctocat's own) is used from
            # worker threads; any other store as before, on the event loop's thread, since its
            # lock may tie its other calls to the thread that took it.
            self._store_in_thread = _can_try(lock)
            async with _holding(lock):
                if self._store_in_thread:
                    await anyio.to_thread.run_sync(self._adopt_legacy_entry)
                else:
                    self._adopt_legacy_entry()
                yield

    def _async_login_lock(self) -> anyio.Lock:
        import anyio

        # Made on first use, inside the event loop that will use it; one for asyncio and one
        # for trio, since a lock made under either cannot be waited on under the other (a
        # program may run one, then the other: asyncio.run(), then trio.run()).
        locks: dict[bool, anyio.Lock] = self.__dict__.setdefault("_anyio_login_locks", {})
        return locks.setdefault(on_asyncio(), anyio.Lock())

    def _run_async(self, flow: Flow[T], prompt: Prompt | None = None) -> Awaitable[T]:
        # Not a coroutine itself: the caller awaits the driver's, one frame fewer per login.
        return _drive_async(flow, self._transport, self, prompt)

    async def _perform_async(self, effect: object, prompt: Prompt | None) -> object:
        """Carry out an effect other than a request or a wait (`_drive_async` does those)."""
        import anyio

        if isinstance(effect, CallHandler):
            outcome = effect.handler.action(self)
            if inspect.isawaitable(outcome):
                await outcome
        elif isinstance(effect, ShowCode):
            self._show(effect, prompt)
        elif isinstance(effect, _lifecycle.Login):
            await self.authenticate(prompt=prompt)
            return self.token
        elif isinstance(effect, _lifecycle.CurrentTime) or not self._store_in_thread:
            return self._perform_store(effect)
        else:
            # Token stores block (files, locks, keychains): not on the event loop.
            return await anyio.to_thread.run_sync(self._perform_store, effect)
        return None


# --- running flows --------------------------------------------------------------------------

# The logins (authenticators, and store keys) an operation is running for in this thread or
# task: a Prompt, a Handler or a spinner that calls back into one would wait for itself.
_running: contextvars.ContextVar[frozenset[object]] = contextvars.ContextVar(
    "loctocat_running", default=frozenset()
)


@contextmanager
def _not_within_itself(authenticator: Authenticator) -> Iterator[None]:
    """Refuse an operation started from inside another on the same login, at once."""
    marks: set[object] = {id(authenticator)}
    if authenticator.store is not None:
        marks.add((id(authenticator.store), authenticator.store_key()))
    running = _running.get()
    if marks & running:
        raise ConfigurationError(
            "get_token(), refresh() and logout() cannot be called from inside one already "
            "running for the same login (from a Prompt, a Handler or a spinner): it would wait "
            "for itself; use authenticator.auth_info there, or do it after the login"
        )
    reset = _running.set(running | marks)
    try:
        yield
    finally:
        _running.reset(reset)


def _drive(flow: Flow[T], perform: Callable[[Any], object]) -> T:
    """Run a core flow to its end, carrying out each effect it yields with `perform`.

    An effect that fails is thrown into the flow, which may handle it (a token that cannot be
    stored does not make who is logged in unknown) or let it go.
    """
    result: Any = None
    failure: Exception | None = None
    try:
        while True:
            try:
                effect = flow.send(result) if failure is None else flow.throw(failure)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            result, failure = None, None
            try:
                result = perform(effect)
            except Exception as error:
                failure = error
    finally:
        flow.close()


async def _drive_async(
    flow: Flow[T],
    transport: AsyncTransport,
    authenticator: AsyncAuthenticator | None = None,
    prompt: Prompt | None = None,
) -> T:
    """`_drive` on an event loop: requests go to `transport`, waits to the loop's own sleep,
    and any other effect to `authenticator._perform_async()`.

    The two effects of every poll are carried out right here, and the driver keeps no bound
    methods or partials: a login waiting between polls (a service may have thousands) holds
    as few objects as the event loop allows.
    """
    loop = _running_asyncio_loop()
    result: Any = None
    failure: Exception | None = None
    try:
        while True:
            try:
                effect = flow.send(result) if failure is None else flow.throw(failure)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            result, failure = None, None
            try:
                if type(effect) is Request:
                    result = await transport.send(effect)
                elif type(effect) is Sleep:
                    seconds, effect = effect.seconds, None  # (not kept while waiting)
                    if loop is not None and seconds > 0:
                        # asyncio.sleep's own steps, without a coroutine of its own.
                        woken = loop.create_future()
                        timer = loop.call_later(seconds, _wake, woken)
                        try:
                            await woken
                        finally:
                            timer.cancel()
                    else:
                        await _event_loop_sleep(seconds)
                elif authenticator is not None:
                    result = await authenticator._perform_async(effect, prompt)
                else:
                    raise TypeError(f"no one to carry out {effect!r}")
            except Exception as error:
                failure = error
    finally:
        flow.close()


def _running_asyncio_loop() -> asyncio.AbstractEventLoop | None:
    """The running event loop when it is asyncio's (None under trio)."""
    if on_asyncio():
        import asyncio

        return asyncio.get_running_loop()
    return None


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():  # (cancelled meanwhile)
        future.set_result(None)


async def _event_loop_sleep(seconds: float) -> None:
    """Wait on the running event loop: asyncio.sleep on asyncio, anyio.sleep elsewhere."""
    if on_asyncio():
        import asyncio

        await asyncio.sleep(seconds)
        return
    import anyio

    await anyio.sleep(seconds)


def _event_loop_clock() -> Callable[[], float]:
    """The event loop's clock (what anyio.current_time reads), looked up once."""
    if on_asyncio():
        import asyncio

        loop = asyncio.get_running_loop()
        if type(loop).time is asyncio.BaseEventLoop.time and "time" not in vars(loop):
            # What asyncio's own loops read, through a function: no bound method per login.
            return _monotonic
        return loop.time
    import anyio

    return anyio.current_time


def _monotonic() -> float:
    # time.monotonic looked up at each call, as asyncio.BaseEventLoop.time does (a test that
    # patches it sees the flow and the loop agree).
    return time.monotonic()


def _can_try(lock: object) -> bool:
    """Whether a store's lock is a `KeyLock`: tried without waiting, owned by whom you say."""
    return callable(getattr(lock, "acquire", None)) and callable(getattr(lock, "release", None))


@asynccontextmanager
async def _holding(lock: AbstractContextManager[object]) -> AsyncIterator[None]:
    """Hold a store's lock from async code, never blocking the event loop while waiting.

    loctocat's stores give a `KeyLock`, tried without waiting and retried after a pause,
    owned by this task (so two tasks of one thread exclude each other). Any other context
    manager (a store of your own) is simply entered: give it a `KeyLock`-like lock to keep it
    off the event loop.
    """
    import anyio

    if not _can_try(lock):
        with lock:
            yield
        return
    acquire: Any = getattr(lock, "acquire")  # noqa: B009
    release: Any = getattr(lock, "release")  # noqa: B009
    owner = ("task", threading.get_ident(), anyio.get_current_task().id)
    timeout: float | None = getattr(lock, "timeout", None)
    started = time.monotonic()
    pause = 0.005
    while not acquire(0, owner=owner):
        if timeout is not None and time.monotonic() - started >= timeout:
            timed_out = getattr(lock, "timed_out", None)
            raise (
                timed_out()
                if callable(timed_out)
                else StoreError(
                    f"could not take the token store's lock within {timeout} s: another task or "
                    "process is using the same login; try again"
                )
            )
        await anyio.sleep(pause)
        pause = min(pause * 2, _LOCK_POLL_MAX)
    try:
        yield
    finally:
        release(owner=owner)


# --- helpers ----------------------------------------------------------------------------------


def _prompt(
    prompt: Prompt | None,
    use_default_message: bool,
    message: str | Callable[[LoctocatAuthInfo], str] | None,
    use_default_success_message: bool,
    success_message: str | None,
    use_default_spinner: bool,
    spinner: Any,
) -> Prompt:
    if prompt is not None:
        return prompt
    from loctocat.prompt import prompt_from_options

    return prompt_from_options(
        use_default_message=use_default_message,
        message=message,
        use_default_success_message=use_default_success_message,
        success_message=success_message,
        use_default_spinner=use_default_spinner,
        spinner=spinner,
    )


def _discovered_options(
    metadata: _lifecycle.ServerMetadata, options: dict[str, Any]
) -> dict[str, Any]:
    """The constructor arguments a discovery document gives, under the caller's own options."""
    if metadata.device_authorization_endpoint is None and options.get("auth_url") is None:
        raise ConfigurationError(
            f"the server {metadata.issuer!r} does not advertise a device_authorization_endpoint, "
            "so it may not offer the device flow; if it does, pass auth_url= (its device "
            "authorization endpoint) to from_issuer()",
            parameter="auth_url",
        )
    jwks_uri = metadata.document.get("jwks_uri")
    return {
        "auth_url": metadata.device_authorization_endpoint,
        "token_url": metadata.token_endpoint,
        "issuer": metadata.issuer,
        "revocation_url": metadata.revocation_endpoint,
        "userinfo_url": metadata.userinfo_endpoint,
        "jwks_uri": jwks_uri if isinstance(jwks_uri, str) and jwks_uri else None,
        **options,
    }


A = TypeVar("A", bound=Authenticator)


def _told_about_id_tokens(authenticator: A, metadata: _lifecycle.ServerMetadata) -> A:
    """`authenticator` told what else the metadata says about ID tokens and DPoP proofs."""
    if authenticator.issuer == metadata.issuer:
        if not authenticator.id_token_issuers and metadata.issuer_template is not None:
            authenticator.id_token_issuers = (metadata.issuer_template,)
        # OpenID Connect Discovery: the algorithms the issuer signs ID tokens with. Those
        # loctocat accepts among them, or all it accepts when it names none of them.
        advertised = metadata.document.get("id_token_signing_alg_values_supported")
        if isinstance(advertised, list):
            accepted = tuple(alg for alg in _oidc.ALGORITHMS if alg in advertised)
            authenticator._id_token_algorithms = accepted or _oidc.ALGORITHMS
    # RFC 9449 §5.1: the algorithms the server accepts DPoP proofs signed with.
    dpop_algorithms = metadata.document.get("dpop_signing_alg_values_supported")
    if isinstance(dpop_algorithms, list):
        authenticator._dpop_algorithms = tuple(a for a in dpop_algorithms if isinstance(a, str))
    return authenticator


@contextmanager
def _showing(prompt: Prompt) -> Iterator[Prompt]:
    """Tell the prompt how the flow ended, whatever ended it (Ctrl+C and cancellation too)."""
    try:
        yield prompt
    except BaseException as exc:
        prompt.failed(exc)
        raise
    finally:
        prompt.close()


def _weak_endpoints(authenticator: Authenticator) -> Callable[[], tuple[str, ...]]:
    """The authenticator's URLs for its transport, held weakly: a transport that held the
    authenticator would make a reference cycle, and every authenticator dropped, with its token
    and its HTTP client, would stay in memory until a full garbage collection."""
    reference = weakref.ref(authenticator)

    def endpoints() -> tuple[str, ...]:
        alive = reference()
        return () if alive is None else alive._endpoints()

    return endpoints


def _check_seconds(value: object, name: str, *, positive: bool) -> None:
    """Refuse a number of seconds that is not one (nan, infinite, negative, too large)."""
    import threading

    low = "positive" if positive else "at least 0"
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (value > 0 if positive else value >= 0)
        or not value <= threading.TIMEOUT_MAX
    ):
        raise ConfigurationError(
            f"{name} must be a {low} number of seconds, got {value!r}", parameter=name
        )


def _scopes_tuple(scopes: Iterable[str] | str | None) -> tuple[str, ...]:
    if scopes is None:
        return ()
    if isinstance(scopes, str):
        return tuple(scopes.split())  # "read write" is a common way to write two scopes
    result = tuple(scopes)
    for scope in result:
        if not isinstance(scope, str) or not scope or any(c.isspace() for c in scope):
            raise ConfigurationError(
                f"each scope must be a non-empty string without spaces, got {scope!r}",
                parameter="scopes",
            )
    return result


def _string_params(params: Mapping[str, object], what: str) -> Mapping[str, str]:
    if not params:
        return NO_ENTRIES
    result: dict[str, str] = {}
    for name, value in params.items():
        if value is None:
            continue  # an option left unset is not sent
        if isinstance(value, bool):
            result[name] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            result[name] = str(value)
        else:
            raise ConfigurationError(
                f"{what} {name}={value!r} must be a string or a number, not {type(value).__name__}",
                parameter=name,
            )
    return result
