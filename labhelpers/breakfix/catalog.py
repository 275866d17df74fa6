"""Break & fix scenarios: ``manifests/broken/<name>/`` and its ``scenario.yaml``."""

from __future__ import annotations

import copy
from typing import Any

import pandas as pd
import yaml

from labhelpers import manifests

BROKEN_DIR = manifests.MANIFESTS_DIR / "broken"
LAB_DIR = manifests.MANIFESTS_DIR / "lab"
#: Waiting reasons that are a symptom in themselves (the pod will not get further alone).
STUCK = {"ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError", "CrashLoopBackOff",
         "InvalidImageName", "CreateContainerError"}
WORKLOADS = ("Deployment", "StatefulSet")
NOT_READY_AFTER = 20.0  # s a started container may take to become Ready before it counts
STABLE_FOR = 3.0  # s every pod must stay settled (a Deployment's pods appear a moment after its
#                  ReplicaSet; a pod waiting on another is not settled: NOT_READY_AFTER)
#: What check() compares with the broken deploy to tell "nothing was changed": these kinds'
#: objects by uid, with their generation (workloads: spec only, not status) or
#: resourceVersion (the rest have no status that moves by itself). Not PVCs: binding moves
#: them; the one fix that involves a claim deletes its StatefulSet too.
FINGERPRINT_KINDS = (("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"),
                     ("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "Service"))
#: Made in every namespace by the cluster itself, whenever it gets to it.
NOT_FINGERPRINTED = {"ConfigMap/kube-root-ca.crt"}
SOLVED_BY = ("learner", "solution")


def _meta(name: str) -> dict[str, Any]:
    path = BROKEN_DIR / name / "scenario.yaml"
    if not path.is_file():
        raise ValueError(f"no break & fix scenario {name!r}; scenarios: "
                         + ", ".join(names()))
    return yaml.safe_load(path.read_text())


def names() -> list[str]:
    return sorted(p.parent.name for p in BROKEN_DIR.glob("*/scenario.yaml"))


def scenarios() -> pd.DataFrame:
    """Every scenario: name, title, difficulty, time limit, the symptom a learner sees."""
    rows = []
    for name in names():
        m = _meta(name)
        rows.append({"name": name, "title": m["title"], "difficulty": m["difficulty"],
                     "time_limit_minutes": m.get("time_limit_minutes"),
                     "symptom": m["symptom"]})
    df = pd.DataFrame(rows, columns=["name", "title", "difficulty", "time_limit_minutes",
                                     "symptom"])
    order = {"easy": 0, "medium": 1, "hard": 2}
    df = df.sort_values(["difficulty", "name"], key=lambda s: s.map(order)
                        if s.name == "difficulty" else s).reset_index(drop=True)
    df.attrs["kubectl"] = "ls manifests/broken"
    return df


def minimal(objects: list[dict[str, Any]], workloads: list[str]) -> list[dict[str, Any]]:
    """Only the workloads a fault needs, one replica, small CPU requests: several scenarios
    then fit side by side on a small machine (config and Services are all kept, so host
    names still resolve)."""
    out = []
    for obj in objects:
        if obj["kind"] in WORKLOADS and obj["metadata"]["name"] not in workloads:
            continue
        obj = copy.deepcopy(obj)
        if obj["kind"] in WORKLOADS:
            obj["spec"]["replicas"] = 1
            for c in obj["spec"]["template"]["spec"].get("containers") or []:
                c.setdefault("resources", {}).setdefault("requests", {})["cpu"] = "10m"
        out.append(obj)
    return out
