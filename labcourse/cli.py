"""Run the course headlessly: ``python -m labcourse run``.

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
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import labcourse
from labcourse import gitpull
from labcourse.runner import (
    CourseError,
    NotebookRun,
    course_notebooks,
    find_notebooks,
    parse_parameters,
    run_in_order,
)
from labcourse.workspace import WorkspaceError, copy_course

#: The course in a checkout: the notebooks' folder beside the package.
COURSE_DIR = labcourse.NOTEBOOKS
CLUSTER_CHOICES = ("labcluster", "auto", "kubeconfig", "in-cluster")
CELL_TIMEOUT = 600  # seconds; a cell that waits longer than this is stuck, not slow
TARGET_SECONDS = 120  # the course's budget headless on 2 cores (issue 18; it was 300, issue 7)
KERNEL_LOG = "kernels.log"  # what the kernels print (beside the executed notebooks)


def default_output(root: Path | None = None) -> Path:
    """``runs/<timestamp>/``; the folder ignores itself so no run is ever committed."""
    runs = (root or Path.cwd()) / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    ignore = runs / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# executed notebooks of `python -m labcourse run`\n*\n")
    return runs / dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def cluster_env(cluster: str, home: str | None) -> tuple[dict[str, str], dict[str, Any], str]:
    """(env to export, parameters to inject, one line saying which cluster).

    For labcluster the runner starts it and hands its kubeconfig to the notebooks with
    ``cluster="kubeconfig"``, so "auto" inside a pod (in-cluster first) cannot pick another.
    """
    if cluster == "in-cluster":
        # The notebooks' own default (ecommerce-lab) is not the learner's in a classroom:
        # there the pod's service account may write only its own namespace.
        from labhelpers.cluster import service_account_namespace

        home = service_account_namespace()
        injected = {"cluster": cluster, **({"namespace": home} if home else {})}
        return {}, injected, (f"cluster: in-cluster (namespace {home}, the service "
                              "account's)" if home else "cluster: in-cluster")
    if cluster != "labcluster":
        return {}, {"cluster": cluster}, f"cluster: {cluster} (as the notebooks' connect() finds it)"
    import labcluster  # only its public entry point

    st = labcluster.status(home)
    if not st.running:
        print(f"==> starting labcluster (state in {st.home})", flush=True)
    kubeconfig = labcluster.ensure_running(home)
    env = {"KUBECONFIG": str(kubeconfig),
           "LABCLUSTER_HOME": str(Path(kubeconfig).parent)}
    return env, {"cluster": "kubeconfig"}, f"cluster: labcluster (KUBECONFIG={kubeconfig})"


def _home_we_would_start(cluster: str, home: str | None) -> Path | None:
    """labcluster's home when this command is about to start it, else None."""
    if cluster != "labcluster":
        return None
    import labcluster

    st = labcluster.status(home)
    return None if st.running else st.home


def run_course(notebooks: list[Path], output: Path, parameters: dict[str, Any],
               env: dict[str, str], out: Any = sys.stdout) -> list[NotebookRun]:
    """Run in order; stop at the first failure (the next notebook starts from its state)."""
    output.mkdir(parents=True, exist_ok=True)

    def starting(path: Path) -> None:
        print(f"▶ {path.stem} …", file=out, flush=True)

    def done(result: NotebookRun) -> None:
        mark = "✅" if result.ok else "❌"
        print(f"  {mark} {result.name}  {result.seconds:6.1f} s", file=out, flush=True)

    return run_in_order(notebooks, lambda path: output / path.name, parameters,
                        {**os.environ, **env}, log=output / KERNEL_LOG,
                        cell_timeout=CELL_TIMEOUT, starting=starting, done=done)


def summary(runs: list[NotebookRun], notebooks: list[Path], output: Path,
            results_dir: str) -> tuple[str, bool]:
    total = sum(r.seconds for r in runs)
    ok = len(runs) == len(notebooks) and all(r.ok for r in runs)
    lines = ["", "notebook                        time  result"]
    for r in runs:
        lines.append(f"{r.name:<28} {r.seconds:7.1f} s  {'passed' if r.ok else 'FAILED'}")
    for path in notebooks[len(runs):]:
        lines.append(f"{path.stem:<28}       -    not run (an earlier notebook failed)")
    if ok:
        budget = "within" if total <= TARGET_SECONDS else "OVER"
        lines.append(f"{'total':<28} {total:7.1f} s  ({total / 60:.1f} min; {budget} the "
                     f"{TARGET_SECONDS // 60}-minute target)")
    else:  # a failed course has no time worth comparing with the target
        lines.append(f"{'total':<28} {total:7.1f} s  (stopped at the first failure)")
    failed = next((r for r in runs if not r.ok), None)
    if failed is not None:
        why = failed.failure.details if failed.failure else "failed"
        lines += ["", f"FAILED: notebook {failed.name} — {why}",
                  f"(what the kernels printed: {output / KERNEL_LOG})"]
    lines += ["",
              f"{'all ' + str(len(runs)) + ' notebooks passed' if ok else 'the course FAILED'}",
              f"executed notebooks (with every output): {output}/",
              f"results (checks, quiz scores): {results_dir}/",
              "open the course in JupyterLab instead: ./scripts/lab --jupyter "
              "(or python -m labcourse run --jupyter)"]
    return "\n".join(lines), ok


def jupyter_argv(port: int, extra: list[str], root: Path | None = None) -> list[str]:
    """JupyterLab on loopback at the course; `extra` (the learner's own options) last, so
    they win. As root Jupyter refuses to start without --allow-root (containers, CI)."""
    root = root or COURSE_DIR.parent
    argv = [sys.executable, "-m", "jupyterlab", "--ip=127.0.0.1", f"--port={port}",
            "--no-browser", f"--ServerApp.root_dir={root}",
            "--LabApp.default_url=/lab/tree/notebooks/01-preflight.ipynb"]
    if os.geteuid() == 0:
        argv.append("--allow-root")
    return argv + extra


def start_jupyter(env: dict[str, str], port: int, extra: list[str],
                  started_home: Path | None, root: Path | None = None) -> int:
    """Run JupyterLab until it exits; if it failed and this command started labcluster
    (`started_home`), stop that cluster again so no server is left behind."""
    print(f"starting JupyterLab on http://127.0.0.1:{port}/ (open the URL with the token it "
          "prints); the notebooks reach the cluster through KUBECONFIG="
          f"{env.get('KUBECONFIG', os.environ.get('KUBECONFIG', '(unset)'))}", flush=True)
    proc = subprocess.Popen(jupyter_argv(port, extra, root), env={**os.environ, **env})
    try:
        rc = proc.wait()
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: Jupyter shuts its kernels down on TERM
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        rc = proc.wait()
    if rc not in (0, -signal.SIGINT, -signal.SIGTERM, 130) and started_home is not None:
        import labcluster

        labcluster.stop(started_home)
        print(f"JupyterLab failed (exit {rc}); stopped the labcluster this command started "
              f"({started_home})", file=sys.stderr, flush=True)
    elif env.get("KUBECONFIG"):
        print("JupyterLab stopped; labcluster keeps running (every object and order kept): "
              "stop it with  labcluster down", flush=True)
    return rc if rc >= 0 else 128 - rc


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="labcourse", description=__doc__,
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
                                             "$LABCLUSTER_HOME, ~/.labcluster, or "
                                             "/var/lib/labcluster as root)")
    r.add_argument("--results", help="results folder (default <output>/results)")
    r.add_argument("--course-dir", type=Path, default=COURSE_DIR,
                   help="the folder of NN-*.ipynb notebooks (default: the package's; "
                        "labcourse init makes a copy of your own)")
    r.add_argument("--jupyter", action="store_true",
                   help="start JupyterLab on 127.0.0.1 with the course instead; options this "
                        "command does not know go to JupyterLab (e.g. --ServerApp.token=...)")
    r.add_argument("--port", type=int, default=8888, help="JupyterLab's port (--jupyter)")
    i = sub.add_parser("init", help="copy the course into a folder of yours (keeps your "
                                    "edits on a later run), optionally open it in JupyterLab")
    i.add_argument("folder", nargs="?", default="ecommerce-k8s-course", type=Path,
                   help="where (default ./ecommerce-k8s-course)")
    i.add_argument("--jupyter", action="store_true", help="then open it in JupyterLab on "
                   "127.0.0.1 (labcluster started if needed); other options go to JupyterLab")
    i.add_argument("--port", type=int, default=8888, help="JupyterLab's port (--jupyter)")
    i.add_argument("--labcluster-home", help="labcluster's state dir (as for run)")
    i.add_argument("--solutions", action="store_true", help="instructors: the notebooks "
                   "with the ✏️ cells' solutions (default: the learner's copies, without)")
    i.set_defaults(cluster="labcluster")
    g = sub.add_parser("link", help="print the nbgitpuller link that pulls the course into "
                                    "each learner's home on a JupyterHub")
    g.add_argument("--hub", required=True, help="the hub's address, e.g. https://hub.example.edu")
    g.add_argument("--repo", help="the course's git URL (default: this checkout's origin)")
    g.add_argument("--branch", help="the branch to pull (default: the repository's default)")
    g.add_argument("--path", default=None, help="what the link opens, inside the repository "
                   "(default notebooks/01-preflight.ipynb)")
    g.add_argument("--targetpath", help="the folder in the learner's home (default: the "
                                        "repository's name)")
    g.add_argument("--app", choices=("lab", "tree"), default="lab",
                   help="open it in JupyterLab (lab) or the classic notebook (tree)")
    g.set_defaults(jupyter=False)
    args, extra = p.parse_known_args(argv)
    if extra and not args.jupyter:
        p.error(f"unrecognized arguments: {' '.join(extra)} (only --jupyter passes options on)")
    args.jupyter_args = [a for a in extra if a != "--"]
    return args


