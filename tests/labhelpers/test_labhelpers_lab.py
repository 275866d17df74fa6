"""labhelpers against a real labcluster with real processes (PostgreSQL, Redis, nginx,
the storefront), through the official client only. One cluster, one deploy; the tests
run in file order; test_labhelpers_lab_observe.py goes on with the same lab and
test_labhelpers_lab_teardown.py cleans up."""

from __future__ import annotations

import copy
import datetime as dt
import os
import time

import pandas as pd
import pytest
from kubernetes import client
from lh_support import TEST_KUBECONFIG, Connected, wait_for

import labhelpers
from labhelpers import ownership
from labhelpers.manifests import MANIFESTS_DIR
from labhelpers.manifests.kustomize import build
from labhelpers.waiting import wait_ready

pytestmark = [pytest.mark.timeout(400), pytest.mark.cluster]
NS = "ecommerce-lab"
BROKEN_NS = "lh-wrong-db-host"


def test_connect_says_which_cluster_in_one_line(connected: Connected) -> None:
    lines = connected.line.strip().splitlines()
    assert len(lines) == 1, lines
    head = ("connected: kubeconfig cluster, context " if TEST_KUBECONFIG else
            "connected: labcluster cluster, context labcluster, ")
    assert lines[0].startswith(head), lines[0]
    assert f", namespace {NS}, Kubernetes v1." in lines[0], lines[0]
    assert connected.lab.target.kubeconfig and connected.lab.namespace == NS


def test_deploy_all_gives_seven_ready_pods(deployed) -> None:
    lab, table = deployed
    assert len(table) == 7
    assert set(table["ready"]) == {"1/1"} and set(table["status"]) == {"Running"}
    pods = lab.pods()
    assert sorted(pods["name"]) == sorted(table["name"])
    if not TEST_KUBECONFIG:
        assert (pods["node"] == "labcluster").all() and pods["ip"].str.startswith("127.").all()
    assert (pods["node"] != "<none>").all() and (pods["ip"] != "<none>").all()
    ns = lab.core.read_namespace(NS)
    assert ownership.is_ours(ns.metadata.labels)
    backend = lab.apps.read_namespaced_deployment("ecommerce-backend", NS)
    assert ownership.is_ours(backend.metadata.labels)
    managers = {m.manager for m in backend.metadata.managed_fields}
    assert "labhelpers" in managers


def test_services_and_endpoints_tables(deployed) -> None:
    lab, _ = deployed
    svc = lab.services().set_index("name")
    assert set(svc.index) == {"postgres", "redis", "ecommerce-backend", "ecommerce-frontend",
                              "cart-service"}
    assert svc.loc["ecommerce-backend", "ports"] == "5000/TCP"
    assert svc.loc["ecommerce-frontend", "ports"] == "80/TCP"
    eps = lab.endpoints().set_index("name")
    assert eps.loc["ecommerce-backend", "ready"] == 2
    assert eps.loc["ecommerce-frontend", "ready"] == 2
    assert (eps["not_ready"] == 0).all()
    assert lab.endpoints().attrs["kubectl"] == f"kubectl get endpoints -n {NS}"


def test_configmap_secret_and_pvc_tables(deployed) -> None:
    lab, _ = deployed
    cm = lab.configmap("ecommerce-config").set_index("key")["value"]
    assert cm["DATABASE_HOST"] == "postgres" and cm["REDIS_PORT"] == "6379", cm.to_dict()
    secret = lab.secret("postgres-secret").set_index("key")["value"].to_dict()
    assert secret == {"password": "<redacted: 21 bytes>"}, secret
    revealed = lab.secret("postgres-secret", reveal=True).set_index("key")["value"].to_dict()
    assert revealed == {"password": "lab-only-not-a-secret"}
    pvcs = lab.pvcs().set_index("name")
    row = pvcs.loc["data-postgres-0"].to_dict()
    assert row["status"] == "Bound" and row["volume"], row


