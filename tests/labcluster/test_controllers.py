"""Controllers seen through the API: Deployment/ReplicaSet/StatefulSet, endpoints, GC,
namespace deletion. No kubelet runs here: tests marked `kubelet_stand_in` report pod
readiness through pods/status as a kubelet would."""

from __future__ import annotations

import re
import time

import pytest
from kube_helpers import NO_NODE, deployment, kubelet_stand_in, wait_for
from kubernetes import client, watch

pytestmark = pytest.mark.cluster


def _pods(core, ns, selector: str = "") -> list:
    return core.list_namespaced_pod(ns, label_selector=selector).items


def _live(pods) -> list:
    return [p for p in pods if not p.metadata.deletion_timestamp]


def _ready_all(core, ns, selector: str = "") -> int:
    """Play the kubelet: every pod that is not Ready yet becomes Running and Ready."""
    n = 0
    for i, p in enumerate(_pods(core, ns, selector)):
        conds = {c.type: c.status for c in (p.status.conditions or [])}
        if conds.get("Ready") != "True" and not p.metadata.deletion_timestamp:
            kubelet_stand_in(core, ns, p.metadata.name, ip=f"127.3.{i // 250}.{i % 250 + 1}")
            n += 1
    return n


def _events(core, ns, reason: str) -> list[str]:
    """Messages in the order they were recorded (creation resourceVersion)."""
    items = sorted(core.list_namespaced_event(ns).items,
                   key=lambda e: int(e.metadata.resource_version))
    return [e.message for e in items if e.reason == reason]


def test_deployment_creates_replicaset_and_pods(kube_core, kube_apps, kube_ns):
    kube_apps.create_namespaced_deployment(kube_ns, deployment("web", replicas=3))
    rs = wait_for(lambda: kube_apps.list_namespaced_replica_set(kube_ns).items, what="rs")[0]
    h = rs.metadata.labels["pod-template-hash"]
    assert rs.metadata.name == f"web-{h}"
    assert rs.spec.selector.match_labels == {"app": "web", "pod-template-hash": h}
    assert rs.metadata.owner_references[0].kind == "Deployment"
    assert rs.metadata.annotations["deployment.kubernetes.io/revision"] == "1"
    pods = wait_for(lambda: len(_pods(kube_core, kube_ns)) == 3 and _pods(kube_core, kube_ns))
    for p in pods:
        assert re.fullmatch(rf"web-{h}-[a-z0-9]{{5}}", p.metadata.name)
        assert p.metadata.owner_references[0].name == rs.metadata.name
        assert p.metadata.labels["pod-template-hash"] == h
        assert p.status.phase == "Pending" and not p.spec.node_name  # no kubelet here
    assert wait_for(lambda: _events(kube_core, kube_ns, "ScalingReplicaSet")) == [
        f"Scaled up replica set {rs.metadata.name} from 0 to 3"]
    assert len(wait_for(lambda: len(_events(kube_core, kube_ns, "SuccessfulCreate")) == 3
                        and _events(kube_core, kube_ns, "SuccessfulCreate"))) == 3
    d = wait_for(lambda: (x := kube_apps.read_namespaced_deployment("web", kube_ns))
                 .status.replicas == 3 and x, what="status")
    assert d.status.observed_generation == 1
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "1"
    conds = {c.type: c for c in d.status.conditions}
    assert conds["Available"].status == "False"
    assert conds["Available"].reason == "MinimumReplicasUnavailable"


def test_kubelet_stand_in_deployment_becomes_available(kube_core, kube_apps, kube_ns):
    kube_apps.create_namespaced_deployment(kube_ns, deployment("ok", replicas=2))
    wait_for(lambda: len(_pods(kube_core, kube_ns)) == 2)
    _ready_all(kube_core, kube_ns)

    def done():
        d = kube_apps.read_namespaced_deployment("ok", kube_ns)
        conds = {c.type: (c.status, c.reason) for c in d.status.conditions or []}
        return (d.status.available_replicas == 2 and conds.get("Progressing") == (
            "True", "NewReplicaSetAvailable")) and (d, conds)

    d, conds = wait_for(done, what="deployment available")
    assert conds["Available"] == ("True", "MinimumReplicasAvailable")
    assert (d.status.ready_replicas, d.status.updated_replicas, d.status.replicas) == (2, 2, 2)
    msg = next(c.message for c in d.status.conditions if c.type == "Progressing")
    assert re.fullmatch(r'ReplicaSet "ok-[a-z0-9]+" has successfully progressed\.', msg)