def init(args: argparse.Namespace) -> int:
    """``labcourse init FOLDER [--jupyter]``: the course into the learner's folder."""
    try:
        report = copy_course(args.folder, solutions=args.solutions)
    except (WorkspaceError, OSError) as exc:
        print(f"labcourse: {exc}", file=sys.stderr)
        return 2
    print(report, flush=True)
    if not args.jupyter:
        print(f"open it: labcourse init {args.folder} --jupyter   (or jupyter lab in "
              f"{args.folder}; run it headlessly: labcourse run --course-dir "
              f"{args.folder}/notebooks)")
        return 0
    try:
        started_home = _home_we_would_start("labcluster", args.labcluster_home)
        env, _, _ = cluster_env("labcluster", args.labcluster_home)
    except RuntimeError as exc:
        print(f"labcourse: {exc}", file=sys.stderr)
        return 2
    return start_jupyter(env, args.port, args.jupyter_args, started_home,
                         args.folder.resolve())


def link(args: argparse.Namespace) -> int:
    """``labcourse link --hub URL``: the nbgitpuller link for a class (labcourse/gitpull.py)."""
    repo = args.repo or gitpull.origin_of(COURSE_DIR.parent)
    if not repo:
        print("labcourse: --repo is needed (no git checkout with an origin remote here)",
              file=sys.stderr)
        return 2
    path = args.path or f"notebooks/{course_notebooks(COURSE_DIR)[0].name}"
    try:
        print(gitpull.link(args.hub, repo, args.branch, path, args.targetpath, args.app))
    except gitpull.LinkError as exc:
        print(f"labcourse: {exc}", file=sys.stderr)
        return 2
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # papermill then shuts the running kernel down


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _interrupt)  # a stopped run leaves no kernel behind
    args = parse(argv)
    if args.command == "init":
        return init(args)
    if args.command == "link":
        return link(args)
    try:
        notebooks = find_notebooks(args.notebooks, args.course_dir)
        chosen = parse_parameters(args.parameter)
        started_home = _home_we_would_start(args.cluster, args.labcluster_home)
        env, injected, which = cluster_env(args.cluster, args.labcluster_home)
    except (CourseError, RuntimeError, ValueError) as exc:
        print(f"course: {exc}", file=sys.stderr)
        return 2
    if args.jupyter:
        return start_jupyter(env, args.port, args.jupyter_args, started_home,
                             args.course_dir.resolve().parent)
    # absolute, so the kernels (which run in the notebooks' folder) write where asked
    output = (args.output or default_output()).absolute()
    results_dir = str(Path(args.results or os.environ.get("LAB_RESULTS_DIR")
                           or output / "results").absolute())
    env = {**env, "LAB_HEADLESS": "1", "LAB_RESULTS_DIR": results_dir}
    parameters: dict[str, Any] = {"fast": True, **injected}
    parameters.update(chosen)
    shown = ", ".join(f"{k}={v!r}" for k, v in parameters.items())
    print(f"course: {len(notebooks)} notebooks, {which}\nparameters: {shown}\n", flush=True)
    runs = run_course(notebooks, output, parameters, env)
    text, ok = summary(runs, notebooks, output, results_dir)
    print(text, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