def test_http_through_the_service_proxy(deployed) -> None:
    lab, _ = deployed
    health = lab.http("ecommerce-backend", "/api/health")
    assert health.status == 200
    assert health.json["database"] == "connected" and health.json["redis"] == "connected"
    assert health.json["pod"].startswith("ecommerce-backend-")
    missing = lab.http("ecommerce-backend", "/api/no-such-route")
    assert missing.status == 404 and not missing.ok
    one = lab.http("ecommerce-backend", "/api/products?limit=1", port="http")
    assert one.ok, one.text
    assert len(one.json["products"] if isinstance(one.json, dict) else one.json) == 1
    page = lab.http("ecommerce-frontend", "/")
    assert page.status == 200 and "<html" in page.text.lower()


def test_resolve_and_exec(deployed) -> None:
    lab, _ = deployed
    pg_ip = lab.core.read_namespaced_pod("postgres-0", NS).status.pod_ip
    answer = lab.resolve("postgres")
    assert answer.returncode == 0
    assert f"postgres.{NS}.svc.cluster.local" in answer.stdout and pg_ip in answer.stdout
    nx = lab.resolve("postgres-db")
    assert nx.returncode != 0
    out = lab.exec("deploy/ecommerce-backend", "echo $HOSTNAME; echo err >&2; exit 3")
    assert out.returncode == 3 and out.stderr.strip() == "err"
    assert out.stdout.strip() == out.pod and out.pod.startswith("ecommerce-backend-")
    by_name = lab.exec("postgres-0", ["pg_isready", "-h", "postgres"])
    assert by_name.returncode == 0, by_name


def test_logs_and_events(deployed) -> None:
    lab, _ = deployed
    assert lab.logs("deploy/ecommerce-backend", tail=200).strip()
    events = lab.events()
    assert {"Scheduled", "Started"} <= set(events["reason"])
    assert set(lab.events(warnings_only=True)["type"]) <= {"Warning"}


def test_a_clean_deploy_leaves_no_warning_events(deployed) -> None:
    """deploy("all") of manifests/lab: every probe waits until its app can answer
    (manifests/README.md, "Probes"), so no probe fails and nothing else warns. Asked once
    each liveness probe has had its first turn: a period after the container started (or
    after it became Ready, which follows its startup probe) and its initial delay."""
    lab, _ = deployed
    due = dt.datetime.now(dt.UTC)
    for pod in lab.core.list_namespaced_pod(NS).items:
        ready = next(c.last_transition_time for c in pod.status.conditions if c.type == "Ready")
        for spec, status in zip(pod.spec.containers, pod.status.container_statuses,
                                strict=True):
            probe = spec.liveness_probe
            assert probe is not None, f"{pod.metadata.name}/{spec.name} has no liveness probe"
            first = max(ready, status.state.running.started_at + dt.timedelta(
                seconds=probe.initial_delay_seconds or 0))
            due = max(due, first + dt.timedelta(seconds=(probe.period_seconds or 10) + 2))
    time.sleep(max(0.0, (due - dt.datetime.now(dt.UTC)).total_seconds()))
    warnings = lab.events(warnings_only=True)
    # A "Startup probe failed" here means an app started slower than its probe's delay
    # allows (manifests/README.md, "Probes"): the machine's load says whether it was busy.
    assert warnings.empty, (f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} "
                            f"cores\n{warnings.to_string()}")
    row = lab.check().set_index("criterion").loc[
        "no liveness-probe failures in the last 5 minutes"]
    assert row["ok"] == "✅" and row["hint"] == "", row.to_dict()


def backend_endpoints(lab: labhelpers.Lab) -> int:
    row = lab.endpoints().set_index("name").loc["ecommerce-backend"]
    assert len(row["endpoints"].split(",")) == row["ready"]
    return int(row["ready"])


def test_scale_backend_to_three_gives_three_endpoints(deployed) -> None:
    lab, _ = deployed
    try:
        assert lab.scale("deploy/ecommerce-backend", 3) == 3
        wait_for(lambda: backend_endpoints(lab) == 3, 30, "3 backend endpoints")
        assert len(lab.pods()) == 8
    finally:
        lab.scale("deploy/ecommerce-backend", 2)
    # scale() returns once the removed pod is gone, not only marked Terminating
    pods = lab.core.list_namespaced_pod(NS).items
    assert len(pods) == 7 and not any(p.metadata.deletion_timestamp for p in pods), \
        [(p.metadata.name, p.metadata.deletion_timestamp) for p in pods]


