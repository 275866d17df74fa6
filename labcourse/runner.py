"""The one notebook runner behind ``labcourse run`` (the course, in order) and
``python -m labcourse.batch`` (the course per learner): which notebooks, their ``-p``
parameters, one run, and what a failed run says.

Each notebook runs with papermill in a process of its own (``_worker.py``), started in a
session of its own: a dead kernel or a hung cell costs that run, not the command, and a
stopped run takes everything it started with it (papermill, its kernel, what a cell
started — a port-forward, a load generator). Kernels talk over unix sockets, not loopback
TCP (a TCP kernel is reachable by every local user who gets its key, and ipykernel warns
so on every start), and what papermill and the kernel print goes to a log file, not the
terminal. A failure is read back from the executed notebook: the cell, its source, the
error and its traceback.
"""

from __future__ import annotations

import ast
import contextlib
import glob
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import yaml

from labhelpers.errors import LabError

#: A course notebook's file name: ``NN-title.ipynb``.
NOTEBOOK_RE = re.compile(r"^\d\d-.+\.ipynb$")
#: The process that runs one notebook (a script, so it imports neither package).
WORKER = Path(__file__).with_name("_worker.py")
ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: How long a stopped run may take to shut its kernel down before it is killed.
STOP_GRACE = 5.0


class CourseError(LabError):
    """A run we refuse to start (bad selection, bad parameter, no cluster); the message
    says why."""


@dataclass
class Failure:
    """Why a run failed: the failing cell of the executed notebook (its index there, its
    execution count and source) and the error, or only a message (a timeout, a dead
    kernel, a notebook papermill could not write)."""

    message: str
    cell: int | None = None
    exec_count: int | None = None
    source: str = ""
    traceback: str = ""

    @property
    def details(self) -> str:
        """The cell, its source and the traceback: what the course's report prints."""
        if self.cell is None:
            return self.message
        source = "\n".join("    " + line for line in self.source.splitlines())
        return (f"cell {self.cell} (execution count {self.exec_count}) raised {self.message}"
                f"\n--- cell source:\n{source}\n--- traceback:\n{self.traceback}")


@dataclass
class NotebookRun:
    name: str
    output: Path
    seconds: float
    ok: bool
    failure: Failure | None = None


# ---------------------------------------------------------------- which notebooks

def course_notebooks(folder: Path) -> list[Path]:
    """The course's notebooks in order (``NN-title.ipynb``)."""
    return sorted(p for p in folder.glob("*.ipynb") if NOTEBOOK_RE.match(p.name))


def check_notebook(path: Path) -> None:
    """Refuse what papermill would fail on later: not JSON, no cells, no kernelspec."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CourseError(f"notebook {path}: not a readable .ipynb ({exc})") from exc
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise CourseError(f"notebook {path}: not a Jupyter notebook (no cells)")
    meta = nb.get("metadata") or {}
    if not (meta.get("kernelspec") or {}).get("name"):
        raise CourseError(f"notebook {path}: no kernelspec in its metadata (papermill needs it)")


def _matches(item: str, folder: Path) -> list[Path]:
    key = item.removesuffix(".ipynb")
    if key.isdigit():  # 1 or 01: the course's notebook of that number
        return [p for p in course_notebooks(folder) if p.name.startswith(f"{int(key):02d}-")]
    candidates = [item] if item.endswith(".ipynb") or glob.has_magic(item) else \
        [f"{item}.ipynb", item]
    for cand in candidates:  # inside the folder first, then a path or glob as given
        inside = [] if Path(cand).is_absolute() else sorted(glob.glob(str(folder / cand)))
        for paths in (inside, sorted(glob.glob(cand))):
            found = [Path(p) for p in paths if Path(p).is_file()]
            if found:
                return found
    return []


def find_notebooks(spec: str | None, folder: Path) -> list[Path]:
    """``all`` (or nothing: every ``NN-*.ipynb`` of the folder) or a comma list whose items
    are numbers (``1``, ``01``), names (``02-deploy``, ``02-deploy.ipynb``), globs or paths
    (inside the folder, else as given). In name order, each checked; unknown → error naming
    the course's notebooks."""
    items = ["all"] if spec is None else [s.strip() for s in spec.split(",") if s.strip()]
    found: list[Path] = []
    for item in items:
        if item.lower() == "all":  # the folder's own, never a glob in the working directory
            found += [p.resolve() for p in course_notebooks(folder)]
            continue
        matched = _matches(item, folder)
        if not matched:
            names = ", ".join(p.stem for p in course_notebooks(folder)) if folder.is_dir() \
                else ""
            raise CourseError(f"--notebooks {item!r}: no notebook of that number, name or "
                              f"path; the course in {folder} has: {names or 'none'}")
        found += [p.resolve() for p in matched]
    if not found:
        raise CourseError("--notebooks selected nothing")
    chosen = sorted(dict.fromkeys(found), key=lambda p: p.name)
    for path in chosen:
        check_notebook(path)
    return chosen


