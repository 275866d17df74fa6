"""LimitRange and ResourceQuota admission, as the API server's LimitRanger and ResourceQuota
plugins do them for what a classroom namespace uses.

A learner's namespace carries a LimitRange (defaults for containers that name no
resources, a per-container maximum) and a ResourceQuota (CPU/memory requests and limits,
pods, services, node ports, claims, storage). Both act on create, before the object is
stored: the LimitRange fills in and checks a pod's containers, then the quota adds the new
object to what the namespace already uses and refuses it if any tracked resource would go
over — with upstream's messages, so the ReplicaSet's FailedCreate event reads as on a
real cluster. Usage is counted from the live objects at admission (one process, one store:
no race for the quota controller to repair); ``QuotaStatusController`` keeps
``status.used`` current for ``kubectl describe quota``.

Not done: LimitRange types Pod and PersistentVolumeClaim, maxLimitRequestRatio, quota
scopes and scopeSelector, object-count quotas beyond pods/services/claims
(``count/<resource>``), and extended resources.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from kubernetes.utils import parse_quantity

from labcluster.errors import ApiError
from labcluster.registry import Resource

COMPUTE = ("cpu", "memory")
_BINARY = (("Ei", 2**60), ("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20),
           ("Ki", 2**10))


def fmt(name: str, value: Decimal) -> str:
    """A quantity as resource.Quantity prints a sum: cores or millicores for CPU, the
    largest binary unit that divides a byte count, a plain number for counts."""
    base = name.rsplit(".", 1)[-1]
    if base == "cpu":
        millis = value * 1000
        return str(int(value)) if value == int(value) else f"{int(millis)}m"
    if base in ("memory", "storage", "ephemeral-storage"):
        whole = int(value)
        for suffix, size in _BINARY:
            if whole and whole % size == 0:
                return f"{whole // size}{suffix}"
        return str(whole)
    return str(int(value))


def _q(value: Any) -> Decimal:
    return Decimal(parse_quantity(value))


def _forbidden(r: Resource, name: str, message: str) -> ApiError:
    qualified = f"{r.plural}.{r.group}" if r.group else r.plural
    return ApiError(403, "Forbidden", f'{qualified} "{name}" is forbidden: {message}',
                    name=name, group=r.group, kind=r.plural)


# ------------------------------------------------------------------ LimitRange
def apply_limit_ranges(r: Resource, pod: dict[str, Any],
                       ranges: Iterable[dict[str, Any]]) -> None:
    """Defaults first (every range), then min/max — LimitRanger's Admit then Validate."""
    if r.plural != "pods":
        return
    items = [lim for lr in ranges for lim in (lr.get("spec") or {}).get("limits") or []
             if lim.get("type") == "Container"]
    if not items:
        return
    spec = pod.get("spec") or {}
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    notes = []
    for c in containers:
        res = c.setdefault("resources", {})
        set_req, set_lim = [], []
        for lim in items:
            for key in COMPUTE:
                if key in (lim.get("defaultRequest") or {}) and key not in (res.get("requests") or {}):
                    res.setdefault("requests", {})[key] = lim["defaultRequest"][key]
                    set_req.append(key)
                if key in (lim.get("default") or {}) and key not in (res.get("limits") or {}):
                    res.setdefault("limits", {})[key] = lim["default"][key]
                    set_lim.append(key)
        if set_req:
            notes.append(f"{', '.join(set_req)} request for "
                         f"{'init container' if c in (spec.get('initContainers') or []) else 'container'} "
                         f"{c.get('name')}")
        if set_lim:
            notes.append(f"{', '.join(set_lim)} limit for "
                         f"{'init container' if c in (spec.get('initContainers') or []) else 'container'} "
                         f"{c.get('name')}")
    if notes:
        ann = pod.setdefault("metadata", {}).setdefault("annotations", {})
        ann["kubernetes.io/limit-ranger"] = "LimitRanger plugin set: " + "; ".join(notes)
    errors = []
    for c in containers:
        res = c.get("resources") or {}
        for lim in items:
            for key in COMPUTE:
                limit = (res.get("limits") or {}).get(key)
                request = (res.get("requests") or {}).get(key)
                most = (lim.get("max") or {}).get(key)
                least = (lim.get("min") or {}).get(key)
                if most is not None:
                    if limit is None:
                        errors.append(f"maximum {key} usage per Container is {most}.  No limit "
                                      "is specified")
                    elif _q(limit) > _q(most):
                        errors.append(f"maximum {key} usage per Container is {most}, but limit "
                                      f"is {limit}")
                if least is not None:
                    if request is None:
                        errors.append(f"minimum {key} usage per Container is {least}.  No "
                                      "request is specified")
                    elif _q(request) < _q(least):
                        errors.append(f"minimum {key} usage per Container is {least}, but "
                                      f"request is {request}")
    if errors:
        text = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
        raise _forbidden(r, pod["metadata"].get("name", ""), text)