def test_kubelet_stand_in_rolling_update_respects_surge_and_unavailable(
        kube_core, kube_apps, kube_ns):
    d = deployment("roll", replicas=3, strategy={
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}})
    kube_apps.create_namespaced_deployment(kube_ns, d)
    wait_for(lambda: len(_pods(kube_core, kube_ns)) == 3)
    _ready_all(kube_core, kube_ns)
    wait_for(lambda: kube_apps.read_namespaced_deployment("roll", kube_ns).status
             .available_replicas == 3)
    kube_apps.patch_namespaced_deployment("roll", kube_ns, {"spec": {"template": {"spec": {
        "containers": [{"name": "web", "image": "nginx:1.28"}]}}}})
    max_pods = 0
    for _ in range(200):
        pods = _live(_pods(kube_core, kube_ns))
        max_pods = max(max_pods, len(pods))
        ready = [p for p in pods if any(c.type == "Ready" and c.status == "True"
                                        for c in p.status.conditions or [])]
        assert len(ready) >= 3, "maxUnavailable=0 but fewer than 3 pods were Ready"
        rss = kube_apps.list_namespaced_replica_set(kube_ns).items
        new = [r for r in rss if r.spec.template.spec.containers[0].image == "nginx:1.28"]
        if new and new[0].status.available_replicas == 3 and all(
                (r.spec.replicas or 0) == 0 for r in rss if r is not new[0]) and len(pods) == 3:
            break
        _ready_all(kube_core, kube_ns)
        time.sleep(0.05)
    else:
        raise AssertionError("rollout did not finish")
    assert max_pods <= 4  # replicas + maxSurge
    assert new[0].metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    scaled = _events(kube_core, kube_ns, "ScalingReplicaSet")
    assert any(m.startswith(f"Scaled up replica set {new[0].metadata.name} from 0 to 1")
               for m in scaled)
    assert any(m.startswith("Scaled down replica set") for m in scaled)


def test_scale_down_and_pod_replacement(kube_core, kube_apps, kube_ns):
    kube_apps.create_namespaced_deployment(kube_ns, deployment("sc", replicas=3))
    pods = wait_for(lambda: len(_pods(kube_core, kube_ns)) == 3 and _pods(kube_core, kube_ns))
    victim = pods[0].metadata.name
    kube_core.delete_namespaced_pod(victim, kube_ns)
    pods = wait_for(lambda: len(_pods(kube_core, kube_ns)) == 3
                    and victim not in [p.metadata.name for p in _pods(kube_core, kube_ns)]
                    and _pods(kube_core, kube_ns), what="replacement pod")
    kube_apps.patch_namespaced_deployment_scale("sc", kube_ns, {"spec": {"replicas": 1}})
    wait_for(lambda: len(_pods(kube_core, kube_ns)) == 1, what="scale down")
    assert wait_for(lambda: _events(kube_core, kube_ns, "SuccessfulDelete"))


def _sts(name: str, replicas: int) -> dict:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
            "spec": {"serviceName": name, "replicas": replicas,
                     "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "nodeSelector": NO_NODE,
                         "containers": [{"name": "pg", "image": "postgres:16",
                                         "volumeMounts": [{"name": "data",
                                                           "mountPath": "/data"}]}]}},
                     "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                         "accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": "1Gi"}}}}]}}


