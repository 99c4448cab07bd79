"""`LoctocatRequestsAuth`: send an authenticator's access token with every `requests` request.

Needs `requests` (`pip install loctocat[requests]`)::

    authenticator = Authenticator.from_issuer("https://auth.example.com", "my-client-id")
    session = requests.Session()
    session.auth = authenticator.requests_auth()
    session.get("https://api.example.com/me")  # logs in on first use, refreshes when needed
"""

from __future__ import annotations

from typing import Any

import requests
import requests.auth
from requests.cookies import extract_cookies_to_jar

from loctocat._dpop import Nonces, nonce_challenge
from loctocat._flow import authorization_header, resource_proof
from loctocat._sources import SyncTokenSource, check_source, is_async
from loctocat.errors import ConfigurationError

__all__ = ["LoctocatRequestsAuth"]


class LoctocatRequestsAuth(requests.auth.AuthBase):
    """A `requests` auth that sends `Authorization: Bearer <access token>` and keeps it valid.

    Build it with `authenticator.requests_auth()` (or `LoctocatRequestsAuth(authenticator)`)
    and pass it as `auth=` to a request or set it as `session.auth`. It takes a synchronous
    `Authenticator`: `requests` has no async API, so an `AsyncAuthenticator` raises
    `ConfigurationError`.

    Before each request it asks `authenticator.get_token()`, which answers from memory (or the
    token store) while the token is valid, refreshes it when it has expired, and runs the
    device flow (prompting on stderr) when there is no token or it cannot be refreshed.

    When the server still answers 401, the token is renewed with `get_token(rejected=...)`
    (requests refused together with one token share one renewal) and the request is sent once
    more; you get the answer to the retry, with the 401 in its `.history`. (A DPoP resource's
    401 asking for its nonce is first answered by sending the request again with a proof
    holding it, RFC 9449 §9; a 401 to that still renews the token.) A second 401 is
    returned as it is. A body that cannot be rewound (a generator) is not sent twice: the 401
    is returned and the next request uses the renewed token.

    The scheme is `Bearer` (RFC 6750); a token of any other type is never sent as Bearer: the
    request raises `ProtocolError` instead (RFC 6749 §7.1). `requests` drops the header when
    following a redirect to another host, and a 401 from such a host does not renew or resend
    anything.
    """

    def __init__(self, authenticator: SyncTokenSource) -> None:
        source = check_source(authenticator, "LoctocatRequestsAuth")
        if is_async(source):
            raise ConfigurationError(
                "LoctocatRequestsAuth needs a synchronous loctocat Authenticator (requests "
                f"blocks), got {type(authenticator).__name__}; for async code use an "
                "AsyncAuthenticator's http_auth() with httpx.AsyncClient"
            )
        self.authenticator = authenticator
        # The latest DPoP nonce of each resource server (RFC 9449 §9).
        self._nonces = Nonces()

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        self.authenticator.get_token()
        sent, token = self._current()
        r.headers["Authorization"] = sent
        self._prove(r)
        # Where the body starts, to rewind it for the retry (as requests' HTTPDigestAuth does).
        tell = getattr(r.body, "tell", None)
        position: int | None = tell() if tell is not None else None
        # Each at most once per request (redirects included): a resend with the nonce a DPoP
        # resource asks for, and a renewal of the token the resource refused.
        nonce_sent = renewed = False

        def handle_401(response: requests.Response, **kwargs: Any) -> requests.Response:
            nonlocal sent, nonce_sent, renewed
            answer = response
            # Only a 401 to a request that carried this token says the token is bad; the hook
            # also sees the answers to redirects, where requests may have removed it.
            while answer.status_code == 401 and answer.request.headers.get("Authorization") == sent:
                url = str(answer.request.url)
                asked = nonce_challenge(answer.status_code, answer.headers, self._nonces, url)
                if asked and not nonce_sent:
                    nonce_sent = True  # the same token, with a proof holding the nonce
                    renew = False
                elif not renewed:
                    renewed = renew = True
                else:
                    return answer
                # Read the body so the connection goes back to the pool before renewing, which
                # may take a whole login.
                _ = answer.content
                answer.close()
                if renew:
                    self.authenticator.get_token(rejected=token)
                sent, _ = self._current()
                retry = self._retry(answer, sent, position)
                if retry is None:
                    return answer  # a generator: it has been consumed and cannot be resent
                # Straight to the adapter: the session's hooks (this one) do not run again.
                resent: requests.Response = answer.connection.send(retry, **kwargs)
                resent.history = [*answer.history, answer]
                resent.request = retry
                answer = resent
            return answer

        r.register_hook("response", handle_401)  # type: ignore[no-untyped-call]
        return r

    def _retry(
        self, answer: requests.Response, header: str, position: int | None
    ) -> requests.PreparedRequest | None:
        """The request `answer` answers, to send once more with `header` and a new proof; None
        when its body cannot be sent again."""
        request = answer.request
        body = request.body
        if body is not None and not isinstance(body, str | bytes):
            seek = getattr(body, "seek", None)
            if seek is None or position is None:
                return None
            seek(position)
        retry = request.copy()
        # Cookies the 401 set belong to the retry, as a browser would send them.
        # requests' stubs neither declare `_cookies` nor type these helpers.
        cookies = retry._cookies  # type: ignore[attr-defined]
        extract_cookies_to_jar(cookies, request, answer.raw)  # type: ignore[no-untyped-call]
        retry.prepare_cookies(cookies)
        retry.headers["Authorization"] = header
        self._prove(retry)
        return retry

    def _prove(self, request: requests.PreparedRequest) -> None:
        """A fresh DPoP proof on `request` for a DPoP-bound token (RFC 9449 §7)."""
        token = self.authenticator.token
        assert token is not None
        proof = resource_proof(token, self._nonces, str(request.url))
        if proof is not None:
            request.headers["DPoP"] = proof.header(str(request.method), str(request.url))
        else:
            request.headers.pop("DPoP", None)

    def _current(self) -> tuple[str, str]:
        """The Authorization value for the authenticator's current token, and the token."""
        token = self.authenticator.token
        assert token is not None  # get_token() has just returned it
        return authorization_header(token), token.access_token
