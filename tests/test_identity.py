"""Verified ID tokens and `identity()` through the authenticators, against the fake server
on loopback: what users meet, from login to refresh, store and logout."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from test_tokens import Person  # the suite's approving prompt

from loctocat import (
    AsyncAuthenticator,
    Authenticator,
    ConfigurationError,
    Identity,
    InvalidIDToken,
    LoginRequired,
    Token,
)
from loctocat.predefined import WhoAmI
from loctocat.store import FileTokenStore, MemoryTokenStore
from loctocat.testing import FakeAuthorizationServer

SCOPES = ["openid", "profile", "offline_access"]


@pytest.fixture
def server() -> Iterator[FakeAuthorizationServer]:
    fake = FakeAuthorizationServer(interval=0)
    with fake.serve_http():
        yield fake


def discovered(server: FakeAuthorizationServer, **options: Any) -> Authenticator:
    options.setdefault("min_interval", 0.01)
    return Authenticator.from_issuer(server.issuer, "client-1", SCOPES, **options)


def requests_to(server: FakeAuthorizationServer, endpoint: str) -> int:
    return sum(1 for request in server.requests if request.endpoint == endpoint)


def expired(token: Token) -> Token:
    return dataclasses.replace(token, expires_at=datetime.now(UTC) - timedelta(seconds=1))


def test_a_login_verifies_the_id_token_and_says_who(server: FakeAuthorizationServer) -> None:
    auth = discovered(server)
    auth.get_token(prompt=Person(server))

    assert auth.token is not None
    assert auth.token.claims is not None
    assert auth.token.claims["sub"] == "fake-user-1"
    assert auth.token.claims["iss"] == server.issuer
    assert auth.token.identity == Identity("fake-user-1", "fakeuser", "id_token")
    assert requests_to(server, "jwks") == 1
    before = len(server.requests)
    assert auth.identity() == Identity("fake-user-1", "fakeuser", "id_token")
    assert len(server.requests) == before  # from the claims: no request


def test_a_refresh_verifies_its_new_id_token(server: FakeAuthorizationServer) -> None:
    auth = discovered(server)
    auth.get_token(prompt=Person(server))
    assert auth.token is not None
    first = auth.token

    auth.refresh()

    assert auth.token.id_token == server.issued_tokens[-1].id_token  # the refresh's own
    assert auth.token.claims is not None
    assert auth.token.claims["sub"] == "fake-user-1"
    assert auth.token.identity == first.identity
    assert server.issued_tokens[-1].grant_type == "refresh_token"


def test_a_refresh_for_another_user_is_refused_and_not_stored(
    server: FakeAuthorizationServer,
) -> None:
    store = MemoryTokenStore()
    auth = discovered(server, store=store)
    auth.get_token(prompt=Person(server))
    stored = store.load(auth.store_key())

    server.id_token_fault = "other_subject"
    with pytest.raises(InvalidIDToken) as caught:
        auth.refresh()

    assert caught.value.check == "sub"
    assert "§12.2" in str(caught.value)
    assert caught.value.token is not None
    assert caught.value.token.refresh_token == server.issued_tokens[-1].refresh_token
    assert store.load(auth.store_key()) == stored  # the other user's token was not kept


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        ("bad_signature", "signature"),
        ("alg_none", "alg"),
        ("hmac", "alg"),
        ("wrong_issuer", "iss"),
        ("wrong_audience", "aud"),
        ("multiple_audiences", "azp"),
        ("wrong_azp", "azp"),
        ("expired", "exp"),
        ("issued_in_future", "iat"),
        ("unknown_kid", "kid"),
        ("missing_sub", "sub"),
    ],
)
def test_a_broken_id_token_fails_the_login_and_nothing_is_stored(
    server: FakeAuthorizationServer, tmp_path: Path, fault: Any, check: str
) -> None:
    store = FileTokenStore(tmp_path / "tokens.json")
    auth = discovered(server, store=store)
    server.id_token_fault = fault

    with pytest.raises(InvalidIDToken) as caught:
        auth.get_token(prompt=Person(server))

    assert caught.value.check == check, str(caught.value)
    issued = server.issued_tokens[-1]
    assert issued.id_token is not None
    assert issued.id_token not in str(caught.value)
    assert issued.access_token not in str(caught.value)
    assert store.load(auth.store_key()) is None
    assert auth.token is None

    server.id_token_fault = None  # the next call logs in again, and succeeds
    auth.get_token(prompt=Person(server))
    assert auth.token is not None
    assert auth.token.claims is not None


def test_an_unreachable_jwks_fails_the_login_with_the_reason(
    server: FakeAuthorizationServer,
) -> None:
    auth = discovered(server, jwks_uri="http://127.0.0.1:9/jwks")  # the discard port
    with pytest.raises(InvalidIDToken) as caught:
        auth.get_token(prompt=Person(server))
    assert caught.value.check == "jwks"
    assert "127.0.0.1:9/jwks" in str(caught.value)


def test_rotated_keys_are_followed_at_the_next_refresh(server: FakeAuthorizationServer) -> None:
    auth = discovered(server)
    auth.get_token(prompt=Person(server))
    server.rotate_keys()

    auth.refresh()

    assert auth.token is not None
    assert auth.token.claims is not None
    assert requests_to(server, "jwks") == 2  # the first fetch, then one for the new key


def test_claims_and_identity_live_with_the_token_in_the_store(
    server: FakeAuthorizationServer, tmp_path: Path
) -> None:
    path = tmp_path / "tokens.json"
    discovered(server, store=FileTokenStore(path)).get_token(prompt=Person(server))

    later = discovered(server, store=FileTokenStore(path))
    later.get_token(prompt=Person(server))
    before = len(server.requests)

    assert later.token is not None
    assert later.token.claims is not None
    assert later.token.claims["sub"] == "fake-user-1"
    assert later.identity().name == "fakeuser"
    assert len(server.requests) == before
    entry = next(iter(json.loads(path.read_text())["tokens"].values()))
    assert entry["claims"]["sub"] == "fake-user-1"
    assert entry["identity"] == {"subject": "fake-user-1", "name": "fakeuser", "source": "id_token"}
    assert "claims" not in entry["response"]


def test_without_an_issuer_the_id_token_is_not_verified(server: FakeAuthorizationServer) -> None:
    auth = Authenticator(
        "client-1", server.device_authorization_url, server.token_url, SCOPES, min_interval=0.01
    )
    auth.get_token(prompt=Person(server))
    assert auth.token is not None
    assert auth.token.id_token is not None
    assert auth.token.claims is None
    assert requests_to(server, "jwks") == 0


def test_verify_id_token_false_never_verifies(server: FakeAuthorizationServer) -> None:
    server.id_token_fault = "bad_signature"
    auth = discovered(server, verify_id_token=False)
    auth.get_token(prompt=Person(server))
    assert auth.token is not None
    assert auth.token.claims is None


def test_verify_id_token_true_needs_an_issuer(server: FakeAuthorizationServer) -> None:
    with pytest.raises(ConfigurationError, match="issuer") as caught:
        Authenticator("c", server.device_authorization_url, server.token_url, verify_id_token=True)
    assert caught.value.parameter == "issuer"


def test_identity_without_id_token_asks_the_userinfo_endpoint_once(
    server: FakeAuthorizationServer, tmp_path: Path
) -> None:
    store = FileTokenStore(tmp_path / "tokens.json")
    auth = discovered(server, store=store)
    auth.scopes = ["profile"]  # no openid: no ID token
    auth.get_token(prompt=Person(server))
    assert auth.token is not None
    assert auth.token.id_token is None

    who = auth.identity()

    assert who == Identity("fake-user-1", "fakeuser", "userinfo")
    assert requests_to(server, "userinfo") == 1
    again = discovered(server, store=store)
    again.scopes = ["profile"]
    assert again.identity() == who
    assert requests_to(server, "userinfo") == 1  # kept with the token


def test_identity_from_a_provider_api_described_as_data(server: FakeAuthorizationServer) -> None:
    # The fake's userinfo answers client_id and scope besides sub: a "who am I" of its own.
    who_am_i = WhoAmI(server.userinfo_url, name_field="client_id", subject_field="sub")
    auth = Authenticator(
        "client-1",
        server.device_authorization_url,
        server.token_url,
        ["read"],
        min_interval=0.01,
        who_am_i=who_am_i,
    )
    auth.get_token(prompt=Person(server))
    assert auth.identity() == Identity("fake-user-1", "client-1", "provider")


def test_identity_never_logs_in(server: FakeAuthorizationServer) -> None:
    auth = discovered(server)
    with pytest.raises(LoginRequired):
        auth.identity()
    assert server.grants == []


def test_identity_with_no_way_to_tell_says_what_to_pass(server: FakeAuthorizationServer) -> None:
    auth = Authenticator(
        "client-1", server.device_authorization_url, server.token_url, min_interval=0.01
    )
    auth.get_token(prompt=Person(server))
    with pytest.raises(ConfigurationError, match="userinfo_url"):
        auth.identity()


def test_identity_with_a_revoked_token_says_so(server: FakeAuthorizationServer) -> None:
    auth = discovered(server)
    auth.scopes = ["profile"]
    auth.get_token(prompt=Person(server))
    server.expire_access_tokens()
    assert auth.token is not None
    auth.token = dataclasses.replace(auth.token, expires_at=None)  # still believed valid
    with pytest.raises(Exception, match="refused the token") as caught:
        auth.identity()
    assert getattr(caught.value, "error", None) == "invalid_token"


@pytest.mark.anyio
async def test_the_async_authenticator_verifies_and_says_who(
    server: FakeAuthorizationServer,
) -> None:
    auth = await AsyncAuthenticator.from_issuer(
        server.issuer, "client-1", SCOPES, min_interval=0.01
    )
    await auth.get_token(prompt=Person(server))
    assert auth.token is not None
    assert auth.token.claims is not None
    who = await auth.identity()
    assert who.subject == "fake-user-1"
    server.id_token_fault = "wrong_audience"
    with pytest.raises(InvalidIDToken):
        await auth.refresh()
    await anyio.sleep(0)


class SaveOnce(MemoryTokenStore):
    """A store that takes the login, then cannot be written any more (a full disk, say)."""

    def __init__(self) -> None:
        super().__init__()
        self.saves = 0

    def save(self, key: str, token: Token) -> None:
        self.saves += 1
        if self.saves > 1:
            raise OSError("No space left on device")
        super().save(key, token)


def test_identity_is_answered_even_when_it_cannot_be_stored(
    server: FakeAuthorizationServer, caplog: pytest.LogCaptureFixture
) -> None:
    store = SaveOnce()
    auth = discovered(server, store=store)
    auth.scopes = ["profile"]
    auth.get_token(prompt=Person(server))

    assert auth.identity() == Identity("fake-user-1", "fakeuser", "userinfo")
    assert store.saves == 2
    assert "was not stored with the token" in caplog.text
