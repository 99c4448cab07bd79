"""ID token verification (OpenID Connect Core §3.1.3.7, §12.2), driven without I/O.

Tokens are signed here with PyJWT and keys made for the test; the flow's requests for the
issuer's JWKS (and discovery document) are answered from a table, and counted.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import logging
from collections.abc import Generator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from loctocat import Identity, InvalidIDToken, ProtocolError, Token, _oidc
from loctocat._flow import Request, Response, TransportFailure
from loctocat._models import WhoAmI
from loctocat._oidc import IDTokenCheck, KeySets
from loctocat.errors import ConfigurationError, ServerError

ISSUER = "https://id.example.test"
JWKS_URI = ISSUER + "/jwks"
CLIENT = "client-1"
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def public_jwk(key: Any, kid: str, alg: str) -> dict[str, Any]:
    algorithm = RSAAlgorithm if alg.startswith(("RS", "PS")) else ECAlgorithm
    jwk: dict[str, Any] = algorithm.to_jwk(key.public_key(), as_dict=True)  # type: ignore[attr-defined]
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


JWKS = {"keys": [public_jwk(RSA_KEY, "rsa-1", "RS256"), public_jwk(EC_KEY, "ec-1", "ES256")]}


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-42",
        "aud": CLIENT,
        "iat": int(NOW.timestamp()) - 5,
        "exp": int(NOW.timestamp()) + 3600,
        "preferred_username": "octocat",
        "email": "octocat@example.test",
    }
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def signed(
    payload: Mapping[str, Any] | None = None,
    *,
    key: Any = RSA_KEY,
    kid: str | None = "rsa-1",
    alg: str = "RS256",
) -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(dict(payload or claims()), key, algorithm=alg, headers=headers)


def token(id_token: str, received_at: datetime = NOW) -> Token:
    return Token("at-secret", id_token=id_token, received_at=received_at)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Issuer:
    """Answers the flow's GET requests from a table of URL -> JSON document (or failure)."""

    def __init__(self, documents: Mapping[str, object] | None = None) -> None:
        self.documents: dict[str, object] = dict(documents or {JWKS_URI: JWKS})
        self.requests: list[Request] = []

    def answer(self, request: Request, at: datetime) -> Response | TransportFailure:
        self.requests.append(request)
        assert request.method == "GET"
        document = self.documents.get(request.url)
        if isinstance(document, TransportFailure):
            return document
        if isinstance(document, int):
            return Response(document, {"content-type": "text/html"}, b"<h1>oops</h1>", at)
        if document is None:
            return Response(404, {}, b"", at)
        body = json.dumps(document).encode()
        return Response(200, {"content-type": "application/json"}, body, at)

    def fetches(self, url: str = JWKS_URI) -> int:
        return sum(1 for request in self.requests if request.url == url)


def run(flow: Generator[Any, Any, Token], issuer: Issuer, at: datetime = NOW) -> Token:
    result: object = None
    while True:
        try:
            effect = flow.send(result)
        except StopIteration as done:
            verified: Token = done.value
            return verified
        assert isinstance(effect, Request), effect
        result = issuer.answer(effect, at)


def check(**changes: Any) -> IDTokenCheck:
    options: dict[str, Any] = {
        "issuer": ISSUER,
        "client_id": CLIENT,
        "jwks_uri": JWKS_URI,
        "key_sets": KeySets(),
    }
    options.update(changes)
    return IDTokenCheck(**options)


def verify(
    id_token: str,
    *,
    issuer: Issuer | None = None,
    previous: Token | None = None,
    received_at: datetime = NOW,
    **changes: Any,
) -> Token:
    checker = check(**changes)
    return run(checker.flow(token(id_token, received_at), previous), issuer or Issuer())


def refused(id_token: str, reason: str, **options: Any) -> InvalidIDToken:
    with pytest.raises(InvalidIDToken) as caught:
        verify(id_token, **options)
    assert caught.value.check == reason, str(caught.value)
    assert id_token not in str(caught.value)
    assert "at-secret" not in str(caught.value)
    return caught.value


# --- what a good ID token gives -------------------------------------------------------------


