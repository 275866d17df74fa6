"""ServiceAccount admission (labcluster/serviceaccount.py), as upstream's plugin: the pod's
ServiceAccount defaulted and required, the projected kube-api-access volume and its mount,
automountServiceAccountToken honoured; kube-root-ca.crt in every namespace and the
`kubernetes` Service in default. Against the session's control plane (no node needed)."""

from __future__ import annotations

import re
import secrets

import pytest
from kubernetes import client, watch

SA_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


def _pod(name: str, **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "main", "image": "busybox:1.36",
                                     "command": ["sleep", "60"]}],
                     "initContainers": [{"name": "init", "image": "busybox:1.36",
                                         "command": ["true"]}], **spec}}


def test_a_pod_gets_the_default_account_and_the_kube_api_access_volume(kube_core, kube_ns):
    pod = kube_core.create_namespaced_pod(kube_ns, _pod("p"))
    assert pod.spec.service_account_name == "default"
    assert pod.spec.service_account == "default"
    (volume,) = [v for v in pod.spec.volumes if v.name.startswith("kube-api-access-")]
    assert re.fullmatch(r"kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}", volume.name)
    projected = client.ApiClient().sanitize_for_serialization(volume.projected)
    assert projected == {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt",
                       "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
            "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}
    for c in pod.spec.containers + pod.spec.init_containers:
        mounts = [(m.name, m.mount_path, m.read_only) for m in c.volume_mounts]
        assert mounts == [(volume.name, SA_PATH, True)], c.name


def test_a_missing_service_account_is_refused_with_upstreams_words(kube_core, kube_ns):
    with pytest.raises(client.ApiException) as err:
        kube_core.create_namespaced_pod(kube_ns, _pod("p", serviceAccountName="ghost"))
    assert err.value.status == 403
    import json
    assert json.loads(err.value.body)["message"] == (
        f'pods "p" is forbidden: error looking up service account {kube_ns}/ghost: '
        'serviceaccount "ghost" not found')


def test_automount_false_on_the_pod_or_the_account_adds_nothing(kube_core, kube_ns):
    pod = kube_core.create_namespaced_pod(kube_ns, _pod("off",
                                                        automountServiceAccountToken=False))
    assert not pod.spec.volumes
    kube_core.create_namespaced_service_account(kube_ns, {
        "metadata": {"name": "quiet"}, "automountServiceAccountToken": False})
    pod = kube_core.create_namespaced_pod(kube_ns, _pod("quiet", serviceAccountName="quiet"))
    assert not pod.spec.volumes
    # the pod's own setting wins over the account's
    pod = kube_core.create_namespaced_pod(kube_ns, _pod(
        "loud", serviceAccountName="quiet", automountServiceAccountToken=True))
    assert [v.name[:16] for v in pod.spec.volumes] == ["kube-api-access-"]


def test_a_container_that_mounts_the_folder_itself_is_left_alone(kube_core, kube_ns):
    spec = _pod("own", volumes=[{"name": "mine", "emptyDir": {}}])
    spec["spec"]["containers"][0]["volumeMounts"] = [{"name": "mine", "mountPath": SA_PATH}]
    pod = kube_core.create_namespaced_pod(kube_ns, spec)
    assert [m.name for m in pod.spec.containers[0].volume_mounts] == ["mine"]
    assert [m.name[:16] for m in pod.spec.init_containers[0].volume_mounts] == \
        ["kube-api-access-"]


def test_every_namespace_has_the_root_ca_and_default_has_the_kubernetes_service(
        kube_core, kube_ns, kube_target):
    cm = kube_core.read_namespaced_config_map("kube-root-ca.crt", kube_ns)
    assert cm.data["ca.crt"].startswith("-----BEGIN CERTIFICATE-----")
    if kube_target.home is not None:
        assert cm.data["ca.crt"] == (kube_target.home / "ca.crt").read_text()
    svc = kube_core.read_namespaced_service("kubernetes", "default")
    assert [(p.name, p.port, p.protocol) for p in svc.spec.ports] == [("https", 443, "TCP")]
    assert svc.spec.selector is None
    ep = kube_core.read_namespaced_endpoints("kubernetes", "default")
    assert ep.subsets[0].ports[0].name == "https"


def test_a_namespace_made_by_server_side_apply_gets_them_too(kube_core):
    """`kubectl apply --server-side` (and labhelpers' deploy) create a namespace through
    apply, not POST: it must get its `default` ServiceAccount and kube-root-ca.crt all the
    same, or its first pod fails with `configmap "kube-root-ca.crt" not found`."""
    name = "lc-ssa-" + secrets.token_hex(3)
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    kube_core.patch_namespace(name, body, field_manager="test", force=True,
                              _content_type="application/apply-patch+yaml")
    try:
        assert kube_core.read_namespaced_config_map("kube-root-ca.crt", name).data["ca.crt"]
        assert kube_core.read_namespaced_service_account("default", name).metadata.name
        pod = kube_core.create_namespaced_pod(name, _pod("first"))
        assert [v.name[:16] for v in pod.spec.volumes] == ["kube-api-access-"]
    finally:
        kube_core.delete_namespace(name)


ROOT_CA = "kube-root-ca.crt"
DESCRIPTION = "kubernetes.io/description"


def _published(kube_core, ns: str, ca: str) -> client.V1ConfigMap:
    """kube-root-ca.crt once it holds exactly the CA again: listed, then watched from the
    list's resourceVersion (an informer's list+watch), for at most 10 s."""
    selector = f"metadata.name={ROOT_CA}"
    listed = kube_core.list_namespaced_config_map(ns, field_selector=selector)
    for cm in listed.items:
        if cm.data == {"ca.crt": ca} and (cm.metadata.annotations or {}).get(DESCRIPTION):
            return cm
    w = watch.Watch()
    for event in w.stream(kube_core.list_namespaced_config_map, ns, field_selector=selector,
                          resource_version=listed.metadata.resource_version,
                          timeout_seconds=10, _request_timeout=15):
        cm = event["object"]
        if event["type"] in ("ADDED", "MODIFIED") and cm.data == {"ca.crt": ca} and (
                cm.metadata.annotations or {}).get(DESCRIPTION):
            w.stop()
            return cm
    raise AssertionError(f"{ROOT_CA} in {ns} was not published again within 10 s")


def test_the_root_ca_is_published_again_when_deleted_or_edited(kube_core, kube_ns):
    """root-ca-cert-publisher: a deleted kube-root-ca.crt is created again at once, and an
    edited one gets back exactly `{"ca.crt": CA}` and its description annotation (other
    annotations stay), as upstream's syncNamespace."""
    before = kube_core.read_namespaced_config_map(ROOT_CA, kube_ns)
    ca = before.data["ca.crt"]
    kube_core.delete_namespaced_config_map(ROOT_CA, kube_ns)
    again = _published(kube_core, kube_ns, ca)
    assert again.metadata.uid != before.metadata.uid  # a new object, not the old one

    edited = kube_core.patch_namespaced_config_map(ROOT_CA, kube_ns, {
        "metadata": {"annotations": {DESCRIPTION: None, "mine": "kept"}},
        "data": {"ca.crt": "not a CA", "extra": "x"}})
    assert edited.data == {"ca.crt": "not a CA", "extra": "x"}  # the edit itself went in
    restored = _published(kube_core, kube_ns, ca)
    assert restored.metadata.uid == again.metadata.uid  # written back, not re-created
    assert restored.metadata.annotations["mine"] == "kept"
