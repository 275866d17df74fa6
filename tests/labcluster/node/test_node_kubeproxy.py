"""The kube-proxy process on its own: round robin, failover past a dead endpoint, close
when there is none, and a table change applied to the next connection."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from node_helpers import address_server

from labcluster.node.kubeproxy import write_table
from labcluster.node.loopback import IPAllocator


def _ask(addr: tuple[str, int]) -> str:
    with socket.create_connection(addr, timeout=5) as s:
        return s.recv(64).decode()


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Path]:
    table = tmp_path / "proxy.json"
    write_table(table, {})
    p = subprocess.Popen([sys.executable, "-m", "labcluster.node.kubeproxy", str(table)])
    yield table
    p.terminate()
    p.wait(10)


def _listening(addr: tuple[str, int]) -> bool:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(addr, timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def test_proxy_spreads_fails_over_and_follows_the_table(proxy: Path,
                                                        allocator: IPAllocator) -> None:
    servers = [address_server(allocator.allocate()) for _ in range(2)]
    eps = [srv.getsockname() for srv in servers]
    dead = (allocator.allocate(), 9)  # nothing listens there
    svc, empty = (allocator.allocate(), 18080), (allocator.allocate(), 18080)
    write_table(proxy, {svc: [dead, *eps], empty: []})
    assert _listening(svc) and _listening(empty)
    answers = {_ask(svc) for _ in range(6)}
    assert answers == {eps[0][0], eps[1][0]}  # both, never the dead one
    with socket.create_connection(empty, timeout=5) as s:
        assert s.recv(64) == b""  # no endpoint: closed at once
    write_table(proxy, {svc: [eps[1]], empty: []})
    time.sleep(0.05)
    assert {_ask(svc) for _ in range(4)} == {eps[1][0]}
    for srv in servers:
        srv.close()
