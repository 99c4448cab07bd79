"""`LoctocatAuth`: send an authenticator's access token with every httpx request.

```python
authenticator = Authenticator.from_issuer("https://auth.example.com", "my-client-id")
with httpx.Client(auth=authenticator.http_auth()) as client:
    client.get("https://api.example.com/me")  # logs in on first use, refreshes when needed
```
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from typing import TYPE_CHECKING

import httpx

from loctocat._dpop import Nonces, nonce_challenge
from loctocat._flow import authorization_header, resource_proof
from loctocat._sources import TokenSource, check_source, is_async
from loctocat.errors import ConfigurationError

if TYPE_CHECKING:
    pass

__all__ = ["LoctocatAuth"]


class LoctocatAuth(httpx.Auth):
    """An `httpx.Auth` that sends `Authorization: Bearer <access token>` and keeps it valid.

    Build it with `authenticator.http_auth()` (or `LoctocatAuth(authenticator)`) and pass it
    as `auth=` to a client or a single request. Use an `Authenticator` with `httpx.Client`,
    an `AsyncAuthenticator` with `httpx.AsyncClient`; the other pairing raises
    `ConfigurationError` on the first request.

    Before each request it asks `authenticator.get_token()`, which answers from memory (or the
    token store) while the token is valid, refreshes it when it has expired, and runs the
    device flow (prompting on stderr) when there is no token or it cannot be refreshed.

    When the server still answers 401 (the token was revoked, or expired earlier than it said),
    the token is renewed with `get_token(rejected=...)` and the request is sent once more
    (requests refused together with one token share one renewal); a second 401 is returned to
    you as it is. A request whose body is a stream (a generator, a file upload) cannot be sent
    twice: its 401 is returned at once, and the next request uses the renewed token.

    The scheme is `Bearer` (RFC 6750), whatever the case of the `token_type` the server sent
    (GitHub says `bearer`); a token of any other type is never sent as Bearer: the request
    raises `ProtocolError` instead (RFC 6749 §7.1). httpx drops the header when following a
    redirect to another origin, so the token only goes where you sent the request.
    """

    # The 401 body is not needed to decide anything, and a streamed response stays streamed.
    requires_response_body = False

    def __init__(self, authenticator: TokenSource) -> None:
        self.authenticator = check_source(authenticator, "LoctocatAuth")
        # The latest DPoP nonce of each resource server (RFC 9449 §9).
        self._nonces = Nonces()

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """The flow `httpx.Client` runs: authorize, send, and on 401 renew and resend once."""
        authenticator = self.authenticator
        if is_async(authenticator):
            raise ConfigurationError(
                "an AsyncAuthenticator's auth works only in an httpx.AsyncClient: use an "
                "httpx.AsyncClient, or an Authenticator for this httpx.Client"
            )
        authenticator.get_token()
        sent, token = _authorize(request, authenticator, self._nonces)
        response = yield request
        if self._nonce_asked(response, request):
            response.read()
            response.close()
            sent, token = _authorize(request, authenticator, self._nonces)
            response = yield request
        if not _should_retry(response, sent):
            return
        # Release the connection before renewing, which may take a whole login.
        response.read()
        response.close()
        authenticator.get_token(rejected=token)
        _authorize(request, authenticator, self._nonces)
        if _replayable(request):
            yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """The flow `httpx.AsyncClient` runs: the same as `sync_auth_flow`, awaiting."""
        authenticator = self.authenticator
        if not is_async(authenticator):
            raise ConfigurationError(
                "an Authenticator's auth works only in an httpx.Client: use an "
                "AsyncAuthenticator for this httpx.AsyncClient"
            )
        await authenticator.get_token()
        sent, token = _authorize(request, authenticator, self._nonces)
        response = yield request
        if self._nonce_asked(response, request):
            await response.aread()
            await response.aclose()
            sent, token = _authorize(request, authenticator, self._nonces)
            response = yield request
        if not _should_retry(response, sent):
            return
        await response.aread()
        await response.aclose()
        await authenticator.get_token(rejected=token)
        _authorize(request, authenticator, self._nonces)
        if _replayable(request):
            yield request

    def _nonce_asked(self, response: httpx.Response, request: httpx.Request) -> bool:
        """A DPoP resource asked for its nonce (kept now): resend once, with a new proof."""
        return (
            "DPoP" in request.headers
            and _replayable(request)
            and nonce_challenge(
                response.status_code, response.headers, self._nonces, str(request.url)
            )
        )


def _authorize(
    request: httpx.Request, authenticator: TokenSource, nonces: Nonces
) -> tuple[str, str]:
    """Put the authenticator's current token on `request` (with a fresh DPoP proof for a
    DPoP-bound token, RFC 9449 §7): the header value, and the token."""
    token = authenticator.token
    assert token is not None  # get_token() has just returned it
    header = authorization_header(token)
    request.headers["Authorization"] = header
    proof = resource_proof(token, nonces, str(request.url))
    if proof is not None:
        request.headers["DPoP"] = proof.header(request.method, str(request.url))
    else:
        request.headers.pop("DPoP", None)
    return header, token.access_token


def _should_retry(response: httpx.Response, sent: str) -> bool:
    # Only a 401 to the request that carried the token says the token is bad: after a
    # redirect to another origin httpx has removed it, and that server's 401 is about
    # something else.
    return response.status_code == 401 and response.request.headers.get("Authorization") == sent


def _replayable(request: httpx.Request) -> bool:
    # Bodies given as bytes, text, form data or JSON are kept in memory and can be resent;
    # generators and uploads are streamed once.
    return isinstance(request.stream, httpx.ByteStream)
