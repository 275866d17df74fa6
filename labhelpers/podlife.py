"""Delete a pod and watch its controller replace it — the lab's self-healing and persistence
steps. A Deployment's replacement has a new name; a StatefulSet's keeps the name (and its
PersistentVolumeClaim) and only the UID tells the two apart.

Pods carry no labels of ours (the controllers make them), so ownership is judged one level
up: a pod may be deleted when the namespace is ours or when the workload that controls it
(ReplicaSet → Deployment, or StatefulSet) carries our labels.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from labhelpers import ownership
from labhelpers.podstatus import is_ready, pod_status
from labhelpers.waiting import diagnose, last_events

SHORT = {"Deployment": "deploy", "StatefulSet": "sts"}


@dataclass
class DeletedPod:
    """What :func:`delete_pod` removed; pass it to ``wait_recreated``."""

    name: str
    uid: str
    workload: str | None  # "deploy/x" / "sts/x", or None for a bare pod
    claims: list[str]
    deleted_at: dt.datetime
    #: The pod as it was just before the delete: its started/ready moments for the
    #: timeline, which the API forgets with the pod.
    last_seen: Any = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        return f"pod/{self.name} (uid {self.uid[:8]}, {self.workload or 'no controller'})"


def owner_workload(apps: client.AppsV1Api, pod: Any) -> tuple[str, str, Any] | None:
    """(kind, name, object) of the Deployment/StatefulSet controlling ``pod``, or None."""
    ref = next((o for o in pod.metadata.owner_references or [] if o.controller), None)
    ns = pod.metadata.namespace
    if ref is None:
        return None
    if ref.kind == "StatefulSet":
        return "StatefulSet", ref.name, apps.read_namespaced_stateful_set(ref.name, ns)
    if ref.kind == "ReplicaSet":
        rs = apps.read_namespaced_replica_set(ref.name, ns)
        up = next((o for o in rs.metadata.owner_references or [] if o.controller), None)
        if up is not None and up.kind == "Deployment":
            return "Deployment", up.name, apps.read_namespaced_deployment(up.name, ns)
        return "ReplicaSet", ref.name, rs
    return None


def claims_of(pod: Any) -> list[str]:
    return [v.persistent_volume_claim.claim_name for v in pod.spec.volumes or []
            if v.persistent_volume_claim]


def delete_pod(core: client.CoreV1Api, apps: client.AppsV1Api, ns: str, name: str,
               namespace_ours: bool) -> DeletedPod:
    """Delete one pod (refused when neither its namespace nor its workload is ours)."""
    pod = core.read_namespaced_pod(name, ns)
    owner = owner_workload(apps, pod)
    workload_ours = owner is not None and ownership.is_ours(owner[2].metadata.labels)
    if not namespace_ours and not workload_ours:
        what = f"{owner[0]}/{owner[1]}" if owner else "no controller"
        raise ownership.NotOurs(
            f"pod {name} ({what}) in namespace {ns}: neither the namespace nor the pod's "
            "workload was made by labhelpers, so delete_pod leaves it alone "
            f"(kubectl delete pod {name} -n {ns} if you mean it)")
    # The time BEFORE the call: the controller may create the replacement while the delete
    # is still answering, and a later stamp would rule that very pod out (a flake that
    # showed when the call straddled a second boundary).
    asked_at = dt.datetime.now(dt.UTC)
    core.delete_namespaced_pod(name, ns)
    workload = f"{SHORT.get(owner[0], owner[0].lower())}/{owner[1]}" if owner else None
    gone = DeletedPod(name, pod.metadata.uid, workload, claims_of(pod), asked_at, pod)
    then = (f"{owner[0]} {owner[1]} will replace it" if owner else
            "nothing will replace it (no controller)")
    print(f"deleted pod/{name} (uid {pod.metadata.uid[:8]}, was {pod_status(pod)}); {then}")
    return gone


def _workload_pods(core: client.CoreV1Api, apps: client.AppsV1Api, ns: str,
                   workload: str) -> tuple[Any, list[Any]]:
    kind, _, name = workload.partition("/")
    if kind in ("sts", "statefulset"):
        obj, kind = apps.read_namespaced_stateful_set(name, ns), "StatefulSet"
    else:
        obj, kind = apps.read_namespaced_deployment(name, ns), "Deployment"
    sel = ",".join(f"{k}={v}" for k, v in (obj.spec.selector.match_labels or {}).items())
    pods = [p for p in core.list_namespaced_pod(ns, label_selector=sel).items
            if not p.metadata.deletion_timestamp]
    return (kind, obj), pods


def wait_recreated(core: client.CoreV1Api, apps: client.AppsV1Api, ns: str,
                   what: str | DeletedPod, old_uid: str | None = None,
                   timeout: float = 120) -> Any:
    """The pod that replaced a deleted one, once it is Ready.

    ``what``: the :class:`DeletedPod` from ``delete_pod``; a pod name (a StatefulSet's pod
    keeps it: waits for a Ready pod of that name whose UID is not ``old_uid``); or a
    workload ``deploy/x``/``sts/x`` (waits until the workload is fully ready and returns its
    newest pod that is not ``old_uid``).
    """
    deleted_at = None
    claims: list[str] = []
    if isinstance(what, DeletedPod):
        old_uid = old_uid or what.uid
        deleted_at, claims = what.deleted_at, what.claims
        same_name = what.workload is None or what.workload.startswith("sts/")
        target = what.name if same_name else what.workload
    else:
        target = what
    assert target is not None
    start = time.monotonic()
    while True:
        found = _find_new(core, apps, ns, target, old_uid, deleted_at)
        if found is not None:
            break
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{target}: no Ready replacement for uid {old_uid} after "
                               f"{timeout:.0f}s. {_why_not(core, apps, ns, target)}")
        time.sleep(0.5)
    took = time.monotonic() - start
    now_claims = claims_of(found)
    same = [c for c in now_claims if c in claims]
    note = (f"; same PVC {', '.join(same)}" if same else
            f"; PVC {', '.join(now_claims)}" if now_claims else "")
    print(f"re-created: pod/{found.metadata.name} (uid {found.metadata.uid[:8]}"
          + (f", was {old_uid[:8]}" if old_uid else "") + f") Ready after {took:.1f}s{note}")
    return found


def _why_not(core: client.CoreV1Api, apps: client.AppsV1Api, ns: str, target: str) -> str:
    """The evidence a timeout should carry: the workload's status and its pods (or the
    pod's own state and events), so a failed wait says why without another cell."""
    try:
        if "/" not in target:
            pod = core.read_namespaced_pod(target, ns)
            events = last_events(core, ns, target)
            return (f"pod {target} is {pod_status(pod)}"
                    + (" (Terminating)" if pod.metadata.deletion_timestamp else "")
                    + f"; last events: {' | '.join(events) or 'none'}")
        (kind, obj), pods = _workload_pods(core, apps, ns, target)
        st = obj.status
        counts = (f"status: replicas {st.replicas or 0}, updated {st.updated_replicas or 0}, "
                  f"ready {st.ready_replicas or 0}, observedGeneration "
                  f"{st.observed_generation} of {obj.metadata.generation}")
        listed = ", ".join(f"{p.metadata.name} (uid {p.metadata.uid[:8]}, created "
                           f"{p.metadata.creation_timestamp:%H:%M:%S}) {pod_status(p)}"
                           + (" Ready" if is_ready(p) else " not Ready") for p in pods)
        return f"{diagnose(core, ns, kind, obj)}; {counts}; pods: {listed or 'none'}"
    except client.ApiException as exc:
        return f"(reading its state failed: HTTP {exc.status} {exc.reason})"


