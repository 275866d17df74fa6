"""``kubectl top`` with the numbers a learner compares it to: each container's CPU and memory
use (metrics.k8s.io, through ``CustomObjectsApi``) and that use as a percentage of its request
(what the scheduler reserved) and of its limit — the column that says "this one will be
throttled / OOMKilled".

Eight short columns (``cpu % req`` is the CPU use as % of the request, ``% lim`` of the limit,
as k9s abbreviates them), so the table fits a notebook's width without scrolling: the requests
and limits themselves are in the manifests (notebook 1's table), the percentages are what to
compare. The numbers stay numbers (CPU rounded to whole millicores, memory and percentages to
one decimal); the HTML shows them without trailing zeros (:mod:`labhelpers.styling`)."""

from __future__ import annotations

import math
from typing import Any

from kubernetes import client
from kubernetes.utils import parse_quantity

from labhelpers.errors import LabError
from labhelpers.styling import LabFrame

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
COLUMNS = ["pod", "container", "cpu m", "cpu % req", "cpu % lim", "mem Mi", "mem % req",
           "mem % lim"]
#: How the HTML shows them (``LabFrame``): CPU in whole millicores, memory in Mi with one
#: decimal at most; percentages are already rounded to one decimal.
FORMATS = {"cpu m": "{:.0f}", "mem Mi": "{:.1f}"}
NO_METRICS = ("this cluster has no metrics API ({detail}): install metrics-server "
              "(kind/k3d/kubeadm: kubectl apply -f https://github.com/kubernetes-sigs/"
              "metrics-server/releases/latest/download/components.yaml; minikube: "
              "minikube addons enable metrics-server) and try again in a minute")

class MetricsUnavailable(LabError, RuntimeError):
    """The cluster serves no metrics.k8s.io (no metrics-server); the message says what to do."""


def quantity(q: str | int | float | None) -> float:
    """A Kubernetes quantity (``250m``, ``41000000n``, ``512Mi``, ``1G``, ``2``) as a number
    in base units (cores, bytes); NaN for None."""
    if q is None:
        return math.nan
    try:  # the official client's parser (a Decimal), as float for pandas
        number = parse_quantity(q.strip() if isinstance(q, str) else q)
    except ValueError:
        number = None
    if number is None or not number.is_finite():
        raise ValueError(f"not a Kubernetes quantity: {q!r}")
    return float(number)


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


def _pct(used: float, of: float) -> float:
    """``used`` as a percentage of a request or limit (one decimal); NaN when that is unset."""
    return round(100 * used / of, 1) if of and not math.isnan(of) else math.nan


def top_table(pods: list[Any], items: list[dict[str, Any]], namespace: str) -> LabFrame:
    """One row per container of each pod; usage NaN when the pod has no metrics (yet), a
    percentage NaN when the container sets no such request or limit."""
    usage = {(i["metadata"]["name"], c["name"]): c["usage"]
             for i in items for c in i.get("containers", [])}
    rows = []
    for pod in sorted(pods, key=lambda p: p.metadata.name):
        for c in pod.spec.containers:
            res = c.resources
            req, lim = (res.requests or {}) if res else {}, (res.limits or {}) if res else {}
            used = usage.get((pod.metadata.name, c.name), {})
            cpu, mem = millicores(used.get("cpu")), mebibytes(used.get("memory"))
            rows.append({
                "pod": pod.metadata.name, "container": c.name,
                "cpu m": round(cpu, 0), "cpu % req": _pct(cpu, millicores(req.get("cpu"))),
                "cpu % lim": _pct(cpu, millicores(lim.get("cpu"))),
                "mem Mi": round(mem, 1), "mem % req": _pct(mem, mebibytes(req.get("memory"))),
                "mem % lim": _pct(mem, mebibytes(lim.get("memory"))),
            })
    df = LabFrame(rows, columns=COLUMNS).astype({c: float for c in COLUMNS[2:]})
    df.attrs["kubectl"] = f"kubectl top pods -n {namespace} --containers"
    df.attrs["formats"] = dict(FORMATS)
    df.attrs["nowrap"] = ["pod"]  # the numbers' headers wrap instead
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
