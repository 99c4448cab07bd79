"""Fixtures for the fault-injection suite, and the count of scenarios it ran."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from misbehaving_server import MisbehavingServer

#: One entry per fault scenario whose outcome was asserted (appended at the end of a test).
SCENARIOS_RUN: list[str] = []


@pytest.fixture
def record_scenario() -> Callable[[str], None]:
    return SCENARIOS_RUN.append


@pytest.fixture
def server() -> Iterator[MisbehavingServer]:
    with MisbehavingServer() as misbehaving:
        yield misbehaving


@pytest.fixture
def elsewhere() -> Iterator[MisbehavingServer]:
    """Another host (port): redirects point here, and it must never hear from loctocat."""
    with MisbehavingServer() as other:
        yield other
    assert other.requests == [], "a request went to a host that was never configured"
    assert other.connections_opened == 0


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SCENARIOS_RUN:
        terminalreporter.write_line(
            f"fault scenarios asserted: {len(SCENARIOS_RUN)} "
            f"({len(set(SCENARIOS_RUN))} distinct scenario x endpoint x driver)"
        )
