"""Two matplotlib charts: resource use against requests and limits (``plot_top``), and each
pod's life (``plot_timeline``).

Figures are built with ``matplotlib.figure.Figure`` — not pyplot — so a cell that returns
one shows it exactly once, nothing piles up in pyplot's global state across a long notebook,
and no GUI backend is needed headless. :class:`LabFigure` renders itself as PNG for Jupyter
even where no inline backend registered a formatter (papermill, a bare kernel).
"""

from __future__ import annotations

import datetime as dt
import io

import pandas as pd
from matplotlib import dates as mdates
from matplotlib.figure import Figure

#: what → (marker, colour) on the timeline.
MARKERS = {
    "created": ("|", "#555555"), "scheduled": ("|", "#1f77b4"), "started": (">", "#2ca02c"),
    "ready": ("o", "#2ca02c"), "terminated": ("x", "#d62728"), "Killing": ("X", "#000000"),
    "BackOff": ("s", "#ff7f0e"), "Unhealthy": (".", "#ff7f0e"), "OOMKilling": ("v", "#d62728"),
    "Failed": ("x", "#d62728"), "Evicted": ("v", "#d62728"), "last seen": ("|", "#999999"),
    "deleted": ("|", "#000000"),
}


class LabFigure(Figure):
    """A Figure that shows itself as PNG in Jupyter without pyplot."""

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", bbox_inches="tight")
        return buf.getvalue()


def _message_figure(text: str) -> LabFigure:
    fig = LabFigure(figsize=(8, 1.5))
    fig.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    return fig


# ------------------------------------------------------------------ top
#: (column, colour, legend) of the two bars each container gets per panel.
_TOP_BARS = (("% req", "#1f77b4", "% of request"), ("% lim", "#d62728", "% of limit"))


def _pct_label(value: float) -> str:
    return f"{value:.1f}%" if value < 10 else f"{value:.0f}%"


def plot_top(df: pd.DataFrame) -> LabFigure:
    """CPU and memory panels: per container, its use as a percentage of its request (blue)
    and of its limit (red), each bar labelled with its number, and a dashed line at 100 %.

    Percentages and not millicores: a container using 7m of a 1000m limit is a bar no one
    can see on a 0–1000 axis, while "3.5 % of request, 0.7 % of limit" is the comparison
    the learner is asked to make (a red bar reaching 100 % is throttled or OOMKilled). Draw
    the table you show (``lab.plot_top(table)``) so the two are the same sample."""
    if df.empty:
        return _message_figure(df.attrs.get("error", "no pods with metrics to plot"))
    labels = [p if (df["pod"] == p).sum() == 1 else f"{p}/{c}"
              for p, c in zip(df["pod"], df["container"], strict=True)]
    fig = LabFigure(figsize=(11, 0.6 * len(df) + 1.8))
    axes = fig.subplots(1, 2, sharey=True)
    ys = list(range(len(df)))
    height = 0.38
    for ax, (kind, use, unit, title) in zip(
            axes, (("cpu", "cpu m", "m", "CPU"), ("mem", "mem Mi", "Mi", "memory")), strict=True):
        pcts = [df[f"{kind} {col}"] for col, _, _ in _TOP_BARS]
        top = max([100.0] + [v for s in pcts for v in s.dropna()])
        for n, ((_, colour, legend), values) in enumerate(zip(_TOP_BARS, pcts, strict=True)):
            offs = [y + (n - 0.5) * height for y in ys]
            ax.barh(offs, values.fillna(0), height=height, color=colour, label=legend)
            for y, v, used in zip(offs, values, df[use], strict=True):
                if pd.isna(used):
                    text = "no metrics yet"
                elif pd.isna(v):
                    text = "no request" if n == 0 else "no limit"
                else:
                    text = _pct_label(v) + (f" ({used:.0f}{unit})" if n == 0 else "")
                ax.annotate(text, (0 if pd.isna(v) else v, y), xytext=(3, 0),
                            textcoords="offset points", va="center", fontsize="x-small")
        ax.axvline(100, color="black", linestyle="--", linewidth=1)
        ax.set_xlim(0, top * 1.25)  # room for the labels right of the longest bar
        ax.set_title(f"{title}: use as % of request and of limit")
        ax.set_xlabel("% (100 = the request, or the limit)")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(ys, labels)
    axes[0].invert_yaxis()
    axes[1].legend(loc="lower right", fontsize="small")
    fig.suptitle("kubectl top pods vs requests and limits")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ timeline
def _row_labels(df: pd.DataFrame) -> dict[str, str]:
    """uid → the y-axis label: the pod name, with (deleted) for gone incarnations."""
    labels = {}
    for uid, g in df.groupby("uid", sort=False):
        name = g["pod"].iloc[0]
        labels[uid] = f"{name} (deleted)" if g["deleted"].any() else name
    return labels


def plot_timeline(df: pd.DataFrame, now: dt.datetime | None = None) -> LabFigure:
    """Each pod (incarnation) a horizontal bar from created to now (or its last event when
    deleted): grey while starting, green from its start; markers for ready, terminations
    (with the reason, e.g. OOMKilled), kills and back-offs."""
    if df.empty:
        return _message_figure("no pods or pod events in this namespace yet")
    now = now or dt.datetime.now(dt.UTC)
    labels = _row_labels(df)
    order = sorted(labels, key=lambda u: df.loc[df["uid"] == u, "time"].min())
    fig = LabFigure(figsize=(11, 0.5 * len(order) + 1.8))
    ax = fig.subplots()
    for y, uid in enumerate(order):
        g = df[df["uid"] == uid]
        times = dict(zip(g["what"], g["time"], strict=False))
        start = g["time"].min()
        end = g["time"].max() if g["deleted"].any() else now
        run = times.get("started")
        colour = "#bbbbbb" if g["deleted"].any() else "#98df8a"
        if run is not None:
            ax.barh(y, mdates.date2num(run) - mdates.date2num(start),
                    left=mdates.date2num(start), color="#dddddd", height=0.5)
            ax.barh(y, mdates.date2num(end) - mdates.date2num(run),
                    left=mdates.date2num(run), color=colour, height=0.5)
        else:
            ax.barh(y, mdates.date2num(end) - mdates.date2num(start),
                    left=mdates.date2num(start), color="#dddddd", height=0.5,
                    hatch="//" if g["deleted"].any() else None)
        for r in g.itertuples():
            marker, c = MARKERS.get(r.what, ("d", "#9467bd"))
            ax.scatter(mdates.date2num(r.time), y, marker=marker, color=c, s=80, zorder=3)
            if r.what in ("terminated", "OOMKilling", "Killing") and r.detail:
                reason = r.detail.split(":", 1)[1].split("(")[0].strip() \
                    if r.what == "terminated" else r.what
                ax.annotate(reason, (mdates.date2num(r.time), y), xytext=(4, 6),
                            textcoords="offset points", fontsize="x-small", color=c)
    ax.set_yticks(range(len(order)), [labels[u] for u in order])
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
    handles = [ax.scatter([], [], marker=m, color=c, label=w) for w, (m, c) in MARKERS.items()
               if w in set(df["what"])]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    ax.set_xlabel("time (UTC)")
    ax.set_title("pod lifecycles: created → started → ready; restarts and kills")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig
