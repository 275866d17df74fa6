"""Record every API request the lab makes, for real: labhelpers in a (simulated) learner
pod — the in-cluster path, namespace from the service-account file — (connect → deploy all →
look, exec, http, scale, in-cluster load test, restart, check, doctor, cleanup) against a labcluster with real
processes, in a namespace made as the classroom template makes it.

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
from pathlib import Path

import psutil
import pytest
from classroom_support import LEARNER_NS, render
from incluster import fake_service_account
from kubernetes import client, config
from kubernetes.client.api_client import ApiClient

import labcluster
import labhelpers
from labhelpers.loadtest.runner import LoadTestWarning


@pytest.fixture(scope="session")
def recorded_calls() -> list[tuple[str, str]]:
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
        admin = client.CoreV1Api(config.new_client_from_config(str(kubeconfig)))
        for obj in render("alice"):  # what the instructor applied (labcluster: namespaces)
            if obj["kind"] == "Namespace":
                admin.create_namespace(obj)
        ApiClient.param_serialize = recording
        with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            as_a_learner_pod(mp, kubeconfig, home / "serviceaccount")
            run_the_lab()
    finally:
        # Stopped before the tests run: only the recording is needed, and a cluster kept
        # to the end of the session would hold its processes through every later test.
        ApiClient.param_serialize = original
        labcluster.stop(home)
        left = leftover_processes(home)
        shutil.rmtree(home, ignore_errors=True)
    assert not left, f"processes of the recording cluster outlived it: {left}"
    return calls


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


def as_a_learner_pod(mp: pytest.MonkeyPatch, kubeconfig: Path, sa: Path) -> None:
    """What z2jh gives the notebook pod: the ServiceAccount's token, CA and namespace file
    (here labcluster's credentials) and the KUBERNETES_SERVICE_* variables."""
    fake_service_account(kubeconfig, LEARNER_NS.strip(), sa, mp)
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
