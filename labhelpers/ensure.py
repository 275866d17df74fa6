"""``lab.ensure()``: make sure the lab's tiers exist and are ready, touching nothing healthy.

Every notebook's setup cell calls it, so it must be cheap on a healthy lab and must not undo
what a learner did in an earlier notebook (a Deployment scaled to 3 stays at 3). Per tier:

- an object of the tier that is missing is applied (created);
- a workload that exists but is not ready is re-applied with its *current* replica count
  (repairs a broken template, keeps the learner's scale);
- everything else is left alone — no write at all, so its resourceVersion does not move.
"""

from __future__ import annotations

import json
from typing import Any

from labhelpers import manifests
from labhelpers.apply import request
from labhelpers.protocol import LabLike
from labhelpers.styling import LabFrame
from labhelpers.waiting import WORKLOADS, ready_count, wait_ready


def live(lab: LabLike, obj: dict[str, Any]) -> dict[str, Any] | None:
    """The object as the API server has it, or None when it does not exist."""
    code, _, raw = request(lab.api, "GET", lab.resources.path(obj))
    if code == 404:
        return None
    if code >= 400:
        raise RuntimeError(f"GET {manifests.ref(obj)}: HTTP {code} {raw[:200]!r}")
    return json.loads(raw)


def _ready(kind: str, current: dict[str, Any], lab: LabLike) -> bool:
    name = current["metadata"]["name"]
    read = (lab.apps.read_namespaced_deployment if kind == "Deployment"
            else lab.apps.read_namespaced_stateful_set)
    ready, desired = ready_count(kind, read(name, lab.namespace))
    return ready == desired


def plan(lab: LabLike, objects: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    """(object, "ok" | "missing" | "not ready") for each object of a tier."""
    out = []
    for obj in objects:
        current = live(lab, obj)
        if current is None:
            out.append((obj, "missing"))
        elif obj["kind"] in WORKLOADS and not _ready(obj["kind"], current, lab):
            out.append((obj, "not ready"))
        else:
            out.append((obj, "ok"))
    return out


def ensure(lab: LabLike, tier: str = "all", timeout: float = 180.0,
           adopt: bool = False) -> LabFrame:
    """Deploy what is missing or not ready, tier by tier; returns one row per object."""
    names = list(manifests.TIERS) if tier == "all" else [tier]
    rows = []
    for name in names:
        objs = manifests.with_namespace(lab.tier_objects(name), lab.namespace)
        states = plan(lab, objs)
        todo = []
        for obj, state in states:
            if state == "not ready":
                current = live(lab, obj) or {}
                obj = {**obj, "spec": {**obj["spec"], "replicas":
                                       current.get("spec", {}).get("replicas", 1)}}
            if state != "ok":
                todo.append(obj)
        if todo:
            lab.apply(todo, adopt=adopt)
            wait_ready(lab.core, lab.apps, lab.namespace, objs, timeout, f"{name} tier")
        done = {"missing": "created", "not ready": "repaired", "ok": "ok"}
        rows += [{"tier": name, "object": manifests.ref(o), "state": done[s]}
                 for o, s in states]
        changed = [f"{manifests.ref(o)} {done[s]}" for o, s in states if s != "ok"]
        print(f"{name}: " + ("; ".join(changed) if changed else f"ok ({len(states)} objects)"))
    df = LabFrame(rows, columns=["tier", "object", "state"])
    df.attrs["kubectl"] = (f"kubectl get all,configmap,secret,pvc -n {lab.namespace}  "
                           "# then kubectl apply -f only what is missing")
    return df
