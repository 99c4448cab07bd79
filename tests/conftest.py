"""Shared fixtures: async tests run under both asyncio and trio; a real redis-server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis_support import RedisServer


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the session (per test worker); tests keep apart by key prefix
    (`redis_support.unique_prefix()`). Tests that stop it start a `RedisServer` of their own."""
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server
