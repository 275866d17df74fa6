"""What the pods themselves say: waiting reasons, last terminations, scheduling and probe
events. Each finding is reported against the workload that owns the pod (what a learner
edits), with the pod named in the evidence."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

from labhelpers.doctor.finding import ERROR, WARNING, Finding
from labhelpers.doctor.snapshot import Snapshot

_CONFIG_KEY = re.compile(r"couldn't find key (\S+) in (ConfigMap|Secret) ([^/\s]+)/(\S+)")
_CONFIG_OBJ = re.compile(r"(configmap|secret) \"([^\"]+)\" not found", re.I)
_STATUS = re.compile(r"statuscode: (\d+)")


def findings(snap: Snapshot) -> Iterator[Finding]:
    for pod in snap.live_pods():
        statuses = (pod.status.init_container_statuses or []) + (
            pod.status.container_statuses or [])
        for cs in statuses:
            yield from _container(snap, pod, cs)
        if pod.status.phase == "Pending" and not pod.spec.node_name:
            yield from _unscheduled(snap, pod)
        yield from _probes(snap, pod)


def _container(snap: Snapshot, pod: Any, cs: Any) -> Iterator[Finding]:
    name, owner = pod.metadata.name, snap.owner(pod)
    waiting = cs.state.waiting if cs.state else None
    last = cs.last_state.terminated if cs.last_state else None
    now = cs.state.terminated if cs.state else None
    term = now if now and now.reason == "OOMKilled" else last
    spec = snap.container_spec(pod, cs.name)
    if term and term.reason == "OOMKilled":
        limits = (spec.resources.limits or {}) if spec and spec.resources else {}
        used = snap.usage.get((name, cs.name), "no sample (the container never lived long "
                                                 "enough to be measured)")
        yield Finding(
            ERROR, owner, "oom-killed",
            f"container {cs.name} is killed for using more memory than its limit",
            f"pod {name}: Last State Terminated, Reason OOMKilled, Exit Code "
            f"{term.exit_code}; restarts {cs.restart_count}; limits.memory "
            f"{limits.get('memory', 'none')}; measured {used}",
            f"raise resources.limits.memory (and requests) of container {cs.name} in {owner} "
            "above what it needs at start-up (measure a healthy one: kubectl top pod)")
        return
    reason = waiting.reason if waiting else None
    message = (waiting.message or "") if waiting else ""
    liveness = any((e.message or "").startswith("Liveness") for e in
                   snap.pod_events(pod, "Unhealthy"))
    if reason == "CrashLoopBackOff" and not liveness:  # a failing liveness probe says why
        lines = snap.logs(name, cs.name, previous=True) or ["(no log lines)"]
        code = last.exit_code if last else "?"
        yield Finding(
            ERROR, owner, "crash-loop",
            f"container {cs.name} exits (code {code}) and is restarted again and again",
            f"pod {name}: CrashLoopBackOff, restarts {cs.restart_count}; last log lines: "
            + " | ".join(lines[-5:]),
            f"read the log lines: fix what the app complains about in {owner}'s config")
    elif reason in ("ImagePullBackOff", "ErrImagePull", "InvalidImageName"):
        working = sorted({c.image for p in snap.live_pods() for c in p.spec.containers
                          if snap.ready(p)})
        yield Finding(
            ERROR, owner, "image-pull",
            f"image {spec.image if spec else '?'} of container {cs.name} cannot be pulled",
            f"pod {name}: {reason}: {message}",
            f"set the image of {owner} to a tag that exists"
            + (f" (images that run here: {', '.join(working)})" if working else ""))
    elif reason == "CreateContainerConfigError":
        yield _config_error(snap, pod, cs, message)


def _config_error(snap: Snapshot, pod: Any, cs: Any, message: str) -> Finding:
    owner = snap.owner(pod)
    m = _CONFIG_KEY.search(message)
    if m:
        key, kind, _, obj = m.groups()
        items = snap.secrets if kind == "Secret" else snap.configmaps
        keys = next((sorted((i.data or {}).keys()) for i in items if i.metadata.name == obj), [])
        close = [k for k in keys if k in key or key in k] or keys
        return Finding(
            ERROR, owner, "config-error",
            f"container {cs.name} refers to key {key} that {kind} {obj} does not have",
            f"pod {pod.metadata.name}: CreateContainerConfigError: {message}; "
            f"{kind} {obj} has keys: {', '.join(keys) or 'none'}",
            f"in {owner}, change the {'secretKeyRef' if kind == 'Secret' else 'configMapKeyRef'}"
            f" key {key} to {close[0] if close else 'an existing key'} (or add the key to "
            f"{kind}/{obj}); the kubelet retries on its own")
    m2 = _CONFIG_OBJ.search(message)
    what = f"{m2.group(1)} {m2.group(2)}" if m2 else "a ConfigMap/Secret"
    return Finding(
        ERROR, owner, "config-error",
        f"container {cs.name} refers to {what}, which does not exist",
        f"pod {pod.metadata.name}: CreateContainerConfigError: {message}",
        f"create {what} or fix the reference in {owner}")


def _unscheduled(snap: Snapshot, pod: Any) -> Iterator[Finding]:
    owner, name = snap.owner(pod), pod.metadata.name
    events = snap.pod_events(pod, "FailedScheduling")
    text = events[-1].message if events else "no scheduling event yet"
    claims = [v.persistent_volume_claim.claim_name for v in pod.spec.volumes or []
              if v.persistent_volume_claim]
    pending = [c for c in snap.pvcs if c.metadata.name in claims and c.status.phase != "Bound"]
    if pending:
        for pvc in pending:
            cls = pvc.spec.storage_class_name
            prov = [e.message for e in snap.events if e.involved_object.kind ==
                    "PersistentVolumeClaim" and e.involved_object.name == pvc.metadata.name
                    and e.type == "Warning"]
            known = cls is None or cls in snap.storage_classes
            yield Finding(
                ERROR, owner, "pvc-unbound",
                f"pod {name} waits for PersistentVolumeClaim {pvc.metadata.name}, which is "
                f"{pvc.status.phase}" + ("" if known else
                                         f": StorageClass {cls} does not exist here"),
                f"pod {name}: {text}; PVC {pvc.metadata.name} storageClassName={cls}; "
                f"cluster classes: {', '.join(snap.storage_classes) or 'none'}"
                + (f"; {prov[-1]}" if prov else ""),
                ("remove storageClassName (cluster default) or use one of "
                 f"{', '.join(snap.storage_classes) or 'the cluster classes'}; "
                 "volumeClaimTemplates are immutable: delete the StatefulSet and the Pending "
                 "PVC, then apply again") if not known else
                "kubectl describe pvc: what does the provisioner say?")
        return
    if events and ("Insufficient" in text or "insufficient" in text):
        requests = {c.name: (c.resources.requests or {}) if c.resources else {}
                    for c in pod.spec.containers}
        yield Finding(
            ERROR, owner, "insufficient-resources",
            f"pod {name} cannot be scheduled: no node has room for its requests",
            f"pod {name}: {text}; requests {requests}",
            f"lower resources.requests in {owner}, scale something else down, or add a node")
    elif events:
        yield Finding(ERROR, owner, "unschedulable", f"pod {name} cannot be scheduled",
                      f"pod {name}: {text}", "kubectl describe pod: read the scheduler's "
                      "message")


def _died_lately(cs: Any, within: float = 300) -> bool:
    last = cs.last_state.terminated if cs.last_state else None
    if not last or not last.finished_at:
        return False
    return (dt.datetime.now(dt.UTC) - last.finished_at).total_seconds() < within


def _recovered(statuses: list[Any], last: Any) -> bool:
    """The container restarted by liveness runs again and has not failed since it started
    (e.g. probes that timed out while the machine was overloaded): nothing to fix now."""
    when = last.last_timestamp or last.event_time or last.first_timestamp
    running = [cs.state.running.started_at for cs in statuses
               if cs.state and cs.state.running and cs.state.running.started_at]
    waiting = any(cs.state and cs.state.waiting for cs in statuses)
    return bool(when and running) and not waiting and all(when <= t for t in running)


def _probes(snap: Snapshot, pod: Any) -> Iterator[Finding]:
    """Unhealthy events that still matter: readiness while the pod is not Ready,
    liveness while the container keeps being restarted."""
    name, owner = pod.metadata.name, snap.owner(pod)
    statuses = pod.status.container_statuses or []
    restarts = sum(cs.restart_count for cs in statuses)
    # a container that keeps dying fails its readiness probe too: its own finding says why
    dying = any(cs.restart_count and (cs.state and cs.state.waiting or _died_lately(cs))
                for cs in statuses)
    for kind, rule in (("Readiness", "readiness-failing"), ("Liveness", "liveness-failing")):
        events = [e for e in snap.pod_events(pod, "Unhealthy")
                  if (e.message or "").startswith(kind)]
        if not events or (kind == "Readiness" and (snap.ready(pod) or dying)) or (
                kind == "Liveness" and (restarts == 0 or _recovered(statuses, events[-1]))):
            continue
        last = events[-1]
        probe = None
        for c in pod.spec.containers:
            probe = getattr(c, f"{kind.lower()}_probe") or probe
        where = ""
        if probe and probe.http_get:
            where = f" (GET {probe.http_get.path} on port {probe.http_get.port})"
        status = _STATUS.search(last.message or "")
        if status and status.group(1) == "404":
            fix = (f"the app does not serve that path: point the {kind.lower()} probe of "
                   f"{owner} at a path it serves (/ready for readiness, /health for liveness)")
        else:
            lines = snap.logs(name, tail=3)
            fix = ("the app answers but reports a problem: read its logs"
                   + (f" ({' | '.join(lines)})" if lines else "")
                   + " and fix what it depends on")
        yield Finding(
            ERROR if kind == "Readiness" or dying else WARNING, owner, rule,
            f"{kind} probe{where} fails, so pod {name} is "
            + ("not Ready (gets no traffic)" if kind == "Readiness" else "restarted"),
            f"event Unhealthy ×{last.count or 1}: {last.message}", fix)