def test_a_valid_rs256_id_token_gives_its_claims_read_only() -> None:
    verified = verify(signed())

    assert verified.claims is not None
    assert verified.claims["sub"] == "user-42"
    assert verified.claims["aud"] == CLIENT
    with pytest.raises(TypeError):
        verified.claims["sub"] = "someone else"  # type: ignore[index]
    assert verified.identity is not None
    assert (verified.identity.subject, verified.identity.name) == ("user-42", "octocat")
    assert verified.identity.source == "id_token"


def test_a_valid_es256_id_token_is_verified_with_the_ec_key() -> None:
    verified = verify(signed(key=EC_KEY, kid="ec-1", alg="ES256"))
    assert verified.claims is not None
    assert verified.claims["sub"] == "user-42"


def test_a_token_without_id_token_is_returned_as_it_is() -> None:
    plain = Token("at-secret", received_at=NOW)
    issuer = Issuer()
    assert run(check().flow(plain), issuer) is plain
    assert issuer.requests == []


def test_several_audiences_with_azp_naming_this_client_are_accepted() -> None:
    verified = verify(signed(claims(aud=[CLIENT, "api"], azp=CLIENT)))
    assert verified.claims is not None
    assert verified.claims["azp"] == CLIENT


def test_expiry_and_issue_time_get_the_leeway() -> None:
    now = int(NOW.timestamp())
    verify(signed(claims(exp=now - 20, iat=now + 20)), leeway=30)


def test_the_jwks_is_fetched_once_per_process_for_many_tokens() -> None:
    issuer = Issuer()
    checker = check()
    for _ in range(3):
        run(checker.flow(token(signed())), issuer)
    assert issuer.fetches() == 1


def test_a_key_set_older_than_its_max_age_is_fetched_again() -> None:
    issuer = Issuer()
    checker = check()
    run(checker.flow(token(signed())), issuer)
    later = NOW + timedelta(seconds=_oidc.JWKS_MAX_AGE + 1)
    run(checker.flow(token(signed(), later)), issuer, at=later)
    assert issuer.fetches() == 2


def test_without_a_jwks_uri_it_is_read_from_the_discovery_document_once() -> None:
    discovery = ISSUER + "/.well-known/openid-configuration"
    issuer = Issuer(
        {
            discovery: {
                "issuer": ISSUER,
                "token_endpoint": ISSUER + "/token",
                "jwks_uri": JWKS_URI,
            },
            JWKS_URI: JWKS,
        }
    )
    checker = check(jwks_uri=None)
    run(checker.flow(token(signed())), issuer)
    run(checker.flow(token(signed())), issuer)
    assert issuer.fetches(discovery) == 1
    assert issuer.fetches() == 1


def test_a_token_without_kid_uses_the_only_key_of_its_kind() -> None:
    verified = verify(signed(kid=None))
    assert verified.claims is not None


def test_a_multi_tenant_issuer_expects_the_tokens_own_tenant() -> None:
    template = "https://login.example.test/{tenantid}/v2.0"
    good = claims(iss="https://login.example.test/tenant-a/v2.0", tid="tenant-a")
    verify(signed(good), issuers=(template,))
    forged = claims(iss="https://login.example.test/tenant-b/v2.0", tid="tenant-a")
    refused(signed(forged), "iss", issuers=(template,))
    refused(signed(claims(iss="https://login.example.test/x/v2.0")), "iss", issuers=(template,))


def test_an_issuer_may_go_by_other_names_it_is_known_by() -> None:
    names = ("https://accounts.example.test", "accounts.example.test")
    verify(signed(claims(iss="accounts.example.test")), issuers=names)
    refused(signed(claims(iss="accounts.evil.test")), "iss", issuers=names)


@pytest.mark.parametrize("tenant", ["common", "organizations", "consumers", "contoso.example"])
def test_microsofts_tokens_name_their_own_tenant_whatever_the_sign_in_tenant(
    tenant: str,
) -> None:
    from loctocat.predefined import MICROSOFT

    authenticator = MICROSOFT.authenticator("app-id", ["openid"], tenant=tenant)
    rules = authenticator._id_token_check()
    assert rules is not None
    assert rules.jwks_uri == f"https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys"
    consumer = "9188040d-6c67-4c5b-b112-36a304b66dad"
    issued = claims(
        iss=f"https://login.microsoftonline.com/{consumer}/v2.0", tid=consumer, aud="app-id"
    )
    keys = Issuer({rules.jwks_uri: JWKS})
    fresh = dataclasses.replace(rules, key_sets=KeySets())
    assert run(fresh.flow(token(signed(issued))), keys).claims is not None


