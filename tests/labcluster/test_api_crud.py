"""Verbs, metadata, selectors, pagination and optimistic concurrency (official client only)."""

from __future__ import annotations

import pytest
from kube_helpers import NO_NODE, status_body
from kubernetes import client

pytestmark = pytest.mark.cluster


def _cm(name: str, labels: dict[str, str] | None = None, **data: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": labels or {}}, "data": data}


def _pod(name: str, labels: dict[str, str] | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}},
            "spec": {"nodeSelector": NO_NODE,
                     "containers": [{"name": "c", "image": "busybox:1.36"}]}}


def test_create_get_update_delete(kube_core, kube_ns):
    created = kube_core.create_namespaced_config_map(kube_ns, _cm("one", a="1"))
    meta = created.metadata
    assert meta.uid and meta.resource_version and meta.creation_timestamp
    assert meta.namespace == kube_ns
    got = kube_core.read_namespaced_config_map("one", kube_ns)
    assert got.data == {"a": "1"} and got.metadata.uid == meta.uid
    got.data["b"] = "2"
    updated = kube_core.replace_namespaced_config_map("one", kube_ns, got)
    assert updated.data == {"a": "1", "b": "2"}
    assert int(updated.metadata.resource_version) > int(meta.resource_version)
    status = kube_core.delete_namespaced_config_map("one", kube_ns)
    assert status["status"] == "Success" and status["details"]["uid"] == meta.uid
    with pytest.raises(client.ApiException) as err:
        kube_core.read_namespaced_config_map("one", kube_ns)
    assert err.value.status == 404
    body = status_body(err.value)
    assert body["reason"] == "NotFound"
    assert body["message"] == 'configmaps "one" not found'
    assert body["details"] == {"name": "one", "kind": "configmaps"}


def test_already_exists(kube_core, kube_ns):
    kube_core.create_namespaced_config_map(kube_ns, _cm("dup"))
    with pytest.raises(client.ApiException) as err:
        kube_core.create_namespaced_config_map(kube_ns, _cm("dup"))
    body = status_body(err.value)
    assert (err.value.status, body["reason"]) == (409, "AlreadyExists")
    assert body["message"] == 'configmaps "dup" already exists'


def test_not_found_grouped_resource_message(kube_apps, kube_ns):
    with pytest.raises(client.ApiException) as err:
        kube_apps.read_namespaced_deployment("x", kube_ns)
    assert status_body(err.value)["message"] == 'deployments.apps "x" not found'
    assert status_body(err.value)["details"]["group"] == "apps"


def test_optimistic_concurrency_conflict(kube_core, kube_ns):
    kube_core.create_namespaced_config_map(kube_ns, _cm("occ", v="0"))
    mine = kube_core.read_namespaced_config_map("occ", kube_ns)
    stale = kube_core.read_namespaced_config_map("occ", kube_ns)
    mine.data["v"] = "1"
    kube_core.replace_namespaced_config_map("occ", kube_ns, mine)
    stale.data["v"] = "2"
    with pytest.raises(client.ApiException) as err:
        kube_core.replace_namespaced_config_map("occ", kube_ns, stale)
    body = status_body(err.value)
    assert (err.value.status, body["reason"]) == (409, "Conflict")
    assert body["message"] == (
        'Operation cannot be fulfilled on configmaps "occ": the object has been '
        "modified; please apply your changes to the latest version and try again")
    assert kube_core.read_namespaced_config_map("occ", kube_ns).data == {"v": "1"}
    # without a resourceVersion the update is unconditional
    stale.metadata.resource_version = None
    assert kube_core.replace_namespaced_config_map("occ", kube_ns, stale).data == {"v": "2"}


def test_generation_counts_spec_changes_only(kube_apps, kube_ns):
    from kube_helpers import deployment

    d = kube_apps.create_namespaced_deployment(kube_ns, deployment("gen", replicas=0))
    assert d.metadata.generation == 1
    d = kube_apps.patch_namespaced_deployment("gen", kube_ns, {"metadata": {"labels": {"x": "y"}}})
    assert d.metadata.generation == 1
    d = kube_apps.patch_namespaced_deployment("gen", kube_ns, {"spec": {"replicas": 1}})
    assert d.metadata.generation == 2


def test_generate_name(kube_core, kube_ns):
    obj = _cm("")
    obj["metadata"] = {"generateName": "gen-"}
    made = kube_core.create_namespaced_config_map(kube_ns, obj)
    assert made.metadata.name.startswith("gen-") and len(made.metadata.name) == 9
    assert made.metadata.generate_name == "gen-"


