"""hey and wrk on the same target, to check our generator against established ones.

Both are Debian packages (``apt-get install hey wrk``), absent on Binder: callers check
``available()`` first. wrk is time-based and its summary has no p95 (``--latency`` prints
p50/p75/p90/p99).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass


@dataclass
class PeerResult:
    tool: str
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    p95_ms: float | None
    non_2xx: int


def available() -> list[str]:
    return [t for t in ("hey", "wrk") if shutil.which(t)]


def run_hey(url: str, requests: int, concurrency: int, timeout: float = 300) -> PeerResult:
    out = subprocess.run(["hey", "-n", str(requests), "-c", str(concurrency),
                          "-disable-compression", url],
                         capture_output=True, text=True, check=True, timeout=timeout).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    pct = {int(p): float(s) * 1000 for p, s in re.findall(r"(\d+)%+ in ([\d.]+) secs", out)}
    codes = {int(k): int(v) for k, v in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)}
    ok = sum(v for k, v in codes.items() if 200 <= k < 300)
    return PeerResult("hey", sum(codes.values()), rps, pct[50], pct[99], pct[95],
                      requests - ok)


def run_wrk(url: str, concurrency: int, duration_s: int, threads: int = 1,
            timeout: float = 300) -> PeerResult:
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{duration_s}s",
                          "--latency", url],
                         capture_output=True, text=True, check=True, timeout=timeout).stdout

    def ms(label: str) -> float:
        value, unit = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)\b", out).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = sum(int(x) for x in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    return PeerResult("wrk", total, rps, ms("50"), ms("99"), None, non2xx)
