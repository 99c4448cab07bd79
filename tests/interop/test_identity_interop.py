"""Who is logged in, against the real ``oidc-provider``: ID tokens verified after the login and
after each refresh, a signing key rotated at the peer, the userinfo endpoint, and the CLI.

What the peer does, which these tests rely on (tests/interop/test_peer_raw.py pins it down):

* the account ID, and so ``sub``, is the login name typed on its development login page; the
  account's ``name`` (profile scope) is that name with a capital ("ada" is "Ada");
* its ID tokens carry ``sub`` but not ``name``: oidc-provider puts the profile claims in the ID
  token only when no access token is issued with it, so with ``profile`` they are for the
  userinfo endpoint, and the name loctocat shows from the ID token is the ``sub``;
* a refresh answers a new ID token when ``openid`` was granted;
* its userinfo endpoint refuses an access token without ``openid``: HTTP 403 with
  ``error="insufficient_scope"``, ``scope="openid"`` (RFC 6750 §3.1);
* ``reloadable_peer`` restarts it with its grants kept, and can rotate its signing key.

The logins ask for ``poll_interval=1`` (the peer sends no interval and does not throttle), so
each takes a second or two; the command line's login waits the RFC's 5 s once.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from oidc_peer import (
    OIDCPeer,
    ReloadablePeer,
    login_from_the_command_line,
    run_loctocat,
)

from loctocat import (
    AsyncAuthenticator,
    Authenticator,
    Identity,
    InvalidIDToken,
    LoctocatAuthInfo,
    Token,
)
from loctocat._oidc import KEY_SETS
from loctocat.errors import ServerError
from loctocat.store import FileTokenStore, MemoryTokenStore

pytestmark = pytest.mark.interop

SCOPES = ["openid", "offline_access", "profile"]
#: The login name the person signs in with at the peer: the account, so the `sub`, it approves.
LOGIN = "ada"
OTHER_LOGIN = "grace"
FIRST_KID = "interop"  # the kid of the key oidc_server.mjs starts with

# oidc-provider's default user codes: base-20 consonants, "****-****".


@pytest.fixture(autouse=True)
def fresh_key_cache() -> None:
    """Every test starts with no JWKS read, as a new process would.

    The cache is per JWKS URL, and a server of an earlier test may have had the same port:
    its keys must not stand for this server's.
    """
    KEY_SETS.clear()


class ApprovingPerson:
    """A prompt that hands the code to a 'person' who signs in as `login` and approves it."""

    def __init__(self, peer: OIDCPeer, login: str = LOGIN) -> None:
        self.peer = peer
        self.login = login
        self.codes_shown = 0
        self.threads: list[threading.Thread] = []

    def show_code(self, auth_info: LoctocatAuthInfo) -> None:
        self.codes_shown += 1
        # In a thread, as a person in a browser would: the flow must not wait for it.
        person = threading.Thread(
            target=self.peer.approve, args=(auth_info.user_code,), kwargs={"login": self.login}
        )
        person.start()
        self.threads.append(person)

    def start_waiting(self) -> None:
        pass

    def succeeded(self, token: Token) -> None:
        pass

    def failed(self, error: BaseException) -> None:
        pass

    def close(self) -> None:
        for person in self.threads:
            person.join(timeout=30)


class Requests:
    """The requests loctocat sends through its http_client, as "METHOD /path"."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def hooks(self) -> dict[str, list[Callable[[httpx.Request], Any]]]:
        return {"request": [self.record]}

    def record(self, request: httpx.Request) -> None:
        self.sent.append(f"{request.method} {request.url.path}")

    async def record_async(self, request: httpx.Request) -> None:
        self.record(request)


def jws_part(jws: str, index: int) -> dict[str, Any]:
    part = jws.split(".")[index]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def kid_of(jws: str) -> str:
    return str(jws_part(jws, 0)["kid"])


def audiences(claims: Any) -> list[str]:
    aud = claims["aud"]
    return [aud] if isinstance(aud, str) else list(aud)


def expired(token: Token) -> Token:
    return dataclasses.replace(token, expires_at=datetime.now(UTC) - timedelta(seconds=1))


