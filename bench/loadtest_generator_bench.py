"""Benchmark: the load generator's timing on the local test server — what the tests in
tests/loadtest used to assert as time bands, printed here as measurements and ratios.

1. Ours vs hey and wrk (when installed) on a target that answers after 20 ms (the server
   sets the pace): req/s and p50 as a ratio to theirs, best of --rounds each. 1.0 = same.
2. The open model at 200 req/s on an idle server: how late requests leave after they are
   due (median, p99, in ms).
3. How long a closed run asked to stop after 1 s really takes (wall ratio to 1 s), and a
   run with time_limit=1.5 s against a server that never answers (ratio to 1.5 s).

The target is tests/loadtest/lt_server.py, started on a free port and stopped at the end.
Run: .venv/bin/python bench/loadtest_generator_bench.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path

import numpy as np

SERVER = Path(__file__).resolve().parents[1] / "tests" / "loadtest" / "lt_server.py"
SERVER_MS = 20
CONCURRENCY = 20


def start_server() -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, str(SERVER), str(port)])
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(base + "/close", timeout=1).read()
            return proc, base
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise SystemExit("lt_server did not start") from None
            time.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    from labhelpers import loadtest
    from labhelpers.loadtest import peers

    warnings.simplefilter("ignore", loadtest.LoadTestWarning)
    proc, base = start_server()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    try:
        print(f"\n1. Ours vs peers, server answers after {SERVER_MS} ms, {CONCURRENCY} "
              f"connections (best of {args.rounds})")
        url = f"{base}/delay?key=bench&every=1&ms={SERVER_MS}"
        for tool in peers.available() or []:
            runs = []
            for _ in range(args.rounds):
                if tool == "hey":
                    runs.append((peers.run_hey(url, 1000, CONCURRENCY),
                                 loadtest.run(None, url, requests=1000,
                                              concurrency=CONCURRENCY)))
                else:
                    runs.append((peers.run_wrk(url, CONCURRENCY, 2),
                                 loadtest.run(None, url, duration=2, concurrency=CONCURRENCY)))
            theirs = max((t for t, _ in runs), key=lambda t: t.rps)
            ours = max((o for _, o in runs), key=lambda o: o.rps)
            print(f"   vs {tool}: req/s {ours.rps:.0f} / {theirs.rps:.0f} = "
                  f"{ours.rps / theirs.rps:.2f}×; p50 {ours.percentile(50):.1f} / "
                  f"{theirs.p50_ms:.1f} ms = {ours.percentile(50) / theirs.p50_ms:.2f}×")
        if not peers.available():
            print("   neither hey nor wrk is installed (apt-get install hey wrk)")

        print("\n2. Open model, 200 req/s for 1.5 s, idle server: send lateness")
        r = loadtest.run(None, f"{base}/delay?key=bench-open", rate=200, duration=1.5,
                         concurrency=10)
        late = (r.sent_s - r.intended_s) * 1000
        print(f"   {r.count} requests; late median {np.median(late):.2f} ms, p99 "
              f"{np.percentile(late, 99):.2f} ms (ratio of the median to the 5 ms interval: "
              f"{np.median(late) / 5:.2f})")

        print("\n3. Stopping")
        t = time.monotonic()
        r = loadtest.run(None, f"{base}/delay?key=bench-stop&every=1&ms=50", duration=1,
                         concurrency=2)
        took = time.monotonic() - t
        print(f"   duration=1 s (server 50 ms): {took:.2f} s wall incl. generator start "
              f"= {took:.2f}× the duration; {r.count} requests ({r.count / 40:.2f}× the 40 "
              "that fit)")
        t = time.monotonic()
        loadtest.run(None, f"{base}/hang", requests=10, concurrency=2, time_limit=1.5)
        took = time.monotonic() - t
        print(f"   time_limit=1.5 s (server hangs): {took:.2f} s wall = {took / 1.5:.2f}× "
              "the limit")
    finally:
        proc.terminate()
        proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
