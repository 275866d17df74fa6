"""A pod reaches the API server as its ServiceAccount, as on a real cluster: the kubelet
writes the projected kube-api-access volume (a token bound to the pod, ca.crt, namespace)
where the container sees /var/run/secrets/kubernetes.io/serviceaccount, sets
KUBERNETES_SERVICE_HOST/PORT, and the `kubernetes` Service's ClusterIP:443 leads to the
API server, whose certificate names that address. The process inside is the real
`kubernetes` client's load_incluster_config, nothing prepared by the test."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator

import pytest
from e2e_helpers import Cluster, wait_for
from kubernetes import client

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

IMAGE = "ecommerce-lab/course-runner:0.1.0"
SCRIPT = r"""
import json, os
from kubernetes import client, config
SA = "/var/run/secrets/kubernetes.io/serviceaccount"
out = {"files": sorted(f for f in os.listdir(SA) if not f.startswith("..")),
       "namespace": open(SA + "/namespace").read(),
       "env": {k: v for k, v in os.environ.items() if k.startswith("KUBERNETES_")}}
try:
    open(SA + "/token", "a").close()
    out["token_writable"] = True
except OSError as exc:
    out["token_writable"] = exc.strerror
config.load_incluster_config()
core = client.CoreV1Api()
out["pods"] = [p.metadata.name for p in core.list_namespaced_pod(out["namespace"]).items]
try:
    core.list_namespaced_pod("kube-system")
    out["kube_system"] = 200
except client.ApiException as exc:
    out["kube_system"] = exc.status
    out["kube_system_message"] = json.loads(exc.body)["message"]
print("RESULT " + json.dumps(out), flush=True)
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with Cluster() as c:
        yield c


def test_a_pod_calls_the_api_as_its_service_account(cluster: Cluster) -> None:
    ns = "sa-e2e"
    cluster.core.create_namespace({"metadata": {"name": ns}})
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    rbac.create_namespaced_role(ns, {"metadata": {"name": "pod-reader"}, "rules": [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]})
    rbac.create_namespaced_role_binding(ns, {
        "metadata": {"name": "pod-reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                    "name": "pod-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}]})
    cluster.core.create_namespaced_pod(ns, {
        "metadata": {"name": "reader"},
        "spec": {"restartPolicy": "Never", "containers": [
            {"name": "main", "image": IMAGE, "command": ["python", "-c", SCRIPT]}]}})

    def finished():
        pod = cluster.core.read_namespaced_pod("reader", ns)
        return pod if pod.status.phase in ("Succeeded", "Failed") else None
    pod = wait_for(finished, 120, "the reader pod to finish")
    log = cluster.core.read_namespaced_pod_log("reader", ns)
    assert pod.status.phase == "Succeeded", log
    (line,) = [x for x in log.splitlines() if x.startswith("RESULT ")]
    out = json.loads(line.removeprefix("RESULT "))
    assert out["files"] == ["ca.crt", "namespace", "token"]
    assert out["namespace"] == ns
    assert out["token_writable"] in ("Read-only file system", "Permission denied")
    svc = cluster.core.read_namespaced_service("kubernetes", "default")
    assert out["env"]["KUBERNETES_SERVICE_HOST"] == svc.spec.cluster_ip
    assert out["env"]["KUBERNETES_SERVICE_PORT"] == "443"
    assert out["env"]["KUBERNETES_SERVICE_PORT_HTTPS"] == "443"
    assert out["env"]["KUBERNETES_PORT_443_TCP"] == f"tcp://{svc.spec.cluster_ip}:443"
    assert out["pods"] == ["reader"]
    assert out["kube_system"] == 403
    assert out["kube_system_message"] == (
        f'pods is forbidden: User "system:serviceaccount:{ns}:default" cannot list '
        'resource "pods" in API group "" in the namespace "kube-system"')


def test_the_serving_certificate_names_what_a_pod_dials(cluster: Cluster) -> None:
    """Verified by the CA a pod gets (kube-root-ca.crt), for the Service's names."""
    from cryptography import x509

    ca = cluster.core.read_namespaced_config_map("kube-root-ca.crt", "default").data["ca.crt"]
    ip = cluster.core.read_namespaced_service("kubernetes", "default").spec.cluster_ip
    pem = (cluster.home / "server.crt").read_bytes()
    san = x509.load_pem_x509_certificate(pem).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert {"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"} <= set(
        san.get_values_for_type(x509.DNSName))
    assert ip in {str(a) for a in san.get_values_for_type(x509.IPAddress)}
    ctx = ssl.create_default_context(cadata=ca)
    port = int(cluster.api.configuration.host.rsplit(":", 1)[1])
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname="kubernetes.default.svc") as tls:
        assert tls.version()
