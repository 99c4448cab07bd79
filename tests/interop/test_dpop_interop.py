"""DPoP (RFC 9449) against the real ``oidc-provider``, with its DPoP feature on.

Every test runs twice (``dpop_peer``): against a server that takes proofs without nonces, and
against one that demands its current nonce in every proof, answering a proof without it with
``use_dpop_nonce`` (RFC 9449 §8 at the token endpoint: 400; §9 at the userinfo endpoint: 401
with ``WWW-Authenticate: DPoP error="use_dpop_nonce"``), which loctocat answers with one retry.

What the peer does, which these tests rely on:

* a token request with a proof binds the access token to the proof's key: ``token_type`` DPoP,
  and its introspection shows the key's thumbprint as ``cnf.jkt``; the client is public, so the
  refresh token is bound to the same key, and a refresh must be proven with that key;
* its userinfo endpoint takes a bound token only as ``Authorization: DPoP`` with a proof of
  that key carrying the token's hash (``ath``); as Bearer, or with another key's proof, it is
  refused with 401;
* its revocation endpoint takes the proof loctocat sends, and does not check it.

The logins ask for ``poll_interval=1`` (the peer sends no interval), so each takes a second or
two; the command line's login waits the RFC's 5 s once.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from oidc_peer import OIDCPeer, login_from_the_command_line, run_loctocat

from loctocat import AsyncAuthenticator, Authenticator, Identity, InvalidGrant, Token
from loctocat._dpop import DPoPKey
from loctocat._oidc import KEY_SETS
from loctocat.errors import ServerError
from loctocat.httpx_auth import LoctocatAuth
from loctocat.requests_auth import LoctocatRequestsAuth
from loctocat.store import MemoryTokenStore

pytestmark = pytest.mark.interop

SCOPES = ["openid", "offline_access"]
LOGIN = "alice"  # the peer's default login name: the `sub` of its tokens

# oidc-provider's default user codes: base-20 consonants, "****-****".
# One auth-param of a challenge (RFC 9110 §11.2).
AUTH_PARAM = re.compile(r'([\w-]+)="?([^",]*)"?')


@pytest.fixture(autouse=True)
def fresh_key_cache() -> None:
    """No JWKS read yet, as in a new process: a server of an earlier test may have had the
    same port, and its keys must not stand for this server's."""
    KEY_SETS.clear()


# -- what went over the wire -------------------------------------------------------------------


def jws_payload(jws: str) -> dict[str, Any]:
    part = jws.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


@dataclass(frozen=True)
class Exchange:
    """One request and the answer to it, as far as DPoP is concerned."""

    method: str
    path: str
    status: int
    #: The `Authorization` scheme the request used (None: no such header).
    scheme: str | None
    #: The `nonce` of the request's DPoP proof (None: no proof, or a proof without one).
    proof_nonce: str | None
    #: Whether the request had a DPoP proof.
    proven: bool
    #: The error the server answered: a 400's `error`, or a 401's challenge's `error`.
    error: str | None
    #: The `DPoP-Nonce` the server sent with the answer.
    nonce: str | None


def exchange_of(
    method: str, url: str, headers: Any, status: int, answer: Any, body: bytes
) -> Exchange:
    """An `Exchange` from a request's headers and its answer (httpx or requests alike)."""
    proof = headers.get("DPoP")
    authorization = headers.get("Authorization")
    error = None
    if status == 400:
        try:
            error = json.loads(body).get("error")
        except ValueError:
            error = None
    elif status == 401:
        challenge = answer.get("WWW-Authenticate", "")
        error = dict(AUTH_PARAM.findall(challenge)).get("error")
    return Exchange(
        method=method,
        path=httpx.URL(url).path,
        status=status,
        scheme=authorization.split(" ", 1)[0] if authorization else None,
        proof_nonce=jws_payload(proof).get("nonce") if proof else None,
        proven=proof is not None,
        error=error,
        nonce=answer.get("DPoP-Nonce"),
    )


