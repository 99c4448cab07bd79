"""Fixtures for the interop tests against real Node.js peers: the ``oidc-provider`` server, and
the ``openid-client`` client run against loctocat's fake authorization server.

The tests are skipped only when ``node`` or the package they need (``node_modules/oidc-provider``,
``node_modules/openid-client``) is missing, and not even then when ``LOCTOCAT_REQUIRE_INTEROP=1``
(CI sets it: there a missing peer is a failure).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from oidc_peer import OIDCPeer, PeerUnavailable, ReloadablePeer, check_available, run_peer


def _require_peer(package: str = "oidc-provider") -> str:
    """Path of ``node`` with *package* installed; skips (or fails, see above) without them."""
    try:
        return check_available(package)
    except PeerUnavailable as exc:
        if os.environ.get("LOCTOCAT_REQUIRE_INTEROP") == "1":
            pytest.fail(f"interop peer unavailable (LOCTOCAT_REQUIRE_INTEROP=1): {exc}")
        pytest.skip(f"interop peer unavailable: {exc}")


@pytest.fixture(scope="session")
def oidc_peer() -> Iterator[OIDCPeer]:
    """One ``oidc-provider`` server for the whole session (each approval uses a fresh browser)."""
    _require_peer()
    with run_peer() as peer:
        yield peer


@pytest.fixture(scope="session", params=["without-nonces", "nonces-required"])
def dpop_peer(request: pytest.FixtureRequest) -> Iterator[OIDCPeer]:
    """A server of its own for the DPoP tests, started only when one of them runs: once with
    DPoP as ``oidc_peer`` has it (proofs need no nonce, the server sends none), once demanding
    its current nonce in every proof."""
    _require_peer()
    with run_peer(dpop_nonces=request.param == "nonces-required") as peer:
        yield peer


@pytest.fixture(scope="session")
def openid_client_node() -> str:
    """Path of ``node``, with the ``openid-client`` package installed next to it."""
    return _require_peer("openid-client")


@pytest.fixture
def reloadable_peer(tmp_path: Path) -> Iterator[ReloadablePeer]:
    """A server of the test's own, kept in a state directory: it can be restarted (and its
    signing key rotated) without losing its grants, and it counts the requests it gets."""
    _require_peer()
    with ReloadablePeer(tmp_path / "peer-state") as deployment:
        deployment.start()
        yield deployment


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a command-line run: no LOCTOCAT_* of the caller's, an empty config
    file, no colour."""
    config = tmp_path / "config.toml"
    config.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCTOCAT_")}
    env.update(LOCTOCAT_CONFIG=str(config), NO_COLOR="1")
    return env
