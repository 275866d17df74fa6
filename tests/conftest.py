"""Session-wide real servers; the code lives in tests/servers.py (see there for why).
Also marks the integration tests `cluster` (`pytest -m cluster`, docs/real-clusters.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import dispose, start_postgres, start_redis
from tools import MARK, require_tool

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


#: Folders whose tests run against a cluster: labcluster by default, or the one in
#: LAB_TEST_KUBECONFIG (labhelpers' fixtures) / LABCLUSTER_TEST_KUBECONFIG (tests/labcluster).
CLUSTER_TEST_DIRS = ("labhelpers", "labcluster", "breakfix", "notebooks", "loadtest")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in CLUSTER_TEST_DIRS gets the `cluster` marker (the whole folder: its
    unit tests are seconds, and a folder rule cannot miss a new cluster fixture)."""
    here = Path(__file__).parent
    for item in items:
        try:
            folder = Path(item.path).relative_to(here).parts[0]
        except ValueError:
            continue
        if folder in CLUSTER_TEST_DIRS:
            item.add_marker(pytest.mark.cluster)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """`needs_tool` marks (tests/tools.py): a missing tool fails the test on CI or as root,
    and skips it with the install hint elsewhere."""
    for mark in item.iter_markers(MARK):
        require_tool(mark.kwargs["name"], mark.kwargs["found"], mark.kwargs["install"])
