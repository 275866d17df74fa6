"""describe, top, the charts, status colours, delete_pod/wait_recreated and ensure() on the
lab that test_labhelpers_lab.py deployed (same session cluster, real processes), plus a
crash-looping pod in a namespace labhelpers did not make."""

from __future__ import annotations

import contextlib
import io
import re

import pytest
from kubernetes import client
from lh_support import wait_for
from matplotlib.figure import Figure

import labhelpers
from labhelpers import charts, checks, metrics
from labhelpers.ensure import live
from labhelpers.styling import AMBER, GREEN, RED, LabFrame

pytestmark = [pytest.mark.timeout(400), pytest.mark.cluster]
NS = "ecommerce-lab"
FOREIGN = "lh-foreign-crasher"
SECRET_VALUE = "lab-only-not-a-secret"


@pytest.fixture(scope="module")
def lab(deployed) -> labhelpers.Lab:
    return deployed[0]


def backend_pods(lab: labhelpers.Lab) -> list[str]:
    return [n for n in lab.pods()["name"] if n.startswith("ecommerce-backend-")]


# ------------------------------------------------------------------ describe
def test_describe_a_pod_reads_like_kubectl(lab: labhelpers.Lab) -> None:
    d = lab.describe("pod/postgres-0")
    text = str(d)
    assert repr(d) == text and d.kubectl == f"kubectl describe pod postgres-0 -n {NS}"
    lines = text.splitlines()
    assert lines[0].split() == ["Name:", "postgres-0"] and lines[1].split() == ["Namespace:", NS]
    assert "Controlled By:      StatefulSet/postgres" in text
    assert "Image:          postgres:16.4-alpine" in text
    assert "<set to the key 'password' in secret 'postgres-secret'>" in text
    assert SECRET_VALUE not in text
    assert "ClaimName:      data-postgres-0" in text
    assert "memory:   512Mi" in text and "cpu:      100m" in text  # limit and request
    assert "Readiness:      exec [pg_isready -U ecomuser -d ecomdb]" in text
    assert "State:          Running" in text and "Ready:          True" in text
    # sections in kubectl's order, events last
    order = [text.index(s) for s in ("Labels:", "Annotations:", "Status:", "Containers:",
                                     "Conditions:", "Volumes:", "Events:")]
    assert order == sorted(order) and "Scheduled" in text[order[-1]:]
    assert lab.describe("postgres-0").text.splitlines()[0] == lines[0]  # bare name = pod


def test_describe_workloads_service_and_claim(lab: labhelpers.Lab) -> None:
    deploy = str(lab.describe("deploy/ecommerce-backend"))
    assert "Selector:           app=ecommerce-backend" in deploy
    assert "Replicas:           2 desired | 2 updated | 2 total | 2 available" in deploy
    assert ("DATABASE_HOST:  <set to the key 'DATABASE_HOST' of config map "
            "'ecommerce-config'>") in deploy
    assert "PGPASSWORD:  <set to the key 'password' in secret 'postgres-secret'>" in deploy
    assert "POD_NAME:  (v1:metadata.name)" in deploy and SECRET_VALUE not in deploy
    assert "ScalingReplicaSet" in deploy.split("Events:")[1]
    new_rs = next(line for line in deploy.splitlines() if line.startswith("NewReplicaSet:"))
    assert re.fullmatch(r"NewReplicaSet:\s+ecommerce-backend-\w+ \(2/2 replicas created\)",
                        new_rs), new_rs
    assert re.search(r"^OldReplicaSets:\s+<none>$", deploy, re.M), deploy
    sts = str(lab.describe("sts/postgres"))
    assert "Replicas:           1 desired | 1 total" in sts and "Volume Claims:" in sts
    assert "Pods Status:        1 Running / 0 Pending" in sts
    svc = str(lab.describe("svc/ecommerce-backend"))
    pods = lab.pods().set_index("name")
    ips = sorted(f"{pods.loc[p, 'ip']}:5000" for p in backend_pods(lab))
    endpoints = next(line for line in svc.splitlines() if line.startswith("Endpoints:"))
    assert sorted(endpoints.split()[1].split(",")) == ips, svc
    assert "Port:               http  5000/TCP" in svc
    pvc = str(lab.describe("pvc/data-postgres-0"))
    assert "Status:             Bound" in pvc and "Used By:            postgres-0" in pvc
    with pytest.raises(ValueError, match="describe knows"):
        lab.describe("cm/ecommerce-config")
    with pytest.raises(client.ApiException):
        lab.describe("svc/no-such-service")


