"""Break & fix from a classroom learner's pod: the instructor made ``<ns>-breakfix`` (labelled
part-of only) and the learner may neither delete nor create namespaces, so start() must reuse
it: two scenarios one after the other, each fixed and checked, the namespace and the
instructor's objects surviving both starts and the cleanup.

The pod is simulated as tests/labhelpers/test_labhelpers_classroom.py does: a service-account
folder (token, CA, namespace file) and KUBERNETES_SERVICE_*; connect() then takes the
in-cluster path. The classroom manifests are applied for the learner (RBAC, quota,
LimitRange) and the token is the learner ServiceAccount's own, so labcluster's RBAC judges
every request: "the learner may" is checked by the server. The requests are recorded too,
to show the run made the calls that matter."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from incluster import apply_classroom, fake_service_account, service_account_token
from kubernetes import client
from kubernetes.client.api_client import ApiClient

import labhelpers
from labhelpers import breakfix, ownership
from labhelpers.cluster import Target
from labhelpers.manifests import MANIFESTS_DIR

pytestmark = pytest.mark.timeout(400)
LEARNER = "bf-class-dana"
BREAKFIX = LEARNER + ownership.BREAKFIX_SUFFIX
INSTRUCTOR_LABELS = {ownership.PART_OF: "ecommerce-lab"}
CLASSROOM = MANIFESTS_DIR / "classroom"


learner_calls: list[tuple[str, str]] = []


@pytest.fixture
def learner_pod(bf_lab: labhelpers.Lab, tmp_path: Path,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[client.CoreV1Api]:
    core = bf_lab.core
    apply_classroom(bf_lab.target.kubeconfig, [LEARNER])
    core.create_namespaced_config_map(BREAKFIX, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="instructors", labels=INSTRUCTOR_LABELS),
        data={"k": "v"}))
    core.create_namespaced_secret(BREAKFIX, client.V1Secret(
        metadata=client.V1ObjectMeta(name="instructors-secret"), string_data={"s": "t"}))

    token = service_account_token(bf_lab.target.kubeconfig, LEARNER, "learner")
    fake_service_account(bf_lab.target.kubeconfig, LEARNER, tmp_path / "serviceaccount",
                         monkeypatch, token=token)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    learner_calls.clear()
    original = ApiClient.param_serialize

    def recording(self, method, resource_path, *args, **kwargs):
        out = original(self, method, resource_path, *args, **kwargs)
        if self is not bf_lab.api:  # the learner's client, not this test's admin one
            learner_calls.append((out[0], out[1]))
        return out
    monkeypatch.setattr(ApiClient, "param_serialize", recording)
    yield core
    for ns in (LEARNER, BREAKFIX):
        with contextlib.suppress(client.ApiException):
            core.delete_namespace(ns)
    with contextlib.suppress(client.ApiException):
        client.RbacAuthorizationV1Api(bf_lab.api).delete_cluster_role_binding(
            f"{LEARNER}-cluster-read")


def _status(call) -> int:
    try:
        call()
    except client.ApiException as exc:
        return exc.status
    return 200


def _instructors_intact(core: client.CoreV1Api, labels: dict[str, str]) -> None:
    assert core.read_namespace(BREAKFIX).metadata.labels == labels, "namespace left alone"
    assert core.read_namespaced_config_map("instructors", BREAKFIX).data == {"k": "v"}
    assert core.read_namespaced_secret("instructors-secret", BREAKFIX).data


def test_default_namespace_is_the_pods_breakfix_one_only_in_a_pod() -> None:
    pod = Target(None, "in-cluster", None, None, "lab-a", service_account_namespace="lab-a")
    assert breakfix.default_namespace(pod, "oom-backend") == "lab-a-breakfix"
    no_file = Target(None, "in-cluster", None, None, "ecommerce-lab")
    assert breakfix.default_namespace(no_file, "oom-backend") == "breakfix-oom-backend"
    kube = Target(None, "kubeconfig", "c", "c", "lab-a")
    assert breakfix.default_namespace(kube, "oom-backend") == "breakfix-oom-backend"


def test_two_scenarios_in_turn_in_the_instructors_namespace(learner_pod) -> None:
    core = learner_pod
    labels = core.read_namespace(BREAKFIX).metadata.labels
    assert not ownership.is_ours(labels)  # the instructor's: part-of only

    with contextlib.redirect_stdout(io.StringIO()):
        first = breakfix.start("missing-storageclass", small=True, wait=90, show=False)
    assert (first.lab.target.kind, first.lab.namespace) == ("in-cluster", BREAKFIX)
    s = first.symptoms(show=False)
    assert "Pending" in set(s.pods["status"]) and "FailedScheduling" in set(s.events["reason"])
    assert not first.check(quiet=True)
    with contextlib.redirect_stdout(io.StringIO()):
        first.fix()
    assert first.check(timeout=120, quiet=True)
    _instructors_intact(core, labels)
    old_claim = core.read_namespaced_persistent_volume_claim("data-postgres-0", BREAKFIX)
    assert old_claim.status.phase == "Bound" and not ownership.is_ours(
        old_claim.metadata.labels)  # made by the StatefulSet controller, unlabelled

    with contextlib.redirect_stdout(io.StringIO()):
        second = breakfix.start("service-selector", small=True, wait=90, show=False)
    assert second.lab.namespace == BREAKFIX
    # the first scenario is gone, its controller-made claim and pods included
    assert _status(lambda: core.read_namespaced_persistent_volume_claim(
        "data-postgres-0", BREAKFIX)) == 404
    assert _status(lambda: second.lab.apps.read_namespaced_stateful_set(
        "postgres", BREAKFIX)) == 404
    assert not [p for p in core.list_namespaced_pod(BREAKFIX).items
                if p.metadata.name.startswith("postgres")]
    s = second.symptoms(show=False)
    assert "HTTP 503" in s.call, str(s)
    assert not s.events["object"].str.contains("postgres").any(), "an old scenario's events"
    assert not second.check(quiet=True)
    with contextlib.redirect_stdout(io.StringIO()):
        second.fix()
    assert second.check(timeout=120, quiet=True)
    _instructors_intact(core, labels)

    with contextlib.redirect_stdout(io.StringIO()):
        report = second.cleanup()
    assert {"Deployment/redis", "Deployment/cart-service", "Service/cart-service"} <= set(
        report["deleted"])
    assert report["left"] == [f"Namespace/{BREAKFIX} (not created by labhelpers)"]
    _instructors_intact(core, labels)
    assert not [c for c in core.list_namespaced_config_map(BREAKFIX).items
                if ownership.is_ours(c.metadata.labels)]
    _all_allowed_by_the_classroom_rbac()


def _all_allowed_by_the_classroom_rbac() -> None:
    """The run passed as the learner's ServiceAccount, so the server allowed every call;
    this shows the run made the calls that matter, and only in the breakfix namespace."""
    made = {(m, urlsplit(u).path) for m, u in learner_calls}
    for method, tail in [("DELETE", "/statefulsets/"), ("DELETE", "/persistentvolumeclaims/"),
                         ("GET", "/replicasets"), ("PATCH", "/deployments/")]:
        assert any(m == method and tail in p for m, p in made), f"no {method} …{tail}"
    spaces = {p.split("/namespaces/")[1].split("/")[0] for _, p in made if "/namespaces/" in p}
    assert spaces <= {BREAKFIX}, spaces


def test_a_strangers_namespace_is_refused_without_adopt(bf_lab: labhelpers.Lab) -> None:
    """Through a kubeconfig nothing counts as adopted: an existing namespace labhelpers did
    not make is refused before anything in it is touched."""
    ns = "bf-stranger"
    bf_lab.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    try:
        bf_lab.in_namespace(ns).apply(  # labelled ours, but in a foreign namespace
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "theirs"}},
            adopt=True)
        with pytest.raises(labhelpers.NotOurs, match="adopt=True"):
            breakfix.start("service-selector", namespace=ns, lab=bf_lab, wait=0, show=False)
        assert bf_lab.core.read_namespaced_config_map("theirs", ns).metadata.name == "theirs"
    finally:
        bf_lab.core.delete_namespace(ns)


def test_a_namespace_of_ours_is_cleared_not_recreated(bf_lab: labhelpers.Lab) -> None:
    """An earlier run's ``breakfix-<name>``: kept (same uid), its scenario objects replaced,
    a learner's unlabelled object left alone."""
    ns = "bf-ours-again"
    with contextlib.redirect_stdout(io.StringIO()):
        first = breakfix.start("service-selector", namespace=ns, lab=bf_lab, small=True,
                               wait=0, show=False)
        uid = bf_lab.core.read_namespace(ns).metadata.uid
        assert first.lab.apps.read_namespaced_deployment("redis", ns)
        bf_lab.core.create_namespaced_config_map(ns, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="learners-own"), data={"x": "y"}))
        second = breakfix.start("selector-mismatch", namespace=ns, lab=bf_lab, small=True,
                                wait=0, show=False)
        try:
            assert bf_lab.core.read_namespace(ns).metadata.uid == uid
            assert ownership.is_ours(bf_lab.core.read_namespace(ns).metadata.labels)
            assert second.lab.apps.read_namespaced_deployment("cart-service", ns)
            # selector-mismatch's redis is rejected at apply: so the first one was deleted
            assert _status(lambda: second.lab.apps.read_namespaced_deployment(
                "redis", ns)) == 404
            assert bf_lab.core.read_namespaced_config_map("learners-own", ns).data == {"x": "y"}
        finally:
            report = second.cleanup()
    assert report["deleted"] == [f"Namespace/{ns} (and everything in it)"]
