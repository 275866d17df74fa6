"""``LoadResult``: every request of one run, and the tables a learner reads from them.

All latencies are kept (not only a histogram): 10,000 requests are 10,000 floats, and
keeping them lets any percentile, split (by X-Cache) or time window be computed after
the fact. Percentiles are over answered requests; transport errors (refused, reset,
timeout) are counted as errors with status 0.
"""

from __future__ import annotations

import shlex
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from labhelpers.loadtest.plots import overview

#: Generator CPU (fraction of one core) above which its numbers describe the generator.
SATURATED_CPU = 0.85
PERCENTILES = (50, 90, 95, 99)


@dataclass
class LoadResult:
    """One load test. Times in ms (latency) or s (offsets from the start of the run)."""

    name: str
    url: str
    mode: str                      # direct | port-forward | url | in-cluster
    model: str                     # closed | open
    concurrency: int
    rate: float | None
    wall_s: float
    cpu_s: float
    stopped_by: str
    intended_s: np.ndarray         # when each request was due (open) / sent (closed)
    sent_s: np.ndarray
    done_s: np.ndarray
    status: np.ndarray             # HTTP status, 0 = transport error
    error: np.ndarray              # error text or "" per request
    header: np.ndarray             # value of `header_name` or "" per request
    header_name: str | None = None
    warnings: list[str] = field(default_factory=list)
    method: str = "GET"
    requested: int | None = None   # the count asked for (None: time-bounded)
    t0_epoch: float | None = None  # the run's second 0 on the wall clock (time.time())

    def seconds_since_start(self, epoch: float) -> float:
        """Where a moment (``time.time()``, e.g. when a pod was deleted) falls on this run's
        time axis: the same clock as ``timeseries()`` and ``over_time``, not the moment
        the call that started the run was made (the generator starts a little later)."""
        if self.t0_epoch is None:
            raise ValueError(f"{self.name}: this run recorded no start time")
        return epoch - self.t0_epoch

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_record(cls, record: dict[str, Any], name: str, url: str, mode: str
                    ) -> LoadResult:
        cfg = record["config"]
        errors = np.array([""] + record["errors"], dtype=object)
        values = np.array([""] + record["header_values"], dtype=object)
        result = cls(
            name=name, url=url, mode=mode,
            model="open" if cfg.get("rate") else "closed",
            concurrency=int(cfg["concurrency"]), rate=cfg.get("rate"),
            wall_s=float(record["wall_s"]), cpu_s=float(record["cpu_s"]),
            stopped_by=record["stopped_by"],
            intended_s=np.asarray(record["intended_us"], dtype=float) / 1e6,
            sent_s=np.asarray(record["sent_us"], dtype=float) / 1e6,
            done_s=np.asarray(record["done_us"], dtype=float) / 1e6,
            status=np.asarray(record["status"], dtype=int),
            error=errors[np.asarray(record["error"], dtype=int) + 1],
            header=values[np.asarray(record["header"], dtype=int) + 1],
            header_name=cfg.get("header"), method=cfg.get("method", "GET"),
            requested=cfg.get("requests"), t0_epoch=record.get("t0_epoch"))
        result.warnings = result._warnings()
        return result

    def _warnings(self) -> list[str]:
        out = []
        if self.generator_cpu >= SATURATED_CPU:
            out.append(f"the load generator used {self.generator_cpu:.0%} of a CPU core: it "
                       "was (close to) the bottleneck, so req/s and latencies describe it as "
                       "much as the server. Lower concurrency/rate, or compare with hey.")
        if self.model == "open" and self.count and self.rate:
            achieved = self.count / max(self.wall_s, 1e-9)
            if achieved < 0.9 * self.rate and self.stopped_by == "duration":
                out.append(f"asked for {self.rate:g} req/s, sent {achieved:.0f} req/s: not "
                           "enough connections for that rate at these latencies (raise "
                           "concurrency)")
        if self.stopped_by == "deadline":
            asked = f" of the {self.requested:,} asked for" if self.requested else ""
            out.append(f"stopped by the time limit after {self.wall_s:.0f} s with "
                       f"{self.count:,} requests{asked} (raise time_limit=, or use duration=)")
        if self.count and self.error_rate > 0:
            out.append(f"{self.error_rate:.1%} of requests failed: "
                       + ", ".join(f"{k} ×{v}" for k, v in self.status_counts().items()
                                   if not _ok(k)))
        return out

    # ------------------------------------------------------------------ numbers
    @property
    def count(self) -> int:
        return int(self.status.size)

    @property
    def latency_ms(self) -> np.ndarray:
        """Per answered request: from the intended send time (open model: corrects for
        coordinated omission) — in the closed model the same as ``service_ms``."""
        return (self.done_s - self.intended_s)[self.status > 0] * 1000

    @property
    def service_ms(self) -> np.ndarray:
        """Per answered request: from the moment it was actually sent."""
        return (self.done_s - self.sent_s)[self.status > 0] * 1000

    @property
    def rps(self) -> float:
        """Requests per second over the whole run (hey's ``Requests/sec``)."""
        return self.count / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def errors(self) -> int:
        return int(np.count_nonzero(~_ok_mask(self.status)))

    @property
    def error_rate(self) -> float:
        return self.errors / self.count if self.count else 0.0

    @property
    def generator_cpu(self) -> float:
        """The generator's CPU time / wall time: 1.0 = one core busy (it is one thread)."""
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    def percentile(self, q: float, corrected: bool = True) -> float:
        values = self.latency_ms if corrected else self.service_ms
        return float(np.percentile(values, q)) if values.size else float("nan")

    def p(self, q: float) -> float:
        return self.percentile(q)

    def status_counts(self) -> dict[Any, int]:
        """{200: 9990, 503: 3, 'connection refused': 7}: transport errors by their text."""
        labels = [int(s) if s else str(e) for s, e in zip(self.status, self.error, strict=True)]
        return dict(sorted(Counter(labels).items(), key=lambda kv: str(kv[0])))

    # ------------------------------------------------------------------ tables
    def row(self) -> dict[str, Any]:
        lat = self.latency_ms
        row: dict[str, Any] = {
            "requests": self.count,
            "req/s": round(self.rps, 1),
            **{f"p{q} ms": round(self.percentile(q), 2) for q in PERCENTILES},
            "max ms": round(float(lat.max()), 2) if lat.size else float("nan"),
            "errors %": round(100 * self.error_rate, 2),
            "status codes": ", ".join(f"{k}×{v}" for k, v in self.status_counts().items()),
            "generator CPU %": round(100 * self.generator_cpu, 1),
        }
        if self.model == "open":
            row["p99 ms (uncorrected)"] = round(self.percentile(99, corrected=False), 2)
        return row

    def summary(self) -> pd.DataFrame:
        """One row: requests/s, p50/p90/p95/p99/max, error rate, status codes, generator CPU."""
        df = pd.DataFrame([self.row()], index=[self.name])
        df.attrs["hey"] = self.hey_command()
        return df

    def timeseries(self, interval: float = 1.0) -> pd.DataFrame:
        """Per ``interval`` seconds (by completion time): requests, errors, p50/p99/max ms."""
        if not self.count:
            return pd.DataFrame(columns=["requests", "errors", "req/s", "p50 ms", "p99 ms",
                                         "max ms"])
        bucket = np.floor(self.done_s / interval).astype(int)
        lat = (self.done_s - self.intended_s) * 1000
        ok = _ok_mask(self.status)
        answered = self.status > 0
        rows = []
        for b in range(int(bucket.max()) + 1):
            sel = bucket == b
            got = lat[sel & answered]
            rows.append({
                "t s": round(b * interval, 3), "requests": int(sel.sum()),
                "errors": int((sel & ~ok).sum()),
                "req/s": sel.sum() / interval,
                "p50 ms": float(np.percentile(got, 50)) if got.size else np.nan,
                "p99 ms": float(np.percentile(got, 99)) if got.size else np.nan,
                "max ms": float(got.max()) if got.size else np.nan})
        return pd.DataFrame(rows).set_index("t s")

    def by_header(self) -> pd.DataFrame:
        """Latency per value of the recorded response header (e.g. X-Cache HIT/MISS)."""
        rows = {}
        answered = self.status > 0
        lat = (self.done_s - self.intended_s) * 1000
        for value in sorted(set(self.header[answered])):
            got = lat[answered & (self.header == value)]
            rows[value or "(absent)"] = {
                "requests": int(got.size),
                **{f"p{q} ms": round(float(np.percentile(got, q)), 2) for q in (50, 95, 99)}}
        df = pd.DataFrame.from_dict(rows, orient="index")
        df.index.name = self.header_name or "header"
        return df

    def hey_command(self) -> str:
        """The hey command for the same load (hey has no open model: ``-q`` is a per-worker
        rate limit, which still waits for answers)."""
        parts = ["hey"]
        if self.model == "closed":
            if self.stopped_by == "duration":
                parts += ["-z", f"{self.wall_s:.0f}s"]
            else:
                parts += ["-n", str(self.count)]
            parts += ["-c", str(self.concurrency)]
        else:
            per_worker = (self.rate or 0) / self.concurrency
            parts += ["-z", f"{self.wall_s:.0f}s", "-c", str(self.concurrency),
                      "-q", f"{per_worker:g}"]
        if self.method != "GET":
            parts += ["-m", self.method]
        return " ".join(parts + [shlex.quote(self.url)])

    # ------------------------------------------------------------------ display
    def plot(self):
        """Histogram, CDF, throughput and latency over time (a matplotlib Figure)."""
        return overview(self)

    def __repr__(self) -> str:
        r = self.row()
        text = (f"<LoadResult {self.name}: {self.model} model, {r['requests']} requests, "
                f"{r['req/s']} req/s, p50 {r['p50 ms']} ms, p99 {r['p99 ms']} ms, "
                f"errors {r['errors %']}%>")
        return text + "".join(f"\n⚠️ {w}" for w in self.warnings)

    def _repr_html_(self) -> str:
        """The summary table (pandas escapes it), the hey command and the warnings, escaped
        too: a URL or a server's message may hold ``<`` or ``&``."""
        from html import escape

        out = self.summary().to_html()
        out += f"<p><code>{escape(self.hey_command())}</code> (the same load with hey)</p>"
        return out + "".join(f"<p>⚠️ {escape(w)}</p>" for w in self.warnings)


def _ok(status: Any) -> bool:
    return isinstance(status, int) and 200 <= status < 400


def _ok_mask(status: np.ndarray) -> np.ndarray:
    return (status >= 200) & (status < 400)
