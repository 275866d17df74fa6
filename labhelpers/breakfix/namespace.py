"""What a challenge does in its namespace: clear what labhelpers labelled there (never the
namespace itself), fingerprint it, wait for it to settle."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from kubernetes import client

from labhelpers import manifests, ownership
from labhelpers.apply import delete_one, request
from labhelpers.breakfix.catalog import (
    FINGERPRINT_KINDS,
    NOT_FINGERPRINTED,
    NOT_READY_AFTER,
    STABLE_FOR,
    STUCK,
    WORKLOADS,
)
from labhelpers.lab import CLEANUP_KINDS, Lab
from labhelpers.manifests.ordering import delete_order
from labhelpers.podstatus import is_ready


def _reuse_namespace(lab: Lab, adopt: bool) -> dt.datetime | None:
    """Make an existing namespace ready for a scenario without deleting it; returns when
    it was cleared (None: no namespace yet, apply creates it)."""
    ns = lab._namespace_object()
    if ns is None:
        return None
    if not (ownership.is_ours(ns.metadata.labels) or adopt or lab.adopted()):
        raise ownership.NotOurs(
            f"namespace {lab.namespace} exists and labhelpers did not create it; pass "
            "adopt=True to start the challenge there anyway (only objects labhelpers "
            "labelled are deleted), or namespace= to start it elsewhere")
    _clear(lab)
    # Event times have whole seconds: an event of the cleared scenario's last second stays.
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _labelled(lab: Lab) -> list[dict[str, Any]]:
    """Every object of the lab's kinds in the namespace that carries our labels."""
    found = []
    for api_version, kind in CLEANUP_KINDS:
        path = lab.resources.path({"apiVersion": api_version, "kind": kind,
                                   "metadata": {"namespace": lab.namespace}}, with_name=False)
        code, _, raw = request(lab.api, "GET", path,
                               query=[("labelSelector", ownership.SELECTOR)])
        if code >= 400:
            raise client.ApiException(status=code, reason=raw.decode(errors="replace"))
        for item in json.loads(raw)["items"]:
            item["apiVersion"], item["kind"] = api_version, kind
            found.append(item)
    return found


def _ref(api_version: str, kind: str, name: str, namespace: str) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind,
            "metadata": {"name": name, "namespace": namespace}}


def _clear(lab: Lab, wait: bool = True, timeout: float = 90) -> list[str]:
    """Delete what labhelpers labelled here, plus the claims of its StatefulSets (their
    controller makes them unlabelled, and a leftover claim would hand the next scenario's
    database the old volume); with ``wait``, until they and their pods are gone, so the
    next scenario's pods start alone. Returns the Kind/name deleted."""
    ns = lab.namespace
    items = _labelled(lab)
    refs = [_ref(o["apiVersion"], o["kind"], o["metadata"]["name"], ns) for o in items]
    uids = {o["metadata"]["uid"] for o in items if o["kind"] in WORKLOADS}
    named = {r["metadata"]["name"] for r in refs if r["kind"] == "PersistentVolumeClaim"}
    claims = [p.metadata.name for p in lab.core.list_namespaced_persistent_volume_claim(ns).items
              if p.metadata.name not in named]
    refs += [_ref("v1", "PersistentVolumeClaim", name, ns) for name in ownership.template_claims(
        [o for o in items if o["kind"] == "StatefulSet"], claims)]
    owners = uids | {rs.metadata.uid for rs in lab.apps.list_namespaced_replica_set(ns).items
                     if _owned_by(rs, uids)}
    pods = {p.metadata.uid for p in lab.core.list_namespaced_pod(ns).items
            if _owned_by(p, owners)}
    deleted = [manifests.ref(r) for r in delete_order(refs) if delete_one(lab.resources, r)]
    if wait:
        _wait_gone(lab, refs, pods, timeout)
    return deleted


def _fingerprint(lab: Lab) -> dict[str, str]:
    """``Kind/name`` → uid and generation (workloads) or resourceVersion (the rest) of
    every object of :data:`FINGERPRINT_KINDS` in the namespace, labelled or not (an object
    a learner made with kubectl counts as a change too)."""
    out = {}
    for api_version, kind in FINGERPRINT_KINDS:
        path = lab.resources.path({"apiVersion": api_version, "kind": kind,
                                   "metadata": {"namespace": lab.namespace}}, with_name=False)
        code, _, raw = request(lab.api, "GET", path)
        if code >= 400:
            raise client.ApiException(status=code, reason=raw.decode(errors="replace"))
        for item in json.loads(raw)["items"]:
            meta = item["metadata"]
            if (f"{kind}/{meta['name']}" in NOT_FINGERPRINTED
                    or item.get("type") == "kubernetes.io/service-account-token"):
                continue
            version = (meta.get("generation") if kind in WORKLOADS
                       else meta.get("resourceVersion"))
            out[f"{kind}/{meta['name']}"] = f"{meta.get('uid')}@{version}"
    return out


def _owned_by(obj: Any, uids: set[str]) -> bool:
    return any(ref.uid in uids for ref in obj.metadata.owner_references or [])


