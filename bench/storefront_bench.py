"""Benchmark: GET /api/products on one backend process, against the lab and a static file.

One `storefront backend` process (uvicorn, real PostgreSQL and Redis from the runtimes)
serves `/api/products` (the default page, 50 products, cached in Redis: X-Cache HIT) to
50 concurrent connections, 10,000 requests. Beside it, in the same run:
- the same load on the same backend with the cache off (CACHE_TTL_SECONDS=0: every
  request reads PostgreSQL), to show what the cache buys;
- a static JSON file of the same size, served by nginx (one worker) when installed, else
  by a minimal Python static server: the ceiling of any HTTP figure on this machine;
- the lab text's figures: 804 req/s with p95 112 ms on one backend, 1,450 req/s on three.

Load generator: `hey` when installed, else `wrk` (no percentiles above p99 needed), else
our own asyncio/httpx client (said in the output). Target: >= 3x the lab's one-backend
throughput (2,412 req/s) with p99 < 50 ms.

Run: .venv/bin/python bench/storefront_bench.py [-n 10000] [-c 50] [--tool auto|hey|wrk|python]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from labcluster.runtimes import PostgresServer, RedisServer

LAB_RPS, LAB_P95_MS, LAB_RPS_3 = 804.0, 112.0, 1450.0
TARGET_RATIO, TARGET_P99_MS = 3.0, 50.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Result:
    name: str
    rps: float
    p50: float  # ms
    p95: float
    p99: float
    errors: int
    tool: str


# -- load generators ------------------------------------------------------------------------
def run_hey(url: str, n: int, c: int, name: str) -> Result:
    out = subprocess.run(["hey", "-n", str(n), "-c", str(c), "-disable-compression", url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    pct = {int(p): float(s) * 1000 for p, s in re.findall(r"(\d+)%+ in ([\d.]+) secs", out)}
    codes = {int(k): int(v) for k, v in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)}
    errors = n - codes.get(200, 0)
    return Result(name, rps, pct[50], pct[95], pct[99], errors, "hey")


def run_wrk(url: str, n: int, c: int, name: str) -> Result:
    # wrk is time-based: run for the time hey would need at a first-guess rate.
    out = subprocess.run(["wrk", "-t2", f"-c{c}", "-d10s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    errors = sum(int(x) for x in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    return Result(name, rps, ms("50"), ms("90"), ms("99"), errors, "wrk (p95 column is p90)")


def run_python(url: str, n: int, c: int, name: str) -> Result:
    async def main() -> Result:
        latencies: list[float] = []
        errors = 0
        remaining = n
        limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            async def worker() -> None:
                nonlocal remaining, errors
                while remaining > 0:
                    remaining -= 1
                    start = time.perf_counter()
                    r = await client.get(url)
                    latencies.append((time.perf_counter() - start) * 1000)
                    errors += r.status_code != 200

            began = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(c)))
            elapsed = time.perf_counter() - began
        q = statistics.quantiles(latencies, n=100)
        return Result(name, n / elapsed, q[49], q[94], q[98], errors, "python asyncio/httpx")

    return asyncio.run(main())


def pick_tool(choice: str):
    if choice in ("auto", "hey") and shutil.which("hey"):
        return run_hey
    if choice in ("auto", "wrk") and shutil.which("wrk"):
        return run_wrk
    if choice in ("hey", "wrk"):
        sys.exit(f"{choice} is not installed (apt-get install -y {choice})")
    return run_python


# -- the static baseline ----------------------------------------------------------------------
NGINX_CONF = """daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/tmp; proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp; uwsgi_temp_path {root}/tmp; scgi_temp_path {root}/tmp;
    server {{
        listen 127.0.0.1:{port};
        location / {{ root {root}/www; default_type application/json; }}
    }}
}}
"""

STATIC_SERVER = """
import asyncio, sys
body = open(sys.argv[1], "rb").read()
head = b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(body)
async def handle(reader, writer):
    try:
        while True:
            request = await reader.readuntil(b"\\r\\n\\r\\n")
            writer.write(head + body)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[2]), backlog=1024)
    await server.serve_forever()