# ------------------------------------------------------------------ top and charts
def test_top_has_use_and_percent_of_requests_and_limits(lab: labhelpers.Lab) -> None:
    df = lab.top()
    assert list(df.columns) == metrics.COLUMNS and isinstance(df, LabFrame)
    assert sorted(df["pod"]) == sorted(lab.pods()["name"])
    backend = df[df["pod"].str.startswith("ecommerce-backend-")].iloc[0]
    assert backend["container"] == "backend"
    # manifests/lab/backend.yaml: requests 200m/256Mi, limits 1000m/1024Mi
    assert abs(backend["cpu % req"] - backend["cpu m"] / 2) <= 0.3, backend.to_dict()
    assert abs(backend["mem % lim"] - 100 * backend["mem Mi"] / 1024) <= 0.1, backend.to_dict()
    pg = df[df["pod"] == "postgres-0"].iloc[0]
    assert pg["mem Mi"] > 5, pg.to_dict()  # a real PostgreSQL uses real memory
    assert abs(pg["mem % lim"] - 100 * pg["mem Mi"] / 512) <= 0.1, pg.to_dict()
    assert df.attrs["kubectl"] == f"kubectl top pods -n {NS} --containers"
    assert ".000000" not in df._repr_html_()


def test_top_without_a_metrics_api_says_install_metrics_server(lab: labhelpers.Lab,
                                                               capsys) -> None:
    # a metrics version nothing serves: the same 404 a cluster without metrics-server gives
    df = metrics.top(lab, version="v1alpha9")
    out = capsys.readouterr().out
    assert "no metrics API" in out and "install metrics-server" in out
    assert df.empty and list(df.columns) == metrics.COLUMNS
    fig = charts.plot_top(df)
    assert "install metrics-server" in fig.texts[0].get_text()


def test_plot_top_draws_each_pod_against_request_and_limit(lab: labhelpers.Lab) -> None:
    fig = lab.plot_top()
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert sorted(labels) == sorted(lab.pods()["name"])
    assert [ax.get_title() for ax in fig.axes] == [
        "CPU: use as % of request and of limit", "memory: use as % of request and of limit"]
    assert fig._repr_png_().startswith(b"\x89PNG")
    table = lab.top()  # the sample shown is the sample drawn
    drawn = [t.get_text() for t in lab.plot_top(table).axes[1].texts]
    pg = table[table["pod"] == "postgres-0"].iloc[0]
    assert any(f"({pg['mem Mi']:.0f}Mi)" in t for t in drawn), (drawn, pg.to_dict())


# ------------------------------------------------------------------ delete and re-create
def test_delete_postgres_pod_returns_with_same_name_claim_and_data(lab: labhelpers.Lab,
                                                                    capsys) -> None:
    old = lab.core.read_namespaced_pod("postgres-0", NS)
    claim_uid = lab.core.read_namespaced_persistent_volume_claim("data-postgres-0", NS) \
        .metadata.uid
    gone = lab.delete_pod("postgres-0")
    assert (gone.uid, gone.workload, gone.claims) == (old.metadata.uid, "sts/postgres",
                                                      ["data-postgres-0"])
    new = lab.wait_recreated("postgres-0", old_uid=old.metadata.uid, timeout=120)
    assert new.metadata.name == "postgres-0" and new.metadata.uid != old.metadata.uid
    assert [v.persistent_volume_claim.claim_name for v in new.spec.volumes
            if v.persistent_volume_claim] == ["data-postgres-0"]
    assert lab.core.read_namespaced_persistent_volume_claim(
        "data-postgres-0", NS).metadata.uid == claim_uid
    out = capsys.readouterr().out
    assert "deleted pod/postgres-0" in out and "StatefulSet postgres will replace it" in out
    assert "re-created: pod/postgres-0" in out and "PVC data-postgres-0" in out
    ok, evidence, _ = checks.products_table(lab)  # the rows outlived the pod
    assert ok and int(evidence.split(": ")[1].split()[0]) > 0, evidence


