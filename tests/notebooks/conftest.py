"""One labcluster for the notebook tests, in a temp home only this session uses.

The notebooks run in kernels (other processes), so the cluster reaches them the way it
reaches a learner's: through exported KUBECONFIG / LABCLUSTER_HOME, with LAB_HEADLESS=1
(quizzes render as text) and LAB_RESULTS_DIR (results go to a temp folder, not ~).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import labcluster

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SYSTEM_NAMESPACES = {"default", "kube-system", "kube-public", "kube-node-lease"}


def reset_namespaces(kubeconfig: str, timeout: float = 180) -> None:
    """Delete every namespace a course run made, and wait until they are gone.

    The node has the machine's 2 cores: a lab requests 850m, so a second course run (or a
    break/fix scenario beside the lab) does not fit next to a first one left running."""
    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))
    for ns in api.list_namespace().items:
        if ns.metadata.name not in SYSTEM_NAMESPACES and not ns.metadata.deletion_timestamp:
            api.delete_namespace(ns.metadata.name)
    deadline = time.monotonic() + timeout
    while True:
        left = [n.metadata.name for n in api.list_namespace().items
                if n.metadata.name not in SYSTEM_NAMESPACES]
        if not left:
            return
        assert time.monotonic() < deadline, f"namespaces not deleted after {timeout}s: {left}"
        time.sleep(1)


@pytest.fixture(scope="session")
def course_env() -> Iterator[dict[str, str]]:
    """The environment a headless course run needs, with a running labcluster."""
    # Not under pytest's 0700 tmp dir: PostgreSQL runs as another user and must traverse it.
    home = Path(tempfile.mkdtemp(prefix="notebooks-test-"))
    home.chmod(0o755)
    results = home / "results"
    try:
        kubeconfig = labcluster.ensure_running(home)
        yield {**os.environ, "KUBECONFIG": str(kubeconfig), "LABCLUSTER_HOME": str(home),
               "LAB_HEADLESS": "1", "LAB_RESULTS_DIR": str(results)}
    finally:
        labcluster.stop(home)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def work_dir(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A folder for one course run's outputs, kept when the test fails (the executed
    notebooks show every output). Not pytest's tmp_path: other sessions on a shared
    machine rotate pytest's numbered temp dirs and may delete it mid-run."""
    folder = Path(tempfile.mkdtemp(prefix="notebooks-run-"))
    failed_before = request.session.testsfailed
    yield folder
    if request.session.testsfailed == failed_before:
        shutil.rmtree(folder, ignore_errors=True)
