"""The lab on a node without a C compiler (Binder images may lack gcc): the node README's
"Python-only" shim mode, forced with LABCLUSTER_SHIM_MODE=python. The lab's tiers are
deployed one by one with labhelpers, as notebooks 02–05 do, and every success criterion is
checked; the pods' processes are checked to carry the Python hook, not labnet.so.

Its own cluster: the shim mode is the node's (the server's environment), fixed at start.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from e2e_helpers import Cluster, container_processes

import labhelpers
from labhelpers.lab import TIERS

pytestmark = pytest.mark.timeout(600)
NS = "python-shim-lab"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with Cluster(env={"LABCLUSTER_SHIM_MODE": "python"}) as c:
        yield c


def test_the_lab_tier_by_tier_with_the_python_shim_only(cluster: Cluster) -> None:
    lab = labhelpers.connect(NS, "kubeconfig", kubeconfig=str(cluster.kubeconfig))
    for tier in TIERS:
        lab.deploy(tier)
    shims = {}
    for p in container_processes(str(cluster.home)):
        try:
            env = p.environ()
        except Exception:  # ended while we looked
            continue
        if "LABCLUSTER_SHIM" in env:
            shims[p.pid] = (env["LABCLUSTER_SHIM"], env.get("LD_PRELOAD", ""))
    # the cart and the 2 backends (uvicorn) at least; nginx, redis and postgres rewrite
    # their environ with a process title, so theirs may not be readable
    assert len(shims) >= 3, shims
    assert {shim for shim, _ in shims.values()} == {"python"}, shims
    assert not [pre for _, pre in shims.values() if "labnet" in pre], shims
    result = lab.check()
    failed = result[result["ok"] != "✅"]
    assert failed.empty, failed.to_string()
    assert len(result) == 13
