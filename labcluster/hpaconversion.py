"""autoscaling/v1 HorizontalPodAutoscaler as a view of the stored autoscaling/v2 object.

Upstream stores one HPA (the internal version) and converts at the edge:
pkg/apis/autoscaling/v1/conversion.go. v1 knows only a CPU utilization target, so what v2
says beyond it travels in annotations on the v1 object, and comes back when a v1 client
writes the object again (a `kubectl edit hpa.v1.autoscaling` keeps the v2 metrics):

- `autoscaling.alpha.kubernetes.io/metrics`: the spec's metrics other than a CPU
  utilization target, as autoscaling/v1 MetricSpec (the v2beta1 shape);
- `autoscaling.alpha.kubernetes.io/current-metrics`: status.currentMetrics, as v1
  MetricStatus (all of them: v1's currentCPUUtilizationPercentage drops the raw value);
- `autoscaling.alpha.kubernetes.io/conditions`: status.conditions;
- `autoscaling.alpha.kubernetes.io/behavior`: spec.behavior, in the internal type's Go
  field names (`ScaleUp`, `StabilizationWindowSeconds`...), as upstream marshals it.

Written by hand from upstream's functions (same field mapping, same order of metrics).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from .errors import bad_request

V1, V2 = "autoscaling/v1", "autoscaling/v2"
METRICS = "autoscaling.alpha.kubernetes.io/metrics"
CURRENT_METRICS = "autoscaling.alpha.kubernetes.io/current-metrics"
CONDITIONS = "autoscaling.alpha.kubernetes.io/conditions"
BEHAVIOR = "autoscaling.alpha.kubernetes.io/behavior"
ROUND_TRIP = (METRICS, CURRENT_METRICS, CONDITIONS, BEHAVIOR)


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        out[key] = value


def _is_cpu_utilization(metric: dict[str, Any]) -> bool:
    res = metric.get("resource") or {}
    return (metric.get("type") == "Resource" and res.get("name") == "cpu"
            and (res.get("target") or {}).get("averageUtilization") is not None)


# ------------------------------------------------------------------ metrics, v2 -> v1
def _spec_to_v1(m: dict[str, Any]) -> dict[str, Any]:
    mtype = m.get("type", "")
    out: dict[str, Any] = {"type": mtype}
    if mtype == "Object" and m.get("object"):
        src = m["object"]
        metric, target = src.get("metric") or {}, src.get("target") or {}
        o: dict[str, Any] = {"target": src.get("describedObject") or {},
                             "metricName": metric.get("name", ""),
                             "targetValue": target.get("value", "0")}
        _put(o, "selector", metric.get("selector"))
        _put(o, "averageValue", target.get("averageValue"))
        out["object"] = o
    elif mtype == "Pods" and m.get("pods"):
        metric, target = m["pods"].get("metric") or {}, m["pods"].get("target") or {}
        o = {"metricName": metric.get("name", ""),
             "targetAverageValue": target.get("averageValue", "0")}
        _put(o, "selector", metric.get("selector"))
        out["pods"] = o
    elif mtype in ("Resource", "ContainerResource"):
        field = "resource" if mtype == "Resource" else "containerResource"
        src = m.get(field) or {}
        target = src.get("target") or {}
        o = {"name": src.get("name", "")}
        _put(o, "targetAverageUtilization", target.get("averageUtilization"))
        _put(o, "targetAverageValue", target.get("averageValue"))
        if mtype == "ContainerResource":
            o["container"] = src.get("container", "")
        out[field] = o
    elif mtype == "External" and m.get("external"):
        metric, target = m["external"].get("metric") or {}, m["external"].get("target") or {}
        o = {"metricName": metric.get("name", "")}
        _put(o, "metricSelector", metric.get("selector"))
        _put(o, "targetValue", target.get("value"))
        _put(o, "targetAverageValue", target.get("averageValue"))
        out["external"] = o
    return out


def _status_to_v1(m: dict[str, Any]) -> dict[str, Any]:
    mtype = m.get("type", "")
    out: dict[str, Any] = {"type": mtype}
    if mtype == "Object" and m.get("object"):
        src = m["object"]
        metric, cur = src.get("metric") or {}, src.get("current") or {}
        o: dict[str, Any] = {"target": src.get("describedObject") or {},
                             "metricName": metric.get("name", ""),
                             "currentValue": cur.get("value", "0")}
        _put(o, "selector", metric.get("selector"))
        _put(o, "averageValue", cur.get("averageValue"))
        out["object"] = o
    elif mtype == "Pods" and m.get("pods"):
        metric, cur = m["pods"].get("metric") or {}, m["pods"].get("current") or {}
        o = {"metricName": metric.get("name", ""),
             "currentAverageValue": cur.get("averageValue", "0")}
        _put(o, "selector", metric.get("selector"))
        out["pods"] = o
    elif mtype in ("Resource", "ContainerResource"):
        field = "resource" if mtype == "Resource" else "containerResource"
        src = m.get(field) or {}
        cur = src.get("current") or {}
        o = {"name": src.get("name", "")}
        _put(o, "currentAverageUtilization", cur.get("averageUtilization"))
        o["currentAverageValue"] = cur.get("averageValue", "0")
        if mtype == "ContainerResource":
            o["container"] = src.get("container", "")
        out[field] = o
    elif mtype == "External" and m.get("external"):
        metric, cur = m["external"].get("metric") or {}, m["external"].get("current") or {}
        o = {"metricName": metric.get("name", "")}
        _put(o, "metricSelector", metric.get("selector"))
        o["currentValue"] = cur.get("value", "0")
        _put(o, "currentAverageValue", cur.get("averageValue"))
        out["external"] = o
    return out


# ------------------------------------------------------------------ metrics, v1 -> v2
def _target(value: Any = None, average: Any = None, utilization: Any = None,
            ) -> dict[str, Any]:
    if utilization is not None:
        return {"type": "Utilization", "averageUtilization": utilization}
    if average is not None:
        return {"type": "AverageValue", "averageValue": average}
    return {"type": "Value", "value": value}


def _metric(name: str, selector: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    _put(out, "selector", selector)
    return out


def _spec_to_v2(m: dict[str, Any]) -> dict[str, Any]:
    mtype = m.get("type", "")
    out: dict[str, Any] = {"type": mtype}
    if mtype == "Object" and m.get("object"):
        src = m["object"]
        out["object"] = {"describedObject": src.get("target") or {},
                         "metric": _metric(src.get("metricName", ""), src.get("selector")),
                         "target": _target(src.get("targetValue"), src.get("averageValue"))}
    elif mtype == "Pods" and m.get("pods"):
        src = m["pods"]
        out["pods"] = {"metric": _metric(src.get("metricName", ""), src.get("selector")),
                       "target": _target(average=src.get("targetAverageValue"))}
    elif mtype in ("Resource", "ContainerResource"):
        field = "resource" if mtype == "Resource" else "containerResource"
        src = m.get(field) or {}
        o = {"name": src.get("name", ""),
             "target": _target(average=src.get("targetAverageValue"),
                               utilization=src.get("targetAverageUtilization"))}
        if mtype == "ContainerResource":
            o["container"] = src.get("container", "")
        out[field] = o
    elif mtype == "External" and m.get("external"):
        src = m["external"]
        out["external"] = {"metric": _metric(src.get("metricName", ""),
                                             src.get("metricSelector")),
                           "target": _target(src.get("targetValue"),
                                             src.get("targetAverageValue"))}
    return out


def _current(value: Any = None, average: Any = None, utilization: Any = None,
             ) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "value", value)
    _put(out, "averageValue", average)
    _put(out, "averageUtilization", utilization)
    return out


def _status_to_v2(m: dict[str, Any]) -> dict[str, Any]:
    mtype = m.get("type", "")
    out: dict[str, Any] = {"type": mtype}
    if mtype == "Object" and m.get("object"):
        src = m["object"]
        out["object"] = {"describedObject": src.get("target") or {},
                         "metric": _metric(src.get("metricName", ""), src.get("selector")),
                         "current": _current(src.get("currentValue"), src.get("averageValue"))}
    elif mtype == "Pods" and m.get("pods"):
        src = m["pods"]
        out["pods"] = {"metric": _metric(src.get("metricName", ""), src.get("selector")),
                       "current": _current(average=src.get("currentAverageValue"))}
    elif mtype in ("Resource", "ContainerResource"):
        field = "resource" if mtype == "Resource" else "containerResource"
        src = m.get(field) or {}
        o = {"name": src.get("name", ""),
             "current": _current(average=src.get("currentAverageValue"),
                                 utilization=src.get("currentAverageUtilization"))}
        if mtype == "ContainerResource":
            o["container"] = src.get("container", "")
        out[field] = o
    elif mtype == "External" and m.get("external"):
        src = m["external"]
        out["external"] = {"metric": _metric(src.get("metricName", ""),
                                             src.get("metricSelector")),
                           "current": _current(src.get("currentValue"),
                                               src.get("currentAverageValue"))}
    return out


# ------------------------------------------------------------------ behavior (Go names)
_RULE_KEYS = (("stabilizationWindowSeconds", "StabilizationWindowSeconds"),
              ("selectPolicy", "SelectPolicy"), ("policies", "Policies"))
_POLICY_KEYS = (("type", "Type"), ("value", "Value"), ("periodSeconds", "PeriodSeconds"))


def _behavior_to_internal(b: dict[str, Any]) -> dict[str, Any]:
    def rules(r: dict[str, Any] | None) -> dict[str, Any] | None:
        if r is None:
            return None
        out = {go: r.get(js) for js, go in _RULE_KEYS[:2]}
        out["Policies"] = [{go: p.get(js) for js, go in _POLICY_KEYS}
                           for p in r.get("policies") or []] or None
        return out
    return {"ScaleUp": rules(b.get("scaleUp")), "ScaleDown": rules(b.get("scaleDown"))}


def _behavior_from_internal(b: dict[str, Any]) -> dict[str, Any]:
    def rules(r: dict[str, Any] | None) -> dict[str, Any] | None:
        if not isinstance(r, dict):
            return None
        out: dict[str, Any] = {}
        for js, go in _RULE_KEYS[:2]:
            _put(out, js, r.get(go))
        if r.get("Policies"):
            out["policies"] = [{js: p.get(go) for js, go in _POLICY_KEYS}
                               for p in r["Policies"]]
        return out
    out: dict[str, Any] = {}
    _put(out, "scaleUp", rules(b.get("ScaleUp")))
    _put(out, "scaleDown", rules(b.get("ScaleDown")))
    return out


# ------------------------------------------------------------------ objects
def to_v1(obj: dict[str, Any]) -> dict[str, Any]:
    """A stored autoscaling/v2 HPA as autoscaling/v1 (a new object; `obj` is not changed)."""
    meta = copy.deepcopy(obj.get("metadata") or {})
    spec2, status2 = obj.get("spec") or {}, obj.get("status") or {}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if k not in ROUND_TRIP}
    metrics = spec2.get("metrics") or []
    others = [_spec_to_v1(m) for m in metrics if not _is_cpu_utilization(m)]
    if others:
        annotations[METRICS] = _dump(others)
    if status2.get("currentMetrics"):
        annotations[CURRENT_METRICS] = _dump([_status_to_v1(m)
                                              for m in status2["currentMetrics"]])
    if spec2.get("behavior") is not None:
        annotations[BEHAVIOR] = _dump(_behavior_to_internal(spec2["behavior"]))
    if status2.get("conditions"):
        annotations[CONDITIONS] = _dump([  # v1's HorizontalPodAutoscalerCondition order
            {k: c[k] for k in ("type", "status", "lastTransitionTime", "reason", "message")
             if k in c} for c in status2["conditions"]])
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    spec: dict[str, Any] = {"scaleTargetRef": copy.deepcopy(spec2.get("scaleTargetRef") or {})}
    _put(spec, "minReplicas", spec2.get("minReplicas"))
    spec["maxReplicas"] = spec2.get("maxReplicas", 0)
    for m in metrics:  # the first CPU resource metric decides, as upstream's loop
        if m.get("type") == "Resource" and (m.get("resource") or {}).get("name") == "cpu":
            _put(spec, "targetCPUUtilizationPercentage",
                 ((m["resource"].get("target")) or {}).get("averageUtilization"))
            break
    status: dict[str, Any] = {}
    _put(status, "observedGeneration", status2.get("observedGeneration"))
    _put(status, "lastScaleTime", status2.get("lastScaleTime"))
    status["currentReplicas"] = status2.get("currentReplicas", 0)
    status["desiredReplicas"] = status2.get("desiredReplicas", 0)
    for m in status2.get("currentMetrics") or []:
        res = m.get("resource") or {}
        if m.get("type") == "Resource" and res.get("name") == "cpu":
            _put(status, "currentCPUUtilizationPercentage",
                 (res.get("current") or {}).get("averageUtilization"))
    return {"kind": "HorizontalPodAutoscaler", "apiVersion": V1, "metadata": meta,
            "spec": spec, "status": status}


def _annotation(annotations: dict[str, Any], key: str) -> Any:
    try:
        return json.loads(annotations[key])
    except (ValueError, TypeError) as exc:
        raise bad_request(f"error converting the {key} annotation of an autoscaling/v1 "
                          f"HorizontalPodAutoscaler: {exc}") from None


def to_v2(obj: dict[str, Any]) -> dict[str, Any]:
    """An autoscaling/v1 HPA (as a client sent it) as the stored autoscaling/v2 object;
    the round-trip annotations become fields again and are dropped."""
    if not isinstance(obj, dict):
        raise bad_request("the object provided is unrecognized (must be of type object)")
    meta = copy.deepcopy(obj.get("metadata") or {})
    spec1, status1 = obj.get("spec") or {}, obj.get("status") or {}
    annotations = dict(meta.get("annotations") or {})
    spec: dict[str, Any] = {"scaleTargetRef": copy.deepcopy(spec1.get("scaleTargetRef") or {})}
    _put(spec, "minReplicas", spec1.get("minReplicas"))
    _put(spec, "maxReplicas", spec1.get("maxReplicas"))
    metrics: list[dict[str, Any]] = []
    if spec1.get("targetCPUUtilizationPercentage") is not None:
        metrics.append({"type": "Resource", "resource": {"name": "cpu", "target": _target(
            utilization=spec1["targetCPUUtilizationPercentage"])}})
    if METRICS in annotations:
        metrics.extend(_spec_to_v2(m) for m in _annotation(annotations, METRICS) or [])
    if metrics:
        spec["metrics"] = metrics
    if BEHAVIOR in annotations:
        behavior = _annotation(annotations, BEHAVIOR)
        if isinstance(behavior, dict):
            spec["behavior"] = _behavior_from_internal(behavior)
    status: dict[str, Any] = {}
    _put(status, "observedGeneration", status1.get("observedGeneration"))
    _put(status, "lastScaleTime", status1.get("lastScaleTime"))
    _put(status, "currentReplicas", status1.get("currentReplicas"))
    _put(status, "desiredReplicas", status1.get("desiredReplicas"))
    if CURRENT_METRICS in annotations:
        status["currentMetrics"] = [_status_to_v2(m) for m in
                                    _annotation(annotations, CURRENT_METRICS) or []]
    elif status1.get("currentCPUUtilizationPercentage") is not None:
        status["currentMetrics"] = [{"type": "Resource", "resource": {
            "name": "cpu", "current": {
                "averageUtilization": status1["currentCPUUtilizationPercentage"]}}}]
    if CONDITIONS in annotations:
        status["conditions"] = _annotation(annotations, CONDITIONS) or []
    for key in ROUND_TRIP:
        annotations.pop(key, None)
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    out: dict[str, Any] = {"kind": "HorizontalPodAutoscaler", "apiVersion": V2,
                           "metadata": meta, "spec": spec}
    if status:
        out["status"] = status
    return out