def test_kubelet_stand_in_statefulset_ordered_with_claims(kube_core, kube_apps, kube_ns):
    kube_apps.create_namespaced_stateful_set(kube_ns, _sts("db", 3))

    def names():
        return sorted(p.metadata.name for p in _live(_pods(kube_core, kube_ns)))

    assert wait_for(lambda: names()) == ["db-0"]
    pvc = kube_core.read_namespaced_persistent_volume_claim("data-db-0", kube_ns)
    assert pvc.status.phase == "Pending"
    pod0 = kube_core.read_namespaced_pod("db-0", kube_ns)
    assert pod0.metadata.labels["statefulset.kubernetes.io/pod-name"] == "db-0"
    assert pod0.spec.hostname == "db-0" and pod0.spec.subdomain == "db"
    claim = next(v for v in pod0.spec.volumes if v.name == "data")
    assert claim.persistent_volume_claim.claim_name == "data-db-0"
    # db-1 waits for db-0 to be Ready. Proof that the controller looked and chose to wait
    # (not just that it has not got round to it yet): bump the generation with a field that
    # creates no pod, and wait for the status of that generation — written at the end of a
    # reconcile that saw db-0 not Ready. Had it created db-1, that status would count 2.
    # (A partition matters only to template changes, and this test makes none.)
    kube_apps.patch_namespaced_stateful_set("db", kube_ns, {"spec": {"updateStrategy": {
        "type": "RollingUpdate", "rollingUpdate": {"partition": 1}}}})
    seen = wait_for(lambda: (s := kube_apps.read_namespaced_stateful_set("db", kube_ns))
                    .status.observed_generation == 2 and s, what="generation 2 observed")
    assert seen.status.replicas == 1
    assert names() == ["db-0"]
    for want in (["db-0", "db-1"], ["db-0", "db-1", "db-2"]):
        _ready_all(kube_core, kube_ns)
        assert wait_for(lambda want=want: names() == want and names()) == want
    _ready_all(kube_core, kube_ns)
    sts = wait_for(lambda: (s := kube_apps.read_namespaced_stateful_set("db", kube_ns))
                   .status.ready_replicas == 3 and s)
    assert sts.status.replicas == 3 and sts.status.observed_generation == 2
    # a deleted pod comes back with the same name
    kube_core.delete_namespaced_pod("db-1", kube_ns)
    wait_for(lambda: "db-1" in names() and kube_core.read_namespaced_pod("db-1", kube_ns)
             .status.phase == "Pending", what="db-1 recreated")
    _ready_all(kube_core, kube_ns)
    # scale down: highest ordinal first; claims stay
    kube_apps.patch_namespaced_stateful_set_scale("db", kube_ns, {"spec": {"replicas": 1}})
    assert wait_for(lambda: names() == ["db-0"] and names(), timeout=15) == ["db-0"]
    deleted = _events(kube_core, kube_ns, "SuccessfulDelete")
    order = [m for m in deleted if m in ("delete Pod db-2 in StatefulSet db successful",
                                          "delete Pod db-1 in StatefulSet db successful")]
    assert order[:2] == ["delete Pod db-2 in StatefulSet db successful",
                         "delete Pod db-1 in StatefulSet db successful"]
    claims = sorted(c.metadata.name for c in
                    kube_core.list_namespaced_persistent_volume_claim(kube_ns).items)
    assert claims == ["data-db-0", "data-db-1", "data-db-2"]
    assert "create Claim data-db-0 Pod db-0 in StatefulSet db success" in _events(
        kube_core, kube_ns, "SuccessfulCreate")


def test_kubelet_stand_in_endpoints_follow_readiness(kube_core, kube_apps, kube_ns):
    kube_core.create_namespaced_service(kube_ns, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80,
                                                         "targetPort": "http"}]}})
    kube_core.create_namespaced_service(kube_ns, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "typo"},
        "spec": {"selector": {"app": "wbe"}, "ports": [{"port": 80}]}})
    kube_apps.create_namespaced_deployment(kube_ns, deployment("web", replicas=2))
    pods = wait_for(lambda: len(_pods(kube_core, kube_ns)) == 2 and _pods(kube_core, kube_ns))
    kubelet_stand_in(kube_core, kube_ns, pods[0].metadata.name, ready=True, ip="127.3.1.1")
    kubelet_stand_in(kube_core, kube_ns, pods[1].metadata.name, ready=False, ip="127.3.1.2")

    def subsets():
        ep = kube_core.read_namespaced_endpoints("web", kube_ns)
        s = ep.subsets or []
        return len(s) == 1 and s[0].addresses and s[0].not_ready_addresses and s[0]

    s = wait_for(subsets, what="endpoints")
    assert [a.ip for a in s.addresses] == ["127.3.1.1"]
    assert [a.ip for a in s.not_ready_addresses] == ["127.3.1.2"]
    assert [(p.name, p.port) for p in s.ports] == [("http", 80)]
    assert s.addresses[0].target_ref.name == pods[0].metadata.name
    disc = client.DiscoveryV1Api(kube_core.api_client)
    slices = wait_for(lambda: disc.list_namespaced_endpoint_slice(
        kube_ns, label_selector="kubernetes.io/service-name=web").items)
    eps = {e.addresses[0]: e.conditions.ready for e in slices[0].endpoints}
    assert eps == {"127.3.1.1": True, "127.3.1.2": False}
    assert slices[0].metadata.owner_references[0].name == "web"
    # the Service whose selector matches nothing has no endpoints
    assert not kube_core.read_namespaced_endpoints("typo", kube_ns).subsets
    kubelet_stand_in(kube_core, kube_ns, pods[1].metadata.name, ready=True, ip="127.3.1.2")
    wait_for(lambda: len((kube_core.read_namespaced_endpoints("web", kube_ns).subsets or [
        client.V1EndpointSubset()])[0].addresses or []) == 2, what="both ready")


