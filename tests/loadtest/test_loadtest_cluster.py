"""Against the lab on labcluster (real processes): the backend Service reached directly,
through a port-forward, and from a pod in the namespace; the guard knows the lab's
Services. One cluster for the session (conftest: lab_backend)."""

from __future__ import annotations

import re
import time

import pytest
from kubernetes.client import BatchV1Api

from labhelpers import loadtest
from labhelpers.loadtest import incluster

pytestmark = pytest.mark.cluster


def test_direct_mode_reaches_the_backend_service(lab_backend) -> None:
    r = loadtest.run(lab_backend, "ecommerce-backend", "/api/products", requests=300,
                     concurrency=10)
    assert r.mode == "direct" and r.url.startswith("http://127.1.")
    assert r.status_counts() == {200: 300}
    assert set(r.by_header().index) <= {"HIT", "MISS"} and r.by_header()["requests"].sum() == 300


def test_lab_loadtest_delegates(lab_backend) -> None:
    r = lab_backend.loadtest("ecommerce-backend", path="/health", requests=50, concurrency=5)
    assert r.status_counts() == {200: 50}


def test_cache_miss_paths_are_slower_than_hits(lab_backend) -> None:
    hits = loadtest.run(lab_backend, "ecommerce-backend", "/api/products?limit=7",
                        requests=200, concurrency=5)
    misses = loadtest.run(lab_backend, "ecommerce-backend", requests=200, concurrency=5,
                          paths=[f"/api/products?limit=9&offset={i}&category=x{i}"
                                 for i in range(200)])
    assert hits.by_header()["requests"].get("HIT", 0) >= 195
    assert misses.by_header()["requests"].to_dict() == {"MISS": 200}


def test_port_forward_mode(lab_backend) -> None:
    r = loadtest.run(lab_backend, "ecommerce-backend", "/health", requests=40, concurrency=4,
                     mode="port-forward")
    assert r.mode == "port-forward" and r.url.startswith("http://127.0.0.1:")
    assert r.status_counts() == {200: 40}


def _loadtest_events(lab, kind: str) -> dict[str, set[str]]:
    """Names of load-test objects of `kind` → their event reasons (events outlive them)."""
    out: dict[str, set[str]] = {}
    for e in lab.core.list_namespaced_event(
            lab.namespace, field_selector=f"involvedObject.kind={kind}").items:
        if e.involved_object.name.startswith("loadtest-"):
            out.setdefault(e.involved_object.name, set()).add(e.reason)
    return out


def _nothing_left(lab) -> bool:
    selector = "app.kubernetes.io/name=loadtest"
    pods = lab.core.list_namespaced_pod(lab.namespace, label_selector=selector).items
    jobs = BatchV1Api(lab.api).list_namespaced_job(lab.namespace, label_selector=selector).items
    return all(o.metadata.deletion_timestamp for o in pods + jobs)


def _wait_nothing_left(lab) -> None:
    """The cleanup's deletions are asynchronous (the garbage collector removes a deleted
    Job's pod), on every cluster: wait for them, bounded."""
    end = time.monotonic() + 30
    while not _nothing_left(lab):
        assert time.monotonic() < end, "load-test Job or pod left behind"
        time.sleep(0.2)


def test_in_cluster_mode_runs_a_job_and_reads_its_pods_log(lab_backend) -> None:
    before = _loadtest_events(lab_backend, "Job")
    r = loadtest.run(lab_backend, "ecommerce-backend", "/api/products", requests=200,
                     concurrency=5, mode="in-cluster")
    assert r.mode == "in-cluster"
    assert r.url.startswith("http://ecommerce-backend.ecommerce-lab.svc.cluster.local:5000/")
    assert r.status_counts() == {200: 200}
    # batch/v1 is served, so it ran as a Job: the job controller created its pod and
    # saw it complete
    new = {k: v for k, v in _loadtest_events(lab_backend, "Job").items() if k not in before}
    assert len(new) == 1, new
    assert {"SuccessfulCreate", "Completed"} <= next(iter(new.values()))
    _wait_nothing_left(lab_backend)


def test_in_cluster_mode_runs_a_bare_pod_without_batch_v1(lab_backend, monkeypatch) -> None:
    """Where batch/v1 is not served, the generator runs in a bare Pod (choosing the branch;
    the cluster still runs everything)."""
    monkeypatch.setattr(incluster, "batch_v1_served", lambda api: False)
    jobs_before = _loadtest_events(lab_backend, "Job")
    pods_before = _loadtest_events(lab_backend, "Pod")
    r = loadtest.run(lab_backend, "ecommerce-backend", "/health", requests=50,
                     concurrency=2, mode="in-cluster")
    assert r.status_counts() == {200: 50}
    assert _loadtest_events(lab_backend, "Job").keys() == jobs_before.keys()
    new_pods = set(_loadtest_events(lab_backend, "Pod")) - set(pods_before)
    # a bare pod has the generated name itself; a Job's pod would have `<job>-xxxxx`
    assert len(new_pods) == 1 and re.fullmatch(r"loadtest-[0-9a-f]{6}", new_pods.pop())
    _wait_nothing_left(lab_backend)


def test_guard_knows_the_lab_services(lab_backend) -> None:
    with pytest.raises(loadtest.LoadTargetRefused, match="no Service 'nope'"):
        loadtest.run(lab_backend, "nope", requests=1)
    ip = lab_backend.core.read_namespaced_service("ecommerce-backend",
                                                  lab_backend.namespace).spec.cluster_ip
    r = loadtest.run(lab_backend, f"http://{ip}:5000/health", requests=10, concurrency=2)
    assert r.status_counts() == {200: 10}
    with pytest.raises(ValueError, match="has no port 1234"):
        loadtest.run(lab_backend, "ecommerce-backend", port=1234, requests=1)
