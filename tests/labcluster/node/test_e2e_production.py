"""The production kinds on labcluster with its node, through the real kubectl 1.32 where
the lab text uses it: an HPA scaling a Deployment on measured CPU (up to its max, and
down only after the stabilization window), a PodDisruptionBudget refusing the eviction
of the last ready pod (the eviction API and `kubectl drain`), cordon/uncordon.

The cluster runs the HPA controller with a 1 s sync period and a 10 s downscale
stabilization window (upstream: 15 s and 300 s), and the test ends the CPU burn as soon as
it has seen the scale-up (not after a fixed burn time), so the whole cycle takes about
20-30 s. Every wait is bounded.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_helpers import Cluster, is_ready, wait_for
from kubernetes import client
from kubernetes.stream import stream
from tools import KUBECTL_INSTALL, needs_tool

pytestmark = [pytest.mark.timeout(300), needs_tool("kubectl", shutil.which("kubectl"), KUBECTL_INSTALL)]

NS = "prod-test"
WINDOW = 10
NODE = "labcluster"
EVICT_REFUSED = "Cannot evict pod as it would violate the pod's disruption budget."
# light CPU (about 0.1-0.2 of a core: the inner loop, then a `sleep` applet) until the test
# has seen the scale-up and ends it (a `stop` file exec'd into each pod's emptyDir, its
# working dir: containers have no mount namespace), then idle: far above 50% of a 10m
# request while it lasts, ~0% afterwards. The cap (240 rounds, 2 min or more) only keeps
# a failed test's pods from burning for ever.
BURN = ("n=0; while [ ! -e stop ] && [ $n -lt 240 ]; do i=0; while [ $i -lt 5000 ]; do "
        "i=$((i+1)); done; sleep 0.5; n=$((n+1)); done; exec sleep 3600")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with Cluster(env={"LABCLUSTER_HPA_SYNC_SECONDS": "1",
                     "LABCLUSTER_HPA_DOWNSCALE_STABILIZATION_SECONDS": str(WINDOW)}) as c:
        c.core.create_namespace({"metadata": {"name": NS}})
        yield c


def kubectl(cluster: Cluster, *args: str, timeout: float = 60,
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", "--kubeconfig", str(cluster.kubeconfig), "-n", NS,
                           *args], capture_output=True, text=True, timeout=timeout)


def ok(cluster: Cluster, *args: str, stdin: str | None = None) -> str:
    out = subprocess.run(["kubectl", "--kubeconfig", str(cluster.kubeconfig), "-n", NS, *args],
                         capture_output=True, text=True, timeout=60, input=stdin)
    assert out.returncode == 0, f"kubectl {' '.join(args)}: {out.stderr}"
    return out.stdout


def deployment(name: str, command: str, replicas: int = 1,
               workdir: bool = False) -> dict[str, Any]:
    """busybox running ``command``; with ``workdir`` in /work, an emptyDir of its own (where
    BURN looks for the file that ends it; not for drain's pods: kubectl drain refuses
    pods with local storage)."""
    container: dict[str, Any] = {"name": "c", "image": "busybox:1.36",
                                 "command": ["sh", "-c", command],
                                 "resources": {"requests": {"cpu": "10m"}}}
    spec: dict[str, Any] = {"terminationGracePeriodSeconds": 1, "containers": [container]}
    if workdir:
        container.update(workingDir="/work",
                         volumeMounts=[{"name": "work", "mountPath": "/work"}])
        spec["volumes"] = [{"name": "work", "emptyDir": {}}]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}


def end_burn(cluster: Cluster, pod: str) -> bool:
    """Write BURN's ``stop`` file in the pod (exec, as a learner would): True once done."""
    ws = stream(cluster.core.connect_get_namespaced_pod_exec, pod, NS,
                command=["sh", "-c", ": > stop"], stderr=True, stdin=False, stdout=True,
                tty=False, _preload_content=False)
    ws.run_forever(timeout=20)
    return ws.returncode == 0


def hpa_of(cluster: Cluster, name: str) -> dict[str, Any]:
    return json.loads(ok(cluster, "get", "hpa", name, "-o", "json"))


