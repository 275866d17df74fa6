"""The real kubectl against the cluster: server-side apply, get tables, describe, scale,
client-side apply, rollout status, delete. Without kubectl: a failure on CI or as root, a
skip with the reason elsewhere (tests/tools.py)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from kube_helpers import wait_for
from tools import KUBECTL_INSTALL, needs_tool

pytestmark = [pytest.mark.cluster, needs_tool("kubectl", shutil.which("kubectl"), KUBECTL_INSTALL)]

MANIFEST = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
    spec:
      replicas: 2
      selector:
        matchLabels: {app: web}
      template:
        metadata:
          labels: {app: web}
        spec:
          nodeSelector: {labcluster.test/no-node: "true"}
          containers:
          - name: web
            image: IMAGE
            ports: [{containerPort: 80}]
    ---
    apiVersion: v1
    kind: Service
    metadata:
      name: web
    spec:
      selector: {app: web}
      ports: [{port: 80}]
    """)


def kubectl(target, ns: str, *args: str, stdin: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["kubectl", "--kubeconfig", str(target.kubeconfig), "-n", ns, *args],
                          input=stdin, capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr}")
    return proc


def test_server_side_apply_get_scale_describe(kube_target, kube_ns):
    manifest = MANIFEST.replace("IMAGE", "nginx:1.27")
    out = kubectl(kube_target, kube_ns, "apply", "--server-side", "-f", "-", stdin=manifest)
    assert "deployment.apps/web serverside-applied" in out.stdout
    assert "service/web serverside-applied" in out.stdout
    out = kubectl(kube_target, kube_ns, "apply", "--server-side", "-f", "-", stdin=manifest)
    assert "deployment.apps/web serverside-applied" in out.stdout
    wait_for(lambda: len(json.loads(kubectl(kube_target, kube_ns, "get", "pods", "-o", "json")
                                    .stdout)["items"]) == 2, what="2 pods")
    table = kubectl(kube_target, kube_ns, "get", "deploy").stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table[1].split()[:2] == ["web", "0/2"]
    pods = kubectl(kube_target, kube_ns, "get", "po").stdout.splitlines()
    assert pods[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert all(line.split()[1:3] == ["0/1", "Pending"] for line in pods[1:])
    svc = kubectl(kube_target, kube_ns, "get", "svc", "web").stdout.splitlines()
    assert svc[0].split()[:3] == ["NAME", "TYPE", "CLUSTER-IP"]
    out = kubectl(kube_target, kube_ns, "scale", "deploy/web", "--replicas=3")
    assert "deployment.apps/web scaled" in out.stdout
    desc = wait_for(lambda: (d := kubectl(kube_target, kube_ns, "describe", "deploy", "web")
                             .stdout) and "from 2 to 3" in d and d, what="describe events")
    assert "Replicas:               3 desired" in desc
    assert "ScalingReplicaSet" in desc and "deployment-controller" in desc


def test_client_side_apply_and_delete(kube_target, kube_ns):
    manifest = MANIFEST.replace("IMAGE", "nginx:1.27")
    out = kubectl(kube_target, kube_ns, "apply", "-f", "-", stdin=manifest)
    assert "deployment.apps/web created" in out.stdout
    out = kubectl(kube_target, kube_ns, "apply", "-f", "-", stdin=manifest)
    assert "deployment.apps/web unchanged" in out.stdout
    out = kubectl(kube_target, kube_ns, "apply", "-f", "-",
                  stdin=MANIFEST.replace("IMAGE", "nginx:1.28"))
    assert "deployment.apps/web configured" in out.stdout
    image = kubectl(kube_target, kube_ns, "get", "deploy", "web", "-o",
                    "jsonpath={.spec.template.spec.containers[0].image}").stdout
    assert image == "nginx:1.28"
    def image() -> str:
        return kubectl(kube_target, kube_ns, "get", "deploy", "web", "-o",
                       "jsonpath={.spec.template.spec.containers[0].image}").stdout

    wait_for(lambda: "2" in kubectl(kube_target, kube_ns, "rollout", "history",
                                    "deploy/web").stdout, what="revision 2")
    out = kubectl(kube_target, kube_ns, "rollout", "undo", "deploy/web")
    assert "deployment.apps/web rolled back" in out.stdout
    assert image() == "nginx:1.27"
    out = kubectl(kube_target, kube_ns, "rollout", "status", "deploy/web", "--timeout=1s",
                  check=False)
    assert out.returncode != 0 and "Waiting for deployment" in out.stdout  # no kubelet
    out = kubectl(kube_target, kube_ns, "delete", "-f", "-", stdin=manifest)
    assert 'deployment.apps "web" deleted' in out.stdout


def test_rejected_manifest_shows_the_api_error(kube_target, kube_ns):
    bad = MANIFEST.replace("IMAGE", "nginx:1.27").replace(
        "labels: {app: web}\n    spec:\n      nodeSelector",
        "labels: {app: webb}\n    spec:\n      nodeSelector")
    out = kubectl(kube_target, kube_ns, "apply", "-f", "-", stdin=bad, check=False)
    assert out.returncode != 0
    assert ('The Deployment "web" is invalid: spec.template.metadata.labels: Invalid value: '
            'map[string]string{"app":"webb"}: `selector` does not match template `labels`'
            in out.stderr)


def test_kubectl_create_generators_send_protobuf_and_work(kube_target, kube_ns):
    """`kubectl create ...` posts protobuf bodies (the lab's first commands)."""
    kubectl(kube_target, kube_ns, "create", "configmap", "ecommerce-config",
            "--from-literal=DATABASE_HOST=postgres", "--from-literal=REDIS_PORT=6379")
    kubectl(kube_target, kube_ns, "create", "secret", "generic", "postgres-secret",
            "--from-literal=password=s3cret")
    kubectl(kube_target, kube_ns, "create", "deployment", "hello", "--image=nginx:1.27",
            "--replicas=0", "--port=80")
    kubectl(kube_target, kube_ns, "create", "service", "clusterip", "hello", "--tcp=80:8080")
    kubectl(kube_target, kube_ns, "create", "job", "hello-once", "--image=busybox:1.36",
            "--", "echo", "hi")
    cm = json.loads(kubectl(kube_target, kube_ns, "get", "cm", "ecommerce-config", "-o",
                            "json").stdout)
    assert cm["data"] == {"DATABASE_HOST": "postgres", "REDIS_PORT": "6379"}
    secret = json.loads(kubectl(kube_target, kube_ns, "get", "secret", "postgres-secret", "-o",
                                "json").stdout)
    assert secret["data"] == {"password": "czNjcmV0"} and secret["type"] == "Opaque"
    d = json.loads(kubectl(kube_target, kube_ns, "get", "deploy", "hello", "-o", "json").stdout)
    assert d["spec"]["replicas"] == 0  # an explicit zero survives decoding
    c = d["spec"]["template"]["spec"]["containers"][0]
    assert (c["name"], c["image"], c["ports"][0]["containerPort"]) == ("nginx", "nginx:1.27", 80)
    svc = json.loads(kubectl(kube_target, kube_ns, "get", "svc", "hello", "-o", "json").stdout)
    assert svc["spec"]["ports"][0]["targetPort"] == 8080
    assert svc["spec"]["selector"] == {"app": "hello"}
    job = json.loads(kubectl(kube_target, kube_ns, "get", "job", "hello-once", "-o",
                             "json").stdout)
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and job["spec"]["backoffLimit"] == 6  # defaulted
    assert (pod["containers"][0]["image"], pod["containers"][0]["command"]) == (
        "busybox:1.36", ["echo", "hi"])
    assert job["spec"]["template"]["metadata"]["labels"]["job-name"] == "hello-once"


# ------------------------------------------------------------------ kubectl auth
def test_auth_can_i_as_the_admin_and_as_someone_else(kube_target, kube_ns):
    """The lab's `kubectl auth can-i create deployments -n ...`: a SelfSubjectAccessReview
    (kubectl posts it as protobuf). The admin may; an impersonated user gets only what
    every authenticated user has (exit 1 and `no` otherwise, as kubectl prints it)."""
    out = kubectl(kube_target, kube_ns, "auth", "can-i", "create", "deployments")
    assert (out.returncode, out.stdout) == (0, "yes\n")
    out = kubectl(kube_target, kube_ns, "auth", "can-i", "get", "/healthz")
    assert out.stdout == "yes\n"
    out = kubectl(kube_target, kube_ns, "auth", "can-i", "create", "deployments",
                  "--as=lab-student", check=False)
    assert (out.returncode, out.stdout) == (1, "no\n")
    out = kubectl(kube_target, kube_ns, "auth", "can-i", "get", "/version",
                  "--as=lab-student")
    assert out.stdout == "yes\n"
    rules = kubectl(kube_target, kube_ns, "auth", "can-i", "--list").stdout.splitlines()
    assert rules[0].split() == ["Resources", "Non-Resource", "URLs", "Resource", "Names",
                                "Verbs"]
    assert rules[1].split() == ["*.*", "[]", "[]", "[*]"]


def test_auth_whoami(kube_target, kube_ns):
    out = kubectl(kube_target, kube_ns, "auth", "whoami").stdout.splitlines()
    assert out[0].split() == ["ATTRIBUTE", "VALUE"]
    if kube_target.home is not None:  # labcluster's admin is kind's/kubeadm's admin
        assert out[1].split() == ["Username", "kubernetes-admin"]
        assert out[2].split() == ["Groups", "[kubeadm:cluster-admins", "system:authenticated]"]
    out = kubectl(kube_target, kube_ns, "auth", "whoami", "--as=alice", "--as-group=devs",
                  "-o", "json")
    info = json.loads(out.stdout)["status"]["userInfo"]
    assert info["username"] == "alice" and info["groups"] == ["devs", "system:authenticated"]


# ------------------------------------------------------------------ kubectl explain
def test_explain_a_field_and_a_kind(kube_target, kube_ns):
    """kubectl explain reads /openapi/v3/<group-version>: the real 1.32 schemas."""
    out = kubectl(kube_target, kube_ns, "explain", "deployment.spec.replicas").stdout
    lines = [line.strip() for line in out.splitlines()]
    assert lines[:3] == ["GROUP:      apps", "KIND:       Deployment", "VERSION:    v1"]
    assert "FIELD: replicas <integer>" in lines
    assert "Number of desired pods." in out and "Defaults to 1." in out
    out = kubectl(kube_target, kube_ns, "explain", "pods").stdout
    assert out.startswith("KIND:       Pod\nVERSION:    v1\n")
    fields = [line.split("\t") for line in out.splitlines() if line.startswith("  ")
              and "\t" in line]
    assert [f[0].strip() for f in fields] == ["apiVersion", "kind", "metadata", "spec",
                                              "status"]
    assert dict((f[0].strip(), f[1]) for f in fields)["spec"] == "<PodSpec>"
    types = {path: kubectl(kube_target, kube_ns, "explain", path).stdout
             for path in ("svc.spec.ports.targetPort", "deploy.spec.template.spec.containers",
                          "deploy.spec.template.spec.containers.resources.limits")}
    assert "FIELD: targetPort <IntOrString>" in types["svc.spec.ports.targetPort"]
    assert "FIELD: containers <[]Container>" in types["deploy.spec.template.spec.containers"]
    assert "FIELD: limits <map[string]Quantity>" in \
        types["deploy.spec.template.spec.containers.resources.limits"]
    bad = kubectl(kube_target, kube_ns, "explain", "deployment.spec.nope", check=False)
    assert bad.returncode == 1 and 'field "nope" does not exist' in bad.stderr



def test_explain_from_openapi_v2_and_apply_without_v2_errors(kube_target, kube_ns):
    """/openapi/v2 in gnostic protobuf (what kubectl asks for): explain's old printer prints
    what a real 1.32 cluster prints, and client-side apply, which falls back to v2 for the
    strategic merge patch, logs no OpenAPI error."""
    out = kubectl(kube_target, kube_ns, "explain", "deployment.spec.replicas",
                  "--output=plaintext-openapiv2").stdout
    assert out == textwrap.dedent("""\
        KIND:     Deployment
        VERSION:  apps/v1

        FIELD:    replicas <integer>

        DESCRIPTION:
             Number of desired pods. This is a pointer to distinguish between explicit
             zero and not specified. Defaults to 1.
        """)
    out = kubectl(kube_target, kube_ns, "explain", "svc.spec.ports.targetPort",
                  "--output=plaintext-openapiv2").stdout
    assert "FIELD:    targetPort <string>" in out
    manifest = textwrap.dedent("""\
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: v2-check}
        data: {a: "1"}
        """)
    for step in ("created", "configured"):
        applied = kubectl(kube_target, kube_ns, "apply", "-v=6", "-f", "-",
                          stdin=manifest.replace('"1"', '"2"') if step == "configured"
                          else manifest)
        assert f"configmap/v2-check {step}" in applied.stdout
        log = applied.stderr.lower().splitlines()
        assert not [line for line in log if "openapi" in line and ("error" in line
                                                                   or "fail" in line)]
    assert any("/openapi/v2" in line and "200 ok" in line for line in log)
    # JSON when asked for JSON: every reference resolves, each served kind is there
    doc = json.loads(kubectl(kube_target, kube_ns, "get", "--raw", "/openapi/v2").stdout)
    assert doc["swagger"] == "2.0"
    refs = set(re.findall(r'"#/definitions/([^"]+)"', json.dumps(doc)))
    assert refs and refs <= set(doc["definitions"])
    kinds = {(g["group"], g["version"], g["kind"]) for d in doc["definitions"].values()
             for g in d.get("x-kubernetes-group-version-kind") or []}
    assert {("apps", "v1", "Deployment"), ("autoscaling", "v1", "HorizontalPodAutoscaler"),
            ("autoscaling", "v2", "HorizontalPodAutoscaler")} <= kinds


def test_network_policies_served_as_upstream(kube_target, kube_ns):
    """networking.k8s.io/v1 NetworkPolicy: discovery, the production manifests applied,
    defaulting, `get` columns, `describe`, `explain`, and the API server's validation."""
    names = kubectl(kube_target, kube_ns, "api-resources", "--api-group=networking.k8s.io",
                    "-o", "name").stdout.split()
    assert "networkpolicies.networking.k8s.io" in names
    manifest = Path(__file__).resolve().parents[2] / "manifests/production/network-policies.yaml"
    kubectl(kube_target, kube_ns, "apply", "-f", "-", stdin=manifest.read_text())
    rows = [line.split() for line in kubectl(kube_target, kube_ns, "get", "netpol")
            .stdout.splitlines()]
    assert rows[0] == ["NAME", "POD-SELECTOR", "AGE"]
    assert rows[2][:2] == ["default-deny-ingress", "<none>"]
    assert ["postgres", "app=postgres"] in [r[:2] for r in rows]
    kubectl(kube_target, kube_ns, "apply", "-f", "-", stdin=textwrap.dedent("""\
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: egress-only-dns}
        spec:
          podSelector: {matchExpressions: [{key: tier, operator: In, values: [web, api]}]}
          egress: [{ports: [{port: 53, protocol: UDP}, {port: 53}]}]
        """))
    got = json.loads(kubectl(kube_target, kube_ns, "get", "netpol", "egress-only-dns", "-o",
                             "json").stdout)["spec"]
    assert got["policyTypes"] == ["Ingress", "Egress"]  # defaulted: egress rules present
    assert [p["protocol"] for p in got["egress"][0]["ports"]] == ["UDP", "TCP"]
    row = kubectl(kube_target, kube_ns, "get", "netpol", "egress-only-dns").stdout
    assert "tier in (api,web)" in row
    out = kubectl(kube_target, kube_ns, "describe", "netpol", "postgres").stdout
    for text in ("PodSelector:     app=postgres", "Allowing ingress traffic:",
                 "To Port: 5432/TCP", "PodSelector: app=ecommerce-backend",
                 "NamespaceSelector: kubernetes.io/metadata.name=monitoring",
                 "Not affecting egress traffic", "Policy Types: Ingress"):
        assert text in out, out
    out = kubectl(kube_target, kube_ns, "explain", "netpol.spec.ingress.ports.endPort").stdout
    assert "FIELD: endPort <integer>" in out
    bad = kubectl(kube_target, kube_ns, "apply", "-f", "-", check=False,
                  stdin=textwrap.dedent("""\
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: bad}
        spec:
          podSelector: {}
          policyTypes: [Ingress, Sideways]
          ingress:
          - from: [{ipBlock: {cidr: 10.0.0.0/8, except: [192.168.0.0/16]}, podSelector: {}}]
            ports: [{port: 80, endPort: 70}, {port: http, endPort: 90}]
        """))
    assert bad.returncode == 1
    for text in ('The NetworkPolicy "bad" is invalid:',
                 "spec.ingress[0].ports[0].endPort: Invalid value: 70: must be greater than "
                 "or equal to `port`",
                 "spec.ingress[0].ports[1].endPort: Invalid value: 90: may not be specified "
                 "when `port` is non-numeric",
                 'spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "192.168.0.0/16": '
                 "must be a strict subset of `cidr`",
                 "spec.ingress[0].from[0]: Forbidden: may not specify both ipBlock and "
                 "another peer",
                 'spec.policyTypes[1]: Unsupported value: "Sideways": supported values: '
                 '"Ingress", "Egress"'):
        assert text in bad.stderr, bad.stderr


def test_load_balancer_ip_is_empty_and_pending_as_on_kind(kube_target, kube_ns):
    """The lab text reads a LoadBalancer's IP with jsonpath: with no cloud controller (kind,
    minikube without `tunnel`, labcluster) it prints nothing and exits 0, and `get svc` says
    `<pending>`; the Service still gets its node port."""
    lb = re.sub(r"( *)ports: \[\{port: 80\}\]", r"\1type: LoadBalancer\n\1ports: [{port: 80}]",
                MANIFEST.split("---")[-1])
    kubectl(kube_target, kube_ns, "apply", "-f", "-", stdin=lb)
    out = kubectl(kube_target, kube_ns, "get", "svc", "web", "-o",
                  "jsonpath={.status.loadBalancer.ingress[0].ip}")
    assert (out.returncode, out.stdout) == (0, "")
    row = kubectl(kube_target, kube_ns, "get", "svc", "web").stdout.splitlines()[1].split()
    assert row[1] == "LoadBalancer" and row[3] == "<pending>", row
    assert re.fullmatch(r"80:3\d{4}/TCP", row[4]), row
