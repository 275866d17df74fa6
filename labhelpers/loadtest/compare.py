"""Before/after tables: the runs side by side, then each run's ratio to the first, so
"3 replicas vs 1" reads as ×1.8 req/s and ×0.6 p95 without mental arithmetic."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from labhelpers.loadtest.result import PERCENTILES, LoadResult

RATIO_COLUMNS = ("req/s", "p50 ms", "p90 ms", "p95 ms", "p99 ms", "max ms")


def _exact(run: LoadResult) -> dict[str, float]:
    """Unrounded numbers: the table rounds latencies to 0.01 ms, which would skew the ratio
    of two sub-millisecond percentiles by several per cent."""
    lat = run.latency_ms
    exact = {"req/s": run.rps, **{f"p{q} ms": run.percentile(q) for q in PERCENTILES}}
    exact["max ms"] = float(lat.max()) if lat.size else float("nan")
    return exact


def compare(a: LoadResult, b: LoadResult, *more: LoadResult,
            names: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per run (``names`` override the runs' names), then a ``× <first>`` row per
    later run with the ratio of req/s and each latency percentile to the first run."""
    runs = [a, b, *more]
    labels = list(names) if names is not None else [r.name for r in runs]
    if len(labels) != len(runs):
        raise ValueError(f"{len(runs)} runs but {len(labels)} names")
    if len(set(labels)) != len(labels):
        labels = [f"{n} ({i + 1})" for i, n in enumerate(labels)]
    rows = pd.DataFrame([r.row() for r in runs], index=labels)
    base = _exact(runs[0])
    ratios = {}
    for label, run in zip(labels[1:], runs[1:], strict=True):
        row = _exact(run)
        ratios[f"{label} × {labels[0]}"] = {
            c: round(row[c] / base[c], 2) if base[c] else float("nan") for c in RATIO_COLUMNS}
    table = pd.concat([rows, pd.DataFrame.from_dict(ratios, orient="index")])
    table.attrs["ratios"] = ratios
    return table
