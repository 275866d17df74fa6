"""A stand-in for a pod's service-account folder, pointing at a test cluster: how the tests
make labhelpers believe it runs in a classroom learner's pod (in-cluster target) without a
real JupyterHub. The CA is the test cluster's own; the token is the admin's, or a real
ServiceAccount's (``service_account_token``: labcluster enforces RBAC on it); only the
folder is fake."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml
from kubernetes import client, utils
from kubernetes import config as kube_config

from labhelpers import cluster as cluster_module

CLASSROOM = Path(__file__).resolve().parents[1] / "manifests" / "classroom"


def apply_classroom(kubeconfig: str | Path, learners: list[str]) -> None:
    """What the instructor applies (docs/classroom.md): cluster.yaml once, learner.yaml per
    learner namespace (the documented `sed`), as the admin. Existing objects are kept."""
    api = kube_config.new_client_from_config(str(kubeconfig))
    docs = list(yaml.safe_load_all((CLASSROOM / "cluster.yaml").read_text()))
    for ns in learners:
        text = (CLASSROOM / "learner.yaml").read_text().replace("lab-learner", ns)
        docs += list(yaml.safe_load_all(text))
    for doc in docs:
        if not doc:
            continue
        try:
            utils.create_from_dict(api, doc)
        except utils.FailToCreateError as exc:
            if any(e.status != 409 for e in exc.api_exceptions):
                raise


def service_account_token(kubeconfig: str | Path, namespace: str, name: str) -> str:
    """A real token for ServiceAccount ``namespace/name`` (TokenRequest, as the kubelet asks
    for the projected kube-api-access volume)."""
    api = kube_config.new_client_from_config(str(kubeconfig))
    made = client.CoreV1Api(api).create_namespaced_service_account_token(
        name, namespace, {"spec": {"expirationSeconds": 3600}})
    return made.status.token


def fake_service_account(kubeconfig: str | Path, namespace: str, folder: Path,
                         monkeypatch: pytest.MonkeyPatch, token: str | None = None) -> Path:
    """Write token, ca.crt and namespace like the kubelet does, point labhelpers at the
    folder and set ``KUBERNETES_SERVICE_HOST``/``PORT`` to the cluster's address."""
    config = yaml.safe_load(Path(kubeconfig).read_text())
    cluster = config["clusters"][0]["cluster"]
    host, port = cluster["server"].removeprefix("https://").rsplit(":", 1)
    sa = folder
    sa.mkdir()
    (sa / "token").write_text(token or config["users"][0]["user"]["token"])
    (sa / "ca.crt").write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    (sa / "namespace").write_text(namespace + "\n")
    monkeypatch.setattr(cluster_module, "SA_DIR", sa)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)
    return sa