class Wire:
    """The requests sent through an httpx client, each with its answer (`hooks()`), and the
    `requests` answers given to `seen_requests` (with the 401s retried in their history)."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []

    def hooks(self) -> dict[str, list[Callable[[httpx.Response], Any]]]:
        return {"response": [self.record]}

    async def record_async(self, response: httpx.Response) -> None:
        await response.aread()
        self.record(response)

    def record(self, response: httpx.Response) -> None:
        response.read()
        request = response.request
        self.exchanges.append(
            exchange_of(
                request.method,
                str(request.url),
                request.headers,
                response.status_code,
                response.headers,
                response.content,
            )
        )

    def seen_requests(self, response: requests.Response) -> None:
        for answer in [*response.history, response]:
            request = answer.request
            self.exchanges.append(
                exchange_of(
                    str(request.method),
                    str(request.url),
                    request.headers,
                    answer.status_code,
                    answer.headers,
                    answer.content,
                )
            )

    def to(self, url: str) -> list[Exchange]:
        path = httpx.URL(url).path
        return [e for e in self.exchanges if e.path == path]


@pytest.fixture
def wire() -> Wire:
    return Wire()


@pytest.fixture
def http(wire: Wire) -> Iterator[httpx.Client]:
    """The client loctocat sends its requests with, recorded."""
    with httpx.Client(timeout=10.0, event_hooks=wire.hooks()) as client:
        yield client


# -- logging in, and asking the peer ---------------------------------------------------------


def log_in(peer: OIDCPeer, http: httpx.Client, **options: Any) -> Authenticator:
    """A DPoP login to the peer, approved by the person as `LOGIN`."""
    options.setdefault("store", MemoryTokenStore())
    options.setdefault("scopes", SCOPES)
    auth = Authenticator.from_issuer(
        peer.issuer, peer.client_id, dpop=True, http_client=http, poll_interval=1, **options
    )
    info = auth.ping()
    assert peer.approve(info.user_code) == "approved"
    auth.poll()
    return auth


def bound_token(auth: Authenticator | AsyncAuthenticator) -> tuple[Token, DPoPKey]:
    token = auth.token
    assert token is not None
    assert token.token_type.lower() == "dpop"
    assert token.dpop_key is not None
    return token, token.dpop_key


def introspect(peer: OIDCPeer, token: str, hint: str) -> dict[str, Any]:
    """What the peer says of `token` (the public client may introspect its own tokens)."""
    form = {"token": token, "token_type_hint": hint, "client_id": peer.client_id}
    answer = httpx.post(peer.introspection_url, data=form, timeout=10.0)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def userinfo_httpx(peer: OIDCPeer, auth: httpx.Auth, wire: Wire) -> httpx.Response:
    with httpx.Client(timeout=10.0, event_hooks=wire.hooks()) as api:
        return api.get(peer.userinfo_url, auth=auth)


def userinfo_requests(
    peer: OIDCPeer, auth: requests.auth.AuthBase, wire: Wire
) -> requests.Response:
    with requests.Session() as session:
        answer = session.get(peer.userinfo_url, auth=auth, timeout=10.0)
    wire.seen_requests(answer)
    return answer


def check_nonces(peer: OIDCPeer, exchanges: list[Exchange], *, refused_status: int) -> int:
    """Check that every DPoP exchange with the peer followed its nonce rules; how many times
    the peer asked for a nonce (always 0 when it wants none).

    With nonces required, each proof without the peer's nonce is refused with
    ``use_dpop_nonce`` and the nonce to use, and sent once more at once with it; every other
    answer is to a proof with a nonce. Without, no proof has one and the peer sends none."""
    proven = [e for e in exchanges if e.proven]
    assert proven
    if not peer.dpop_nonces:
        assert all(e.proof_nonce is None and e.nonce is None for e in proven), exchanges
        assert all(e.error != "use_dpop_nonce" for e in proven), exchanges
        return 0
    asked = [i for i, e in enumerate(proven) if e.error == "use_dpop_nonce"]
    for i in asked:
        refused = proven[i]
        assert refused.status == refused_status, exchanges
        assert refused.nonce, exchanges  # the nonce to use
        assert refused.proof_nonce != refused.nonce, exchanges
        retry = proven[i + 1]
        assert (retry.method, retry.path) == (refused.method, refused.path), exchanges
        assert retry.proof_nonce == refused.nonce, exchanges
        assert retry.error != "use_dpop_nonce", exchanges
    answered = [e for i, e in enumerate(proven) if i not in asked]
    assert all(e.proof_nonce for e in answered), exchanges
    return len(asked)


# -- 1. the login ------------------------------------------------------------------------------


def test_a_dpop_login_binds_the_tokens_to_its_key(
    dpop_peer: OIDCPeer, http: httpx.Client, wire: Wire
) -> None:
    auth = log_in(dpop_peer, http)
    token, key = bound_token(auth)
    assert key.algorithm in dpop_peer.metadata["dpop_signing_alg_values_supported"]
    assert token.refresh_token

    # The peer's word: both tokens are bound to the key loctocat holds.
    access = introspect(dpop_peer, token.access_token, "access_token")
    assert access["active"] is True
    assert access["token_type"] == "DPoP"
    assert access["sub"] == LOGIN
    assert access["cnf"] == {"jkt": key.thumbprint}
    refresh = introspect(dpop_peer, token.refresh_token, "refresh_token")
    assert refresh["active"] is True
    assert refresh["cnf"] == {"jkt": key.thumbprint}

    # Every poll carried a proof (of that key), and the peer's nonce when it wants one.
    polls = wire.to(dpop_peer.token_url)
    assert polls
    assert all(e.proven for e in polls)
    assert polls[-1].status == 200
    # With nonces required, the first poll is refused for want of one; the others use it.
    assert check_nonces(dpop_peer, polls, refused_status=400) == int(dpop_peer.dpop_nonces)


# -- 2. and 3. the userinfo endpoint: with proofs, and as Bearer -------------------------------


def test_the_bound_token_works_at_the_userinfo_endpoint_with_proofs(
    dpop_peer: OIDCPeer, http: httpx.Client, wire: Wire
) -> None:
    auth = log_in(dpop_peer, http)
    token, _ = bound_token(auth)

    answer = userinfo_httpx(dpop_peer, auth.http_auth(), wire)
    assert answer.status_code == 200, answer.text
    assert answer.json()["sub"] == LOGIN
    assert answer.request.headers["Authorization"] == f"DPoP {token.access_token}"

    by_requests = userinfo_requests(dpop_peer, auth.requests_auth(), wire)
    assert by_requests.status_code == 200, by_requests.text
    assert by_requests.json()["sub"] == LOGIN

    resource = wire.to(dpop_peer.userinfo_url)
    assert all(e.scheme == "DPoP" and e.proven for e in resource)
    # With nonces required, each integration met the peer's demand for one, and answered it.
    asked = check_nonces(dpop_peer, resource, refused_status=401)
    assert asked == 2 * int(dpop_peer.dpop_nonces)
    statuses = [401, 200, 401, 200] if dpop_peer.dpop_nonces else [200, 200]
    assert [e.status for e in resource] == statuses


def test_the_bound_token_sent_as_bearer_is_refused(dpop_peer: OIDCPeer, http: httpx.Client) -> None:
    auth = log_in(dpop_peer, http)
    token, _ = bound_token(auth)
    headers = {"Authorization": f"Bearer {token.access_token}"}
    answer = httpx.get(dpop_peer.userinfo_url, headers=headers, timeout=10.0)
    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]


def test_who_logged_in_is_asked_of_the_userinfo_endpoint_with_a_proof(
    dpop_peer: OIDCPeer, http: httpx.Client, wire: Wire
) -> None:
    """Without a verified ID token, `identity()` asks the userinfo endpoint: with the bound
    token presented as DPoP, with a proof, like any other request to a resource."""
    auth = log_in(dpop_peer, http, verify_id_token=False)
    token, _ = bound_token(auth)
    assert token.claims is None
    before = len(wire.exchanges)
    assert auth.identity() == Identity(LOGIN, LOGIN, "userinfo")
    asked = wire.exchanges[before:]
    assert asked
    assert all(e.path == httpx.URL(dpop_peer.userinfo_url).path for e in asked)
    assert all(e.scheme == "DPoP" and e.proven for e in asked)
    assert asked[-1].status == 200
    check_nonces(dpop_peer, asked, refused_status=401)


def test_a_bound_token_without_openid_is_refused_by_the_userinfo_endpoint_for_its_scope(
    dpop_peer: OIDCPeer, http: httpx.Client
) -> None:
    """The peer's refusal, in its DPoP challenge, names the scope that is missing."""
    auth = log_in(dpop_peer, http, scopes=["offline_access"])
    bound_token(auth)
    with pytest.raises(ServerError) as refused:
        auth.identity()
    assert refused.value.error == "insufficient_scope"
    assert refused.value.status_code == 403
    message = str(refused.value)
    assert "access token missing openid scope" in message
    assert "log in again with the scope 'openid'" in message


