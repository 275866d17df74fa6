"""The lab's success criteria as a table: each row a criterion, ✅/❌, the evidence the
cluster gave, and a hint when it fails. Every probe goes through the Lab's own helpers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pandas as pd

from labhelpers.errors import LabError
from labhelpers.ownership import PART_OF
from labhelpers.podstatus import is_ready, pod_status
from labhelpers.protocol import LabLike
from labhelpers.styling import LabFrame
from labhelpers.tables import endpoint_addresses, event_time

EXPECTED_PODS = 7
CONFIG_MAP = "ecommerce-config"
CONFIG_KEYS = ("DATABASE_HOST", "DATABASE_PORT", "DATABASE_NAME", "REDIS_HOST", "REDIS_PORT")
Result = tuple[bool, str, str]  # ok, evidence, hint
#: The lab text's criterion: "No `Liveness probe failed` events in last 5 minutes".
LIVENESS_WINDOW = dt.timedelta(minutes=5)


class CheckFailed(LabError, AssertionError):
    """``check(strict=True)`` with at least one ❌; the message lists them."""


def lab_pods(lab: LabLike) -> tuple[list[Any], list[str]]:
    """The namespace's pods that belong to the storefront (every tier's template carries
    ``app.kubernetes.io/part-of``), and the names of the others: in a JupyterHub classroom
    the learner's own notebook server runs in the same namespace, and it is not the lab's."""
    ours, others = [], []
    for pod in lab.core.list_namespaced_pod(lab.namespace).items:
        if (pod.metadata.labels or {}).get(PART_OF) == "ecommerce-lab":
            ours.append(pod)
        else:
            others.append(pod.metadata.name)
    return ours, others


def _not_counted(others: list[str]) -> str:
    return f" (not counted, not the lab's: {', '.join(sorted(others))})" if others else ""


def pods_ready(lab: LabLike) -> Result:
    pods, others = lab_pods(lab)
    bad = [f"{p.metadata.name} {pod_status(p)}" for p in pods
           if pod_status(p) != "Running" or not is_ready(p)]
    ok = bool(pods) and not bad
    evidence = f"{len(pods) - len(bad)}/{len(pods)} Running and Ready" + (
        f"; not: {', '.join(bad)}" if bad else "") + _not_counted(others)
    return ok, evidence, "lab.pods(), lab.events(warnings_only=True), lab.logs('<pod>')"


def pod_count(lab: LabLike) -> Result:
    pods, others = lab_pods(lab)
    return (len(pods) == EXPECTED_PODS, f"{len(pods)} pods" + _not_counted(others),
            "frontend×2, backend×2, postgres, redis, cart: deploy every tier (lab.deploy('all'))")


def services_have_endpoints(lab: LabLike) -> Result:
    services = lab.core.list_namespaced_service(lab.namespace).items
    empty = []
    for svc in services:
        ep = lab.core.read_namespaced_endpoints(svc.metadata.name, lab.namespace)
        if not endpoint_addresses(ep)[0]:
            empty.append(svc.metadata.name)
    ok = bool(services) and not empty
    evidence = (f"{len(services) - len(empty)}/{len(services)} Services have ready endpoints"
                + (f"; none: {', '.join(empty)}" if empty else ""))
    return ok, evidence, "compare each Service's selector with its pods' labels; are they Ready?"


def configmap_keys(lab: LabLike) -> Result:
    data = lab.core.read_namespaced_config_map(CONFIG_MAP, lab.namespace).data or {}
    missing = [k for k in CONFIG_KEYS if k not in data]
    return (not missing, f"missing: {', '.join(missing)}" if missing else
            f"{CONFIG_MAP} has {', '.join(CONFIG_KEYS)}", "kubectl describe configmap " + CONFIG_MAP)


def configmap_hosts_are_services(lab: LabLike) -> Result:
    data = lab.core.read_namespaced_config_map(CONFIG_MAP, lab.namespace).data or {}
    names = {s.metadata.name for s in lab.core.list_namespaced_service(lab.namespace).items}
    hosts = {k: data.get(k, "") for k in ("DATABASE_HOST", "REDIS_HOST")}
    wrong = [f"{k}={v}" for k, v in hosts.items() if v.split(".")[0] not in names]
    return (not wrong, f"no such Service: {', '.join(wrong)}" if wrong else
            ", ".join(f"{k}={v}" for k, v in hosts.items()),
            "hosts must be Service names (kubectl get svc); restart pods after fixing the "
            "ConfigMap (env is read at start)")


def dns(name: str) -> Callable[[LabLike], Result]:
    def probe(lab: LabLike) -> Result:
        out = lab.resolve(name)
        fqdn = f"{name}.{lab.namespace}.svc.cluster.local"
        ok = out.returncode == 0 and fqdn in out.stdout
        answer = out.stdout.partition("Name:")[2]
        line = " ".join(answer.split()) or (out.stdout + out.stderr).strip()[-100:]
        return ok, f"nslookup {name} from the backend: {line}", (
            f"is there a Service named {name}? lab.services()")

    probe.__name__ = f"dns_{name}"
    return probe


def products(lab: LabLike) -> Result:
    r = lab.http("ecommerce-backend", "/api/products")
    items: Any = r.json if r.ok else None
    if isinstance(items, dict):
        items = items.get("products") or items.get("items")
    ok = r.ok and isinstance(items, list) and len(items) > 0
    n = len(items) if isinstance(items, list) else 0
    return ok, f"HTTP {r.status}, {n} products", "lab.logs('deploy/ecommerce-backend')"


def frontend_html(lab: LabLike) -> Result:
    r = lab.http("ecommerce-frontend", "/")
    ok = r.ok and "<html" in r.text.lower()
    ctype = {k.lower(): v for k, v in r.headers.items()}.get("content-type", "?")
    return ok, f"HTTP {r.status}, {ctype}", "lab.logs('deploy/ecommerce-frontend')"


def pvc_bound(lab: LabLike) -> Result:
    pvcs = lab.core.list_namespaced_persistent_volume_claim(lab.namespace).items
    phases = {p.metadata.name: p.status.phase for p in pvcs}
    ok = bool(phases) and all(v == "Bound" for v in phases.values())
    return (ok, ", ".join(f"{k} {v}" for k, v in phases.items()) or "no PVC",
            "kubectl describe pvc: is the storageClassName one the cluster has?")


def health(lab: LabLike) -> Result:
    r = lab.http("ecommerce-backend", "/api/health")
    body = r.json if r.ok else {}
    ok = body.get("database") == "connected" and body.get("redis") == "connected"
    evidence = (f"HTTP {r.status}, database={body.get('database')}, redis={body.get('redis')}"
                if r.ok else f"HTTP {r.status}: {r.text[:120]}")
    return ok, evidence, "lab.logs('deploy/ecommerce-backend'); check DATABASE_HOST/REDIS_HOST"


def products_table(lab: LabLike) -> Result:
    """psql inside the database pod over its local socket, as the image's own user: no
    password is needed, sent or shown (user and database come from the pod's env)."""
    sql = "SELECT count(*) FROM products"
    out = lab.exec("sts/postgres", ["sh", "-c", 'psql -U "$POSTGRES_USER" -d "$POSTGRES_DB" '
                                    f'-tAc "{sql}"'])
    text = (out.stdout + out.stderr).strip()
    ok = out.returncode == 0 and out.stdout.strip().isdigit()
    lines = text.splitlines()
    error = next((line for line in lines if "ERROR" in line or "error" in line),
                 lines[-1] if lines else f"exit {out.returncode}")
    evidence = f"products table: {out.stdout.strip()} rows" if ok else f"psql: {error}"
    return ok, evidence[:200], ("the backend creates the tables when it first reaches the "
                                "database: lab.logs('deploy/ecommerce-backend')")


def liveness_failures(events: list[Any], since: dt.datetime) -> list[Any]:
    """The kubelet's `Unhealthy` events for a liveness probe ("Liveness probe failed: …",
    or "…errored: …" when it could not run) last seen at or after `since`."""
    return [e for e in events if e.reason == "Unhealthy"
            and (e.message or "").startswith(("Liveness probe failed", "Liveness probe errored"))
            and event_time(e) >= since]


def no_liveness_failures(lab: LabLike) -> Result:
    """Every failed liveness probe is an event; three in a row restart the container. One in
    the window is a process the kubelet found unresponsive: a lab that is healthy has none.
    Events of pods deleted since count too: they happened in this namespace."""
    since = dt.datetime.now(dt.UTC) - LIVENESS_WINDOW
    found = liveness_failures(lab.core.list_namespaced_event(lab.namespace).items, since)
    if not found:
        return True, "no Liveness probe failed events in the last 5 minutes", ""
    per_pod: dict[str, int] = {}
    for e in found:
        per_pod[e.involved_object.name] = per_pod.get(e.involved_object.name, 0) + (e.count or 1)
    last = max(found, key=event_time)
    pods = ", ".join(f"{name} ×{n}" for name, n in sorted(per_pod.items()))
    return False, f"{pods}; last: {last.message}"[:200], (
        "lab.events(warnings_only=True), lab.describe('<pod>'): is the probe's path, port "
        "or timeout right, or was the process stuck? failureThreshold failures in a row "
        "restart it")


CRITERIA: list[tuple[str, Callable[[LabLike], Result]]] = [
    ("all pods Running and Ready", pods_ready),
    ("7 pods", pod_count),
    ("every Service has endpoints", services_have_endpoints),
    ("ConfigMap has its keys", configmap_keys),
    ("ConfigMap hosts are Services", configmap_hosts_are_services),
    ("DNS: backend → postgres", dns("postgres")),
    ("DNS: backend → redis", dns("redis")),
    ("/api/products returns products", products),
    ("frontend answers HTML", frontend_html),
    ("PVC Bound", pvc_bound),
    ("/api/health: database and redis connected", health),
    ("ecomdb has a products table", products_table),
    ("no liveness-probe failures in the last 5 minutes", no_liveness_failures),
]


def run(lab: LabLike, strict: bool = False) -> pd.DataFrame:
    rows = []
    for name, probe in CRITERIA:
        try:
            ok, evidence, hint = probe(lab)
        except Exception as exc:  # a probe that cannot run is a failed criterion
            ok, evidence, hint = False, f"{type(exc).__name__}: {str(exc)[:160]}", \
                "deploy the lab first: lab.deploy('all')"
        rows.append({"criterion": name, "ok": "✅" if ok else "❌", "evidence": evidence,
                     "hint": "" if ok else hint})
    df = LabFrame(rows, columns=["criterion", "ok", "evidence", "hint"])
    if strict and (df["ok"] == "❌").any():
        failed = df[df["ok"] == "❌"]
        raise CheckFailed("; ".join(f"{r.criterion}: {r.evidence}"
                                    for r in failed.itertuples()))
    return df
