"""Cleanup, last of the lab tests (after test_labhelpers_lab.py and
test_labhelpers_lab_observe.py used the lab; before quickstart deploys its own, so the node
runs one lab at a time)."""

from __future__ import annotations

import pytest
from kubernetes import client
from lh_support import wait_for

import labhelpers
from labhelpers import ownership

pytestmark = [pytest.mark.timeout(400), pytest.mark.cluster]
NS = "ecommerce-lab"
BROKEN_NS = "lh-wrong-db-host"


def test_cleanup_refuses_a_namespace_it_did_not_create(deployed) -> None:
    lab, _ = deployed
    ns = "lh-someone-elses"
    lab.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    lab.core.create_namespaced_config_map(ns, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="theirs"), data={"k": "v"}))
    foreign = lab.in_namespace(ns)
    mine = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "mine"},
            "data": {"a": "b"}}
    with pytest.raises(labhelpers.NotOurs, match="adopt=True"):
        foreign.apply(mine)
    assert foreign.apply(mine, adopt=True) == ["ConfigMap/mine"]
    assert not ownership.is_ours(lab.core.read_namespace(ns).metadata.labels)
    report = foreign.cleanup()
    assert report["deleted"] == ["ConfigMap/mine"]
    assert f"Namespace/{ns} (not created by labhelpers)" in report["left"]
    assert "ConfigMap/theirs" in report["left"]
    assert lab.core.read_namespaced_config_map("theirs", ns).data == {"k": "v"}
    assert lab.core.read_namespace(ns).metadata.name == ns
    lab.core.delete_namespace(ns)


def test_cleanup_removes_what_it_made(deployed) -> None:
    lab, _ = deployed
    for target in (lab.in_namespace(BROKEN_NS), lab):
        report = target.cleanup()
        assert report["deleted"] == [f"Namespace/{target.namespace} (and everything in it)"]
        assert report["left"] == []

    def gone(ns: str) -> bool:
        try:
            lab.core.read_namespace(ns)
        except client.ApiException as exc:
            return exc.status == 404
        return False

    wait_for(lambda: gone(NS) and gone(BROKEN_NS), 90, "both namespaces gone")
