"""Pod → Service connections without a proxy: the shim rewrites connect() to a ClusterIP
into a connect to a ready endpoint (kube-proxy's iptables DNAT), in both shims."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from node_helpers import address_server

from labcluster.node import netshim
from labcluster.node.dns import HostsTable
from labcluster.node.kubeproxy import write_services
from labcluster.node.loopback import IPAllocator

CLIENT = """
import json, socket, sys
out = []
for target in json.loads(sys.argv[1]):
    s = socket.socket()
    s.settimeout(5)
    try:
        s.connect(tuple(target))
        out.append(s.recv(64).decode())
    except ConnectionRefusedError:
        out.append("refused")
    finally:
        s.close()
print(json.dumps(out))
"""


@pytest.fixture
def endpoints(allocator: IPAllocator) -> Iterator[list[tuple[str, int]]]:
    """Two endpoint servers that answer with their own address."""
    servers = [address_server(allocator.allocate()) for _ in range(2)]
    yield [srv.getsockname() for srv in servers]
    for srv in servers:
        srv.close()


@pytest.mark.parametrize("mode", ["c", "python"])
def test_cluster_ip_connects_go_to_endpoints(mode: str, endpoints: list[tuple[str, int]],
                                             hosts: HostsTable, allocator: IPAllocator
                                             ) -> None:
    if mode == "c" and netshim.compiler() is None:
        pytest.skip("no C compiler: labnet.so cannot be built (the python mode is tested)")
    services = hosts.path.with_name("services")
    cluster_ip, empty_ip = "127.1.250.7", "127.1.250.8"
    write_services(services, {(cluster_ip, 80): endpoints, (empty_ip, 80): [],
                              ("127.0.0.1", 30080): endpoints})
    env = netshim.shim_env(allocator.allocate(), hosts.path, [], "client", mode=mode,
                           base_env={"PATH": "/usr/bin:/bin"})
    assert env["LABCLUSTER_SERVICES"] == str(services)
    if mode == "python":
        root = str(Path(__file__).resolve().parents[3])
        env["PYTHONPATH"] = f"{env['PYTHONPATH']}:{root}"
    targets = [[cluster_ip, 80]] * 4 + [[empty_ip, 80]]
    out = subprocess.run([sys.executable, "-c", CLIENT, json.dumps(targets)], env=env,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    answers = json.loads(out.stdout)
    ips = {ip for ip, _ in endpoints}
    assert set(answers[:4]) == ips  # round robin over both endpoints, no proxy in between
    assert answers[4] == "refused"  # a Service without endpoints: connection refused


@pytest.mark.parametrize("mode", ["c", "python"])
def test_one_connection_processes_spread_over_endpoints(mode: str,
                                                        endpoints: list[tuple[str, int]],
                                                        hosts: HostsTable,
                                                        allocator: IPAllocator) -> None:
    """A shell loop of curls: each process connects once. The shim's starting endpoint must
    be random, not derived from the pid — a loop whose pids step by two (`curl; echo` in a
    subshell) once sent every request to the same pod (notebook 5 under CI)."""
    if mode == "c" and netshim.compiler() is None:
        pytest.skip("no C compiler: labnet.so cannot be built (the python mode is tested)")
    services = hosts.path.with_name("services")
    cluster_ip = "127.1.250.9"
    write_services(services, {(cluster_ip, 80): endpoints})
    env = netshim.shim_env(allocator.allocate(), hosts.path, [], "client", mode=mode,
                           base_env={"PATH": "/usr/bin:/bin"})
    if mode == "python":
        root = str(Path(__file__).resolve().parents[3])
        env["PYTHONPATH"] = f"{env['PYTHONPATH']}:{root}"
    answers = []
    for _ in range(16):
        subprocess.run(["true"], check=True)  # every client's pid two after the last one
        out = subprocess.run([sys.executable, "-c", CLIENT, json.dumps([[cluster_ip, 80]])],
                             env=env, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        answers += json.loads(out.stdout)
    assert set(answers) == {ip for ip, _ in endpoints}, f"every connection went to {set(answers)}"
