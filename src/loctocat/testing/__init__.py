"""A fake RFC 8628 authorization server for your test suite.

Build a `FakeAuthorizationServer`, script how polls are answered with `plan()` (steps are
strings, `SlowDown` or `Fault`), point your client at it in memory (`server.transport()`) or
over loopback HTTP (`server.serve_http()`), then assert on `server.requests`, `server.grants`
and `server.issued_tokens`::

    server = FakeAuthorizationServer(client_id="my-app")
    server.plan("pending", "slow_down", "approve")
    with httpx.Client(transport=server.transport()) as client:
        ...  # run the device flow against server.device_authorization_url / server.token_url

For the rest of a token's life it also serves the metadata documents (`server.issuer` is
what discovery starts from), revocation (`server.revocation_url`, see `server.revoked_tokens`),
refresh at the token endpoint, and a protected resource (`server.userinfo_url`) that answers
401 `invalid_token` to unknown, revoked or expired access tokens; `server.expire_access_tokens()`
expires them all at once.

To stand in for one of the services loctocat's providers know, start from its dialect::

    server = FakeAuthorizationServer.imitating("github")
    server = FakeAuthorizationServer.imitating("keycloak", base_url="https://sso.test", realm="x")

`dialect(service, **parameters)` gives the constructor options behind it; the options themselves
(endpoint paths, poll parameters, error shapes and statuses, client authentication) are
documented on `FakeAuthorizationServer` for servers of your own.

A test that planned answers (`plan`, `plan_device`) no request received tested nothing:
`server.assert_all_used()` says so, and the pytest fixtures call it when the test ends.

With the scope `openid`, token answers carry an ID token signed with a key the server makes
(`pip install 'loctocat[oidc]'`), published at `server.jwks_url`; `server.rotate_keys()` replaces
it, `user=` / `approve(user=...)` say who signs in, and `id_token_fault` (an `IDTokenFault`)
breaks every ID token in one chosen way, for a client's negative tests.

With `dpop=True` it checks DPoP proofs (RFC 9449) and binds tokens to their key
(`IssuedToken.jkt`); `require_dpop_nonce=True` adds server nonces.

With pytest, the `fake_auth_server` and `fake_auth_server_http` fixtures give you a fresh
server per test (the plugin loads automatically once loctocat is installed), and every test
starts with `forget_servers()` done.
"""

from loctocat._oidc import KEY_SETS as _KEY_SETS
from loctocat.auth import _discovered

from ._dialects import dialect
from ._oidc import IDTokenFault
from ._server import DEVICE_CODE_GRANT_TYPE, USER_CODE_ALPHABET, FakeAuthorizationServer
from ._types import (
    Endpoint,
    Fault,
    Grant,
    GrantStatus,
    IssuedToken,
    PlanState,
    PlanStep,
    RecordedRequest,
    SlowDown,
    TokenGrantType,
)


def forget_servers() -> None:
    """Forget what loctocat read from servers in this process: metadata documents and keys.

    loctocat reads an issuer's discovery document and its ID token keys (JWKS) once per
    process. Fake servers made in different tests at one URL have different keys and options:
    call this between them (the pytest plugin does, before each test).
    """
    _discovered.clear()
    _KEY_SETS.clear()


__all__ = [
    "DEVICE_CODE_GRANT_TYPE",
    "USER_CODE_ALPHABET",
    "Endpoint",
    "FakeAuthorizationServer",
    "Fault",
    "Grant",
    "GrantStatus",
    "IDTokenFault",
    "IssuedToken",
    "PlanState",
    "PlanStep",
    "RecordedRequest",
    "SlowDown",
    "TokenGrantType",
    "dialect",
    "forget_servers",
]
