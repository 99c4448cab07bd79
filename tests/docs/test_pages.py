"""The Providers page covers every provider of `catalogue()`, with what the catalogue says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from loctocat.predefined import catalogue

PAGE = Path(__file__).resolve().parents[2] / "docs" / "providers.md"


def _sections() -> dict[str, str]:
    parts = re.split(r"^## (.+)$", PAGE.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


@pytest.mark.parametrize("entry", catalogue(), ids=lambda entry: entry["name"])
def test_provider_section(entry: dict[str, Any]) -> None:
    section = _sections().get(entry["title"])
    assert section is not None, f"docs/providers.md has no '## {entry['title']}' section"
    assert entry["docs_url"] in section
    assert f"`{entry['authenticator_class']}`" in section
    assert f'get_provider("{entry["name"]}")' in section
    for name in [*entry["required_parameters"], *entry["optional_parameters"]]:
        assert f"`{name}`" in section, name
    secret = re.search(r"^\| Client secret \| (.+) \|$", section, flags=re.MULTILINE)
    assert secret is not None
    assert secret[1].startswith(
        {"none": "not used", "optional": "optional", "required": "required"}[entry["client_secret"]]
    )
    assert f"| Refresh tokens | {entry['refresh']} |" in section
    # Every fact has its source on the page, and the facts without one are named.
    assert entry["verified"], "a provider with no source"
    for source in entry["verified"]:
        assert source["source"] in section, source["source"]
    for fact in entry["unverified"]:
        assert fact in section, fact
    if entry["who_am_i"] is not None:
        assert f"`GET {entry['who_am_i']['url']}`" in section
    if entry["git"] is not None:
        assert f"`loctocat setup-git {entry['name']}`" in section
        assert f"username `{entry['git']['username']}`" in section
    else:
        assert "setup-git" not in section
    assert f"from loctocat.predefined import {entry['authenticator_class']}" in section


def test_no_unknown_provider_sections() -> None:
    titles = {entry["title"] for entry in catalogue()}
    assert set(_sections()) - titles == {"Using a provider"}
