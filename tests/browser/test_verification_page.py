"""The verification page in a real headless browser, used as a person would.

Each test runs `loctocat demo` as a subprocess, reads the code and the URL it prints on stderr,
then opens the page in Debian's Chromium (driven by Playwright), types the code and clicks.

Skipped only when /usr/bin/chromium is missing, and not even then when
``LOCTOCAT_REQUIRE_BROWSER=1`` (`make test` sets it, and installs Chromium first).
``LOCTOCAT_WRITE_DOCS_ASSETS=1`` also writes the screenshot docs/assets/verification-page.png.
"""

from __future__ import annotations

import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Playwright cannot download its own browsers here: it drives Debian's Chromium, with the flags
# that keep Chromium off the (closed) network.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "assets" / "verification-page.png"
EXIT_TIMEOUT = 10.0  # seconds the CLI may take to notice a decision (it polls every second)
PROMPT_TIMEOUT = 15.0  # seconds for `loctocat demo` to start and print its prompt

if not CHROMIUM.exists():
    if os.environ.get("LOCTOCAT_REQUIRE_BROWSER") == "1":
        pytest.fail(
            f"{CHROMIUM} is missing (LOCTOCAT_REQUIRE_BROWSER=1): run 'make browser' as root",
            pytrace=False,
        )
    pytest.skip(f"{CHROMIUM} is missing: run 'make browser'", allow_module_level=True)

from playwright.sync_api import (  # noqa: E402  (only once Chromium is known to be there)
    BrowserContext,
    Page,
    ViewportSize,
    expect,
    sync_playwright,
)

