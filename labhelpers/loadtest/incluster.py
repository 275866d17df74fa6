"""In-cluster mode: the generator runs in a pod of the lab's namespace and its result comes
back through the pod's log.

Why: from a laptop, a real cluster's Services are only reachable through a port-forward,
whose tunnel dominates every latency. From a pod the requests take the path the frontend's
take (cluster DNS → ClusterIP → kube-proxy → a backend pod).

The pod runs ``python -c <generator.py source> <config> --chunks`` in the
``storefront:<version>`` image (the version the backend Deployment runs): that image
has Python 3.11 and the storefront's dependencies, and the generator needs only the
standard library. Where ``batch/v1`` is served (every real cluster, and labcluster) it
is a Job (``backoffLimit: 0``, ``ttlSecondsAfterFinished``) whose pod is found by its
``job-name`` label (set by every API server version) and which is deleted with
``propagationPolicy: Background`` (the batch/v1 default would orphan the pod); without
batch/v1 it is a bare Pod with ``restartPolicy: Never``. The result is one JSON document,
zlib+base64 in ``LOADTEST-RESULT i/n`` lines short enough that no runtime splits them.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

from kubernetes import client

from labhelpers import commands, coursefiles, ownership
from labhelpers.loadtest import generator

STARTUP_S = 120.0  # image pull + scheduling + Python start, on top of the run's deadline


def batch_v1_served(api: client.ApiClient) -> bool:
    groups = client.ApisApi(api).get_api_versions().groups or []
    return any(g.name == "batch" and any(v.version == "v1" for v in g.versions)
               for g in groups)


def storefront_image(lab: Any) -> str:
    """The image the backend runs (so no new image is pulled), else storefront:<version>."""
    try:
        dep = lab.apps.read_namespaced_deployment("ecommerce-backend", lab.namespace)
        image = dep.spec.template.spec.containers[0].image
        if image.rsplit("/", 1)[-1].startswith("storefront:"):
            return image
    except client.ApiException:
        pass
    return f"storefront:{coursefiles.version()}"


def pod_spec(name: str, image: str, cfg: dict[str, Any], deadline: float) -> dict[str, Any]:
    source = Path(generator.__file__).read_text()
    # Pod Security "restricted" (what a classroom namespace may enforce, and what the
    # production manifests use): the image's non-root user, no privilege escalation, no
    # capabilities, read-only root — the generator writes nothing but its log.
    return {
        "restartPolicy": "Never",
        "activeDeadlineSeconds": int(deadline + STARTUP_S),
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "loadtest", "image": image, "imagePullPolicy": "IfNotPresent",
            "command": ["python", "-c", source, json.dumps(cfg), "--chunks"],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                          "limits": {"cpu": "1", "memory": "512Mi"}},
            "securityContext": {"allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]}},
        }],
    }


def run_in_cluster(lab: Any, cfg: dict[str, Any], image: str | None = None,
                   show_kubectl: bool = False) -> tuple[dict[str, Any], str]:
    """Run the generator in a Job (or bare Pod); return (its record, the pod's name)."""
    name = f"loadtest-{secrets.token_hex(3)}"
    labels = {**ownership.LABELS, "app.kubernetes.io/name": "loadtest", "loadtest": name}
    spec = pod_spec(name, image or storefront_image(lab), cfg, float(cfg["deadline"]))
    use_job = batch_v1_served(lab.api)
    batch = client.BatchV1Api(lab.api)
    if show_kubectl:
        kind = "job" if use_job else "pod"
        # the Job/Pod spec is too long for one line: print how to follow the one made here
        print("$ " + commands.kubectl("logs", "-n", lab.namespace, "-f", f"{kind}/{name}")
              + f"   # the load generator's {kind}, which labhelpers creates now")
    if use_job:
        batch.create_namespaced_job(lab.namespace, {
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "labels": labels},
            "spec": {"backoffLimit": 0, "ttlSecondsAfterFinished": 600,
                     "template": {"metadata": {"labels": labels}, "spec": spec}}})
    else:
        lab.core.create_namespaced_pod(lab.namespace, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels}, "spec": spec})
    try:
        selector = f"job-name={name}" if use_job else f"loadtest={name}"
        pod = wait_finished(lab, selector, float(cfg["deadline"]) + STARTUP_S)
        log = lab.core.read_namespaced_pod_log(pod.metadata.name, lab.namespace)
        if pod.status.phase != "Succeeded":
            raise RuntimeError(f"load-test pod {pod.metadata.name} ended {pod.status.phase}; "
                               f"its log ends:\n{log[-2000:]}")
        return generator.from_chunks(log), pod.metadata.name
    finally:
        body = client.V1DeleteOptions(propagation_policy="Background",
                                      grace_period_seconds=0)
        try:
            if use_job:
                batch.delete_namespaced_job(name, lab.namespace, body=body)
            else:
                lab.core.delete_namespaced_pod(name, lab.namespace, body=body)
        except client.ApiException as exc:
            if exc.status != 404:
                raise


def wait_finished(lab: Any, selector: str, timeout: float) -> client.V1Pod:
    """The pod once Succeeded/Failed; a clear error with its state when it does not get there."""
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        pods = lab.core.list_namespaced_pod(lab.namespace, label_selector=selector).items
        if pods:
            last = pods[0]
            if last.status.phase in ("Succeeded", "Failed"):
                return last
        time.sleep(0.25)
    state = "no pod" if last is None else f"{last.metadata.name} {last.status.phase}"
    if last is not None:
        for cs in last.status.container_statuses or []:
            if cs.state and cs.state.waiting:
                state += f" ({cs.state.waiting.reason}: {cs.state.waiting.message})"
    raise TimeoutError(f"load-test pod did not finish in {timeout:.0f} s: {state}")