def test_gc_background_orphan_and_foreground(kube_core, kube_apps, kube_ns):
    kube_apps.create_namespaced_deployment(kube_ns, deployment("bg", replicas=2))
    wait_for(lambda: len(_pods(kube_core, kube_ns, "app=bg")) == 2)
    kube_apps.delete_namespaced_deployment("bg", kube_ns)
    wait_for(lambda: not kube_apps.list_namespaced_replica_set(kube_ns).items
             and not _pods(kube_core, kube_ns, "app=bg"), what="cascade")

    kube_apps.create_namespaced_deployment(kube_ns, deployment("orph", replicas=2))
    rs = wait_for(lambda: kube_apps.list_namespaced_replica_set(kube_ns).items)[0]
    wait_for(lambda: len(_pods(kube_core, kube_ns, "app=orph")) == 2)
    kube_apps.delete_namespaced_deployment("orph", kube_ns, propagation_policy="Orphan")
    wait_for(lambda: not kube_apps.list_namespaced_deployment(kube_ns).items)
    kept = wait_for(lambda: not (r := kube_apps.read_namespaced_replica_set(
        rs.metadata.name, kube_ns)).metadata.owner_references and r, what="orphaned rs")
    assert kept.spec.replicas == 2 and len(_pods(kube_core, kube_ns, "app=orph")) == 2

    kube_apps.delete_namespaced_replica_set(rs.metadata.name, kube_ns,
                                            propagation_policy="Foreground")
    during = kube_apps.read_namespaced_replica_set(rs.metadata.name, kube_ns)
    assert during.metadata.deletion_timestamp and "foregroundDeletion" in (
        during.metadata.finalizers or [])
    wait_for(lambda: not kube_apps.list_namespaced_replica_set(kube_ns).items
             and not _pods(kube_core, kube_ns, "app=orph"), what="foreground")


def test_namespace_deletion_removes_everything(kube_core, kube_apps):
    ns = "lc-nsdel"
    kube_core.create_namespace({"apiVersion": "v1", "kind": "Namespace",
                                "metadata": {"name": ns}})
    kube_core.create_namespaced_config_map(ns, {"apiVersion": "v1", "kind": "ConfigMap",
                                                "metadata": {"name": "c"}})
    kube_apps.create_namespaced_deployment(ns, deployment("d", replicas=1))
    wait_for(lambda: _pods(kube_core, ns))
    kube_core.delete_namespace(ns)
    phase = kube_core.read_namespace(ns).status.phase
    assert phase == "Terminating"

    def gone():
        try:
            kube_core.read_namespace(ns)
        except client.ApiException as exc:
            return exc.status == 404
        return False

    wait_for(gone, timeout=15, what="namespace gone")
    assert not kube_core.list_config_map_for_all_namespaces(
        field_selector=f"metadata.namespace={ns}").items


def test_progress_deadline_exceeded(kube_apps, kube_ns):
    kube_apps.create_namespaced_deployment(kube_ns, deployment(
        "stuck", replicas=1, progressDeadlineSeconds=2))

    def timed_out():
        d = kube_apps.read_namespaced_deployment("stuck", kube_ns)
        conds = (d.status.conditions if d.status else None) or []
        cond = next((c for c in conds if c.type == "Progressing"), None)
        return cond is not None and cond.reason == "ProgressDeadlineExceeded" and cond

    cond = wait_for(timed_out, timeout=15, what="ProgressDeadlineExceeded")
    assert cond.status == "False"
    assert re.fullmatch(r'ReplicaSet "stuck-[a-z0-9]+" has timed out progressing\.',
                        cond.message)


