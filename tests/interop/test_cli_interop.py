"""The `loctocat` command against the real ``oidc-provider``: login, token, logout.

The CLI runs in a subprocess; this test reads the code from its stderr, as a person reads the
terminal, and approves it in the peer's pages. The login waits the peer's 5 s interval once.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from oidc_peer import OIDCPeer, login_from_the_command_line, run_loctocat

pytestmark = pytest.mark.interop

# oidc-provider's default user codes: base-20 consonants, "****-****".


def userinfo_status(peer: OIDCPeer, access_token: str) -> int:
    headers = {"Authorization": f"Bearer {access_token}"}
    return httpx.get(peer.userinfo_url, headers=headers, timeout=10).status_code


def test_login_token_logout_from_the_command_line(
    oidc_peer: OIDCPeer, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    env = cli_env
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
        str(tmp_path / "tokens.json"),
    ]

    printed, said = login_from_the_command_line(oidc_peer, env, [*selection, "--print-token"])
    access_token = printed.strip()
    assert printed == access_token + "\n"
    assert "Logged in to 127.0.0.1" in said
    assert userinfo_status(oidc_peer, access_token) == 200

    # The stored token comes back with no new login: nothing on stderr, no prompt.
    token = run_loctocat(env, "token", *selection)
    assert token.returncode == 0, token.stderr
    assert token.stdout == printed
    assert token.stderr == ""

    # Logout revokes the grant at the peer: the access token stops working.
    logout = run_loctocat(env, "logout", *selection)
    assert logout.returncode == 0, logout.stderr
    assert "Logged out." in logout.stderr
    assert userinfo_status(oidc_peer, access_token) == 401
