"""DPoP on the client side (RFC 9449): proofs on every token request, bound tokens kept with
their key, `Authorization: DPoP` with a proof (and `ath`) at resources, nonces retried once.

The server here is a few lines on `httpx.MockTransport` that checks each proof with PyJWT."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import requests

from loctocat import Authenticator, Identity, LoginRequired, ProtocolError, ServerError, Token
from loctocat._dpop import DPoPKey, access_token_hash, jwk_thumbprint
from loctocat._models import WhoAmI
from loctocat._oidc import ask_identity_flow
from loctocat.store import FileTokenStore, MemoryTokenStore

DEVICE = "https://as.example/device"
TOKEN = "https://as.example/token"


def checked_proof(request: httpx.Request, access_token: str | None = None) -> dict[str, Any]:
    """The proof's claims, with `jkt` (its key's thumbprint), once checked as a server does."""
    proof = request.headers["DPoP"]
    header = jwt.get_unverified_header(proof)
    assert header["typ"] == "dpop+jwt"
    key = jwt.PyJWK(header["jwk"], algorithm=header["alg"]).key
    claims: dict[str, Any] = jwt.decode(proof, key, algorithms=[header["alg"]])
    assert claims["htm"] == request.method
    assert claims["htu"] == str(request.url.copy_with(query=None, fragment=None))
    assert abs(claims["iat"] - datetime.now(UTC).timestamp()) < 60
    if access_token is not None:
        assert claims["ath"] == access_token_hash(access_token)
    return {**claims, "jkt": jwk_thumbprint(header["jwk"])}


class Server:
    """An authorization server and a resource that bind tokens to the proof's key."""

    def __init__(self, nonce: str | None = None) -> None:
        self.nonce = nonce
        self.proofs: list[dict[str, Any]] = []
        self.bound: dict[str, str] = {}  # access token -> jkt
        self.issued = 0
        self.token_type = "DPoP"
        #: What the resource answers to a good proof instead of 200: status and challenge.
        self.refusal: tuple[int, str] | None = None

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/device":
            return httpx.Response(
                200,
                json={
                    "device_code": "dc",
                    "user_code": "WDJB-MJHT",
                    "verification_uri": "https://as.example/activate",
                    "expires_in": 600,
                    "interval": 1,
                },
            )
        if request.url.path == "/token":
            claims = checked_proof(request)
            self.proofs.append(claims)
            if self.nonce is not None and claims.get("nonce") != self.nonce:
                return httpx.Response(
                    400, json={"error": "use_dpop_nonce"}, headers={"DPoP-Nonce": self.nonce}
                )
            self.issued += 1
            token = f"at-{self.issued}"
            self.bound[token] = claims["jkt"]
            answer = {"access_token": token, "token_type": self.token_type, "expires_in": 3600}
            answer["refresh_token"] = f"rt-{self.issued}"
            return httpx.Response(200, json=answer)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "DPoP" or "DPoP" not in request.headers:
            return httpx.Response(401, headers={"WWW-Authenticate": 'DPoP algs="ES256"'})
        claims = checked_proof(request, token)
        if self.nonce is not None and claims.get("nonce") != self.nonce:
            challenge = 'DPoP error="use_dpop_nonce"'
            headers = {"WWW-Authenticate": challenge, "DPoP-Nonce": self.nonce}
            return httpx.Response(401, headers=headers)
        if self.bound.get(token) != claims["jkt"]:
            return httpx.Response(401, headers={"WWW-Authenticate": 'DPoP error="invalid_token"'})
        if self.refusal is not None:
            status, challenge = self.refusal
            return httpx.Response(status, headers={"WWW-Authenticate": challenge})
        return httpx.Response(200, json={"me": "ada", "sub": "ada"})


def authenticator(server: Server, **options: Any) -> Authenticator:
    client = httpx.Client(transport=httpx.MockTransport(server.handler))
    return Authenticator(
        "cli", DEVICE, TOKEN, "read", dpop=True, http_client=client, min_interval=0.01, **options
    )


def test_a_login_gets_a_token_bound_to_its_key_and_uses_it_with_proofs() -> None:
    server = Server()
    auth = authenticator(server)
    auth.ping()
    auth.poll()

    token = auth.token
    assert token is not None
    assert token.token_type == "DPoP"
    assert token.dpop_key is not None
    assert server.bound[token.access_token] == token.dpop_key.thumbprint
    assert token.dpop_key.private_jwk()["d"] not in repr(token)
    assert "dpop_key" not in repr(token)

    with httpx.Client(transport=httpx.MockTransport(server.handler)) as api:
        answer = api.get("https://api.example/me?x=1", auth=auth.http_auth())
    assert answer.status_code == 200
    assert answer.request.headers["Authorization"] == f"DPoP {token.access_token}"


