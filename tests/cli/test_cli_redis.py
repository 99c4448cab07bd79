"""`--store redis://...`: the command line keeps its logins in Redis, run as a user would (see
test_cli_commands), against a real redis-server of the test's own (tests/redis_support.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis_support import RedisServer
from test_cli_commands import (  # the CLI suite's own helpers and fixtures
    approving,
    env,
    manual,
    one_error_line,
    run,
    server,
)

from loctocat.cli import EXIT_OK, EXIT_USAGE
from loctocat.cli._select import choose_store, describe_store
from loctocat.store import RedisTokenStore
from loctocat.testing import FakeAuthorizationServer

__all__ = ["env", "server"]  # fixtures, imported for pytest

PASSWORD = "cli-s3cret"


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A Redis of this test's own (the CLI uses the default key prefix), with a password."""
    with RedisServer(tmp_path / "redis", password=PASSWORD) as redis_server:
        yield redis_server.url


def test_login_status_token_and_logout_keep_the_login_in_redis(
    server: FakeAuthorizationServer, env: dict[str, str], redis_url: str
) -> None:
    shown = redis_url.replace(PASSWORD, "***")
    with approving(server):
        login = run(env, "login", *manual(server, redis_url, "--scope", "read"))
    assert login.returncode == EXIT_OK, login.stderr
    said = " ".join(login.stderr.split())
    assert f"stored in Redis at {shown} (prefix 'loctocat:')." in said
    listed = run(env, "status", "--store", redis_url, "--json")
    assert listed.returncode == EXIT_OK, listed.stderr
    [entry] = json.loads(listed.stdout)
    assert entry["server"] == server.token_url
    assert entry["scopes"] == ["read"]
    assert entry["store"] == f"Redis at {shown} (prefix 'loctocat:')"
    assert PASSWORD not in listed.stdout + listed.stderr
    token = run(env, "token", *manual(server, redis_url, "--scope", "read"))
    assert token.stdout == server.issued_tokens[0].access_token + "\n"
    logout = run(env, "logout", *manual(server, redis_url, "--scope", "read"))
    assert logout.returncode == EXIT_OK, logout.stderr
    empty = run(env, "status", "--store", redis_url)
    assert "No stored logins in Redis at" in empty.stderr


def test_an_unreachable_redis_is_one_line_naming_it_without_its_password(
    env: dict[str, str],
) -> None:
    done = run(env, "status", "--store", f"redis://:{PASSWORD}@127.0.0.1:1/0")
    assert done.returncode != EXIT_OK
    line = one_error_line(done.stderr)
    assert "Redis at redis://:***@127.0.0.1:1/0" in line
    assert "check that Redis is running" in line
    assert PASSWORD not in done.stderr


def test_without_redis_py_the_store_names_the_extra(env: dict[str, str], tmp_path: Path) -> None:
    hidden = tmp_path / "no-redis"
    hidden.mkdir()
    (hidden / "redis.py").write_text("raise ImportError('redis-py is not installed here')\n")
    environ = {**env, "PYTHONPATH": f"{hidden}:{env.get('PYTHONPATH', '')}"}
    done = run(environ, "status", "--store", "redis://127.0.0.1:6379/0")
    assert done.returncode == EXIT_USAGE
    assert "pip install 'loctocat[redis]'" in one_error_line(done.stderr)


@pytest.mark.parametrize("url", ["redis://10.0.0.1:6380/2", "rediss://cache.example:6390/0"])
def test_redis_urls_choose_a_redis_store(url: str) -> None:
    chosen = choose_store(url)
    assert isinstance(chosen, RedisTokenStore)
    assert chosen.url == url
    assert describe_store(chosen) == f"Redis at {url} (prefix 'loctocat:')"


def test_a_redis_url_redis_py_refuses_is_a_usage_error(env: dict[str, str]) -> None:
    done = run(env, "status", "--store", "redis://127.0.0.1:99999/0")
    assert done.returncode == EXIT_USAGE
    assert "--store: the Redis URL redis://127.0.0.1:99999/0 is not usable" in done.stderr
