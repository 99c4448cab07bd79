"""The pieces the git tests are built from: a git smart-HTTP server on loopback, and git run the
two ways a person runs it (on a terminal, or from a script with no terminal at all).

`GitServer` serves the bare repositories under a directory through `git http-backend` (run as a
CGI program, one subprocess per request), behind HTTP Basic authentication: every request needs
a password that `check_password` accepts, else it gets 401 with a `WWW-Authenticate: Basic`
challenge (without the challenge git never sends credentials at all).

`run_git` runs git in one of two ways. Without a terminal, the process has no controlling tty
(a new session), stdin is /dev/null and `GIT_TERMINAL_PROMPT=0`, as under cron or CI: nothing
can prompt. With a terminal, git runs in a pseudo-terminal (pexpect), and every user code that
appears in its output is handed to `approve`, as the person at the keyboard would enter it on the
verification page.
"""

from __future__ import annotations

import base64
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit

from login_support import ProgramRun, Serving, run_program

#: The client the tests log in as, and the only one the fake server accepts.
CLIENT_ID = "git-client"
REALM = "loctocat-test"
UNAUTHORIZED_BODY = b"authentication required\n"

# --- the git server -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GitRequest:
    """One request the git server answered: `user` is the Basic user name it accepted (None for
    a request it turned away), `status` the HTTP status sent, `chunked` whether the body came
    with `Transfer-Encoding: chunked` (git sends large pushes so)."""

    method: str
    path: str
    user: str | None
    status: int
    chunked: bool = False


@dataclass
class GitServer(Serving):
    """A git smart-HTTP server for the repositories under `root`, on 127.0.0.1 (see the module).

    `requests` lists what it answered, oldest first. Use it as a context manager: `url` is
    valid inside.
    """

    root: Path
    check_password: Callable[[str], bool]
    backend_env: Mapping[str, str]
    requests: list[GitRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    @property
    def host(self) -> str:
        """`127.0.0.1:PORT`, as git names the host to its credential helpers."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def authenticated_requests(self) -> list[GitRequest]:
        with self._lock:
            return [r for r in self.requests if r.user is not None]


def _handler_for(server: GitServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 60  # an idle keep-alive connection ends its thread after this

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _chunked(self) -> bool:
            return self.headers.get("Transfer-Encoding", "").lower() == "chunked"

        def _body(self) -> bytes:
            if self.command != "POST":
                return b""
            if self._chunked():
                body = bytearray()
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return bytes(body)
                    body += self.rfile.read(size)
                    self.rfile.readline()  # the CRLF after each chunk
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _user(self) -> str | None:
            scheme, _, credentials = self.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "basic":
                return None
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode()
            except ValueError:
                return None
            user, _, password = decoded.partition(":")
            if user and password and server.check_password(password):
                return user
            return None

        def _serve(self) -> None:
            body = self._body()
            user = self._user()
            # Each request is recorded before its answer goes out: once git has the answer it
            # may exit, and a test then reading the record must find the request there.
            if user is None:
                server.record(GitRequest(self.command, self.path, None, 401, self._chunked()))
                self.send_response(401)
                self.send_header("WWW-Authenticate", f'Basic realm="{REALM}"')
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(UNAUTHORIZED_BODY)))
                self.end_headers()
                self.wfile.write(UNAUTHORIZED_BODY)
                return
            status, headers, content = self._backend(user, body)
            server.record(GitRequest(self.command, self.path, user, status, self._chunked()))
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def _backend(self, user: str, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
            parts = urlsplit(self.path)
            env = {
                **server.backend_env,
                "GIT_PROJECT_ROOT": str(server.root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "GATEWAY_INTERFACE": "CGI/1.1",
                "SERVER_PROTOCOL": "HTTP/1.1",
                "REQUEST_METHOD": self.command,
                "PATH_INFO": parts.path,
                "QUERY_STRING": parts.query,
                # Any authenticated user may push: http-backend enables receive-pack for them.
                "REMOTE_USER": user,
                "REMOTE_ADDR": self.client_address[0],
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
            }
            for header, variable in (
                ("Content-Encoding", "HTTP_CONTENT_ENCODING"),  # gzipped fetch requests
                ("Git-Protocol", "HTTP_GIT_PROTOCOL"),  # protocol version 2
            ):
                value = self.headers.get(header)
                if value:
                    env[variable] = value
            done = subprocess.run(
                ["git", "http-backend"], input=body, env=env, capture_output=True, timeout=60
            )
            head, _, content = done.stdout.partition(b"\r\n\r\n")
            status, headers = 200, []
            for line in head.decode("latin-1").split("\r\n"):
                name, _, value = line.partition(":")
                if name.lower() == "status":
                    status = int(value.split()[0])
                elif name:
                    headers.append((name, value.strip()))
            if done.returncode != 0 and not done.stdout:
                return 500, [("Content-Type", "text/plain")], done.stderr
            return status, headers, content

    return Handler


def make_repository(root: Path, env: Mapping[str, str]) -> Path:
    """A bare repository `root/repo.git` with one commit on `main` (a README)."""
    work = root.parent / "seed"
    git = ["git", "-c", "user.name=Seed", "-c", "user.email=seed@example.test"]
    subprocess.run([*git, "init", "-q", "-b", "main", str(work)], env=env, check=True)
    (work / "README").write_text("seed\n")
    subprocess.run([*git, "-C", str(work), "add", "README"], env=env, check=True)
    subprocess.run([*git, "-C", str(work), "commit", "-q", "-m", "Seed"], env=env, check=True)
    bare = root / "repo.git"
    subprocess.run([*git, "clone", "-q", "--bare", str(work), str(bare)], env=env, check=True)
    return bare


# --- running git ------------------------------------------------------------------------------


#: How a git command went (see `ProgramRun`).
GitRun = ProgramRun


def run_git(
    env: Mapping[str, str],
    *args: str,
    cwd: Path,
    terminal: bool = False,
    approve: Callable[[str], object] | None = None,
    timeout: float = 60,
    stderr_to: Path | None = None,
) -> GitRun:
    """Run `git *args` in *cwd* (see the module for the two ways; on a terminal, *env* is used
    as it is, so `GIT_TERMINAL_PROMPT` is whatever it says).

    On a terminal, each new user code shown is given to *approve* (if any), and *stderr_to*
    sends git's stderr to that file instead, as a program that runs git and keeps its messages
    does (the terminal stays git's controlling terminal). Raises `subprocess.TimeoutExpired`
    (no terminal) or `TimeoutError` (terminal) after *timeout*.
    """
    command = ["git", *args]
    if not terminal:
        no_prompt = {**env, "GIT_TERMINAL_PROMPT": "0"}
        return run_program(command, no_prompt, cwd, timeout=timeout)
    if stderr_to is not None:
        command = ["sh", "-c", 'exec "$@" 2>"$0"', str(stderr_to), *command]
    return run_program(command, env, cwd, terminal=True, approve=approve, timeout=timeout)
