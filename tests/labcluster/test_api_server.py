"""Start/stop, discovery, auth and persistence of the API server."""

from __future__ import annotations

import base64
import json
import ssl
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config, dynamic

import labcluster

pytestmark = pytest.mark.cluster


def _kubeconfig(path: Path) -> tuple[str, str, ssl.SSLContext]:
    cfg = yaml.safe_load(path.read_text())
    cluster = cfg["clusters"][0]["cluster"]
    ctx = ssl.create_default_context(cadata=base64.b64decode(
        cluster["certificate-authority-data"]).decode())
    return cluster["server"], cfg["users"][0]["user"]["token"], ctx


def _get(url: str, ctx: ssl.SSLContext, token: str | None) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_token_is_required(kube_target):
    server, token, ctx = _kubeconfig(kube_target.kubeconfig)
    for given in (None, "wrong-" + token[:8], token + "x"):
        code, body = _get(server + "/api/v1/namespaces", ctx, given)
        assert code == 401
        assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {},
                        "status": "Failure", "message": "Unauthorized",
                        "reason": "Unauthorized", "code": 401}
    code, body = _get(server + "/api/v1/namespaces", ctx, token)
    assert code == 200 and body["kind"] == "NamespaceList"
    # the scheme is case-insensitive, the token is not
    req = urllib.request.Request(server + "/api/v1/namespaces",
                                 headers={"Authorization": f"bearer {token}"})
    with urllib.request.urlopen(req, context=ctx, timeout=5) as resp:
        assert resp.status == 200
    code, _ = _get(server + "/api/v1/namespaces", ctx, token.swapcase())
    assert code == 401


def test_kubeconfig_is_private_and_loopback(kube_target):
    if kube_target.home is None:
        pytest.skip("checks labcluster's own kubeconfig file")
    mode = stat.S_IMODE(kube_target.kubeconfig.stat().st_mode)
    assert mode == 0o600
    server, _, _ = _kubeconfig(kube_target.kubeconfig)
    assert server.startswith("https://127.0.0.1:")


def test_version_with_and_without_slash(kube_api, kube_target):
    info = client.VersionApi(kube_api).get_code()  # requests /version/
    assert info.major == "1" and info.minor == "32"
    server, token, ctx = _kubeconfig(kube_target.kubeconfig)
    code, body = _get(server + "/version", ctx, token)
    assert code == 200 and body["gitVersion"] == info.git_version


def test_discovery_documents(kube_target, kube_api):
    server, token, ctx = _kubeconfig(kube_target.kubeconfig)
    _, core = _get(server + "/api/v1", ctx, token)
    pods = next(r for r in core["resources"] if r["name"] == "pods")
    assert pods["kind"] == "Pod" and pods["namespaced"] and "po" in pods["shortNames"]
    assert set(pods["verbs"]) >= {"create", "delete", "deletecollection", "get", "list",
                                  "patch", "update", "watch"}
    names = {r["name"] for r in core["resources"]}
    assert {"pods/status", "pods/log", "pods/exec", "services/proxy", "namespaces",
            "services", "endpoints", "configmaps", "secrets", "persistentvolumeclaims",
            "events", "nodes", "serviceaccounts"} <= names
    _, apps = _get(server + "/apis/apps/v1", ctx, token)
    scale = next(r for r in apps["resources"] if r["name"] == "deployments/scale")
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    short = {r["name"]: r.get("shortNames", []) for r in apps["resources"]}
    assert short["deployments"] == ["deploy"] and short["statefulsets"] == ["sts"]
    _, groups = _get(server + "/apis", ctx, token)
    assert {"apps", "discovery.k8s.io"} <= {g["name"] for g in groups["groups"]}


def test_dynamic_client_discovers_and_lists(kube_api, kube_ns):
    dyn = dynamic.DynamicClient(kube_api)
    deploys = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    assert deploys.namespaced and deploys.name == "deployments"
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    cms.create(body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dyn"},
                     "data": {"a": "1"}}, namespace=kube_ns)
    got = cms.get(name="dyn", namespace=kube_ns)
    assert got.data.a == "1"
    # beside kube-root-ca.crt, which every namespace holds (as on a real cluster)
    assert [i.metadata.name for i in cms.get(namespace=kube_ns).items] == ["dyn", "kube-root-ca.crt"]


def test_default_namespaces_and_service_accounts(kube_core, kube_ns):
    names = {n.metadata.name for n in kube_core.list_namespace().items}
    assert {"default", "kube-system"} <= names
    sa = kube_core.read_namespaced_service_account("default", kube_ns)
    assert sa.metadata.name == "default"


def _restart(target) -> None:
    assert labcluster.stop(target.home)
    assert not labcluster.status(target.home).running
    labcluster.ensure_running(target.home, env=target.env)


