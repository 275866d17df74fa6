"""Session-wide real servers; the code lives in tests/servers.py (see there for why)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from servers import dispose, start_postgres, start_redis

from labcluster.runtimes import PostgresServer, RedisServer


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """Real PostgreSQL (user ecomuser, db ecomdb). Stop/start it with `tests.servers.down`."""
    server = start_postgres()
    yield server
    dispose(server)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """Real Redis. Stop/start it with `tests.servers.down`."""
    server = start_redis()
    yield server
    dispose(server)
