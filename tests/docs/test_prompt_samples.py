"""The prompt's output shown in the docs (loctocat.prompt's docstring, docs/index.md) is what the
default prompt prints, line for line."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
from rich.console import Console

import loctocat.prompt
from loctocat._models import LoctocatAuthInfo, Token
from loctocat.prompt import prompt_from_options

INDEX = Path(__file__).resolve().parents[2] / "docs" / "index.md"
SGR = re.compile(r"\x1b\[[0-9;]*m")
# What would change the prompt's choices: colour, width, CI, SSH (QR code), the browser.
ENV = ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "CI", "SSH_CONNECTION", "SSH_TTY", "BROWSER")


@pytest.fixture(autouse=True)
def neutral_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")


def literal_blocks(docstring: str) -> list[list[str]]:
    """The reStructuredText literal blocks (after a line ending in "::"), as lists of lines."""
    blocks: list[list[str]] = []
    lines = docstring.splitlines()
    for number, line in enumerate(lines):
        if not line.endswith("::"):
            continue
        block = []
        for sample in lines[number + 2 :]:
            if not sample.startswith("    "):
                break
            block.append(sample.removeprefix("    "))
        blocks.append(block)
    return blocks


def plain_output() -> list[str]:
    out = io.StringIO()
    prompt = prompt_from_options(console=Console(file=out, force_terminal=False, width=80))
    try:
        prompt.show_code(auth_info())
        prompt.start_waiting()
        prompt.succeeded(Token(access_token="token-secret"))
    finally:
        prompt.close()
    return out.getvalue().splitlines()


def auth_info() -> LoctocatAuthInfo:
    return LoctocatAuthInfo(
        device_code="device-secret",
        user_code="WDJB-MJHT",
        verification_uri="https://example.com/device",
        expires_in=900,
        interval=5,
    )


def test_module_docstring_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    assert loctocat.prompt.__doc__ is not None
    terminal, plain = literal_blocks(loctocat.prompt.__doc__)
    assert plain == plain_output()

    # On a terminal with someone at the keyboard (a pipe stands in for it) and a browser.
    read_fd, write_fd = os.pipe()
    monkeypatch.setattr(loctocat.prompt, "_interactive_stdin", lambda: read_fd)
    monkeypatch.setattr(loctocat.prompt, "_browser_available", lambda: True)
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system="truecolor", width=80)
    prompt = prompt_from_options(console=console)
    try:
        prompt.show_code(auth_info())
    finally:
        prompt.close()
        os.close(read_fd)
        os.close(write_fd)
    # The spinner's line is one frame of it; the other lines are as printed.
    assert terminal[:2] == SGR.sub("", out.getvalue()).splitlines()
    assert terminal[2:] == [f"⠋ {plain[2]}", plain[3]]


def test_index_page_sample() -> None:
    page = INDEX.read_text(encoding="utf-8")
    [sample] = re.findall(r"^```text\n(.*?)^```$", page, flags=re.MULTILINE | re.DOTALL)
    assert sample.splitlines() == plain_output()
