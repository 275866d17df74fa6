"""Faults the scenarios do not cover, one small Deployment each (busybox: cheap), for the
doctor's remaining rules. Applied with the scenarios so they settle side by side."""

from __future__ import annotations

from typing import Any

NAMESPACE = "doctor-rules"


def _deployment(name: str, container: dict[str, Any]) -> dict[str, Any]:
    container = {"name": "main", "image": "busybox:1.36", **container}
    container.setdefault("resources", {"requests": {"cpu": "10m", "memory": "16Mi"}})
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [container]}}}}


OBJECTS = [
    _deployment("crasher", {"command": ["sh", "-c", "echo starting; "
                                        "echo 'fatal: no config file' >&2; exit 3"]}),
    _deployment("hungry", {"command": ["sleep", "3600"],
                           "resources": {"requests": {"cpu": "500", "memory": "16Mi"}}}),
    _deployment("unlively", {"command": ["sleep", "3600"],
                             "livenessProbe": {"exec": {"command": ["false"]},
                                               "periodSeconds": 2, "failureThreshold": 1}}),
    _deployment("no-config", {"command": ["sleep", "3600"],
                              "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {
                                  "name": "missing-config", "key": "x"}}}]}),
]

#: (rule, object) the doctor must report for OBJECTS.
EXPECTED = {("crash-loop", "Deployment/crasher"),
            ("insufficient-resources", "Deployment/hungry"),
            ("liveness-failing", "Deployment/unlively"),
            ("config-error", "Deployment/no-config")}
