"""JSON merge, strategic merge, JSON patch and server-side apply (create, update, conflicts)."""

from __future__ import annotations

import pytest
from kube_helpers import deployment, status_body
from kubernetes import client

pytestmark = pytest.mark.cluster


def _patch(kube_api, path: str, body, content_type: str, **query):
    """PATCH with an explicit Content-Type (the typed client picks one for us)."""
    q = "&".join(f"{k}={v}" for k, v in query.items())
    resp = kube_api.call_api(*kube_api.param_serialize(
        method="PATCH", resource_path=path + (f"?{q}" if q else ""),
        header_params={"Content-Type": content_type, "Accept": "application/json"},
        body=body, auth_settings=["BearerToken"]))
    resp.read()
    if resp.status >= 400:
        raise client.ApiException.from_response(http_resp=resp, body=resp.data.decode(),
                                                data=None)
    return resp


def _json(resp):
    import json
    return json.loads(resp.data)


def test_merge_patch_replaces_lists_and_deletes_with_null(kube_api, kube_apps, kube_ns):
    kube_apps.create_namespaced_deployment(kube_ns, deployment("m", replicas=0))
    path = f"/apis/apps/v1/namespaces/{kube_ns}/deployments/m"
    body = {"metadata": {"labels": {"a": "1"}},
            "spec": {"template": {"spec": {"containers": [{"name": "other", "image": "x:1"}]}}}}
    obj = _json(_patch(kube_api, path, body, "application/merge-patch+json"))
    assert [c["name"] for c in obj["spec"]["template"]["spec"]["containers"]] == ["other"]
    obj = _json(_patch(kube_api, path, {"metadata": {"labels": {"a": None}}},
                       "application/merge-patch+json"))
    assert "a" not in (obj["metadata"].get("labels") or {})


def test_strategic_merge_patch_merges_containers_and_env_by_name(kube_apps, kube_ns):
    d = deployment("s", replicas=0)
    d["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    kube_apps.create_namespaced_deployment(kube_ns, d)
    patched = kube_apps.patch_namespaced_deployment("s", kube_ns, {"spec": {"template": {"spec": {
        "containers": [
            {"name": "web", "image": "nginx:1.28",
             "env": [{"name": "B", "value": "two"}, {"name": "C", "value": "3"},
                     {"name": "A", "$patch": "delete"}]},
            {"name": "sidecar", "image": "busybox:1.36"}]}}}})
    cs = patched.spec.template.spec.containers
    assert [c.name for c in cs] == ["web", "sidecar"]
    assert cs[0].image == "nginx:1.28"
    assert cs[0].ports[0].container_port == 80  # kept: merged, not replaced
    assert [(e.name, e.value) for e in cs[0].env] == [("B", "two"), ("C", "3")]


def test_json_patch(kube_api, kube_core, kube_ns):
    kube_core.create_namespaced_config_map(kube_ns, {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j"}, "data": {"a": "1"}})
    path = f"/api/v1/namespaces/{kube_ns}/configmaps/j"
    ops = [{"op": "add", "path": "/data/b", "value": "2"}, {"op": "remove", "path": "/data/a"}]
    assert _json(_patch(kube_api, path, ops, "application/json-patch+json"))["data"] == {"b": "2"}


def test_patch_with_stale_resource_version_conflicts(kube_core, kube_ns):
    cm = kube_core.create_namespaced_config_map(kube_ns, {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "p"}, "data": {"a": "1"}})
    kube_core.patch_namespaced_config_map("p", kube_ns, {"data": {"a": "2"}})
    with pytest.raises(client.ApiException) as err:
        kube_core.patch_namespaced_config_map("p", kube_ns, {
            "metadata": {"resourceVersion": cm.metadata.resource_version}, "data": {"a": "3"}})
    assert status_body(err.value)["reason"] == "Conflict"


def _apply(kube_api, path: str, body: dict, manager: str, force: bool = False):
    query = {"fieldManager": manager}
    if force:
        query["force"] = "true"
    return _patch(kube_api, path, body, "application/apply-patch+yaml", **query)


def test_server_side_apply_create_update_and_field_removal(kube_api, kube_ns):
    path = f"/api/v1/namespaces/{kube_ns}/configmaps/ssa"
    cfg = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"},
           "data": {"a": "1", "b": "2"}}
    resp = _apply(kube_api, path, cfg, "lab")
    assert resp.status == 201
    obj = _json(resp)
    assert obj["data"] == {"a": "1", "b": "2"}
    entry = next(e for e in obj["metadata"]["managedFields"] if e["manager"] == "lab")
    assert entry["operation"] == "Apply"
    assert entry["fieldsV1"]["f:data"] == {"f:a": {}, "f:b": {}}
    # applying again without b removes b (this manager owned it alone)
    cfg["data"] = {"a": "1", "c": "3"}
    resp = _apply(kube_api, path, cfg, "lab")
    assert resp.status == 200 and _json(resp)["data"] == {"a": "1", "c": "3"}


def test_server_side_apply_conflict_and_force(kube_api, kube_ns):
    path = f"/api/v1/namespaces/{kube_ns}/configmaps/owned"
    _apply(kube_api, path, {"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": "owned"}, "data": {"x": "1"}}, "alice")
    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owned"},
             "data": {"x": "2"}}
    with pytest.raises(client.ApiException) as err:
        _apply(kube_api, path, other, "bob")
    body = status_body(err.value)
    assert (err.value.status, body["reason"]) == (409, "Conflict")
    assert body["message"] == 'Apply failed with 1 conflict: conflict with "alice" using v1: .data.x'
    assert body["details"]["causes"][0]["field"] == ".data.x"
    forced = _json(_apply(kube_api, path, other, "bob", force=True))
    assert forced["data"] == {"x": "2"}
    managers = {e["manager"] for e in forced["metadata"]["managedFields"]}
    assert "bob" in managers and "alice" not in managers