VIEWPORT: ViewportSize = {"width": 1000, "height": 700}
_CODE = re.compile(r"one-time code: ([A-Z]{4}-[A-Z]{4})\b")
# The prompt's line for a server that sends both pages: the one with the code filled in first.
_URI_COMPLETE = re.compile(
    r"^Open (http://\S+) in your browser \(the code is filled in\), or http://\S+ and enter",
    re.MULTILINE,
)
_URI = re.compile(r"^Open http://\S+ in your browser .*, or (http://\S+) and enter", re.MULTILINE)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """One headless Chromium with a fresh profile for this module's tests.

    Module rather than session scope: Chromium and Playwright's event loop are closed as soon as
    these tests are done, not left running beside the rest of the suite.
    """
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        # A persistent context is how Playwright takes a --user-data-dir of our own.
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport=VIEWPORT,
            color_scheme="light",
            locale="en-US",
        )
        context.set_default_timeout(10_000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    page = browser.new_page()
    try:
        yield page
    finally:
        page.close()


@dataclass
class Demo:
    """A running `loctocat demo`: what it printed, and the code and URLs read off its prompt."""

    process: subprocess.Popen[str]
    port: int
    stderr_lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    stderr_text: str = ""
    user_code: str = ""
    verification_uri: str = ""
    verification_uri_complete: str = ""

    def read_prompt(self) -> None:
        """Read stderr until the prompt has shown the code and both URLs."""
        deadline = time.monotonic() + PROMPT_TIMEOUT
        while not (_CODE.search(self.stderr_text) and _URI_COMPLETE.search(self.stderr_text)):
            remaining = deadline - time.monotonic()
            try:
                line = self.stderr_lines.get(timeout=max(remaining, 0.01))
            except queue.Empty:
                line = None if remaining <= 0 else ""
            if line is None:
                pytest.fail(f"no code on the prompt of loctocat demo; stderr:\n{self.stderr_text}")
            self.stderr_text += line
        self.user_code = _match(_CODE, self.stderr_text)
        self.verification_uri = _match(_URI, self.stderr_text)
        self.verification_uri_complete = _match(_URI_COMPLETE, self.stderr_text)

    def wait(self, timeout: float = EXIT_TIMEOUT) -> tuple[int, str, str]:
        """Wait for the CLI to exit: (exit code, stdout, all of stderr)."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"loctocat demo still running after {timeout:g} s:\n{self.stderr_text}")
        assert self.process.stdout is not None
        stdout = self.process.stdout.read()
        while (line := self.stderr_lines.get(timeout=5)) is not None:
            self.stderr_text += line
        return code, stdout, self.stderr_text


def _match(pattern: re.Pattern[str], text: str) -> str:
    found = pattern.search(text)
    assert found is not None, f"{pattern.pattern!r} not in:\n{text}"
    return found.group(1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in iter(stream.readline, ""):
        lines.put(line)
    lines.put(None)


@pytest.fixture
def demo() -> Iterator[Demo]:
    port = _free_port()
    env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("FORCE_COLOR", None)
    with subprocess.Popen(
        [sys.executable, "-m", "loctocat", "demo", "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        env=env,
    ) as process:
        running = Demo(process, port)
        reader = threading.Thread(
            target=_pump, args=(process.stderr, running.stderr_lines), daemon=True
        )
        reader.start()
        try:
            running.read_prompt()
            yield running
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
            reader.join(timeout=10)


def _type_code(page: Page, code: str) -> None:
    code_input = page.get_by_label("Code")
    code_input.click()
    code_input.press_sequentially(code, delay=20)
    expect(code_input).to_have_value(code)


def test_the_prompt_points_at_the_demo_server(demo: Demo) -> None:
    assert demo.verification_uri == f"http://127.0.0.1:{demo.port}/device"
    assert demo.verification_uri_complete.startswith(demo.verification_uri + "?")
    assert demo.process.poll() is None, "the CLI must wait for the person"


def test_typing_the_code_and_approving_logs_in(demo: Demo, page: Page) -> None:
    page.goto(demo.verification_uri)
    expect(page).to_have_title("Connect a device")
    expect(page.get_by_role("heading", name="Connect a device")).to_be_visible()
    code_input = page.get_by_label("Code")
    expect(code_input).to_have_value("")
    expect(code_input).to_be_focused()  # autofocus: the person can type at once
    _type_code(page, demo.user_code)
    if os.environ.get("LOCTOCAT_WRITE_DOCS_ASSETS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOT, animations="disabled")

    page.get_by_role("button", name="Approve").click()

    expect(page.get_by_role("heading", name="Device approved")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text(
        "Device approved. You can return to your terminal."
    )
    code, stdout, stderr = demo.wait()
    assert code == 0, stderr
    token = stdout.strip()
    assert re.fullmatch(r"fake-at-\S+", token), stdout
    assert stdout == token + "\n"  # the token alone, for scripts
    assert "Authentication complete." in stderr


def test_denying_makes_the_cli_exit_3(demo: Demo, page: Page) -> None:
    page.goto(demo.verification_uri)
    _type_code(page, demo.user_code)

    page.get_by_role("button", name="Deny").click()

    expect(page.get_by_role("heading", name="Device denied")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text(
        "Device denied. You can return to your terminal."
    )
    code, stdout, stderr = demo.wait()
    assert code == 3, stderr  # loctocat.cli.EXIT_DENIED
    assert stdout == ""
    assert "loctocat: access_denied: the user denied the request" in stderr
    assert "Authentication complete" not in stderr


def test_the_complete_uri_fills_in_the_code(demo: Demo, page: Page) -> None:
    page.goto(demo.verification_uri_complete)

    expect(page.get_by_label("Code")).to_have_value(demo.user_code)
    # The page says who is asking, since the code names a pending request.
    expect(page.locator(".request")).to_have_text("loctocat-demo is asking for access to profile.")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("heading", name="Device approved")).to_be_visible()
    code, stdout, stderr = demo.wait()
    assert code == 0, stderr
    assert stdout.startswith("fake-at-")


def test_a_wrong_code_shows_the_error_and_the_form_again(demo: Demo, page: Page) -> None:
    # A typo: one letter off, still from the user-code alphabet.
    first = "C" if demo.user_code[0] == "B" else "B"
    wrong = first + demo.user_code[1:]
    page.goto(demo.verification_uri)
    _type_code(page, wrong)

    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        page.get_by_role("button", name="Approve").click()

    assert answer.value.status == 400
    expect(page.get_by_role("alert")).to_have_text("Unknown or expired code.")
    code_input = page.get_by_label("Code")
    expect(code_input).to_have_value(wrong)  # kept, so the typo can be fixed rather than retyped
    expect(page.get_by_role("button", name="Approve")).to_be_visible()
    expect(page.get_by_role("button", name="Deny")).to_be_visible()
    assert demo.process.poll() is None, "a wrong code must not end the flow"

    # The form shown again works: fix the code and approve.
    code_input.fill("")
    _type_code(page, demo.user_code.lower())  # people type in any case
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("heading", name="Device approved")).to_be_visible()
    code, _, stderr = demo.wait()
    assert code == 0, stderr
