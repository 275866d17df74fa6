"""Each pod's life as rows — created, scheduled, started, ready, terminated (with the reason,
e.g. OOMKilled), kills and back-offs — from the pods and the namespace's events. Plain pandas
(no matplotlib), so ``lab.timeline()`` is cheap; ``charts.plot_timeline`` draws it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from labhelpers.styling import LabFrame

#: Event reasons drawn on the timeline (others are in ``lab.events()``).
MARKED_EVENTS = ("Killing", "BackOff", "Unhealthy", "OOMKilling", "Failed", "Evicted")
#: Same-second moments of one pod are listed in the order they happen.
STAGES = {"created": 0, "scheduled": 1, "started": 2, "ready": 3}
TIMELINE_COLUMNS = ["pod", "uid", "time", "what", "detail", "deleted"]


def _when(e: Any) -> dt.datetime | None:
    return e.last_timestamp or e.event_time or e.first_timestamp or \
        e.metadata.creation_timestamp


#: Events that stand for a stage of a pod's life, for pods the API no longer has.
STAGE_EVENTS = {"Scheduled": "scheduled", "Started": "started"}


def timeline_table(pods: list[Any], events: list[Any], namespace: str,
                   deleted: list[Any] = ()) -> LabFrame:
    """One row per moment of each pod's life (created, scheduled, started, ready, terminated
    with its reason, and the events in MARKED_EVENTS). A deleted pod is gone from the API:
    its moments come from ``deleted`` (podlife.DeletedPod, the pod as it was before the
    delete — so a pod that was ready shows ready) or else from the events that still name
    its UID (scheduled and started, but readiness is not an event)."""
    rows: list[dict[str, Any]] = []
    live = {p.metadata.uid for p in pods}
    remembered = {d.uid: d for d in deleted
                  if d.last_seen is not None and d.uid not in live}

    def add(pod: str, uid: str, t: dt.datetime | None, what: str, detail: str = "",
            deleted: bool = False) -> None:
        if t is not None:
            rows.append({"pod": pod, "uid": uid, "time": t, "what": what, "detail": detail,
                         "deleted": deleted})

    for p in [*pods, *(d.last_seen for d in remembered.values())]:
        name, uid = p.metadata.name, p.metadata.uid
        gone = uid in remembered
        add(name, uid, p.metadata.creation_timestamp, "created", deleted=gone)
        for c in p.status.conditions or []:
            if c.type == "PodScheduled" and c.status == "True":
                add(name, uid, c.last_transition_time, "scheduled", deleted=gone)
            if c.type == "Ready" and c.status == "True":
                add(name, uid, c.last_transition_time, "ready", deleted=gone)
        for cs in p.status.container_statuses or []:
            if cs.state and cs.state.running:
                add(name, uid, cs.state.running.started_at, "started", cs.name, gone)
            last = cs.last_state.terminated if cs.last_state else None
            if last:
                add(name, uid, last.finished_at, "terminated",
                    f"{cs.name}: {last.reason or 'exit'} (exit code {last.exit_code}); "
                    f"{cs.restart_count} restarts", gone)
        if gone:
            add(name, uid, remembered[uid].deleted_at, "deleted", "(by lab.delete_pod)", True)
    gone: dict[str, list[Any]] = {}
    for e in events:
        obj = e.involved_object
        if obj.kind != "Pod":
            continue
        uid = obj.uid or obj.name
        if uid not in live and uid not in remembered:
            gone.setdefault(uid, []).append(e)
        if e.reason in MARKED_EVENTS:
            detail = e.message or ""
            if (e.count or 1) > 1:
                detail += f" (x{e.count})"
            add(obj.name, uid, _when(e), e.reason, detail, uid not in live)
    for uid, evs in gone.items():
        evs.sort(key=lambda e: e.first_timestamp or _when(e))
        name = evs[0].involved_object.name
        add(name, uid, evs[0].first_timestamp or _when(evs[0]), "created",
            "(first event)", True)
        for e in evs:
            if e.reason in STAGE_EVENTS:
                add(name, uid, e.first_timestamp or _when(e), STAGE_EVENTS[e.reason],
                    "(from its event; readiness is not an event)", True)
        add(name, uid, max(_when(e) for e in evs), "last seen", "(deleted)", True)
    df = LabFrame(rows, columns=TIMELINE_COLUMNS)
    if not df.empty:
        rank = df["what"].map(STAGES).fillna(len(STAGES))
        df = df.assign(_rank=rank).sort_values(["time", "pod", "_rank"], kind="stable") \
            .drop(columns="_rank").reset_index(drop=True)
    df.attrs["kubectl"] = (f"kubectl get pods -n {namespace} -o yaml; "
                           f"kubectl get events -n {namespace} --sort-by=.lastTimestamp")
    return df