def test_server_side_apply_needs_field_manager(kube_api, kube_ns):
    path = f"/api/v1/namespaces/{kube_ns}/configmaps/nofm"
    with pytest.raises(client.ApiException) as err:
        _patch(kube_api, path, {"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": {"name": "nofm"}}, "application/apply-patch+yaml")
    assert err.value.status == 422
    assert "fieldManager: Required value" in status_body(err.value)["message"]


def test_server_side_apply_deployment_keeps_other_managers_fields(kube_api, kube_apps, kube_ns):
    path = f"/apis/apps/v1/namespaces/{kube_ns}/deployments/web"
    d = deployment("web", replicas=0)
    _apply(kube_api, path, d, "lab")
    # another writer (kubectl scale) changes replicas through the scale subresource
    kube_apps.patch_namespaced_deployment_scale("web", kube_ns, {"spec": {"replicas": 0}})
    d["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"
    obj = _json(_apply(kube_api, path, d, "lab"))
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert obj["metadata"]["generation"] == 2


def test_scale_subresource_both_ways(kube_apps, kube_ns):
    kube_apps.create_namespaced_deployment(kube_ns, deployment("sc", replicas=0))
    scale = kube_apps.read_namespaced_deployment_scale("sc", kube_ns)
    assert scale.spec.replicas == 0 and scale.status.selector == "app=sc"
    kube_apps.replace_namespaced_deployment_scale("sc", kube_ns, {
        "apiVersion": "autoscaling/v1", "kind": "Scale",
        "metadata": {"name": "sc", "namespace": kube_ns}, "spec": {"replicas": 3}})
    assert kube_apps.read_namespaced_deployment("sc", kube_ns).spec.replicas == 3
    kube_apps.patch_namespaced_deployment_scale("sc", kube_ns, {"spec": {"replicas": 1}})
    assert kube_apps.read_namespaced_deployment_scale("sc", kube_ns).spec.replicas == 1


def test_concurrent_patches_lose_nothing(kube_core, kube_ns):
    from concurrent.futures import ThreadPoolExecutor

    kube_core.create_namespaced_config_map(kube_ns, {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "many"}, "data": {}})

    def add(i: int) -> None:
        kube_core.patch_namespaced_config_map("many", kube_ns, {"data": {f"k{i}": str(i)}})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(add, range(40)))
    data = kube_core.read_namespaced_config_map("many", kube_ns).data
    assert data == {f"k{i}": str(i) for i in range(40)}
