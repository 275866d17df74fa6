"""A labcluster, a JupyterLab server and a headless Chromium for the browser tests of
the course as most learners take it (``./scripts/lab --jupyter``).

Everything lives in temp folders so the checkout stays clean: the cluster's home (mode 0755:
as root PostgreSQL runs as ``nobody`` and must traverse it), JupyterLab's root (a copy of
``notebooks/``), its settings, workspaces and runtime files, and the learner's results. The
kernels inherit the server's environment, so ``connect()`` (``cluster="auto"``) finds the
labcluster through the exported KUBECONFIG, and PYTHONPATH makes them import this
checkout's ``labhelpers``. LAB_HEADLESS is removed: the quizzes must be widgets here.

Screenshots and the console log of a failing test are kept in an artefacts folder
(``$LAB_TEST_ARTIFACTS/jupyterlab-browser-*`` when set, else a temp folder); the
assertion message names it. It is deleted when every test of the module passed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyterlab_support import (
    CHROMIUM,
    NOTEBOOKS,
    ROOT,
    SETTINGS,
    JupyterServer,
    children,
    end,
    free_port,
    temp_dir,
    wait_ready,
)
from procs import stop_process

import labcluster


@pytest.fixture(scope="module")
def artefacts(request: pytest.FixtureRequest) -> Iterator[Path]:
    """Where a failing test leaves its screenshots, console log and executed notebooks."""
    base = os.environ.get("LAB_TEST_ARTIFACTS")
    if base:
        Path(base).mkdir(parents=True, exist_ok=True)
    folder = temp_dir("jupyterlab-browser-", parent=base or None)
    failed_before = request.session.testsfailed
    yield folder
    if request.session.testsfailed == failed_before:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster_kubeconfig() -> Iterator[Path]:
    """A labcluster of its own, stopped (with every pod process) at the end."""
    home = temp_dir("jupyterlab-cluster-")
    try:
        yield labcluster.ensure_running(home)
    finally:
        labcluster.stop(home)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def jupyter(cluster_kubeconfig: Path, artefacts: Path) -> Iterator[JupyterServer]:
    """``python -m jupyterlab`` on 127.0.0.1 serving a temp copy of notebooks/."""
    work = temp_dir("jupyterlab-server-")
    root = work / "notebooks"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    settings = work / "settings"
    for name, value in SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(value))
    results = work / "results"
    log = work / "jupyter.log"
    port, token = free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k != "LAB_HEADLESS"}
    env.update({
        "KUBECONFIG": str(cluster_kubeconfig), "LAB_RESULTS_DIR": str(results),
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])]),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(work / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(work / "runtime"), "JUPYTER_CONFIG_DIR": str(work / "config"),
        "IPYTHONDIR": str(work / "ipython"),
    })
    cmd = [sys.executable, "-m", "jupyterlab", "--ip=127.0.0.1", f"--port={port}",
           "--no-browser", f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
    kernels: list = []
    try:
        wait_ready(proc, url, token, log)
        yield JupyterServer(url, token, root, results, log)
        kernels = children(proc.pid)
    finally:
        kernels = kernels or children(proc.pid)
        stop_process(proc, timeout=20)  # SIGTERM: the server shuts its kernels down
        end(kernels)  # and whatever it did not
        if log.exists():
            shutil.copy(log, artefacts / "jupyter.log")
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    """Debian's Chromium driven by Playwright (never ``playwright install``: no download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()
