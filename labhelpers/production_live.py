"""Two production layers tried on the running lab: its NetworkPolicies and its autoscaler.

Notebook 9 reads production as a diff; these two layers only mean something when a cluster
acts on them, so they are applied to the lab's namespace for a moment, observed, and
removed. Both are measured from the cluster — a pod's connection attempt, the HPA's status and
events — so on a cluster whose network plugin ignores NetworkPolicy, or with no metrics
API, the tables say what did (not) happen instead of what should.
"""

from __future__ import annotations

import time
from typing import Any

from kubernetes import client

from labhelpers import commands, compare
from labhelpers.styling import LabFrame

#: a TCP connect to PostgreSQL from a pod, told apart by curl's exit status: 28 = the
#: connect timed out (a dropped SYN: what a denying policy does), 7 = refused, 52 = connected
#: (PostgreSQL does not speak HTTP: "Empty reply"), 0 = an HTTP answer
CONNECT = ["curl", "-sS", "-o", "/dev/null", "--connect-timeout", "3"]
CURL_OUTCOME = {0: "connected", 52: "connected", 7: "refused", 28: "timed out (dropped)"}
PROBES = (  # (from, to, URL): the architecture's arrows and the one it forbids
    ("deploy/ecommerce-frontend", "PostgreSQL :5432", "http://postgres:5432/"),
    ("deploy/ecommerce-frontend", "backend :5000", "http://ecommerce-backend:5000/health"),
    ("deploy/ecommerce-backend", "PostgreSQL :5432", "http://postgres:5432/"),
)


def _production(kind: str, namespace: str) -> list[dict[str, Any]]:
    """Production's objects of ``kind``, moved into ``namespace`` (the overlay names its own)."""
    out = []
    for obj in compare.render("production"):
        if obj["kind"] == kind:
            obj = {**obj, "metadata": {**obj["metadata"], "namespace": namespace}}
            out.append(obj)
    return out


def _probe(lab: Any, source: str, url: str) -> str:
    result = lab.exec(source, [*CONNECT, url], timeout=20)
    return CURL_OUTCOME.get(result.returncode, f"curl exit {result.returncode}")


def network_policies(lab: Any, settle: float = 10) -> LabFrame:
    """Each arrow probed with production's NetworkPolicies in force, then without them.

    The policies are applied with the lab's own apply (labelled as the lab's, so
    ``lab.cleanup()`` would remove a leftover) and deleted before this returns."""
    policies = _production("NetworkPolicy", lab.namespace)
    net = client.NetworkingV1Api(lab.api)
    if lab.show_kubectl:
        print("$ " + commands.kubectl("apply", "-n", lab.namespace, "-f",
                                    "manifests/production/network-policies.yaml"))
    shown, lab.show_kubectl = lab.show_kubectl, False  # one line for the probes, below
    try:
        lab.apply(policies)
        time.sleep(min(settle, 1.0))  # the node recompiles its table on the store's change
        with_policies = [_probe(lab, src, url) for src, _, url in PROBES]
    finally:
        for p in policies:
            try:
                net.delete_namespaced_network_policy(p["metadata"]["name"], lab.namespace)
            except client.ApiException as exc:
                if exc.status != 404:
                    raise
    try:
        time.sleep(min(settle, 1.0))
        without = [_probe(lab, src, url) for src, _, url in PROBES]
    finally:
        lab.show_kubectl = shown
    if shown:  # what to paste: the forbidden arrow, tried while the policies are in force
        print("$ " + commands.exec_in(lab.namespace, PROBES[0][0], [*CONNECT, PROBES[0][2]]))
        print("$ " + commands.kubectl("delete", "-n", lab.namespace, "-f",
                                    "manifests/production/network-policies.yaml"))
    rows = [{"from": src.removeprefix("deploy/"), "to": to, "with production's policies": a,
             "without them": b} for (src, to, _), a, b in zip(PROBES, with_policies, without,
                                                            strict=True)]
    return LabFrame(rows)


def autoscaler(lab: Any, timeout: float = 60) -> LabFrame:
    """Production's HPA (min 3, max 10, 70 % CPU) on the lab's backend until it acts: the
    lab runs 2 replicas, below its minimum, so the controller's first sync scales to 3.
    Returns what the HPA reported; the HPA is deleted and the backend put back to 2."""
    (hpa,) = _production("HorizontalPodAutoscaler", lab.namespace)
    name = hpa["metadata"]["name"]
    scaling = client.AutoscalingV2Api(lab.api)
    if lab.show_kubectl:
        print("$ " + commands.kubectl("apply", "-n", lab.namespace, "-f",
                                    "manifests/production/autoscaling.yaml"))
    shown, lab.show_kubectl = lab.show_kubectl, False
    rows: list[dict[str, Any]] = []
    try:
        lab.apply([hpa])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = scaling.read_namespaced_horizontal_pod_autoscaler(name, lab.namespace).status
            if status and (status.desired_replicas or 0) >= 3:
                break
            time.sleep(1)
        current = scaling.read_namespaced_horizontal_pod_autoscaler(name, lab.namespace)
        events = [e for e in lab.core.list_namespaced_event(
            lab.namespace, field_selector=f"involvedObject.name={name}").items
            if e.involved_object.kind == "HorizontalPodAutoscaler"]
        st = current.status
        rows = [
            {"what": "replicas wanted by the HPA", "value": str(st.desired_replicas if st else None)},
            {"what": "why (its last event)",
             "value": events[-1].message if events else "no event (yet)"},
            {"what": "conditions", "value": ", ".join(
                f"{c.type}={c.status} ({c.reason})" for c in (st.conditions or [])) if st
                else ""},
        ]
    finally:
        try:
            scaling.delete_namespaced_horizontal_pod_autoscaler(name, lab.namespace)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
        lab.show_kubectl = shown
    if shown:
        print("$ " + commands.kubectl("get", "hpa", "-n", lab.namespace))
        print("$ " + commands.kubectl("delete", "hpa", name, "-n", lab.namespace))
    lab.scale("deploy/ecommerce-backend", 2)
    return LabFrame(rows)