# -- 4. a refresh --------------------------------------------------------------------------------


def test_a_refresh_keeps_the_binding(dpop_peer: OIDCPeer, http: httpx.Client, wire: Wire) -> None:
    auth = log_in(dpop_peer, http)
    first, key = bound_token(auth)

    auth.refresh()
    second, same = bound_token(auth)
    assert second.access_token != first.access_token
    assert same.thumbprint == key.thumbprint
    assert introspect(dpop_peer, second.access_token, "access_token")["cnf"] == {
        "jkt": key.thumbprint
    }
    assert second.refresh_token
    assert introspect(dpop_peer, second.refresh_token, "refresh_token")["cnf"] == {
        "jkt": key.thumbprint
    }
    refresh = wire.to(dpop_peer.token_url)[-1]
    assert refresh.proven
    assert refresh.status == 200

    # The refreshed token, with proofs of the same key, works at the userinfo endpoint.
    answer = userinfo_httpx(dpop_peer, auth.http_auth(), wire)
    assert answer.status_code == 200, answer.text
    assert answer.json()["sub"] == LOGIN
    assert answer.request.headers["Authorization"] == f"DPoP {second.access_token}"
    by_requests = userinfo_requests(dpop_peer, auth.requests_auth(), wire)
    assert by_requests.status_code == 200, by_requests.text

    check_nonces(dpop_peer, wire.to(dpop_peer.token_url), refused_status=400)


