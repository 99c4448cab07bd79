"""The pieces the package index tests are built from: a small package index on loopback that
wants a token, a wheel to install from it, and pip or uv run the two ways a person runs them.

`GatedIndex` serves a static PEP 503 index of one wheel at `/simple/` (its files under
`/packages/`, as most indexes keep them) and the same again at `/other/simple/` (files under
`/other/packages/`), behind HTTP Basic authentication: a request whose password `check_password`
accepts is served, any other gets 401 with a `WWW-Authenticate: Basic` challenge. Every request
is recorded with the user and whether it carried a password.

`run_tool` runs a command without a terminal (a new session, stdin /dev/null, as under cron or
CI) or in a pseudo-terminal, approving every code shown as the person at the keyboard would.
"""

from __future__ import annotations

import base64
import hashlib
import io
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from login_support import Serving, run_in_terminal

#: The client the tests log in as, and the only one the fake server accepts.
CLIENT_ID = "index-client"
LOCTOCAT = [sys.executable, "-m", "loctocat"]
#: The virtualenv's scripts: the keyring command with loctocat beside it, and uv.
SCRIPTS = Path(sys.executable).parent
PACKAGE = "tinypkg"
VERSION = "0.1"
WHEEL = f"{PACKAGE}-{VERSION}-py3-none-any.whl"
#: The index loctocat is set up for, and the one it is not, on the same host.
CONFIGURED = "/simple/"
UNCONFIGURED = "/other/simple/"


def make_wheel() -> bytes:
    """A pure-Python wheel of `tinypkg` (one module saying `VALUE = 42`), built by hand."""
    dist_info = f"{PACKAGE}-{VERSION}.dist-info"
    files = {
        f"{PACKAGE}/__init__.py": b"VALUE = 42\n",
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {PACKAGE}\nVersion: {VERSION}\n".encode()
        ),
        f"{dist_info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: loctocat-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    record = []
    for name, content in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(content)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@dataclass(frozen=True)
class IndexRequest:
    """One request the index answered: the Basic user name and whether a password came with
    it (None, False: no credentials at all), and the status sent."""

    path: str
    user: str | None
    password: bool
    status: int


@dataclass
class GatedIndex(Serving):
    """The package index (see the module). Use it as a context manager: `url()` is valid inside."""

    check_password: Callable[[str], bool]
    requests: list[IndexRequest] = field(default_factory=list)
    _wheel: bytes = field(default_factory=make_wheel)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    def url(self, index: str = CONFIGURED) -> str:
        return f"http://127.0.0.1:{self.port}{index}"

    def seen(self, prefix: str = "/") -> list[IndexRequest]:
        """The requests whose path starts with `prefix`."""
        with self._lock:
            return [r for r in self.requests if r.path.startswith(prefix)]

    def page(self, path: str) -> tuple[str, bytes] | None:
        """The content type and body at `path`, or None."""
        digest = hashlib.sha256(self._wheel).hexdigest()
        for root in ("/", "/other/"):
            if path == f"{root}simple/":
                return "text/html", f'<a href="{PACKAGE}/">{PACKAGE}</a>\n'.encode()
            if path == f"{root}simple/{PACKAGE}/":
                link = f"{root}packages/{WHEEL}#sha256={digest}"
                return "text/html", f'<a href="{link}">{WHEEL}</a>\n'.encode()
            if path == f"{root}packages/{WHEEL}":
                return "application/octet-stream", self._wheel
        return None


def _handler_for(index: GatedIndex) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 60

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _credentials(self) -> tuple[str | None, str]:
            scheme, _, encoded = self.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "basic":
                return None, ""
            try:
                decoded = base64.b64decode(encoded.strip(), validate=True).decode()
            except ValueError:
                return None, ""
            user, _, password = decoded.partition(":")
            return user, password

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="loctocat-test-index"')
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_HEAD(self) -> None:  # uv asks before it downloads a wheel
            self.do_GET()

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            user, password = self._credentials()
            # Each request is recorded before its answer goes out: pip or uv may exit as soon
            # as it has the answer, and a test then reading the record must find it there.
            if not password or not index.check_password(password):
                index.record(IndexRequest(path, user, bool(password), 401))
                self._send(401, "text/plain", b"authentication required\n")
                return
            found = index.page(path)
            status = 200 if found is not None else 404
            content_type, body = found or ("text/plain", b"not found\n")
            index.record(IndexRequest(path, user, True, status))
            self._send(status, content_type, body)

    return Handler


# --- running pip and uv ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolRun:
    """How a command went: its exit status, its output (stdout and stderr together on a
    terminal; apart without one) and how long it took."""

    status: int
    output: str
    stderr: str
    seconds: float


def run_tool(
    command: Sequence[str],
    env: Mapping[str, str],
    *,
    cwd: Path,
    terminal: bool = False,
    approve: Callable[[], object] | None = None,
    timeout: float = 120,
) -> ToolRun:
    """Run *command* without a terminal, or in a pseudo-terminal calling *approve* every 50 ms
    while it runs (a person approving the codes shown). Raises on *timeout*."""
    started = time.monotonic()
    if not terminal:
        done = subprocess.run(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            start_new_session=True,
            timeout=timeout,
        )
        seconds = time.monotonic() - started
        return ToolRun(done.returncode, done.stdout + done.stderr, done.stderr, seconds)

    status, output, seconds = run_in_terminal(
        command, env, cwd, lambda output: approve() if approve else None, timeout
    )
    return ToolRun(status, output, "", seconds)


# --- loctocat and uv ------------------------------------------------------------------------------


def loctocat(
    env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`python -m loctocat *args`, with no terminal."""
    return subprocess.run(
        [*LOCTOCAT, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        start_new_session=True,
    )


def uv_command() -> str:
    uv = shutil.which("uv", path=str(SCRIPTS))
    if uv is None:
        pytest.fail("uv is missing from the virtualenv: install loctocat's dev extra")
    return uv
