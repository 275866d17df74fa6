"""End to end, one small cluster: the node's finer behaviours (storage defaulting,
read-only mounts, volume updates, heartbeats, privileged ports), official client only."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from e2e_helpers import Cluster, wait_for
from kubernetes import client

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    try:
        yield c
    finally:
        c.down()
        shutil.rmtree(c.home, ignore_errors=True)


def _claim(name: str, cls: str | None = None) -> dict:
    spec: dict = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Mi"}}}
    if cls is not None:
        spec["storageClassName"] = cls
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
            "spec": spec}


# ---------------------------------------------------------------------------- storage
def test_claim_without_class_gets_the_default_class(cluster: Cluster) -> None:
    created = cluster.core.create_namespaced_persistent_volume_claim(
        "default", _claim("no-class"))
    assert created.spec.storage_class_name == "standard"  # set at admission, in the answer
    bound = wait_for(lambda: (c := cluster.core.read_namespaced_persistent_volume_claim(
        "no-class", "default")).status.phase == "Bound" and c, 20, "no-class Bound")
    pv = cluster.core.read_persistent_volume(bound.spec.volume_name)
    assert pv.spec.storage_class_name == "standard"


def test_newest_default_class_wins_and_explicit_class_is_kept(cluster: Cluster) -> None:
    storage = client.StorageV1Api(cluster.api)
    storage.create_storage_class({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "fast", "annotations": {
            "storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "labcluster.io/host-dir"})
    try:
        newer = cluster.core.create_namespaced_persistent_volume_claim(
            "default", _claim("newer-default"))
        assert newer.spec.storage_class_name == "fast"
        missing = cluster.core.create_namespaced_persistent_volume_claim(
            "default", _claim("explicit-missing", "no-such-class"))
        assert missing.spec.storage_class_name == "no-such-class"
        events = wait_for(lambda: [e for e in cluster.core.list_namespaced_event(
            "default").items if e.involved_object.name == "explicit-missing"
            and e.reason == "ProvisioningFailed"], 20, "ProvisioningFailed")
        assert 'storageclass.storage.k8s.io "no-such-class" not found' in events[0].message
        assert cluster.core.read_namespaced_persistent_volume_claim(
            "explicit-missing", "default").status.phase == "Pending"
        none = cluster.core.create_namespaced_persistent_volume_claim(
            "default", _claim("empty-class", ""))
        assert none.spec.storage_class_name == ""  # "" means no class: not defaulted
    finally:
        storage.delete_storage_class("fast", _preload_content=False)
