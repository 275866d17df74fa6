"""Watch: ADDED/MODIFIED/DELETED, resume from a resourceVersion, 410 Expired when too old."""

from __future__ import annotations

import threading
import time

import pytest
from kubernetes import client, watch

pytestmark = pytest.mark.cluster


def _cm(name: str, **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": labels}, "data": {"v": "0"}}


def _collect(core, ns, n: int, timeout: int = 5, **kw) -> list[tuple[str, str, str]]:
    events = []
    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_config_map, ns, timeout_seconds=timeout, **kw):
        obj = ev["object"]
        events.append((ev["type"], obj.metadata.name, (obj.data or {}).get("v")))
        if len(events) >= n:
            w.stop()
    return events


def test_watch_streams_changes_as_they_happen(kube_core, kube_ns):
    def writer() -> None:
        time.sleep(0.3)
        kube_core.create_namespaced_config_map(kube_ns, _cm("w"))
        kube_core.patch_namespaced_config_map("w", kube_ns, {"data": {"v": "1"}})
        kube_core.delete_namespaced_config_map("w", kube_ns)

    rv = kube_core.list_namespaced_config_map(kube_ns).metadata.resource_version
    t = threading.Thread(target=writer)
    t.start()
    events = _collect(kube_core, kube_ns, 3, resource_version=rv)
    t.join()
    assert events == [("ADDED", "w", "0"), ("MODIFIED", "w", "1"), ("DELETED", "w", "1")]


def test_watch_without_version_starts_with_current_state(kube_core, kube_ns):
    kube_core.create_namespaced_config_map(kube_ns, _cm("a"))
    kube_core.create_namespaced_config_map(kube_ns, _cm("b"))
    events = _collect(kube_core, kube_ns, 2, timeout=2, label_selector="")
    assert sorted(events) == [("ADDED", "a", "0"), ("ADDED", "b", "0")]


def test_watch_resumes_from_resource_version(kube_core, kube_ns):
    kube_core.create_namespaced_config_map(kube_ns, _cm("r"))
    after = kube_core.patch_namespaced_config_map("r", kube_ns, {"data": {"v": "1"}})
    kube_core.patch_namespaced_config_map("r", kube_ns, {"data": {"v": "2"}})
    kube_core.patch_namespaced_config_map("r", kube_ns, {"data": {"v": "3"}})
    events = _collect(kube_core, kube_ns, 2, resource_version=after.metadata.resource_version)
    assert events == [("MODIFIED", "r", "2"), ("MODIFIED", "r", "3")]


def test_watch_with_label_selector_sees_objects_leave(kube_core, kube_ns):
    kube_core.create_namespaced_config_map(kube_ns, _cm("sel", team="a"))
    rv = kube_core.list_namespaced_config_map(kube_ns).metadata.resource_version
    kube_core.patch_namespaced_config_map("sel", kube_ns, {"metadata": {"labels": {"team": "b"}}})
    kube_core.patch_namespaced_config_map("sel", kube_ns, {"metadata": {"labels": {"team": "a"}}})
    events = _collect(kube_core, kube_ns, 2, resource_version=rv, label_selector="team=a")
    assert [e[0] for e in events] == ["DELETED", "ADDED"]


def test_watch_from_too_old_version_is_410_expired(kube_core, kube_ns):
    first = kube_core.create_namespaced_config_map(kube_ns, _cm("old"))
    # more changes than the watch history keeps (the real server: etcd compaction)
    for i in range(320):
        kube_core.patch_namespaced_config_map("old", kube_ns, {"data": {"v": str(i)}})
    with pytest.raises(client.ApiException) as err:
        _collect(kube_core, kube_ns, 1, timeout=2,
                 resource_version=first.metadata.resource_version)
    assert err.value.status == 410
    assert "Expired: too old resource version" in err.value.reason


def test_watch_pods_across_namespaces(kube_core, kube_ns):
    from kube_helpers import NO_NODE

    rv = kube_core.list_pod_for_all_namespaces().metadata.resource_version
    kube_core.create_namespaced_pod(kube_ns, {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "wp"},
        "spec": {"nodeSelector": NO_NODE, "containers": [{"name": "c", "image": "busybox"}]}})
    w = watch.Watch()
    for ev in w.stream(kube_core.list_pod_for_all_namespaces, resource_version=rv,
                       timeout_seconds=5, field_selector=f"metadata.namespace={kube_ns}"):
        assert (ev["type"], ev["object"].metadata.name) == ("ADDED", "wp")
        w.stop()
        break
    else:
        raise AssertionError("no event")


def test_watch_with_a_bad_selector_is_400(kube_core, kube_ns):
    w = watch.Watch()
    with pytest.raises(client.ApiException) as err:
        for _ in w.stream(kube_core.list_namespaced_config_map, kube_ns, timeout_seconds=2,
                          label_selector="a in b"):
            pass
    assert err.value.status == 400
