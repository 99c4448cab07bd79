"""What the tests of loctocat run by other programs share (git, pip, uv, the command line): a
person who approves the codes the fake server hands out, counts of what the server was asked,
a loopback HTTP server gated on the fake server's tokens, and a program run on a terminal.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import httpx

from loctocat.testing import FakeAuthorizationServer

# Terminal control sequences (CSI, OSC, charset selection) and carriage returns, so that the
# text a spinner redraws can be searched as plain text.
_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\r"
)


def plain(text: str) -> str:
    """*text* without terminal control sequences."""
    return _CONTROL.sub("", text)


def hints(stderr: str) -> list[str]:
    """loctocat's own lines on stderr."""
    return [line for line in plain(stderr).splitlines() if line.startswith("loctocat:")]


def login_command(hint: str) -> list[str]:
    """The `loctocat login ...` command a hint names (quoted or not), as arguments."""
    start = hint.index("loctocat login")
    quote = hint[start - 1] if start and hint[start - 1] in "'\"`" else None
    end = hint.index(quote, start) if quote else len(hint)
    words = shlex.split(hint[start:end].rstrip("."))
    assert words[:2] == ["loctocat", "login"], hint
    return words[1:]


# --- an environment of its own --------------------------------------------------------------------

#: The `src` directory loctocat is imported from, for the `python -m loctocat` programs run.
SOURCE = Path(__file__).resolve().parents[1] / "src"


def isolated_environment(
    tmp_path: Path, dropped: Sequence[str] = (), **settings: str
) -> dict[str, str]:
    """An environment for `python -m loctocat` and the programs that run it: a home, config
    and caches under `tmp_path` (an empty loctocat config file), nothing of the user's, no
    browser or SSH session, loctocat imported from this source tree; variables starting with
    one of `dropped` removed, and `settings` added."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    config = tmp_path / "loctocat.toml"
    config.write_text("")
    prefixes = ("LOCTOCAT_", "XDG_", *dropped)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    for name in ("SSH_ASKPASS", "SSH_CONNECTION", "SSH_TTY", "BROWSER", "VIRTUAL_ENV"):
        environ.pop(name, None)
    environ.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CACHE_HOME=str(home / ".cache"),
        LOCTOCAT_CONFIG=str(config),
        PYTHONPATH=str(SOURCE),
        NO_COLOR="1",
        LC_ALL="C.UTF-8",
    )
    environ.update(settings)
    return environ


# --- the fake authorization server, and the person approving codes --------------------------------


def approve_pending(server: FakeAuthorizationServer) -> None:
    """Approve every code the server has handed out and nobody approved yet."""
    for grant in server.grants:
        if grant.status == "pending":
            server.approve(grant.user_code)


@contextmanager
def approving(server: FakeAuthorizationServer) -> Iterator[None]:
    """A person who approves every code the server hands out, as soon as it appears."""
    stop = threading.Event()

    def person() -> None:
        while not stop.is_set():
            approve_pending(server)
            time.sleep(0.05)

    thread = threading.Thread(target=person, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def device_requests(server: FakeAuthorizationServer) -> int:
    return sum(r.endpoint == "device_authorization" for r in server.requests)


def refresh_requests(server: FakeAuthorizationServer) -> int:
    return sum(
        r.endpoint == "token" and r.form.get("grant_type") == "refresh_token"
        for r in server.requests
    )


def expire_stored_tokens(token_store: Path) -> None:
    """Make every stored token look expired to loctocat too (its clock, not the server's)."""
    document = json.loads(token_store.read_text())
    for entry in document["tokens"].values():
        entry["expires_at"] = time.time() - 60
    token_store.write_text(json.dumps(document))


def accepts_current_tokens(server: FakeAuthorizationServer) -> Callable[[str], bool]:
    """Whether a password is an access token `server` accepts now (asked at its /userinfo)."""

    def accepted(password: str) -> bool:
        answer = httpx.get(
            server.userinfo_url,
            headers={"Authorization": f"Bearer {password}"},
            timeout=10,
            trust_env=False,
        )
        return answer.status_code == 200

    return accepted


# --- a loopback HTTP server ----------------------------------------------------------------------


class Serving:
    """A test server that runs on 127.0.0.1 while used as a context manager, and records what
    it answered: a dataclass with `requests` and `_lock` fields, and a `handler()`."""

    requests: list[Any]
    _lock: threading.Lock
    _server: LoopbackServer | None = None

    def handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    @property
    def port(self) -> int:
        assert self._server is not None, "the server is not running"
        return self._server.port

    def __enter__(self) -> Self:
        self._server = LoopbackServer(self.handler()).__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.__exit__(*exc)

    def record(self, request: Any) -> None:
        with self._lock:
            self.requests.append(request)


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 for `handler`, as a context manager: `port` is valid
    inside."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._handler = handler
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._httpd is not None, "the server is not running"
        return int(self._httpd.server_address[1])

    def __enter__(self) -> LoopbackServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)


