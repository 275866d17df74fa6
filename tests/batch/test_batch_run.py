"""labcourse.batch on a tiny course made in a temp folder (no cluster needed): two
learners, one of whose runs fails, quiz answers from files; and its bad-input errors."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import nbformat
import pytest

from labcourse import batch, runner
from labhelpers import quiz

PARAMS = '''namespace = "ecommerce-lab"
cluster = "auto"
fast = False
show_kubectl = True
quiz_answers = None
learner = None
cleanup_at_end = False'''

CHECKS = '''import labhelpers.results, labhelpers.quiz
import pandas as pd
ok = namespace != "lab-broken"
table = pd.DataFrame([
    {"criterion": "fast mode", "ok": "✅" if fast else "❌", "evidence": str(fast), "hint": ""},
    {"criterion": "namespace", "ok": "✅" if ok else "❌", "evidence": namespace, "hint": ""},
])
labhelpers.results.record("deploy", "checks", table, learner=learner)
labhelpers.quiz.quiz("deploy", answers=quiz_answers, learner=learner)'''

FAIL = '''assert namespace != "lab-broken", f"the storefront in {namespace} is not ready"'''


def make_notebook(path: Path, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# 1. Tiny")]
    param = nbformat.v4.new_code_cell(PARAMS)
    param.metadata["tags"] = ["parameters"]
    nb.cells.append(param)
    nb.cells += [nbformat.v4.new_code_cell(src) for src in cells]
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("course")
    # One notebook keeps this fast (each papermill run starts a kernel): it records checks
    # and the quiz, then fails for the learner whose lab is "broken".
    make_notebook(folder / "01-tiny.ipynb", [CHECKS, FAIL])
    return folder


@pytest.fixture(scope="module")
def class_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("class") / "class.csv"
    path.write_text("learner,namespace\nada,lab-ada\nbob,lab-broken\n")
    return path


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("answers")
    # a letter means the choice as ada sees it (choices are shuffled per learner)
    deploy = quiz.load("deploy")
    (q,) = [q for q in deploy.questions if q.id == "backend-service"]
    letter = "abcdefgh"[quiz.choice_order("deploy", q, "ada").index(q.answer[0])]
    (folder / "ada.yaml").write_text(
        f"deploy:\n  pod-count: '7'\n  backend-service: {letter}\n  frontend-port: '3000'\n")
    return folder


@pytest.fixture(scope="module")
def report(course: Path, class_csv: Path, answers: Path,
           tmp_path_factory: pytest.TempPathFactory) -> batch.Report:
    out = tmp_path_factory.mktemp("reports") / "class-report"
    return batch.run_batch(class_csv, notebooks=str(course / "*.ipynb"), out=out,
                           answers=answers, parallel=2, timeout=900,
                           check_cluster=False)


def test_per_learner_table(report: batch.Report) -> None:
    t = report.table.set_index("learner")
    assert list(t.index) == ["ada", "bob"]
    assert t.loc["ada", "status"] == "ok" and t.loc["ada", "notebooks_ok"] == 1
    assert t.loc["bob", "status"] == "failed" and t.loc["bob", "notebooks_ok"] == 0
    assert t.loc["bob", "failed_notebook"] == "01-tiny"
    assert t.loc["bob", "error"] == "AssertionError: the storefront in lab-broken is not ready"
    # ada: 2 of 3 quiz answers right (frontend port is 80), of the deploy quiz's 7
    assert (t.loc["ada", "quiz_score"], t.loc["ada", "quiz_total"]) == (2, 7)
    assert t.loc["ada", "quiz:deploy"] == "2/7"
    # bob had no answers file: quiz shown as text, nothing graded
    assert t.loc["bob", "quiz_total"] == 0
    # -p defaults: the batch runs with fast=True, so the 'fast mode' criterion passes
    assert (t.loc["ada", "checks_passed"], t.loc["ada", "checks_total"]) == (2, 2)
    assert (t.loc["bob", "checks_passed"], t.loc["bob", "checks_total"]) == (1, 2)


def test_runs_table_and_executed_notebooks(report: batch.Report) -> None:
    runs = report.runs
    assert len(runs) == 2
    bad = runs[~runs["ok"]]
    assert list(bad["learner"]) == ["bob"] and list(bad["notebook"]) == ["01-tiny"]
    bob = nbformat.read(report.out / bad["output"].iloc[0], as_version=4)
    assert bob.cells[int(bad["cell"].iloc[0])].source == FAIL  # the failing cell itself
    for rel in runs["output"]:
        executed = nbformat.read(report.out / rel, as_version=4)
        injected = [c for c in executed.cells
                    if "injected-parameters" in c.metadata.get("tags", [])]
        assert injected, rel
    ada = nbformat.read(report.out / "notebooks/ada/01-tiny.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in ada.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))
    assert "Score: 2/7" in text
    assert "application/vnd.jupyter.widget-view+json" not in json.dumps(ada)


def test_csv_html_and_chart(report: batch.Report) -> None:
    import pandas as pd

    csv_table = pd.read_csv(report.files["csv"])
    assert list(csv_table["learner"]) == ["ada", "bob"]
    assert list(csv_table["status"]) == ["ok", "failed"]
    page = report.files["html"].read_text()
    assert page.startswith("<!doctype html>") and "data:image/png;base64," in page
    assert "<td>ada</td>" in page and "the storefront in lab-broken is not ready" in page
    assert "href='notebooks/bob/01-tiny.ipynb'" in page
    assert report.files["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    questions = pd.read_csv(report.files["questions_csv"]).set_index("question")
    assert questions.loc["backend-service", "right"] == 1  # ada only: bob was not graded
    assert questions.loc["frontend-port", "right"] == 0
    assert questions.loc["frontend-port", "graded"] == 1
    assert "<td>frontend-port</td>" in page
    results = json.loads((report.out / "results" / "ada.json").read_text())
    assert results["sections"]["deploy"]["quiz"]["score"] == 2
    assert not report.ok
    leftovers = [p.name for p in report.out.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []  # the staging folder became the report


def test_summary_adds_up_several_notebooks() -> None:
    """Aggregation over several notebooks and sections, without running any."""
    learners = [batch.Learner("ada", "lab-ada"), batch.Learner("cy", "lab-cy")]
    runs = [batch.Run("ada", "lab-ada", "01-preflight", True, 2.0),
            batch.Run("ada", "lab-ada", "02-deploy", False, 3.5, 7, "TierNotReady: backend"),
            batch.Run("ada", "lab-ada", "03-discovery", True, 1.0),
            batch.Run("cy", "lab-cy", "01-preflight", True, 1.0)]
    recorded = {"ada": {"sections": {
        "preflight": {"checks": {"passed": 3, "total": 4}, "quiz": {"score": 5, "total": 6}},
        "deploy": {"checks": {"passed": 1, "total": 9}},
        "discovery": {"quiz": {"score": 2, "total": 7}}}}}
    table, run_df = batch.summarise(learners, runs, recorded)
    ada, cy = table.to_dict("records")
    assert (ada["notebooks_ok"], ada["notebooks"], ada["failed_notebook"]) == (2, 3, "02-deploy")
    assert ada["error"] == "TierNotReady: backend" and ada["seconds"] == 6.5
    assert (ada["checks_passed"], ada["checks_total"]) == (4, 13)
    assert (ada["quiz_score"], ada["quiz_total"], ada["quiz_pct"]) == (7, 13, 53.8)
    assert (ada["quiz:preflight"], ada["quiz:discovery"]) == ("5/6", "2/7")
    assert cy["status"] == "ok" and cy["quiz_total"] == 0 and cy["checks_total"] == 0
    assert len(run_df) == 4
    assert batch.chart_png(table)[:4] == b"\x89PNG"


def test_a_challenge_the_solution_passed_is_never_the_learners() -> None:
    """Break & fix as labhelpers.breakfix records it: solved by the learner, passed only
    because the run applied the solution, not solved — three columns and a line in the
    page, and the solution's pass is not in the learner's count."""
    learners = [batch.Learner(n, f"lab-{n}") for n in ("ada", "bob", "cy", "dee", "eve")]
    runs = [batch.Run(w.learner, w.namespace, "08-break-and-fix", True, 1.0) for w in learners]

    def challenge(solved: bool, by: str | None) -> dict:
        return {"sections": {"breakfix": {"challenge": {
            "scenario": "combined", "solved": solved, "solved_by": by},
            "checks": {"passed": 3, "total": 3}}}}
    recorded = {"ada": challenge(True, "learner"), "bob": challenge(True, "solution"),
                "cy": challenge(False, None),
                "dee": challenge(True, None),  # no valid solved_by: not credited
                "eve": {"sections": {}}}
    table, run_df = batch.summarise(learners, runs, recorded)
    rows = table.set_index("learner")
    assert rows.loc["ada", "challenge"] == "breakfix: solved by the learner"
    assert rows.loc["bob", "challenge"] == "breakfix: solution applied (not the learner's)"
    assert rows.loc["cy", "challenge"] == rows.loc["dee", "challenge"] == "breakfix: not solved"
    assert rows.loc["eve", "challenge"] == ""
    assert list(rows["challenges_by_learner"]) == [1, 0, 0, 0, 0]
    assert list(rows["challenges_by_solution"]) == [0, 1, 0, 0, 0]
    assert list(rows["challenges_unsolved"]) == [0, 0, 1, 1, 0]
    page = batch.render_html(table, run_df, batch.chart_png(table), "t")
    assert ("Break &amp; fix challenges: <b>1 solved by the learner</b>; 1 passed only "
            "because the run applied the solution") in page
    assert "2 not solved" in page


def test_question_table_in_course_order() -> None:
    recorded = {
        "ada": {"sections": {"discovery": {"quiz": {"per_question": {"fqdn": True,
                                                                     "cart-url": False}}},
                             "preflight": {"quiz": {"per_question": {"pods": True}}}}},
        "bob": {"sections": {"discovery": {"quiz": {"per_question": {"fqdn": False}}}}},
        "cy": {"sections": {"discovery": {"checks": {"passed": 1, "total": 1}}}},
    }
    t = batch.question_table(recorded)
    assert list(zip(t["section"], t["question"], strict=True)) == [
        ("preflight", "pods"), ("discovery", "fqdn"), ("discovery", "cart-url")]
    fqdn = t[t["question"] == "fqdn"].iloc[0]
    assert (fqdn["right"], fqdn["graded"], fqdn["pct_right"]) == (1, 2, 50.0)


def test_cli_exit_code_and_refuses_to_overwrite(course: Path, class_csv: Path,
                                                report: batch.Report,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code = batch.main(["--learners", str(class_csv), "--notebooks", str(course / "01-*"),
                       "--out", str(report.out)])
    assert code == 2
    assert "not empty" in capsys.readouterr().err
    assert (report.out / "report.html").exists()  # the earlier report is untouched


def test_stopping_a_run_stops_what_its_kernel_started(tmp_path: Path) -> None:
    """An interrupted or timed-out run must not leave processes behind. ipykernel exits
    with its parent, but what a cell started (a port-forward, a load generator) would
    not: the batch kills the run's whole process tree."""
    import os
    import signal
    import threading
    import time

    pid_file = tmp_path / "child.pid"
    nb = make_notebook(tmp_path / "01-sleepy.ipynb", [
        "import subprocess, time\n"
        "child = subprocess.Popen(['sleep', '600'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(600)"])
    outcome: list[tuple] = []
    env = {**os.environ, "LAB_HEADLESS": "1", "LAB_RESULTS_DIR": str(tmp_path / "r")}
    worker = threading.Thread(daemon=True, target=lambda: outcome.append(runner.run_notebook(
        nb, tmp_path / "out.ipynb", {}, env, timeout=900)))
    worker.start()
    deadline = time.monotonic() + 300
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.2)
    child = int(pid_file.read_text())
    try:
        runner.stop_running()
        worker.join(60)  # without the tree kill, `sleep` keeps papermill's log open
        assert not worker.is_alive() and outcome and outcome[0].ok is False
        for _ in range(50):
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"process {child} started by the notebook still runs")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)  # ours (the test's notebook started it)
