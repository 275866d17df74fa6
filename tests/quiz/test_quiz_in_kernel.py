"""The quiz cell as nbval sees it: executed in a real kernel, its text/plain outputs must be
the same on every run (else `--nbval-lax` on a tagged cell, or a diff of executed
notebooks, flips), and headless it must emit no widget at all."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

WIDGET = "application/vnd.jupyter.widget-view+json"


def outputs(cell: nbformat.NotebookNode) -> list[dict]:
    return [dict(o) for o in cell.get("outputs", [])]


def plain(cell: nbformat.NotebookNode) -> list[str]:
    """What nbval compares: stream text and text/plain of results and displays."""
    out = []
    for o in cell.outputs:
        if o.output_type == "stream":
            out.append(o.text)
        elif "data" in o:
            out.append(o.data.get("text/plain", ""))
    return out


def test_quiz_outputs_are_stable_and_headless_has_no_widgets(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    setup = ("import os\nos.environ.pop('LAB_HEADLESS', None)\n"
             f"os.environ['LAB_RESULTS_DIR'] = {str(tmp_path / 'results')!r}\n"
             "import labhelpers.quiz")
    widget = "labhelpers.quiz.quiz('discovery', learner='kim')"
    later = ("os.environ.pop('LAB_HEADLESS', None)\n"
             "r = labhelpers.quiz.quiz('discovery', learner='kim')\n"
             "r.ui.inputs['fqdn'].value = 'postgres.ecommerce-lab.svc.cluster.local'\n"
             "r.ui.on_check();")
    headless = "os.environ['LAB_HEADLESS'] = '1'\nlabhelpers.quiz.quiz('discovery', learner='kim')"
    graded = ("labhelpers.quiz.quiz('discovery', answers={'fqdn': "
              "'postgres.ecommerce-lab.svc.cluster.local'}, learner='kim')")
    nb.cells = [nbformat.v4.new_code_cell(s)
                for s in (setup, widget, widget, headless, headless, graded, graded, later, "r")]
    env = {k: v for k, v in os.environ.items() if k != "LAB_HEADLESS"}
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute(env=env)
    c = nb.cells
    # interactive: the widgets and nothing else (a "not graded" repr under them would
    # stay there after Check); the same text both times
    assert [WIDGET in o.get("data", {}) for o in outputs(c[1])] == [True]
    assert plain(c[1]) == plain(c[2])
    assert not any("QuizResult" in t for t in plain(c[1]))
    # the result shown in a later cell is its state then (checked once, 1 right)
    assert [o for o in outputs(c[7]) if WIDGET not in o.get("data", {})] == []
    assert plain(c[8]) == ["QuizResult(discovery: 1/7)"]
    # headless: text only, stable, no widget mimetype anywhere
    for cell in c[3:7]:
        assert not any(WIDGET in o.get("data", {}) for o in outputs(cell))
        assert not any(o.get("output_type") == "error" for o in outputs(cell))
    assert plain(c[3]) == plain(c[4]) and "1. [fqdn]" in plain(c[3])[0]
    assert plain(c[5]) == plain(c[6])
    assert plain(c[5])[-1] == "QuizResult(discovery: 1/7)"
    assert (tmp_path / "results" / "kim.json").exists()
