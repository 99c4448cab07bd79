"""`Authenticator` and `AsyncAuthenticator`: thin drivers of the sans-I/O core in `_flow`.

Each driver turns the core's effects into I/O: `Request` into an HTTP call, `Sleep` into a
wait, `CallHandler` into a call of the user's handler. No protocol rule lives here.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager, nullcontext
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from loctocat import _flow, _lifecycle
from loctocat._flow import (
    CallHandler,
    ClientAuth,
    ClientConfig,
    Effect,
    PendingGrant,
    Quirks,
    Request,
    Response,
    Sleep,
    TransportFailure,
)
from loctocat._handlers import Handler
from loctocat._models import LoctocatAuthInfo, Token
from loctocat.errors import ConfigurationError, InvalidGrant

if TYPE_CHECKING:
    import anyio
    import httpx

    from loctocat.httpx_auth import LoctocatAuth
    from loctocat.prompt import Prompt
    from loctocat.requests_auth import LoctocatRequestsAuth
    from loctocat.store import TokenStore

__all__ = ["AsyncAuthenticator", "Authenticator", "Handler", "LoctocatAuthInfo", "Token"]

T = TypeVar("T")

#: Seconds one HTTP request may take (connect, each read, ...) before it counts as failed.
DEFAULT_REQUEST_TIMEOUT = 10.0
#: Seconds before its expiry at which a token is treated as expired (clock skew, slow requests).
DEFAULT_LEEWAY = 30.0

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
        request_timeout: seconds one HTTP request may take (default 10).
        poll_interval: seconds between polls when the server does not say (RFC default 5).
        min_interval: the shortest wait between polls, whatever the server says (default 1);
            lower it only against a local test server.
        store: a `loctocat.store.TokenStore` where `get_token()` keeps the token between runs
            (`FileTokenStore()`, `KeyringTokenStore()`); by default it lives in memory only.
        account: a label to keep several logins to the same service apart in the store.
        issuer: the server's issuer URL (set by `from_issuer()`); keys the store when given.
        revocation_url: the RFC 7009 revocation endpoint, used by `logout()`.
        leeway: seconds before its expiry at which a token counts as expired (default 30).
        quirks: how the service departs from RFC 8628 (`loctocat.Quirks`); the predefined
            providers set it for you.

    Attributes `client_id`, `auth_url`, `token_url`, `scopes`, `extras` are kept as given.
    After `ping()`, `auth_info` holds the codes; after `poll()`, `token` holds the whole
    `Token` (refresh token, expiry, scope, ID token, other fields).
    """

    _http_client_type_name = "httpx.Client"

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
        self.account = account
        self.issuer = issuer
        self.revocation_url = revocation_url
        self.leeway = leeway
        self.quirks = quirks or _flow.RFC_8628
        self._grant: PendingGrant | None = None
        self._handlers: list[Handler] = []
        self._login_lock = threading.Lock()
        self._init_http(http_client, request_timeout)
        self._config()  # refuse a bad configuration now, before anything is sent
        if revocation_url is not None:
            _flow.check_endpoint_url(revocation_url, "revocation_url")

    def _init_http(self, http_client: object, request_timeout: float) -> None:
        self._check_http_client(http_client)
        self._user_http_client = http_client
        self._own_http_client: Any = None
        self.request_timeout = request_timeout

    # --- configuration shared by both drivers -------------------------------------------

    def _check_http_client(self, http_client: object) -> None:
        if http_client is None:
            return
        import httpx

        expected = httpx.AsyncClient if isinstance(self, AsyncAuthenticator) else httpx.Client
        if not isinstance(http_client, expected):
            raise ConfigurationError(
                f"http_client must be an {self._http_client_type_name} for "
                f"{type(self).__name__}, got {type(http_client).__name__}"
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
            user_agent=_user_agent(),
            quirks=self.quirks,
        )

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

    def _device_flow(self) -> Generator[Effect, Any, PendingGrant]:
        return _flow.device_authorization_flow(self._config(), clock=time.monotonic)

    def _poll_flow(self, grant: PendingGrant) -> Generator[Effect, Any, Token]:
        return _flow.poll_flow(self._config(), grant, self._handler_map(), clock=time.monotonic)

    def _refresh_flow(self, token: Token) -> Generator[Effect, Any, Token]:
        return _lifecycle.refresh_flow(self._config(), token)

    def _new_http_client(self, cls: type[T]) -> T:
        options: dict[str, Any] = {"timeout": self.request_timeout, "follow_redirects": False}
        # httpx builds its default SSL context when the client is made, loading the whole CA
        # bundle: about 0.1 s, most of the time to the first prompt. When every endpoint this
        # client will call is plain http:// on loopback, no TLS is ever spoken, so it gets a
        # context that costs nothing instead: one that trusts no certificate and checks host
        # names, so that were it ever used for https (it cannot be: redirects are not followed)
        # it would fail closed. Any https:// endpoint, or an unknown one (the discovery probe),
        # keeps httpx's default verification exactly as before.
        endpoints = [getattr(self, "auth_url", None), getattr(self, "token_url", None)]
        revocation_url = getattr(self, "revocation_url", None)
        if revocation_url is not None:
            endpoints.append(revocation_url)
        urls: list[str] = [url for url in endpoints if isinstance(url, str)]
        # An https:// proxy from the environment (which httpx honours) still speaks TLS.
        import urllib.request  # already loaded by httpx, which uses it for the same lookup

        tls_proxy = any(str(p).startswith("https:") for p in urllib.request.getproxies().values())
        if len(urls) == len(endpoints) and not tls_proxy:
            import urllib.parse

            parts = [urllib.parse.urlsplit(url) for url in urls]
            if all(p.scheme == "http" and _flow._is_loopback(p.hostname or "") for p in parts):
                import ssl

                options["verify"] = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        return cls(**options)

    # --- handlers (loctocat 1.0 API) ----------------------------------------------------

    def attach_handler(self, handler: Handler) -> None:
        """Attach a `Handler`; one already attached for the same error code is replaced."""
        if not isinstance(handler, Handler):
            raise ConfigurationError(
                f"attach_handler() takes a loctocat.Handler, got {type(handler).__name__}"
            )
        self._handlers = [h for h in self._handlers if h.error != handler.error]
        self._handlers.append(handler)

    def get_handlers(self) -> list[Handler]:
        """The handlers attached so far, in the order they were attached."""
        return list(self._handlers)

    # --- the sync driver ----------------------------------------------------------------

    def ping(self) -> LoctocatAuthInfo:
        """Ask the server for a device code and a user code (RFC 8628 §3.1).

        Returns the `LoctocatAuthInfo` to show the user (also kept as `self.auth_info`).
        Fails fast with `TransportError`, `ServerError` or `ProtocolError`: nothing is retried
        while the user waits for a code.
        """
        try:
            grant = self._run(self._device_flow())
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
            flow = self._poll_flow(grant)
            token = self._run(flow)
        finally:
            self.close()
        return self._finish(token)

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
        shown = self._prompt(
            prompt,
            use_default_message,
            message,
            use_default_success_message,
            success_message,
            use_default_spinner,
            spinner,
        )
        with _showing(shown):
            shown.show_code(self.ping())
            shown.start_waiting()
            access_token = self.poll()
            assert self.token is not None
            shown.succeeded(self.token)
            return access_token

    # --- the whole token: discovery, refresh, storage, revocation -------------------------

    @classmethod
    def from_issuer(
        cls, issuer: str, client_id: str, scopes: Iterable[str] | str | None = None, **options: Any
    ) -> Self:
        """An authenticator for the server at `issuer`, its endpoints read from its metadata.

        Reads `/.well-known/openid-configuration`, then RFC 8414's
        `/.well-known/oauth-authorization-server`, checks that the document names this issuer,
        and takes the device, token and revocation endpoints from it (cached for the process).
        Other keyword options are those of `Authenticator`. Raises `ConfigurationError` when
        the server does not advertise a device authorization endpoint.
        """
        metadata = _discovered.get(issuer)
        if metadata is None:
            probe = cls._probe(options)
            try:
                metadata = probe._run(_lifecycle.discovery_flow(issuer, _user_agent()))
            finally:
                probe.close()
            _discovered[issuer] = metadata
        return cls(client_id, scopes=scopes, **_discovered_options(metadata, options))

    @classmethod
    def _probe(cls, options: Mapping[str, Any]) -> Self:
        """An instance able to send requests only, to read metadata before the real one."""
        probe = cls.__new__(cls)
        probe._init_http(
            options.get("http_client"), options.get("request_timeout", DEFAULT_REQUEST_TIMEOUT)
        )
        return probe

    def get_token(self, *, force_refresh: bool = False, prompt: Prompt | None = None) -> str:
        """A valid access token, with as little asking as possible: the call most apps want.

        A token that is still valid (in memory or in `store`) is returned with no request; an
        expired one is refreshed with its refresh token and stored; otherwise the device flow
        runs with the prompt (see `authenticate()`) and the new token is stored.
        `force_refresh=True` skips the first step, e.g. after the server answered 401.
        Threads calling at once share one refresh or one login; with a `FileTokenStore`, so do
        processes.
        """
        with self._login_lock, self._store_lock():
            token, still_valid = self._valid_token(force_refresh)
            if still_valid is not None:
                return still_valid
            if token is not None and token.refresh_token:
                try:
                    return self._keep(self._run(self._refresh_flow(token)))
                except InvalidGrant:
                    pass  # the refresh token is used up: log in again below
                finally:
                    self.close()
            self.authenticate(prompt=prompt)
            assert self.token is not None
            return self._keep(self.token)

    def refresh(self) -> str:
        """Refresh the current (or stored) token now and return the new access token.

        Keeps the old refresh token when the server does not send a new one. Raises
        `InvalidGrant` when the server rejects the refresh token: log in again then.
        """
        with self._login_lock, self._store_lock():
            token = self._token_to_use()
            if token is None:
                raise ConfigurationError("there is no token to refresh: call get_token() first")
            try:
                return self._keep(self._run(self._refresh_flow(token)))
            finally:
                self.close()

    def logout(self) -> None:
        """Forget the token here and in `store`, and revoke it at the server (RFC 7009).

        Revocation happens when a `revocation_url` is known (`from_issuer()` finds it). The
        refresh token is revoked when there is one, which ends the whole grant.
        """
        with self._login_lock, self._store_lock():
            token = self._forget()
            if token is None or self.revocation_url is None:
                return
            try:
                self._run(self._revocation(token))
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

    # --- token bookkeeping shared by both drivers ----------------------------------------

    def store_key(self) -> str:
        """The key this login's token is stored under (server, client, scopes, account)."""
        from loctocat.store import token_key

        server = self.issuer or self.token_url
        return token_key(server, self.client_id, _scopes_tuple(self.scopes), self.account)

    def _store_lock(self) -> AbstractContextManager[object]:
        return self.store.lock(self.store_key()) if self.store is not None else nullcontext()

    def _token_to_use(self) -> Token | None:
        """The freshest token known: a stored one (another process may have renewed it) wins."""
        stored = self.store.load(self.store_key()) if self.store is not None else None
        if stored is not None and stored != self.token:
            self.token = stored
        return self.token

    def _valid_token(self, force_refresh: bool) -> tuple[Token | None, str | None]:
        """The token to renew, or the access token to return as it is."""
        previous = self.token
        token = self._token_to_use()
        # After a 401 our token is suspect, but one renewed meanwhile by someone else is not.
        trusted = not force_refresh or token is not previous
        if token is not None and trusted and not token.is_expired(self.leeway):
            return token, token.access_token
        return token, None

    def _keep(self, token: Token) -> str:
        self.token = token
        if self.store is not None:
            self.store.save(self.store_key(), token)
        return token.access_token

    def _forget(self) -> Token | None:
        token = self._token_to_use()
        self.token = None
        if self.store is not None:
            self.store.delete(self.store_key())
        return token

    def _revocation(self, token: Token) -> Generator[Effect, Any, None]:
        assert self.revocation_url is not None
        value, hint = (
            (token.refresh_token, "refresh_token")
            if token.refresh_token
            else (token.access_token, "access_token")
        )
        return _lifecycle.revocation_flow(self._config(), self.revocation_url, value, hint)

    def close(self) -> None:
        """Close the HTTP connection loctocat opened (never an `http_client` you passed)."""
        client, self._own_http_client = self._own_http_client, None
        if client is not None:
            client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self, flow: Generator[Effect, Any, T]) -> T:
        result: Any = None
        try:
            while True:
                try:
                    effect = flow.send(result)
                except StopIteration as stop:
                    return stop.value  # type: ignore[no-any-return]
                result = self._perform(effect)
        finally:
            flow.close()

    def _perform(self, effect: Effect) -> object:
        if isinstance(effect, Request):
            return self._send(effect)
        if isinstance(effect, Sleep):
            time.sleep(effect.seconds)
            return None
        assert isinstance(effect, CallHandler)
        effect.handler.action(self)
        return None

    def _send(self, request: Request) -> Response | TransportFailure:
        import httpx

        client = self._user_http_client
        if client is None:
            if self._own_http_client is None:
                self._own_http_client = self._new_http_client(httpx.Client)
            client = self._own_http_client
        assert isinstance(client, httpx.Client)
        # httpx's timeout bounds each read, not the request: a server trickling its body would
        # never trip it, so the body is read against a deadline. The header phase is bounded
        # only by the per-read timeout and httpcore's limit on the size of the headers
        # (100 KiB); bounding it too would take a watchdog thread.
        deadline = time.monotonic() + self.request_timeout
        try:
            with client.stream(
                request.method,
                request.url,
                data=dict(request.form) or None,
                headers=request.headers,
                follow_redirects=False,  # even on a user's client: credentials stay put
            ) as response:
                body = bytearray()
                for chunk in response.iter_bytes():
                    if time.monotonic() > deadline:
                        return _no_complete_answer(self.request_timeout)
                    body += chunk
                    if len(body) > request.max_body_bytes:
                        break  # enough to know it is too large; the core says so
                return _response(response, bytes(body))
        except httpx.RequestError as exc:
            return _transport_failure(exc)

    # --- state shared by both drivers ---------------------------------------------------

    def _remember(self, grant: PendingGrant) -> LoctocatAuthInfo:
        self._grant = grant
        self.auth_info = grant.auth_info
        self.token = None
        return grant.auth_info

    def _finish(self, token: Token) -> str:
        self.token = token
        self._grant = None  # a device code is single-use (RFC 8628 §3.5)
        return token.access_token

    def _prompt(
        self,
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


class AsyncAuthenticator(Authenticator):
    """`Authenticator` with awaitable methods, for asyncio and trio (through anyio).

    Waiting never blocks the event loop, so thousands of flows can wait in one process.
    Cancelling the task (or the enclosing cancel scope) stops polling at once and closes the
    connection. `http_client` takes an `httpx.AsyncClient`; handlers' actions may be
    coroutine functions.

    ```python
    token = await AsyncAuthenticator(client_id, auth_url, token_url).authenticate()
    ```
    """

    _http_client_type_name = "httpx.AsyncClient"

    async def ping(self) -> LoctocatAuthInfo:  # type: ignore[override]
        """Ask the server for a device code and a user code (see `Authenticator.ping`)."""
        try:
            flow = self._device_flow()
            grant = await self._run_async(flow)
        except BaseException:
            await self.aclose()
            raise
        return self._remember(grant)

    async def poll(self) -> str:  # type: ignore[override]
        """Poll until the user approves and return the access token (see `Authenticator.poll`)."""
        grant = self._pending_grant()
        try:
            flow = self._poll_flow(grant)
            token = await self._run_async(flow)
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
        shown = self._prompt(
            prompt,
            use_default_message,
            message,
            use_default_success_message,
            success_message,
            use_default_spinner,
            spinner,
        )
        with _showing(shown):
            shown.show_code(await self.ping())
            shown.start_waiting()
            access_token = await self.poll()
            assert self.token is not None
            shown.succeeded(self.token)
            return access_token

    @classmethod
    async def from_issuer(  # type: ignore[override]
        cls, issuer: str, client_id: str, scopes: Iterable[str] | str | None = None, **options: Any
    ) -> Self:
        """An authenticator for the server at `issuer` (see `Authenticator.from_issuer`)."""
        metadata = _discovered.get(issuer)
        if metadata is None:
            probe = cls._probe(options)
            try:
                metadata = await probe._run_async(_lifecycle.discovery_flow(issuer, _user_agent()))
            finally:
                await probe.aclose()
            _discovered[issuer] = metadata
        return cls(client_id, scopes=scopes, **_discovered_options(metadata, options))

    async def get_token(  # type: ignore[override]
        self, *, force_refresh: bool = False, prompt: Prompt | None = None
    ) -> str:
        """A valid access token, refreshing or logging in only when needed.

        See `Authenticator.get_token`. Tasks calling at once share one refresh or one login.
        A `FileTokenStore`'s cross-process lock is taken without awaiting: brief, except
        while another process is logging in.
        """
        async with self._async_login_lock(), _async_context(self._store_lock()):
            token, still_valid = self._valid_token(force_refresh)
            if still_valid is not None:
                return still_valid
            if token is not None and token.refresh_token:
                try:
                    refreshed = await self._run_async(self._refresh_flow(token))
                    return self._keep(refreshed)
                except InvalidGrant:
                    pass  # the refresh token is used up: log in again below
                finally:
                    await self.aclose()
            await self.authenticate(prompt=prompt)
            assert self.token is not None
            return self._keep(self.token)

    async def refresh(self) -> str:  # type: ignore[override]
        """Refresh the current (or stored) token now (see `Authenticator.refresh`)."""
        async with self._async_login_lock(), _async_context(self._store_lock()):
            token = self._token_to_use()
            if token is None:
                raise ConfigurationError("there is no token to refresh: call get_token() first")
            try:
                refreshed = await self._run_async(self._refresh_flow(token))
                return self._keep(refreshed)
            finally:
                await self.aclose()

    async def logout(self) -> None:  # type: ignore[override]
        """Forget the token and revoke it at the server (see `Authenticator.logout`)."""
        async with self._async_login_lock(), _async_context(self._store_lock()):
            token = self._forget()
            if token is None or self.revocation_url is None:
                return
            try:
                await self._run_async(self._revocation(token))
            finally:
                await self.aclose()

    def _async_login_lock(self) -> anyio.Lock:
        import anyio

        # Made on first use, inside the event loop that will use it.
        lock: anyio.Lock | None = getattr(self, "_anyio_login_lock", None)
        if lock is None:
            lock = self._anyio_login_lock = anyio.Lock()
        return lock

    async def aclose(self) -> None:
        """Close the HTTP connection loctocat opened (never an `http_client` you passed)."""
        import anyio

        client, self._own_http_client = self._own_http_client, None
        if client is not None:
            # Shielded, so that closing still happens while the flow is being cancelled.
            with anyio.CancelScope(shield=True):
                await client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _run_async(self, flow: Generator[Effect, Any, T]) -> T:
        result: Any = None
        try:
            while True:
                try:
                    effect = flow.send(result)
                except StopIteration as stop:
                    return stop.value  # type: ignore[no-any-return]
                result = await self._perform_async(effect)
        finally:
            flow.close()

    async def _perform_async(self, effect: Effect) -> object:
        import anyio

        if isinstance(effect, Request):
            return await self._send_async(effect)
        if isinstance(effect, Sleep):
            await anyio.sleep(effect.seconds)
            return None
        assert isinstance(effect, CallHandler)
        outcome = effect.handler.action(self)
        if inspect.isawaitable(outcome):
            await outcome
        return None

    async def _send_async(self, request: Request) -> Response | TransportFailure:
        import anyio
        import httpx

        client = self._user_http_client
        if client is None:
            if self._own_http_client is None:
                self._own_http_client = self._new_http_client(httpx.AsyncClient)
            client = self._own_http_client
        assert isinstance(client, httpx.AsyncClient)
        # httpx's timeout bounds each read, not the request: the whole of it is bounded here.
        with anyio.move_on_after(self.request_timeout):
            try:
                async with client.stream(
                    request.method,
                    request.url,
                    data=dict(request.form) or None,
                    headers=request.headers,
                    follow_redirects=False,  # even on a user's client: credentials stay put
                ) as response:
                    body = bytearray()
                    with anyio.CancelScope() as reading:
                        async for chunk in response.aiter_bytes():
                            body += chunk
                            if len(body) > request.max_body_bytes:
                                # Enough to know it is too large; the core says so. Not
                                # `break`: that would abandon httpx's async generators unclosed.
                                reading.cancel()
                    return _response(response, bytes(body))
            except httpx.RequestError as exc:
                return _transport_failure(exc)
        return _no_complete_answer(self.request_timeout)


@asynccontextmanager
async def _async_context(context: AbstractContextManager[object]) -> AsyncIterator[None]:
    with context:
        yield


def _user_agent() -> str:
    from loctocat import __version__

    return f"loctocat/{__version__}"


def _discovered_options(
    metadata: _lifecycle.ServerMetadata, options: dict[str, Any]
) -> dict[str, Any]:
    """The constructor arguments a discovery document gives, under the caller's own options."""
    if metadata.device_authorization_endpoint is None:
        raise ConfigurationError(
            f"the server {metadata.issuer!r} does not advertise a device_authorization_endpoint, "
            "so it may not offer the device flow; if it does, pass auth_url and token_url "
            "to Authenticator yourself"
        )
    return {
        "auth_url": metadata.device_authorization_endpoint,
        "token_url": metadata.token_endpoint,
        "issuer": metadata.issuer,
        "revocation_url": metadata.revocation_endpoint,
        **options,
    }


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


def _response(response: httpx.Response, body: bytes) -> Response:
    headers = {name.lower(): value for name, value in response.headers.items()}
    return Response(response.status_code, headers, body)


def _transport_failure(exc: httpx.RequestError) -> TransportFailure:
    """No usable answer: a network failure, broken HTTP, or a body that cannot be decoded."""
    import httpx

    if isinstance(exc, httpx.TransportError):
        return TransportFailure(_describe_transport_error(exc))
    # httpx.DecodingError (a Content-Encoding the body does not match) is no TransportError.
    return TransportFailure(f"the answer could not be decoded ({exc})")


def _no_complete_answer(seconds: float) -> TransportFailure:
    return TransportFailure(f"no complete answer within {seconds:g} s")


def _describe_transport_error(exc: httpx.TransportError) -> str:
    import httpx

    kind = {
        httpx.ConnectTimeout: "connection timed out",
        httpx.ReadTimeout: "no answer in time",
        httpx.WriteTimeout: "sending timed out",
        httpx.PoolTimeout: "no free connection in time",
        httpx.ConnectError: "connection failed",
        httpx.ReadError: "connection broke while reading the answer",
        httpx.WriteError: "connection broke while sending",
        httpx.RemoteProtocolError: "the server broke the connection or sent malformed HTTP",
        httpx.ProxyError: "the proxy failed",
    }.get(type(exc), "network error")
    detail = str(exc)
    return f"{kind} ({detail})" if detail else kind


def _scopes_tuple(scopes: Iterable[str] | str | None) -> tuple[str, ...]:
    if scopes is None:
        return ()
    if isinstance(scopes, str):
        return tuple(scopes.split())  # "read write" is a common way to write two scopes
    result = tuple(scopes)
    for scope in result:
        if not isinstance(scope, str) or not scope or any(c.isspace() for c in scope):
            raise ConfigurationError(
                f"each scope must be a non-empty string without spaces, got {scope!r}"
            )
    return result


def _string_params(params: Mapping[str, object], what: str) -> dict[str, str]:
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
                f"{what} {name}={value!r} must be a string or a number, not {type(value).__name__}"
            )
    return result
