"""Run the course headlessly: ``python -m labhelpers.course run``.

Executes the notebooks in order with papermill — the same files a learner opens — so "the
course works" means every cell of every notebook ran on a real (or the embedded) cluster.
Order matters (each notebook starts from the state the previous one left), so the first
failure stops the run and is reported with its notebook, cell, source and traceback.

``--jupyter`` starts JupyterLab on 127.0.0.1 instead, with the same cluster in KUBECONFIG.

Notebook 8's break & fix challenge is the learner's: a run applies its solution only with
``-p apply_solution true`` (recorded as ``solved_by: "solution"``); without it the
challenge is recorded as not solved and the notebook still passes (notebooks/README.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: The course in a checkout: the notebooks' folder beside the package.
COURSE_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOK_RE = re.compile(r"^\d\d-.+\.ipynb$")
CLUSTER_CHOICES = ("labcluster", "auto", "kubeconfig", "in-cluster")
CELL_TIMEOUT = 600  # seconds; a cell that waits longer than this is stuck, not slow
TARGET_SECONDS = 300  # the course's budget on 2 cores (issue 7)
ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class CourseError(Exception):
    """A run we refuse to start (bad selection, no cluster); the message says why."""


@dataclass
class NotebookRun:
    name: str
    output: Path
    seconds: float
    ok: bool
    failure: str = ""


def course_notebooks(folder: Path = COURSE_DIR) -> list[Path]:
    """The course's notebooks in order (``NN-title.ipynb``)."""
    return sorted(p for p in folder.glob("*.ipynb") if NOTEBOOK_RE.match(p.name))


def select(notebooks: list[Path], spec: str) -> list[Path]:
    """``all`` or a comma list of numbers/names (``01,02`` / ``1,2`` / ``02-deploy``)."""
    if spec.strip().lower() == "all":
        return notebooks
    chosen = []
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        key = item.removesuffix(".ipynb")
        key = f"{int(key):02d}" if key.isdigit() else key
        found = [p for p in notebooks if p.stem == key or p.stem.split("-", 1)[0] == key]
        if not found:
            names = ", ".join(p.stem for p in notebooks) or "none"
            raise CourseError(f"no notebook {item!r}; the course has: {names}")
        chosen += [p for p in found if p not in chosen]
    if not chosen:
        raise CourseError("--notebooks selected nothing")
    return sorted(chosen)


def parse_value(text: str) -> Any:
    """A ``-p`` value as YAML (``3`` → int, ``true`` → bool, ``{a: 1}`` → dict), else text."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def default_output(root: Path | None = None) -> Path:
    """``runs/<timestamp>/``; the folder ignores itself so no run is ever committed."""
    runs = (root or Path.cwd()) / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    ignore = runs / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# executed notebooks of `python -m labhelpers.course run`\n*\n")
    return runs / dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def cluster_env(cluster: str, home: str | None) -> tuple[dict[str, str], dict[str, Any], str]:
    """(env to export, parameters to inject, one line saying which cluster).

    For labcluster the runner starts it and hands its kubeconfig to the notebooks with
    ``cluster="kubeconfig"``, so "auto" inside a pod (in-cluster first) cannot pick another.
    """
    if cluster != "labcluster":
        return {}, {"cluster": cluster}, f"cluster: {cluster} (as the notebooks' connect() finds it)"
    import labcluster  # only its public entry point

    kubeconfig = labcluster.ensure_running(home)
    env = {"KUBECONFIG": str(kubeconfig),
           "LABCLUSTER_HOME": str(Path(kubeconfig).parent)}
    return env, {"cluster": "kubeconfig"}, f"cluster: labcluster (KUBECONFIG={kubeconfig})"


def describe_failure(exc: BaseException) -> str:
    """Notebook cell, its source and the traceback, from papermill's execution error."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        tb = ANSI_RE.sub("", "\n".join(exc.traceback or []))
        source = "\n".join("    " + line for line in (exc.source or "").splitlines())
        return (f"cell {exc.cell_index} (execution count {exc.exec_count}) raised "
                f"{exc.ename}: {exc.evalue}\n--- cell source:\n{source}\n--- traceback:\n{tb}")
    return f"{type(exc).__name__}: {exc}"


def run_notebook(path: Path, output: Path, parameters: dict[str, Any],
                 cell_timeout: int = CELL_TIMEOUT) -> NotebookRun:
    import papermill as pm

    start = time.monotonic()
    try:
        pm.execute_notebook(str(path), str(output), parameters=parameters,
                            cwd=str(path.parent), progress_bar=False, log_output=False,
                            execution_timeout=cell_timeout)
    except Exception as exc:  # every failure is reported the same way, with its cell
        return NotebookRun(path.stem, output, time.monotonic() - start, False,
                           describe_failure(exc))
    return NotebookRun(path.stem, output, time.monotonic() - start, True)


