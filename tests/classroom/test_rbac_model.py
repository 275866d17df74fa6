"""The RBAC model the classroom analysis rests on: request attributes as the API server's
RequestInfoFactory derives them, and rule matching as the RBAC authorizer does."""

from __future__ import annotations

import pytest
from rbac_model import Grants, parse, required_verbs, rule_allows


@pytest.mark.parametrize(("method", "url", "attrs"), [
    ("GET", "https://h:6443/api/v1/namespaces/ns/pods", ("list", "", "pods", "", "ns")),
    ("GET", "/api/v1/namespaces/ns/pods?watch=true", ("watch", "", "pods", "", "ns")),
    ("GET", "/api/v1/namespaces/ns/pods/p", ("get", "", "pods", "p", "ns")),
    ("GET", "/api/v1/namespaces/ns/pods/p/log?tailLines=5", ("get", "", "pods/log", "p", "ns")),
    ("POST", "/api/v1/namespaces/ns/pods/p/exec?command=ls", ("create", "", "pods/exec", "p",
                                                             "ns")),
    ("PATCH", "/apis/apps/v1/namespaces/ns/deployments/d/scale",
     ("patch", "apps", "deployments/scale", "d", "ns")),
    ("DELETE", "/api/v1/namespaces/ns/pods", ("deletecollection", "", "pods", "", "ns")),
    ("GET", "/api/v1/namespaces/ns", ("get", "", "namespaces", "ns", "ns")),
    ("PUT", "/api/v1/namespaces/ns/finalize", ("update", "", "namespaces/finalize", "ns", "ns")),
    ("GET", "/api/v1/namespaces", ("list", "", "namespaces", "", "")),
    ("GET", "/api/v1/nodes/n", ("get", "", "nodes", "n", "")),
    ("GET", "/apis/metrics.k8s.io/v1beta1/namespaces/ns/pods",
     ("list", "metrics.k8s.io", "pods", "", "ns")),
    ("GET", "/api/v1/namespaces/ns/services/web:80/proxy/api/health",
     ("get", "", "services/proxy", "web:80", "ns")),
])
def test_request_attributes(method, url, attrs):
    r = parse(method, url)
    assert (r.verb, r.api_group, r.resource_ref, r.name, r.namespace) == attrs
    assert not r.non_resource


@pytest.mark.parametrize("path", ["/version/", "/api", "/apis", "/api/v1", "/apis/apps/v1",
                                  "/openapi/v2"])
def test_discovery_is_non_resource_and_allowed_to_everyone(path):
    r = parse("GET", path)
    assert r.non_resource and Grants({}, []).allows(r)


def test_websocket_subresources_also_need_create():
    assert required_verbs(parse("GET", "/api/v1/namespaces/n/pods/p/exec")) == {"get", "create"}
    only_get = [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["get"]}]
    assert not Grants({"n": only_get}, []).allows(parse("GET", "/api/v1/namespaces/n/pods/p/exec"))


def test_rule_matching():
    rule = {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"],
            "resourceNames": ["web"]}
    assert rule_allows(rule, parse("GET", "/apis/apps/v1/namespaces/n/deployments/web"), "get")
    assert not rule_allows(rule, parse("GET", "/apis/apps/v1/namespaces/n/deployments/x"), "get")
    assert not rule_allows(rule, parse("GET", "/apis/apps/v1/namespaces/n/deployments/web/scale"),
                           "get")  # a subresource must be named
    assert not rule_allows(rule, parse("GET", "/api/v1/namespaces/n/pods/web"), "get")
    star = {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}
    assert rule_allows(star, parse("DELETE", "/api/v1/namespaces/n/pods/p"), "delete")


def test_namespaced_grants_do_not_leak():
    rules = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]
    g = Grants({"a": rules}, [])
    assert g.allows(parse("GET", "/api/v1/namespaces/a/pods"))
    assert not g.allows(parse("GET", "/api/v1/namespaces/b/pods"))
    assert not g.allows(parse("GET", "/api/v1/pods"))  # all namespaces = cluster-wide
