"""One labcluster (with its node: real processes) for the labhelpers tests, in a temp home
that only this session uses; the lab is deployed once through ``Lab.deploy("all")``.
With ``LAB_TEST_KUBECONFIG`` set, the tests use that cluster instead (cluster="kubeconfig")."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from lh_support import TEST_KUBECONFIG, Connected
from procs import cluster_leftovers

import labcluster
import labhelpers


@pytest.fixture(scope="session")
def cluster_home() -> Iterator[Path | None]:
    if TEST_KUBECONFIG:  # someone else's cluster: nothing to start or stop here
        yield None
        return
    # Not under pytest's 0700 tmp dir: PostgreSQL runs as another user and must traverse it.
    home = Path(tempfile.mkdtemp(prefix="labhelpers-test-"))
    home.chmod(0o755)
    old = os.environ.get("LABCLUSTER_HOME")
    os.environ["LABCLUSTER_HOME"] = str(home)  # connect() starts labcluster only by its API
    try:
        yield home
    finally:
        labcluster.stop(home)
        left = cluster_leftovers(home)
        if old is None:
            os.environ.pop("LABCLUSTER_HOME", None)
        else:
            os.environ["LABCLUSTER_HOME"] = old
        shutil.rmtree(home, ignore_errors=True)
    assert not left, f"processes of the test cluster outlived it: {left}"



@pytest.fixture(scope="session")
def connected(cluster_home: Path | None) -> Connected:
    """$LAB_TEST_KUBECONFIG's cluster when set, else a labcluster of this session."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        if TEST_KUBECONFIG:
            lab = labhelpers.connect(cluster="kubeconfig", kubeconfig=TEST_KUBECONFIG)
        else:
            lab = labhelpers.connect(cluster="labcluster")
    return Connected(lab, out.getvalue())


@pytest.fixture(scope="session")
def deployed(connected: Connected):
    """(lab, the pods table deploy("all") returned)."""
    table = connected.lab.deploy("all")
    return connected.lab, table