# -- 5. proofs by another key ------------------------------------------------------------------


class Holding:
    """A token source that holds one token and cannot renew it: what a resource says to it is
    what it says to that token, and the renewal it asks for after a 401 is only noted."""

    def __init__(self, token: Token) -> None:
        self.token: Token | None = token
        self.rejected: list[str | None] = []

    def get_token(self, *, rejected: str | None = None) -> str:
        if rejected is not None:
            self.rejected.append(rejected)
        assert self.token is not None
        return self.token.access_token


def test_proofs_by_another_key_are_refused(
    dpop_peer: OIDCPeer, http: httpx.Client, wire: Wire
) -> None:
    auth = log_in(dpop_peer, http)
    token, key = bound_token(auth)
    other = DPoPKey.generate()
    assert other.thumbprint != key.thumbprint
    stolen = dataclasses.replace(token, dpop_key=other)

    # At the userinfo endpoint: refused, and once more after the renewal it asks for (which
    # changes nothing here), by both integrations.
    holder = Holding(stolen)
    answer = userinfo_httpx(dpop_peer, LoctocatAuth(holder), wire)
    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]
    assert holder.rejected == [token.access_token]
    requests_holder = Holding(stolen)
    by_requests = userinfo_requests(dpop_peer, LoctocatRequestsAuth(requests_holder), wire)
    assert by_requests.status_code == 401
    assert requests_holder.rejected == [token.access_token]
    resource = wire.to(dpop_peer.userinfo_url)
    assert all(e.scheme == "DPoP" and e.proven for e in resource)
    # With nonces required, the peer first asks for one: the proof is checked only then.
    asked = ["use_dpop_nonce"] if dpop_peer.dpop_nonces else []
    assert [e.error for e in resource] == [*asked, "invalid_token", "invalid_token"] * 2

    # The refresh token is bound too: a refresh proven by another key is refused ...
    auth.token = stolen
    with pytest.raises(InvalidGrant) as refused:
        auth.refresh()
    assert refused.value.error == "invalid_grant"
    # ... and leaves the refresh token to its key's holder.
    auth.token = token
    auth.refresh()
    refreshed, same = bound_token(auth)
    assert same.thumbprint == key.thumbprint
    assert userinfo_httpx(dpop_peer, auth.http_auth(), wire).status_code == 200
    assert refreshed.access_token != token.access_token


# -- 6. nonces, all along ------------------------------------------------------------------------


def test_a_whole_dpop_session_follows_the_peers_nonce_rules(
    dpop_peer: OIDCPeer, http: httpx.Client, wire: Wire
) -> None:
    """Log in, use the token, refresh it, use it again, log out: against the peer that wants
    nonces, it asks for one at the token endpoint and at the userinfo endpoint, and each time
    loctocat sends the request once more with it (and then remembers it)."""
    auth = log_in(dpop_peer, http)
    assert userinfo_httpx(dpop_peer, auth.http_auth(), wire).status_code == 200
    auth.refresh()
    refreshed, _ = bound_token(auth)
    resource = auth.http_auth()
    for _ in range(2):
        assert userinfo_httpx(dpop_peer, resource, wire).status_code == 200
    assert userinfo_requests(dpop_peer, auth.requests_auth(), wire).status_code == 200
    assert auth.logout() is True

    token_endpoint = wire.to(dpop_peer.token_url)
    userinfo = wire.to(dpop_peer.userinfo_url)
    revocation = wire.to(dpop_peer.revocation_url)
    assert all(e.proven for e in [*token_endpoint, *userinfo, *revocation])
    assert [e.status for e in revocation] == [200]
    # The token endpoint asked once: its nonce was kept (fresh, from each answer) for every
    # later poll and the refresh. Each resource auth was asked once, for its first request.
    nonces = int(dpop_peer.dpop_nonces)
    assert check_nonces(dpop_peer, token_endpoint, refused_status=400) == nonces
    assert check_nonces(dpop_peer, userinfo, refused_status=401) == 3 * nonces
    statuses = [401, 200, 401, 200, 200, 401, 200] if nonces else [200, 200, 200, 200]
    assert [e.status for e in userinfo] == statuses

    # Logged out: the peer revoked the grant, so the bound token is of no use even with proofs.
    gone = userinfo_httpx(dpop_peer, LoctocatAuth(Holding(refreshed)), wire)
    assert gone.status_code == 401


