"""Drive a real ``oidc-provider`` authorization server (``oidc_server.mjs``) from the tests.

:class:`OIDCPeer` runs ``node tests/interop/oidc_server.mjs`` on loopback and approves or denies
device codes in it *the way a person with a browser would*: it loads the verification page,
parses the HTML forms (only the standard library's :mod:`html.parser`), fills in the user code,
signs in on the development login page, confirms, and checks the final page. Nothing in here
knows about loctocat.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import selectors
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import IO, Any, Literal
from urllib.parse import urlencode, urljoin

import anyio.to_thread
import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVER_SCRIPT = Path(__file__).resolve().with_name("oidc_server.mjs")
NODE_MODULES = REPO_ROOT / "node_modules"
OIDC_PROVIDER_PACKAGE = NODE_MODULES / "oidc-provider" / "package.json"

PUBLIC_CLIENT_ID = "loctocat-interop"
SECRET_BASIC_CLIENT_ID = "loctocat-interop-secret"
SECRET_POST_CLIENT_ID = "loctocat-interop-secret-post"
CLIENT_SECRET = "loctocat-interop-secret-value"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

# What oidc-provider's default device-flow pages say (see lib/helpers/defaults.js).
SUCCESS_TEXT = "was successful"
ABORTED_TEXT = "The Sign-in request was interrupted"

_MAX_PAGES = 12


# --------------------------------------------------------------------------------------------
# A tiny HTML form model, good enough for a browser-like walk through the sign-in pages.
# --------------------------------------------------------------------------------------------


@dataclass
class Button:
    """A submit button. Like a browser, its name/value is only sent when it is clicked."""

    name: str | None
    value: str
    text: str
    form_id: str | None = None


@dataclass
class Form:
    """One ``<form>``: its action, method and successful controls (hidden inputs included)."""

    id: str | None
    action: str
    method: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    buttons: list[Button] = field(default_factory=list)
    text_inputs: set[str] = field(default_factory=set)  # names a person types into

    def field_names(self) -> set[str]:
        return {name for name, _ in self.fields}

    def value(self, name: str) -> str | None:
        return next((v for n, v in self.fields if n == name), None)

    def button(self, *, name: str | None = None, text: str | None = None) -> Button:
        """Find a button by its name (``None`` = a button without a name) and/or its text."""
        for b in self.buttons:
            if b.name == name and (text is None or text.lower() in b.text.lower()):
                return b
        raise AssertionError(
            f"no button name={name!r} text={text!r} in form {self.id!r}: {self.buttons!r}"
        )

    def submission(
        self, fill: Mapping[str, str] | None = None, click: Button | None = None
    ) -> list[tuple[str, str]]:
        """The form data a browser sends: fields (*fill* typed in) plus the clicked button only."""
        fill = dict(fill or {})
        unknown = set(fill) - self.field_names()
        if unknown:
            raise AssertionError(f"form {self.id!r} has no fields {sorted(unknown)}: {self!r}")
        data = [(name, fill.get(name, value)) for name, value in self.fields]
        if click is not None and click.name:
            data.append((click.name, click.value))
        return data


class _FormParser(HTMLParser):
    """Collect forms, their inputs and buttons (also those associated by ``form="id"``)."""

    _TEXT_INPUTS = frozenset({"text", "password", "email", "search", "tel", "url", "number"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._current: Form | None = None
        self._orphans: list[tuple[str, str, str, bool]] = []  # (form id, name, value, typed)
        self._orphan_buttons: list[Button] = []
        self._button: tuple[Button, Form | None] | None = None
        self._textarea: tuple[str, Form | None, str | None, list[str]] | None = None

    def _owner(self, attrs: dict[str, str | None]) -> tuple[Form | None, str | None]:
        form_id = attrs.get("form")
        if form_id is not None:
            return None, form_id
        return self._current, None

    def handle_starttag(self, tag: str, attrs_list: list[tuple[str, str | None]]) -> None:
        attrs = dict(attrs_list)
        if tag == "form":
            self._current = Form(
                id=attrs.get("id"),
                action=attrs.get("action") or "",
                method=(attrs.get("method") or "get").lower(),
            )
            self.forms.append(self._current)
        elif tag == "input":
            self._input(attrs)
        elif tag == "button":
            owner, form_id = self._owner(attrs)
            kind = (attrs.get("type") or "submit").lower()
            button = Button(attrs.get("name"), attrs.get("value") or "", "", form_id)
            self._button = (button, owner) if kind == "submit" else None
        elif tag == "textarea":
            owner, form_id = self._owner(attrs)
            name = attrs.get("name")
            if name:
                self._textarea = (name, owner, form_id, [])

    def _input(self, attrs: dict[str, str | None]) -> None:
        owner, form_id = self._owner(attrs)
        kind = (attrs.get("type") or "text").lower()
        name = attrs.get("name")
        value = attrs.get("value") or ""
        if kind in ("submit", "image"):
            self._add_button(Button(name, value, value, form_id), owner)
            return
        if not name or kind in ("button", "reset", "file"):
            return
        if kind in ("checkbox", "radio") and "checked" not in attrs:
            return
        self._add_field(owner, form_id, name, value, typed=kind in self._TEXT_INPUTS)

    def _add_field(
        self, owner: Form | None, form_id: str | None, name: str, value: str, *, typed: bool
    ) -> None:
        if owner is not None:
            _append_field(owner, name, value, typed=typed)
        elif form_id is not None:
            self._orphans.append((form_id, name, value, typed))

    def _add_button(self, button: Button, owner: Form | None) -> None:
        if owner is None:
            self._orphan_buttons.append(button)
        else:
            owner.buttons.append(button)

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button[0].text += data
        if self._textarea is not None:
            self._textarea[3].append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None
        elif tag == "button" and self._button is not None:
            button, owner = self._button
            button.text = " ".join(button.text.split())
            self._add_button(button, owner)
            self._button = None
        elif tag == "textarea" and self._textarea is not None:
            name, owner, form_id, parts = self._textarea
            self._add_field(owner, form_id, name, "".join(parts), typed=True)
            self._textarea = None

    def close(self) -> None:
        super().close()
        by_id = {f.id: f for f in self.forms if f.id}
        for form_id, name, value, typed in self._orphans:
            if (form := by_id.get(form_id)) is not None:
                _append_field(form, name, value, typed=typed)
        for button in self._orphan_buttons:
            form = by_id.get(button.form_id) if button.form_id else None
            if form is not None:
                form.buttons.append(button)


def _append_field(form: Form, name: str, value: str, *, typed: bool) -> None:
    form.fields.append((name, value))
    if typed:
        form.text_inputs.add(name)


def parse_forms(html: str) -> list[Form]:
    """All forms of an HTML page, with controls associated by nesting or ``form="id"``."""
    parser = _FormParser()
    parser.feed(html)
    parser.close()
    return parser.forms


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script", "head"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "head") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def page_text(html: str) -> str:
    """The visible text of an HTML page, whitespace collapsed."""
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    return " ".join(" ".join(parser.parts).split())


# --------------------------------------------------------------------------------------------
# The peer
# --------------------------------------------------------------------------------------------


Outcome = Literal["approved", "denied"]


class PeerUnavailable(RuntimeError):
    """``node`` or a Node.js package the tests need (``oidc-provider``) is not installed."""


@dataclass
class OIDCPeer:
    """A running ``oidc_server.mjs`` and what its discovery document says."""

    issuer: str
    port: int
    pid: int
    metadata: dict[str, Any]
    client_id: str = PUBLIC_CLIENT_ID
    secret_client_id: str = SECRET_BASIC_CLIENT_ID
    secret_post_client_id: str = SECRET_POST_CLIENT_ID
    client_secret: str = CLIENT_SECRET
    login: str = "alice"
    #: Where the server keeps its keys, grants and access log (None: all in its memory).
    state_dir: Path | None = None
    #: Whether every DPoP proof must carry the server's nonce (``OIDC_DPOP_NONCES=1``).
    dpop_nonces: bool = False

    @property
    def device_authorization_url(self) -> str:
        return str(self.metadata["device_authorization_endpoint"])

    @property
    def token_url(self) -> str:
        return str(self.metadata["token_endpoint"])

    @property
    def userinfo_url(self) -> str:
        return str(self.metadata["userinfo_endpoint"])

    @property
    def revocation_url(self) -> str:
        return str(self.metadata["revocation_endpoint"])

    @property
    def introspection_url(self) -> str:
        return str(self.metadata["introspection_endpoint"])

    @property
    def jwks_uri(self) -> str:
        return str(self.metadata["jwks_uri"])

    @property
    def verification_uri(self) -> str:
        return f"{self.issuer}/device"

    def requests_to(self, url: str, method: str = "GET") -> int:
        """How many ``method`` requests for *url*'s path the server's access log has had.

        Counted by the server itself, across its restarts; needs a state directory.
        """
        if self.state_dir is None:
            raise ValueError("only a peer run with a state directory keeps an access log")
        line = f"{method} {httpx.URL(url).path}"
        log = self.state_dir / "access.log"
        lines = log.read_text().splitlines() if log.exists() else []
        return lines.count(line)

    # -- the person with a browser ------------------------------------------------------------

    def approve(
        self,
        user_code: str | None,
        *,
        deny: bool = False,
        login: str | None = None,
        verification_uri: str | None = None,
    ) -> Outcome:
        """Sign in and approve (or, with *deny*, abort) the device request for *user_code*.

        Like a person: open ``verification_uri`` in a fresh browser (own cookie jar), type the
        code, click through the confirmation, the development login (any user name and
        password) and the consent page. With ``user_code=None``, *verification_uri* must be the
        ``verification_uri_complete`` (the code is in its query). Raises ``AssertionError`` with
        the page text if any page is not what a person would expect.
        """
        start = verification_uri or self.verification_uri
        if user_code is None and "user_code=" not in start:
            raise ValueError("user_code=None needs a verification_uri_complete")
        trace: list[str] = []

        def record(response: httpx.Response) -> None:
            request = response.request
            trace.append(f"{request.method} {request.url.path} -> {response.status_code}")

        hooks = {"response": [record]}
        with httpx.Client(follow_redirects=True, timeout=10.0, event_hooks=hooks) as browser:
            try:
                return _walk(browser, start, user_code, deny=deny, login=login or self.login)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n  pages: {'; '.join(trace)}") from None

    async def approve_async(
        self,
        user_code: str | None,
        *,
        deny: bool = False,
        login: str | None = None,
        verification_uri: str | None = None,
    ) -> Outcome:
        """:meth:`approve` in a worker thread (works under asyncio and trio)."""
        call = functools.partial(
            self.approve, user_code, deny=deny, login=login, verification_uri=verification_uri
        )
        return await anyio.to_thread.run_sync(call)


def _fail(step: str, response: httpx.Response, html: str) -> AssertionError:
    return AssertionError(
        f"device sign-in: unexpected page while {step}: "
        f"{response.request.method} {response.url} -> {response.status_code}: {page_text(html)!r}"
    )


def _submit(
    browser: httpx.Client,
    page_url: httpx.URL,
    form: Form,
    fill: Mapping[str, str] | None = None,
    click: Button | None = None,
) -> httpx.Response:
    url = urljoin(str(page_url), form.action or str(page_url))
    data = form.submission(fill, click)
    # Encoded by hand from the list of pairs: keeps order and repeated names, like a browser.
    encoded = urlencode(data)
    if form.method == "post":
        return browser.post(
            url,
            content=encoded.encode("ascii"),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    return browser.get(f"{url.split('?', 1)[0]}?{encoded}")


def _walk(
    browser: httpx.Client, start: str, user_code: str | None, *, deny: bool, login: str
) -> Outcome:
    response = browser.get(start)
    code_entered = False
    confirmed = False
    for _ in range(_MAX_PAGES):
        html = response.text
        text = page_text(html)
        if response.status_code >= 400:
            raise _fail("signing in", response, html)
        forms = parse_forms(html)
        by_kind = {_classify(f): f for f in forms}

        if SUCCESS_TEXT in text and not forms:
            if deny:
                raise _fail("denying (the request was approved instead)", response, html)
            return "approved"
        if ABORTED_TEXT in text:
            if not deny:
                raise _fail("approving (the request was aborted)", response, html)
            return "denied"

        if (form := by_kind.get("code-input")) is not None:
            if code_entered or user_code is None:
                raise _fail("entering the user code (it was not accepted)", response, html)
            code_entered = True
            response = _submit(
                browser, response.url, form, {"user_code": user_code}, _click_plain(form)
            )
        elif (form := by_kind.get("auto-post")) is not None:
            # verification_uri_complete: a form_post page a browser submits by script.
            if code_entered:
                raise _fail("following verification_uri_complete", response, html)
            code_entered = True
            response = _submit(browser, response.url, form)
        elif (form := by_kind.get("confirm")) is not None:
            if confirmed:
                raise _fail("confirming the device (asked twice)", response, html)
            if user_code is not None and _norm(form.value("user_code")) != _norm(user_code):
                raise _fail(
                    f"confirming (the page shows another code than {user_code})", response, html
                )
            confirmed = True
            button = form.button(name="abort") if deny else _click_plain(form)
            response = _submit(browser, response.url, form, click=button)
        elif (form := by_kind.get("login")) is not None:
            if deny or not confirmed:
                raise _fail("signing in (login page out of order)", response, html)
            fill = {"login": login, "password": "any password"}
            response = _submit(browser, response.url, form, fill, _click_plain(form))
        elif (form := by_kind.get("consent")) is not None:
            if deny or not confirmed:
                raise _fail("consenting (consent page out of order)", response, html)
            response = _submit(browser, response.url, form, click=_click_plain(form))
        else:
            raise _fail("looking for a form to submit", response, html)
    raise AssertionError(f"device sign-in did not finish within {_MAX_PAGES} pages")


def _norm(code: str | None) -> str:
    return re.sub(r"[^0-9A-Z]", "", (code or "").upper())


def _click_plain(form: Form) -> Button | None:
    """The form's main button: one without a name (so it adds nothing, e.g. not ``abort``)."""
    return next((b for b in form.buttons if not b.name), None)


