"""authorization.k8s.io/v1 reviews through the official client (what an admission
webhook or a dashboard would call), their discovery, and their validation errors."""

from __future__ import annotations

import json

import pytest
from kubernetes import client

pytestmark = pytest.mark.cluster


def _attrs(**kw) -> dict:
    return {"verb": "create", "group": "apps", "resource": "deployments", **kw}


def test_reviews_are_discovered_with_create_only(kube_api):
    found = {r.name: r for r in client.AuthorizationV1Api(kube_api).get_api_resources()
             .resources}
    assert {"selfsubjectaccessreviews", "subjectaccessreviews", "localsubjectaccessreviews",
            "selfsubjectrulesreviews"} <= set(found)
    assert found["selfsubjectaccessreviews"].verbs == ["create"]
    assert found["localsubjectaccessreviews"].namespaced
    names = [r.name for r in client.AuthenticationV1Api(kube_api).get_api_resources().resources]
    assert "selfsubjectreviews" in names


def test_subject_access_review_for_admin_group_and_plain_user(kube_api, kube_ns):
    authz = client.AuthorizationV1Api(kube_api)
    admin = authz.create_subject_access_review({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": "someone", "groups": ["system:masters"],
                 "resourceAttributes": _attrs(namespace=kube_ns)}})
    assert admin.status.allowed is True
    plain = authz.create_subject_access_review({
        "spec": {"user": "someone", "resourceAttributes": _attrs(namespace=kube_ns)}})
    assert plain.status.allowed is False
    assert plain.spec.resource_attributes.resource == "deployments"  # spec echoed back
    local = authz.create_namespaced_local_subject_access_review(kube_ns, {
        "spec": {"user": "x", "groups": ["system:masters"],
                 "resourceAttributes": _attrs(namespace=kube_ns)}})
    assert local.status.allowed is True and local.metadata.namespace == kube_ns
    me = authz.create_self_subject_access_review({
        "spec": {"nonResourceAttributes": {"verb": "get", "path": "/metrics"}}})
    assert me.status.allowed is True


@pytest.mark.parametrize(("call", "body", "message"), [
    ("create_subject_access_review", {"spec": {"resourceAttributes": _attrs()}},
     "spec.user: Invalid value: \"\": at least one of user or group must be specified"),
    ("create_self_subject_access_review", {"spec": {}},
     "exactly one of nonResourceAttributes or resourceAttributes must be specified"),
])
def test_invalid_reviews_are_422(kube_api, call, body, message):
    with pytest.raises(client.ApiException) as err:
        getattr(client.AuthorizationV1Api(kube_api), call)(body)
    assert err.value.status == 422
    assert message in json.loads(err.value.body)["message"]


def test_local_review_namespace_must_match(kube_api, kube_ns):
    with pytest.raises(client.ApiException) as err:
        client.AuthorizationV1Api(kube_api).create_namespaced_local_subject_access_review(
            kube_ns, {"spec": {"user": "x", "resourceAttributes": _attrs(namespace="other")}})
    assert err.value.status == 422 and "must match metadata.namespace" in err.value.body


def test_reviews_cannot_be_listed(kube_api):
    resp = kube_api.call_api(*kube_api.param_serialize(
        "GET", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        header_params={"Accept": "application/json"}, auth_settings=["BearerToken"]))
    assert resp.status == 405
    assert json.loads(resp.read())["reason"] == "MethodNotAllowed"
