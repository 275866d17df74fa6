"""Cluster DNS latency: a query to the node's DNS server (dnsserver.py, its own event
loop here) straight to its address, and from a process with the C shim through a
ClusterIP (UDP DNAT + reverse NAT), next to a pod's getaddrinfo of a Service name
(the hosts table, no round trip). Sequential queries, median and p99 per path.

Why: pods' resolvers (nslookup, dig, dnslib/dnspython clients) take the wire; the
shims' getaddrinfo does not, and this says what that saves.

Run: .venv/bin/python bench/labcluster_dns_bench.py [--queries 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from labcluster.node import netshim
from labcluster.node.dns import HostsTable, search_list
from labcluster.node.dnsserver import DnsServer, Zone
from labcluster.node.kubeproxy import write_services
from labcluster.node.loopback import IPAllocator

CLIENT = r"""
import json, socket, statistics, sys, time
from dnslib import DNSRecord
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
q = DNSRecord.question("backend.shop.svc.cluster.local").pack()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
wire = []
for _ in range(n):
    t = time.perf_counter(); s.sendto(q, (host, port)); s.recvfrom(4096)
    wire.append(time.perf_counter() - t)
gai = []
try:
    for _ in range(n):
        t = time.perf_counter()
        socket.getaddrinfo("backend", 80, socket.AF_INET, socket.SOCK_STREAM)
        gai.append(time.perf_counter() - t)
except socket.gaierror:  # no shim: the machine's resolver knows no cluster names
    gai = []
def stats(xs):
    xs = sorted(xs)
    if not xs:
        return "-"
    return [round(statistics.median(xs) * 1e6), round(xs[int(len(xs) * 0.99)] * 1e6)]
print(json.dumps({"wire": stats(wire), "getaddrinfo": stats(gai)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=2000)
    opts = parser.parse_args()
    ips = IPAllocator("127.203.0.0/24")
    server_ip, pod_ip, cluster_ip = ips.allocate(), ips.allocate(), "127.1.250.10"
    zone = Zone(a={"backend.shop.svc.cluster.local": ("127.1.77.5",)})
    loop = asyncio.new_event_loop()
    server = DnsServer(server_ip, 10053, zone=zone)
    loop.run_until_complete(server.start())
    threading.Thread(target=loop.run_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as tmp:
        hosts = HostsTable(Path(tmp) / "hosts")
        hosts.write({name: list(a) for name, a in zone.a.items()})
        write_services(hosts.path.with_name("services-udp"),
                       {(cluster_ip, 53): [(server_ip, 10053)]})
        env = netshim.shim_env(pod_ip, hosts.path, search_list("shop"), "bench", mode="c",
                               base_env={"PATH": os.environ["PATH"]})
        env.pop("LABCLUSTER_PORT_REMAP", None)
        root = str(Path(__file__).resolve().parents[1])
        runs = {
            "server address, no shim": ([server_ip, "10053"], {"PYTHONPATH": root,
                                                               "PATH": os.environ["PATH"]}),
            "ClusterIP through the C shim": ([cluster_ip, "53"], {**env, "PYTHONPATH": root}),
        }
        for what, (args, run_env) in runs.items():
            out = subprocess.run([sys.executable, "-c", CLIENT, *args, str(opts.queries)],
                                 env=run_env, capture_output=True, text=True, check=True)
            got = json.loads(out.stdout)
            print(f"{what:32s} query median/p99 µs: {got['wire']}   "
                  f"getaddrinfo('backend') median/p99 µs: {got['getaddrinfo']}")
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
