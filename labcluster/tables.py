"""Server-side printing (meta.k8s.io/v1 Table) for `kubectl get`, as the real printers do.

kubectl asks for a Table and prints the server's columns; without it every resource
would print only NAME. Columns follow pkg/printers/internalversion for what the lab uses.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from . import hpaconversion
from .meta import parse_time
from .registry import Resource
from .selectors import format_selector


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def human_duration(seconds: float) -> str:
    """apimachinery's duration.HumanDuration."""
    s = int(seconds)
    if s < 0:
        return "<invalid>"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = s // 3600
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if h < 24 * 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if d < 365 * 2:
        return f"{d}d"
    return f"{d // 365}y{d % 365}d" if d < 365 * 8 else f"{d // 365}y"


def age(obj: dict[str, Any]) -> str:
    created = parse_time((obj.get("metadata") or {}).get("creationTimestamp"))
    if created is None:
        return "<unknown>"
    return human_duration((datetime.now(UTC) - created).total_seconds())


def _pod_status(pod: dict[str, Any]) -> str:
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Unknown"
    for c in status.get("initContainerStatuses") or []:
        state = c.get("state") or {}
        if "terminated" in state and state["terminated"].get("exitCode") == 0:
            continue
        if "waiting" in state and state["waiting"].get("reason") not in (None, "PodInitializing"):
            return "Init:" + state["waiting"]["reason"]
    for c in reversed(status.get("containerStatuses") or []):
        state = c.get("state") or {}
        if state.get("waiting", {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif state.get("terminated", {}).get("reason"):
            reason = state["terminated"]["reason"]
        elif "terminated" in state:
            t = state["terminated"]
            reason = (f"Signal:{t['signal']}" if t.get("signal")
                      else f"ExitCode:{t.get('exitCode')}")
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Terminating"
    return reason


def _pod_cells(pod: dict[str, Any]) -> list[Any]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts: Any = sum(c.get("restartCount", 0) for c in statuses)
    last = max((t for c in statuses if (t := parse_time(
        ((c.get("lastState") or {}).get("terminated") or {}).get("finishedAt")))), default=None)
    if restarts and last is not None:  # kubectl 1.32 prints "3 (2m ago)"
        restarts = f"{restarts} ({human_duration((datetime.now(UTC) - last).total_seconds())} ago)"
    return [f"{ready}/{len(spec.get('containers') or [])}", _pod_status(pod), restarts, age(pod),
            status.get("podIP") or "<none>", spec.get("nodeName") or "<none>"]


def _ports(svc: dict[str, Any]) -> str:
    out = []
    for p in (svc.get("spec") or {}).get("ports") or []:
        text = f"{p.get('port')}"
        if p.get("nodePort"):
            text += f":{p['nodePort']}"
        out.append(f"{text}/{p.get('protocol', 'TCP')}")
    return ",".join(out) or "<none>"


def _external_ip(svc: dict[str, Any]) -> str:
    ips = list(svc["spec"].get("externalIPs") or [])
    ips += [i.get("ip") or i.get("hostname") for i in
            ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []]
    if ips:
        return ",".join(ips)
    return "<pending>" if svc["spec"].get("type") == "LoadBalancer" else "<none>"


def _endpoints(ep: dict[str, Any]) -> str:
    addrs = []
    for subset in ep.get("subsets") or []:
        for a in subset.get("addresses") or []:
            for p in subset.get("ports") or [{}]:
                addrs.append(f"{a.get('ip')}:{p.get('port')}" if p.get("port") else a.get("ip"))
    if not addrs:
        return "<none>"
    shown = ",".join(addrs[:3])
    return shown + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")


def _selector(sel: dict[str, Any] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in ((sel or {}).get("matchLabels") or sel or {}).items()
                    if isinstance(v, str)) or "<none>"


def _event_object(ev: dict[str, Any]) -> str:
    io = ev.get("involvedObject") or {}
    return f"{(io.get('kind') or '').lower()}/{io.get('name')}"


def _since(stamp: str | None) -> str:
    when = parse_time(stamp) if stamp else None
    return human_duration((datetime.now(UTC) - (when or datetime.now(UTC))).total_seconds())


def _event_source(ev: dict[str, Any]) -> str:
    src = ev.get("source") or {}
    comp = src.get("component") or ev.get("reportingComponent") or ""
    host = src.get("host") or ""
    return f"{comp}, {host}" if comp and host else comp


def _workload_wide(obj: dict[str, Any]) -> list[Any]:
    """CONTAINERS, IMAGES, SELECTOR: the `-o wide` columns of workloads."""
    cs = ((obj.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
    return [",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs),
            _selector((obj.get("spec") or {}).get("selector"))]


def _has_condition(job: dict[str, Any], kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True"
               for c in (job.get("status") or {}).get("conditions") or [])


def _job_cells(job: dict[str, Any]) -> list[Any]:
    """printJob (1.32): STATUS, COMPLETIONS, DURATION, AGE."""
    spec, status = job.get("spec") or {}, job.get("status") or {}
    succeeded = status.get("succeeded", 0)
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif spec.get("parallelism", 0) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    start, end = parse_time(status.get("startTime")), parse_time(status.get("completionTime"))
    duration = "" if start is None else human_duration(
        ((end or datetime.now(UTC)) - start).total_seconds())
    state = "Running"
    for cond, text in (("Complete", "Complete"), ("Failed", "Failed"), ("", "Terminating"),
                       ("Suspended", "Suspended"), ("FailureTarget", "FailureTarget"),
                       ("SuccessCriteriaMet", "SuccessCriteriaMet")):
        if (_has_condition(job, cond) if cond
                else (job.get("metadata") or {}).get("deletionTimestamp")):
            state = text
            break
    return [state, completions, duration, age(job), *_workload_wide(job)]


def _quantity(value: Any) -> str:
    return str(value) if value is not None else "<unknown>"


def _hpa_metrics(hpa: dict[str, Any]) -> str:
    """formatHPAMetrics (1.32): `cpu: 50%/80%`, at most two, then `+ N more...`."""
    specs = (hpa.get("spec") or {}).get("metrics") or []
    statuses = (hpa.get("status") or {}).get("currentMetrics") or []
    if not specs:
        return "<none>"
    out = []
    for i, spec in enumerate(specs):
        mtype = spec.get("type", "")
        field = mtype[:1].lower() + mtype[1:]
        src, target = spec.get(field) or {}, (spec.get(field) or {}).get("target") or {}
        status = (statuses[i].get(field) if i < len(statuses) else None) or {}
        current = status.get("current") or {}
        if mtype in ("Resource", "ContainerResource"):
            if target.get("averageValue") is not None:
                out.append(f"{src.get('name')}: {_quantity(current.get('averageValue'))}/"
                           f"{target['averageValue']}")
            else:
                now_ = (f"{current['averageUtilization']}%"
                        if current.get("averageUtilization") is not None else "<unknown>")
                want = (f"{target['averageUtilization']}%"
                        if target.get("averageUtilization") is not None else "<auto>")
                out.append(f"{src.get('name')}: {now_}/{want}")
        elif mtype in ("Pods",):
            out.append(f"{_quantity(current.get('averageValue'))}/{target.get('averageValue')}")
        elif mtype in ("Object", "External"):
            if target.get("averageValue") is not None:
                out.append(f"{_quantity(current.get('averageValue'))}/"
                           f"{target['averageValue']} (avg)")
            else:
                out.append(f"{_quantity(current.get('value'))}/{target.get('value')}")
        else:
            out.append("<unknown type>")
    if len(out) > 2:
        return ", ".join(out[:2]) + f" + {len(out) - 2} more..."
    return ", ".join(out)


def _hpa_cells(hpa: dict[str, Any]) -> list[Any]:
    if hpa.get("apiVersion") == hpaconversion.V1:  # one printer for both, as upstream's
        hpa = hpaconversion.to_v2(hpa)              # (it prints the internal version)
    spec, status = hpa.get("spec") or {}, hpa.get("status") or {}
    ref = spec.get("scaleTargetRef") or {}
    low = spec.get("minReplicas")
    return [f"{ref.get('kind', '')}/{ref.get('name', '')}", _hpa_metrics(hpa),
            "<unset>" if low is None else str(low), spec.get("maxReplicas", 0),
            status.get("currentReplicas", 0), age(hpa)]


def _pdb_cells(pdb: dict[str, Any]) -> list[Any]:
    spec = pdb.get("spec") or {}
    low, high = spec.get("minAvailable"), spec.get("maxUnavailable")
    return ["N/A" if low is None else str(low), "N/A" if high is None else str(high),
            (pdb.get("status") or {}).get("disruptionsAllowed", 0), age(pdb)]


def _node_status(node: dict[str, Any]) -> str:
    ready = next((("Ready" if c.get("status") == "True" else "NotReady")
                  for c in (node.get("status") or {}).get("conditions") or []
                  if c.get("type") == "Ready"), "Unknown")
    if (node.get("spec") or {}).get("unschedulable"):
        ready += ",SchedulingDisabled"  # kubectl cordon
    return ready


_WIDE: list[tuple[str, str, int]] = [("Containers", "string", 1), ("Images", "string", 1),
                                     ("Selector", "string", 1)]
Col = tuple[str, str, int]  # name, type, priority (1 = only with -o wide)
PRINTERS: dict[str, tuple[list[Col], Callable[[dict[str, Any]], list[Any]]]] = {
    "pods": ([("Ready", "string", 0), ("Status", "string", 0), ("Restarts", "string", 0),
              ("Age", "string", 0), ("IP", "string", 1), ("Node", "string", 1)], _pod_cells),
    "deployments": ([("Ready", "string", 0), ("Up-to-date", "integer", 0),
                     ("Available", "integer", 0), ("Age", "string", 0), *_WIDE],
                    lambda d: [f"{d.get('status', {}).get('readyReplicas', 0)}/"
                               f"{d.get('spec', {}).get('replicas', 0)}",
                               d.get("status", {}).get("updatedReplicas", 0),
                               d.get("status", {}).get("availableReplicas", 0), age(d),
                               *_workload_wide(d)]),
    "replicasets": ([("Desired", "integer", 0), ("Current", "integer", 0),
                     ("Ready", "integer", 0), ("Age", "string", 0), *_WIDE],
                    lambda d: [d.get("spec", {}).get("replicas", 0),
                               d.get("status", {}).get("replicas", 0),
                               d.get("status", {}).get("readyReplicas", 0), age(d),
                               *_workload_wide(d)]),
    "statefulsets": ([("Ready", "string", 0), ("Age", "string", 0), *_WIDE[:2]],
                     lambda d: [f"{d.get('status', {}).get('readyReplicas', 0)}/"
                                f"{d.get('spec', {}).get('replicas', 0)}", age(d),
                                *_workload_wide(d)[:2]]),
    "jobs": ([("Status", "string", 0), ("Completions", "string", 0), ("Duration", "string", 0),
              ("Age", "string", 0), *_WIDE], _job_cells),
    "services": ([("Type", "string", 0), ("Cluster-IP", "string", 0),
                  ("External-IP", "string", 0), ("Port(s)", "string", 0), ("Age", "string", 0),
                  ("Selector", "string", 1)],
                 lambda s: [s["spec"].get("type"), s["spec"].get("clusterIP", "<none>"),
                            _external_ip(s),
                            _ports(s), age(s), _selector(s["spec"].get("selector"))]),
    "endpoints": ([("Endpoints", "string", 0), ("Age", "string", 0)],
                  lambda e: [_endpoints(e), age(e)]),
    "persistentvolumeclaims": (
        [("Status", "string", 0), ("Volume", "string", 0), ("Capacity", "string", 0),
         ("Access Modes", "string", 0), ("StorageClass", "string", 0), ("Age", "string", 0)],
        lambda p: [p.get("status", {}).get("phase", ""), p["spec"].get("volumeName", ""),
                   (p.get("status", {}).get("capacity") or {}).get("storage", ""),
                   ",".join({"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX",
                             "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}.get(m, m)
                            for m in p.get("status", {}).get("accessModes") or []),
                   p["spec"].get("storageClassName") or "<unset>", age(p)]),
    "namespaces": ([("Status", "string", 0), ("Age", "string", 0)],
                   lambda n: [n.get("status", {}).get("phase", ""), age(n)]),
    "configmaps": ([("Data", "integer", 0), ("Age", "string", 0)],
                   lambda c: [len(c.get("data") or {}) + len(c.get("binaryData") or {}), age(c)]),
    "secrets": ([("Type", "string", 0), ("Data", "integer", 0), ("Age", "string", 0)],
                lambda s: [s.get("type", ""), len(s.get("data") or {}), age(s)]),
    # the real printer: Name is last and only in -o wide (priority 1)
    "events": ([("Last Seen", "string", 0), ("Type", "string", 0), ("Reason", "string", 0),
                ("Object", "string", 0), ("Subobject", "string", 1), ("Source", "string", 1),
                ("Message", "string", 0), ("First Seen", "string", 1),
                ("Count", "string", 1)],
               lambda e: [_since(e.get("lastTimestamp")), e.get("type", ""),
                          e.get("reason", ""), _event_object(e),
                          (e.get("involvedObject") or {}).get("fieldPath", ""),
                          _event_source(e), e.get("message", ""),
                          _since(e.get("firstTimestamp")), str(e.get("count") or 1)]),
    "nodes": ([("Status", "string", 0), ("Roles", "string", 0), ("Age", "string", 0),
               ("Version", "string", 0)],
              lambda n: [_node_status(n),
                         "control-plane" if "node-role.kubernetes.io/control-plane" in
                         (n["metadata"].get("labels") or {}) else "<none>", age(n),
                         n.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", "")]),
    "horizontalpodautoscalers": ([("Reference", "string", 0), ("Targets", "string", 0),
                                  ("MinPods", "string", 0), ("MaxPods", "integer", 0),
                                  ("Replicas", "integer", 0), ("Age", "string", 0)],
                                 _hpa_cells),
    "poddisruptionbudgets": ([("Min Available", "string", 0), ("Max Unavailable", "string", 0),
                              ("Allowed Disruptions", "integer", 0), ("Age", "string", 0)],
                             _pdb_cells),
    "endpointslices": ([("AddressType", "string", 0), ("Ports", "string", 0),
                        ("Endpoints", "string", 0), ("Age", "string", 0)],
                       lambda s: [s.get("addressType", ""),
                                  ",".join(str(p.get("port")) for p in s.get("ports") or [])
                                  or "<unset>",
                                  ",".join(a for e in s.get("endpoints") or []
                                           for a in e.get("addresses") or []) or "<unset>",
                                  age(s)]),
}


PRINTERS["networkpolicies"] = (  # printNetworkPolicy: NAME, POD-SELECTOR, AGE
    [("Pod-Selector", "string", 0), ("Age", "string", 0)],
    lambda o: [format_selector((o.get("spec") or {}).get("podSelector")), age(o)])


def _binding_cells(b: dict[str, Any]) -> list[Any]:
    subjects = b.get("subjects") or []

    def of(kind: str) -> str:
        return ", ".join((f"{s.get('namespace', '')}/{s.get('name')}" if kind == "ServiceAccount"
                          else str(s.get("name"))) for s in subjects if s.get("kind") == kind)
    ref = b.get("roleRef") or {}
    return [f"{ref.get('kind')}/{ref.get('name')}", age(b), of("User"), of("Group"),
            of("ServiceAccount")]


_ROLE = ([("Created At", "date", 0)], lambda r: [r["metadata"].get("creationTimestamp")])
_BINDING = ([("Role", "string", 0), ("Age", "string", 0), ("Users", "string", 1),
             ("Groups", "string", 1), ("ServiceAccounts", "string", 1)], _binding_cells)


def _quota_cells(q: dict[str, Any]) -> list[Any]:
    hard = (q.get("status") or {}).get("hard") or (q.get("spec") or {}).get("hard") or {}
    used = (q.get("status") or {}).get("used") or {}

    def part(keys: list[str]) -> str:
        return ", ".join(f"{k}: {used.get(k, '0')}/{hard[k]}" for k in keys)
    limits = sorted(k for k in hard if k.startswith("limits."))
    return [age(q), part(sorted(k for k in hard if k not in limits)), part(limits)]


PRINTERS["resourcequotas"] = ([("Age", "string", 0), ("Request", "string", 0),
                               ("Limit", "string", 0)], _quota_cells)
PRINTERS["limitranges"] = ([("Created At", "date", 0)],
                           lambda r: [r["metadata"].get("creationTimestamp")])
PRINTERS.update({"roles": _ROLE, "clusterroles": _ROLE, "rolebindings": _BINDING,
                 "clusterrolebindings": _BINDING})


def to_table(r: Resource, data: dict[str, Any], include: str = "Object") -> dict[str, Any]:
    cols, cells = PRINTERS.get(r.plural, ([("Age", "string", 0)], lambda o: [age(o)]))
    items = data.get("items", [data])
    name_last = r.plural == "events"  # the events printer puts Name last, in -o wide
    name_col = {"name": "Name", "type": "string", "format": "name", "description": "Name",
                "priority": 1 if name_last else 0}
    defs = [{"name": n, "type": t, "format": "", "description": n, "priority": p}
            for n, t, p in cols]
    defs = [*defs, name_col] if name_last else [name_col, *defs]
    rows = []
    for obj in items:
        row: dict[str, Any] = {"cells": ([*cells(obj), obj["metadata"]["name"]] if name_last
                                         else [obj["metadata"]["name"], *cells(obj)])}
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": obj["metadata"]}
        rows.append(row)
    meta = {k: v for k, v in (data.get("metadata") or {}).items()
            if k in ("resourceVersion", "continue", "remainingItemCount")}
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
            "columnDefinitions": defs, "rows": rows}