def run_course(notebooks: list[Path], output: Path, parameters: dict[str, Any],
               env: dict[str, str], out: Any = sys.stdout) -> list[NotebookRun]:
    """Run in order; stop at the first failure (the next notebook starts from its state)."""
    os.environ.update(env)  # the kernels inherit it
    output.mkdir(parents=True, exist_ok=True)
    runs = []
    for path in notebooks:
        print(f"▶ {path.stem} …", file=out, flush=True)
        result = run_notebook(path, output / path.name, parameters)
        runs.append(result)
        mark = "✅" if result.ok else "❌"
        print(f"  {mark} {path.stem}  {result.seconds:6.1f} s", file=out, flush=True)
        if not result.ok:
            break
    return runs


def summary(runs: list[NotebookRun], notebooks: list[Path], output: Path,
            results_dir: str) -> tuple[str, bool]:
    total = sum(r.seconds for r in runs)
    ok = len(runs) == len(notebooks) and all(r.ok for r in runs)
    lines = ["", "notebook                        time  result"]
    for r in runs:
        lines.append(f"{r.name:<28} {r.seconds:7.1f} s  {'passed' if r.ok else 'FAILED'}")
    for path in notebooks[len(runs):]:
        lines.append(f"{path.stem:<28}       -    not run (an earlier notebook failed)")
    budget = "within" if total <= TARGET_SECONDS else "OVER"
    lines.append(f"{'total':<28} {total:7.1f} s  ({total / 60:.1f} min; {budget} the "
                 f"{TARGET_SECONDS // 60}-minute target)")
    failed = next((r for r in runs if not r.ok), None)
    if failed is not None:
        lines += ["", f"FAILED: notebook {failed.name} — {failed.failure}"]
    lines += ["",
              f"{'all ' + str(len(runs)) + ' notebooks passed' if ok else 'the course FAILED'}",
              f"executed notebooks (with every output): {output}/",
              f"results (checks, quiz scores): {results_dir}/",
              "open the course in JupyterLab instead: ./scripts/lab --jupyter "
              "(or python -m labhelpers.course run --jupyter)"]
    return "\n".join(lines), ok


def start_jupyter(env: dict[str, str], port: int) -> None:
    """Replace this process with JupyterLab on loopback, opened at the course."""
    root = COURSE_DIR.parent
    argv = [sys.executable, "-m", "jupyterlab", "--ip=127.0.0.1", f"--port={port}",
            "--no-browser", f"--ServerApp.root_dir={root}",
            "--LabApp.default_url=/lab/tree/notebooks/01-preflight.ipynb"]
    print(f"starting JupyterLab on http://127.0.0.1:{port}/ (open the URL with the token it "
          "prints); the notebooks reach the cluster through KUBECONFIG="
          f"{env.get('KUBECONFIG', os.environ.get('KUBECONFIG', '(unset)'))}", flush=True)
    os.execve(sys.executable, argv, {**os.environ, **env})


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m labhelpers.course", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run the course headlessly (or --jupyter)")
    r.add_argument("--notebooks", default="all", help="all, or e.g. 01,02,03")
    r.add_argument("--output", type=Path, help="folder for executed notebooks "
                                                "(default runs/<timestamp>/)")
    r.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                   metavar=("NAME", "VALUE"), help="a notebook parameter (VALUE is YAML)")
    r.add_argument("--cluster", choices=CLUSTER_CHOICES, default="labcluster",
                   help="labcluster (default: started if needed) or what connect() finds")
    r.add_argument("--labcluster-home", help="labcluster's state dir (default "
                                             "$LABCLUSTER_HOME or ~/.labcluster)")
    r.add_argument("--results", help="results folder (default <output>/results)")
    r.add_argument("--course-dir", type=Path, default=COURSE_DIR,
                   help="the folder of NN-*.ipynb notebooks (default: this checkout's)")
    r.add_argument("--jupyter", action="store_true",
                   help="start JupyterLab on 127.0.0.1 with the course instead")
    r.add_argument("--port", type=int, default=8888, help="JupyterLab's port (--jupyter)")
    return p.parse_args(argv)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # papermill then shuts the running kernel down


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _interrupt)  # a stopped run leaves no kernel behind
    args = parse(argv)
    try:
        notebooks = select(course_notebooks(args.course_dir), args.notebooks)
        env, injected, which = cluster_env(args.cluster, args.labcluster_home)
    except (CourseError, RuntimeError, ValueError) as exc:
        print(f"course: {exc}", file=sys.stderr)
        return 2
    if args.jupyter:
        start_jupyter(env, args.port)
        return 0  # not reached: execve
    output = args.output or default_output()
    results_dir = args.results or os.environ.get("LAB_RESULTS_DIR") or str(output / "results")
    env = {**env, "LAB_HEADLESS": "1", "LAB_RESULTS_DIR": results_dir}
    parameters: dict[str, Any] = {"fast": True, **injected}
    parameters.update({name: parse_value(value) for name, value in args.parameter})
    shown = ", ".join(f"{k}={v!r}" for k, v in parameters.items())
    print(f"course: {len(notebooks)} notebooks, {which}\nparameters: {shown}\n", flush=True)
    runs = run_course(notebooks, output, parameters, env)
    text, ok = summary(runs, notebooks, output, results_dir)
    print(text, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