def _classify(form: Form) -> str:
    names = form.field_names()
    prompt = form.value("prompt")
    if prompt == "login" and {"login", "password"} <= names:
        return "login"
    if prompt == "consent":
        return "consent"
    if "xsrf" in names and "confirm" in names and "user_code" in names:
        return "confirm"
    if "xsrf" in names and "user_code" in form.text_inputs:
        return "code-input"
    if "xsrf" in names and "user_code" in names:
        return "auto-post"  # verification_uri_complete: all hidden, submitted by script
    return "unknown"


# --------------------------------------------------------------------------------------------
# Process management
# --------------------------------------------------------------------------------------------


def check_available(package: str = "oidc-provider") -> str:
    """Path of ``node``; raises :class:`PeerUnavailable` if node or *package* is missing.

    *package* is a Node.js package of package.json: ``oidc-provider`` (this peer) by default,
    ``openid-client`` for the tests that run that client.
    """
    node = shutil.which("node")
    if node is None:
        raise PeerUnavailable("`node` is not on PATH (Node.js >= 20 is needed)")
    manifest = NODE_MODULES / package / "package.json"
    if not manifest.is_file():
        raise PeerUnavailable(f"{manifest.parent} is not installed; run `npm ci` in {REPO_ROOT}")
    return node


def _read_ready_line(proc: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"oidc_server.mjs was not ready within {timeout} s")
            if not selector.select(remaining):
                continue
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                code = proc.wait(5)
                raise RuntimeError(
                    f"oidc_server.mjs exited with status {code} before it was ready "
                    "(its stderr is in the captured output)"
                )
            buffer += chunk
    line = buffer.split(b"\n", 1)[0]
    ready: dict[str, Any] = json.loads(line)
    return ready


