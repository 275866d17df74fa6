"""``kubectl top`` with the numbers a learner compares it to: each container's CPU and memory
use (metrics.k8s.io, through ``CustomObjectsApi``), its requests and limits, and the use as a
percentage of the limit — the column that says "this one will be throttled / OOMKilled"."""

from __future__ import annotations

import math
import re
from typing import Any

from kubernetes import client

from labhelpers.styling import LabFrame

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
COLUMNS = ["pod", "container", "cpu_m", "cpu_request_m", "cpu_limit_m", "cpu_pct_limit",
           "mem_mi", "mem_request_mi", "mem_limit_mi", "mem_pct_limit"]
NO_METRICS = ("this cluster has no metrics API ({detail}): install metrics-server "
              "(kind/k3d/kubeadm: kubectl apply -f https://github.com/kubernetes-sigs/"
              "metrics-server/releases/latest/download/components.yaml; minikube: "
              "minikube addons enable metrics-server) and try again in a minute")

_QUANTITY = re.compile(r"^([0-9.eE+-]+?)(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_FACTOR = {None: 1, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
           "P": 1e15, "E": 1e18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
           "Pi": 2**50, "Ei": 2**60}


class MetricsUnavailable(RuntimeError):
    """The cluster serves no metrics.k8s.io (no metrics-server); the message says what to do."""


def quantity(q: str | int | float | None) -> float:
    """A Kubernetes quantity (``250m``, ``41000000n``, ``512Mi``, ``1G``, ``2``) as a number
    in base units (cores, bytes); NaN for None."""
    if q is None:
        return math.nan
    if isinstance(q, int | float):
        return float(q)
    m = _QUANTITY.match(str(q).strip())
    if not m:
        raise ValueError(f"not a Kubernetes quantity: {q!r}")
    return float(m[1]) * _FACTOR[m[2]]


def millicores(q: str | None) -> float:
    return quantity(q) * 1000


def mebibytes(q: str | None) -> float:
    return quantity(q) / 2**20


def pod_metrics(api: client.ApiClient, namespace: str, version: str = VERSION
                ) -> list[dict[str, Any]]:
    """The namespace's PodMetrics items, or :class:`MetricsUnavailable` (404: nothing serves
    the group; 503: metrics-server registered but not answering yet)."""
    custom = client.CustomObjectsApi(api)
    try:
        body = custom.list_namespaced_custom_object(GROUP, version, namespace, "pods")
    except client.ApiException as exc:
        if exc.status in (404, 503):
            raise MetricsUnavailable(NO_METRICS.format(
                detail=f"{GROUP}/{version}: HTTP {exc.status} {exc.reason}")) from None
        raise
    return body.get("items", [])


def _pct(used: float, limit: float) -> float:
    return round(100 * used / limit, 1) if limit and not math.isnan(limit) else math.nan


def top_table(pods: list[Any], items: list[dict[str, Any]], namespace: str) -> LabFrame:
    """One row per container of each pod; usage NaN when the pod has no metrics (yet)."""
    usage = {(i["metadata"]["name"], c["name"]): c["usage"]
             for i in items for c in i.get("containers", [])}
    rows = []
    for pod in sorted(pods, key=lambda p: p.metadata.name):
        for c in pod.spec.containers:
            res = c.resources
            req, lim = (res.requests or {}) if res else {}, (res.limits or {}) if res else {}
            used = usage.get((pod.metadata.name, c.name), {})
            cpu, mem = millicores(used.get("cpu")), mebibytes(used.get("memory"))
            cpu_lim, mem_lim = millicores(lim.get("cpu")), mebibytes(lim.get("memory"))
            rows.append({
                "pod": pod.metadata.name, "container": c.name,
                "cpu_m": round(cpu, 1), "cpu_request_m": millicores(req.get("cpu")),
                "cpu_limit_m": cpu_lim, "cpu_pct_limit": _pct(cpu, cpu_lim),
                "mem_mi": round(mem, 1), "mem_request_mi": mebibytes(req.get("memory")),
                "mem_limit_mi": mem_lim, "mem_pct_limit": _pct(mem, mem_lim),
            })
    df = LabFrame(rows, columns=COLUMNS)
    df.attrs["kubectl"] = f"kubectl top pods -n {namespace} --containers"
    return df


def top(lab: Any, version: str = VERSION) -> LabFrame:
    """The table, or (no metrics API) an empty table and a printed message — a notebook
    cell that explains is better than a traceback."""
    pods = [p for p in lab.core.list_namespaced_pod(lab.namespace).items
            if not p.metadata.deletion_timestamp]
    try:
        items = pod_metrics(lab.api, lab.namespace, version)
    except MetricsUnavailable as exc:
        print(exc)
        df = top_table([], [], lab.namespace)
        df.attrs["error"] = str(exc)
        return df
    return top_table(pods, items, lab.namespace)