def _wait_gone(lab: Lab, refs: list[dict[str, Any]], pods: set[str], timeout: float
               ) -> None:
    deadline = time.monotonic() + timeout
    while True:
        left = [manifests.ref(r) for r in refs
                if request(lab.api, "GET", lab.resources.path(r))[0] != 404]
        left += [f"Pod/{p.metadata.name}" for p in
                 lab.core.list_namespaced_pod(lab.namespace).items if p.metadata.uid in pods]
        if not left:
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"namespace {lab.namespace}: {', '.join(left)} still there "
                               f"{timeout:.0f}s after delete")
        time.sleep(0.5)


def _recent(events: list[Any], since: dt.datetime | None) -> list[Any]:
    if since is None:
        return events
    return [e for e in events if (e.last_timestamp or e.event_time or e.first_timestamp
                                  or e.metadata.creation_timestamp) >= since]


def _readiness_failures(pod: Any, events: list[Any]) -> int:
    """How often the kubelet's readiness probe failed for this pod (its `Unhealthy`
    events, counted as aggregated; by uid, so not an earlier pod of the same name)."""
    return sum(e.count or 1 for e in events
               if e.reason == "Unhealthy" and e.involved_object.uid == pod.metadata.uid
               and (e.message or "").startswith("Readiness probe failed"))


def _readiness_gave_up(pod: Any, events: list[Any]) -> bool:
    """Its readiness probe failed ``failureThreshold`` times: as often as the kubelet lets a
    Ready pod fail before it takes it out of its Service. Not Ready is then what the pod
    keeps showing until something changes, so nothing is gained by waiting longer."""
    probes = [c.readiness_probe for c in pod.spec.containers if c.readiness_probe]
    if not probes:
        return False
    needed = max(p.failure_threshold or 3 for p in probes)
    return _readiness_failures(pod, events) >= needed


def _pod_settled(pod: Any, events: list[Any], now: dt.datetime) -> bool:
    """True when the pod shows what it is going to show: Ready, visibly stuck, started and
    failing its readiness probe as often as the probe allows, or started and still not
    Ready after :data:`NOT_READY_AFTER` seconds (a probe that never answers)."""
    if is_ready(pod):
        return True
    if pod.status.phase == "Pending" and not pod.spec.node_name:
        return any(e.reason == "FailedScheduling" and e.involved_object.name ==
                   pod.metadata.name and e.involved_object.uid in (None, pod.metadata.uid)
                   for e in events)  # the uid: postgres-0 of an earlier scenario
    statuses = (pod.status.init_container_statuses or []) + (pod.status.container_statuses
                                                             or [])
    for cs in statuses:
        waiting = cs.state.waiting if cs.state else None
        if cs.restart_count or (waiting and waiting.reason in STUCK):
            return True
    running = [cs.state.running for cs in pod.status.container_statuses or []
               if cs.state and cs.state.running]
    started = all(cs.started for cs in pod.status.container_statuses or [])
    if running and started and _readiness_gave_up(pod, events):
        return True
    return bool(running) and started and all(
        (now - r.started_at).total_seconds() >= NOT_READY_AFTER for r in running
        if r.started_at)


def _wait_settled(lab: Lab, timeout: float) -> bool:
    """Until every pod has settled, and stayed so for :data:`STABLE_FOR` seconds (a
    moment in which every pod that exists has settled can come before a Deployment's pod
    exists at all). A pod waiting for its database is not settled until it is Ready, has
    failed its readiness probe as often as the probe allows, or :data:`NOT_READY_AFTER`
    has passed, so the wait needs no longer margin."""
    deadline = time.monotonic() + timeout
    since: float | None = None
    while time.monotonic() < deadline:
        pods = [p for p in lab.core.list_namespaced_pod(lab.namespace).items
                if not p.metadata.deletion_timestamp]
        events = lab.core.list_namespaced_event(lab.namespace).items
        now = dt.datetime.now(dt.UTC)
        if pods and all(_pod_settled(p, events, now) for p in pods):
            since = since or time.monotonic()
            if time.monotonic() - since >= STABLE_FOR:
                return True
        else:
            since = None
        time.sleep(1)
    return False


def _delete_and_wait(lab: Lab, ref: str, timeout: float = 60) -> None:
    kind, _, name = ref.partition("/")
    version = "apps/v1" if kind in WORKLOADS else "v1"
    obj = {"apiVersion": version, "kind": kind,
           "metadata": {"name": name, "namespace": lab.namespace}}
    delete_one(lab.resources, obj)
    read = _reader(lab, kind)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            read(name, lab.namespace)
        except client.ApiException as exc:
            if exc.status == 404:
                return
            raise
        time.sleep(0.5)
    raise TimeoutError(f"{ref} still there {timeout:.0f}s after delete")


def _reader(lab: Lab, kind: str) -> Any:
    return {"Deployment": lab.apps.read_namespaced_deployment,
            "StatefulSet": lab.apps.read_namespaced_stateful_set,
            "Service": lab.core.read_namespaced_service,
            "ConfigMap": lab.core.read_namespaced_config_map,
            "PersistentVolumeClaim": lab.core.read_namespaced_persistent_volume_claim}[kind]
