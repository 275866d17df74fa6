"""A namespace re-created right after its deletion finished must survive: the namespace
controller finishes the deletion of the namespace it started with (its uid), never a new
object that took the name (found in the course: `kubectl delete ns x; kubectl create ns x`)."""

from __future__ import annotations

import secrets
import time

import pytest
from kubernetes import client

pytestmark = pytest.mark.cluster


def _ns(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def test_namespace_recreated_after_deletion_is_kept(kube_core):
    name = "lc-recreate-" + secrets.token_hex(3)
    old = kube_core.create_namespace(_ns(name))
    kube_core.create_namespaced_config_map(name, {"apiVersion": "v1", "kind": "ConfigMap",
                                                  "metadata": {"name": "c"}})
    kube_core.delete_namespace(name)
    deadline = time.monotonic() + 30
    while True:  # re-create as soon as the name is free again
        try:
            new = kube_core.create_namespace(_ns(name))
            break
        except client.ApiException as exc:
            assert exc.status == 409, exc.body
            assert time.monotonic() < deadline, "old namespace never went away"
            time.sleep(0.02)
    assert new.metadata.uid != old.metadata.uid
    kube_core.create_namespaced_config_map(name, {"apiVersion": "v1", "kind": "ConfigMap",
                                                  "metadata": {"name": "kept"}})
    time.sleep(4)  # longer than the controller's delay plus a few of its passes
    got = kube_core.read_namespace(name)
    assert got.metadata.uid == new.metadata.uid
    assert got.metadata.deletion_timestamp is None
    assert kube_core.read_namespaced_config_map("kept", name).metadata.name == "kept"
    kube_core.delete_namespace(name)
