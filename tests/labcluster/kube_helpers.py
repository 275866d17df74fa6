"""Helpers for the conformance-style tests: waiting, and playing the kubelet."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from kubernetes import client

T = TypeVar("T")

# Pods our tests create must never be run by a real node: on a real cluster this selector
# keeps them Pending, so a test can play the kubelet through the status subresource.
NO_NODE = {"labcluster.test/no-node": "true"}


def wait_for(fn: Callable[[], T], timeout: float = 10.0, what: str = "condition") -> T:
    """Poll `fn` until it returns something truthy (controllers are asynchronous)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; last value: {last!r}")


def status_body(exc: client.ApiException) -> dict[str, Any]:
    return json.loads(exc.body)


def kubelet_stand_in(core: client.CoreV1Api, ns: str, name: str, ready: bool = True,
                     ip: str = "127.3.0.1") -> None:
    """What a kubelet reports for a running pod, written through pods/status."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    pod = core.read_namespaced_pod(name, ns)
    status = "True" if ready else "False"
    body = {"status": {
        "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "127.0.0.1",
        "startTime": now,
        "conditions": [{"type": t, "status": status if t in ("Ready", "ContainersReady")
                        else "True", "lastTransitionTime": now}
                       for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
        "containerStatuses": [{"name": c.name, "image": c.image, "imageID": "", "ready": ready,
                               "restartCount": 0, "started": True,
                               "state": {"running": {"startedAt": now}}}
                              for c in pod.spec.containers],
    }}
    core.patch_namespaced_pod_status(name, ns, body)


def deployment(name: str, replicas: int = 2, image: str = "nginx:1.27", labels:
               dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    labels = labels or {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "nodeSelector": NO_NODE,
                         "containers": [{"name": "web", "image": image,
                                         "ports": [{"containerPort": 80, "name": "http"}]}]}},
                     **spec}}
