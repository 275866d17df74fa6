"""network.Network starts the C kube-proxy by default (LABCLUSTER_KUBEPROXY=auto), the
Python one when asked, restarts whichever dies, and writes the C proxy's text table with
the NodePort entries the shims' table leaves out."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest
from node_helpers import address_server

from labcluster.api import ClusterApi
from labcluster.node import proxyc
from labcluster.node.dns import HostsTable
from labcluster.node.loopback import IPAllocator
from labcluster.node.network import KUBEPROXY_ENV, Network, text_table
from labcluster.store import Store


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ClusterApi]:
    store = Store(tmp_path / "store.sqlite")
    a = ClusterApi(store, history=50)
    await a.bootstrap()
    yield a
    store.close()


def _service(api: ClusterApi, cluster_ip: str, endpoint: tuple[str, int],
             node_port: int) -> None:
    api.store.put("/services", "default", "web", {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"type": "NodePort", "clusterIP": cluster_ip,
                 "ports": [{"port": 18080, "targetPort": endpoint[1], "nodePort": node_port}]}})
    api.store.put("/endpoints", "default", "web", {
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "web", "namespace": "default"},
        "subsets": [{"addresses": [{"ip": endpoint[0]}], "ports": [{"port": endpoint[1]}]}]})


def _answer(addr: tuple[str, int]) -> str:
    deadline = time.monotonic() + 15
    while True:
        try:
            with socket.create_connection(addr, timeout=2) as s:
                answer = s.recv(64).decode()
                if answer:
                    return answer
        except OSError:
            pass
        assert time.monotonic() < deadline, f"nothing answers on {addr}"
        time.sleep(0.05)


@pytest.mark.parametrize("mode", ["", "python"])
async def test_network_runs_restarts_and_feeds_the_kube_proxy(
        api: ClusterApi, tmp_path: Path, allocator: IPAllocator, mode: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    if mode:
        monkeypatch.setenv(KUBEPROXY_ENV, mode)
    else:
        monkeypatch.delenv(KUBEPROXY_ENV, raising=False)
    expected = mode or ("c" if proxyc.build() is not None else "python")
    srv = address_server(allocator.allocate())
    cluster_ip = allocator.allocate()
    _service(api, cluster_ip, srv.getsockname(), 30000 + os.getpid() % 2700)
    hosts = HostsTable(tmp_path / "hosts")
    hosts.write({})
    network = Network(api, hosts, tmp_path / "proxy.json")
    try:
        await network.sync()
        assert network.proxy_impl == expected
        lines = text_table(tmp_path / "proxy.json").read_text().splitlines()
        target = f"{srv.getsockname()[0]}:{srv.getsockname()[1]}"
        assert f"{cluster_ip} 18080 {target}" in lines
        assert f"127.0.0.1 {30000 + os.getpid() % 2700} {target}" in lines  # NodePort too
        assert _answer((cluster_ip, 18080)) == srv.getsockname()[0]
        assert network.proxy is not None
        first = network.proxy.pid
        assert str(tmp_path / "proxy.json") in psutil.Process(first).cmdline()
        network.proxy.kill()
        network.proxy.wait(5)
        await network.sync()  # any event: the dead proxy is noticed and started again
        assert network.proxy.pid != first and network.proxy_impl == expected
        assert _answer((cluster_ip, 18080)) == srv.getsockname()[0]
    finally:
        await network.close()
        srv.close()
    assert network.proxy is None
