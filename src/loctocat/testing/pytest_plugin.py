"""pytest fixtures for testing device flow clients against `FakeAuthorizationServer`.

Loaded automatically through the `pytest11` entry point once loctocat is installed:

Both announce `interval=0` unless the marker says otherwise, so that a client configured with a
small `min_interval` (0.01 is plenty against them) polls at once.

- `fake_auth_server`: a fresh server for in-memory use,
  `httpx.Client(transport=fake_auth_server.transport())`.
- `fake_auth_server_http`: a fresh server already serving HTTP on 127.0.0.1, stopped after the
  test; use its `device_authorization_url` and `token_url` with any HTTP client.

Configure either one with the `fake_auth_server` marker, whose keyword arguments go to the
constructor::

    @pytest.mark.fake_auth_server(client_id="my-app", interval=None)
    def test_login(fake_auth_server): ...

When the test ends, the fixture fails it if something planned (`plan`, `plan_device`) was never
served: a test that planned "approve" and never polled tested nothing. Pass
`assert_all_used=False` to the marker to allow that. `imitating="github"` (and the provider's
parameters) stands the server in for a service: see `FakeAuthorizationServer.imitating`.

Before each test, `loctocat.testing.forget_servers()` runs: loctocat's per-process memory of
discovery documents and ID token keys would otherwise carry one test's fake server into the next.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from loctocat.testing import FakeAuthorizationServer, forget_servers

__all__ = ["fake_auth_server", "fake_auth_server_http"]

_MARKER = "fake_auth_server"


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker, so it works under `--strict-markers`."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(**kwargs): FakeAuthorizationServer arguments for the fake_auth_server "
        "and fake_auth_server_http fixtures",
    )


def _build(request: pytest.FixtureRequest) -> tuple[FakeAuthorizationServer, bool]:
    """The server the markers describe, and whether to check that its plans were used."""
    kwargs: dict[str, Any] = {}
    # Closest last, so a marker on the test overrides one on its class or module.
    for marker in reversed(list(request.node.iter_markers(_MARKER))):
        if marker.args:
            raise TypeError(f"@pytest.mark.{_MARKER} takes keyword arguments only")
        kwargs.update(marker.kwargs)
    check = bool(kwargs.pop("assert_all_used", True))
    # Fast by default: polls are answered at once, so a client with a small min_interval
    # (0.01 is plenty here) waits for nothing. A marker's own interval wins.
    kwargs.setdefault("interval", 0)
    service = kwargs.pop("imitating", None)
    if service is not None:
        return FakeAuthorizationServer.imitating(service, **kwargs), check
    return FakeAuthorizationServer(**kwargs), check


@pytest.fixture(autouse=True)
def _loctocat_forget_servers() -> None:
    """Each test starts with no metadata or keys read from a server earlier in the process."""
    forget_servers()


@pytest.fixture
def fake_auth_server(request: pytest.FixtureRequest) -> Iterator[FakeAuthorizationServer]:
    """A fresh fake authorization server, used in memory through `.transport()`."""
    server, check = _build(request)
    yield server
    if check:
        server.assert_all_used()


@pytest.fixture
def fake_auth_server_http(request: pytest.FixtureRequest) -> Iterator[FakeAuthorizationServer]:
    """A fresh fake authorization server serving HTTP on 127.0.0.1 for the test's duration."""
    server, check = _build(request)
    with server.serve_http():
        yield server
    if check:
        server.assert_all_used()
