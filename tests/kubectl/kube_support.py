"""A Kubernetes API server as far as `kubectl` can tell, on loopback HTTPS, that takes only
tokens the fake authorization server issued.

`ApiServer` answers kubectl's discovery (`/api`, `/apis`, `/version`, one API group) with
fixed documents. Every request needs `Authorization: Bearer TOKEN` that `check_token` accepts
(as an API server's OpenID Connect authenticator checks the ID token's signature, issuer,
audience and expiry), else 401, as a real API server answers a token it does not take. The
certificate is made for the test and is the cluster's `certificate-authority-data`, so kubectl
verifies TLS as it does against a real cluster.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# The constants live here, not in conftest.py: a test module importing `conftest` by name
# gets whichever conftest pytest loaded last, which depends on the paths it was given.
#: The client the tests log in as; the API server's OpenID Connect audience.
CLIENT_ID = "kubernetes"
#: The cluster, context and kubeconfig user the tests set up.
CLUSTER, CONTEXT, USER = "test-cluster", "test", "sso"
#: The API group the server lists besides the core one, so that discovery takes requests.
GROUP = "example.test"
_VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0", "platform": "linux/amd64"}


@dataclass(frozen=True)
class ApiRequest:
    """One request the server answered: its path, the bearer token (if any), the status."""

    path: str
    token: str | None
    status: int


@dataclass
class ApiServer:
    """See the module. Use it as a context manager; `url` and `ca_data` are valid inside."""

    directory: Path
    check_token: Callable[[str], bool]
    requests: list[ApiRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None, "the API server is not running"
        return f"https://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def ca_data(self) -> str:
        """The server's certificate, base64 of PEM, as a kubeconfig's cluster holds it."""
        return base64.b64encode((self.directory / "api.crt").read_bytes()).decode()

    def __enter__(self) -> ApiServer:
        certificate, key = _self_signed(self.directory)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate, key)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()

    def record(self, request: ApiRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def tokens_taken(self) -> list[str]:
        """The tokens of the requests it answered 200, oldest first."""
        with self._lock:
            return [r.token for r in self.requests if r.status == 200 and r.token]


def _documents(server: ApiServer) -> dict[str, object]:
    address = server.url.removeprefix("https://")
    versions = {"groupVersion": f"{GROUP}/v1", "version": "v1"}
    return {
        "/version": _VERSION,
        "/api": {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
        },
        "/api/v1": {
            "kind": "APIResourceList",
            "groupVersion": "v1",
            "resources": [_resource("namespaces", "Namespace", namespaced=False)],
        },
        "/apis": {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [{"name": GROUP, "versions": [versions], "preferredVersion": versions}],
        },
        f"/apis/{GROUP}/v1": {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{GROUP}/v1",
            "resources": [_resource("widgets", "Widget", namespaced=True)],
        },
    }


def _resource(name: str, kind: str, namespaced: bool) -> dict[str, object]:
    singular = name.removesuffix("s")
    return {
        "name": name,
        "singularName": singular,
        "namespaced": namespaced,
        "kind": kind,
        "verbs": ["get", "list"],
    }


def _handler_for(server: ApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 30

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            scheme, _, token = self.headers.get("Authorization", "").partition(" ")
            bearer = token.strip() if scheme.lower() == "bearer" else None
            path = self.path.split("?", 1)[0]
            document = _documents(server).get(path)
            if bearer is None or not server.check_token(bearer):
                status, document = 401, _status(401, "Unauthorized")
            elif document is None:
                status, document = 404, _status(404, "NotFound")
            else:
                status = 200
            body = json.dumps(document).encode()
            # Recorded before the answer goes out: kubectl may exit as soon as it has it.
            server.record(ApiRequest(path, bearer, status))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def _status(code: int, reason: str) -> dict[str, object]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": reason,
        "reason": reason,
        "code": code,
    }


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own authority, and its key (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    certificate_file, key_file = directory / "api.crt", directory / "api.key"
    certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certificate_file, key_file


@contextmanager
def api_server(directory: Path, check_token: Callable[[str], bool]) -> Iterator[ApiServer]:
    directory.mkdir(exist_ok=True)
    with ApiServer(directory, check_token) as server:
        yield server
