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

To stand in for a particular service, its constructor options imitate how real services depart
from RFC 8628: endpoint paths (`device_path`, `token_path`, `verification_path`), poll
parameters (`grant_type`, `device_code_param`, `poll_code_fields`), device request parameters
(`scope_param`, `required_device_params`), answers (`error_codes`, `scope_as_list`,
`form_encoded_unless_json`, `slow_down_sends_interval`) and client authentication
(`client_auth`, `secret_on_device_request`). For GitHub, say::

    FakeAuthorizationServer(
        base_url="https://github.com",
        device_path="/login/device/code",
        token_path="/login/oauth/access_token",
        verification_path="/login/device",
        errors_with_status_200=True,
        form_encoded_unless_json=True,
        slow_down_sends_interval=True,
    )

With pytest, the `fake_auth_server` and `fake_auth_server_http` fixtures give you a fresh
server per test (the plugin loads automatically once loctocat is installed).
"""

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

__all__ = [
    "DEVICE_CODE_GRANT_TYPE",
    "USER_CODE_ALPHABET",
    "Endpoint",
    "FakeAuthorizationServer",
    "Fault",
    "Grant",
    "GrantStatus",
    "IssuedToken",
    "PlanState",
    "PlanStep",
    "RecordedRequest",
    "SlowDown",
    "TokenGrantType",
]