def test_check_is_all_green_on_the_healthy_lab(deployed) -> None:
    lab, _ = deployed
    df = lab.check(strict=True)
    assert len(df) == 13 and set(df["ok"]) == {"✅"}, df.to_string()
    assert set(df["hint"]) == {""}, df.to_string()  # hints only on failing rows
    evidence = df.set_index("criterion")["evidence"]
    assert evidence["7 pods"] == "7 pods"
    assert "products" in evidence["/api/products returns products"]
    rows = int(evidence["ecomdb has a products table"].split(": ")[1].split()[0])
    assert rows > 0, evidence["ecomdb has a products table"]
    assert "lab-only-not-a-secret" not in df.to_string()  # psql ran without the password


def test_a_failing_liveness_probe_fails_its_check_row(deployed) -> None:
    """The lab text's "No `Liveness probe failed` events in last 5 minutes": a pod whose
    liveness probe fails turns the row ❌, naming the pod and the probe's output."""
    lab, _ = deployed
    ns = "lh-liveness"
    lab.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    try:
        lab.core.create_namespaced_pod(ns, client.V1Pod(
            metadata=client.V1ObjectMeta(name="unlively"),
            spec=client.V1PodSpec(termination_grace_period_seconds=1, containers=[
                client.V1Container(
                    name="main", image="busybox:1.36", command=["sleep", "3600"],
                    liveness_probe=client.V1Probe(
                        _exec=client.V1ExecAction(command=["sh", "-c", "echo sick; exit 1"]),
                        period_seconds=1, failure_threshold=3))])))
        other = lab.in_namespace(ns)
        wait_for(lambda: any(e.reason == "Unhealthy" for e in
                             lab.core.list_namespaced_event(ns).items), 60,
                 "a liveness probe failure")
        df = other.check().set_index("criterion")
        row = df.loc["no liveness-probe failures in the last 5 minutes"]
        assert row["ok"] == "❌", df.to_string()
        assert row["evidence"].startswith("unlively ×"), row["evidence"]
        assert "Liveness probe failed: sick" in row["evidence"], row["evidence"]
        assert row["hint"], df.to_string()
        assert (df.loc[df["ok"] == "✅", "hint"] == "").all(), df.to_string()
    finally:
        lab.core.delete_namespace(ns)


# ------------------------------------------------------------------ broken
@pytest.fixture(scope="module")
def broken(deployed) -> labhelpers.Lab:
    """wrong-db-host in its own namespace: only the objects the fault needs (2 cores)."""
    lab, _ = deployed
    keep = {("ConfigMap", "ecommerce-config"), ("Secret", "postgres-secret"),
            ("StatefulSet", "postgres"), ("Service", "postgres"),
            ("Deployment", "ecommerce-backend"), ("Service", "ecommerce-backend")}
    objs = []
    for o in build(MANIFESTS_DIR / "broken" / "wrong-db-host"):
        if (o["kind"], o["metadata"]["name"]) in keep:
            o = copy.deepcopy(o)
            if o["kind"] == "Deployment":
                o["spec"]["replicas"] = 1
            objs.append(o)
    other = lab.in_namespace(BROKEN_NS)
    applied = other.apply(objs)
    assert applied[:2] == ["ConfigMap/ecommerce-config", "Secret/postgres-secret"]

    def backend_running_and_unhealthy() -> bool:
        pods = other.pods()
        row = pods[pods["name"].str.startswith("ecommerce-backend-")]
        pg = pods[pods["name"] == "postgres-0"]
        # the fault shows only once the backend's own wait for its database (5 s) is over
        # and readiness fails: PostgreSQL itself is Ready well before that
        unhealthy = any(e.reason == "Unhealthy"
                        and e.involved_object.name.startswith("ecommerce-backend-")
                        for e in other.core.list_namespaced_event(BROKEN_NS).items)
        return (len(row) == 1 and row.iloc[0]["status"] == "Running"
                and len(pg) == 1 and pg.iloc[0]["ready"] == "1/1" and unhealthy)

    wait_for(backend_running_and_unhealthy, 90,
             "the broken backend Running and Unhealthy, postgres Ready")
    return other


