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
    lab.core.create_namespaced_persistent_volume_claim(ns, client.V1PersistentVolumeClaim(
        metadata=client.V1ObjectMeta(name="data-theirs-0"),
        spec=client.V1PersistentVolumeClaimSpec(
            access_modes=["ReadWriteOnce"],
            resources=client.V1VolumeResourceRequirements(requests={"storage": "1Mi"}))))
    foreign = lab.in_namespace(ns)
    mine = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "mine"},
            "data": {"a": "b"}}
    with pytest.raises(labhelpers.NotOurs, match="adopt=True"):
        foreign.apply(mine)
    assert foreign.apply(mine, adopt=True) == ["ConfigMap/mine"]
    # a StatefulSet of ours: its controller makes data-web-0 without our labels
    web = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
           "spec": {"serviceName": "web", "replicas": 1,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"containers": [{"name": "c", "image": "busybox:1.36",
                                                          "command": ["sleep", "3600"]}]}},
                    "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Mi"}}}}]}}
    assert foreign.apply(web, adopt=True) == ["StatefulSet/web"]
    claims = lambda: {c.metadata.name for c in  # noqa: E731
                      lab.core.list_namespaced_persistent_volume_claim(ns).items}
    wait_for(lambda: "data-web-0" in claims(), 60, "the StatefulSet's claim data-web-0")
    assert not ownership.is_ours(lab.core.read_namespace(ns).metadata.labels)
    report = foreign.cleanup()
    assert sorted(report["deleted"]) == ["ConfigMap/mine", "PersistentVolumeClaim/data-web-0",
                                         "StatefulSet/web"]
    assert f"Namespace/{ns} (not created by labhelpers)" in report["left"]
    assert "ConfigMap/theirs" in report["left"]
    assert "PersistentVolumeClaim/data-theirs-0" in report["left"]
    wait_for(lambda: claims() == {"data-theirs-0"}, 60, "only their claim left")
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
