"""Benchmark: the lab text's load test on labcluster, and our generator against its peers.

1. The lab text's workload — 10,000 requests, 50 concurrent, GET /api/products on the
   backend Service — at 1 and at 3 backend replicas, with labhelpers.loadtest (direct mode:
   the ClusterIP, through kube-proxy), printed beside the lab text's figures
   (804 → 1,450 req/s, p95 112 → 65 ms) with the ratios.
2. The same target, same workload, with hey and wrk when installed: our req/s and p50/p99
   as a ratio to theirs (alternating order, --rounds times).
3. Why raw asyncio streams: our generator against an aiohttp client with the same closed
   model, req/s and requests per CPU second (the generator's own CPU), same target.

A labcluster is started in a temp home and stopped at the end. Everything shares this
machine's cores (2 here): the backend pods, PostgreSQL, Redis, kube-proxy and the generator.

Run: .venv/bin/python bench/loadtest_bench.py [-n 10000] [-c 50] [--rounds 1]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LAB = {"1": {"rps": 804.0, "p95": 112.0}, "3": {"rps": 1450.0, "p95": 65.0}}

AIOHTTP_CLIENT = r"""
import asyncio, json, os, sys, time
import aiohttp
url, n, c = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
async def main():
    left, lat = n, []
    conn = aiohttp.TCPConnector(limit=c)
    async with aiohttp.ClientSession(connector=conn) as session:
        async def worker():
            nonlocal left
            while left > 0:
                left -= 1
                t = time.perf_counter()
                async with session.get(url) as r:
                    await r.read()
                lat.append((time.perf_counter() - t) * 1000)
        c0, t0 = os.times(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(c)))
        wall, c1 = time.perf_counter() - t0, os.times()
    lat.sort()
    print(json.dumps({"rps": n / wall, "cpu_s": c1.user - c0.user + c1.system - c0.system,
                      "p50": lat[len(lat) // 2], "n": n}))
asyncio.run(main())
"""


def quiet():
    return contextlib.redirect_stdout(io.StringIO())


def start_lab():
    import labhelpers

    home = Path(tempfile.mkdtemp(prefix="loadtest-bench-"))
    home.chmod(0o755)
    import labcluster

    kubeconfig = labcluster.ensure_running(home)
    with quiet(), contextlib.redirect_stderr(io.StringIO()):
        lab = labhelpers.connect(cluster="kubeconfig", kubeconfig=str(kubeconfig))
        for tier in ("config", "database", "cache", "backend"):
            lab.deploy(tier)
    return home, lab


def aiohttp_run(url: str, n: int, c: int) -> dict:
    import json

    out = subprocess.run([sys.executable, "-c", AIOHTTP_CLIENT, url, str(n), str(c)],
                         capture_output=True, text=True, check=True, timeout=600).stdout
    return json.loads(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000)
    parser.add_argument("-c", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()

    import labcluster
    from labhelpers import loadtest
    from labhelpers.loadtest import peers

    t_start = time.monotonic()
    home, lab = start_lab()
    print(f"labcluster up and the backend tiers deployed in {time.monotonic() - t_start:.0f} s "
          f"({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f})")
    runs = {}
    peer_rows = []
    impl_rows = []
    try:
        for replicas in ("1", "3"):
            with quiet():
                lab.scale("deploy/ecommerce-backend", int(replicas))
            loadtest.run(lab, "ecommerce-backend", requests=1000, concurrency=args.c)  # warm
            got = []
            for _ in range(args.rounds):
                got.append(loadtest.run(lab, "ecommerce-backend", "/api/products",
                                        requests=args.n, concurrency=args.c,
                                        name=f"{replicas} replica(s)"))
                if replicas == "3":
                    url = got[-1].url
                    for tool in peers.available():
                        if tool == "hey":
                            theirs = peers.run_hey(url, args.n, args.c)
                        else:
                            theirs = peers.run_wrk(url, args.c, max(2, round(got[-1].wall_s)))
                        ours = loadtest.run(lab, "ecommerce-backend", "/api/products",
                                            requests=args.n, concurrency=args.c)
                        peer_rows.append((tool, ours, theirs))
                    n_impl = min(args.n, 5000)
                    ours = loadtest.run(lab, "ecommerce-backend", "/api/products",
                                        requests=n_impl, concurrency=args.c)
                    aio = aiohttp_run(url, n_impl, args.c)
                    impl_rows.append((ours, aio))
            runs[replicas] = sorted(got, key=lambda r: r.rps)[len(got) // 2]  # median by req/s
    finally:
        labcluster.stop(home)
        shutil.rmtree(home, ignore_errors=True)

    print(f"\n1. The lab text's workload: GET /api/products, {args.n} requests, {args.c} "
          "concurrent, direct to the ClusterIP (median of "
          f"{args.rounds} round(s))")
    print(f"{'':14} {'req/s':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'errors':>6} "
          f"{'gen CPU':>7} | {'lab req/s':>9} {'lab p95':>7} | {'req/s ×lab':>10} "
          f"{'p95 ×lab':>8}")
    for k, r in runs.items():
        lab_fig = LAB[k]
        print(f"{k + ' replica(s)':14} {r.rps:8.0f} {r.p(50):7.1f} {r.p(95):7.1f} "
              f"{r.p(99):7.1f} {r.errors:6d} {r.generator_cpu:7.0%} | {lab_fig['rps']:9.0f} "
              f"{lab_fig['p95']:7.0f} | {r.rps / lab_fig['rps']:10.2f} "
              f"{r.p(95) / lab_fig['p95']:8.2f}")
    one, three = runs["1"], runs["3"]
    print(f"{'3 ÷ 1':14} {three.rps / one.rps:8.2f} {three.p(50) / one.p(50):7.2f} "
          f"{three.p(95) / one.p(95):7.2f} {three.p(99) / one.p(99):7.2f} {'':6} {'':7} | "
          f"{1450 / 804:9.2f} {65 / 112:7.2f} |")

    print("\n2. Our generator vs hey/wrk, same target (3 replicas), same workload")
    if not peer_rows:
        print("   neither hey nor wrk is installed (apt-get install hey wrk)")
    for tool, ours, theirs in peer_rows:
        print(f"   vs {tool}: req/s {ours.rps:.0f} / {theirs.rps:.0f} = "
              f"{ours.rps / theirs.rps:.2f}×; p50 {ours.p(50):.1f} / {theirs.p50_ms:.1f} ms = "
              f"{ours.p(50) / theirs.p50_ms:.2f}×; p99 {ours.p(99):.1f} / "
              f"{theirs.p99_ms:.1f} ms = {ours.p(99) / theirs.p99_ms:.2f}×"
              + (f"; {tool} saw {theirs.non_2xx} non-2xx" if theirs.non_2xx else ""))

    print("\n3. Client implementation, same target: raw asyncio streams (ours) vs aiohttp")
    for ours, aio in impl_rows:
        ours_per_cpu = ours.count / ours.cpu_s if ours.cpu_s else float("inf")
        aio_per_cpu = aio["n"] / aio["cpu_s"] if aio["cpu_s"] else float("inf")
        print(f"   raw streams: {ours.rps:.0f} req/s, {ours_per_cpu:.0f} req per CPU-s, p50 "
              f"{ours.p(50):.1f} ms | aiohttp: {aio['rps']:.0f} req/s, {aio_per_cpu:.0f} req "
              f"per CPU-s, p50 {aio['p50']:.1f} ms | ratio req/s {ours.rps / aio['rps']:.2f}×,"
              f" per CPU {ours_per_cpu / aio_per_cpu:.2f}×")
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}; total "
          f"{time.monotonic() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