def test_each_login_has_its_own_key_and_a_refresh_keeps_it() -> None:
    server = Server()
    auth = authenticator(server)
    auth.ping()
    auth.poll()
    first = auth.token
    assert first is not None
    assert first.dpop_key is not None
    auth.refresh()
    refreshed = auth.token
    assert refreshed is not None
    assert refreshed.dpop_key is first.dpop_key
    assert server.proofs[-1]["jkt"] == first.dpop_key.thumbprint

    auth.ping()
    auth.poll()
    assert auth.token is not None
    assert auth.token.dpop_key is not None
    assert auth.token.dpop_key.thumbprint != first.dpop_key.thumbprint


def test_the_token_endpoints_nonce_is_used_after_one_retry_and_remembered() -> None:
    server = Server(nonce="n-1")
    auth = authenticator(server)
    auth.ping()
    auth.poll()
    assert [p.get("nonce") for p in server.proofs] == [None, "n-1"]
    auth.refresh()
    assert server.proofs[-1]["nonce"] == "n-1"  # remembered: no second refusal
    assert len(server.proofs) == 3


@pytest.mark.parametrize("library", ["httpx", "requests"])
def test_a_resource_that_asks_for_a_nonce_gets_one_retry_with_it(library: str) -> None:
    server = Server()
    auth = authenticator(server)
    auth.ping()
    auth.poll()
    server.nonce = "rs-nonce"  # the resource wants nonces now (the token is already bound)
    if library == "httpx":
        with httpx.Client(transport=httpx.MockTransport(server.handler)) as api:
            status = api.get("https://api.example/me", auth=auth.http_auth()).status_code
    else:
        session = requests.Session()
        session.mount("https://", _RequestsAdapter(server.handler))
        status = session.get("https://api.example/me", auth=auth.requests_auth()).status_code
    assert status == 200
    assert server.issued == 1  # the token was not renewed for it


@pytest.mark.parametrize("library", ["httpx", "requests"])
def test_a_token_refused_after_the_nonce_retry_is_still_renewed_once(library: str) -> None:
    """A resource asks for its nonce, then refuses the token itself (revoked): the nonce retry
    does not use up the renewal, which a refused token gets once, as without nonces."""
    server = Server()
    auth = authenticator(server)
    auth.ping()
    auth.poll()
    assert auth.token is not None
    server.nonce = "rs-nonce"
    del server.bound[auth.token.access_token]  # revoked
    if library == "httpx":
        with httpx.Client(transport=httpx.MockTransport(server.handler)) as api:
            answer = api.get("https://api.example/me", auth=auth.http_auth())
        status = answer.status_code
    else:
        session = requests.Session()
        session.mount("https://", _RequestsAdapter(server.handler))
        response = session.get("https://api.example/me", auth=auth.requests_auth())
        status = response.status_code
        assert [r.status_code for r in response.history] == [401, 401]
    assert status == 200
    assert server.issued == 2  # refreshed once


@pytest.mark.parametrize("nonce", [None, "rs-nonce"])
def test_who_is_logged_in_is_asked_with_the_bound_token_and_a_proof(nonce: str | None) -> None:
    """The userinfo endpoint is a resource like any other: `Authorization: DPoP` and a proof
    (with `ath`), never the bound token as Bearer; asked for a nonce, once more with it."""
    server = Server()
    auth = authenticator(server, userinfo_url="https://as.example/userinfo")
    auth.ping()
    auth.poll()
    server.nonce = nonce  # the resource's nonce, new to the client
    assert auth.identity() == Identity("ada", "ada", "userinfo")
    assert server.issued == 1  # answered to the proofs, without renewing the token


def test_the_userinfo_endpoints_dpop_challenge_says_why_it_refused_the_token() -> None:
    """RFC 9449 §7.1: a resource refuses a DPoP token in a `DPoP` challenge, with the same
    error codes as a Bearer one (RFC 6750 §3.1): read like a Bearer challenge."""
    server = Server()
    auth = authenticator(server, userinfo_url="https://as.example/userinfo")
    auth.ping()
    auth.poll()
    server.refusal = (
        403,
        'DPoP realm="as", error="insufficient_scope", '
        'error_description="access token missing openid scope", scope="openid", algs="ES256"',
    )
    with pytest.raises(ServerError) as refused:
        auth.identity()
    assert refused.value.error == "insufficient_scope"
    assert refused.value.status_code == 403
    message = str(refused.value)
    assert "access token missing openid scope" in message
    assert "log in again with the scope 'openid'" in message


