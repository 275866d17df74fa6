"""Status colours for tables in Jupyter, plain text everywhere else.

Every table labhelpers returns is a :class:`LabFrame`: a real ``pandas.DataFrame`` (filter,
sort, ``set_index`` and ``len`` work as usual and keep the colours) whose only difference is
``_repr_html_``: Jupyter renders it through a ``Styler`` that colours status words, while
``print(df)``, papermill logs and ``df.to_string()`` stay plain text. A subclass rather than a
pandas option, because an option would colour (or fail to colour) every other DataFrame of
the learner's session too.

The HTML escapes every cell and header: a Styler does not (``<redacted: 21 bytes>`` would be
an unknown tag, shown as an empty cell). Numbers are shown short (``7``, not pandas Styler's
``7.000000``); a table may set ``df.attrs["formats"] = {column: "{:.0f}", ...}`` for its own
columns, and ``df.attrs["nowrap"] = [column, ...]`` for names that must stay on one line
(a pod name broken at its hyphens reads as two names). Text columns are left-aligned,
numbers right-aligned. A default 0..n-1 index is
hidden, as ``kubectl get`` shows no row numbers and the column costs width.
"""

from __future__ import annotations

import html
import math
import numbers
import re
from typing import Any

import pandas as pd

GREEN = "#c8f7c5"
AMBER = "#ffe8a3"
RED = "#ffc4c4"

#: Words (whole cell values) and the colour they get.
WORDS: dict[str, str] = {
    **dict.fromkeys(("Running", "Ready", "True", "Bound", "Available", "Normal", "✅",
                     "Succeeded", "Completed", "ok", "created", "repaired"), GREEN),
    **dict.fromkeys(("Pending", "ContainerCreating", "PodInitializing", "Terminating",
                     "NotReady", "Unknown", "Released", "False"), AMBER),
    **dict.fromkeys(("CrashLoopBackOff", "Error", "OOMKilled", "ImagePullBackOff",
                     "ErrImagePull", "InvalidImageName", "CreateContainerConfigError",
                     "CreateContainerError", "RunContainerError", "StartError", "Failed",
                     "Lost", "Evicted", "Warning", "❌"), RED),
}
_FRACTION = re.compile(r"^(\d+)/(\d+)$")


def colour(value: Any) -> str:
    """The background colour of one cell ("" for none): status words, ``Init:...``
    (amber, red when an init container failed), and READY fractions (``2/2`` green,
    ``0/1`` red, ``1/2`` amber)."""
    if not isinstance(value, str):
        return ""
    if value in WORDS:
        return WORDS[value]
    if value.startswith("Init:"):
        rest = value[5:]
        return RED if rest in WORDS and WORDS[rest] == RED else AMBER
    m = _FRACTION.match(value)
    if m:
        ready, total = int(m[1]), int(m[2])
        if total == 0:
            return ""
        return GREEN if ready == total else RED if ready == 0 else AMBER
    return ""


def cell_css(value: Any) -> str:
    c = colour(value)
    return f"background-color: {c}; color: #000" if c else ""


#: What a missing number (NaN, None: no limit set, no metrics yet) shows as.
NA = "—"


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (
        isinstance(value, float) and math.isnan(value))


def cell_text(value: Any, fmt: str | None = None) -> str:
    """One cell as escaped HTML text: ``fmt`` (a ``str.format`` pattern) for numbers when
    given, else whole floats without decimals and others with at most six significant
    digits. The result is always escaped, whatever the value's type (a list or an object's
    ``str`` may hold ``<``)."""
    if _missing(value):
        text = NA
    elif isinstance(value, numbers.Real) and not isinstance(value, bool) and fmt:
        text = fmt.format(value)
    elif isinstance(value, float):
        text = f"{value:.0f}" if value.is_integer() and abs(value) < 1e15 else f"{value:.6g}"
    else:
        text = str(value)
    return html.escape(text)


class LabFrame(pd.DataFrame):
    """A DataFrame that shows status colours in Jupyter (see the module docstring)."""

    @property
    def _constructor(self) -> type[LabFrame]:
        return LabFrame

    def _repr_html_(self) -> str | None:
        if len(self) > pd.get_option("display.max_rows"):
            return super()._repr_html_()  # a long table: pandas' own truncation (escaped)
        try:
            return self._styler().to_html()
        except ImportError:  # Styler needs jinja2 (Jupyter has it; a bare install may not)
            return super()._repr_html_()
        except (KeyError, ValueError):  # Styler refuses non-unique labels; to_html escapes
            return super()._repr_html_()

    def _styler(self) -> Any:
        """Colours, escaped short text in every cell and header, no default index."""
        formats: dict[Any, str] = dict(self.attrs.get("formats") or {})
        styler = self.style.map(cell_css).format(cell_text)
        for column, fmt in formats.items():
            if column in self.columns:
                styler = styler.format(lambda v, fmt=fmt: cell_text(v, fmt), subset=[column])
        styler = styler.format_index(cell_text, axis=0).format_index(cell_text, axis=1)
        if self.columns.is_unique:
            nowrap = set(self.attrs.get("nowrap") or ())
            props = {c: ("text-align: left" if not pd.api.types.is_numeric_dtype(self[c]) else "")
                     + ("; white-space: nowrap" if c in nowrap else "") for c in self.columns}
            styler = styler.set_table_styles(
                {c: [{"selector": "", "props": p.strip("; ")}] for c, p in props.items() if p},
                overwrite=False)
        if isinstance(self.index, pd.RangeIndex) and self.index.start == 0 \
                and self.index.step == 1:
            styler = styler.hide(axis="index")
        return styler


def lab_frame(df: pd.DataFrame) -> LabFrame:
    """``df`` as a LabFrame, keeping ``attrs`` (the kubectl command)."""
    out = LabFrame(df)
    out.attrs.update(df.attrs)
    return out