def check_login(token: Token | None, peer: OIDCPeer, login: str = LOGIN) -> Token:
    """The token of a login approved as `login`, its ID token verified: claims and identity."""
    assert token is not None
    assert token.id_token is not None
    assert token.claims is not None
    # The claims are what the peer signed, for this account, this issuer and this client.
    assert dict(token.claims) == jws_part(token.id_token, 1)
    assert token.claims["sub"] == login
    assert token.claims["iss"] == peer.issuer
    assert peer.client_id in audiences(token.claims)
    with pytest.raises(TypeError):
        token.claims["sub"] = "mallory"  # type: ignore[index]
    # The ID token names only `sub` (see the module's docstring): it is the name shown too.
    assert token.identity == Identity(login, login, "id_token")
    return token


# -- 1. the login: discovery, device flow, verified ID token ----------------------------------


def test_login_verifies_the_id_token_and_knows_who_logged_in(
    oidc_peer: OIDCPeer, tmp_path: Path
) -> None:
    store = FileTokenStore(tmp_path / "tokens.json")
    requests = Requests()
    with httpx.Client(timeout=10.0, event_hooks=requests.hooks()) as http:
        auth = Authenticator.from_issuer(
            oidc_peer.issuer,
            oidc_peer.client_id,
            SCOPES,
            store=store,
            http_client=http,
            poll_interval=1,
        )
        person = ApprovingPerson(oidc_peer)
        auth.get_token(prompt=person)
        assert person.codes_shown == 1
        token = check_login(auth.token, oidc_peer)
        assert set(token.scopes) == set(SCOPES)
        # Verified against the peer's keys, fetched once.
        assert requests.sent.count(f"GET {httpx.URL(oidc_peer.jwks_uri).path}") == 1

        # Who is logged in: the claims say it, no request is needed.
        before = len(requests.sent)
        assert auth.identity() == Identity(LOGIN, LOGIN, "id_token")
        assert requests.sent[before:] == []

        # Stored with the token: another run of the program knows it without a request.
        again = Authenticator.from_issuer(
            oidc_peer.issuer, oidc_peer.client_id, SCOPES, store=store, http_client=http
        )
        assert again.identity() == Identity(LOGIN, LOGIN, "id_token")
        assert requests.sent[before:] == []
        stored = store.load(auth.store_key())
        assert stored is not None
        assert stored.claims == token.claims
        assert stored.identity == token.identity


@pytest.mark.anyio
async def test_login_verifies_the_id_token_and_knows_who_logged_in_async(
    oidc_peer: OIDCPeer, anyio_backend: str
) -> None:
    requests = Requests()
    async with httpx.AsyncClient(
        timeout=10.0, event_hooks={"request": [requests.record_async]}
    ) as http:
        auth = await AsyncAuthenticator.from_issuer(
            oidc_peer.issuer,
            oidc_peer.client_id,
            SCOPES,
            store=MemoryTokenStore(),
            http_client=http,
            poll_interval=1,
        )
        person = ApprovingPerson(oidc_peer)
        with anyio.fail_after(30):
            await auth.get_token(prompt=person)
        person.close()
        check_login(auth.token, oidc_peer)
        before = len(requests.sent)
        assert await auth.identity() == Identity(LOGIN, LOGIN, "id_token")
        assert requests.sent[before:] == []


# -- 2. a refresh: a new ID token, verified, for the same user ---------------------------------


def test_a_refresh_verifies_the_new_id_token_and_keeps_the_identity(oidc_peer: OIDCPeer) -> None:
    auth = Authenticator.from_issuer(
        oidc_peer.issuer, oidc_peer.client_id, SCOPES, store=MemoryTokenStore(), poll_interval=1
    )
    auth.get_token(prompt=ApprovingPerson(oidc_peer))
    first = check_login(auth.token, oidc_peer)
    # The peer's RS256 signatures are deterministic: an ID token with the same claims, issued
    # within the same second, would be the same text. The next one is issued a second later.
    time.sleep(1.1)

    auth.refresh()
    second = check_login(auth.token, oidc_peer)
    # The peer answered the refresh with a new ID token, and its claims are the ones loctocat
    # holds now (check_login compared them with the token's payload): they were verified anew.
    assert second.id_token != first.id_token
    assert second.claims is not first.claims
    assert second.claims is not None
    assert first.claims is not None
    assert second.claims["iat"] > first.claims["iat"]
    assert second.claims["sub"] == first.claims["sub"] == LOGIN
    assert second.identity == first.identity
    assert auth.identity() == Identity(LOGIN, LOGIN, "id_token")


