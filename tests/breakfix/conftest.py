"""One labcluster (real processes) for the break & fix tests, in a temp home only they
use, reached by its kubeconfig (the shared LABCLUSTER_HOME env is left alone) and stopped
when the module ends (not kept running through the rest of the suite). Every scenario is started at once, side by side in its own namespace, with
only the workloads its fault needs (``small=True``), so the whole folder fits 2 cores."""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import doctor_cases
import pytest
from procs import cluster_leftovers

import labcluster
import labhelpers
from labhelpers import breakfix, manifests


@pytest.fixture(scope="module")
def bf_home() -> Iterator[Path]:
    # Not under pytest's 0700 tmp dir: PostgreSQL runs as another user and must traverse it.
    home = Path(tempfile.mkdtemp(prefix="breakfix-test-"))
    home.chmod(0o755)
    try:
        yield home
    finally:
        labcluster.stop(home)
        left = cluster_leftovers(home)
        shutil.rmtree(home, ignore_errors=True)
    assert not left, f"processes of the test cluster outlived it: {left}"



@pytest.fixture(scope="module")
def bf_lab(bf_home: Path) -> labhelpers.Lab:
    kubeconfig = labcluster.ensure_running(bf_home)
    with contextlib.redirect_stdout(io.StringIO()):
        return labhelpers.connect("breakfix-healthy", cluster="kubeconfig",
                                  kubeconfig=str(kubeconfig))


@pytest.fixture(scope="module")
def challenges(bf_lab: labhelpers.Lab) -> dict[str, breakfix.Challenge]:
    """name → started challenge (applied all at once; symptoms are awaited per test)."""
    started = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for name in breakfix.names():
            started[name] = breakfix.start(name, lab=bf_lab, small=True, wait=0, show=False)
        bf_lab.apply(manifests.load(breakfix.LAB_DIR))  # the healthy lab, ready later
        bf_lab.in_namespace(doctor_cases.NAMESPACE).apply(doctor_cases.OBJECTS)
    return started