# --- a program on a terminal ---------------------------------------------------------------------


#: Where the prompt names the user code: "one-time code: WDJB-MJHT", or the verification page
#: with the code filled in, "...?user_code=WDJB-MJHT".
USER_CODE = re.compile(r"(?:one-time code:\s*|user_code=)([A-Z]{4}-[A-Z]{4})")


@dataclass(frozen=True)
class ProgramRun:
    """How a program run went: its exit status, its whole output (stdout and stderr together on
    a terminal, where they are one stream; on no terminal, `stderr` is kept apart too), the user
    codes approved while it ran, and how long it took."""

    status: int
    output: str
    stderr: str
    codes: list[str]
    seconds: float


def run_program(
    command: Sequence[str],
    env: Mapping[str, str],
    cwd: Path,
    *,
    terminal: bool = False,
    approve: Callable[[str], object] | None = None,
    timeout: float = 60,
) -> ProgramRun:
    """Run *command* as a person does: on a terminal, where each new user code shown is given
    to *approve* (if any), as the person would enter it on the verification page; or as a
    script does, with no terminal at all (a new session, stdin /dev/null)."""
    if not terminal:
        started = time.monotonic()
        done = subprocess.run(
            list(command),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            start_new_session=True,
            timeout=timeout,
            check=False,
        )
        seconds = time.monotonic() - started
        return ProgramRun(done.returncode, done.stdout + done.stderr, done.stderr, [], seconds)
    codes: list[str] = []

    def look(output: str) -> None:
        for code in USER_CODE.findall(plain(output)):
            if code not in codes:
                codes.append(code)
                if approve is not None:
                    approve(code)

    status, output, seconds = run_in_terminal(command, env, cwd, look, timeout)
    return ProgramRun(status, output, "", codes, seconds)


def run_in_terminal(
    command: Sequence[str],
    env: Mapping[str, str],
    cwd: Path,
    on_output: Callable[[str], object],
    timeout: float,
) -> tuple[int, str, float]:
    """Run *command* in a pseudo-terminal (pexpect), calling *on_output* with the whole output
    so far every 50 ms or so; its exit status, its output and how long it took. Raises
    `TimeoutError` after *timeout*."""
    import pexpect

    started = time.monotonic()
    child = pexpect.spawn(
        command[0],
        list(command[1:]),
        cwd=str(cwd),
        env={"TERM": "xterm-256color", **env},
        encoding="utf-8",
        codec_errors="replace",
        dimensions=(40, 100),
    )
    output = ""
    try:
        while True:
            if time.monotonic() - started > timeout:
                raise TimeoutError(
                    f"{' '.join(command)} still running after {timeout} s:\n{output}"
                )
            try:
                output += child.read_nonblocking(4096, timeout=0.05)
            except pexpect.TIMEOUT:
                pass
            except pexpect.EOF:
                break
            on_output(output)
    finally:
        child.close(force=True)
    status = child.exitstatus if child.exitstatus is not None else -(child.signalstatus or 0)
    return status, output, time.monotonic() - started