def test_a_refreshed_id_token_for_another_user_than_the_logins_is_refused(
    oidc_peer: OIDCPeer,
) -> None:
    """OpenID Connect Core §12.2, with the peer's real refresh answer: the login's claims are
    made to say someone else logged in, so the peer's (true) new ID token no longer matches."""
    store = MemoryTokenStore()
    auth = Authenticator.from_issuer(
        oidc_peer.issuer, oidc_peer.client_id, SCOPES, store=store, poll_interval=1
    )
    auth.get_token(prompt=ApprovingPerson(oidc_peer))
    token = check_login(auth.token, oidc_peer)
    assert token.claims is not None
    someone_else = dataclasses.replace(
        token, claims={**token.claims, "sub": "mallory"}, identity=None
    )
    auth.token = someone_else
    store.save(auth.store_key(), someone_else)
    with pytest.raises(InvalidIDToken) as refused:
        auth.refresh()
    assert refused.value.check == "sub"
    assert "§12.2" in str(refused.value)


@pytest.mark.anyio
async def test_an_expired_token_is_refreshed_with_a_verified_id_token_async(
    oidc_peer: OIDCPeer, anyio_backend: str
) -> None:
    store = MemoryTokenStore()
    auth = await AsyncAuthenticator.from_issuer(
        oidc_peer.issuer, oidc_peer.client_id, SCOPES, store=store, poll_interval=1
    )
    person = ApprovingPerson(oidc_peer)
    with anyio.fail_after(30):
        await auth.get_token(prompt=person)
    person.close()
    first = check_login(auth.token, oidc_peer)
    store.save(auth.store_key(), expired(first))
    auth.token = None  # another run of the program: the stored token has expired
    # The peer's RS256 signatures are deterministic: an ID token with the same claims, issued
    # within the same second, would be the same text.
    await anyio.sleep(1.1)

    with anyio.fail_after(30):
        await auth.get_token(prompt=person)
    assert person.codes_shown == 1  # refreshed, not a new login
    second = check_login(auth.token, oidc_peer)
    assert second.id_token != first.id_token
    assert second.refresh_token != first.refresh_token
    assert await auth.identity() == Identity(LOGIN, LOGIN, "id_token")


# -- 3. the peer rotates its signing key ------------------------------------------------------


def test_a_rotated_signing_key_is_fetched_once_and_trusted(
    reloadable_peer: ReloadablePeer,
) -> None:
    peer = reloadable_peer.peer
    auth = Authenticator.from_issuer(
        peer.issuer, peer.client_id, SCOPES, store=MemoryTokenStore(), poll_interval=1
    )
    auth.get_token(prompt=ApprovingPerson(peer))
    first = check_login(auth.token, peer)
    assert first.id_token is not None
    assert kid_of(first.id_token) == FIRST_KID
    assert peer.requests_to(peer.jwks_uri) == 1  # the peer's own count

    # The operator rotates the key: the peer restarts, signing with a new key; the grant stays.
    peer = reloadable_peer.reload(rotate_signing_key=True)
    auth.refresh()
    second = check_login(auth.token, peer)
    assert second.id_token is not None
    new_kid = kid_of(second.id_token)
    assert new_kid != FIRST_KID
    # loctocat knew only the first key: the unknown kid made it read the JWKS again, at once
    # (no refetch had happened yet, so no cooldown applied), and the new key verified it.
    assert peer.requests_to(peer.jwks_uri) == 2

    # The next refresh is signed with the same new key: it is known now, nothing is fetched.
    auth.refresh()
    third = check_login(auth.token, peer)
    assert third.id_token is not None
    assert kid_of(third.id_token) == new_kid
    assert peer.requests_to(peer.jwks_uri) == 2

    # A new process (nothing cached): a new login reads the rotated JWKS and verifies with it.
    KEY_SETS.clear()
    other = Authenticator.from_issuer(
        peer.issuer, peer.client_id, SCOPES, store=MemoryTokenStore(), poll_interval=1
    )
    other.get_token(prompt=ApprovingPerson(peer, OTHER_LOGIN))
    newcomer = check_login(other.token, peer, OTHER_LOGIN)
    assert newcomer.id_token is not None
    assert kid_of(newcomer.id_token) == new_kid
    assert peer.requests_to(peer.jwks_uri) == 3


