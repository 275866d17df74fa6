"""Shared fixtures: one node directory, one hosts table and one pod subnet per session.

Other engineers run tests at the same time on this machine, so the pod subnet is random
(127.<100-250>.<random>.0/24 ranges are spread over a /16 we pick here) and every
process we start is stopped and checked gone by the fixture that started it.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from labcluster.node.dns import HostsTable, search_list
from labcluster.node.images import NodeConfig, resolve
from labcluster.node.launch import ContainerLaunch
from labcluster.node.loopback import IPAllocator
from labcluster.node.supervisor import ContainerProcess, processes_with_marker

NAMESPACE = "ecommerce-lab"


@pytest.fixture(scope="session")
def node_dir() -> Iterator[Path]:
    # Not under pytest's tmp dir: that is mode 0700, and PostgreSQL runs as another user
    # (we are root) that must traverse every parent of its data dir.
    path = Path(tempfile.mkdtemp(prefix="labnode-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def allocator() -> IPAllocator:
    return IPAllocator(f"127.{random.randint(100, 250)}.{random.randint(0, 255)}.0/24")


@pytest.fixture(scope="session")
def hosts(node_dir: Path) -> HostsTable:
    table = HostsTable(node_dir / "hosts")
    table.write({})
    return table


@pytest.fixture(scope="session")
def node(hosts: HostsTable) -> NodeConfig:
    return NodeConfig(hosts_file=hosts.path)


@pytest.fixture
def make_launch(node_dir: Path, allocator: IPAllocator) -> Callable[..., ContainerLaunch]:
    def make(image: str, name: str = "pod", **fields) -> ContainerLaunch:
        uid = uuid.uuid4().hex[:12]
        run_dir = node_dir / "pods" / f"{name}-{uid}"
        run_dir.mkdir(parents=True)
        run_dir.chmod(0o755)
        defaults = dict(
            pod_uid=uid, pod_name=name, namespace=NAMESPACE, container_name="main",
            image=image, pod_ip=fields.pop("pod_ip", None) or allocator.allocate(),
            run_dir=run_dir, dns_search=search_list(NAMESPACE),
        )
        defaults.update(fields)
        return ContainerLaunch(**defaults)

    return make


@pytest.fixture
def run_container(node: NodeConfig) -> Iterator[Callable[..., ContainerProcess]]:
    """Start containers through the real image catalog; stop them and check for orphans."""
    started: list[ContainerProcess] = []

    def run(launch: ContainerLaunch, **options) -> ContainerProcess:
        spec = resolve(launch.image, node).prepare(launch)
        proc = ContainerProcess(spec, launch.run_dir / "logs", **options)
        proc.start()
        started.append(proc)
        return proc

    yield run
    for proc in started:
        proc.stop(grace=5)
    for proc in started:
        assert processes_with_marker(proc.marker) == [], "a container left processes behind"
