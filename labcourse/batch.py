"""The instructor's batch run: the course's notebooks for every learner of a class, then
one report (a table, CSV, and an HTML page with a class summary chart).

    python -m labcourse.batch --learners class.csv [--notebooks GLOB] [--out DIR]
        [--cluster auto] [-p key value ...] [--parallel N] [--answers DIR]

Each notebook runs in its own ``papermill`` process (a dead kernel or a hung cell costs
one run, not the batch) with ``LAB_HEADLESS=1`` and ``LAB_RESULTS_DIR`` pointing into the
output, and the parameters of notebooks.md (namespace, learner, cluster, fast,
quiz_answers). What the notebooks recorded through ``labhelpers.results`` — checks, quiz
scores, break & fix challenges — is collected afterwards, so the report shows what the
learner's own cells established, not a re-check. A challenge that passed because the run
applied the solution (``-p apply_solution true``) is shown as such, in its own column and
count, never as solved by the learner.

Everything the run needs is validated before anything runs or is written; the run
happens in a staging folder renamed to ``--out`` only at the end, so a bad input or an
interrupted batch never leaves a half-written report.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import csv
import html
import io
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

import labcourse
from labcourse import runner
from labhelpers import quiz as quizzes
from labhelpers import results
from labhelpers.cluster import find_target, server_version
from labhelpers.errors import LabError

NOTEBOOKS_DIR = labcourse.NOTEBOOKS
NAMESPACE_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
#: How the report words a recorded challenge (results.challenge_status).
CHALLENGE_TEXT = {"learner": "solved by the learner",
                  "solution": "solution applied (not the learner's)",
                  "unsolved": "not solved"}
#: Parameters the batch sets per learner; ``-p`` may not override them.
PER_LEARNER = ("namespace", "learner", "quiz_answers")
SET_PER_LEARNER = "set per learner by the batch (from --learners / --answers), not on the command line"


class BatchError(LabError, ValueError):
    """Bad input to a batch run (the message says which file, line or argument)."""


@dataclass(frozen=True)
class Learner:
    learner: str
    namespace: str


@dataclass
class Run:
    """One notebook for one learner."""

    learner: str
    namespace: str
    notebook: str
    ok: bool = False
    seconds: float = 0.0
    cell: int | None = None  # index of the failing cell in the notebook
    error: str = ""
    output: str = ""  # executed notebook, relative to the report folder


@dataclass
class Report:
    out: Path
    table: Any  # pandas DataFrame: one row per learner
    runs: Any  # pandas DataFrame: one row per (learner, notebook)
    questions: Any = None  # pandas DataFrame: one row per graded quiz question
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(len(self.runs)) and bool(self.runs["ok"].all())


# ---------------------------------------------------------------- input

def read_learners(path: str | Path) -> list[Learner]:
    """The class list: CSV with a header ``learner,namespace``; every row checked."""
    path = Path(path)
    if not path.is_file():
        raise BatchError(f"--learners {path}: no such file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BatchError(f"--learners {path}: not UTF-8 text ({exc})") from exc
    rows = list(csv.reader(io.StringIO(text)))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise BatchError(f"--learners {path}: empty (expected a header 'learner,namespace')")
    header = [c.strip().lower() for c in rows[0]]
    if "learner" not in header or "namespace" not in header:
        raise BatchError(f"--learners {path}: the first line must be the header "
                         f"'learner,namespace', not {','.join(rows[0])!r}")
    li, ni = header.index("learner"), header.index("namespace")
    out: list[Learner] = []
    seen_l: dict[str, int] = {}
    seen_n: dict[str, int] = {}
    for lineno, row in enumerate(rows[1:], 2):
        if len(row) != len(header):
            raise BatchError(f"--learners {path} line {lineno}: {len(row)} fields, "
                             f"the header has {len(header)}")
        name, ns = row[li].strip(), row[ni].strip()
        try:
            results.check_learner(name)
        except results.ResultsError as exc:
            raise BatchError(f"--learners {path} line {lineno}: {exc}") from None
        if not NAMESPACE_RE.match(ns):
            raise BatchError(f"--learners {path} line {lineno}: namespace {ns!r} is not a "
                             "valid Kubernetes name (lower-case letters, digits, '-', max 63)")
        if name in seen_l:
            raise BatchError(f"--learners {path} line {lineno}: learner {name!r} already "
                             f"on line {seen_l[name]}")
        if ns in seen_n:
            raise BatchError(f"--learners {path} line {lineno}: namespace {ns!r} already used "
                             f"on line {seen_n[ns]} (two learners would share one lab)")
        seen_l[name], seen_n[ns] = lineno, lineno
        out.append(Learner(name, ns))
    if not out:
        raise BatchError(f"--learners {path}: no learners below the header")
    return out


def read_answers(folder: str | Path | None, learners: Sequence[Learner]) -> dict[str, dict]:
    """Each learner's quiz answers, ``<learner>.yaml|.yml|.json`` = {section: {id: answer}}.
    A choice is its text or the letter that learner sees (``python -m labhelpers.quiz
    template --learner <id>`` prints those letters): the notebooks run with ``learner``.

    Validated against the quiz files now, so a typo in question 3 of learner 20 fails the
    batch before it starts rather than costing that learner a point silently.
    """
    if folder is None:
        return {}
    folder = Path(folder)
    if not folder.is_dir():
        raise BatchError(f"--answers {folder}: no such folder")
    out: dict[str, dict] = {}
    for who in learners:
        files = [folder / f"{who.learner}{ext}" for ext in (".yaml", ".yml", ".json")]
        files = [f for f in files if f.is_file()]
        if not files:
            continue
        if len(files) > 1:
            raise BatchError(f"--answers: {who.learner} has several files: "
                             f"{', '.join(f.name for f in files)}")
        path = files[0]
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is YAML too
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise BatchError(f"--answers {path}: not valid YAML/JSON: {exc}") from exc
        if doc is None:
            continue
        if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
            raise BatchError(f"--answers {path}: expected {{section: {{question-id: answer}}}}")
        for section, answers in doc.items():
            try:
                quizzes.section_answers(quizzes.load(str(section)), answers)
            except quizzes.QuizError as exc:
                raise BatchError(f"--answers {path}: {exc}") from None
        out[who.learner] = doc
    known = {who.learner for who in learners}
    strays = sorted(p.stem for p in folder.iterdir()
                    if p.suffix in (".yaml", ".yml", ".json") and p.stem not in known)
    if strays:  # a misspelt learner id: say so, or their quiz silently goes ungraded
        print(f"batch: warning: --answers has files for learners not in the class list: "
              f"{', '.join(strays)}", file=sys.stderr)
    return out


# ---------------------------------------------------------------- running

def ensure_cluster(cluster: str) -> str:
    """Reach (or start) the cluster once, before any notebook runs.

    Parallel notebooks that each find no labcluster would each start one in the same
    home and race; and an unreachable cluster should fail the batch up front, with one
    clear error, not once per learner and notebook.
    """
    try:
        target = find_target(None, cluster)
        version = server_version(target.api)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise BatchError(f"--cluster {cluster}: cannot reach it: {type(exc).__name__}: "
                         f"{first}") from exc
    return f"{target.kind} cluster, context {target.context or '-'}, Kubernetes {version}"


def _run_learner(who: Learner, notebooks: list[Path], stage: Path, base: dict[str, Any],
                 answers: dict | None, env: dict[str, str], timeout: float,
                 kernel: str | None) -> list[Run]:
    runs = []
    folder = stage / "notebooks" / who.learner
    folder.mkdir(parents=True, exist_ok=True)
    params = {**base, "namespace": who.namespace, "learner": who.learner}
    if answers:
        params["quiz_answers"] = answers

    def record(done: runner.NotebookRun) -> None:
        error = done.failure.message if done.failure else ""
        runs.append(Run(who.learner, who.namespace, done.name, done.ok,
                        round(done.seconds, 1), done.failure.cell if done.failure else None,
                        error, str(done.output.relative_to(stage))))
        first = error.splitlines()[0] if error else ""
        print(f"  {who.learner} {done.name}: {'ok' if done.ok else 'FAILED ' + first}",
              flush=True)

    # in order (later notebooks build on earlier ones), and all of them: the report says
    # which of a learner's notebooks failed, not only the first
    runner.run_in_order(notebooks, lambda nb: folder / nb.name, params, env,
                        timeout=timeout, kernel=kernel, done=record, stop_at_failure=False)
    return runs


# ---------------------------------------------------------------- report

def summarise(learners: Sequence[Learner], runs: Sequence[Run],
              recorded: dict[str, dict]) -> tuple[Any, Any]:
    """(per-learner table, per-run table) from the runs and what the notebooks recorded."""
    import pandas as pd

    run_df = pd.DataFrame([asdict(r) for r in runs],
                          columns=list(Run.__dataclass_fields__))
    rows = []
    for who in learners:
        mine = [r for r in runs if r.learner == who.learner]
        failed = [r for r in mine if not r.ok]
        sections = (recorded.get(who.learner) or {}).get("sections", {})
        checks_passed = sum(int(s.get("checks", {}).get("passed", 0)) for s in sections.values())
        checks_total = sum(int(s.get("checks", {}).get("total", 0)) for s in sections.values())
        quiz = {name: s["quiz"] for name, s in sections.items() if "score" in s.get("quiz", {})}
        quiz_score = sum(int(q["score"]) for q in quiz.values())
        quiz_total = sum(int(q.get("total", 0)) for q in quiz.values())
        row: dict[str, Any] = {
            "learner": who.learner, "namespace": who.namespace,
            "status": "ok" if mine and not failed else "failed",
            "notebooks_ok": sum(r.ok for r in mine), "notebooks": len(mine),
            "failed_notebook": failed[0].notebook if failed else "",
            "error": (failed[0].error.splitlines() or [""])[0] if failed else "",
            "checks_passed": checks_passed, "checks_total": checks_total,
            "quiz_score": quiz_score, "quiz_total": quiz_total,
            "quiz_pct": round(100 * quiz_score / quiz_total, 1) if quiz_total else None,
            "seconds": round(sum(r.seconds for r in mine), 1),
        }
        challenges = {name: results.challenge_status(s.get("challenge"))
                      for name, s in sections.items() if s.get("challenge")}
        row["challenge"] = ", ".join(f"{name}: {CHALLENGE_TEXT[st]}"
                                     for name, st in sorted(challenges.items()))
        row["challenges_by_learner"] = sum(st == "learner" for st in challenges.values())
        row["challenges_by_solution"] = sum(st == "solution" for st in challenges.values())
        row["challenges_unsolved"] = sum(st == "unsolved" for st in challenges.values())
        for name in quizzes.SECTIONS:
            if name in quiz:
                row[f"quiz:{name}"] = f"{quiz[name]['score']}/{quiz[name].get('total', '?')}"
        rows.append(row)
    return pd.DataFrame(rows), run_df


def question_table(recorded: dict[str, dict]) -> Any:
    """Per quiz question: how many graded learners got it right — what to re-teach."""
    import pandas as pd

    counts: dict[tuple[str, str], list[int]] = {}
    for doc in recorded.values():
        for section, entry in (doc.get("sections") or {}).items():
            for qid, right in ((entry.get("quiz") or {}).get("per_question") or {}).items():
                c = counts.setdefault((section, qid), [0, 0])
                c[0] += bool(right)
                c[1] += 1
    order = {name: i for i, name in enumerate(quizzes.SECTIONS)}
    position: dict[tuple[str, str], int] = {}  # the quiz file's order, as learners saw it
    for sec in {sec for sec, _ in counts}:
        with contextlib.suppress(quizzes.QuizError):
            for i, question in enumerate(quizzes.load(sec).questions):
                position[(sec, question.id)] = i

    def key(item: tuple[tuple[str, str], list[int]]) -> tuple[int, str, int, str]:
        (sec, qid), _ = item
        return order.get(sec, 99), sec, position.get((sec, qid), 999), qid

    rows = [{"section": sec, "question": qid, "right": r, "graded": n,
             "pct_right": round(100 * r / n, 1)}
            for (sec, qid), (r, n) in sorted(counts.items(), key=key)]
    return pd.DataFrame(rows, columns=["section", "question", "right", "graded", "pct_right"])


def chart_png(table: Any) -> bytes:
    """Class summary: per learner, % notebooks passed, % checks passed, % quiz.

    A learner with nothing to score (no graded quiz) shows "n/a", not a 0 % bar, and is
    left out of that average: no answers is not the same as all wrong.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    def pct(a: Any, b: Any) -> list[float | None]:
        return [100 * x / y if y else None for x, y in zip(a, b, strict=True)]

    names = list(table["learner"])
    series = {
        "notebooks passed": pct(table["notebooks_ok"], table["notebooks"]),
        "checks passed": pct(table["checks_passed"], table["checks_total"]),
        "quiz score": pct(table["quiz_score"], table["quiz_total"]),
    }
    fig, ax = plt.subplots(figsize=(max(7.0, 0.9 * len(names) + 3), 4.2), dpi=100)
    width = 0.8 / len(series)
    for i, (label, values) in enumerate(series.items()):
        xs = [x + (i - 1) * width for x in range(len(names))]
        ax.bar(xs, [v or 0.0 for v in values], width, label=label)
        for x, v in zip(xs, values, strict=True):
            if v is None:
                ax.text(x, 1, "n/a", ha="center", va="bottom", fontsize=7, rotation=90)
    many = len(names) > 6
    ax.set_xticks(range(len(names)), names, rotation=30 if many else 0,
                  ha="right" if many else "center")
    ax.set_ylim(0, 105)
    ax.set_ylabel("%")

    def mean(values: list[float | None]) -> str:
        known = [v for v in values if v is not None]
        return f"{sum(known) / len(known):.0f}%" if known else "n/a"

    ax.set_title(f"Class summary ({len(names)} learners)\naverages: "
                 + ", ".join(f"{k} {mean(v)}" for k, v in series.items()), fontsize=9)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12 if not many else -0.25),
              ncol=3, frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def render_html(table: Any, runs: Any, png: bytes, title: str,
                questions: Any | None = None) -> str:
    def rows_html(df: Any, link_col: str | None = None) -> str:
        cols = list(df.columns)
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
        body = []
        for rec in df.to_dict("records"):
            cls = {"ok": "ok", "failed": "bad", True: "ok", False: "bad"}
            status = rec.get("status", rec.get("ok"))
            cells = []
            for c in cols:
                v = rec[c]
                text = "" if v is None or (isinstance(v, float) and v != v) else str(v)
                if c == link_col and text:
                    cells.append(f"<td><a href='{html.escape(text, quote=True)}'>"
                                 f"{html.escape(text)}</a></td>")
                else:
                    cells.append(f"<td>{html.escape(text)}</td>")
            body.append(f"<tr class='{cls.get(status, '')}'>{''.join(cells)}</tr>")
        return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"

    n = len(table)
    ok = int((table["status"] == "ok").sum()) if n else 0
    question_html = (rows_html(questions) if questions is not None and len(questions) else
                     "<p>No quiz was graded (give quiz answers with --answers).</p>")
    img = base64.b64encode(png).decode("ascii")
    if n and "challenge" in table.columns and (table["challenge"] != "").any():
        by = {k: int(table[f"challenges_{k}"].sum()) for k in ("by_learner", "by_solution",
                                                              "unsolved")}
        challenge_html = (f"<p>Break &amp; fix challenges: <b>{by['by_learner']} solved by the "
                          f"learner</b>; {by['by_solution']} passed only because the run applied "
                          f"the solution (apply_solution — not counted as solved); "
                          f"{by['unsolved']} not solved.</p>")
    else:
        challenge_html = ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em;}} table{{border-collapse:collapse;}}