asyncio.run(main())
"""


def start_static(root: Path, body: bytes) -> tuple[subprocess.Popen, str, str]:
    (root / "www").mkdir()
    (root / "tmp").mkdir()
    (root / "www" / "products.json").write_bytes(body)
    port = free_port()
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx:
        (root / "nginx.conf").write_text(NGINX_CONF.format(root=root, port=port))
        proc = subprocess.Popen([nginx, "-c", str(root / "nginx.conf"), "-p", str(root)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        what = "nginx, 1 worker"
    else:
        (root / "static.py").write_text(STATIC_SERVER)
        proc = subprocess.Popen([sys.executable, str(root / "static.py"),
                                 str(root / "www" / "products.json"), str(port)])
        what = "minimal Python asyncio static server"
    url = f"http://127.0.0.1:{port}/products.json"
    wait_http(url)
    return proc, url, what


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer 200 in {timeout} s")


def start_backend(pg: PostgresServer, rd: RedisServer, ttl: int, root: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "DATABASE_HOST": pg.host, "DATABASE_PORT": str(pg.port),
           "DATABASE_PASSWORD": pg.password or "", "REDIS_HOST": rd.host,
           "REDIS_PORT": str(rd.port), "CACHE_TTL_SECONDS": str(ttl), "LOG_LEVEL": "WARNING",
           "POD_NAME": "bench"}
    with open(root / f"backend-{port}.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "storefront", "backend", "--host",
                                 "127.0.0.1", "--port", str(port)], env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError("backend not ready:\n" + (root / f"backend-{port}.log").read_text())


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000, help="requests per run")
    parser.add_argument("-c", type=int, default=50, help="concurrent connections")
    parser.add_argument("--tool", default="auto", choices=["auto", "hey", "wrk", "python"])
    parser.add_argument("--path", default="/api/products")
    args = parser.parse_args()
    run = pick_tool(args.tool)

    root = Path(tempfile.mkdtemp(prefix="storefront-bench-"))
    root.chmod(0o755)  # PostgreSQL (as nobody when we are root) must reach its data dir
    pg = PostgresServer(root / "pg", "127.0.0.1", free_port(), user="ecomuser",
                        password="bench-pw", database="ecomdb", socket_dir=root,
                        settings={"max_connections": "100"})
    rd = RedisServer(root / "redis", "127.0.0.1", free_port())
    procs: list[subprocess.Popen] = []
    results: list[Result] = []
    try:
        pg.start()
        rd.start()
        backend, url = start_backend(pg, rd, 60, root)
        procs.append(backend)
        body = httpx.get(url + args.path).content  # MISS: fills the cache
        assert httpx.get(url + args.path).headers["x-cache"] == "HIT"
        run(url + args.path, 500, args.c, "warm-up")
        results.append(run(url + args.path, args.n, args.c, "backend, cache HIT"))
        stop(backend)

        nocache, nurl = start_backend(pg, rd, 0, root)
        procs.append(nocache)
        run(nurl + args.path, 500, args.c, "warm-up")
        results.append(run(nurl + args.path, args.n, args.c, "backend, cache off (PostgreSQL)"))
        stop(nocache)

        static, surl, static_what = start_static(root, body)
        procs.append(static)
        run(surl, 500, args.c, "warm-up")
        results.append(run(surl, args.n, args.c, "static file"))
    finally:
        for proc in procs:
            stop(proc)
        pg.stop()
        rd.stop()
        shutil.rmtree(root, ignore_errors=True)

    ours, nocache_r, static_r = results
    print(f"GET {args.path}: {len(body)} bytes, {args.n} requests, {args.c} connections, "
          f"load by {ours.tool}; baseline: {static_what}; {os.cpu_count()} cores, "
          "client and server on the same machine")
    print(f"{'':34} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'non-200':>8}")
    for r in results:
        print(f"{r.name:34} {r.rps:9.0f} {r.p50:8.1f} {r.p95:8.1f} {r.p99:8.1f} {r.errors:8d}")
    print(f"{'lab text, 1 backend':34} {LAB_RPS:9.0f} {'':>8} {LAB_P95_MS:8.1f}")
    print(f"{'lab text, 3 backends':34} {LAB_RPS_3:9.0f}")
    print()
    print(f"ours / lab (1 backend):       {ours.rps / LAB_RPS:5.2f}x  (target >= {TARGET_RATIO:.0f}x)")
    print(f"ours / lab (3 backends):      {ours.rps / LAB_RPS_3:5.2f}x")
    print(f"ours / static ceiling:        {ours.rps / static_r.rps:5.2f}")
    print(f"cache HIT / cache off:        {ours.rps / nocache_r.rps:5.2f}x")
    print(f"lab p95 / our p95:            {LAB_P95_MS / ours.p95:5.1f}x lower latency")
    met = ours.rps >= TARGET_RATIO * LAB_RPS and ours.p99 < TARGET_P99_MS and ours.errors == 0
    print(f"target (>= {TARGET_RATIO * LAB_RPS:.0f} req/s, p99 < {TARGET_P99_MS:.0f} ms, no errors): "
          f"{'MET' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