def test_kubelet_stand_in_recreate_removes_old_pods_before_new_ones(
        kube_core, kube_apps, kube_ns):
    """README: Deployment strategy Recreate. Every old pod is gone (DELETED on a pod watch)
    before the first pod of the new template is created (ADDED)."""
    kube_apps.create_namespaced_deployment(kube_ns, deployment("rec", replicas=2, strategy={
        "type": "Recreate"}))
    wait_for(lambda: len(_pods(kube_core, kube_ns)) == 2)
    _ready_all(kube_core, kube_ns)
    wait_for(lambda: kube_apps.read_namespaced_deployment("rec", kube_ns).status
             .available_replicas == 2, what="2 available")
    old = {p.metadata.name for p in _pods(kube_core, kube_ns)}
    rv = kube_core.list_namespaced_pod(kube_ns).metadata.resource_version
    kube_apps.patch_namespaced_deployment("rec", kube_ns, {"spec": {"template": {"spec": {
        "containers": [{"name": "web", "image": "nginx:1.28"}]}}}})
    seen: list[tuple[str, str]] = []
    w = watch.Watch()
    for ev in w.stream(kube_core.list_namespaced_pod, kube_ns, resource_version=rv,
                       timeout_seconds=30):
        if ev["type"] in ("ADDED", "DELETED"):
            seen.append((ev["type"], ev["object"].metadata.name))
        if sum(1 for t, n in seen if t == "ADDED" and n not in old) == 2:
            w.stop()
    added_new = [i for i, (t, n) in enumerate(seen) if t == "ADDED" and n not in old]
    deleted_old = [i for i, (t, n) in enumerate(seen) if t == "DELETED" and n in old]
    assert len(added_new) == 2 and len(deleted_old) == 2, seen
    assert max(deleted_old) < min(added_new), seen
    rss = {r.spec.template.spec.containers[0].image: r.metadata.name
           for r in kube_apps.list_namespaced_replica_set(kube_ns).items}
    scaled = wait_for(lambda: len(s := _events(kube_core, kube_ns, "ScalingReplicaSet")) == 3
                      and s, what="3 scaling events")
    assert scaled == [f"Scaled up replica set {rss['nginx:1.27']} from 0 to 2",
                      f"Scaled down replica set {rss['nginx:1.27']} from 2 to 0",
                      f"Scaled up replica set {rss['nginx:1.28']} from 0 to 2"]


def test_statefulset_parallel_creates_every_pod_at_once(kube_core, kube_apps, kube_ns):
    """README: podManagementPolicy Parallel. No pod is ever Ready here (no kubelet), yet all
    three are created — OrderedReady would stop at db-0 (the test above)."""
    sts = _sts("par", 3)
    sts["spec"]["podManagementPolicy"] = "Parallel"
    kube_apps.create_namespaced_stateful_set(kube_ns, sts)
    names = wait_for(lambda: len(p := _live(_pods(kube_core, kube_ns))) == 3 and p)
    assert sorted(p.metadata.name for p in names) == ["par-0", "par-1", "par-2"]
    assert all(p.status.phase == "Pending" for p in names)


def test_kubelet_stand_in_statefulset_rolls_a_new_template_from_the_top(
        kube_core, kube_apps, kube_ns):
    """README: StatefulSet rolling template updates. A new template replaces pods one at a
    time from the highest ordinal down, each after the ones before it are Ready again."""
    kube_apps.create_namespaced_stateful_set(kube_ns, _sts("roll", 3))
    for n in (1, 2, 3):
        wait_for(lambda n=n: len(_live(_pods(kube_core, kube_ns))) == n, what=f"{n} pods")
        _ready_all(kube_core, kube_ns)
    first = wait_for(lambda: (s := kube_apps.read_namespaced_stateful_set("roll", kube_ns))
                     .status.ready_replicas == 3 and s)
    old_rev = first.status.update_revision
    kube_apps.patch_namespaced_stateful_set("roll", kube_ns, {"spec": {"template": {"spec": {
        "containers": [{"name": "pg", "image": "postgres:17"}]}}}})
    for _ in range(600):
        _ready_all(kube_core, kube_ns)
        s = kube_apps.read_namespaced_stateful_set("roll", kube_ns)
        if (s.status.updated_replicas == 3 and s.status.ready_replicas == 3
                and s.status.current_revision == s.status.update_revision):
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"rolling update did not finish: {s.status}")
    assert s.status.update_revision != old_rev
    pods = _live(_pods(kube_core, kube_ns))
    assert sorted(p.metadata.name for p in pods) == ["roll-0", "roll-1", "roll-2"]
    assert {p.spec.containers[0].image for p in pods} == {"postgres:17"}
    assert {p.metadata.labels["controller-revision-hash"] for p in pods} == {
        s.status.update_revision}
    deleted = [m for m in _events(kube_core, kube_ns, "SuccessfulDelete") if "Pod roll-" in m]
    assert deleted == [f"delete Pod roll-{i} in StatefulSet roll successful"
                       for i in (2, 1, 0)]


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public", "kube-node-lease"])
def test_bootstrap_namespaces_cannot_be_deleted(kube_core, name):
    """README: the four namespaces made at bootstrap cannot be deleted (as on a real API
    server, which refuses with 403 Forbidden)."""
    with pytest.raises(client.ApiException) as err:
        kube_core.delete_namespace(name)
    assert err.value.status == 403, err.value.body
    ns = kube_core.read_namespace(name)
    assert ns.metadata.deletion_timestamp is None and ns.status.phase == "Active"