def condition(obj: dict[str, Any], ctype: str) -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions") or []
                 if c["type"] == ctype), {})


def events(cluster: Cluster, name: str, reason: str) -> list[client.CoreV1Event]:
    return [e for e in cluster.core.list_namespaced_event(NS).items
            if e.involved_object.name == name and e.reason == reason]


def test_hpa_scales_up_to_max_on_cpu_and_down_after_the_window(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_deployment(NS, deployment("burn", BURN, workdir=True))
    ok(cluster, "apply", "-f", "-", stdin=json.dumps({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "burn"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                    "name": "burn"},
                 "minReplicas": 1, "maxReplicas": 3,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                     "type": "Utilization", "averageUtilization": 50}}}]}}))
    seen: list[int] = []

    def replicas() -> int:
        n = cluster.apps.read_namespaced_deployment("burn", NS).spec.replicas
        seen.append(n)
        return n

    wait_for(lambda: replicas() == 3, 90, "the HPA to scale burn to its maxReplicas")
    above = "reason: cpu resource utilization (percentage of request) above target"
    up = sorted(e.message for e in events(cluster, "burn", "SuccessfulRescale"))
    # one step in practice (usage ≫ target); a first, lower measure may take two
    assert up in ([f"New size: 3; {above}"], [f"New size: 2; {above}", f"New size: 3; {above}"])
    # the proposal is far above 3 while the burn lasts (usage ≫ 50% of 10m): max holds it
    hpa = wait_for(lambda: condition(h := hpa_of(cluster, "burn"), "ScalingLimited").get(
        "reason") == "TooManyReplicas" and h, 30, "ScalingLimited: TooManyReplicas")
    assert condition(hpa, "ScalingLimited")["status"] == "True"
    assert condition(hpa, "ScalingActive")["reason"] == "ValidMetricFound"
    # REPLICAS is status.currentReplicas: the scale the HPA read at its last sync
    table = wait_for(lambda: (t := ok(cluster, "get", "hpa", "burn").splitlines())[1].split()[
        6:7] == ["3"] and t, 30, "kubectl get hpa to show 3 replicas")
    assert table[0].split() == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS",
                                "REPLICAS", "AGE"]
    cells = table[1].split()
    assert cells[:2] == ["burn", "Deployment/burn"] and cells[2] == "cpu:"
    assert cells[3].endswith("/50%") and cells[4:7] == ["1", "3", "3"]

    # the burn ends (in the 3 pods: is_ready, so exec reaches each): the utilization drops,
    # the metric proposes 1, and the window keeps 3
    pods = wait_for(lambda: len(p := [x.metadata.name for x in cluster.core.list_namespaced_pod(
        NS, label_selector="app=burn").items if is_ready(x)]) == 3 and p, 60, "3 ready burn pods")
    for pod in pods:
        wait_for(lambda pod=pod: end_burn(cluster, pod), 30, f"the stop file in {pod}")
    def held() -> dict[str, Any] | None:
        h = hpa_of(cluster, "burn")
        metrics = h["status"].get("currentMetrics") or [{}]
        util = metrics[0].get("resource", {}).get("current", {}).get("averageUtilization")
        low = util is not None and util < 50
        held = condition(h, "AbleToScale").get("reason") == "ScaleDownStabilized"
        return h if low and held and h["status"]["currentReplicas"] == 3 else None

    stabilized = wait_for(held, 120, "a scale-down held by the stabilization window")
    assert stabilized["status"]["desiredReplicas"] == 3
    wait_for(lambda: replicas() == 1, 60, "the scale-down after the window")
    assert max(seen) == 3  # never above maxReplicas
    rescales = sorted(e.message for e in events(cluster, "burn", "SuccessfulRescale"))
    below = "reason: All metrics below target"
    # one step down in practice; the CPU rate is over the trailing 10 s (PodMetrics'
    # window), so a sync just after the burn ended may have proposed 2 within the window
    assert rescales in (sorted([f"New size: 1; {below}", *up]),
                        sorted([f"New size: 1; {below}", f"New size: 2; {below}", *up]))
    assert condition(hpa_of(cluster, "burn"), "AbleToScale")["reason"] in (
        "SucceededRescale", "ReadyForNewScale")


