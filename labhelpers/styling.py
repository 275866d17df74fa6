"""Status colours for tables in Jupyter, plain text everywhere else.

Every table labhelpers returns is a :class:`LabFrame`: a real ``pandas.DataFrame`` (filter,
sort, ``set_index`` and ``len`` work as usual and keep the colours) whose only difference is
``_repr_html_``: Jupyter renders it through a ``Styler`` that colours status words, while
``print(df)``, papermill logs and ``df.to_string()`` stay plain text. A subclass rather than a
pandas option, because an option would colour (or fail to colour) every other DataFrame of
the learner's session too.
"""

from __future__ import annotations

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


class LabFrame(pd.DataFrame):
    """A DataFrame that shows status colours in Jupyter (see the module docstring)."""

    @property
    def _constructor(self) -> type[LabFrame]:
        return LabFrame

    def _repr_html_(self) -> str | None:
        try:
            styler = self.style.map(cell_css)
            if len(self) > pd.get_option("display.max_rows"):
                return super()._repr_html_()  # a long table: pandas' own truncation
            return styler.to_html()
        except ImportError:  # Styler needs jinja2 (Jupyter has it; a bare install may not)
            return super()._repr_html_()


def lab_frame(df: pd.DataFrame) -> LabFrame:
    """``df`` as a LabFrame, keeping ``attrs`` (the kubectl command)."""
    out = LabFrame(df)
    out.attrs.update(df.attrs)
    return out
