"""The classroom RBAC, by STATIC analysis (labcluster enforces no RBAC): the API calls the
lab really makes (recorded on labcluster, see conftest.py) are evaluated against the
Roles/ClusterRoles of manifests/classroom with a model of the RBAC authorizer
(rbac_model.py): all allowed in the learner's namespace, all forbidden in another one,
nothing cluster-wide beyond the read-only ClusterRole."""

from __future__ import annotations

import pytest
import rbac_model
from classroom_support import BREAKFIX_NS, LEARNER_NS, load, rbac_objects
from rbac_model import Request, grants_for, parse

SA = (LEARNER_NS, "learner")
# The first test carries the recording run (a whole lab deployed, ~80 s on an idle machine).
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def requests_made(recorded_calls) -> list[Request]:
    return sorted({parse(m, u) for m, u in recorded_calls},
                  key=lambda r: (r.namespace, r.api_group, r.resource_ref, r.verb, r.name))


@pytest.fixture(scope="module")
def grants() -> rbac_model.Grants:
    return grants_for(rbac_objects("alice"), *SA)


def kinds(reqs: list[Request]) -> set[tuple[str, str, str]]:
    return {(r.api_group, r.resource_ref, r.verb) for r in reqs}


def test_the_recording_saw_the_whole_lab(requests_made):
    """Guards the analysis itself: a recorder that missed calls would prove nothing."""
    seen = kinds(requests_made)
    for expected in [("", "namespaces", "get"), ("apps", "deployments", "patch"),
                     ("apps", "statefulsets", "patch"), ("", "services", "patch"),
                     ("", "secrets", "patch"), ("", "pods", "list"), ("", "pods/log", "get"),
                     ("", "pods/exec", "get"), ("", "services/proxy", "get"),
                     ("apps", "deployments/scale", "patch"), ("", "events", "list"),
                     ("metrics.k8s.io", "pods", "list"), ("apps", "deployments", "delete"),
                     ("batch", "jobs", "create"), ("batch", "jobs", "delete")]:
        assert expected in seen, f"the lab run made no {expected} call"
    assert {r.namespace for r in requests_made if not r.non_resource} == {LEARNER_NS, ""}


def test_every_call_in_the_learners_namespace_is_allowed(requests_made, grants):
    denied = [f"{r.verb} {r.api_group}/{r.resource_ref} ({r.path})"
              for r in requests_made if r.namespace == LEARNER_NS and not grants.allows(r)]
    assert not denied, "the learner's Role forbids calls the lab makes:\n" + "\n".join(denied)


def test_the_same_calls_in_the_breakfix_namespace_are_allowed(requests_made, grants):
    moved = [r.elsewhere(BREAKFIX_NS) for r in requests_made if r.namespace == LEARNER_NS]
    assert all(grants.allows(r) for r in moved)


@pytest.mark.parametrize("other", ["lab-bob", "default", "kube-system", "jhub"])
def test_the_same_calls_in_another_namespace_are_forbidden(requests_made, grants, other):
    moved = [r.elsewhere(other) for r in requests_made if r.namespace == LEARNER_NS]
    allowed = [f"{r.verb} {r.resource_ref} ({r.path})" for r in moved if grants.allows(r)]
    assert moved and not allowed, f"allowed in {other}:\n" + "\n".join(allowed)


def test_cluster_wide_calls_only_through_the_read_only_cluster_role(requests_made, grants):
    cluster_wide = [r for r in requests_made if not r.namespace and not r.non_resource]
    assert {(r.api_group, r.resource) for r in cluster_wide} == {
        ("", "nodes"), ("storage.k8s.io", "storageclasses")}
    for r in cluster_wide:
        assert r.verb in ("get", "list") and grants.allows_only_by_cluster_role(r), r


def test_the_cluster_role_grants_only_cluster_scoped_reads():
    (read,) = [o for o in load("cluster.yaml")
               if o["metadata"]["name"] == "ecommerce-learner-cluster-read"]
    for rule in read["rules"]:
        assert set(rule["verbs"]) <= {"get", "list", "watch"}
        assert set(rule["resources"]) <= {"nodes", "storageclasses"}, rule


def test_the_learner_role_is_bound_only_inside_the_learners_namespaces():
    objs = rbac_objects("alice")
    bindings = [o for o in objs if o["kind"] in ("RoleBinding", "ClusterRoleBinding")
                and o["roleRef"]["name"] == "ecommerce-learner"]
    assert {(b["kind"], b["metadata"]["namespace"]) for b in bindings} == {
        ("RoleBinding", LEARNER_NS), ("RoleBinding", BREAKFIX_NS)}


@pytest.mark.parametrize(("method", "path"), [
    ("PATCH", f"/api/v1/namespaces/{LEARNER_NS}/resourcequotas/ecommerce-lab"),
    ("DELETE", f"/api/v1/namespaces/{LEARNER_NS}/limitranges/ecommerce-lab"),
    ("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{LEARNER_NS}/rolebindings"),
    ("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{LEARNER_NS}/roles"),
    ("DELETE", f"/api/v1/namespaces/{LEARNER_NS}"),
    ("PATCH", f"/api/v1/namespaces/{LEARNER_NS}"),
    ("POST", "/api/v1/namespaces"),
    ("GET", "/api/v1/secrets"),
    ("GET", "/api/v1/pods"),  # notebook 01 lists all pods: it must tolerate a 403 here
    ("GET", "/api/v1/namespaces/kube-system/secrets/x"),
    ("PATCH", "/api/v1/nodes/n1"),
    ("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"),
    ("POST", f"/api/v1/namespaces/{LEARNER_NS}/serviceaccounts/learner/token"),
])
def test_the_learner_cannot_escalate_or_look_around(grants, method, path):
    assert not grants.allows(parse(method, path))


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/v1/nodes"),
    ("GET", "/apis/metrics.k8s.io/v1beta1/nodes"),
    ("GET", "/apis/storage.k8s.io/v1/storageclasses"),
    ("GET", f"/api/v1/namespaces/{LEARNER_NS}/resourcequotas"),
    ("GET", f"/api/v1/namespaces/{BREAKFIX_NS}/pods/p/portforward"),
])
def test_preflight_and_load_tests_can_read_what_they_need(grants, method, path):
    assert grants.allows(parse(method, path))


def test_bob_does_not_get_alices_grants():
    bob = grants_for(rbac_objects("bob"), *SA)
    assert not bob.allows(parse("GET", f"/api/v1/namespaces/{LEARNER_NS}/pods"))