@contextlib.contextmanager
def run_peer(
    *,
    port: int = 0,
    device_code_ttl: int | None = None,
    timeout: float = 20.0,
    state_dir: Path | None = None,
    rotate_signing_key: bool = False,
    dpop_nonces: bool = False,
) -> Iterator[OIDCPeer]:
    """Run ``oidc_server.mjs`` for the duration of the ``with`` block.

    Its stderr goes to ours (pytest captures it); closing its stdin stops it. With
    *state_dir*, the server keeps its keys, grants and tokens there, so that another run with
    the same directory and port is the same server restarted; *rotate_signing_key* makes that
    run sign with a new key (see :class:`ReloadablePeer`). With *dpop_nonces*, every DPoP
    proof must carry the server's current nonce.
    """
    node = check_available()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OIDC_")}
    env["OIDC_PORT"] = str(port)
    if device_code_ttl is not None:
        env["OIDC_DEVICE_CODE_TTL"] = str(device_code_ttl)
    if state_dir is not None:
        env["OIDC_STATE_DIR"] = str(state_dir)
    if rotate_signing_key:
        env["OIDC_ROTATE_SIGNING_KEY"] = "1"
    if dpop_nonces:
        env["OIDC_DPOP_NONCES"] = "1"
    with subprocess.Popen(
        [node, str(SERVER_SCRIPT)],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    ) as proc:
        try:
            ready = _read_ready_line(proc, timeout)
            issuer = str(ready["issuer"])
            with httpx.Client(timeout=10.0) as client:
                response = client.get(f"{issuer}/.well-known/openid-configuration")
                response.raise_for_status()
                metadata: dict[str, Any] = response.json()
            if metadata.get("issuer") != issuer:
                raise RuntimeError(f"discovery issuer {metadata.get('issuer')!r} != {issuer!r}")
            yield OIDCPeer(
                issuer=issuer,
                port=int(ready["port"]),
                pid=proc.pid,
                metadata=metadata,
                state_dir=state_dir,
                dpop_nonces=dpop_nonces,
            )
        finally:
            _stop(proc)


