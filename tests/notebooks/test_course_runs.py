"""The course really runs headlessly on labcluster: (a) every notebook under nbval
(``--nbval-lax``: cells tagged ``nbval-check-output`` are compared after sanitize.cfg), and
(b) the whole course through the runner with other parameters, graded and recorded — run
from the built wheel, installed in a venv of its own (test_installed_package.py).

Both run in subprocesses against the session's cluster: nbval and papermill start kernels
anyway, and a subprocess shows its own report (which notebook, which cell) on failure.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import golden
import pytest
from conftest import NOTEBOOKS, ROOT, reset_namespaces

from labcourse import runner
from labhelpers import quiz
from labhelpers import results as lab_results

SANITIZE = Path(__file__).with_name("sanitize.cfg")
# Seconds for a whole course: ~4 min on 2 quiet cores, but several times that when the
# machine is shared; a safety net, not a measure (the runner prints the real time).
COURSE_TIMEOUT = 2400


def tail(text: str, n: int = 12000) -> str:
    return text if len(text) <= n else "…" + text[-n:]


def run_logged(cmd: list[str], env: dict[str, str], log: Path) -> tuple[int | None, str]:
    """Run ``cmd`` with its output in ``log``; on timeout interrupt it (SIGINT: nbval and
    papermill shut their kernels down) and return None with what it printed so far."""
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                text=True)
        try:
            rc: int | None = proc.wait(timeout=COURSE_TIMEOUT - 60)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            rc = None
    return rc, log.read_text(errors="replace")


def correct_answers(sections: list[str]) -> dict[str, dict]:
    """A learner file's worth of right answers, from the quiz files themselves."""
    out: dict[str, dict] = {}
    for section in sections:
        q = quiz.load(section)
        out[section] = {x.id: (list(x.answer) if x.type == "multiple" else x.answer[0])
                        for x in q.questions}
    return out


def sections_of(paths: list[Path]) -> list[str]:
    import re

    found = []
    for path in paths:
        text = path.read_text()
        m = re.search(r'labhelpers\.quiz\.quiz\(\\"([a-z]+)\\"', text)
        assert m, f"{path.name}: no quiz cell"
        found.append(m.group(1))
    return found


def test_stable_cells_have_current_expected_outputs():
    absent = golden.stale(runner.course_notebooks(NOTEBOOKS), golden.load_expected())
    assert absent == [], (f"cells tagged nbval-check-output without (current) expected "
                          f"outputs: {absent}; refresh them: see tests/notebooks/golden.py")


@pytest.mark.timeout(COURSE_TIMEOUT)
def test_every_notebook_passes_nbval(course_env, work_dir):
    notebooks = runner.course_notebooks(NOTEBOOKS)
    copies = golden.with_expected(notebooks, work_dir / "notebooks", golden.load_expected())
    reset_namespaces(course_env["KUBECONFIG"])
    cmd = [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env",
           f"--nbval-sanitize-with={SANITIZE}", "-p", "no:cacheprovider", "-q",
           "-o", "addopts=", "--timeout=600", *map(str, copies)]
    rc, text = run_logged(cmd, course_env, work_dir / "nbval.log")
    assert rc == 0, (f"nbval failed (exit {rc}, None = timed out); its report names the "
                     f"notebook and cell:\n{tail(text)}")
    assert " passed" in text and " failed" not in text, tail(text)
    # nbval runs notebook 8 as committed: apply_solution is False and nobody edits a ✏️
    # cell, so its challenge ran to the end and was recorded as NOT solved.
    recorded = [doc["sections"]["breakfix"]["challenge"]
                for doc in lab_results.load(course_env["LAB_RESULTS_DIR"]).values()
                if "challenge" in doc["sections"].get("breakfix", {})]
    assert recorded and all(not c["solved"] and c["solved_by"] is None for c in recorded), \
        recorded