# ------------------------------------------------------------------ ResourceQuota
def _pod_compute(pod: dict[str, Any]) -> dict[str, Decimal]:
    """requests.cpu, limits.memory, …: the sum over containers, or the largest init
    container where that is more (the pod's effective request, as the scheduler sees it)."""
    spec = pod.get("spec") or {}
    out: dict[str, Decimal] = {}
    for kind in ("requests", "limits"):
        for key in COMPUTE:
            total = sum((_q(v) for c in spec.get("containers") or []
                         if (v := ((c.get("resources") or {}).get(kind) or {}).get(key))
                         is not None), Decimal(0))
            init = max((_q(v) for c in spec.get("initContainers") or []
                        if (v := ((c.get("resources") or {}).get(kind) or {}).get(key))
                        is not None), default=Decimal(0))
            out[f"{kind}.{key}"] = max(total, init)
    return out


def _missing(pod: dict[str, Any], tracked: set[str]) -> list[str]:
    """`limits.cpu for: web` … for each tracked compute resource a container leaves out."""
    spec = pod.get("spec") or {}
    out = []
    for name in sorted(tracked):
        if name in ("cpu", "memory"):
            name = f"requests.{name}"
        kind, _, key = name.partition(".")
        if kind not in ("requests", "limits") or key not in COMPUTE:
            continue
        lacking = [c.get("name", "") for c in spec.get("containers") or []
                   if key not in ((c.get("resources") or {}).get(kind) or {})]
        if lacking:
            out.append(f"{name} for: {','.join(lacking)}")
    return out


def usage(r: Resource, obj: dict[str, Any]) -> dict[str, Decimal]:
    """What one object counts against a quota."""
    if r.plural == "pods":
        phase = (obj.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            return {}
        out = {"pods": Decimal(1), **_pod_compute(obj)}
        out["cpu"], out["memory"] = out["requests.cpu"], out["requests.memory"]
        return out
    if r.plural == "services":
        spec = obj.get("spec") or {}
        out = {"services": Decimal(1)}
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            out["services.nodeports"] = Decimal(sum(1 for p in spec.get("ports") or []))
        if spec.get("type") == "LoadBalancer":
            out["services.loadbalancers"] = Decimal(1)
        return out
    if r.plural == "persistentvolumeclaims":
        storage = (((obj.get("spec") or {}).get("resources") or {}).get("requests") or {}
                   ).get("storage")
        return {"persistentvolumeclaims": Decimal(1),
                "requests.storage": _q(storage) if storage else Decimal(0)}
    return {}


def namespace_usage(store: Any, ns: str, hard: Iterable[str]) -> dict[str, Decimal]:
    tracked = set(hard)
    used = {name: Decimal(0) for name in tracked}
    for plural in ("pods", "services", "persistentvolumeclaims"):
        r = _KINDS[plural]
        for obj in store.items(f"/{plural}", ns):
            for name, value in usage(r, obj).items():
                if name in tracked:
                    used[name] += value
    return used


_KINDS = {p: Resource("", "v1", p, k) for p, k in (
    ("pods", "Pod"), ("services", "Service"), ("persistentvolumeclaims", "PersistentVolumeClaim"))}


def _pretty(values: dict[str, Decimal], keys: list[str]) -> str:
    return ",".join(f"{k}={fmt(k, values[k])}" for k in keys)


def check_quota(store: Any, r: Resource, obj: dict[str, Any]) -> None:
    """Refuse ``obj`` when adding it takes any quota of its namespace over ``hard``."""
    if r.plural not in _KINDS:
        return
    ns = obj["metadata"].get("namespace", "")
    quotas = list(store.items("/resourcequotas", ns))
    if not quotas:
        return
    wanted = usage(r, obj)
    name = obj["metadata"].get("name", "")
    for quota in quotas:
        hard = {k: _q(v) for k, v in ((quota.get("spec") or {}).get("hard") or {}).items()}
        if r.plural == "pods":
            lacking = _missing(obj, set(hard))
            if lacking:
                raise _forbidden(r, name, f"failed quota: {quota['metadata']['name']}: must "
                                 f"specify {'; '.join(lacking)}")
        used = namespace_usage(store, ns, hard)
        over = sorted(k for k, v in wanted.items()
                      if k in hard and v > 0 and used[k] + v > hard[k])
        if over:
            raise _forbidden(r, name, f"exceeded quota: {quota['metadata']['name']}, "
                             f"requested: {_pretty(wanted, over)}, used: {_pretty(used, over)}, "
                             f"limited: {_pretty(hard, over)}")


def quota_status(store: Any, quota: dict[str, Any]) -> dict[str, Any]:
    hard = (quota.get("spec") or {}).get("hard") or {}
    used = namespace_usage(store, quota["metadata"].get("namespace", ""), hard)
    return {"hard": dict(hard), "used": {k: fmt(k, v) for k, v in used.items()}}