class ReloadablePeer:
    """``oidc_server.mjs`` run like a deployment: restarted with its state kept.

    Its signing keys, grants, tokens and sessions are in *state_dir*, and every restart listens
    on the same port, so the issuer and everything it issued stay valid. ``reload(
    rotate_signing_key=True)`` is oidc-provider's documented key rotation: the server reads its
    keys once, when it starts, so it is restarted with a new key first in its JWKS (the one it
    signs with) and the previous keys still published after it.
    """

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self._running = contextlib.ExitStack()
        self._peer: OIDCPeer | None = None

    @property
    def peer(self) -> OIDCPeer:
        if self._peer is None:
            raise RuntimeError("the peer is not running")
        return self._peer

    def start(self, *, port: int = 0, rotate_signing_key: bool = False) -> OIDCPeer:
        if self._peer is not None:
            raise RuntimeError("the peer is already running")
        self._peer = self._running.enter_context(
            run_peer(port=port, state_dir=self.state_dir, rotate_signing_key=rotate_signing_key)
        )
        return self._peer

    def reload(self, *, rotate_signing_key: bool = False) -> OIDCPeer:
        """Stop the server and start it again on the same port, from the same state."""
        before = self.peer
        self.stop()
        after = self.start(port=before.port, rotate_signing_key=rotate_signing_key)
        assert after.issuer == before.issuer
        return after

    def stop(self) -> None:
        self._peer = None
        self._running.close()

    def __enter__(self) -> ReloadablePeer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()  # the server exits when its stdin closes
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


