"""Pure parts of labhelpers: ordering, the production guard, kubectl's STATUS column,
ownership labels, table building and source parsing. No cluster needed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from labhelpers import guard, ownership
from labhelpers.cluster import find_target
from labhelpers.lab import TIERS, _objects
from labhelpers.manifests import MANIFESTS_DIR, lab_tiers
from labhelpers.manifests.ordering import apply_order, delete_order
from labhelpers.podstatus import age, pod_status, ready_column, restarts
from labhelpers.tables import endpoints_table, pods_table
from labhelpers.waiting import ready_count

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def obj(kind: str, name: str) -> dict:
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}}


# ----------------------------------------------------------------------- ordering
def test_apply_order_puts_dependencies_first_and_is_stable() -> None:
    objs = [obj("Deployment", "b"), obj("Service", "s"), obj("PersistentVolumeClaim", "c"),
            obj("Secret", "x"), obj("Namespace", "n"), obj("ConfigMap", "m"),
            obj("StatefulSet", "p"), obj("PodDisruptionBudget", "pdb")]
    kinds = [o["kind"] for o in apply_order(objs)]
    assert kinds == ["Namespace", "Secret", "ConfigMap", "PersistentVolumeClaim", "Service",
                     "Deployment", "StatefulSet", "PodDisruptionBudget"]
    assert [o["kind"] for o in delete_order(objs)] == list(reversed(kinds))


def test_tiers_cover_every_lab_file_but_the_nodeport_variant() -> None:
    files = set(lab_tiers())
    in_tiers = {stem for stems in TIERS.values() for stem in stems}
    assert in_tiers == files
    assert list(TIERS) == ["config", "database", "cache", "cart", "backend", "frontend"]


# ----------------------------------------------------------------------- guard
@pytest.mark.parametrize("name", ["prod", "production", "eks-prod-1", "gke_x_prod", "PROD",
                                  "arn:aws:eks:eu-west-1:1:cluster/production"])
def test_production_names_are_caught(name: str) -> None:
    assert guard.looks_like_production(name)
    with pytest.raises(guard.ProductionRefused, match="allow_production=True"):
        guard.refuse_production({"context": name}, allow_production=False)
    guard.refuse_production({"context": name}, allow_production=True)


@pytest.mark.parametrize("name", ["labcluster", "kind-kind", "product-demo", "reproduce",
                                  "minikube", None])
def test_other_names_pass(name: str | None) -> None:
    assert not guard.looks_like_production(name)
    guard.refuse_production({"context": name}, allow_production=False)


def _kubeconfig(tmp_path: Path, context: str, cluster: str = "c1") -> str:
    cfg = {
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": cluster, "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": "u"}},
                     {"name": "dev", "context": {"cluster": cluster, "user": "u"}}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_connect_refuses_a_production_context_before_any_request(tmp_path: Path) -> None:
    path = _kubeconfig(tmp_path, "eks-production")
    with pytest.raises(guard.ProductionRefused, match="eks-production"):
        find_target(cluster="kubeconfig", kubeconfig=path)
    target = find_target(cluster="kubeconfig", kubeconfig=path, allow_production=True)
    assert (target.context, target.namespace) == ("eks-production", "ecommerce-lab")
    # a production *cluster* name under an innocent context is caught too
    with pytest.raises(guard.ProductionRefused, match="cluster 'prod'"):
        find_target(cluster="kubeconfig", kubeconfig=_kubeconfig(tmp_path, "dev", "prod"))


def test_connect_names_the_contexts_when_one_is_missing(tmp_path: Path) -> None:
    path = _kubeconfig(tmp_path, "dev")
    with pytest.raises(ValueError, match="has: dev"):
        find_target(cluster="kubeconfig", kubeconfig=path, context="nope")
    assert find_target(cluster="kubeconfig", kubeconfig=path, context="dev",
                   namespace="mine").namespace == "mine"
    with pytest.raises(ValueError, match="cluster must be one of"):
        find_target(cluster="eks")


# ----------------------------------------------------------------------- ownership
def test_stamp_keeps_existing_labels_and_is_ours_needs_both() -> None:
    o = ownership.stamp({"kind": "ConfigMap", "metadata": {"name": "x", "labels": {"a": "1"}}})
    assert o["metadata"]["labels"] == {"a": "1", **ownership.LABELS}
    assert ownership.is_ours(o["metadata"]["labels"])
    assert not ownership.is_ours({ownership.PART_OF: "ecommerce-lab"})  # kubectl apply -k
    assert not ownership.is_ours(None)
    assert ownership.SELECTOR == ("app.kubernetes.io/part-of=ecommerce-lab,"
                                  "app.kubernetes.io/managed-by=labhelpers")


# ----------------------------------------------------------------------- pod status
def pod(phase: str = "Running", containers: list | None = None, init: list | None = None,
        ready: bool = True, deleting: bool = False, reason: str | None = None) -> client.V1Pod:
    containers = containers if containers is not None else [running(ready)]
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name="p", creation_timestamp=NOW - dt.timedelta(seconds=90),
                                     deletion_timestamp=NOW if deleting else None),
        spec=client.V1PodSpec(containers=[client.V1Container(name=f"c{i}")
                                          for i in range(len(containers) or 1)],
                              init_containers=[client.V1Container(name="i")] if init else None,
                              node_name="n1"),
        status=client.V1PodStatus(
            phase=phase, reason=reason, pod_ip="127.2.0.9", container_statuses=containers,
            init_container_statuses=init,
            conditions=[client.V1PodCondition(type="Ready", status=str(ready))]),
    )


def cstatus(state: client.V1ContainerState, ready: bool = False,
            restarts: int = 0) -> client.V1ContainerStatus:
    return client.V1ContainerStatus(name="c", image="i", image_id="", ready=ready,
                                    restart_count=restarts, state=state)


def running(ready: bool = True) -> client.V1ContainerStatus:
    return cstatus(client.V1ContainerState(running=client.V1ContainerStateRunning()), ready)


def waiting(reason: str, restarts: int = 0) -> client.V1ContainerStatus:
    return cstatus(client.V1ContainerState(
        waiting=client.V1ContainerStateWaiting(reason=reason)), restarts=restarts)


def terminated(reason: str | None, code: int, signal: int | None = None
               ) -> client.V1ContainerStatus:
    return cstatus(client.V1ContainerState(terminated=client.V1ContainerStateTerminated(
        reason=reason, exit_code=code, signal=signal)))


@pytest.mark.parametrize(("p", "expected"), [
    (pod(), "Running"),
    (pod(ready=False, containers=[running(False)]), "Running"),  # running, not ready
    (pod("Pending", containers=[waiting("ContainerCreating")]), "ContainerCreating"),
    (pod("Pending", containers=[]), "Pending"),
    (pod(containers=[waiting("CrashLoopBackOff", 4)]), "CrashLoopBackOff"),
    (pod(containers=[terminated("OOMKilled", 137)]), "OOMKilled"),
    (pod(containers=[terminated(None, 3)]), "ExitCode:3"),
    (pod(containers=[terminated(None, 137, 9)]), "Signal:9"),
    (pod("Pending", containers=[waiting("ErrImagePull")]), "ErrImagePull"),
    (pod(deleting=True), "Terminating"),
    (pod("Pending", containers=[waiting("PodInitializing")],
         init=[waiting("PodInitializing")]), "Init:0/1"),
    (pod("Pending", containers=[], init=[terminated("Error", 1)]), "Init:Error"),
    (pod("Failed", containers=[], reason="Evicted"), "Evicted"),
])
def test_status_column_matches_kubectl(p: client.V1Pod, expected: str) -> None:
    assert pod_status(p) == expected


def test_ready_restarts_and_age_columns() -> None:
    p = pod(containers=[running(True), waiting("CrashLoopBackOff", 3)])
    assert (ready_column(p), restarts(p), pod_status(p)) == ("1/2", 3, "CrashLoopBackOff")
    cases = {45: "45s", 119: "119s", 192: "3m12s", 47 * 60: "47m", 5 * 3600 + 180: "5h3m",
             20 * 3600: "20h", 3 * 86400 + 4 * 3600: "3d4h", 12 * 86400: "12d"}
    for seconds, text in cases.items():
        assert age(NOW - dt.timedelta(seconds=seconds), NOW) == text


def test_pods_table_has_kubectls_columns_and_command() -> None:
    df = pods_table([pod(containers=[terminated("OOMKilled", 137)], ready=False)], "ns1")
    assert list(df.columns) == ["name", "ready", "status", "restarts", "age", "ip", "node"]
    assert df.iloc[0].to_dict() | {"age": "-"} == {
        "name": "p", "ready": "0/1", "status": "OOMKilled", "restarts": 0, "age": "-",
        "ip": "127.2.0.9", "node": "n1"}
    assert df.attrs["kubectl"] == "kubectl get pods -n ns1 -o wide"
    assert "OOMKilled" in df.to_string()  # readable as text in papermill logs


def test_endpoints_table_splits_ready_from_not_ready() -> None:
    ep = client.V1Endpoints(metadata=client.V1ObjectMeta(name="web"), subsets=[
        client.V1EndpointSubset(
            addresses=[client.V1EndpointAddress(ip="127.2.0.1")],
            not_ready_addresses=[client.V1EndpointAddress(ip="127.2.0.2")],
            ports=[client.CoreV1EndpointPort(port=80)])])
    empty = client.V1Endpoints(metadata=client.V1ObjectMeta(name="api"), subsets=None)
    df = endpoints_table([ep, empty], "ns1")
    assert df.to_dict("records") == [
        {"name": "api", "endpoints": "<none>", "ready": 0, "not_ready": 0},
        {"name": "web", "endpoints": "127.2.0.1:80", "ready": 1, "not_ready": 1}]


def test_a_deployment_mid_rollout_is_not_ready() -> None:
    def deploy(ready: int, updated: int, total: int, gen: int = 1) -> client.V1Deployment:
        return client.V1Deployment(
            metadata=client.V1ObjectMeta(name="d", generation=2),
            spec=client.V1DeploymentSpec(replicas=2, selector=client.V1LabelSelector(),
                                         template=client.V1PodTemplateSpec()),
            status=client.V1DeploymentStatus(ready_replicas=ready, updated_replicas=updated,
                                             replicas=total, observed_generation=gen))
    assert ready_count("Deployment", deploy(2, 2, 2, gen=2)) == (2, 2)
    assert ready_count("Deployment", deploy(2, 1, 3, gen=2)) == (1, 2)  # old pod still there
    assert ready_count("Deployment", deploy(2, 2, 2, gen=1)) == (1, 2)  # change not seen yet
    assert ready_count("Deployment", deploy(0, 2, 2, gen=2)) == (0, 2)


# ----------------------------------------------------------------------- sources
def test_sources_path_yaml_dict_and_list() -> None:
    from_path = _objects(str(MANIFESTS_DIR / "lab" / "config.yaml"))
    assert [o["kind"] for o in from_path] == ["ConfigMap", "Secret"]
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n" \
           "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n"
    assert [o["metadata"]["name"] for o in _objects(text)] == ["a", "b"]
    one = obj("ConfigMap", "c")
    copied = _objects(one)
    copied[0]["metadata"]["name"] = "changed"
    assert one["metadata"]["name"] == "c"  # the caller's object is not touched
    assert len(_objects([one, one])) == 2


def test_secret_values_are_redacted_unless_revealed() -> None:
    from labhelpers.tables import redact

    data = {"password": "czNjcjN0", "empty": ""}  # base64 of "s3cr3t"
    assert redact(data) == {"password": "<redacted: 6 bytes>", "empty": "<redacted: 0 bytes>"}
    assert redact(data, reveal=True) == {"password": "s3cr3t", "empty": ""}
    assert redact(None) == {}


def test_template_claims_are_the_statefulsets_own_and_no_others() -> None:
    from labhelpers.ownership import template_claims

    sts = [{"metadata": {"name": "postgres"},
            "spec": {"volumeClaimTemplates": [{"metadata": {"name": "data"}}]}},
           {"metadata": {"name": "web"}, "spec": {}}]
    claims = ["data-postgres-0", "data-postgres-12", "data-postgres", "data-postgres-x",
              "other-postgres-0", "data-web-0", "mydata-postgres-0"]
    assert template_claims(sts, claims) == ["data-postgres-0", "data-postgres-12"]
