"""What a learner reads from a run: summary, time series, plots, compare(), warnings."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from labhelpers import loadtest
from labhelpers.loadtest import runner
from labhelpers.loadtest.result import LoadResult


@pytest.fixture(scope="module")
def two_runs(lt_server: str) -> tuple[LoadResult, LoadResult]:
    fast = loadtest.run(None, f"{lt_server}/delay?key=fast", requests=300, concurrency=5,
                        name="fast")
    slow = loadtest.run(None, f"{lt_server}/delay?key=slow&every=2&ms=20", requests=300,
                        concurrency=5, name="slow")
    return fast, slow


def test_summary_row(two_runs) -> None:
    fast, _ = two_runs
    table = fast.summary()
    assert list(table.index) == ["fast"]
    row = table.iloc[0]
    assert row["requests"] == 300 and row["errors %"] == 0
    assert row["p50 ms"] <= row["p90 ms"] <= row["p95 ms"] <= row["p99 ms"] <= row["max ms"]
    assert row["req/s"] == pytest.approx(fast.rps, abs=0.1)
    assert table.attrs["hey"].startswith("hey -n 300 -c 5 ")


def test_timeseries_adds_up(two_runs) -> None:
    fast, _ = two_runs
    ts = fast.timeseries(interval=0.25)
    assert ts["requests"].sum() == 300 and ts["errors"].sum() == 0
    assert (ts["p99 ms"].dropna() >= ts["p50 ms"].dropna()).all()


def test_compare_table_has_ratios(two_runs) -> None:
    fast, slow = two_runs
    table = loadtest.compare(fast, slow)
    assert list(table.index) == ["fast", "slow", "slow × fast"]
    ratio = table.loc["slow × fast"]
    assert ratio["req/s"] == pytest.approx(round(slow.rps / fast.rps, 2), abs=0.011)
    assert ratio["p95 ms"] == pytest.approx(
        round(slow.percentile(95) / fast.percentile(95), 2), abs=0.011)
    assert slow.percentile(95) >= 20 > fast.percentile(50)
    renamed = loadtest.compare(fast, slow, names=["1 replica", "3 replicas"])
    assert "3 replicas × 1 replica" in renamed.index
    with pytest.raises(ValueError, match="2 runs but 1 names"):
        loadtest.compare(fast, slow, names=["x"])


def test_plots_return_figures(two_runs) -> None:
    fast, slow = two_runs
    figures = [loadtest.histogram(fast), loadtest.cdf([fast, slow]),
               loadtest.over_time([fast, slow]), fast.plot(), loadtest.compare_plot([fast, slow])]
    assert all(isinstance(f, Figure) for f in figures)
    cdf_ax = figures[1].axes[0]
    assert cdf_ax.get_xscale() == "log" and len(cdf_ax.get_lines()) >= 2
    # the CDF ends at 100 % for each run
    assert all(np.isclose(line.get_ydata()[-1], 100) for line in cdf_ax.get_lines()[:2])


def test_saturated_generator_is_reported(lt_server: str) -> None:
    # every answer takes 20 ms, so the generator mostly waits (its CPU share stays low even
    # on a busy machine) — the "calm" case must not warn
    cfg = {"urls": [f"{lt_server}/delay?key=calm&every=1&ms=20"], "concurrency": 2,
           "requests": 50, "deadline": 20,
           "method": "GET", "header": None, "rate": None}
    record = runner.run_local(cfg)
    calm = LoadResult.from_record(record, "calm", cfg["urls"][0], "url")
    assert not any("generator used" in w for w in calm.warnings)
    record["cpu_s"] = record["wall_s"] * 0.97  # as if the generator had used its whole core
    busy = LoadResult.from_record(record, "busy", cfg["urls"][0], "url")
    assert any("the load generator used 97% of a CPU core" in w for w in busy.warnings)
    assert "⚠️" in repr(busy) and "⚠️" in busy._repr_html_()
    assert "calm&amp;every=1" in busy._repr_html_()  # the hey command's URL, escaped


def test_hey_command_for_open_model(lt_server: str) -> None:
    r = loadtest.run(None, f"{lt_server}/delay", rate=50, duration=1, concurrency=5)
    assert r.hey_command().startswith("hey -z 1s -c 5 -q 10 ")


def test_over_time_bins_to_the_run_and_labels_latency_in_plain_ms(two_runs) -> None:
    """A sub-second run drew empty over-time panels (one 1-second bin) and the log axes
    labelled `3×10⁰4×10⁰` on top of each other."""
    fast, slow = two_runs
    assert float(fast.done_s.max()) < 5
    interval = loadtest.plots.time_interval([fast])
    # nice steps (1, 2, 2.5 or 5 × 10ⁿ s) round the width up: 8 to 20 bins per run
    assert float(fast.done_s.max()) / interval >= loadtest.plots.TIME_BINS / 2.5
    for fig in (loadtest.over_time(fast), fast.plot()):
        lines = [line for ax in fig.axes for line in ax.get_lines()
                 if len(line.get_xdata()) and line.get_label().endswith(("req/s", "p50"))]
        assert lines and all(len(line.get_xdata()) >= 8 for line in lines), \
            [len(line.get_xdata()) for line in lines]
    fig = loadtest.cdf([fast, slow])
    fig.canvas.draw()
    for ax in fig.axes:
        labels = [t.get_text() for t in ax.xaxis.get_ticklabels(which="both") if t.get_text()]
        assert labels, "the latency axis is labelled"
        assert all(label.replace(".", "", 1).isdigit() for label in labels), labels


def test_a_runs_start_is_on_the_wall_clock(lt_server: str) -> None:
    """Notebook 7 marks "pod deleted" on the run's own axis: the moment must map there,
    not onto when the call was made (the generator starts a little later)."""
    import time

    before = time.time()
    r = loadtest.run(None, f"{lt_server}/delay?key=clock&every=1&ms=20", requests=20,
                     concurrency=1, name="clock")
    after = time.time()
    assert r.t0_epoch is not None and before <= r.t0_epoch <= after
    assert r.seconds_since_start(before) <= 0
    assert r.seconds_since_start(after) >= float(r.done_s.max()) >= 20 * 0.02


def test_error_bars_cover_their_own_bin(lt_server: str) -> None:
    """An error bar drawn centred on its bin's start reached back before the moment that
    caused it (notebook 7's "pod deleted" line): bars start at their bin."""
    r = loadtest.run(None, f"{lt_server}/status?key=bars&every=1&code=503", requests=40,
                     concurrency=2, name="errors")
    fig = loadtest.over_time(r)
    interval = loadtest.plots.time_interval([r])
    bars = fig.axes[0].patches
    ts = r.timeseries(interval)
    assert bars and len(bars) == len(ts)
    assert [round(b.get_x(), 6) for b in bars] == [round(t, 6) for t in ts.index]
    assert all(b.get_width() <= interval for b in bars)


def test_throughput_axes_start_at_zero(two_runs) -> None:
    """A fixed-rate run's bins hold 12 or 13 requests: on an autoscaled axis that drew a
    48–52 req/s zigzag a learner reads as instability."""
    fast, _ = two_runs
    for fig in (loadtest.over_time(fast), fast.plot()):
        axes = [ax for ax in fig.axes
                if any(line.get_label().endswith("req/s") for line in ax.get_lines())]
        assert axes and all(ax.get_ylim()[0] == 0 for ax in axes)
