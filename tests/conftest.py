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


#: Modules that take minutes each (whole-course runs, fresh clones, a browser): each is
#: its own group under pytest-xdist, and the groups start longest first, so the two
#: workers finish together instead of one waiting on a course run that started last.
LONG_GROUPS = (
    "notebooks/test_installed_package.py",
    "newcomer",
    "notebooks/test_course_runs.py",
    "classroom",  # the course inside a learner's pod: minutes
    "labcluster/node",
    "labhelpers",
    "jupyter",
    "notebooks/test_gitpull.py",
)


def xdist_group(relative: Path) -> str:
    """The group a test file runs in: its first folder (tests there share session fixtures,
    a cluster each, so a folder stays on one worker), except the LONG_GROUPS."""
    text = relative.as_posix()
    for group in LONG_GROUPS:
        if text == group or text.startswith(group + "/"):
            return group
    return relative.parts[0]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in CLUSTER_TEST_DIRS gets the `cluster` marker (the whole folder: its
    unit tests are seconds, and a folder rule cannot miss a new cluster fixture), and the
    LONG_GROUPS go first, in that order; the rest keep their order."""
    here = Path(__file__).parent
    rank: dict[int, int] = {}
    for item in items:
        try:
            relative = Path(item.path).relative_to(here)
        except ValueError:
            continue
        if relative.parts[0] in CLUSTER_TEST_DIRS:
            item.add_marker(pytest.mark.cluster)
        group = xdist_group(relative)
        rank[id(item)] = LONG_GROUPS.index(group) if group in LONG_GROUPS else len(LONG_GROUPS)
    items.sort(key=lambda item: rank.get(id(item), len(LONG_GROUPS)))  # stable: order kept


def group_of_nodeid(nodeid: str) -> str:
    """xdist_group() of a node id (``tests/<folder>/test_x.py::test_y[...]``)."""
    path = Path(nodeid.split("::", 1)[0])
    return xdist_group(path.relative_to("tests") if path.parts[:1] == ("tests",) else path)


def pytest_xdist_make_scheduler(config: pytest.Config, log):  # noqa: ANN201 (xdist's type)
    """Under pytest-xdist (scripts/test: ``-n 3`` on 2 cores), hand out whole groups
    (xdist_group): xdist's own ``--dist loadgroup`` reads ``xdist_group`` marks through a
    node-id rewrite that pytest 9.2 no longer honours, so each test went to any worker (a
    folder's session cluster started twice, module fixtures built twice at once)."""
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of_nodeid(nodeid)

    return GroupScheduling(config, log)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """`needs_tool` marks (tests/tools.py): a missing tool fails the test on CI or as root,
    and skips it with the install hint elsewhere."""
    for mark in item.iter_markers(MARK):
        require_tool(mark.kwargs["name"], mark.kwargs["found"], mark.kwargs["install"])