#: A user code as oidc-provider writes it (its default charset: no vowels).
USER_CODE = re.compile(r"\b([B-DF-HJ-NP-TV-XZ]{4}-[B-DF-HJ-NP-TV-XZ]{4})\b")
LOCTOCAT = [sys.executable, "-m", "loctocat"]


def run_loctocat(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`loctocat ARGS` as a script runs it: no terminal, nothing on stdin."""
    return subprocess.run(
        [*LOCTOCAT, *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=30,
    )


def login_from_the_command_line(
    peer: OIDCPeer, env: dict[str, str], selection: list[str], login: str | None = None
) -> tuple[str, str]:
    """Run `loctocat login SELECTION`, approve the code it shows (as `login`, if given), as a
    person in a browser would: its stdout and its stderr."""
    stderr_lines: list[str] = []
    code_seen = threading.Event()
    codes: list[str] = []

    def read_stderr(stream: IO[str]) -> None:
        for line in stream:
            stderr_lines.append(line)
            match = USER_CODE.search(line)
            if match and not codes:
                codes.append(match.group(1))
                code_seen.set()

    with subprocess.Popen(
        [*LOCTOCAT, "login", *selection],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as command:
        assert command.stdout is not None
        assert command.stderr is not None
        reader = threading.Thread(target=read_stderr, args=(command.stderr,), daemon=True)
        reader.start()
        try:
            assert code_seen.wait(timeout=20), "".join(stderr_lines)
            if login is None:
                peer.approve(codes[0])  # the person, in a browser
            else:
                peer.approve(codes[0], login=login)
            printed = command.stdout.read()
            assert command.wait(timeout=30) == 0, "".join(stderr_lines)
        finally:
            if command.poll() is None:
                command.kill()
            reader.join(timeout=10)
    return printed, "".join(stderr_lines)
