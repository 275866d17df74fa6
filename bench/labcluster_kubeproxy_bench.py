"""kube-proxy alone: CPU per proxied new connection, and sequential new-connection
requests through it vs straight to the endpoint, in the same run.

Why alone: the lab bench (labcluster_node_bench.py --lab) measures the whole path with
a Python load generator and a Python server on the same 2 cores, where other test runs
add ±0.3 of noise; the proxy's own CPU per connection moves far less with that load.

Run: .venv/bin/python bench/labcluster_kubeproxy_bench.py [--connections 2000] [--rounds 3]
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

import psutil

from labcluster.node.kubeproxy import write_table

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


def endpoint(ip: str) -> tuple[str, int]:
    """A minimal HTTP endpoint: one short response per connection."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((ip, 0))
    srv.listen(1024)

    def serve() -> None:
        while True:
            conn, _ = srv.accept()
            conn.recv(1024)
            conn.sendall(RESPONSE)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()


def requests(addr: tuple[str, int], n: int) -> float:
    """Seconds for `n` sequential requests, a new connection each."""
    start = time.perf_counter()
    for _ in range(n):
        with socket.create_connection(addr, timeout=10) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            while s.recv(4096):
                pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    opts = parser.parse_args()
    target = endpoint("127.77.0.2")
    service = ("127.77.0.9", 18080)
    with tempfile.TemporaryDirectory(prefix="kubeproxy-bench-") as tmp:
        table = Path(tmp) / "proxy.json"
        write_table(table, {service: [target]})
        proxy = subprocess.Popen([sys.executable, "-m", "labcluster.node.kubeproxy", str(table)])
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(service, timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            requests(service, 200)  # warm up
            cpu_us, ratios, via_us, direct_us = [], [], [], []
            for _ in range(opts.rounds):
                before = psutil.Process(proxy.pid).cpu_times()
                via = requests(service, opts.connections)
                after = psutil.Process(proxy.pid).cpu_times()
                direct = requests(target, opts.connections)
                used = after.user + after.system - before.user - before.system
                cpu_us.append(used / opts.connections * 1e6)
                ratios.append(direct / via)
                via_us.append(via / opts.connections * 1e6)
                direct_us.append(direct / opts.connections * 1e6)
        finally:
            proxy.terminate()
            proxy.wait(10)
    print(f"kube-proxy CPU per new connection (us, median of {opts.rounds})  "
          f"{statistics.median(cpu_us):8.0f}")
    print(f"one request, new connection, via kube-proxy / direct (us)      "
          f"{statistics.median(via_us):8.0f} / {statistics.median(direct_us):.0f}")
    print(f"ratio proxied/direct requests per second, new connection each  "
          f"{statistics.median(ratios):8.2f}  (one client, a trivial endpoint: the "
          "proxy's whole cost shows)")


if __name__ == "__main__":
    main()