def test_googles_tokens_may_name_the_issuer_without_https() -> None:
    from loctocat.predefined import GOOGLE

    authenticator = GOOGLE.authenticator("app-id", ["openid"], client_secret="s")
    rules = authenticator._id_token_check()
    assert rules is not None
    fresh = dataclasses.replace(rules, key_sets=KeySets())
    keys = Issuer({"https://www.googleapis.com/oauth2/v3/certs": JWKS})
    for iss in ("https://accounts.google.com", "accounts.google.com"):
        issued = signed(claims(iss=iss, aud="app-id"))
        assert run(fresh.flow(token(issued)), keys).claims is not None


# --- key rotation -----------------------------------------------------------------------------


def test_a_new_kid_refetches_the_jwks_once_and_follows_the_rotation() -> None:
    issuer = Issuer()
    checker = check()
    run(checker.flow(token(signed())), issuer)
    issuer.documents[JWKS_URI] = {"keys": [public_jwk(OTHER_RSA_KEY, "rsa-2", "RS256")]}

    rotated = run(checker.flow(token(signed(key=OTHER_RSA_KEY, kid="rsa-2"))), issuer)

    assert rotated.claims is not None
    assert issuer.fetches() == 2


def test_an_unknown_kid_twice_in_a_row_refetches_only_once() -> None:
    issuer = Issuer()
    checker = check()
    run(checker.flow(token(signed())), issuer)
    stranger = signed(key=OTHER_RSA_KEY, kid="nobody")

    for _ in range(2):
        with pytest.raises(InvalidIDToken) as caught:
            run(checker.flow(token(stranger)), issuer)
        assert caught.value.check == "kid"
        assert "'nobody'" in str(caught.value)
    assert issuer.fetches() == 2  # the first fetch, and one refetch for both tokens

    later = NOW + timedelta(seconds=_oidc.JWKS_REFETCH_COOLDOWN + 1)
    with pytest.raises(InvalidIDToken):
        run(checker.flow(token(stranger, later)), issuer, at=later)
    assert issuer.fetches() == 3  # after the cooldown, one more look


def test_an_unknown_kid_on_a_fresh_fetch_is_not_fetched_twice() -> None:
    issuer = Issuer()
    refused(signed(key=OTHER_RSA_KEY, kid="nobody"), "kid", issuer=issuer)
    assert issuer.fetches() == 1


def test_no_kid_and_several_keys_of_the_kind_is_ambiguous() -> None:
    two = {"keys": [public_jwk(RSA_KEY, "a", "RS256"), public_jwk(OTHER_RSA_KEY, "b", "RS256")]}
    refused(signed(kid=None), "kid", issuer=Issuer({JWKS_URI: two}))


# --- every check refuses what it must ---------------------------------------------------------


def test_a_bad_signature_is_refused() -> None:
    header, payload, signature = signed().split(".")
    flipped = b64(bytes(b ^ 1 for b in base64.urlsafe_b64decode(signature + "==")))
    error = refused(f"{header}.{payload}.{flipped}", "signature")
    assert "signature does not match" in str(error)


def test_a_token_signed_by_another_key_under_a_known_kid_is_refused() -> None:
    refused(signed(key=OTHER_RSA_KEY, kid="rsa-1"), "signature")


def test_a_changed_payload_is_refused() -> None:
    header, _, signature = signed().split(".")
    payload = b64(json.dumps(claims(sub="admin")).encode())
    refused(f"{header}.{payload}.{signature}", "signature")


def test_alg_none_is_refused() -> None:
    header = b64(json.dumps({"alg": "none", "kid": "rsa-1"}).encode())
    payload = b64(json.dumps(claims()).encode())
    error = refused(f"{header}.{payload}.", "alg")
    assert "'none'" in str(error)


