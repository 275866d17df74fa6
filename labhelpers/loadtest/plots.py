"""Latency plots: histogram and CDF on a log axis (latency spans orders of magnitude, and
the tail is the story), and latency/throughput over time (a stall or a pod deletion is a
moment, which a summary averages away).

Figures are made with pyplot and closed at once: Jupyter's inline backend then shows a
returned Figure exactly once, and headless runs (papermill, tests) keep no open figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter


class Measured(Protocol):
    """What the plots read of a :class:`labhelpers.loadtest.result.LoadResult`: result.py
    draws through this module (``LoadResult.plot()``), so this module names the members
    it reads instead of importing result.py back (an import circle)."""

    name: str
    done_s: np.ndarray

    @property
    def count(self) -> int: ...

    @property
    def latency_ms(self) -> np.ndarray: ...

    @property
    def rps(self) -> float: ...

    def percentile(self, q: float, corrected: bool = True) -> float: ...

    def timeseries(self, interval: float = 1.0) -> pd.DataFrame: ...


def _new(rows: int = 1, cols: int = 1, size: tuple[float, float] = (7, 4)):
    fig, axes = plt.subplots(rows, cols, figsize=size, squeeze=False)
    plt.close(fig)
    return fig, axes


#: Bins per run in the over-time panels: enough points for a line, few enough to read.
TIME_BINS = 20
_NICE_STEPS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60)


def time_interval(results: Sequence[Measured]) -> float:
    """A bin width that gives the longest run about TIME_BINS points: a 0.3 s run gets
    20 ms bins (one 1-second bin drew nothing at all), a 60 s run 5 s bins."""
    longest = max((float(r.done_s.max()) for r in results if r.count), default=1.0)
    want = longest / TIME_BINS
    return next((s for s in _NICE_STEPS if s >= want), _NICE_STEPS[-1])


def _plain(value: float, _pos: object = None) -> str:
    return f"{value:g}"


def _plain_log_axis(axis: Axis) -> None:
    """Log-axis labels in plain numbers (ms): `3`, `20`, `500`, not `3×10⁰`. Minor ticks
    are labelled only at 2× and 5× a power of ten, and only when the axis spans less than
    two decades (otherwise the decades alone are read, and labels would collide)."""
    lo, hi = axis.get_view_interval()
    few = hi / max(lo, 1e-9) < 100

    def minor(value: float, _pos: object = None) -> str:
        if not few or value <= 0:
            return ""
        lead = round(value / 10 ** np.floor(np.log10(value)), 6)
        return _plain(value) if lead in (2.0, 5.0) else ""

    axis.set_major_formatter(FuncFormatter(_plain))
    axis.set_minor_formatter(FuncFormatter(minor))


def _log_bins(values: np.ndarray, n: int = 60) -> np.ndarray:
    lo = max(float(values.min()), 0.01)
    hi = max(float(values.max()), lo * 1.01)
    return np.logspace(np.log10(lo), np.log10(hi), n)


def histogram(result: Measured, ax=None) -> Figure:
    """How many requests took how long (log latency axis), p50/p99 marked."""
    fig, ax = (ax.figure, ax) if ax is not None else (lambda f, a: (f, a[0][0]))(*_new())
    lat = result.latency_ms
    if lat.size:
        ax.hist(lat, bins=_log_bins(lat), color="tab:blue", alpha=0.8)
        for q, style in ((50, "--"), (99, ":")):
            v = result.percentile(q)
            ax.axvline(v, color="black", linestyle=style, label=f"p{q} {v:.1f} ms")
        ax.legend()
    ax.set_xscale("log")
    _plain_log_axis(ax.xaxis)
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("requests")
    ax.set_title(f"{result.name}: latency histogram")
    return fig


def cdf(results: Measured | Sequence[Measured], ax=None) -> Figure:
    """Share of requests at or below each latency; several runs overlay (before/after)."""
    runs = list(results) if isinstance(results, Iterable) else [results]
    fig, ax = (ax.figure, ax) if ax is not None else (lambda f, a: (f, a[0][0]))(*_new())
    for r in runs:
        lat = np.sort(r.latency_ms)
        if lat.size:
            ax.plot(lat, np.arange(1, lat.size + 1) / lat.size * 100,
                    label=f"{r.name} (p99 {r.percentile(99):.1f} ms)")
    for q in (50, 95, 99):
        ax.axhline(q, color="grey", linewidth=0.5)
    ax.set_xscale("log")
    _plain_log_axis(ax.xaxis)
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("% of requests ≤ latency")
    ax.set_title("latency CDF")
    ax.legend(fontsize="small")
    return fig


def over_time(results: Measured | Sequence[Measured],
              interval: float | None = None) -> Figure:
    """Throughput (and errors) and p50/p99 latency per interval (default: about
    TIME_BINS bins over the longest run), runs side by side in time."""
    runs = list(results) if isinstance(results, Iterable) else [results]
    interval = interval or time_interval(runs)
    fig, axes = _new(2, 1, (8, 5.5))
    top, bottom = axes[0][0], axes[1][0]
    for r in runs:
        ts = r.timeseries(interval)
        if ts.empty:
            continue
        # a bin [t, t + interval) is drawn where it is: bars over it, line points at its
        # middle — so a marked moment (a pod deleted) never seems to come after its effects
        mid = ts.index + interval / 2
        line = top.plot(mid, ts["req/s"], label=f"{r.name} req/s")[0]
        if ts["errors"].any():
            top.bar(ts.index, ts["errors"] / interval, width=interval * 0.9, align="edge",
                    color="tab:red", alpha=0.5, label=f"{r.name} errors/s")
        bottom.plot(mid, ts["p50 ms"], color=line.get_color(), label=f"{r.name} p50")
        bottom.plot(mid, ts["p99 ms"], color=line.get_color(), linestyle=":",
                    label=f"{r.name} p99")
    top.set_ylabel("requests/s")
    # from 0: a fixed-rate run (50 req/s in 0.25 s bins of 12 or 13 requests) drew as a
    # 48-52 zigzag on an autoscaled axis, which a learner reads as instability
    top.set_ylim(bottom=0)
    top.set_title(f"throughput and latency over time ({interval:g} s bins)")
    top.legend(fontsize="small")
    bottom.set_yscale("log")
    _plain_log_axis(bottom.yaxis)
    bottom.set_ylabel("latency (ms, log)")
    bottom.set_xlabel("seconds since start")
    bottom.legend(fontsize="small")
    fig.tight_layout()
    return fig


def overview(result: Measured) -> Figure:
    """Histogram, CDF and the two time series of one run in one figure."""
    fig, axes = _new(2, 2, (12, 7))
    histogram(result, ax=axes[0][0])
    cdf(result, ax=axes[0][1])
    interval = time_interval([result])
    ts = result.timeseries(interval)
    if not ts.empty:
        mid = ts.index + interval / 2
        axes[1][0].plot(mid, ts["req/s"], label="req/s")
        axes[1][0].bar(ts.index, ts["errors"] / interval, width=interval * 0.9, align="edge",
                       color="tab:red", alpha=0.5, label="errors/s")
        axes[1][1].plot(mid, ts["p50 ms"], label="p50")
        axes[1][1].plot(mid, ts["p99 ms"], linestyle=":", label="p99")
    axes[1][0].set_ylim(bottom=0)  # as in over_time: bin rounding is no zigzag
    axes[1][0].set_title(f"throughput over time ({interval:g} s bins)")
    axes[1][0].set_xlabel("s")
    axes[1][0].legend()
    axes[1][1].set_title("latency over time")
    axes[1][1].set_yscale("log")
    _plain_log_axis(axes[1][1].yaxis)
    axes[1][1].set_xlabel("s")
    axes[1][1].set_ylabel("ms")
    axes[1][1].legend()
    fig.suptitle(f"{result.name}: {result.rps:.0f} req/s, p50 {result.percentile(50):.1f} ms, "
                 f"p99 {result.percentile(99):.1f} ms")
    fig.tight_layout()
    return fig


def compare_plot(results: Sequence[Measured]) -> Figure:
    """Before/after: CDFs overlaid, and req/s and p95 as bars."""
    fig, axes = _new(1, 3, (14, 4))
    cdf(results, ax=axes[0][0])
    names = [r.name for r in results]
    axes[0][1].bar(names, [r.rps for r in results], color="tab:green")
    axes[0][1].set_title("requests/s")
    axes[0][2].bar(names, [r.percentile(95) for r in results], color="tab:orange")
    axes[0][2].set_title("p95 latency (ms)")
    for ax in (axes[0][1], axes[0][2]):
        ax.tick_params(axis="x", labelrotation=20)
    fig.tight_layout()
    return fig