def test_delete_backend_pod_is_replaced_under_a_new_name(lab: labhelpers.Lab) -> None:
    before = backend_pods(lab)
    gone = lab.delete_pod(before[0])
    assert gone.workload == "deploy/ecommerce-backend"
    new = lab.wait_recreated(gone, timeout=120)
    assert new.metadata.name not in before and new.metadata.name.startswith(
        "ecommerce-backend-")
    after = backend_pods(lab)
    assert len(after) == 2 and before[0] not in after and new.metadata.name in after


def test_a_wait_that_times_out_says_why(lab: labhelpers.Lab) -> None:
    """No replacement for a pod that was never deleted: the error carries the workload's
    status and its pods, not only "timed out"."""
    pods = lab.core.list_namespaced_pod(NS, label_selector="app=redis").items
    (redis,) = [p for p in pods if not p.metadata.deletion_timestamp]
    with pytest.raises(TimeoutError) as info:
        lab.wait_recreated("deploy/redis", old_uid=redis.metadata.uid, timeout=1)
    text = str(info.value)
    assert "Deployment/redis: 1/1 ready" in text and "status: replicas 1" in text, text
    assert f"pods: {redis.metadata.name} (uid {redis.metadata.uid[:8]}" in text, text
    assert text.endswith("Running Ready"), text


def test_timeline_keeps_the_deleted_pods(lab: labhelpers.Lab) -> None:
    df = lab.timeline()
    deleted = df[df["deleted"]]
    assert "postgres-0" in set(deleted["pod"]), df.to_string()
    assert "Killing" in set(deleted[deleted["pod"] == "postgres-0"]["what"])
    live_pg = df[(df["pod"] == "postgres-0") & ~df["deleted"]]
    assert {"created", "started", "ready"} <= set(live_pg["what"])
    assert live_pg["uid"].nunique() == 1
    fig = lab.plot_timeline()
    labels = {t.get_text() for t in fig.axes[0].get_yticklabels()}
    assert set(lab.pods()["name"]) <= labels and "postgres-0 (deleted)" in labels


# ------------------------------------------------------------------ ensure
def tier_versions(lab: labhelpers.Lab) -> dict[str, str]:
    from labhelpers import manifests

    out = {}
    for tier in labhelpers.TIERS:
        for o in manifests.with_namespace(lab.tier_objects(tier), NS):
            out[manifests.ref(o)] = live(lab, o)["metadata"]["resourceVersion"]
    return out


def test_ensure_leaves_a_healthy_lab_and_a_learners_scale_alone(lab: labhelpers.Lab) -> None:
    lab.scale("deploy/ecommerce-backend", 3)
    try:
        before = tier_versions(lab)
        df = lab.ensure()
        assert len(df) == len(before) and set(df["state"]) == {"ok"}, df.to_string()
        assert tier_versions(lab) == before  # not one write
        assert lab.apps.read_namespaced_deployment("ecommerce-backend", NS).spec.replicas == 3
    finally:
        lab.scale("deploy/ecommerce-backend", 2)


def test_ensure_recreates_a_deleted_service(lab: labhelpers.Lab) -> None:
    lab.core.delete_namespaced_service("cart-service", NS)
    df = lab.ensure().set_index("object")
    assert df.loc["Service/cart-service", "state"] == "created"
    assert set(df.drop(index="Service/cart-service")["state"]) == {"ok"}
    wait_for(lambda: lab.endpoints().set_index("name").loc["cart-service", "ready"] == 1, 30,
             "cart-service endpoints")
    assert lab.check(strict=True)["ok"].eq("✅").all()
    # The recreated Service has a new ClusterIP; nginx resolved `cart-service` once, when it
    # started, and keeps the old address (502 for /api/cart/…), as on a real cluster. The
    # frontend is restarted so the later shop tests find a shop that works.
    with contextlib.redirect_stdout(io.StringIO()):
        lab.restart("deploy/ecommerce-frontend")