def test_persistence_across_down_and_up(kube_target, kube_core, kube_ns):
    if kube_target.home is None:
        pytest.skip("restarts the cluster process: labcluster only")
    cm = kube_core.create_namespaced_config_map(kube_ns, {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "keep"},
        "data": {"k": "v"}})
    rv = int(cm.metadata.resource_version)
    _restart(kube_target)
    again = config.new_client_from_config(str(kube_target.kubeconfig))
    core = client.CoreV1Api(again)
    got = core.read_namespaced_config_map("keep", kube_ns)
    assert got.data == {"k": "v"} and got.metadata.uid == cm.metadata.uid
    # resourceVersions keep growing after a restart, as etcd's revision does
    cm2 = core.create_namespaced_config_map(kube_ns, {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "after"}})
    assert int(cm2.metadata.resource_version) > rv
    # the old client still works: same port and token were kept
    assert kube_core.read_namespaced_config_map("after", kube_ns).metadata.name == "after"


def test_second_up_finds_the_first(kube_target):
    if kube_target.home is None:
        pytest.skip("labcluster only")
    """A second `up` returns the same kubeconfig and starts no new server (how long it
    takes is printed by bench/labcluster_api_bench.py, not asserted here)."""
    before = labcluster.status(kube_target.home)
    path = labcluster.ensure_running(kube_target.home)
    assert path == kube_target.kubeconfig
    after = labcluster.status(kube_target.home)
    assert after.running and after.pid == before.pid


def test_cli_status_and_up_print_how_to(kube_target):
    if kube_target.home is None:
        pytest.skip("labcluster only")
    home = str(kube_target.home)
    out = subprocess.run([sys.executable, "-m", "labcluster", "--home", home, "status"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "is running" in out.stdout
    out = subprocess.run([sys.executable, "-m", "labcluster", "--home", home, "up"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0
    assert f"export KUBECONFIG={kube_target.kubeconfig}" in out.stdout
    assert f"kubectl --kubeconfig {kube_target.kubeconfig} get pods -A" in out.stdout


def test_unknown_resource_is_404(kube_target):
    server, token, ctx = _kubeconfig(kube_target.kubeconfig)
    code, body = _get(server + "/api/v1/widgets", ctx, token)
    assert code == 404 and body["reason"] == "NotFound"
    code, body = _get(server + "/apis/nosuch.example.com/v1", ctx, token)
    assert code == 404 and body["kind"] == "Status"


NOT_FOUND = (404, "NotFound", "the server could not find the requested resource")
NOT_ALLOWED = (405, "MethodNotAllowed",
               "the server does not allow this method on the requested resource")


@pytest.mark.parametrize(("method", "path", "answer"), [
    ("GET", "/api/v1/namespaces/{ns}/pods/p/binding", NOT_FOUND),  # POST only
    ("GET", "/api/v1/namespaces/{ns}/pods/p/log", NOT_FOUND),  # a component's (no node here)
    ("GET", "/api/v1/namespaces/{ns}/configmaps/c/nosuch", NOT_FOUND),
    ("GET", "/api/v1/namespaces/{ns}/configmaps/c/status/more", NOT_FOUND),
    ("GET", "/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods", NOT_FOUND),  # not stored
    ("PUT", "/api/v1/namespaces/{ns}/configmaps", NOT_ALLOWED),
    ("POST", "/api/v1/namespaces/{ns}/configmaps/c", NOT_ALLOWED),
    ("POST", "/apis/apps/v1/namespaces/{ns}/deployments/d/scale", NOT_ALLOWED),
    ("DELETE", "/api/v1/namespaces/{ns}/pods/p/status", NOT_ALLOWED),  # not the pod
    ("DELETE", "/apis/apps/v1/namespaces/{ns}/deployments/d/status", NOT_ALLOWED),
    ("PUT", "/api/v1/namespaces/{ns}/configmaps?fieldValidation=Loose",
     (400, "BadRequest", 'fieldValidation must be one of "Ignore", "Warn", or "Strict", '
                         'got "Loose"')),
])
def test_the_route_table_answers_what_it_does_not_serve(kube_target, kube_ns, method, path,
                                                        answer):
    """A path outside httpapi.ROUTES is a 404, a method a served path lacks a 405, and a
    bad fieldValidation a 400 before either: the Status bodies clients read."""
    server, token, ctx = _kubeconfig(kube_target.kubeconfig)
    req = urllib.request.Request(server + path.format(ns=kube_ns), method=method,
                                 data=b"{}" if method in ("PUT", "POST") else None,
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, context=ctx, timeout=5)
    body = json.loads(err.value.read())
    assert (err.value.code, body["reason"], body["message"]) == answer
    assert body["kind"] == "Status" and body["code"] == answer[0]


def test_acknowledged_writes_survive_a_crash(kube_target, kube_core, kube_ns):
    if kube_target.home is None:
        pytest.skip("kills the cluster process: labcluster only")
    import os
    import signal

    for i in range(20):
        kube_core.create_namespaced_config_map(kube_ns, {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}"}})
    pid = labcluster.status(kube_target.home).pid
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while labcluster.status(kube_target.home).running and time.monotonic() < deadline:
        time.sleep(0.05)
    labcluster.ensure_running(kube_target.home, env=kube_target.env)
    core = client.CoreV1Api(config.new_client_from_config(str(kube_target.kubeconfig)))
    names = {c.metadata.name for c in core.list_namespaced_config_map(kube_ns).items}
    assert {f"c{i}" for i in range(20)} <= names
