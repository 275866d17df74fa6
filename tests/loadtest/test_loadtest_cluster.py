"""Against the lab on labcluster (real processes): the backend Service reached directly,
through a port-forward, and from a pod in the namespace; the guard knows the lab's
Services. One cluster for the session (conftest: lab_backend)."""

from __future__ import annotations

import pytest

from labhelpers import loadtest

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


def test_in_cluster_mode_runs_a_pod_and_reads_its_log(lab_backend) -> None:
    r = loadtest.run(lab_backend, "ecommerce-backend", "/api/products", requests=200,
                     concurrency=5, mode="in-cluster")
    assert r.mode == "in-cluster"
    assert r.url.startswith("http://ecommerce-backend.ecommerce-lab.svc.cluster.local:5000/")
    assert r.status_counts() == {200: 200}
    leftover = lab_backend.core.list_namespaced_pod(
        lab_backend.namespace, label_selector="app.kubernetes.io/name=loadtest").items
    assert all(p.metadata.deletion_timestamp for p in leftover), "load-test pod left behind"


def test_guard_knows_the_lab_services(lab_backend) -> None:
    with pytest.raises(loadtest.LoadTargetRefused, match="no Service 'nope'"):
        loadtest.run(lab_backend, "nope", requests=1)
    ip = lab_backend.core.read_namespaced_service("ecommerce-backend",
                                                  lab_backend.namespace).spec.cluster_ip
    r = loadtest.run(lab_backend, f"http://{ip}:5000/health", requests=10, concurrency=2)
    assert r.status_counts() == {200: 10}
    with pytest.raises(ValueError, match="has no port 1234"):
        loadtest.run(lab_backend, "ecommerce-backend", port=1234, requests=1)
