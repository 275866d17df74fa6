"""kube-proxy alone, both implementations (C proxyc/labproxy.c and Python kubeproxy.py)
in the same run: sequential requests through each vs straight to the endpoint, a new
connection per request and one keep-alive connection, and the proxy's CPU per request.

Why alone: the lab bench (labcluster_node_bench.py --lab) measures the whole path with
a Python load generator and a Python server on the same 2 cores, where other test runs
add ±0.3 of noise; the proxy's own CPU per connection moves far less with that load.

Run: .venv/bin/python bench/labcluster_kubeproxy_bench.py [--connections 2000]
     [--requests 5000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from labcluster.node.kubeproxy import write_proxy_text, write_table
from labcluster.node.network import kubeproxy_command, text_table

Addr = tuple[str, int]
CLOSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
KEEP = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
IMPLS = ("c", "python")


def endpoint(ip: str, keep_alive: bool) -> Addr:
    """A minimal HTTP endpoint: one short response per connection, or per request."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((ip, 0))
    srv.listen(1024)

    def one(conn: socket.socket) -> None:
        with conn:
            while conn.recv(1024):
                conn.sendall(KEEP)

    def serve() -> None:
        while True:
            conn, _ = srv.accept()
            if keep_alive:
                threading.Thread(target=one, args=(conn,), daemon=True).start()
            else:
                conn.recv(1024)
                conn.sendall(CLOSE)
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()


def new_connections(addr: Addr, n: int) -> float:
    """Seconds for `n` sequential requests, a new connection each."""
    start = time.perf_counter()
    for _ in range(n):
        with socket.create_connection(addr, timeout=10) as s:
            s.sendall(REQUEST)
            while s.recv(4096):
                pass
    return time.perf_counter() - start


def keep_alive(addr: Addr, n: int) -> float:
    """Seconds for `n` sequential requests on one connection."""
    with socket.create_connection(addr, timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = time.perf_counter()
        for _ in range(n):
            s.sendall(REQUEST)
            got = 0
            while got < len(KEEP):
                got += len(s.recv(4096))
        return time.perf_counter() - start


def wait_listening(addr: Addr) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(addr, timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"kube-proxy does not listen on {addr[0]}:{addr[1]}")


def cpu(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def measure(run: Callable[[Addr, int], float], addr: Addr, n: int,
            pid: int) -> tuple[float, float]:
    """(µs per request, proxy CPU µs per request)."""
    before = cpu(pid)
    seconds = run(addr, n)
    return seconds / n * 1e6, (cpu(pid) - before) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=5000, help="keep-alive requests")
    parser.add_argument("--rounds", type=int, default=3)
    opts = parser.parse_args()
    close_ep, keep_ep = endpoint("127.77.0.2", False), endpoint("127.77.0.3", True)
    services = {impl: (f"127.77.0.{10 + i}", 18080) for i, impl in enumerate(IMPLS)}
    keep_port = 18081
    procs: dict[str, subprocess.Popen[bytes]] = {}
    with tempfile.TemporaryDirectory(prefix="kubeproxy-bench-") as tmp:
        try:
            for impl in IMPLS:  # a table each: both run at once, on their own addresses
                table = Path(tmp) / impl / "proxy.json"
                table.parent.mkdir()
                ip, port = services[impl]
                entries = {(ip, port): [close_ep], (ip, keep_port): [keep_ep]}
                write_table(table, entries)
                write_proxy_text(text_table(table), entries)
                chosen, args, executable = kubeproxy_command(table, impl)
                assert chosen == impl
                procs[impl] = subprocess.Popen(args, executable=executable)
                wait_listening(services[impl])
                new_connections(services[impl], 200)  # warm up
                keep_alive((services[impl][0], keep_port), 500)
            rows: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
            for _ in range(opts.rounds):
                for kind, run, n, target in (
                        ("new connection", new_connections, opts.connections, close_ep),
                        ("keep-alive", keep_alive, opts.requests, keep_ep)):
                    direct_us = run(target, n) / n * 1e6
                    for impl in IMPLS:
                        addr = services[impl] if kind == "new connection" else \
                            (services[impl][0], keep_port)
                        via_us, cpu_us = measure(run, addr, n, procs[impl].pid)
                        rows.setdefault((kind, impl), []).append(
                            (direct_us / via_us, via_us, cpu_us))
                        rows.setdefault((kind, "direct"), []).append((1.0, direct_us, 0.0))
        finally:
            for p in procs.values():
                p.terminate()
                p.wait(10)
    print(f"medians of {opts.rounds} rounds; {opts.connections} new connections and "
          f"{opts.requests} keep-alive requests per round; one sequential client, a trivial "
          "endpoint: the proxy's whole cost shows")
    print(f"{'mode':16} {'proxy':8} {'ratio vs direct':>16} {'us/request':>11} "
          f"{'proxy CPU us/request':>21}")
    for kind in ("new connection", "keep-alive"):
        direct = statistics.median(r[1] for r in rows[(kind, "direct")])
        print(f"{kind:16} {'direct':8} {1.0:16.2f} {direct:11.0f} {'':>21}")
        for impl in IMPLS:
            got = rows[(kind, impl)]
            print(f"{kind:16} {impl:8} {statistics.median(r[0] for r in got):16.2f} "
                  f"{statistics.median(r[1] for r in got):11.0f} "
                  f"{statistics.median(r[2] for r in got):21.1f}")


if __name__ == "__main__":
    main()
