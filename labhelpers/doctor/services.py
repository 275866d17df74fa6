"""Services: endpoints and why there are none, and ports nobody listens on.

The evidence puts the Service's selector beside the pods' labels, and the targetPort
beside the containers' ports, because that comparison is the whole diagnosis.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from labhelpers.doctor.finding import ERROR, WARNING, Finding
from labhelpers.doctor.snapshot import Snapshot
from labhelpers.tables import endpoint_addresses


def _fmt(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "(none)"


def findings(snap: Snapshot) -> Iterator[Finding]:
    for svc in snap.services:
        selector = svc.spec.selector or {}
        if not selector:
            continue  # endpoints managed by hand: not ours to judge
        name = svc.metadata.name
        pods = [p for p in snap.live_pods()
                if selector.items() <= (p.metadata.labels or {}).items()]
        ep = snap.endpoints.get(name)
        ready, _ = endpoint_addresses(ep) if ep else ([], [])
        if not pods:
            yield _no_match(snap, svc, selector)
        elif not ready:
            states = ", ".join(f"{p.metadata.name} {'Ready' if snap.ready(p) else 'not Ready'}"
                               for p in pods)
            yield Finding(
                ERROR, f"Service/{name}", "service-pods-not-ready",
                f"Service {name} selects {len(pods)} pod(s) but none is Ready: no endpoints",
                f"selector {_fmt(selector)} matches: {states}; endpoints: <none>",
                f"make its pods Ready (see the findings for {snap.owner(pods[0])})")
        if pods:
            yield from _target_ports(snap, svc, pods)


def _no_match(snap: Snapshot, svc: Any, selector: dict[str, str]) -> Finding:
    """Selector beside the pods' labels, on the selector's own keys (the other labels
    only hide the difference); a near miss is an error, nothing deployed for it a
    warning (the Service is not wrong, its workload is missing)."""
    name = svc.metadata.name
    seen: dict[str, str] = {}
    for p in snap.live_pods():
        labels = p.metadata.labels or {}
        seen.setdefault(_fmt({k: labels.get(k, "<none>") for k in selector}), snap.owner(p))
    close = [lbl for lbl, owner in seen.items() if _near(name, selector, owner, lbl)]
    if close:
        owner = seen[close[0]]
        return Finding(
            ERROR, f"Service/{name}", "service-no-match",
            f"Service {name} selects no pod, so it has no endpoints",
            f"selector {_fmt(selector)} vs pods of {owner}: {close[0]}; endpoints: <none>",
            f"set Service {name}'s selector to {close[0]} (the labels of {owner}'s pods); "
            "endpoints appear at once, no restart")
    others = "; ".join(f"{o}: {lbl}" for lbl, o in seen.items()) or "no pods at all"
    return Finding(
        WARNING, f"Service/{name}", "service-no-match",
        f"Service {name} selects no pod: nothing in this namespace makes pods for it",
        f"selector {_fmt(selector)} vs pods here ({others}); endpoints: <none>",
        f"deploy the workload Service {name} is meant for (was it rejected at apply?), "
        "or fix its selector")


def _near(service: str, selector: dict[str, str], owner: str, labels: str) -> bool:
    """Pods the Service was probably meant for: their workload has the Service's name, or
    a selector value is part of their label value (app=cart vs app=cart-service). Names
    that merely look alike (redis/postgres) are not."""
    if owner.split("/", 1)[1] == service:
        return True
    values = dict(kv.split("=", 1) for kv in labels.split(",") if "=" in kv)
    return any(v and values.get(k) not in (None, "<none>") and
               (v in values[k] or values[k] in v) for k, v in selector.items())


def _target_ports(snap: Snapshot, svc: Any, pods: list[Any]) -> Iterator[Finding]:
    name = svc.metadata.name
    declared: dict[int, str] = {}
    for c in pods[0].spec.containers:
        for p in c.ports or []:
            declared[p.container_port] = p.name or ""
        for probe in (c.readiness_probe, c.liveness_probe):
            if probe and probe.http_get and isinstance(probe.http_get.port, int):
                declared.setdefault(probe.http_get.port, "probe")
    if not declared:
        return  # nothing to compare with
    for sp in svc.spec.ports or []:
        target = sp.target_port if sp.target_port is not None else sp.port
        if isinstance(target, str) and not target.isdigit():
            ok = target in declared.values()
        else:
            ok = int(target) in declared
        if ok:
            continue
        ports = ", ".join(f"{p}" + (f"/{n}" if n else "") for p, n in sorted(declared.items()))
        call = snap.lab_http(name, sp.port)
        yield Finding(
            ERROR, f"Service/{name}", "target-port-mismatch",
            f"Service {name} forwards port {sp.port} to targetPort {target}, where no "
            "container listens",
            f"targetPort {target} vs container ports of {snap.owner(pods[0])}: {ports}"
            + (f"; {call}" if call else ""),
            f"set targetPort of Service {name} to "
            + (f"{min(declared)} (or the port's name)" if declared else "the container port"))