td,th{{border:1px solid #ccc;padding:.25em .5em;font-size:90%;text-align:left;}}
tr.ok td:first-child{{border-left:4px solid #2a2;}} tr.bad td:first-child{{border-left:4px solid #c22;}}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{n} learners; {ok} ran every notebook without an error.</p>
{challenge_html}
<img alt="class summary chart" src="data:image/png;base64,{img}">
<h2>Learners</h2>
{rows_html(table)}
<h2>Runs</h2>
{rows_html(runs, link_col="output")}
<h2>Quiz questions (graded learners)</h2>
{question_html}
</body></html>
"""


def _write(path: Path, data: str | bytes) -> None:
    mode = "wb" if isinstance(data, bytes) else "w"
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as fh:
        fh.write(data)
    os.replace(tmp, path)


# ---------------------------------------------------------------- entry points

def _prepare_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise BatchError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise BatchError(f"--out {out}: not empty (a previous report?); choose another "
                         "folder or pass --force to replace it")
    if not out.parent.is_dir():
        raise BatchError(f"--out {out}: its parent folder {out.parent} does not exist")


def run_batch(learners_csv: str | Path, notebooks: str | None = None,
              out: str | Path = "batch-report", cluster: str = "auto",
              params: Sequence[Sequence[str]] | None = None, parallel: int = 1,
              answers: str | Path | None = None, timeout: float = 1800.0,
              kernel: str | None = None, force: bool = False,
              notebooks_dir: Path = NOTEBOOKS_DIR, check_cluster: bool = True) -> Report:
    """Validate everything, run every learner's notebooks, write the report; see module doc."""
    class_list = read_learners(learners_csv)
    try:
        books = runner.find_notebooks(notebooks, notebooks_dir)
        base = {"cluster": cluster, "fast": True,
                **runner.parse_parameters(params, {k: SET_PER_LEARNER for k in PER_LEARNER})}
    except runner.CourseError as exc:
        raise BatchError(str(exc)) from None
    answer_docs = read_answers(answers, class_list)
    if parallel < 1:
        raise BatchError(f"--parallel {parallel}: must be at least 1")
    out = Path(out).resolve()
    _prepare_out(out, force)
    if check_cluster:
        print(f"batch: {ensure_cluster(cluster)}", flush=True)

    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        env = {**os.environ, "LAB_HEADLESS": "1", "MPLBACKEND": "Agg",
               "LAB_RESULTS_DIR": str(stage / "results")}
        print(f"batch: {len(class_list)} learners × {len(books)} notebooks, "
              f"parallel {parallel}", flush=True)
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            futures = [pool.submit(_run_learner, who, books, stage, base,
                                   answer_docs.get(who.learner), env, timeout, kernel)
                       for who in class_list]
            runs = [r for f in futures for r in f.result()]
        recorded = results.load(stage / "results")
        table, run_df = summarise(class_list, runs, recorded)
        questions = question_table(recorded)
        png = chart_png(table)
        title = f"Course batch report — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        files = {"csv": stage / "report.csv", "runs_csv": stage / "runs.csv",
                 "questions_csv": stage / "questions.csv",
                 "html": stage / "report.html", "png": stage / "summary.png"}
        _write(files["csv"], table.to_csv(index=False))
        _write(files["runs_csv"], run_df.to_csv(index=False))
        _write(files["questions_csv"], questions.to_csv(index=False))
        _write(files["png"], png)
        _write(files["html"], render_html(table, run_df, png, title, questions))
        if out.exists():
            shutil.rmtree(out)
        os.replace(stage, out)
    except BaseException:
        runner.stop_running()  # Ctrl-C: the runs' own sessions do not get the terminal's signal
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return Report(out=out, table=table, runs=run_df, questions=questions,
                  files={k: out / v.name for k, v in files.items()})


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m labcourse.batch", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--learners", required=True, help="CSV with header learner,namespace")
    ap.add_argument("--notebooks", default=None,
                    help="number(s), name(s), glob or path, comma-separated (default: all of notebooks/)")
    ap.add_argument("--out", default="batch-report", help="report folder (must be new or empty)")
    ap.add_argument("--cluster", default="auto", help="auto | labcluster | kubeconfig | in-cluster")
    ap.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("KEY", "VALUE"),
                    help="notebook parameter (YAML value), e.g. -p fast False")
    ap.add_argument("--parallel", type=int, default=1, help="learners run at once")
    ap.add_argument("--answers", default=None, help="folder of <learner>.yaml quiz answers")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per notebook")
    ap.add_argument("--kernel", default=None, help="Jupyter kernel name (default: the notebook's)")
    ap.add_argument("--force", action="store_true", help="replace a non-empty --out folder")
    ap.add_argument("--skip-cluster-check", action="store_true",
                    help="do not reach the cluster before running (notebooks that need none)")
    args = ap.parse_args(argv)
    try:
        report = run_batch(args.learners, args.notebooks, args.out, args.cluster, args.parameter,
                           args.parallel, args.answers, args.timeout, args.kernel, args.force,
                           check_cluster=not args.skip_cluster_check)
    except BatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with contextlib.suppress(Exception):
        import pandas as pd

        with pd.option_context("display.width", 160, "display.max_columns", 20):
            print(report.table.drop(columns=["error"]).to_string(index=False))
    print(f"report: {report.files['html']}\ncsv: {report.files['csv']}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