def test_hmac_signed_with_the_public_key_is_refused() -> None:
    # The key-confusion forgery: HS256 keyed with the issuer's public key, which anyone has.
    public_pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(json.dumps({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims()).encode())
    mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    refused(f"{header}.{payload}.{b64(mac)}", "alg")


def test_an_algorithm_the_issuer_does_not_use_is_refused() -> None:
    refused(signed(key=EC_KEY, kid="ec-1", alg="ES256"), "alg", algorithms=("RS256",))


def test_a_key_of_the_wrong_kind_for_the_alg_is_refused() -> None:
    # Header says ES256, kid names the RSA key.
    refused(signed(key=EC_KEY, kid="rsa-1", alg="ES256"), "alg")


def test_only_asymmetric_algorithms_can_be_allowed() -> None:
    with pytest.raises(ConfigurationError, match="asymmetric"):
        check(algorithms=("RS256", "HS256"))


def test_a_malformed_token_is_refused() -> None:
    refused("not.a-jws", "format")


def test_another_issuer_is_refused() -> None:
    error = refused(signed(claims(iss="https://evil.example.test")), "iss")
    assert "evil.example.test" in str(error)


def test_another_audience_is_refused() -> None:
    refused(signed(claims(aud="someone-else")), "aud")


def test_several_audiences_without_azp_are_refused() -> None:
    refused(signed(claims(aud=[CLIENT, "api"])), "azp")


def test_an_azp_naming_another_client_is_refused() -> None:
    refused(signed(claims(aud=[CLIENT, "api"], azp="api")), "azp")
    refused(signed(claims(azp="api")), "azp")


def test_an_expired_token_is_refused() -> None:
    now = int(NOW.timestamp())
    refused(signed(claims(exp=now - 31, iat=now - 3600)), "exp", leeway=30)


def test_a_token_issued_in_the_future_is_refused() -> None:
    refused(signed(claims(iat=int(NOW.timestamp()) + 31)), "iat", leeway=30)


def test_a_token_not_valid_yet_is_refused() -> None:
    refused(signed(claims(nbf=int(NOW.timestamp()) + 600)), "nbf")


@pytest.mark.parametrize("name", ["iss", "sub", "aud", "exp", "iat"])
def test_each_required_claim_must_be_there(name: str) -> None:
    refused(signed(claims(**{name: None})), name)


@pytest.mark.parametrize(
    ("name", "value"), [("sub", ""), ("sub", 42), ("exp", "soon"), ("iat", True), ("aud", 7)]
)
def test_claims_of_the_wrong_type_are_refused(name: str, value: object) -> None:
    refused(signed(claims(**{name: value})), name)


def test_an_unreachable_jwks_is_refused_with_the_reason() -> None:
    issuer = Issuer({JWKS_URI: TransportFailure("connection refused")})
    error = refused(signed(), "jwks", issuer=issuer)
    assert "connection refused" in str(error)


def test_a_jwks_answering_an_error_page_is_refused() -> None:
    refused(signed(), "jwks", issuer=Issuer({JWKS_URI: 503}))


def test_a_jwks_without_keys_is_refused() -> None:
    refused(signed(), "jwks", issuer=Issuer({JWKS_URI: {"not": "keys"}}))


def test_the_error_keeps_the_unverified_token_so_it_is_not_lost() -> None:
    bad = signed(claims(aud="someone-else"))
    with pytest.raises(InvalidIDToken) as caught:
        verify(bad)
    assert isinstance(caught.value, ProtocolError)
    assert caught.value.token is not None
    assert caught.value.token.access_token == "at-secret"
    assert caught.value.token.claims is None


# --- §12.2: a refreshed ID token names the same user -----------------------------------------


def test_a_refreshed_id_token_for_the_same_user_is_accepted() -> None:
    login = verify(signed())
    refreshed = verify(signed(claims(iat=int(NOW.timestamp()))), previous=login)
    assert refreshed.claims is not None
    assert refreshed.claims["sub"] == "user-42"


@pytest.mark.parametrize(
    ("name", "value"),
    [("sub", "user-43"), ("aud", [CLIENT, "api"])],
)
def test_a_refreshed_id_token_for_another_user_or_audience_is_refused(
    name: str, value: object
) -> None:
    login = verify(signed())
    changed = claims(**{name: value}, azp=CLIENT)
    error = refused(signed(changed), name, previous=login)
    assert "§12.2" in str(error)


def test_a_refreshed_id_token_from_another_issuer_is_refused() -> None:
    login = dataclasses.replace(verify(signed()), claims={**claims(), "iss": "https://old"})
    refused(signed(), "iss", previous=login)


# --- without PyJWT ------------------------------------------------------------------------------


def test_without_pyjwt_a_required_check_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_oidc, "jwt_available", lambda: False)
    with pytest.raises(ConfigurationError, match=r"loctocat\[oidc\]"):
        verify(signed())


