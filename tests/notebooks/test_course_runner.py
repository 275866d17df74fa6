"""The runner's own behaviour, on tiny notebooks that need no cluster: selection, parameters
(YAML values), and a failure that names the notebook, the cell, its source and traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import psutil
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from labcourse import cli as course
from labcourse import runner

META = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}}


def write(folder: Path, name: str, *sources: str) -> Path:
    cells = [new_code_cell(s) for s in sources]
    cells[0].metadata["tags"] = ["parameters"]
    path = folder / name
    nbformat.write(new_notebook(cells=cells, metadata=META), path)
    return path


def test_select_by_number_or_name(tmp_path):
    for name in ("01-a.ipynb", "02-b.ipynb", "10-c.ipynb", "notes.ipynb"):
        write(tmp_path, name, "x = 1")
    nbs = runner.course_notebooks(tmp_path)
    assert [p.name for p in nbs] == ["01-a.ipynb", "02-b.ipynb", "10-c.ipynb"]
    assert [p.stem for p in runner.find_notebooks("2,01", tmp_path)] == ["01-a", "02-b"]
    assert [p.stem for p in runner.find_notebooks("10-c", tmp_path)] == ["10-c"]
    assert [p.stem for p in runner.find_notebooks("0[12]-*", tmp_path)] == ["01-a", "02-b"]
    assert runner.find_notebooks("all", tmp_path) == nbs
    assert runner.find_notebooks(None, tmp_path) == nbs
    with pytest.raises(runner.CourseError, match="'7': no notebook.*has: 01-a, 02-b, 10-c"):
        runner.find_notebooks("7", tmp_path)
    with pytest.raises(runner.CourseError, match="selected nothing"):
        runner.find_notebooks(" , ", tmp_path)


def test_parameter_values_are_yaml():
    assert runner.parse_value("3") == 3
    assert runner.parse_value("true") is True
    assert runner.parse_value('{"deploy": {"q": "b"}}') == {"deploy": {"q": "b"}}
    assert runner.parse_value("other-ns") == "other-ns"
    assert runner.parse_parameters([["n", "2"], ["ns", "other-ns"]]) == {"n": 2, "ns": "other-ns"}
    with pytest.raises(runner.CourseError, match="-p 1bad: not a Python identifier"):
        runner.parse_parameters([["1bad", "x"]])
    with pytest.raises(runner.CourseError, match="-p learner: set by the command"):
        runner.parse_parameters([["learner", "x"]], {"learner": "set by the command"})


def test_in_a_pod_the_notebooks_get_the_service_accounts_namespace(tmp_path, monkeypatch):
    """The notebooks default to ecommerce-lab, which a classroom learner may not write:
    `labcourse run --cluster in-cluster` (the course-runner image's command) hands them the
    namespace file's instead; outside a pod nothing is added, and `-p namespace` still wins
    (main() applies the -p values after these)."""
    from labhelpers import cluster

    monkeypatch.setattr(cluster, "SA_DIR", tmp_path)
    assert course.cluster_env("in-cluster", None)[1] == {"cluster": "in-cluster"}
    (tmp_path / "namespace").write_text("lab-ada\n")
    env, injected, which = course.cluster_env("in-cluster", None)
    assert (env, injected) == ({}, {"cluster": "in-cluster", "namespace": "lab-ada"})
    assert "namespace lab-ada" in which
    assert course.cluster_env("kubeconfig", None)[1] == {"cluster": "kubeconfig"}


def test_failure_names_notebook_cell_source_and_traceback(tmp_path):
    course_dir = tmp_path / "course"
    course_dir.mkdir()
    write(course_dir, "01-fine.ipynb", "n = 1", "import os\nprint('headless', os.environ['LAB_HEADLESS'], n)")
    write(course_dir, "02-boom.ipynb", "n = 1", "total = 10\nshare = total / (n - 2)  # boom")
    write(course_dir, "03-never.ipynb", "n = 1", "print('never')")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "labcourse", "run", "--course-dir", str(course_dir),
         "--cluster", "kubeconfig", "--output", str(out), "-p", "n", "2"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    text = proc.stdout
    assert "01-fine" in text and "passed" in text
    assert "FAILED: notebook 02-boom" in text, text
    assert "share = total / (n - 2)  # boom" in text, text
    assert "ZeroDivisionError" in text, text
    assert "03-never" in text and "not run" in text, text
    assert "\x1b[" not in text, "ANSI colours leaked into the report"
    ran = nbformat.read(out / "01-fine.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in ran.cells for o in c.get("outputs", []))
    assert "headless 1 2" in printed, "LAB_HEADLESS and -p n 2 reached the kernel"
    assert not (out / "03-never.ipynb").exists()


def test_the_modules_a_notebook_imports_in_order(tmp_path):
    path = write(tmp_path, "01-x.ipynb", "n = 1",
                 "import json, os.path as osp\nfrom collections import Counter, abc\n"
                 "def f():\n    import secret_inner  # not top level: not warmed",
                 "%matplotlib inline\nimport not_python_cell", "from . import relative\n"
                 "from email import *\nimport json")
    assert runner.modules_imported(path) == [
        "json", "os.path", "collections", "collections.Counter", "collections.abc", "email"]
    assert runner.warm_modules(path) == runner.modules_imported(path)  # no labhelpers
    course = write(tmp_path, "02-y.ipynb", "n = 1", "import labhelpers\nimport pandas")
    assert runner.warm_modules(course) == ["labhelpers", "pandas", "labhelpers.preload"]


def test_the_preload_leaves_connect_and_loadtest_nothing_to_import():
    """labhelpers.preload is what the warm-up imports so a notebook's first cells import
    nothing more: after it, making connect()'s API clients and importing the load test
    load no module (the warm-up hides a failed import, so this is where one would show)."""
    code = ("import sys\nimport labhelpers, labhelpers.preload\nfrom kubernetes import client\n"
            "before = set(sys.modules)\nclient.CoreV1Api(); client.AppsV1Api()\n"
            "from labhelpers.loadtest import run\n"
            "print(sorted(set(sys.modules) - before))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.strip() == "[]", out


def test_the_next_notebook_is_warmed_while_one_runs(tmp_path, monkeypatch):
    """While 01 runs (2 s), 02's kernel starts and imports what 02 imports; 02's own
    cells then run as written, from execution count 1. A failure cancels the warmed
    next run: its kernel is stopped, nothing of it left, nor any run's socket folder."""
    import tempfile

    made: list[Path] = []
    real_mkdtemp = tempfile.mkdtemp

    def recorded_mkdtemp(*args, **kwargs):
        made.append(Path(real_mkdtemp(*args, **kwargs)))
        return str(made[-1])
    monkeypatch.setattr(runner.tempfile, "mkdtemp", recorded_mkdtemp)
    course_dir = tmp_path / "course"
    course_dir.mkdir()
    (course_dir / "warmmark.py").write_text("import time\nIMPORTED_AT = time.time()\n")
    write(course_dir, "01-slow.ipynb", "n = 1",
          "import time\ntime.sleep(2)\nopen('01.done', 'w').write(repr(time.time()))")
    write(course_dir, "02-warm.ipynb", "n = 1",
          "import os, psutil, warmmark\n"
          "print('warm', warmmark.IMPORTED_AT < float(open('01.done').read()),"
          " psutil.Process(os.getpid()).create_time() < float(open('01.done').read()))")
    runs = runner.run_in_order(sorted(course_dir.glob("0*.ipynb")),
                               lambda p: tmp_path / "out" / p.name, {"n": 2})
    assert [r.ok for r in runs] == [True, True], [r.failure for r in runs]
    ran = nbformat.read(tmp_path / "out" / "02-warm.ipynb", as_version=4)
    code = [c for c in ran.cells if c.cell_type == "code"]
    assert "warm True True" in code[-1].outputs[0]["text"]
    assert [c.execution_count for c in code] == [1, 2, 3]  # papermill's parameters cell too

    write(course_dir, "01-slow.ipynb", "n = 1", "import time\ntime.sleep(1)\n1 / 0")
    runs = runner.run_in_order(sorted(course_dir.glob("0*.ipynb")),
                               lambda p: tmp_path / "again" / p.name, {"n": 2})
    assert [r.ok for r in runs] == [False]
    assert not (tmp_path / "again" / "02-warm.ipynb").exists()
    kernels = [p for p in psutil.process_iter(["cwd", "cmdline"])  # this test's: its cwd
               if p.info["cwd"] == str(course_dir)
               and "ipykernel_launcher" in " ".join(p.info["cmdline"] or [])]
    assert not kernels, kernels
    # 4 workers (01, 02; 01 again, and 02 warmed then cancelled), each with a socket folder
    # the runner made: all gone
    assert len(made) == 4 and all(m.name.startswith("labcourse-kernel-") for m in made), made
    assert [m for m in made if m.exists()] == []


def test_a_kernel_shuts_down_while_the_next_notebook_runs(tmp_path):
    """A notebook ends when its executed notebook is written; its kernel's shutdown (here an
    atexit handler that takes 2 s) overlaps the next notebook instead of delaying it, and is
    not counted in its time. run_in_order still returns only once every kernel has ended."""
    course_dir = tmp_path / "course"
    course_dir.mkdir()
    write(course_dir, "01-slow-exit.ipynb", "n = 1",
          "import atexit, time\n"
          "def slow_exit():\n"
          "    time.sleep(2)\n"
          "    open('01.exited', 'w').write(repr(time.time()))\n"
          "atexit.register(slow_exit)")
    write(course_dir, "02-next.ipynb", "n = 1",
          "import os, time\nopen('02.started', 'w').write(repr(time.time()))\n"
          "print('01 still exiting', not os.path.exists('01.exited'))")
    runs = runner.run_in_order(sorted(course_dir.glob("0*.ipynb")),
                               lambda p: tmp_path / "out" / p.name, {"n": 2})
    assert [r.ok for r in runs] == [True, True], [r.failure for r in runs]
    started = float((course_dir / "02.started").read_text())
    exited = float((course_dir / "01.exited").read_text())  # ended before run_in_order did
    assert started < exited, "02 waited for 01's kernel to exit"
    assert runs[0].seconds < 2, f"01's time counted its kernel's shutdown: {runs[0].seconds:.1f} s"
    ran = nbformat.read(tmp_path / "out" / "02-next.ipynb", as_version=4)
    assert "01 still exiting True" in ran.cells[-1].outputs[0]["text"]