def test_label_selectors(kube_core, kube_ns):
    for name, labels in [("a", {"app": "web", "tier": "front"}),
                         ("b", {"app": "web", "tier": "back"}),
                         ("c", {"app": "db"}), ("d", {})]:
        kube_core.create_namespaced_config_map(kube_ns, _cm(name, labels))

    def names(selector: str) -> list[str]:
        items = kube_core.list_namespaced_config_map(kube_ns, label_selector=selector).items
        # every namespace also holds kube-root-ca.crt (no labels), as on a real cluster
        return sorted(i.metadata.name for i in items if i.metadata.name != "kube-root-ca.crt")

    assert names("app=web") == ["a", "b"]
    assert names("app==web,tier=back") == ["b"]
    assert names("app!=web") == ["c", "d"]
    assert names("tier in (front,back)") == ["a", "b"]
    assert names("app notin (web)") == ["c", "d"]
    assert names("tier") == ["a", "b"]
    assert names("!tier") == ["c", "d"]
    with pytest.raises(client.ApiException) as err:
        names("app in web")
    assert err.value.status == 400 and status_body(err.value)["reason"] == "BadRequest"


def test_field_selectors(kube_core, kube_ns):
    for n in ("p1", "p2"):
        kube_core.create_namespaced_pod(kube_ns, _pod(n))
    items = kube_core.list_namespaced_pod(kube_ns, field_selector="metadata.name=p2").items
    assert [i.metadata.name for i in items] == ["p2"]
    items = kube_core.list_namespaced_pod(kube_ns, field_selector="status.phase=Pending").items
    assert sorted(i.metadata.name for i in items) == ["p1", "p2"]
    items = kube_core.list_pod_for_all_namespaces(
        field_selector=f"metadata.namespace={kube_ns},metadata.name!=p1").items
    assert [i.metadata.name for i in items] == ["p2"]
    with pytest.raises(client.ApiException) as err:
        kube_core.list_namespaced_pod(kube_ns, field_selector="spec.foo=bar")
    body = status_body(err.value)
    assert (err.value.status, body["message"]) == (400, "field label not supported: spec.foo")


def test_limit_and_continue(kube_core, kube_ns):
    for i in range(7):
        kube_core.create_namespaced_config_map(kube_ns, _cm(f"cm-{i}"))
    first = kube_core.list_namespaced_config_map(kube_ns, limit=3)
    assert len(first.items) == 3 and first.metadata._continue
    total = len(kube_core.list_namespaced_config_map(kube_ns).items)
    assert first.metadata.remaining_item_count == total - 3
    seen = [i.metadata.name for i in first.items]
    token = first.metadata._continue
    while token:
        page = kube_core.list_namespaced_config_map(kube_ns, limit=3, _continue=token)
        assert len(page.items) <= 3
        seen += [i.metadata.name for i in page.items]
        token = page.metadata._continue
    assert len(seen) == total == len(set(seen))
    assert [s for s in seen if s.startswith("cm-")] == [f"cm-{i}" for i in range(7)]


def test_delete_collection(kube_core, kube_ns):
    for n in ("x1", "x2", "y1"):
        kube_core.create_namespaced_config_map(kube_ns, _cm(n, {"grp": n[0]}))
    kube_core.delete_collection_namespaced_config_map(kube_ns, label_selector="grp=x")
    left = sorted(i.metadata.name for i in kube_core.list_namespaced_config_map(
        kube_ns, label_selector="grp").items)
    assert left == ["y1"]


def test_unscheduled_pod_deletes_at_once_and_scheduled_waits_for_kubelet(kube_core, kube_ns):
    kube_core.create_namespaced_pod(kube_ns, _pod("gone"))
    kube_core.delete_namespaced_pod("gone", kube_ns)
    with pytest.raises(client.ApiException):
        kube_core.read_namespaced_pod("gone", kube_ns)


def test_namespace_of_url_must_match_body(kube_core, kube_ns):
    obj = _cm("mismatch")
    obj["metadata"]["namespace"] = "default"
    with pytest.raises(client.ApiException) as err:
        kube_core.create_namespaced_config_map(kube_ns, obj)
    body = status_body(err.value)
    assert (err.value.status, body["reason"]) == (400, "BadRequest")
    assert body["message"] == ("the namespace of the provided object does not match the "
                               "namespace sent on the request")
    assert kube_core.list_namespaced_config_map("default", field_selector=(
        "metadata.name=mismatch")).items == []


def test_create_in_missing_namespace(kube_core):
    with pytest.raises(client.ApiException) as err:
        kube_core.create_namespaced_config_map("no-such-ns-x", _cm("a"))
    body = status_body(err.value)
    assert (err.value.status, body["message"]) == (404, 'namespaces "no-such-ns-x" not found')


def test_secret_string_data_is_stored_as_base64(kube_core, kube_ns):
    kube_core.create_namespaced_secret(kube_ns, {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
        "stringData": {"password": "hunter2"}})
    s = kube_core.read_namespaced_secret("s", kube_ns)
    assert s.data == {"password": "aHVudGVyMg=="} and s.string_data is None
    assert s.type == "Opaque"