# ---------------------------------------------------------------- parameters

def parse_value(text: str) -> Any:
    """A ``-p`` value as YAML, as papermill reads it (``3`` → int, ``true`` → bool,
    ``{a: 1}`` → dict), else the text itself."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_parameters(pairs: Sequence[Sequence[str]] | None,
                     reserved: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``-p NAME VALUE`` pairs: NAME must be a Python identifier (papermill assigns it in
    a cell) and not one the command sets itself (``reserved``: name → why)."""
    params: dict[str, Any] = {}
    for name, raw in pairs or []:
        if not re.fullmatch(r"[A-Za-z_]\w*", name):
            raise CourseError(f"-p {name}: not a Python identifier")
        if reserved and name in reserved:
            raise CourseError(f"-p {name}: {reserved[name]}")
        params[name] = parse_value(raw)
    return params


# ---------------------------------------------------------------- one run

def read_failure(executed: Path) -> Failure | None:
    """The first error output of an executed notebook, with its cell (index in that file,
    papermill's marker cells included, so ``cells[index]`` is the failing cell)."""
    try:
        nb = json.loads(executed.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for index, cell in enumerate(nb.get("cells", [])):
        for output in cell.get("outputs", []) or []:
            if output.get("output_type") == "error":
                source = cell.get("source", "")
                return Failure(
                    f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"[:500],
                    index, cell.get("execution_count"),
                    source if isinstance(source, str) else "".join(source),
                    ANSI_RE.sub("", "\n".join(output.get("traceback") or [])))
    return None


def _last_error_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    for line in reversed(lines):
        if re.match(r"^\w*(Error|Exception)\b", line):
            return ANSI_RE.sub("", line)[:500]
    return ANSI_RE.sub("", lines[-1] if lines else "papermill failed without a message")[:500]


#: Runs going on now, so an interrupted command can stop them and what they started.
_RUNNING: set[subprocess.Popen[bytes]] = set()
_RUNNING_LOCK = threading.Lock()


def _stop(proc: subprocess.Popen[bytes], grace: float = STOP_GRACE) -> None:
    """Stop a run and everything under it: TERM first (papermill shuts its kernel down),
    then kill what is left of the tree as it was before the TERM.

    By process tree, not group: jupyter_client starts the kernel in a session of its own,
    and what a cell started lives in the kernel's. psutil's Process objects refuse to act
    on a reused pid.
    """
    try:
        tree = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        tree = []
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
    for child in tree:
        with contextlib.suppress(psutil.Error):
            child.kill()


def stop_running() -> None:
    """Stop the runs still going (papermill, its kernel, what the kernel started)."""
    with _RUNNING_LOCK:
        procs = list(_RUNNING)
    for proc in procs:
        _stop(proc)


def modules_imported(path: Path) -> list[str]:
    """The modules a notebook's code cells import at their top level, in order (``from a
    import b`` gives ``a`` and ``a.b``, which may be a module): what ``--warm`` imports.
    Cells that are not Python (magics, shell lines) are skipped, not guessed at."""
    names: list[str] = []
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        try:
            tree = ast.parse("".join(source) if isinstance(source, list) else source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found = [node.module] + [f"{node.module}.{a.name}" for a in node.names
                                         if a.name != "*"]
            else:
                continue
            names += [n for n in found if n not in names]
    return names


#: Imported in a warm kernel after a notebook's own imports when it imports the package
#: (the key): what that package's first calls would import lazily.
WARM_AHEAD = {"labhelpers": "labhelpers.preload"}


def warm_modules(path: Path) -> list[str]:
    """What ``--warm`` imports for a notebook: its own imports, then WARM_AHEAD's."""
    names = modules_imported(path)
    return names + [ahead for package, ahead in WARM_AHEAD.items()
                    if package in names and ahead not in names]


class NotebookWorker:
    """One notebook's run in its process (``_worker.py``): started, told to go, finished.

    Started ``warm``, its kernel starts and imports what the notebook imports, then waits
    for ``go()``: ``run_in_order`` starts the next notebook that way while the current one
    runs. Its time is from ``go()`` to its end (the first notebook's includes its warm-up,
    as nothing overlapped it), so the times still add up to the wall clock.
    """

    def __init__(self, path: Path, output: Path, parameters: dict[str, Any],
                 env: Mapping[str, str] | None = None, *, log: Path | None = None,
                 cell_timeout: float | None = None, kernel: str | None = None,
                 warm: bool = False) -> None:
        self.path, self.output = path, output
        self.log = log or output.with_suffix(".log")
        output.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-P", str(WORKER), str(path), str(output),
               "--parameters", yaml.safe_dump(parameters), "--cwd", str(path.parent)]
        if cell_timeout:
            cmd += ["--cell-timeout", str(cell_timeout)]
        if kernel:
            cmd += ["--kernel", kernel]
        if warm:
            cmd += ["--warm", ",".join(warm_modules(path))]
        self.sockets = Path(tempfile.mkdtemp(prefix="labcourse-kernel-"))
        cmd += ["--sockets", str(self.sockets)]
        done_read, done_write = os.pipe()
        cmd += ["--done-fd", str(done_write)]
        #: The worker's exit code, written before its kernel's shutdown (``_worker.py``).
        self._done = done_read
        self.began = time.monotonic()
        try:
            with open(self.log, "ab") as fh:
                self._logged = fh.tell()
                # a file, not a pipe: a process a cell left running would hold a pipe open
                self.proc = subprocess.Popen(
                    cmd, env=dict(env) if env is not None else None, stdout=fh,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.PIPE if warm else subprocess.DEVNULL,
                    start_new_session=True, pass_fds=(done_write,))
        except BaseException:
            os.close(done_read)
            raise
        finally:
            os.close(done_write)
        with _RUNNING_LOCK:
            _RUNNING.add(self.proc)

    def go(self) -> None:
        """Let a warm worker run its notebook (nothing to do for a cold one)."""
        self.began = time.monotonic()
        if self.proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError):  # it died warming: finish() says so
                self.proc.stdin.write(b"go\n")
                self.proc.stdin.close()

    def cancel(self) -> None:
        """A warm worker that will not run: its kernel shut down, nothing left."""
        if self.proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()  # EOF without a go: it stops its kernel and exits
        self.close(grace=STOP_GRACE)

    def finish(self, timeout: float | None = None) -> NotebookRun:
        """Wait for the run (``timeout`` from ``go()``): its end is the worker's exit code
        on the done pipe, written once the executed notebook is, or its exit. Its kernel
        may still be shutting down then: ``close()`` waits for that. Ctrl-C or SIGTERM
        while waiting stops it and everything it started, then re-raises."""
        path, output = self.path, self.output
        left = None if timeout is None else max(0.0, timeout - (time.monotonic() - self.began))
        try:
            returncode = self._wait_done(left)
        except subprocess.TimeoutExpired:
            _stop(self.proc, grace=0)
            self._forget()
            return NotebookRun(path.stem, output, time.monotonic() - self.began, False,
                               Failure(f"timed out after {timeout:.0f} s"))
        except BaseException:  # Ctrl-C, SIGTERM: nothing of this run may outlive it
            _stop(self.proc)
            self._forget()
            raise
        seconds = time.monotonic() - self.began
        failure = read_failure(output) if output.exists() else None
        if returncode == 0 and failure is None:
            return NotebookRun(path.stem, output, seconds, True)
        if failure is None:
            with open(self.log, "rb") as fh:
                fh.seek(self._logged)
                failure = Failure(_last_error_line(fh.read().decode(errors="replace")))
        return NotebookRun(path.stem, output, seconds, False, failure)

    def _wait_done(self, timeout: float | None) -> int:
        """The exit code the worker wrote on the done pipe, or (none written: it ended
        before its notebook did) its exit status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            ready, _, _ = select.select([self._done], [], [], timeout)
            if not ready:
                raise subprocess.TimeoutExpired(self.proc.args, timeout or 0.0)
            line = os.read(self._done, 64).strip()
        finally:
            os.close(self._done)
            self._done = -1
        if line.isdigit():
            return int(line)
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        return self.proc.wait(timeout=left)

    def close(self, grace: float = 2 * STOP_GRACE) -> None:
        """After ``finish()`` or ``cancel()``: wait for the worker's end (its kernel's
        shutdown, which jupyter_client bounds at 5 s before it kills the kernel), stop what
        is left after ``grace``, and remove its socket folder."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=grace)
        _stop(self.proc)
        self._forget()

    def _forget(self) -> None:
        with _RUNNING_LOCK:
            _RUNNING.discard(self.proc)
        if self._done >= 0:
            os.close(self._done)
            self._done = -1
        if self.proc.poll() is not None:  # the kernel is gone with it (_stop ends the tree)
            shutil.rmtree(self.sockets, ignore_errors=True)