def test_ensure_repairs_a_broken_workload_and_keeps_its_replicas(lab: labhelpers.Lab) -> None:
    good = lab.apps.read_namespaced_deployment("redis", NS).spec.template.spec.containers[0]
    lab.apps.patch_namespaced_deployment("redis", NS, {"spec": {"template": {"spec": {
        "containers": [{"name": good.name, "image": "no-such-registry.example/redis:1"}]}}}})
    df = lab.ensure("cache").set_index("object")
    assert df.loc["Deployment/redis", "state"] == "repaired", df.to_string()
    assert df.loc["Service/redis", "state"] == "ok"
    redis = lab.apps.read_namespaced_deployment("redis", NS)
    assert redis.spec.template.spec.containers[0].image == good.image
    assert redis.spec.replicas == 1 and (redis.status.ready_replicas or 0) == 1

    def settled() -> bool:  # the broken pod goes once the rollout back is complete
        pods = lab.pods()
        return len(pods) == 7 and set(pods["status"]) == {"Running"}

    wait_for(settled, 60, "the broken redis pod gone")


# ------------------------------------------------------------------ colours, ownership
@pytest.fixture(scope="module")
def crasher(lab: labhelpers.Lab):
    """A bare pod that exits 3 forever, in a namespace labhelpers did not make."""
    lab.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=FOREIGN)))
    lab.core.create_namespaced_pod(FOREIGN, client.V1Pod(
        metadata=client.V1ObjectMeta(name="crasher"),
        spec=client.V1PodSpec(containers=[client.V1Container(
            name="main", image="busybox:1.36", command=["sh", "-c", "echo boom; exit 3"])])))
    other = lab.in_namespace(FOREIGN)

    def crashed() -> bool:
        row = other.pods().iloc[0]
        return row["restarts"] >= 1 and row["status"] in ("CrashLoopBackOff", "Error")

    wait_for(crashed, 60, "the crasher to crash and restart")
    yield other
    lab.core.delete_namespace(FOREIGN)


def test_tables_are_coloured_in_jupyter_and_plain_in_logs(lab: labhelpers.Lab,
                                                          crasher: labhelpers.Lab) -> None:
    healthy = lab.pods()
    html = healthy._repr_html_()
    assert GREEN in html and RED not in html
    assert "background" not in healthy.to_string() and "<" not in str(healthy)
    crashing = crasher.pods()
    assert crashing.iloc[0]["status"] in ("CrashLoopBackOff", "Error")
    assert RED in crashing._repr_html_()
    running = healthy[healthy["status"] == "Running"]  # filtering keeps the colours
    assert isinstance(running, LabFrame) and GREEN in running._repr_html_()
    assert running.attrs["kubectl"] == healthy.attrs["kubectl"]
    assert GREEN in lab.check()._repr_html_()
    assert AMBER not in html


def test_describe_shows_the_last_state_of_a_crash(crasher: labhelpers.Lab) -> None:
    text = str(crasher.describe("crasher"))
    last = text.split("Last State:")[1]
    assert last.split()[0] == "Terminated", text
    assert re.search(r"Reason:\s+Error\n\s+Exit Code:\s+3\n", last), last
    assert "BackOff" in text.split("Events:")[1]
    rows = crasher.timeline()
    term = rows[rows["what"] == "terminated"]
    assert not term.empty and "exit code 3" in term.iloc[0]["detail"]


def test_delete_pod_refuses_a_pod_that_is_not_ours(crasher: labhelpers.Lab) -> None:
    with pytest.raises(labhelpers.NotOurs, match="crasher"):
        crasher.delete_pod("crasher")
    assert crasher.core.read_namespaced_pod("crasher", FOREIGN).metadata.deletion_timestamp \
        is None
