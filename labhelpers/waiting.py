"""Waiting for applied workloads to be ready, with a progress bar; when they are not, an
error that says which pod, in which state, and what the cluster said about it."""

from __future__ import annotations

import math
import time
from typing import Any

from kubernetes import client, watch
from tqdm.auto import tqdm

from labhelpers.errors import LabError
from labhelpers.podstatus import is_ready, pod_status, restarts

WORKLOADS = ("Deployment", "StatefulSet")


class TierNotReady(LabError, RuntimeError):
    """A workload that did not become ready in time; the message is the diagnosis."""


def _read(apps: client.AppsV1Api, kind: str, name: str, ns: str) -> Any:
    if kind == "Deployment":
        return apps.read_namespaced_deployment(name, ns)
    return apps.read_namespaced_stateful_set(name, ns)


def ready_count(kind: str, obj: Any) -> tuple[int, int]:
    """(ready, desired); a Deployment counts as done only when its rollout is complete."""
    desired = obj.spec.replicas if obj.spec.replicas is not None else 1
    st = obj.status
    if st is None:  # just created: no controller has looked at it yet
        return 0, desired
    ready = min(st.ready_replicas or 0, desired)
    unfinished = (st.replicas or 0) > desired or (st.observed_generation or 0) < (
        obj.metadata.generation or 0)
    if kind == "Deployment" and (st.updated_replicas or 0) < desired:
        unfinished = True
    if unfinished and ready == desired:
        ready = max(desired - 1, 0)
    return ready, desired


def last_events(core: client.CoreV1Api, ns: str, name: str, n: int = 3) -> list[str]:
    events = core.list_namespaced_event(ns, field_selector=f"involvedObject.name={name}").items
    events.sort(key=lambda e: e.last_timestamp or e.event_time or e.metadata.creation_timestamp)
    return [f"{e.type} {e.reason}: {e.message}" for e in events[-n:]]


def diagnose(core: client.CoreV1Api, ns: str, kind: str, obj: Any) -> str:
    """One paragraph on why a workload is not ready: its worst pod and that pod's events."""
    ready, desired = ready_count(kind, obj)
    head = f"{kind}/{obj.metadata.name}: {ready}/{desired} ready"
    labels = ",".join(f"{k}={v}" for k, v in (obj.spec.selector.match_labels or {}).items())
    pods = [p for p in core.list_namespaced_pod(ns, label_selector=labels).items
            if not is_ready(p)]
    if not pods:
        events = last_events(core, ns, obj.metadata.name)
        return f"{head}; no unready pod; events: {' | '.join(events) or 'none'}"
    pod = sorted(pods, key=lambda p: p.metadata.name)[0]
    detail = ""
    for cs in pod.status.container_statuses or []:
        state = cs.state
        if state and state.waiting and state.waiting.message:
            detail = f" ({state.waiting.message})"
        last = cs.last_state.terminated if cs.last_state else None
        if last and last.reason:
            detail += f" last exit: {last.reason} code {last.exit_code}"
    events = last_events(core, ns, pod.metadata.name)
    return (f"{head}; pod {pod.metadata.name} is {pod_status(pod)}, not Ready, "
            f"{restarts(pod)} restarts{detail}; last events: {' | '.join(events) or 'none'}")


def wait_ready(core: client.CoreV1Api, apps: client.AppsV1Api, ns: str,
               objects: list[dict[str, Any]], timeout: float, desc: str) -> None:
    """Block until every Deployment/StatefulSet in ``objects`` is ready, or raise."""
    workloads = [(o["kind"], o["metadata"]["name"]) for o in objects if o["kind"] in WORKLOADS]
    if not workloads:
        return
    deadline = time.monotonic() + timeout
    total = sum(o["spec"].get("replicas", 1) for o in objects if o["kind"] in WORKLOADS)
    with tqdm(total=total, desc=desc, unit="pod") as bar:
        while True:
            current = [(kind, _read(apps, kind, name, ns)) for kind, name in workloads]
            counts = [ready_count(kind, obj) for kind, obj in current]
            bar.total = sum(d for _, d in counts)
            bar.n = sum(r for r, _ in counts)
            bar.refresh()
            if all(r == d for r, d in counts):
                return
            if time.monotonic() > deadline:
                problems = [diagnose(core, ns, kind, obj)
                            for (kind, obj), (r, d) in zip(current, counts, strict=True) if r != d]
                raise TierNotReady(f"{desc}: not ready after {timeout:.0f}s. "
                                   + " || ".join(problems))
            time.sleep(0.5)


def wait_settled(core: client.CoreV1Api, ns: str, timeout: float = 90,
                 label_selector: str | None = None) -> None:
    """Block until no pod (of ``label_selector``, else in the namespace) is Terminating.

    A scale-down or a rollout is "ready" while the old pods still finish their graceful
    shutdown; a table or a check taken then shows pods that are about to vanish (what
    ``kubectl rollout status`` waits out as "old replicas are pending termination").
    """
    deadline = time.monotonic() + timeout
    while True:
        listing = core.list_namespaced_pod(ns, label_selector=label_selector or "")
        dying = sorted(p.metadata.name for p in listing.items if p.metadata.deletion_timestamp)
        if not dying:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"pods still Terminating after {timeout:.0f}s: "
                               + ", ".join(dying))
        _next_pod_change(core, ns, label_selector, listing.metadata.resource_version,
                         remaining)


def _next_pod_change(core: client.CoreV1Api, ns: str, label_selector: str | None,
                     resource_version: str | None, timeout: float) -> None:
    """Block until a pod of the listing changes (a deletion finishes, a status moves) or
    ``timeout`` passes: a watch from the listing's resourceVersion, as ``kubectl rollout
    status`` waits, so the caller re-reads the moment a Terminating pod is gone instead of
    up to one poll period later. A watch the server ends or refuses (e.g. 410 Gone) just
    returns: the caller lists again."""
    w = watch.Watch()
    try:
        for _ in w.stream(core.list_namespaced_pod, ns, label_selector=label_selector or "",
                          resource_version=resource_version,
                          timeout_seconds=max(1, math.ceil(min(timeout, 30))),
                          _request_timeout=min(timeout, 30) + 10):
            break
    except client.ApiException:
        time.sleep(min(timeout, 0.5))  # a refused watch must not become a busy loop
    finally:
        w.stop()