# -- async -------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_an_async_dpop_login_refresh_and_request(
    dpop_peer: OIDCPeer, wire: Wire, anyio_backend: str
) -> None:
    async with httpx.AsyncClient(
        timeout=10.0, event_hooks={"response": [wire.record_async]}
    ) as http:
        auth = await AsyncAuthenticator.from_issuer(
            dpop_peer.issuer,
            dpop_peer.client_id,
            SCOPES,
            dpop=True,
            http_client=http,
            poll_interval=1,
            store=MemoryTokenStore(),
        )
        info = await auth.ping()
        assert await dpop_peer.approve_async(info.user_code) == "approved"
        await auth.poll()
        first, key = bound_token(auth)
        await auth.refresh()
        token, same = bound_token(auth)
        assert token.access_token != first.access_token
        assert same.thumbprint == key.thumbprint
        assert introspect(dpop_peer, token.access_token, "access_token")["cnf"] == {
            "jkt": key.thumbprint
        }
        answer = await http.get(dpop_peer.userinfo_url, auth=auth.http_auth())
        assert answer.status_code == 200, answer.text
        assert answer.json()["sub"] == LOGIN
        assert answer.request.headers["Authorization"] == f"DPoP {token.access_token}"

    nonces = int(dpop_peer.dpop_nonces)
    assert check_nonces(dpop_peer, wire.to(dpop_peer.token_url), refused_status=400) == nonces
    assert check_nonces(dpop_peer, wire.to(dpop_peer.userinfo_url), refused_status=401) == nonces


# -- the command line ----------------------------------------------------------------------------


def test_the_command_line_logs_in_with_dpop_and_keeps_the_key_to_itself(
    dpop_peer: OIDCPeer, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    store = tmp_path / "tokens.json"
    selection = [
        "--issuer",
        dpop_peer.issuer,
        "--client-id",
        dpop_peer.client_id,
        "--scope",
        "openid",
        "--scope",
        "offline_access",
        "--store",
        str(store),
        "--dpop",
    ]
    _, said = login_from_the_command_line(dpop_peer, cli_env, selection)
    assert f"Logged in to 127.0.0.1 as {LOGIN} " in " ".join(said.split()), said

    # The stored token is bound to the key stored with it, as the peer says.
    [entry] = json.loads(store.read_text())["tokens"].values()
    stored = entry["response"]
    assert stored["token_type"].lower() == "dpop"
    private = entry["dpop_key"]
    assert private["d"]
    key = DPoPKey.from_jwk(private)
    assert introspect(dpop_peer, stored["access_token"], "access_token")["cnf"] == {
        "jkt": key.thumbprint
    }

    # The access token alone is of no use: the command says so in one line, and fails.
    alone = run_loctocat(cli_env, "token", *selection)
    assert alone.returncode == 1
    assert alone.stdout == ""
    [line] = alone.stderr.splitlines()
    assert "bound to a DPoP key" in line
    assert "--json" in line

    # Its data for scripts: the token, without the private key.
    data = run_loctocat(cli_env, "token", *selection, "--json")
    assert data.returncode == 0, data.stderr
    printed = json.loads(data.stdout)
    assert printed["access_token"] == stored["access_token"]
    assert printed["token_type"].lower() == "dpop"
    assert private["d"] not in data.stdout
    assert private["d"] not in data.stderr
    assert "dpop_key" not in printed

    # The token works, with proofs of the stored key.
    held = Token(stored["access_token"], token_type="DPoP", dpop_key=key)
    with httpx.Client(timeout=10.0) as api:
        answer = api.get(dpop_peer.userinfo_url, auth=LoctocatAuth(Holding(held)))
    assert answer.status_code == 200, answer.text
    assert answer.json()["sub"] == LOGIN