def test_the_key_is_stored_with_the_token_privately_and_a_token_without_it_is_unusable(
    tmp_path: Path,
) -> None:
    server = Server()
    store = FileTokenStore(tmp_path / "tokens.json")
    auth = authenticator(server, store=store)
    auth.get_token(login=True, prompt=_Silent())
    key = auth.token.dpop_key if auth.token else None
    assert key is not None

    loaded = store.load(auth.store_key())
    assert loaded is not None
    assert loaded.dpop_key is not None
    assert loaded.dpop_key.thumbprint == key.thumbprint

    # The key is gone (an older loctocat, a copied file): refresh or log in again, never use it.
    document = json.loads((tmp_path / "tokens.json").read_text())
    for entry in document["tokens"].values():
        del entry["dpop_key"]
    (tmp_path / "tokens.json").write_text(json.dumps(document))
    fresh = authenticator(server, store=store)
    with pytest.raises(LoginRequired):
        fresh.get_token(login=False)


def test_a_bound_token_is_never_sent_as_bearer() -> None:
    held = Token("at", token_type="DPoP", expires_at=datetime.now(UTC) + timedelta(hours=1))
    from loctocat._flow import authorization_header

    with pytest.raises(ProtocolError, match="no longer known"):
        authorization_header(held)
    who = WhoAmI("https://as.example/userinfo", name_field="", subject_field="sub")
    with pytest.raises(ProtocolError, match="no longer known"):
        next(ask_identity_flow(held, who, "ua", "userinfo"))  # nothing is sent
    key = DPoPKey.generate()
    assert authorization_header(Token("at", token_type="DPoP", dpop_key=key)) == "DPoP at"
    memory = MemoryTokenStore()
    auth = Authenticator("cli", DEVICE, TOKEN, store=memory)
    memory.save(auth.store_key(), held)
    with pytest.raises(LoginRequired):
        auth.get_token(login=False)


class _Silent:
    def show_code(self, auth_info: Any) -> None:
        pass

    def start_waiting(self) -> None:
        pass

    def succeeded(self, token: Any) -> None:
        pass

    def failed(self, error: BaseException) -> None:
        pass

    def close(self) -> None:
        pass


class _RequestsAdapter(requests.adapters.BaseAdapter):
    """`requests` answered by an httpx-style handler, for the resource."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        super().__init__()
        self.handler = handler

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        answer = self.handler(
            httpx.Request(str(request.method), str(request.url), headers=dict(request.headers))
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response.headers.update(answer.headers)
        response._content = answer.content
        response.request = request
        response.url = str(request.url)
        response.connection = self  # type: ignore[attr-defined]
        return response

    def close(self) -> None:
        pass


@pytest.mark.parametrize("nonces", [False, True], ids=["no-nonces", "nonces"])
def test_a_whole_dpop_session_against_the_fake_server(nonces: bool) -> None:
    from loctocat.testing import FakeAuthorizationServer

    server = FakeAuthorizationServer(interval=0, dpop="required", require_dpop_nonce=nonces)
    store = MemoryTokenStore()
    with httpx.Client(transport=server.transport()) as client:
        auth = Authenticator.from_issuer(
            server.issuer, "cli", "read", dpop=True, http_client=client, store=store,
            min_interval=0.01,
        )  # fmt: skip
        server.plan("approve")
        auth.get_token(prompt=_Silent())
        token = auth.token
        assert token is not None
        assert token.dpop_key is not None
        assert server.issued_tokens[-1].jkt == token.dpop_key.thumbprint

        api = httpx.Client(transport=server.transport(), auth=auth.http_auth())
        with api:
            me = api.get(server.userinfo_url)
            assert me.status_code == 200, me.headers
            assert me.json()["cnf"]["jkt"] == token.dpop_key.thumbprint
            if nonces:
                server.rotate_dpop_nonce()
            assert api.get(server.userinfo_url).status_code == 200  # the new nonce, once
        auth.refresh()
        assert auth.token is not None
        assert server.issued_tokens[-1].jkt == token.dpop_key.thumbprint
        as_bearer = client.get(
            server.userinfo_url, headers={"Authorization": f"Bearer {auth.token.access_token}"}
        )
        assert as_bearer.status_code == 401
        assert auth.logout() is True


def test_a_refresh_answered_with_a_bearer_token_is_refused_not_stored() -> None:
    server = Server()
    auth = authenticator(server)
    auth.ping()
    auth.poll()
    bound_token = auth.token
    server.token_type = "Bearer"  # the server drops the binding on refresh

    with pytest.raises(ProtocolError, match="not bound to the key"):
        auth.refresh()
    assert auth.token is bound_token