def pdb_status(cluster: Cluster, name: str) -> dict[str, Any]:
    return json.loads(ok(cluster, "get", "pdb", name, "-o", "json")).get("status") or {}


def evict(cluster: Cluster, pod: str) -> client.ApiException | None:
    try:
        cluster.core.create_namespaced_pod_eviction(pod, NS, {
            "apiVersion": "policy/v1", "kind": "Eviction",
            "metadata": {"name": pod, "namespace": NS}})
    except client.ApiException as exc:
        return exc
    return None


def test_pdb_refuses_evicting_the_last_ready_pod_and_drain_retries(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_deployment(NS, deployment("backend", "exec sleep 3600"))
    ok(cluster, "apply", "-f", "-", stdin=json.dumps({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "backend"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "backend"}}}}))
    wait_for(lambda: pdb_status(cluster, "backend").get("currentHealthy") == 1, 60,
             "the PDB to see the ready backend")
    status = pdb_status(cluster, "backend")
    assert (status["desiredHealthy"], status["expectedPods"], status["disruptionsAllowed"]) == \
        (1, 1, 0)
    assert condition({"status": status}, "DisruptionAllowed")["reason"] == "InsufficientPods"
    table = ok(cluster, "get", "pdb").splitlines()
    assert table[0].split() == ["NAME", "MIN", "AVAILABLE", "MAX", "UNAVAILABLE", "ALLOWED",
                                "DISRUPTIONS", "AGE"]
    assert table[1].split()[:4] == ["backend", "1", "N/A", "0"]

    pod = cluster.core.list_namespaced_pod(NS, label_selector="app=backend").items[0].metadata.name
    refused = evict(cluster, pod)
    assert refused is not None and refused.status == 429
    body = json.loads(refused.body)
    assert body["reason"] == "TooManyRequests" and body["message"] == EVICT_REFUSED
    assert body["details"]["causes"] == [{
        "reason": "DisruptionBudget",
        "message": "The disruption budget backend needs 1 healthy pods and has 1 currently"}]

    drain = kubectl(cluster, "drain", NODE, "--pod-selector=app=backend", "--timeout=6s")
    assert drain.returncode != 0
    assert "node/labcluster cordoned" in drain.stdout
    assert f'error when evicting pods/"{pod}" -n "{NS}" (will retry after 5s): ' \
        f"{EVICT_REFUSED}" in drain.stderr
    assert cluster.core.read_namespaced_pod(pod, NS).metadata.deletion_timestamp is None
    # cordoned: the node says so, and a new pod is not scheduled
    nodes = ok(cluster, "get", "nodes").splitlines()
    assert nodes[1].split()[:2] == [NODE, "Ready,SchedulingDisabled"]
    ok(cluster, "scale", "deployment", "backend", "--replicas=2")
    waiting = wait_for(lambda: [p for p in cluster.core.list_namespaced_pod(
        NS, label_selector="app=backend").items if p.status.conditions and any(
        c.type == "PodScheduled" and c.status == "False" for c in p.status.conditions)],
        30, "the second pod to be refused by the scheduler")
    cond = next(c for c in waiting[0].status.conditions if c.type == "PodScheduled")
    assert "1 node(s) were unschedulable" in cond.message

    assert "node/labcluster uncordoned" in ok(cluster, "uncordon", NODE, "-n", "default")
    wait_for(lambda: pdb_status(cluster, "backend").get("disruptionsAllowed") == 1, 60,
             "two ready backends (one may go)")
    assert evict(cluster, pod) is None  # allowed now
    gone = cluster.core.read_namespaced_pod(pod, NS)
    assert gone.metadata.deletion_timestamp is not None
    target = next(c for c in gone.status.conditions if c.type == "DisruptionTarget")
    assert (target.status, target.reason, target.message) == (
        "True", "EvictionByEvictionAPI", "Eviction API: evicting")

    def replaced() -> bool:
        pods = [p for p in cluster.core.list_namespaced_pod(NS, label_selector="app=backend")
                .items if p.metadata.name != pod]
        return len(pods) == 2 and all(is_ready(p) for p in pods)

    wait_for(replaced, 60, "the Deployment to replace the evicted pod")
