"""Acting on a running lab: HTTP through the API server's service proxy, exec (and DNS
lookups) inside a pod, logs, scaling. All through the official client."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client
from kubernetes.stream import stream

from labhelpers.apply import request
from labhelpers.podstatus import is_ready

WORKLOAD_KINDS = {"deploy": "deployments", "deployment": "deployments",
                  "deployments": "deployments", "sts": "statefulsets",
                  "statefulset": "statefulsets", "statefulsets": "statefulsets"}


@dataclass
class HttpResult:
    """An HTTP answer that came through ``services/<svc>/proxy``."""

    status: int
    headers: dict[str, str]
    text: str
    url: str

    @property
    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError with the body's start if it is not)."""
        try:
            return json.loads(self.text)
        except ValueError as exc:
            raise ValueError(f"{self.url} did not answer JSON: {self.text[:200]!r}") from exc

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class ExecResult:
    command: list[str]
    pod: str
    returncode: int | None
    stdout: str
    stderr: str = field(default="")

    def __str__(self) -> str:
        return self.stdout + self.stderr


def proxy_path(namespace: str, service: str, path: str, port: int | str | None) -> str:
    """``/api/v1/namespaces/ns/services/svc[:port]/proxy/path``."""
    svc = f"{service}:{port}" if port is not None else service
    return f"/api/v1/namespaces/{namespace}/services/{svc}/proxy/{path.lstrip('/')}"


def http(api: client.ApiClient, namespace: str, service: str, path: str = "/",
         port: int | str | None = None, method: str = "GET", body: Any = None,
         timeout: float = 30) -> HttpResult:
    path, _, qs = path.partition("?")
    query = [tuple(kv.split("=", 1)) if "=" in kv else (kv, "") for kv in qs.split("&") if kv]
    url = proxy_path(namespace, service, path, port)
    code, headers, raw = request(api, method, url, body, query=query, timeout=timeout)
    return HttpResult(code, headers, raw.decode(errors="replace"), url)


def workload_selector(apps: client.AppsV1Api, namespace: str, workload: str) -> str:
    """The label selector (``a=b,c=d``) of ``deploy/x`` or ``sts/x``."""
    kind, _, name = workload.partition("/")
    resource = WORKLOAD_KINDS.get(kind.lower()) if name else None
    if resource is None:
        raise ValueError(f"{workload!r}: use deploy/<name> or sts/<name>")
    read = (apps.read_namespaced_deployment if resource == "deployments"
            else apps.read_namespaced_stateful_set)
    selector = read(name, namespace).spec.selector.match_labels or {}
    return ",".join(f"{k}={v}" for k, v in selector.items())


def workload_pods(core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str,
                  target: str) -> list[client.V1Pod]:
    """Pods of ``deploy/x``/``sts/x`` (ready first), or the pod named ``target``."""
    kind, _, name = target.partition("/")
    if not name:
        return [core.read_namespaced_pod(target, namespace)]
    resource = WORKLOAD_KINDS.get(kind.lower())
    if resource is None:
        raise ValueError(f"{target!r}: use a pod name, deploy/<name> or sts/<name>")
    pods = core.list_namespaced_pod(namespace, label_selector=workload_selector(
        apps, namespace, target)).items
    pods = [p for p in pods if not p.metadata.deletion_timestamp]
    if not pods:
        raise LookupError(f"{target} has no pods in namespace {namespace}")
    return sorted(pods, key=lambda p: (not is_ready(p), p.status.phase != "Running",
                                       p.metadata.name))


def exec_in(core: client.CoreV1Api, namespace: str, pod: str, command: list[str],
            timeout: float = 30, container: str | None = None) -> ExecResult:
    extra = {"container": container} if container else {}
    ws = stream(core.connect_get_namespaced_pod_exec, pod, namespace, command=command,
                stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False,
                **extra)
    try:
        ws.run_forever(timeout=timeout)
        return ExecResult(command, pod, ws.returncode, ws.read_stdout(), ws.read_stderr())
    finally:
        ws.close()


def scale(apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str, workload: str,
          replicas: int, wait: bool = True, timeout: float = 120) -> int:
    """Set replicas through the ``scale`` subresource; wait until that many are ready."""
    kind, _, name = workload.partition("/")
    if not name:
        kind, name = "deploy", workload
    resource = WORKLOAD_KINDS.get(kind.lower())
    if resource is None:
        raise ValueError(f"{workload!r}: use deploy/<name> or sts/<name>")
    if resource == "deployments":
        patch, read = apps.patch_namespaced_deployment_scale, apps.read_namespaced_deployment
    else:
        patch, read = apps.patch_namespaced_stateful_set_scale, apps.read_namespaced_stateful_set
    patch(name, namespace, {"spec": {"replicas": replicas}})
    deadline = time.monotonic() + timeout
    while wait:
        st = read(name, namespace).status
        try:
            pods = workload_pods(core, apps, namespace, f"{kind}/{name}")
        except LookupError:
            pods = []
        if (st.ready_replicas or 0) == replicas and len(pods) == replicas:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{workload}: {st.ready_replicas or 0}/{replicas} ready "
                               f"after {timeout:.0f}s")
        time.sleep(0.5)
    return replicas


def restart(apps: client.AppsV1Api, namespace: str, workload: str) -> dict[str, Any]:
    """``kubectl rollout restart``: stamp the pod template so the controller replaces every
    pod (how env from a fixed ConfigMap reaches running containers). Returns the object
    as it was applied, for :func:`labhelpers.waiting.wait_ready`."""
    kind, _, name = workload.partition("/")
    resource = WORKLOAD_KINDS.get(kind.lower()) if name else None
    if resource is None:
        raise ValueError(f"{workload!r}: use deploy/<name> or sts/<name>")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": stamp}}}}}
    if resource == "deployments":
        obj = apps.patch_namespaced_deployment(name, namespace, body)
        kind = "Deployment"
    else:
        obj = apps.patch_namespaced_stateful_set(name, namespace, body)
        kind = "StatefulSet"
    return {"kind": kind, "metadata": {"name": name}, "spec": {"replicas": obj.spec.replicas}}
