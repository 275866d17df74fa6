"""What NetworkPolicy enforcement costs a pod's connect(): the C shim (labnet.so) deciding
each connection against the node's table, vs the same shim with no table.

A client process under the shim opens N sequential TCP connections to an allowed endpoint
(a trivial server that accepts and closes), with: no table; the lab's production policies
(7 pods: ~20 lines); a large table (200 isolated pods, 4,000 rules). Prints connections per
second and the ratio to "no table" (1.0 = free). Also prints the node's compile time for
the large case.

Run: .venv/bin/python bench/labcluster_netpol_bench.py [--connections 5000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from labcluster.node import netshim
from labcluster.node.netpol import DropSink, PolicyTable, Rule, compile_policies

CLIENT = """
import socket, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t = time.perf_counter()
for _ in range(n):
    s = socket.socket()
    s.connect((host, port))
    s.close()
print(n / (time.perf_counter() - t))
"""


def server(ip: str) -> tuple[socket.socket, int]:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((ip, 0))
    srv.listen(512)

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv, srv.getsockname()[1]


def tables(client_ip: str, server_ip: str, port: int, sink: DropSink) -> dict[str, PolicyTable | None]:
    small = PolicyTable(isolated={client_ip: "E", server_ip: "I"}, rules=[
        Rule("out", client_ip, "TCP", port, port, f"{server_ip}/32"),
        Rule("in", server_ip, "TCP", port, port, f"{client_ip}/32")])
    small.rules += [Rule("in", f"127.210.0.{i}", "TCP", 5432, 5432, f"127.210.0.{i + 1}/32")
                    for i in range(2, 20)]
    pods = [{"metadata": {"name": f"p{i}", "namespace": "ns", "labels": {"app": f"a{i % 10}"}},
             "spec": {"containers": [{"name": "c", "ports": []}]},
             "status": {"podIP": f"127.211.{i // 250}.{i % 250 + 2}", "phase": "Running"}}
            for i in range(200)]
    policies = [{"metadata": {"name": f"np{k}", "namespace": "ns"},
                 "spec": {"podSelector": {"matchLabels": {"app": f"a{k}"}},
                          "policyTypes": ["Ingress"],
                          "ingress": [{"from": [{"podSelector": {"matchLabels": {
                              "app": f"a{(k + 1) % 10}"}}}], "ports": [{"port": 8080}]}]}}
                for k in range(10)]
    t = time.perf_counter()
    large = compile_policies(policies, pods, [{"metadata": {"name": "ns"}}])
    print(f"compile: 10 policies x 200 pods -> {len(large.rules)} rules in "
          f"{(time.perf_counter() - t) * 1000:.1f} ms")
    large.isolated.update(small.isolated)
    large.rules += small.rules
    for table in (small, large):
        table.drop_tcp, table.drop_udp = sink.tcp_address, sink.udp_address
    return {"no table": None, "production-sized": small, "4,000 rules": large}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if netshim.build() is None:
        sys.exit("no C compiler: labnet.so cannot be built")
    client_ip, server_ip = "127.210.1.2", "127.210.1.3"
    srv, port = server(server_ip)
    sink = DropSink()
    with tempfile.TemporaryDirectory() as tmp:
        hosts = Path(tmp) / "hosts"
        hosts.write_text("")
        path = Path(tmp) / "netpol"
        results: dict[str, list[float]] = {}
        cases = tables(client_ip, server_ip, port, sink)
        for _ in range(args.rounds):
            for name, table in cases.items():
                path.unlink(missing_ok=True)
                if table is not None:
                    table.write(path)
                env = netshim.shim_env(client_ip, hosts, [], "bench", mode="c",
                                       base_env={"PATH": "/usr/bin:/bin"})
                out = subprocess.run([sys.executable, "-c", CLIENT, server_ip, str(port),
                                      str(args.connections)], env=env, capture_output=True,
                                     text=True, check=True)
                results.setdefault(name, []).append(float(out.stdout))
    srv.close()
    sink.close()
    base = statistics.median(results["no table"])
    for name, values in results.items():
        med = statistics.median(values)
        print(f"{name:>18}: {med:8.0f} connections/s  ratio {med / base:.2f}  "
              f"(rounds: {', '.join(f'{v:.0f}' for v in values)})")


if __name__ == "__main__":
    main()