def run_notebook(path: Path, output: Path, parameters: dict[str, Any],
                 env: Mapping[str, str] | None = None, *, log: Path | None = None,
                 cell_timeout: float | None = None, timeout: float | None = None,
                 kernel: str | None = None) -> NotebookRun:
    """Run one notebook into ``output``, cwd its folder.

    ``cell_timeout`` bounds each cell (papermill's), ``timeout`` the whole run; ``log``
    (default ``<output>.log``, appended to) gets what papermill and the kernel print.
    Ctrl-C or SIGTERM while it runs stops the run and everything it started, then
    re-raises.
    """
    worker = NotebookWorker(path, output, parameters, env, log=log,
                            cell_timeout=cell_timeout, kernel=kernel)
    try:
        return worker.finish(timeout)
    finally:
        worker.close()


def run_in_order(paths: Sequence[Path], output_of: Callable[[Path], Path],
                 parameters: dict[str, Any], env: Mapping[str, str] | None = None, *,
                 log: Path | None = None, cell_timeout: float | None = None,
                 timeout: float | None = None, kernel: str | None = None,
                 starting: Callable[[Path], None] | None = None,
                 done: Callable[[NotebookRun], None] | None = None,
                 stop_at_failure: bool = True) -> list[NotebookRun]:
    """Run notebooks one after another, by default stopping at the first failure (each
    builds on the one before); while one runs, the next one's kernel is started and
    warmed (``NotebookWorker``), and the one before's kernel shuts down. When this returns,
    every worker it started has ended. ``starting``/``done`` are told of each notebook as it
    goes."""
    def start(path: Path) -> NotebookWorker:
        return NotebookWorker(path, output_of(path), parameters, env, log=log,
                              cell_timeout=cell_timeout, kernel=kernel, warm=True)

    runs: list[NotebookRun] = []
    upcoming = start(paths[0]) if paths else None
    closing: NotebookWorker | None = None  # finished, its kernel shutting down
    try:
        for index, path in enumerate(paths):
            assert upcoming is not None
            current, upcoming = upcoming, None
            if starting:
                starting(path)
            current.go()
            try:
                if index + 1 < len(paths):
                    upcoming = start(paths[index + 1])
                result = current.finish(timeout)
            except BaseException:
                if upcoming is not None:
                    upcoming.cancel()
                raise
            if closing is not None:  # had this whole notebook's time to shut down
                closing.close()
            closing = current
            runs.append(result)
            if done:
                done(result)
            if not result.ok and stop_at_failure:
                if upcoming is not None:
                    upcoming.cancel()
                break
    finally:
        if closing is not None:
            closing.close()
    return runs
