"""The classroom for real on labcluster: the instructor's manifests applied (RBAC, quotas,
LimitRanges for two learners), then labhelpers in a (simulated) learner pod — the in-cluster
path with the learner ServiceAccount's own token, namespace from the service-account file —
runs the lab (connect → deploy all → look, exec, http, scale, in-cluster load test,
restart, check, doctor, cleanup) against a labcluster that authorizes every request with
RBAC. Every request is also recorded, so the tests can send the same requests into other
namespaces and see the server refuse them.

The recorder wraps ``ApiClient.param_serialize``, where every generated method and
labhelpers' raw requests turn into (method, URL) — including the websocket calls (exec,
port-forward) that ``RESTClientObject.request`` never sees."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from classroom_support import LEARNER_NS
from incluster import apply_classroom, fake_service_account, service_account_token
from kubernetes import client
from kubernetes.client.api_client import ApiClient

import labcluster
import labhelpers
from labhelpers.loadtest.runner import LoadTestWarning


@dataclass
class Classroom:
    kubeconfig: Path
    token: str  # lab-alice's learner ServiceAccount
    calls: list[tuple[str, str]]  # (method, URL) the lab sent as that learner


@pytest.fixture(scope="module")
def classroom() -> Iterator[Classroom]:
    home = Path(tempfile.mkdtemp(prefix="classroom-test-"))
    home.chmod(0o755)  # PostgreSQL runs as another user and must traverse it
    calls: list[tuple[str, str]] = []
    lock = threading.Lock()
    original = ApiClient.param_serialize

    def recording(self, method, resource_path, path_params=None, query_params=None,
                  *args, **kwargs):
        out = original(self, method, resource_path, path_params, query_params,
                       *args, **kwargs)
        with lock:
            calls.append((out[0], out[1]))
        return out

    try:
        kubeconfig = labcluster.ensure_running(home)
        apply_classroom(kubeconfig, [LEARNER_NS, "lab-bob"])
        token = service_account_token(kubeconfig, LEARNER_NS, "learner")
        ApiClient.param_serialize = recording
        try:
            with pytest.MonkeyPatch.context() as mp, \
                    contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                as_a_learner_pod(mp, kubeconfig, home / "serviceaccount", token)
                run_the_lab()
        finally:
            ApiClient.param_serialize = original
        yield Classroom(kubeconfig, token, calls)
    finally:
        labcluster.stop(home)
        left = leftover_processes(home)
        shutil.rmtree(home, ignore_errors=True)
    assert not left, f"processes of the classroom cluster outlived it: {left}"


def leftover_processes(home: Path) -> list[str]:
    """Processes still working in the cluster's home (its pods: postgres, redis, …)."""
    found = []
    for p in psutil.process_iter(["pid", "name"]):
        try:
            if p.pid != os.getpid() and p.cwd().startswith(str(home)):
                found.append(f"{p.info['pid']} {p.info['name']}")
        except (psutil.Error, OSError):
            continue
    return found


def as_a_learner_pod(mp: pytest.MonkeyPatch, kubeconfig: Path, sa: Path, token: str) -> None:
    """What z2jh gives the notebook pod: the ServiceAccount's token, the CA and the
    namespace file, and the KUBERNETES_SERVICE_* variables."""
    fake_service_account(kubeconfig, LEARNER_NS.strip(), sa, mp, token=token)
    mp.delenv("KUBECONFIG", raising=False)


def run_the_lab() -> None:
    """What a learner's notebooks do, through labhelpers only, from "inside" the pod."""
    lab = labhelpers.connect()  # auto: the service account, and its namespace
    assert (lab.target.kind, lab.namespace) == ("in-cluster", LEARNER_NS)
    lab.deploy("all", adopt=True)  # the instructor's namespace is adopted, not ours
    lab.pods()
    lab.services()
    lab.endpoints()
    lab.events(warnings_only=True)
    lab.pvcs()
    lab.configmap("ecommerce-config")
    lab.secret("postgres-secret")
    lab.logs("deploy/cart-service", tail=5)
    lab.describe("deploy/ecommerce-backend")
    lab.top()
    lab.timeline()
    assert lab.exec("deploy/ecommerce-backend",
                    "psql -h postgres -U ecomuser -d ecomdb -c 'SELECT 1'").returncode == 0
    lab.resolve("postgres")
    assert lab.http("ecommerce-backend", "/api/health").ok
    lab.scale("deploy/ecommerce-backend", 3)
    # notebook 7's in-cluster load test: a Job (batch/v1) in the learner's namespace. Its
    # numbers do not matter here (50 requests: the generator's start dominates its CPU)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LoadTestWarning)
        assert lab.loadtest("ecommerce-backend", path="/health", requests=50, concurrency=2,
                            mode="in-cluster").status_counts() == {200: 50}
    lab.restart("deploy/cart-service", wait=False)  # the patch is the call; no need to wait
    lab.check()
    lab.doctor()
    # notebook 01's cluster reads (capacity, default StorageClass, metrics API). Its
    # all-namespaces pod list is left out: the classroom forbids it on purpose (see
    # docs/classroom.md), and test_classroom_rbac pins that.
    lab.core.list_node()
    client.StorageV1Api(lab.api).list_storage_class()
    client.ApisApi(lab.api).get_api_versions()
    lab.cleanup()
