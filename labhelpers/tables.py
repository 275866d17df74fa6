"""pandas tables with the columns of ``kubectl get ... -o wide``, built from the client's
objects. Each table remembers the kubectl command it stands for in ``df.attrs["kubectl"]``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from labhelpers.podstatus import age, pod_status, ready_column, restarts
from labhelpers.styling import LabFrame


def _frame(rows: list[dict[str, Any]], columns: list[str], kubectl: str) -> LabFrame:
    """A :class:`LabFrame` (status colours in Jupyter) that knows its kubectl command."""
    df = LabFrame(rows, columns=columns)
    df.attrs["kubectl"] = kubectl
    return df


def pods_table(pods: list[Any], namespace: str) -> pd.DataFrame:
    rows = [
        {
            "name": p.metadata.name,
            "ready": ready_column(p),
            "status": pod_status(p),
            "restarts": restarts(p),
            "age": age(p.metadata.creation_timestamp),
            "ip": p.status.pod_ip or "<none>",
            "node": p.spec.node_name or "<none>",
        }
        for p in sorted(pods, key=lambda p: p.metadata.name)
    ]
    columns = ["name", "ready", "status", "restarts", "age", "ip", "node"]
    return _frame(rows, columns, f"kubectl get pods -n {namespace} -o wide")


def _ports(svc: Any) -> str:
    out = []
    for p in svc.spec.ports or []:
        node = f":{p.node_port}" if p.node_port else ""
        out.append(f"{p.port}{node}/{p.protocol or 'TCP'}")
    return ",".join(out) or "<none>"


def services_table(services: list[Any], namespace: str) -> pd.DataFrame:
    rows = [
        {
            "name": s.metadata.name,
            "type": s.spec.type,
            "cluster_ip": s.spec.cluster_ip or "<none>",
            "ports": _ports(s),
            "selector": ",".join(f"{k}={v}" for k, v in (s.spec.selector or {}).items()),
            "age": age(s.metadata.creation_timestamp),
        }
        for s in sorted(services, key=lambda s: s.metadata.name)
    ]
    columns = ["name", "type", "cluster_ip", "ports", "selector", "age"]
    return _frame(rows, columns, f"kubectl get services -n {namespace} -o wide")


def endpoint_addresses(ep: Any) -> tuple[list[str], list[str]]:
    """(ready ``ip:port`` list, not-ready ``ip:port`` list) of an Endpoints object."""
    ready: list[str] = []
    not_ready: list[str] = []
    for subset in ep.subsets or []:
        ports = [p.port for p in subset.ports or []] or [None]
        for into, addrs in ((ready, subset.addresses), (not_ready, subset.not_ready_addresses)):
            for a in addrs or []:
                into.extend(f"{a.ip}:{port}" if port else a.ip for port in ports)
    return ready, not_ready


def endpoints_table(endpoints: list[Any], namespace: str) -> pd.DataFrame:
    rows = []
    for ep in sorted(endpoints, key=lambda e: e.metadata.name):
        ready, not_ready = endpoint_addresses(ep)
        rows.append({
            "name": ep.metadata.name,
            "endpoints": ",".join(ready) or "<none>",
            "ready": len(ready),
            "not_ready": len(not_ready),
        })
    columns = ["name", "endpoints", "ready", "not_ready"]
    return _frame(rows, columns, f"kubectl get endpoints -n {namespace}")


def event_time(e: Any) -> dt.datetime:
    """When an event last happened: a series' last observation (events.k8s.io events that
    repeat), else lastTimestamp (core events the kubelet counts), else its first time."""
    series = getattr(e, "series", None)
    t = (getattr(series, "last_observed_time", None) or e.last_timestamp or e.event_time
         or e.first_timestamp or e.metadata.creation_timestamp)
    return t or dt.datetime.min.replace(tzinfo=dt.UTC)


def events_table(events: list[Any], namespace: str, warnings_only: bool = False) -> pd.DataFrame:
    chosen = [e for e in events if not warnings_only or e.type == "Warning"]
    rows = [
        {
            "last_seen": age(event_time(e)),
            "type": e.type,
            "reason": e.reason,
            "object": f"{e.involved_object.kind.lower()}/{e.involved_object.name}",
            "count": e.count or 1,
            "message": e.message,
        }
        for e in sorted(chosen, key=event_time)
    ]
    columns = ["last_seen", "type", "reason", "object", "count", "message"]
    flag = " --field-selector type=Warning" if warnings_only else ""
    return _frame(rows, columns, f"kubectl get events -n {namespace} --sort-by=.lastTimestamp{flag}")


def pvcs_table(claims: list[Any], namespace: str) -> pd.DataFrame:
    rows = [
        {
            "name": c.metadata.name,
            "status": c.status.phase if c.status else "Pending",
            "volume": c.spec.volume_name or "",
            "capacity": ((c.status.capacity or {}).get("storage", "") if c.status else ""),
            "access_modes": ",".join(c.spec.access_modes or []),
            "storageclass": c.spec.storage_class_name or "",
            "age": age(c.metadata.creation_timestamp),
        }
        for c in sorted(claims, key=lambda c: c.metadata.name)
    ]
    columns = ["name", "status", "volume", "capacity", "access_modes", "storageclass", "age"]
    return _frame(rows, columns, f"kubectl get pvc -n {namespace}")


def data_table(name: str, data: dict[str, str], kubectl: str) -> pd.DataFrame:
    """key/value rows of a ConfigMap or (already redacted or decoded) Secret."""
    rows = [{"key": k, "value": v} for k, v in sorted(data.items())]
    return _frame(rows, ["key", "value"], kubectl)


def redact(data: dict[str, str] | None, reveal: bool = False) -> dict[str, str]:
    """A Secret's values decoded when ``reveal``, else only their length: a table in a
    notebook is saved, shared and printed in CI logs."""
    import base64

    out = {}
    for key, value in (data or {}).items():
        raw = base64.b64decode(value)
        out[key] = raw.decode(errors="replace") if reveal else f"<redacted: {len(raw)} bytes>"
    return out
