"""One labcluster control plane (no node: nothing here runs pods) for the dry-run and
notebook 9 tests, in a temp home only this session uses."""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import labcluster
import labhelpers


@pytest.fixture(scope="session")
def control_plane() -> Iterator[tuple[Path, Path]]:
    """(LABCLUSTER_HOME, kubeconfig) of a running control plane."""
    home = Path(tempfile.mkdtemp(prefix="compare-test-"))
    kubeconfig = labcluster.ensure_running(home, env={"LABCLUSTER_NODE": "0"})
    try:
        yield home, kubeconfig
    finally:
        labcluster.stop(home)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def lab(control_plane) -> labhelpers.Lab:
    with contextlib.redirect_stdout(io.StringIO()):
        return labhelpers.connect(cluster="kubeconfig", kubeconfig=str(control_plane[1]))