def test_service_defaults_and_cluster_ip(kube_core, kube_ns):
    svc = kube_core.create_namespaced_service(kube_ns, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
    assert svc.spec.type == "ClusterIP" and svc.spec.session_affinity == "None"
    assert svc.spec.ports[0].target_port == 80 and svc.spec.ports[0].protocol == "TCP"
    assert svc.spec.cluster_ip and svc.spec.cluster_ips == [svc.spec.cluster_ip]
    ip = svc.spec.cluster_ip
    # PUT without clusterIP keeps it, as the real server does
    svc.spec.cluster_ip = None
    svc.spec.cluster_ips = None
    again = kube_core.replace_namespaced_service("web", kube_ns, svc)
    assert again.spec.cluster_ip == ip


def test_pod_defaults(kube_core, kube_ns):
    pod = kube_core.create_namespaced_pod(kube_ns, {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "d"},
        "spec": {"nodeSelector": NO_NODE, "containers": [
            {"name": "a", "image": "nginx:latest", "ports": [{"containerPort": 80}]},
            {"name": "b", "image": "redis:7"}]}})
    s = pod.spec
    assert (s.restart_policy, s.termination_grace_period_seconds, s.dns_policy) == (
        "Always", 30, "ClusterFirst")
    assert [c.image_pull_policy for c in s.containers] == ["Always", "IfNotPresent"]
    assert s.containers[0].termination_message_path == "/dev/termination-log"
    assert s.containers[0].termination_message_policy == "File"
    assert s.containers[0].ports[0].protocol == "TCP"
    assert pod.status.phase == "Pending"


def test_binding_subresource_schedules_a_pod(kube_target, kube_core, kube_ns):
    if kube_target.home is None:
        pytest.skip("binds to labcluster's node name; a real cluster's scheduler owns this")
    kube_core.create_namespaced_pod(kube_ns, _pod("tobind"))
    # the server answers a Status, as upstream does; the client cannot deserialise that
    # into V1Binding (kubernetes-client/python#825), so read the raw response
    resp = kube_core.create_namespaced_pod_binding("tobind", kube_ns, {
        "apiVersion": "v1", "kind": "Binding", "metadata": {"name": "tobind"},
        "target": {"apiVersion": "v1", "kind": "Node", "name": "labnode"}},
        _preload_content=False)
    assert resp.status == 201
    assert kube_core.read_namespaced_pod("tobind", kube_ns).spec.node_name == "labnode"


def test_node_ports_are_allocated_and_unique(kube_core, kube_ns):
    def svc(name: str, node_port: int | None = None) -> dict:
        port = {"port": 80, **({"nodePort": node_port} if node_port else {})}
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                "spec": {"type": "NodePort", "selector": {"app": "x"}, "ports": [port]}}

    auto = kube_core.create_namespaced_service(kube_ns, svc("auto"))
    taken = auto.spec.ports[0].node_port
    assert 30000 <= taken <= 32767
    with pytest.raises(client.ApiException) as err:
        kube_core.create_namespaced_service(kube_ns, svc("clash", taken))
    body = status_body(err.value)
    assert body["message"] == (f'Service "clash" is invalid: spec.ports[0].nodePort: Invalid '
                               f"value: {taken}: provided port is already allocated")
    kube_core.patch_namespaced_service("auto", kube_ns, {"metadata": {"labels": {"a": "b"}}})
    assert kube_core.read_namespaced_service("auto", kube_ns).spec.ports[0].node_port == taken


def test_strategic_merge_of_ports_volumes_and_mounts(kube_core, kube_ns):
    kube_core.create_namespaced_pod(kube_ns, {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "smp"},
        "spec": {"nodeSelector": NO_NODE,
                 "volumes": [{"name": "a", "emptyDir": {}}],
                 "containers": [{"name": "c", "image": "busybox:1.36",
                                 "ports": [{"containerPort": 80, "name": "http"}],
                                 "volumeMounts": [{"name": "a", "mountPath": "/a"}]}]}})
    # a pod's spec is immutable except images: patch a Deployment template instead
    from kube_helpers import deployment

    apps = client.AppsV1Api(kube_core.api_client)
    d = deployment("smp", replicas=0)
    tpl = d["spec"]["template"]["spec"]
    tpl["volumes"] = [{"name": "a", "emptyDir": {}}]
    tpl["containers"][0]["volumeMounts"] = [{"name": "a", "mountPath": "/a"}]
    apps.create_namespaced_deployment(kube_ns, d)
    patched = apps.patch_namespaced_deployment("smp", kube_ns, {"spec": {"template": {"spec": {
        "volumes": [{"name": "b", "emptyDir": {}}],
        "containers": [{"name": "web",
                        "ports": [{"containerPort": 8443, "name": "https"},
                                  {"containerPort": 80, "name": "web"}],
                        "volumeMounts": [{"name": "b", "mountPath": "/b"}]}]}}}})
    spec = patched.spec.template.spec
    assert sorted(v.name for v in spec.volumes) == ["a", "b"]
    c = spec.containers[0]
    assert sorted((p.container_port, p.name) for p in c.ports) == [(80, "web"), (8443, "https")]
    assert sorted(m.mount_path for m in c.volume_mounts) == ["/a", "/b"]