def test_check_shows_the_wrong_db_host(broken: labhelpers.Lab) -> None:
    df = broken.check().set_index("criterion")
    bad = set(df.index[df["ok"] == "❌"])
    assert {"ConfigMap hosts are Services", "/api/health: database and redis connected",
            "every Service has endpoints", "all pods Running and Ready",
            "ecomdb has a products table"} <= bad, df.to_string()
    # the backend never reached the database, so it never created its tables
    assert 'relation "products" does not exist' in df.loc["ecomdb has a products table",
                                                          "evidence"]
    assert "DATABASE_HOST=postgres-db" in df.loc["ConfigMap hosts are Services", "evidence"]
    assert "ecommerce-backend" in df.loc["every Service has endpoints", "evidence"]
    for fine in ("ConfigMap has its keys", "DNS: backend → postgres", "PVC Bound"):
        assert df.loc[fine, "ok"] == "✅", df.to_string()
    assert all(df.loc[c, "hint"] for c in bad)
    with pytest.raises(labhelpers.CheckFailed, match="postgres-db"):
        broken.check(strict=True)


def test_a_tier_that_never_gets_ready_names_pod_state_and_events(
        broken: labhelpers.Lab) -> None:
    backend = [o for o in build(MANIFESTS_DIR / "broken" / "wrong-db-host")
               if o["kind"] == "Deployment" and o["metadata"]["name"] == "ecommerce-backend"]
    with pytest.raises(labhelpers.TierNotReady) as err:
        wait_ready(broken.core, broken.apps, BROKEN_NS, backend, 3, "backend tier")
    message = str(err.value)
    pod = broken.pods()
    pod = pod[pod["name"].str.startswith("ecommerce-backend-")].iloc[0]["name"]
    assert f"pod {pod} is Running, not Ready" in message, message
    assert "Deployment/ecommerce-backend: 0/1 ready" in message
    assert "Unhealthy" in message, message  # its last events


def test_apply_of_the_selector_mismatch_raises_the_api_message(
        broken: labhelpers.Lab) -> None:
    redis = [o for o in build(MANIFESTS_DIR / "broken" / "selector-mismatch")
             if o["kind"] == "Deployment" and o["metadata"]["name"] == "redis"]
    with pytest.raises(labhelpers.ApplyError) as err:
        broken.apply(redis)
    assert err.value.code == 422 and err.value.reason == "Invalid"
    assert "`selector` does not match template `labels`" in str(err.value)
    assert broken.last_apply_error is err.value and err.value.ref == "Deployment/redis"
    with pytest.raises(client.ApiException):
        broken.apps.read_namespaced_deployment("redis", BROKEN_NS)  # nothing was created


def test_fixing_the_configmap_and_restarting_heals_the_backend(
        broken: labhelpers.Lab) -> None:
    before = set(broken.pods()["name"])
    broken.apply({"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": "ecommerce-config"},
                  "data": {**broken.core.read_namespaced_config_map(
                      "ecommerce-config", BROKEN_NS).data, "DATABASE_HOST": "postgres"}})
    assert broken.last_apply_error is None  # a successful apply clears it
    broken.restart("deploy/ecommerce-backend", timeout=90)

    def backend() -> pd.DataFrame:
        pods = broken.pods()
        return pods[pods["name"].str.startswith("ecommerce-backend-")]

    # restart() returns when the rollout is complete and the old pod is gone
    assert not set(backend()["name"]) & before, backend().to_string()
    assert list(backend()["ready"]) == ["1/1"], backend().to_string()
    health = broken.http("ecommerce-backend", "/api/health")
    assert health.status == 200 and health.json["database"] == "connected", health.text
