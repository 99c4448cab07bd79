"""Run every ```python example of docs/**/*.md and README.md, so the documentation cannot rot.

Each example is one test, named after where it is (`docs/tokens.md:42`, the line of its opening
fence). It runs in a fresh namespace against in-memory fake authorization servers: every
`httpx.Client` / `httpx.AsyncClient` the example (or loctocat) builds without a transport of its
own is routed by host to `FakeAuthorizationServer`s, `requests` too; loopback stays loopback (the
`fake_auth_server_http` fixture), and any other host fails as a connection error and fails the
test, so nothing reaches the network. New grants are answered "pending" once, then approved;
the fakes send interval 0 and the polling floor is lowered to 10 ms. `FileTokenStore()` and the
keyring live in the test's tmp_path. An example that reads the environment variable `REDIS_URL`
gets a real redis-server there (tests/redis_support.py), in a database emptied before it runs.
Examples with a top-level `await` run under asyncio. Functions named `test_*` that an example
defines are then called with the loctocat fixtures they name, as pytest would.

Blocks that must not run are marked with an HTML comment on the line before the fence:
`<!-- not-run: reason -->`. Other fences (console, toml, text, ...) are not executed.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import CodeType
from typing import Any
from urllib.parse import urlsplit

import httpx
import keyring
import keyring.backend
import keyring.errors
import pytest
import requests
import requests.adapters
from requests.structures import CaseInsensitiveDict

import loctocat.auth
from loctocat import Authenticator
from loctocat.testing import FakeAuthorizationServer

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\s`]*)")
_NOT_RUN = re.compile(r"^\s*<!--\s*not-run:\s*(?P<reason>\S.*?)\s*-->\s*$")
_PYTHON = {"python", "py", "python3"}
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@dataclass(frozen=True)
class Example:
    path: Path
    line: int
    code: str
    skip_reason: str | None

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT).as_posix()}:{self.line}"


def extract_examples(path: Path) -> list[Example]:
    """The ```python blocks of one Markdown file, with the line of each opening fence."""
    lines = path.read_text(encoding="utf-8").splitlines()
    examples: list[Example] = []
    previous = ""  # the last non-blank line before the fence
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if match is None:
            if lines[index].strip():
                previous = lines[index]
            index += 1
            continue
        indent, fence, info = match["indent"], match["fence"], match["info"].lower()
        start = index
        body: list[str] = []
        index += 1
        while index < len(lines) and not lines[index].strip().startswith(fence):
            line = lines[index]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            index += 1
        index += 1  # the closing fence
        if info.lstrip(".{").split("}")[0] in _PYTHON:
            not_run = _NOT_RUN.match(previous)
            reason = not_run["reason"] if not_run else None
            examples.append(Example(path, start + 1, "\n".join(body) + "\n", reason))
        previous = ""
    return examples


def all_examples() -> list[Example]:
    pages = sorted(DOCS.rglob("*.md"))
    return [example for page in [ROOT / "README.md", *pages] for example in extract_examples(page)]


EXAMPLES = all_examples()


#: Environment variables the examples read client secrets from, as a user would have set them.
SECRET_VARIABLES = (
    "GOOGLE_CLIENT_SECRET",
    "MYAPP_CLIENT_SECRET",
    "YANDEX_CLIENT_SECRET",
    "ZOOM_CLIENT_SECRET",
)

#: Names the README's short fragments take from the example before them.
README_CONTEXT = """
from loctocat import Authenticator
client_id = "your_client_id"
auth_url = "https://example.com/oauth2/device"
token_url = "https://example.com/oauth2/token"
authenticator = Authenticator(client_id, auth_url, token_url, scopes=["read"])
"""


# --- The fake internet ------------------------------------------------------------------------


def _github() -> FakeAuthorizationServer:
    return FakeAuthorizationServer(
        interval=0,
        base_url="https://github.com",
        device_path="/login/device/code",
        token_path="/login/oauth/access_token",
        verification_path="/login/device",
        verification_uri_complete=False,
        errors_with_status_200=True,
        form_encoded_unless_json=True,
        slow_down_sends_interval=True,
    )


def _microsoft(tenant: str) -> FakeAuthorizationServer:
    return FakeAuthorizationServer(
        interval=0,
        base_url=f"https://login.microsoftonline.com/{tenant}",
        device_path="/oauth2/v2.0/devicecode",
        token_path="/oauth2/v2.0/token",
        verification_path="/oauth2/deviceauth",
        verification_uri_complete=False,
        extra_device_fields={"message": "To sign in, use a web browser to open the page ..."},
        error_codes={"access_denied": "authorization_declined"},
    )


def _servers() -> list[FakeAuthorizationServer]:
    """The authorization servers the examples talk to."""
    return [
        FakeAuthorizationServer(interval=0, base_url="https://auth.example.com"),
        FakeAuthorizationServer(
            interval=0,
            base_url="https://example.com",
            device_path="/oauth2/device",
            token_path="/oauth2/token",
        ),
        _github(),
        _microsoft("common"),
        _microsoft("organizations"),
    ]


#: Hosts of protected APIs: they accept any access token a fake server issued and did not revoke.
RESOURCE_HOSTS = {"api.example.com", "api.github.com"}


class FakeInternet:
    """Answers every request of an example from the fake servers; remembers unknown hosts."""

    def __init__(self) -> None:
        self.servers = _servers()
        self.unknown: list[str] = []
        self._lock = threading.Lock()

    def server_for(self, url: httpx.URL) -> FakeAuthorizationServer | None:
        """The server whose base URL is the longest prefix of `url` (any path on its host)."""
        best: tuple[int, FakeAuthorizationServer] | None = None
        for server in self.servers:
            base = urlsplit(server.base_url)
            if base.hostname != url.host:
                continue
            prefix = base.path.rstrip("/")
            # RFC 8414 metadata lives at the host root, before the issuer's path.
            if url.path.startswith(prefix) or url.path.startswith("/.well-known/"):
                score = len(prefix) if url.path.startswith(prefix) else 0
                if best is None or score > best[0]:
                    best = (score, server)
        return None if best is None else best[1]

    def dispatch(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            if request.url.host in RESOURCE_HOSTS:
                return self._resource(request)
            server = self.server_for(request.url)
            if server is None:
                self.unknown.append(str(request.url))
                raise httpx.ConnectError(
                    f"no fake server for {request.url.host} in the docs tests", request=request
                )
            grants = len(server.grants)
            response = server.transport().handle_request(request)
            if len(server.grants) > grants:
                # A new login: the user takes a moment, then approves.
                server.plan_for(None, "pending", "approve")
            return response

    def _resource(self, request: httpx.Request) -> httpx.Response:
        authorization = request.headers.get("authorization", "")
        for server in self.servers:
            check = httpx.Request(
                "GET", server.userinfo_url, headers={"authorization": authorization}
            )
            answer = server.transport().handle_request(check)
            answer.read()
            if answer.status_code == 200:
                payload = {"path": request.url.path, "user": answer.json()}
                return httpx.Response(200, json=payload)
        return httpx.Response(
            401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}, json={}
        )


class Router(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """One client's transport: loopback goes out for real, everything else to the fakes."""

    def __init__(self, internet: FakeInternet, transport_options: dict[str, Any]) -> None:
        self._internet = internet
        self._options = transport_options
        self._sync: httpx.HTTPTransport | None = None
        self._async: httpx.AsyncHTTPTransport | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host in _LOOPBACK:
            if self._sync is None:
                self._sync = httpx.HTTPTransport(**self._options)
            return self._sync.handle_request(request)
        request.read()
        return self._internet.dispatch(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host in _LOOPBACK:
            if self._async is None:
                self._async = httpx.AsyncHTTPTransport(**self._options)
            return await self._async.handle_async_request(request)
        await request.aread()
        return self._internet.dispatch(request)

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.aclose()


class MemoryKeyring(keyring.backend.KeyringBackend):
    """The OS keychain, in a dict."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError(username)


def _route_httpx(monkeypatch: pytest.MonkeyPatch, internet: FakeInternet) -> None:
    for cls in (httpx.Client, httpx.AsyncClient):
        real_init = cls.__init__

        def init(
            self: Any, *args: Any, _real: Callable[..., None] = real_init, **kwargs: Any
        ) -> None:
            options = {"verify": kwargs.get("verify", True)}
            own_transport = kwargs.get("transport") is not None
            if not own_transport:
                kwargs["transport"] = Router(internet, options)
            kwargs["trust_env"] = False  # no proxy from the environment
            _real(self, *args, **kwargs)
            if not own_transport:
                # Proxies (proxy=, mounts=) are honoured in spirit: they lead to the fakes too.
                self._mounts = {pattern: Router(internet, options) for pattern in self._mounts}

        monkeypatch.setattr(cls, "__init__", init)


def _route_requests(monkeypatch: pytest.MonkeyPatch, internet: FakeInternet) -> None:
    real_send = requests.adapters.HTTPAdapter.send

    def send(
        self: requests.adapters.HTTPAdapter, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        assert request.url is not None
        if urlsplit(request.url).hostname in _LOOPBACK:
            return real_send(self, request, **kwargs)
        body = request.body or b""
        content = body.encode() if isinstance(body, str) else body
        assert isinstance(content, bytes), "streamed request bodies are not supported here"
        answer = internet.dispatch(
            httpx.Request(
                request.method or "GET",
                request.url,
                headers=dict(request.headers),
                content=content,
            )
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response.headers = CaseInsensitiveDict(answer.headers)
        response._content = answer.content
        response.url = request.url
        response.request = request
        response.reason = answer.reason_phrase
        response.encoding = answer.encoding
        return response

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)


@pytest.fixture
def internet(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeInternet]:
    internet = FakeInternet()
    _route_httpx(monkeypatch, internet)
    _route_requests(monkeypatch, internet)
    # Poll every 10 ms (the fakes send interval 0); the real floor is 1 s.
    assert Authenticator.__init__.__kwdefaults__ is not None
    monkeypatch.setitem(Authenticator.__init__.__kwdefaults__, "min_interval", 0.01)
    monkeypatch.setattr(loctocat.auth, "_discovered", {})
    # FileTokenStore(), KeyringTokenStore() and the CLI's config stay inside tmp_path.
    for variable in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(variable, str(tmp_path / variable.lower()))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LOCTOCAT_CONFIG", raising=False)
    for variable in SECRET_VARIABLES:
        monkeypatch.setenv(variable, f"secret-from-{variable.lower()}")
    monkeypatch.chdir(tmp_path)
    previous_keyring = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    try:
        yield internet
    finally:
        keyring.set_keyring(previous_keyring)
    assert not internet.unknown, f"the example reached for hosts without a fake: {internet.unknown}"


# --- Running one example ----------------------------------------------------------------------


def _compile(example: Example) -> CodeType:
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    return compile(example.code, example.id, "exec", flags=flags, dont_inherit=True)


def _run(code: CodeType, namespace: dict[str, Any]) -> None:
    outcome = eval(code, namespace)
    if inspect.iscoroutine(outcome):
        asyncio.run(outcome)


@contextlib.contextmanager
def _fixture(name: str, marks: dict[str, Any], tmp_path: Path) -> Iterator[Any]:
    if name == "fake_auth_server":
        yield FakeAuthorizationServer(**marks)
    elif name == "fake_auth_server_http":
        server = FakeAuthorizationServer(**marks)
        with server.serve_http():
            yield server
    elif name == "tmp_path":
        yield tmp_path
    else:
        raise AssertionError(f"the docs tests cannot provide the fixture {name!r}")


def _run_defined_tests(namespace: dict[str, Any], filename: str, tmp_path: Path) -> None:
    """Call the test functions the example defined, with the fixtures they ask for."""
    for name, function in list(namespace.items()):
        if not (name.startswith("test_") and inspect.isfunction(function)):
            continue
        if function.__code__.co_filename != filename:
            continue
        marks: dict[str, Any] = {}
        for mark in getattr(function, "pytestmark", []):
            if mark.name == "fake_auth_server":
                marks.update(mark.kwargs)
        with contextlib.ExitStack() as stack:
            kwargs = {
                parameter: stack.enter_context(_fixture(parameter, marks, tmp_path))
                for parameter in inspect.signature(function).parameters
            }
            outcome = function(**kwargs)
            if inspect.iscoroutine(outcome):
                asyncio.run(outcome)


def _empty_redis_database(request: pytest.FixtureRequest) -> str:
    """The URL of a database of the session's redis-server, emptied (the examples use the
    store's default prefix, so they cannot share one)."""
    import redis

    base = request.getfixturevalue("redis_server").url.rpartition("/")[0]
    url = f"{base}/15"  # the other tests use database 0
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
    return url


@pytest.mark.parametrize("example", EXAMPLES, ids=[example.id for example in EXAMPLES])
def test_example(
    example: Example,
    internet: FakeInternet,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if example.skip_reason is not None:
        pytest.skip(f"not run: {example.skip_reason}")
    if "REDIS_URL" in example.code:
        monkeypatch.setenv("REDIS_URL", _empty_redis_database(request))
    code = _compile(example)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    if example.path.name == "README.md":
        exec(README_CONTEXT, namespace)
    _run(code, namespace)
    _run_defined_tests(namespace, example.id, tmp_path)


# --- The collection itself --------------------------------------------------------------------


def test_examples_are_found() -> None:
    pages = {example.path for example in EXAMPLES}
    assert ROOT / "README.md" in pages
    assert len(pages) >= 10, sorted(str(page) for page in pages)
    not_run = [example.id for example in EXAMPLES if example.skip_reason]
    assert len(not_run) <= len(EXAMPLES) // 10, f"too many examples are not run: {not_run}"


def test_extract_examples(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n```python\nx = 1\n```\n\n<!-- not-run: a fragment -->\n```python\ny(\n```\n"
        "\n```console\n$ ls\n```\n\n!!! tip\n    ```python\n    if True:\n        z = 2\n    ```\n",
        encoding="utf-8",
    )
    examples = extract_examples(page)
    assert [(e.line, e.code, e.skip_reason) for e in examples] == [
        (3, "x = 1\n", None),
        (8, "y(\n", "a fragment"),
        (17, "if True:\n    z = 2\n", None),
    ]


def test_unknown_hosts_fail(internet: FakeInternet) -> None:
    with httpx.Client() as client, pytest.raises(httpx.ConnectError):
        client.get("https://elsewhere.example.org/")
    assert internet.unknown == ["https://elsewhere.example.org/"]
    internet.unknown.clear()
