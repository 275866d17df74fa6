"""RBAC enforced by the server: a ServiceAccount's token (kubectl create token) gets exactly
what its bindings grant, and the real kubectl prints upstream's Forbidden messages."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from tools import KUBECTL_INSTALL, needs_tool

from labcluster import rbac, requestinfo
from labcluster.authz import Attributes, UserInfo

KUBECTL = needs_tool("kubectl", shutil.which("kubectl"), KUBECTL_INSTALL)


def run(kubeconfig: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), *args],
                          capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {proc.stderr}")
    return proc


def as_token(admin_config: Path, token: str, folder: Path) -> Path:
    doc = yaml.safe_load(admin_config.read_text())
    doc["users"][0]["user"] = {"token": token}
    path = folder / "learner.kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)
    return path


@pytest.fixture
def learner(kube_target, kube_ns, tmp_path) -> tuple[Path, str]:
    """A ServiceAccount `learner` in kube_ns with a token of its own, and no bindings yet."""
    admin = kube_target.kubeconfig
    run(admin, "-n", kube_ns, "create", "serviceaccount", "learner")
    token = run(admin, "-n", kube_ns, "create", "token", "learner").stdout.strip()
    assert token.count(".") == 2  # a JWT
    return as_token(admin, token, tmp_path), f"system:serviceaccount:{kube_ns}:learner"


pytestmark = [pytest.mark.cluster]


@KUBECTL
def test_a_token_without_bindings_gets_upstreams_forbidden(kube_target, kube_ns, learner):
    config, user = learner
    out = run(config, "-n", kube_ns, "get", "pods", check=False)
    assert out.returncode == 1
    assert out.stderr.strip() == (
        f'Error from server (Forbidden): pods is forbidden: User "{user}" cannot list '
        f'resource "pods" in API group "" in the namespace "{kube_ns}"')
    out = run(config, "get", "nodes", check=False)
    assert (f'nodes is forbidden: User "{user}" cannot list resource "nodes" in API group "" '
            "at the cluster scope") in out.stderr
    # what every authenticated user has still works: discovery, whoami, can-i
    who = run(config, "auth", "whoami", "-o", "json").stdout
    info = json.loads(who)["status"]["userInfo"]
    assert info["username"] == user
    assert info["groups"] == ["system:serviceaccounts", f"system:serviceaccounts:{kube_ns}",
                              "system:authenticated"]
    assert run(config, "-n", kube_ns, "auth", "can-i", "list", "pods",
               check=False).stdout == "no\n"


@KUBECTL
def test_a_rolebinding_grants_its_namespace_only(kube_target, kube_ns, learner, kube_core):
    config, user = learner
    admin = kube_target.kubeconfig
    run(admin, "-n", kube_ns, "create", "rolebinding", "learner-edit", "--clusterrole=edit",
        f"--serviceaccount={kube_ns}:learner")
    assert run(config, "-n", kube_ns, "get", "pods").returncode == 0
    run(config, "-n", kube_ns, "create", "configmap", "mine", "--from-literal=a=1")
    assert run(config, "-n", kube_ns, "auth", "can-i", "create", "deployments").stdout == "yes\n"
    # edit does not grant RBAC itself, nor anything in another namespace
    out = run(config, "-n", kube_ns, "create", "rolebinding", "escalate",
              "--clusterrole=admin", f"--serviceaccount={kube_ns}:learner", check=False)
    assert (f'rolebindings.rbac.authorization.k8s.io is forbidden: User "{user}" cannot '
            f'create resource "rolebindings" in API group "rbac.authorization.k8s.io" in the '
            f'namespace "{kube_ns}"') in out.stderr
    out = run(config, "-n", "default", "get", "configmaps", check=False)
    assert 'in the namespace "default"' in out.stderr and out.returncode == 1
    # the binding shows as kubectl shows it
    wide = run(admin, "-n", kube_ns, "get", "rolebinding", "learner-edit", "-o", "wide").stdout
    head, row = wide.splitlines()
    assert head.split() == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    assert row.split()[1] == "ClusterRole/edit" and row.split()[-1] == f"{kube_ns}/learner"


@KUBECTL
def test_resource_names_and_subresources_are_authorized_before_routing(
        kube_target, kube_ns, learner, kube_api):
    config, user = learner
    admin = kube_target.kubeconfig
    run(admin, "-n", kube_ns, "create", "configmap", "a", "--from-literal=x=1")
    run(admin, "-n", kube_ns, "create", "configmap", "b", "--from-literal=x=1")
    client.RbacAuthorizationV1Api(kube_api).create_namespaced_role(kube_ns, {
        "metadata": {"name": "read-a"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["a"],
                   "verbs": ["get"]},
                  {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]})
    run(admin, "-n", kube_ns, "create", "rolebinding", "read-a", "--role=read-a",
        f"--serviceaccount={kube_ns}:learner")
    assert run(config, "-n", kube_ns, "get", "configmap", "a").returncode == 0
    out = run(config, "-n", kube_ns, "get", "configmap", "b", check=False)
    assert (f'configmaps "b" is forbidden: User "{user}" cannot get resource "configmaps" '
            f'in API group "" in the namespace "{kube_ns}"') in out.stderr
    # allowed to get pods: a missing one is a 404; its log (pods/log) is refused before the
    # server looks for the pod, so a refused caller cannot learn what exists
    out = run(config, "-n", kube_ns, "get", "pod", "no-such-pod", check=False)
    assert 'pods "no-such-pod" not found' in out.stderr
    out = run(config, "-n", kube_ns, "get", "--raw",
              f"/api/v1/namespaces/{kube_ns}/pods/no-such-pod/log", check=False)
    assert (f'pods "no-such-pod" is forbidden: User "{user}" cannot get resource "pods/log" '
            f'in API group "" in the namespace "{kube_ns}"') in out.stderr


@KUBECTL
def test_tokens_die_with_their_serviceaccount_and_garbage_is_unauthorized(
        kube_target, kube_ns, learner, tmp_path):
    config, _ = learner
    admin = kube_target.kubeconfig
    assert run(config, "auth", "whoami").returncode == 0
    run(admin, "-n", kube_ns, "delete", "serviceaccount", "learner")
    run(admin, "-n", kube_ns, "create", "serviceaccount", "learner")  # same name, new uid
    out = run(config, "auth", "whoami", check=False)
    assert out.returncode == 1 and "Unauthorized" in out.stderr
    forged = as_token(admin, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.", tmp_path)
    out = run(forged, "get", "pods", check=False)
    assert "You must be logged in to the server (Unauthorized)" in out.stderr


@KUBECTL
def test_impersonation_needs_the_impersonate_verb(kube_target, kube_ns, learner):
    config, user = learner
    out = run(config, "get", "pods", "-n", kube_ns, "--as=alice", check=False)
    assert (f'users "alice" is forbidden: User "{user}" cannot impersonate resource "users" '
            'in API group "" at the cluster scope') in out.stderr
    # the admin may, and the request then really runs as alice: refused
    out = run(kube_target.kubeconfig, "get", "pods", "-n", kube_ns, "--as=alice", check=False)
    assert 'User "alice" cannot list resource "pods"' in out.stderr


def test_bootstrap_roles_and_roleref_immutability(kube_api, kube_ns):
    rbac_api = client.RbacAuthorizationV1Api(kube_api)
    names = {r.metadata.name for r in rbac_api.list_cluster_role().items}
    assert {"cluster-admin", "admin", "edit", "view", "system:basic-user"} <= names
    binding = rbac_api.read_cluster_role_binding("kubeadm:cluster-admins")
    assert [s.name for s in binding.subjects] == ["kubeadm:cluster-admins"]
    rbac_api.create_namespaced_role_binding(kube_ns, {
        "metadata": {"name": "b"},
        "roleRef": {"apiGroup": rbac.GROUP, "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "User", "name": "bob"}]})
    with pytest.raises(client.ApiException) as err:
        rbac_api.patch_namespaced_role_binding("b", kube_ns, {"roleRef": {"name": "edit"}})
    assert err.value.status == 422 and "cannot change roleRef" in err.value.body
    with pytest.raises(client.ApiException) as err:
        rbac_api.create_namespaced_role(kube_ns, {
            "metadata": {"name": "r"}, "rules": [{"nonResourceURLs": ["/x"], "verbs": ["get"]}]})
    assert "namespaced rules cannot apply to non-resource URLs" in err.value.body


# ------------------------------------------------------------------ no cluster needed
ALICE = UserInfo("alice", ("devs", "system:authenticated"))


@pytest.mark.parametrize(("method", "path", "query", "expected"), [
    ("GET", "/api/v1/namespaces/ns/pods", {}, ("list", "ns", "", "pods", "", "")),
    ("GET", "/api/v1/namespaces/ns/pods", {"watch": "true"}, ("watch", "ns", "", "pods", "", "")),
    ("GET", "/api/v1/namespaces/ns/pods", {"fieldSelector": "metadata.name=x"},
     ("list", "ns", "", "pods", "", "x")),
    ("POST", "/api/v1/namespaces/ns/pods/p/exec", {}, ("create", "ns", "", "pods", "exec", "p")),
    ("DELETE", "/apis/apps/v1/namespaces/ns/deployments", {},
     ("deletecollection", "ns", "apps", "deployments", "", "")),
    ("GET", "/api/v1/namespaces/ns", {}, ("get", "ns", "", "namespaces", "", "ns")),
    ("PUT", "/api/v1/namespaces/ns/finalize", {}, ("update", "ns", "", "namespaces",
                                                    "finalize", "ns")),
    ("GET", "/api/v1/nodes", {}, ("list", "", "", "nodes", "", "")),
    ("PATCH", "/apis/apps/v1/namespaces/ns/deployments/d/scale", {},
     ("patch", "ns", "apps", "deployments", "scale", "d")),
])
def test_request_attributes_as_the_request_info_factory_reads_them(method, path, query,
                                                                  expected):
    a = requestinfo.attributes(ALICE, method, path, query)
    assert a.resource_request
    assert (a.verb, a.namespace, a.group, a.resource, a.subresource, a.name) == expected


@pytest.mark.parametrize("path", ["/api", "/apis", "/apis/apps", "/apis/apps/v1", "/version",
                                  "/openapi/v3/apis/apps/v1"])
def test_discovery_paths_are_non_resource_requests(path):
    a = requestinfo.attributes(ALICE, "GET", path, {})
    assert not a.resource_request and a.path == path and a.verb == "get"


def test_rule_matching_verbs_groups_subresources_names_and_urls():
    def allows(rule, **kw):
        return rbac.rule_allows(rule, Attributes(ALICE, **{"verb": "get", **kw}))
    pods = {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}
    assert allows(pods, resource="pods")
    assert not allows(pods, resource="pods", subresource="exec")
    assert not allows(pods, resource="pods", group="apps")
    assert not allows(pods, resource="pods", verb="list")
    assert allows({**pods, "resources": ["*/scale"], "apiGroups": ["*"]}, resource="deployments",
                  subresource="scale", group="apps")
    assert allows({**pods, "resourceNames": ["a"]}, resource="pods", name="a")
    assert not allows({**pods, "resourceNames": ["a"]}, resource="pods", name="b")
    assert not allows({**pods, "resourceNames": ["a"]}, resource="pods")  # a list is not "a"
    urls = {"verbs": ["get"], "nonResourceURLs": ["/healthz", "/apis/*"]}
    assert allows(urls, resource_request=False, path="/apis/apps")
    assert not allows(urls, resource_request=False, path="/metrics")


def test_forbidden_messages_match_upstream():
    a = Attributes(ALICE, "get", True, "ns", "apps", "v1", "deployments", "scale", "web")
    assert rbac.forbidden(a).message == (
        'deployments.apps "web" is forbidden: User "alice" cannot get resource '
        '"deployments/scale" in API group "apps" in the namespace "ns"')
    a = Attributes(ALICE, "get", False, path="/metrics")
    assert rbac.forbidden(a).message == 'forbidden: User "alice" cannot get path "/metrics"'
