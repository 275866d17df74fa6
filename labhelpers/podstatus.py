"""The STATUS and READY columns of ``kubectl get pods``, derived the way kubectl's printer
does, so a learner reading our table and a kubectl tutorial sees the same words."""

from __future__ import annotations

import datetime as dt
from typing import Any


def _terminated_word(term: Any) -> str:
    if term.reason:
        return term.reason
    if term.signal:
        return f"Signal:{term.signal}"
    return f"ExitCode:{term.exit_code}"


def _init_status(pod: Any) -> str | None:
    """``Init:...`` while init containers have not all succeeded, else None."""
    statuses = pod.status.init_container_statuses or []
    for i, cs in enumerate(statuses):
        state = cs.state
        if state and state.terminated and state.terminated.exit_code == 0:
            continue
        if state and state.terminated:
            return "Init:" + _terminated_word(state.terminated)
        if state and state.waiting and state.waiting.reason not in (None, "PodInitializing"):
            return "Init:" + state.waiting.reason
        return f"Init:{i}/{len(pod.spec.init_containers or statuses)}"
    return None


def pod_status(pod: Any) -> str:
    """Running, Pending, ContainerCreating, CrashLoopBackOff, OOMKilled, Terminating, ..."""
    status = pod.status
    reason = status.reason or status.phase or "Unknown"
    init = _init_status(pod)
    if init:
        reason = init
    else:
        has_running = False
        for cs in reversed(status.container_statuses or []):
            state = cs.state
            if state is None:
                continue
            if state.waiting and state.waiting.reason:
                reason = state.waiting.reason
            elif state.terminated:
                reason = _terminated_word(state.terminated)
            elif state.running and cs.ready:
                has_running = True
        if reason == "Completed" and has_running:
            reason = "Running" if is_ready(pod) else "NotReady"
    if pod.metadata.deletion_timestamp:
        reason = "Unknown" if status.reason == "NodeLost" else "Terminating"
    return reason


def is_ready(pod: Any) -> bool:
    """The pod's Ready condition (what Services and rollouts go by)."""
    conditions = pod.status.conditions or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def ready_column(pod: Any) -> str:
    """``1/2``: ready containers over containers in the spec."""
    statuses = pod.status.container_statuses or []
    return f"{sum(1 for cs in statuses if cs.ready)}/{len(pod.spec.containers)}"


def restarts(pod: Any) -> int:
    return sum(cs.restart_count or 0 for cs in pod.status.container_statuses or [])


def age(created: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """kubectl's short ages: 45s, 3m12s, 47m, 5h3m, 20h, 3d4h, 12d."""
    if created is None:
        return "<unknown>"
    now = now or dt.datetime.now(dt.UTC)
    s = max(0, int((now - created).total_seconds()))
    m, h, d = s // 60, s // 3600, s // 86400
    if s < 120:
        return f"{s}s"
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if h < 3:
        return f"{m}m"
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if d < 2:
        return f"{h}h"
    if d < 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    return f"{d}d"