def test_without_pyjwt_an_optional_check_leaves_the_claims_unverified(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(_oidc, "jwt_available", lambda: False)
    monkeypatch.setattr(_oidc, "_warned", [])
    with caplog.at_level(logging.WARNING, logger="loctocat"):
        first = verify(signed(), required=False)
        second = verify(signed(), required=False)
    assert first.claims is None
    assert second.claims is None
    assert first.identity is None
    warnings = [r for r in caplog.records if "not verified" in r.getMessage()]
    assert len(warnings) == 1
    assert "loctocat[oidc]" in warnings[0].getMessage()


# --- who is logged in, asked of the userinfo endpoint -------------------------------------------

USERINFO = ISSUER + "/userinfo"


def ask_userinfo(answer: Response) -> Identity:
    flow = _oidc.ask_identity_flow(
        Token("at-secret"), WhoAmI(USERINFO, name_field="", subject_field="sub"), "ua", "userinfo"
    )
    request = next(flow)
    assert isinstance(request, Request)
    assert dict(request.headers)["Authorization"] == "Bearer at-secret"
    try:
        flow.send(answer)
    except StopIteration as done:
        identity: Identity = done.value
        return identity
    raise AssertionError("the flow asked more than once")


def test_userinfo_names_the_user() -> None:
    body = json.dumps({"sub": "user-42", "name": "Octo Cat"}).encode()
    answer = Response(200, {"content-type": "application/json"}, body, NOW)
    assert ask_userinfo(answer) == Identity("user-42", "Octo Cat", "userinfo")


def test_userinfo_refusing_a_token_without_the_scope_says_so() -> None:
    # RFC 6750 §3.1: 403 and insufficient_scope, with the scope needed.
    challenge = (
        'Bearer realm="id", error="insufficient_scope", '
        'error_description="access token missing openid scope", scope="openid"'
    )
    answer = Response(403, {"www-authenticate": challenge}, b"", NOW)
    with pytest.raises(ServerError) as refused:
        ask_userinfo(answer)
    assert refused.value.error == "insufficient_scope"
    assert refused.value.status_code == 403
    message = str(refused.value)
    assert "access token missing openid scope" in message
    assert "log in again with the scope 'openid'" in message


@pytest.mark.parametrize(
    ("headers", "description"),
    [
        ({"www-authenticate": 'Bearer error="invalid_token", error_description="expired"'}, True),
        ({"www-authenticate": 'Bearer realm="id"'}, False),  # no error code: no credentials
        ({}, False),  # a service's own API may send no challenge at all
    ],
)
def test_userinfo_refusing_the_token_says_it_may_have_expired(
    headers: dict[str, str], description: bool
) -> None:
    with pytest.raises(ServerError) as refused:
        ask_userinfo(Response(401, headers, b'{"message": "Bad credentials"}', NOW))
    assert refused.value.error == "invalid_token"
    message = str(refused.value)
    assert "it may have expired or been revoked" in message
    if description:
        assert "refused the token (HTTP 401): expired" in message


def test_a_challenge_with_a_strange_error_code_is_not_repeated() -> None:
    challenge = 'Bearer error="\x1b[2J evil", error_description="\x1b]0;title\x07"'
    with pytest.raises(ServerError) as refused:
        ask_userinfo(Response(401, {"www-authenticate": challenge}, b"", NOW))
    assert refused.value.error == "invalid_token"
    assert "\x1b" not in str(refused.value)
