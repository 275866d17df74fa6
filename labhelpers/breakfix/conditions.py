"""A scenario's ``fixed_when`` conditions, checked on the live cluster."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from kubernetes import client

from labhelpers import actions, tables
from labhelpers.breakfix.namespace import _reader
from labhelpers.lab import Lab


def _http(lab: Lab, service: str, path: str) -> str:
    try:
        r = actions.http(lab.api, lab.namespace, service, path, timeout=10)
    except Exception as exc:  # the failure is the answer
        return f"{type(exc).__name__}: {str(exc)[:120]}"
    return f"HTTP {r.status} {_body(r.text, 160)}"


def _condition(lab: Lab, cond: dict[str, Any]) -> dict[str, str]:
    (what, arg), = cond.items()
    try:
        ok, evidence = CONDITIONS[what](lab, arg)
    except client.ApiException as exc:
        ok, evidence = False, f"{exc.status} {exc.reason}" + (
            " (not there: rejected at apply, or deleted?)" if exc.status == 404 else "")
    label = (f"{what} {arg}" if isinstance(arg, str) else
             f"{what} {arg['service']}{arg['path']}")
    return {"condition": label, "ok": "✅" if ok else "❌", "evidence": evidence}


def _ready(lab: Lab, ref: str) -> tuple[bool, str]:
    kind, _, name = ref.partition("/")
    obj = _reader(lab, kind)(name, lab.namespace)
    want, st = obj.spec.replicas or 0, obj.status
    ready, updated = st.ready_replicas or 0, st.updated_replicas or 0
    current = (st.observed_generation or 0) >= (obj.metadata.generation or 0)
    ok = current and ready == want and updated == want and (st.replicas or 0) == want
    return ok, f"{ready}/{want} ready, {updated} updated, {st.replicas or 0} pods"


def _endpoints(lab: Lab, ref: str) -> tuple[bool, str]:
    name = ref.partition("/")[2]
    ready, not_ready = tables.endpoint_addresses(
        lab.core.read_namespaced_endpoints(name, lab.namespace))
    return bool(ready), f"ready: {', '.join(ready) or '<none>'}" + (
        f"; not ready: {', '.join(not_ready)}" if not_ready else "")


def _bound(lab: Lab, ref: str) -> tuple[bool, str]:
    pvc = lab.core.read_namespaced_persistent_volume_claim(ref.partition("/")[2],
                                                           lab.namespace)
    return pvc.status.phase == "Bound", f"{pvc.status.phase}, class " \
        f"{pvc.spec.storage_class_name}"


def _http_ok(lab: Lab, arg: dict[str, Any]) -> tuple[bool, str]:
    r = actions.http(lab.api, lab.namespace, arg["service"], arg["path"], timeout=10)
    ok = r.status == arg["status"] if "status" in arg else 200 <= r.status < 300
    if ok and arg.get("json"):
        try:
            body = r.json
        except ValueError:
            body = {}
        ok = all(body.get(k) == v for k, v in arg["json"].items())
    return ok, f"HTTP {r.status} {_body(r.text)}"


def _body(text: str, limit: int = 120) -> str:
    """A response body for a table cell: an API server's ``Status`` by its message (the
    503 of a Service without endpoints is the API server speaking, not the app)."""
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and doc.get("kind") == "Status" and doc.get("message"):
        return f"(API server) {doc['message']}"[:limit]
    return text.strip()[:limit]


CONDITIONS = {"ready": _ready, "endpoints": _endpoints, "bound": _bound, "http": _http_ok}


def _fmt(delta: dt.timedelta) -> str:
    s = int(delta.total_seconds())
    return f"{s // 60}m{s % 60:02d}s"
