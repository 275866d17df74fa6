"""Pod Security admission (labcluster/podsecurity.py) through the API: upstream's messages,
the namespace labels, the default level (baseline), warnings, and workloads whose pods
are refused while the workload itself is created (its ReplicaSet records FailedCreate)."""

from __future__ import annotations

import json
import time

import pytest
from kubernetes import client

from labcluster import podsecurity


def _pod(name: str, **spec) -> dict:
    container = {"name": "c", "image": "busybox", "command": ["sleep", "3600"]}
    container.update(spec.pop("container", {}))
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [container], **spec}}


def _refusal(core: client.CoreV1Api, ns: str, body: dict) -> str:
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_pod(ns, body)
    assert err.value.status == 403
    return json.loads(err.value.body)["message"]


def test_privileged_and_host_network_refused_at_the_default_level(kube_target, kube_core,
                                                                  kube_ns) -> None:
    if kube_target.home is None:
        pytest.skip("labcluster's default level is baseline; upstream's built-in is privileged")
    body = _pod("priv", hostNetwork=True, container={"securityContext": {"privileged": True}})
    assert _refusal(kube_core, kube_ns, body) == (
        'pods "priv" is forbidden: violates PodSecurity "baseline:latest": host namespaces '
        '(hostNetwork=true), privileged (container "c" must not set '
        'securityContext.privileged=true)')


def test_host_path_refused_under_baseline(kube_core, kube_ns) -> None:
    body = _pod("hp", volumes=[{"name": "root", "hostPath": {"path": "/"}}],
                container={"volumeMounts": [{"name": "root", "mountPath": "/host"}]})
    assert _refusal(kube_core, kube_ns, body).endswith(
        'violates PodSecurity "baseline:latest": hostPath volumes (volume "root")')


def test_privileged_namespace_admits_and_restricted_warns(kube_core, kube_ns) -> None:
    kube_core.patch_namespace(kube_ns, {"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce": "privileged",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/warn-version": "v1.32"}}})
    body = _pod("priv-ok", container={"securityContext": {"privileged": True}})
    raw = kube_core.create_namespaced_pod(kube_ns, body, _preload_content=False)
    warning = raw.headers.get("Warning", "")
    assert 'would violate PodSecurity "restricted:v1.32": privileged (container "c" must not ' \
           'set securityContext.privileged=true), allowPrivilegeEscalation != false' in warning
    kube_core.delete_namespaced_pod("priv-ok", kube_ns, grace_period_seconds=0)


def test_restricted_namespace_lists_every_failed_check(kube_core, kube_ns) -> None:
    kube_core.patch_namespace(kube_ns, {"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce": "restricted"}}})
    assert _refusal(kube_core, kube_ns, _pod("plain")).endswith(
        'violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false '
        '(container "c" must set securityContext.allowPrivilegeEscalation=false), '
        'unrestricted capabilities (container "c" must set securityContext.capabilities.'
        'drop=["ALL"]), runAsNonRoot != true (pod or container "c" must set securityContext.'
        'runAsNonRoot=true), seccompProfile (pod or container "c" must set securityContext.'
        'seccompProfile.type to "RuntimeDefault" or "Localhost")')
    ok = _pod("ok", securityContext={"runAsNonRoot": True, "runAsUser": 1000,
                                     "seccompProfile": {"type": "RuntimeDefault"}},
              container={"securityContext": {"allowPrivilegeEscalation": False,
                                              "capabilities": {"drop": ["ALL"]}}})
    assert kube_core.create_namespaced_pod(kube_ns, ok).metadata.name == "ok"
    kube_core.delete_namespaced_pod("ok", kube_ns, grace_period_seconds=0)


def test_deployment_admitted_but_its_pods_refused(kube_core, kube_apps, kube_ns) -> None:
    template = _pod("x", hostPID=True)
    template = {"metadata": {"labels": {"app": "hp"}}, "spec": template["spec"]}
    kube_apps.create_namespaced_deployment(kube_ns, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "hp"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "hp"}},
                 "template": template}})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        events = [e for e in kube_core.list_namespaced_event(kube_ns).items
                  if e.reason == "FailedCreate" and e.involved_object.kind == "ReplicaSet"]
        if events:
            break
        time.sleep(0.2)
    assert events, "no FailedCreate event on the ReplicaSet"
    assert 'is forbidden: violates PodSecurity "baseline:latest": host namespaces ' \
           '(hostPID=true)' in events[0].message
    assert kube_core.list_namespaced_pod(kube_ns).items == []


def test_checks_match_upstream_wording() -> None:
    spec = {"containers": [
        {"name": "a", "ports": [{"containerPort": 80, "hostPort": 8080}],
         "securityContext": {"capabilities": {"add": ["NET_ADMIN", "CHOWN", "SYS_TIME"]},
                             "procMount": "Unmasked"}},
        {"name": "b", "ports": [{"containerPort": 81, "hostPort": 8081}]}],
        "securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}],
                            "seccompProfile": {"type": "Unconfined"}}}
    assert podsecurity.detail(podsecurity.evaluate("baseline", {}, spec)) == (
        'non-default capabilities (container "a" must not include "NET_ADMIN", "SYS_TIME" in '
        'securityContext.capabilities.add), hostPort (containers "a", "b" use hostPorts 8080, '
        '8081), procMount (container "a" must not set securityContext.procMount to '
        '"Unmasked"), seccompProfile (pod must not set securityContext.seccompProfile.type to '
        '"Unconfined"), forbidden sysctls (kernel.msgmax)')
    assert podsecurity.policy({"pod-security.kubernetes.io/enforce": "bogus"}, "enforce") == (
        "restricted", "restricted:latest")
    assert podsecurity.policy({}, "warn") is None
