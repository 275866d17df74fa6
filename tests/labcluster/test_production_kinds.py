"""autoscaling/v2 HorizontalPodAutoscaler and policy/v1 PodDisruptionBudget without the
node: discovery, `kubectl explain`/`get`, defaulting and validation as the real API
server words them, the PDB's status and the eviction subresource (pods made Ready by the
kubelet stand-in). The HPA's scaling on measured CPU needs the node:
node/test_e2e_production.py."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest
from kube_helpers import deployment, kubelet_stand_in, status_body, wait_for
from kubernetes import client
from tools import KUBECTL_INSTALL, needs_tool

pytestmark = [pytest.mark.cluster]
needs_kubectl = needs_tool("kubectl", shutil.which("kubectl"), KUBECTL_INSTALL)


def kubectl(target, ns: str, *args: str) -> str:
    proc = subprocess.run(["kubectl", "--kubeconfig", str(target.kubeconfig), "-n", ns, *args],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def hpa(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                        "name": name}, "maxReplicas": 5, **spec}}


def pdb(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": name}}, **spec}}


def create(api: client.ApiClient, ns: str, obj: dict[str, Any]) -> dict[str, Any]:
    plural = {"HorizontalPodAutoscaler": "horizontalpodautoscalers",
              "PodDisruptionBudget": "poddisruptionbudgets"}[obj["kind"]]
    return client.CustomObjectsApi(api).create_namespaced_custom_object(
        *obj["apiVersion"].split("/"), ns, plural, obj)


def get(api: client.ApiClient, ns: str, kind: str, name: str) -> dict[str, Any]:
    group, version, plural = {"hpa": ("autoscaling", "v2", "horizontalpodautoscalers"),
                              "pdb": ("policy", "v1", "poddisruptionbudgets")}[kind]
    return client.CustomObjectsApi(api).get_namespaced_custom_object(group, version, ns,
                                                                     plural, name)


def invalid(api: client.ApiClient, ns: str, obj: dict[str, Any]) -> str:
    with pytest.raises(client.ApiException) as info:
        create(api, ns, obj)
    assert info.value.status == 422
    return status_body(info.value)["message"]


def test_hpa_defaults_as_the_api_server(kube_api, kube_ns):
    plain = create(kube_api, kube_ns, hpa("plain"))
    assert plain["spec"]["minReplicas"] == 1
    assert plain["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
    assert "behavior" not in plain["spec"]
    tuned = create(kube_api, kube_ns, hpa("tuned", behavior={
        "scaleDown": {"stabilizationWindowSeconds": 60}}))
    assert tuned["spec"]["behavior"] == {
        "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
            {"type": "Pods", "value": 4, "periodSeconds": 15},
            {"type": "Percent", "value": 100, "periodSeconds": 15}]},
        "scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": "Max", "policies": [
            {"type": "Percent", "value": 100, "periodSeconds": 15}]}}


def test_hpa_and_pdb_validation_messages(kube_api, kube_ns):
    assert invalid(kube_api, kube_ns, hpa("a", minReplicas=4, maxReplicas=2)) == (
        'HorizontalPodAutoscaler.autoscaling "a" is invalid: spec.maxReplicas: Invalid value: '
        "2: must be greater than or equal to `minReplicas`")
    assert invalid(kube_api, kube_ns, hpa("b", minReplicas=0)) == (
        'HorizontalPodAutoscaler.autoscaling "b" is invalid: spec.minReplicas: Invalid value: '
        "0: must be greater than or equal to 1")
    assert invalid(kube_api, kube_ns, hpa("c", metrics=[{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 0}}}])) == (
        'HorizontalPodAutoscaler.autoscaling "c" is invalid: '
        "spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be "
        "greater than 0")
    assert invalid(kube_api, kube_ns, pdb("d", minAvailable=1, maxUnavailable=1)) == (
        'PodDisruptionBudget.policy "d" is invalid: spec.minAvailable: Invalid value: 1: '
        "minAvailable and maxUnavailable cannot be both set")
    assert invalid(kube_api, kube_ns, pdb("e", maxUnavailable="150%")) == (
        'PodDisruptionBudget.policy "e" is invalid: spec.maxUnavailable: Invalid value: '
        '"150%": must not be greater than 100%')


def evict(core: client.CoreV1Api, ns: str, pod: str) -> client.ApiException | None:
    try:
        core.create_namespaced_pod_eviction(pod, ns, {
            "apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod}})
    except client.ApiException as exc:
        return exc
    return None


def test_pdb_status_and_the_eviction_subresource(kube_api, kube_core, kube_apps, kube_ns):
    kube_apps.create_namespaced_deployment(kube_ns, deployment("web", replicas=2))
    create(kube_api, kube_ns, pdb("web", maxUnavailable=1))
    pods = wait_for(lambda: (p := kube_core.list_namespaced_pod(kube_ns).items) and len(p) == 2
                    and p, what="two pods")
    for i, p in enumerate(pods):
        kubelet_stand_in(kube_core, kube_ns, p.metadata.name, ip=f"127.3.0.{i + 1}")
    status = wait_for(lambda: (s := get(kube_api, kube_ns, "pdb", "web").get("status") or {})
                      .get("currentHealthy") == 2 and s, what="two healthy pods")
    # maxUnavailable counts from the Deployment's replicas: 2 expected, 1 must stay
    assert (status["expectedPods"], status["desiredHealthy"], status["disruptionsAllowed"]) == \
        (2, 1, 1)
    cond = next(c for c in status["conditions"] if c["type"] == "DisruptionAllowed")
    assert (cond["status"], cond["reason"]) == ("True", "SufficientPods")

    first, second = (p.metadata.name for p in pods)
    assert evict(kube_core, kube_ns, first) is None  # the one allowed disruption
    refused = evict(kube_core, kube_ns, second)
    assert refused is not None and refused.status == 429
    body = status_body(refused)
    assert body["reason"] == "TooManyRequests"
    assert body["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert body["details"]["causes"][0]["reason"] == "DisruptionBudget"
    assert body["details"]["causes"][0]["message"].startswith(
        "The disruption budget web needs 1 healthy pods and has ")
    assert kube_core.read_namespaced_pod(second, kube_ns).metadata.deletion_timestamp is None
    # the replacement is Pending: nothing to protect, an eviction deletes it at once
    fresh = wait_for(lambda: [p.metadata.name for p in kube_core.list_namespaced_pod(
        kube_ns).items if p.metadata.name not in (first, second)], what="the replacement pod")
    assert evict(kube_core, kube_ns, fresh[0]) is None
    with pytest.raises(client.ApiException) as gone:
        kube_core.read_namespaced_pod(fresh[0], kube_ns)
    assert gone.value.status == 404


def test_eviction_of_an_unknown_pod_and_a_mismatched_name(kube_core, kube_ns):
    missing = evict(kube_core, kube_ns, "nope")
    assert missing is not None and missing.status == 404
    assert status_body(missing)["message"] == 'pods "nope" not found'
    with pytest.raises(client.ApiException) as bad:
        kube_core.create_namespaced_pod_eviction("nope", kube_ns, {
            "apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "other"}})
    assert bad.value.status == 400
    assert status_body(bad.value)["message"] == ("name in URL does not match name in Eviction "
                                                 "object")


@needs_kubectl
def test_kubectl_api_resources_explain_and_get(kube_target, kube_api, kube_apps, kube_ns):
    resources = kubectl(kube_target, kube_ns, "api-resources").splitlines()
    rows = {line.split()[0]: line.split() for line in resources[1:]}
    assert rows["horizontalpodautoscalers"] == ["horizontalpodautoscalers", "hpa",
                                                "autoscaling/v2", "true",
                                                "HorizontalPodAutoscaler"]
    assert rows["poddisruptionbudgets"] == ["poddisruptionbudgets", "pdb", "policy/v1", "true",
                                            "PodDisruptionBudget"]
    out = kubectl(kube_target, kube_ns, "explain", "hpa.spec")
    lines = [line.strip() for line in out.splitlines()]
    assert lines[:3] == ["GROUP:      autoscaling", "KIND:       HorizontalPodAutoscaler",
                         "VERSION:    v2"]
    assert "FIELD: spec <HorizontalPodAutoscalerSpec>" in lines
    assert "maxReplicas\t<integer> -required-" in lines
    assert "scaleTargetRef\t<CrossVersionObjectReference> -required-" in lines

    kube_apps.create_namespaced_deployment(kube_ns, deployment("api", replicas=1))
    create(kube_api, kube_ns, hpa("api", minReplicas=1))
    create(kube_api, kube_ns, pdb("api", minAvailable="50%"))
    # no metrics API without the node: the real message of a cluster without metrics-server
    reason = wait_for(lambda: next((c for c in (get(kube_api, kube_ns, "hpa", "api").get(
        "status") or {}).get("conditions") or [] if c["type"] == "ScalingActive"), None),
        what="the HPA's ScalingActive condition")
    assert (reason["status"], reason["reason"]) == ("False", "FailedGetResourceMetric")
    assert reason["message"] == (
        "the HPA was unable to compute the replica count: unable to get metrics for resource "
        "cpu: unable to fetch metrics from resource metrics API: the server could not find "
        "the requested resource (get pods.metrics.k8s.io)")
    table = kubectl(kube_target, kube_ns, "get", "hpa").splitlines()
    assert table[0].split() == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS",
                                "REPLICAS", "AGE"]
    assert table[1].split()[:7] == ["api", "Deployment/api", "cpu:", "<unknown>/80%", "1", "5",
                                    "1"]
    table = kubectl(kube_target, kube_ns, "get", "pdb").splitlines()
    assert table[0].split() == ["NAME", "MIN", "AVAILABLE", "MAX", "UNAVAILABLE", "ALLOWED",
                                "DISRUPTIONS", "AGE"]
    assert table[1].split()[:4] == ["api", "50%", "N/A", "0"]
    described = json.loads(kubectl(kube_target, kube_ns, "get", "hpa", "api", "-o", "json"))
    assert described["apiVersion"] == "autoscaling/v2"
    # `kubectl create pdb` posts protobuf (protobuf.py decodes it)
    assert kubectl(kube_target, kube_ns, "create", "pdb", "made", "--selector=app=api",
                   "--max-unavailable=30%").strip() == "poddisruptionbudget.policy/made created"
    made = get(kube_api, kube_ns, "pdb", "made")["spec"]
    assert made == {"maxUnavailable": "30%", "selector": {"matchLabels": {"app": "api"}}}


@needs_kubectl
def test_kubectl_autoscale_makes_an_autoscaling_v1_hpa_stored_as_v2(kube_target, kube_api,
                                                                    kube_apps, kube_ns):
    """`kubectl autoscale` posts an autoscaling/v1 HPA (protobuf); both versions read the
    one stored object, and what v1 cannot say rides in upstream's annotations."""
    kube_apps.create_namespaced_deployment(kube_ns, deployment("ecommerce-backend", 1))
    out = kubectl(kube_target, kube_ns, "autoscale", "deployment", "ecommerce-backend",
                  "--cpu-percent=50", "--min=1", "--max=3")
    assert out.strip() == "horizontalpodautoscaler.autoscaling/ecommerce-backend autoscaled"
    objects = client.CustomObjectsApi(kube_api)
    v2 = get(kube_api, kube_ns, "hpa", "ecommerce-backend")
    assert v2["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]
    v1 = objects.get_namespaced_custom_object("autoscaling", "v1", kube_ns,
                                              "horizontalpodautoscalers", "ecommerce-backend")
    assert v1["apiVersion"] == "autoscaling/v1"
    assert v1["spec"] == {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "ecommerce-backend"},
                          "minReplicas": 1, "maxReplicas": 3,
                          "targetCPUUtilizationPercentage": 50}
    table = kubectl(kube_target, kube_ns, "get", "horizontalpodautoscalers.v1.autoscaling")
    assert table.splitlines()[1].split()[:6] == ["ecommerce-backend",
                                                 "Deployment/ecommerce-backend", "cpu:",
                                                 "<unknown>/50%", "1", "3"]
    # a v2-only metric and behavior survive a v1 read-modify-write (kubectl edit in v1)
    create(kube_api, kube_ns, hpa("both", metrics=[
        {"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": 70}}},
        {"type": "Pods", "pods": {"metric": {"name": "rps"}, "target": {
            "type": "AverageValue", "averageValue": "10"}}}],
        behavior={"scaleDown": {"stabilizationWindowSeconds": 30}}))
    old = objects.get_namespaced_custom_object("autoscaling", "v1", kube_ns,
                                               "horizontalpodautoscalers", "both")
    notes = old["metadata"]["annotations"]
    assert json.loads(notes["autoscaling.alpha.kubernetes.io/metrics"]) == [
        {"type": "Pods", "pods": {"metricName": "rps", "targetAverageValue": "10"}}]
    assert json.loads(notes["autoscaling.alpha.kubernetes.io/behavior"])["ScaleDown"][
        "StabilizationWindowSeconds"] == 30
    old["spec"]["maxReplicas"] = 7
    objects.replace_namespaced_custom_object("autoscaling", "v1", kube_ns,
                                             "horizontalpodautoscalers", "both", old)
    new = get(kube_api, kube_ns, "hpa", "both")
    assert new["spec"]["maxReplicas"] == 7
    assert [m["type"] for m in new["spec"]["metrics"]] == ["Resource", "Pods"]
    assert new["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 30
    assert "annotations" not in new["metadata"]
