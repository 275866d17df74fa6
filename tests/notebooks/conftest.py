"""One labcluster for the notebook tests, in a temp home only this session uses.

The notebooks run in kernels (other processes), so the cluster reaches them the way it
reaches a learner's: through exported KUBECONFIG / LABCLUSTER_HOME, with LAB_HEADLESS=1
(quizzes render as text) and LAB_RESULTS_DIR (results go to a temp folder, not ~).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import labcluster

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"


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
