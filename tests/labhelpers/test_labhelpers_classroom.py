"""A learner pod in a classroom: the instructor made its namespace (and the break & fix one)
from manifests/classroom/learner.yaml, labelled part-of only; labhelpers deploys there
without adopt=True, never relabels it, and cleanup deletes only what it made.

The pod is simulated as tests/classroom does: a service-account folder (token, CA, namespace
file) made from the session labcluster's credentials, and KUBERNETES_SERVICE_*."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from incluster import fake_service_account
from kubernetes import client
from lh_support import Connected

import labhelpers
from labhelpers import ownership
from labhelpers.manifests import MANIFESTS_DIR

pytestmark = [pytest.mark.timeout(300), pytest.mark.cluster]
LEARNER = "lh-class-carol"
BREAKFIX = f"{LEARNER}-breakfix"
OTHER = "lh-class-other"  # someone else's namespace, beside the learner's
MINE = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "mine"},
        "data": {"a": "b"}}


def learner_yaml(namespace: str) -> list[dict]:
    """learner.yaml as the documented `sed` renders it for one learner."""
    text = (MANIFESTS_DIR / "classroom" / "learner.yaml").read_text()
    return [d for d in yaml.safe_load_all(text.replace("lab-learner", namespace)) if d]


@pytest.fixture(scope="module")
def classroom(connected: Connected) -> Iterator[client.CoreV1Api]:
    """The instructor's namespaces (labcluster has no RBAC: the namespaces are what
    matters here), an object of theirs in the learner's, and a stranger's namespace."""
    core = connected.lab.core
    namespaces = [o for o in learner_yaml(LEARNER) if o["kind"] == "Namespace"]
    assert [n["metadata"]["name"] for n in namespaces] == [LEARNER, BREAKFIX]
    for ns in namespaces:
        core.create_namespace(ns)
    core.create_namespaced_config_map(LEARNER, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="instructors", labels={ownership.PART_OF:
                                                                 "ecommerce-lab"}),
        data={"k": "v"}))
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=OTHER)))
    yield core
    for ns in (LEARNER, BREAKFIX, OTHER):
        with contextlib.suppress(client.ApiException):
            core.delete_namespace(ns)


@pytest.fixture
def learner_pod(connected: Connected, classroom, tmp_path: Path,
                monkeypatch: pytest.MonkeyPatch) -> client.CoreV1Api:
    fake_service_account(connected.lab.target.kubeconfig, LEARNER, tmp_path / "serviceaccount",
                         monkeypatch)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    return classroom


def quiet_connect(**kw) -> labhelpers.Lab:
    with contextlib.redirect_stdout(io.StringIO()):
        return labhelpers.connect(**kw)


def test_adopted_by_pod_is_the_service_accounts_namespace_and_its_breakfix() -> None:
    assert ownership.adopted_by_pod("lab-a", "lab-a")
    assert ownership.adopted_by_pod("lab-a-breakfix", "lab-a")
    assert not ownership.adopted_by_pod("lab-b", "lab-a")
    assert not ownership.adopted_by_pod("lab-a-breakfix-breakfix", "lab-a")
    assert not ownership.adopted_by_pod("lab-a", None)  # kubeconfig/labcluster: never


def test_learner_deploys_into_its_namespace_without_adopt(learner_pod) -> None:
    core = learner_pod
    labels = core.read_namespace(LEARNER).metadata.labels
    assert not ownership.is_ours(labels)  # the instructor's: part-of only

    lab = quiet_connect()
    assert (lab.target.kind, lab.namespace) == ("in-cluster", LEARNER)
    assert lab.target.service_account_namespace == LEARNER and lab.adopted()
    pods = lab.deploy("cache")
    assert list(pods["name"].str.startswith("redis-")) == [True]
    with contextlib.redirect_stdout(io.StringIO()):
        table = lab.ensure("config")
    assert set(table["state"]) == {"ok", "created"}  # the namespace ok; ConfigMap/Secret made
    assert lab.apply(MINE) == ["ConfigMap/mine"]
    assert core.read_namespace(LEARNER).metadata.labels == labels, "labels left alone"

    with contextlib.redirect_stdout(io.StringIO()):
        report = lab.cleanup()
    assert {"ConfigMap/mine", "ConfigMap/ecommerce-config", "Deployment/redis",
            "Service/redis"} <= set(report["deleted"])
    assert f"Namespace/{LEARNER} (not created by labhelpers)" in report["left"]
    assert "ConfigMap/instructors" in report["left"]
    assert core.read_namespace(LEARNER).metadata.labels == labels, "the namespace stays"
    assert core.read_namespaced_config_map("instructors", LEARNER).data == {"k": "v"}
    assert not [c for c in core.list_namespaced_config_map(LEARNER).items
                if ownership.is_ours(c.metadata.labels)]


def test_the_breakfix_namespace_beside_it_is_adopted_too(learner_pod) -> None:
    breakfix = quiet_connect().in_namespace(BREAKFIX)
    assert breakfix.apply(MINE) == ["ConfigMap/mine"]
    with contextlib.redirect_stdout(io.StringIO()):
        report = breakfix.cleanup()
    assert report["deleted"] == ["ConfigMap/mine"]
    assert learner_pod.read_namespace(BREAKFIX).metadata.name == BREAKFIX


def test_any_other_namespace_still_needs_adopt(learner_pod, connected: Connected) -> None:
    stranger = quiet_connect(namespace=OTHER)  # in-cluster, another namespace
    assert stranger.target.kind == "in-cluster" and not stranger.adopted()
    with pytest.raises(labhelpers.NotOurs, match="adopt=True"):
        stranger.apply(MINE)
    # the same namespaces reached through a kubeconfig are not a pod's own
    with pytest.raises(labhelpers.NotOurs, match="adopt=True"):
        connected.lab.in_namespace(LEARNER).apply(MINE)
