"""Notebook 9 runs headlessly with papermill (LAB_HEADLESS=1) against a temp labcluster,
grades its quiz from a parameter and records its checks; its file follows the course's
notebook conventions (no outputs committed, parameters cell, check/quiz/cleanup cells)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from labhelpers import quiz as quizmod
from labhelpers.styling import GREEN, RED

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "09-production-vs-lab.ipynb"
PARAMETER_NAMES = ["namespace", "cluster", "fast", "show_kubectl", "quiz_answers", "learner",
                   "cleanup_at_end"]


def right_answers() -> dict:
    """The production quiz answered from its own file (what a batch run passes)."""
    q = quizmod.load("production")
    return {x.id: (list(x.answer) if x.type == "multiple" else x.answer[0]) for x in q.questions}


@pytest.fixture(scope="module")
def executed(control_plane, tmp_path_factory) -> tuple[dict, Path]:
    home, kubeconfig = control_plane
    work = tmp_path_factory.mktemp("nb09")
    out, params = work / "09.ipynb", work / "params.yaml"
    # the control plane has no node (no pods): the live part needs the lab running, and
    # tests/labhelpers/test_labhelpers_lab_production.py tries it on the session's lab
    params.write_text(yaml.safe_dump({"quiz_answers": right_answers(), "learner": "nb09-test",
                                      "try_live": False,
                                      "fast": True}))
    env = {**os.environ, "LAB_HEADLESS": "1", "KUBECONFIG": str(kubeconfig),
           "LABCLUSTER_HOME": str(home), "LAB_RESULTS_DIR": str(work / "results")}
    run = subprocess.run(
        [sys.executable, "-m", "papermill", str(NOTEBOOK), str(out), "-f", str(params),
         "--cwd", str(NOTEBOOK.parent), "--kernel", "python3", "--no-progress-bar"],
        env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads(out.read_text()), work / "results"


def text_of(cell: dict) -> str:
    parts = []
    for o in cell.get("outputs", []):
        if o["output_type"] == "stream":
            parts.append("".join(o["text"]))
        elif "data" in o and "text/plain" in o["data"]:
            parts.append("".join(o["data"]["text/plain"]))
    return "".join(parts)


def test_committed_without_outputs_and_with_the_conventions():
    nb = json.loads(NOTEBOOK.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert nb["metadata"]["language_info"]["name"] == "python"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert nb["cells"][0]["source"][0].startswith("# 9. Production vs lab")
    params = code[0]
    assert params["metadata"]["tags"] == ["parameters"]
    names = [ln.split("=")[0].strip() for ln in "".join(params["source"]).splitlines()]
    assert names[: len(PARAMETER_NAMES)] == PARAMETER_NAMES
    sources = ["".join(c["source"]) for c in code]
    assert "labhelpers.connect(namespace, cluster, show_kubectl=show_kubectl)" in sources[1]
    assert 'labhelpers.results.record("production", "checks"' in sources[-3]
    assert sources[-2].startswith('labhelpers.quiz.quiz("production", answers=quiz_answers')
    assert sources[-1].startswith("if cleanup_at_end:")
    edits = [c for c in code if "learner-edit" in c["metadata"].get("tags", [])]
    assert edits and all("".join(c["source"]).startswith("# ✏️ edit me:") for c in edits)


def test_runs_headless_and_shows_real_diffs(executed):
    nb, _ = executed
    outputs = "\n".join(text_of(c) for c in nb["cells"] if c["cell_type"] == "code")
    assert "connected: kubeconfig cluster" in outputs
    assert "+  replicas: 3" in outputs  # the frontend's diff
    assert "+        runAsNonRoot: true" in outputs
    assert "readOnlyRootFilesystem: true" in outputs
    # the dry run as pasteable kubectl: the objects moved into the scratch namespace it made
    assert re.search(r"^\$ kubectl create namespace dryrun-production-\w+$", outputs, re.M)
    assert re.search(r"^\$ kubectl kustomize manifests/production \| sed 's/namespace: "
                     r"ecommerce-production\$/namespace: dryrun-production-\w+/' \| kubectl "
                     r"apply --server-side --dry-run=server -f -$", outputs, re.M), outputs
    assert "server dry run" in outputs


def test_records_checks_and_grades_the_quiz(executed):
    _, results_dir = executed
    record = json.loads((results_dir / "nb09-test.json").read_text())
    production = record["sections"]["production"] if "sections" in record else record["production"]
    checks = production["checks"]
    rows = checks["rows"] if isinstance(checks, dict) and "rows" in checks else checks
    assert len(rows) == 6 and all(r["ok"] == "✅" and r["hint"] == "" for r in rows), rows
    assert rows[1]["criterion"] == "every difference from lab is one of the listed changes"
    quiz = production["quiz"]
    assert quiz["score"] == quiz["total"] == len(right_answers())


def test_diffs_are_coloured_html(executed):
    """Each diff cell shows HTML with added lines green and removed lines red (the table
    colours of labhelpers.styling), and the same diff as text/plain."""
    nb, _ = executed
    shows = {"".join(c["source"]): c for c in nb["cells"] if c["cell_type"] == "code"}
    outputs = shows['result.show("resources")']["outputs"]
    (out,) = [o for o in outputs if "text/html" in o.get("data", {})]
    html, text = "".join(out["data"]["text/html"]), "".join(out["data"]["text/plain"])
    assert f'<div style="background-color: {GREEN}; color: #000">+            memory: 2Gi</div>' in html
    assert f'<div style="background-color: {RED}; color: #000">-            memory: 512Mi</div>' in html
    assert "+++ production/StatefulSet/postgres (container postgres-exporter)" in text


def test_printed_kubectl_lines_paste(executed, control_plane, tmp_path):
    """The notebook's ``$ kubectl …`` lines, run as pasted in a course folder against the
    cluster it ran on, exit as the notebook says (tests/notebooks/pasted_kubectl.py)."""
    import shutil

    sys.path.insert(0, str(ROOT / "tests" / "notebooks"))
    import pasted_kubectl

    nb, _ = executed
    path = tmp_path / NOTEBOOK.name
    path.write_text(json.dumps(nb))
    shutil.copytree(ROOT / "manifests", tmp_path / "course" / "manifests")
    env = {**os.environ, "KUBECONFIG": str(control_plane[1])}
    done, skipped = pasted_kubectl.replay([path], tmp_path / "course", env)
    lines = [r.printed.line for r in done]
    assert not skipped and len(lines) == 4, lines  # kustomize, create ns, dry run, delete ns
    problems = [str(r) for r in done if r.problem()]
    assert not problems, "\n".join(problems)