def _find_new(core: client.CoreV1Api, apps: client.AppsV1Api, ns: str, target: str,
              old_uid: str | None, deleted_at: dt.datetime | None) -> Any:
    if "/" not in target:
        try:
            pod = core.read_namespaced_pod(target, ns)
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        fresh = pod.metadata.uid != old_uid and not pod.metadata.deletion_timestamp
        return pod if fresh and is_ready(pod) else None
    # Judged from the pods themselves (what `kubectl get pods` shows), not the workload's
    # status, which trails them by a controller round trip or two.
    (_kind, obj), pods = _workload_pods(core, apps, ns, target)
    desired = obj.spec.replicas if obj.spec.replicas is not None else 1
    if len(pods) != desired or not all(is_ready(p) for p in pods):
        return None
    return newest_replacement(pods, old_uid, deleted_at)


def newest_replacement(pods: list[Any], old_uid: str | None,
                       deleted_at: dt.datetime | None) -> Any:
    """The newest pod that is not ``old_uid`` and was created at or after the deletion
    was asked for. Creation times are whole seconds (truncated), so the cutoff is too."""
    new = [p for p in pods if p.metadata.uid != old_uid]
    if deleted_at is not None:
        cutoff = deleted_at.replace(microsecond=0)
        new = [p for p in new if p.metadata.creation_timestamp >= cutoff]
    return max(new, key=lambda p: p.metadata.creation_timestamp) if new else None
