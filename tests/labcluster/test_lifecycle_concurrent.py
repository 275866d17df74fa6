"""Two processes starting the same home at the same moment share one cluster (two notebook
kernels opened together both call `labcluster.ensure_running`)."""

from __future__ import annotations

import multiprocessing
import shutil
import tempfile
from pathlib import Path

import pytest

import labcluster

pytestmark = pytest.mark.cluster


def _start(home: str, barrier, out) -> None:
    barrier.wait()
    try:
        path = labcluster.ensure_running(home, env={"LABCLUSTER_NODE": "0"})
        out.put(("ok", str(path), Path(path).read_text()))
    except Exception as exc:  # reported to the test, not lost in a child
        out.put(("error", repr(exc), ""))


def test_two_concurrent_ensure_running_share_one_cluster(kube_target):
    if kube_target.home is None:
        pytest.skip("starts its own labcluster: only meaningful against labcluster")
    home = Path(tempfile.mkdtemp(prefix="labcluster-race-"))
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_start, args=(str(home), barrier, out)) for _ in range(2)]
    try:
        for p in procs:
            p.start()
        results = [out.get(timeout=90) for _ in procs]
        for p in procs:
            p.join(30)
        assert [r[0] for r in results] == ["ok", "ok"], results
        assert results[0][1] == results[1][1] == str(home / "kubeconfig")
        assert results[0][2] == results[1][2]  # the same server and token
        st = labcluster.status(home)
        assert st.running, st
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
        labcluster.stop(home)
        shutil.rmtree(home, ignore_errors=True)
