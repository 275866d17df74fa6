"""Services: endpoints and why there are none, and ports nobody listens on.

The evidence puts the Service's selector beside the pods' labels, and the targetPort
beside the containers' ports, because that comparison is the whole diagnosis.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from labhelpers.doctor.finding import ERROR, Finding
from labhelpers.doctor.snapshot import Snapshot
from labhelpers.tables import endpoint_addresses


def _fmt(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "(none)"


def check(snap: Snapshot) -> Iterator[Finding]:
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
    name = svc.metadata.name
    labelled = {snap.owner(p): p.metadata.labels or {} for p in snap.live_pods()}
    by_text = {_fmt(v): k for k, v in labelled.items()}
    close = difflib.get_close_matches(_fmt(selector), list(by_text), n=1, cutoff=0.3)
    side = (f"closest pods ({by_text[close[0]]}) are labelled {close[0]}" if close else
            "no pod in the namespace" if not labelled else
            "pod labels: " + "; ".join(f"{k}: {_fmt(v)}" for k, v in labelled.items()))
    fix = (f"set Service {name}'s selector to the labels of {by_text[close[0]]}'s pods "
           "(endpoints appear at once, no restart)" if close else
           f"deploy the workload Service {name} is meant for, or fix its selector")
    return Finding(ERROR, f"Service/{name}", "service-no-match",
                   f"Service {name} selects no pod, so it has no endpoints",
                   f"selector {_fmt(selector)} vs {side}; endpoints: <none>", fix)


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