# -- 4. no ID token: the userinfo endpoint ----------------------------------------------------


def test_without_openid_the_userinfo_endpoint_refuses_and_says_why(oidc_peer: OIDCPeer) -> None:
    auth = Authenticator.from_issuer(
        oidc_peer.issuer, oidc_peer.client_id, ["offline_access"], poll_interval=1
    )
    auth.get_token(prompt=ApprovingPerson(oidc_peer))
    assert auth.token is not None
    assert auth.token.id_token is None
    assert auth.token.claims is None
    assert auth.token.identity is None
    # oidc-provider's userinfo endpoint serves only access tokens with the openid scope.
    with pytest.raises(ServerError) as refused:
        auth.identity()
    assert refused.value.error == "insufficient_scope"
    assert refused.value.status_code == 403
    message = str(refused.value)
    assert oidc_peer.userinfo_url in message
    assert "access token missing openid scope" in message
    assert "log in again with the scope 'openid'" in message


def test_an_id_token_left_unverified_leaves_it_to_the_userinfo_endpoint(
    oidc_peer: OIDCPeer,
) -> None:
    store = MemoryTokenStore()
    requests = Requests()
    with httpx.Client(timeout=10.0, event_hooks=requests.hooks()) as http:
        auth = Authenticator.from_issuer(
            oidc_peer.issuer,
            oidc_peer.client_id,
            SCOPES,
            store=store,
            http_client=http,
            poll_interval=1,
            verify_id_token=False,
        )
        auth.get_token(prompt=ApprovingPerson(oidc_peer))
        assert auth.token is not None
        assert auth.token.id_token is not None
        assert auth.token.claims is None  # not verified, so no claims
        before = len(requests.sent)
        # The userinfo endpoint names the account, with the profile's name.
        assert auth.identity() == Identity(LOGIN, "Ada", "userinfo")
        assert requests.sent[before:] == [f"GET {httpx.URL(oidc_peer.userinfo_url).path}"]
        # Learnt once, then kept with the token.
        assert auth.identity() == Identity(LOGIN, "Ada", "userinfo")
        assert len(requests.sent) == before + 1
        stored = store.load(auth.store_key())
        assert stored is not None
        assert stored.identity == Identity(LOGIN, "Ada", "userinfo")


# -- 5. the command line ----------------------------------------------------------------------


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = run_loctocat(env, *args)
    assert done.returncode == 0, done.stderr
    return done


def test_the_command_line_says_who_logged_in(
    oidc_peer: OIDCPeer, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    store = str(tmp_path / "tokens.json")
    selection = [
        "--issuer",
        oidc_peer.issuer,
        "--client-id",
        oidc_peer.client_id,
        "--scope",
        "openid",
        "--scope",
        "offline_access",
        "--store",
        store,
    ]
    _, said = login_from_the_command_line(oidc_peer, cli_env, selection, LOGIN)
    # The terminal's lines are wrapped: read them as one.
    assert f"Logged in to 127.0.0.1 as {LOGIN} (scopes: " in " ".join(said.split()), said

    status = run_cli(cli_env, "status", "--store", store, "--json")
    [entry] = json.loads(status.stdout)
    assert entry["who"] == {"subject": LOGIN, "name": LOGIN, "source": "id_token"}
    assert entry["problem"] is None

    token = json.loads(run_cli(cli_env, "token", *selection, "--json").stdout)
    assert token["claims"]["sub"] == LOGIN
    assert token["claims"]["iss"] == oidc_peer.issuer
    assert oidc_peer.client_id in audiences(token["claims"])
    assert token["identity"] == {"subject": LOGIN, "name": LOGIN, "source": "id_token"}

    printed = run_cli(cli_env, "token", *selection, "--id-token").stdout
    id_token = printed.strip()
    assert printed == id_token + "\n"
    assert len(id_token.split(".")) == 3
    assert all(id_token.split("."))
    assert id_token == token["id_token"]
    assert jws_part(id_token, 1)["sub"] == LOGIN
    assert jws_part(id_token, 1) == token["claims"]
