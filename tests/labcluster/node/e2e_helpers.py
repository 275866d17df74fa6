"""Helpers for the node's end-to-end tests: a labcluster with its node, talked to only
through the official kubernetes client."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import psutil
from kubernetes import client, config, utils
from procs import cluster_leftovers

import labcluster

T = TypeVar("T")


class Cluster:
    """A labcluster with its node in a fresh home (mode 0755: PostgreSQL runs as nobody)."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="labcluster-e2e-"))
        self.home.chmod(0o755)
        self.kubeconfig = labcluster.ensure_running(self.home, env=env)
        self.api = self.connect(self.kubeconfig)
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.ready_seconds = 0.0
        self.up = True

    @staticmethod
    def connect(kubeconfig: Path) -> client.ApiClient:
        return config.new_client_from_config(str(kubeconfig))

    def down(self) -> None:
        if self.up:
            labcluster.stop(self.home)
            self.up = False

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        """Stop it, check nothing of it is left running, remove its home: every e2e
        module's fixture ends this way (a leftover fails the module's last test)."""
        self.down()
        left = cluster_leftovers(self.home)
        shutil.rmtree(self.home, ignore_errors=True)
        if exc_type is None:  # else the test's own failure is the one to show
            assert not left, f"processes of the e2e cluster outlived it: {left}"


def wait_for(fn: Callable[[], T], timeout: float = 60.0, what: str = "condition",
             poll: float = 0.25) -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except client.ApiException as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def is_ready(pod: client.V1Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def create_all(api: client.ApiClient, objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        utils.create_from_dict(api, obj, namespace=obj["metadata"].get("namespace"))


def call(api: client.ApiClient, method: str, path: str, body: Any = None,
         ) -> tuple[int, Any]:
    """A raw request through the client (the generated proxy calls cannot send a body)."""
    if "?" in path:
        path, _, qs = path.partition("?")
        query = [tuple(kv.split("=", 1)) for kv in qs.split("&")]
    else:
        query = []
    serialized = api.param_serialize(method, path, query_params=query, header_params={
        "Content-Type": "application/json", "Accept": "application/json"},
        body=body, auth_settings=["BearerToken"])
    resp = api.call_api(*serialized)
    data = resp.read().decode()
    try:
        return resp.status, json.loads(data)
    except ValueError:
        return resp.status, data


def service_get(api: client.ApiClient, ns: str, svc: str, path: str) -> Any:
    return call(api, "GET", f"/api/v1/namespaces/{ns}/services/{svc}/proxy/{path}")[1]


def container_processes(home: str) -> list[psutil.Process]:
    """Processes of this cluster's containers: their env names our hosts table, or (for
    programs that overwrite their environ with a process title: nginx, redis) their
    working directory is under the cluster's home."""
    found = []
    hosts = f"{home}/node/hosts"
    for p in psutil.process_iter(["pid"]):
        try:
            env = p.environ()
            cwd = p.cwd()
        except (psutil.Error, OSError):
            continue
        if ("LABCLUSTER_CONTAINER" in env and hosts in "".join(env.values())) or \
                cwd.startswith(f"{home}/node/"):
            found.append(p)
    return found


def waiting_reason(pod: client.V1Pod) -> str | None:
    for cs in pod.status.container_statuses or []:
        if cs.state and cs.state.waiting:
            return cs.state.waiting.reason
    return None
