"""A stand-in for a pod's service-account folder, pointing at a test cluster: how the tests
make labhelpers believe it runs in a classroom learner's pod (in-cluster target) without a
real JupyterHub. The token and CA are the test cluster's own; only the folder is fake."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from labhelpers import cluster as cluster_module


def fake_service_account(kubeconfig: str | Path, namespace: str, folder: Path,
                         monkeypatch: pytest.MonkeyPatch) -> Path:
    """Write token, ca.crt and namespace like the kubelet does, point labhelpers at the
    folder and set ``KUBERNETES_SERVICE_HOST``/``PORT`` to the cluster's address."""
    config = yaml.safe_load(Path(kubeconfig).read_text())
    cluster = config["clusters"][0]["cluster"]
    host, port = cluster["server"].removeprefix("https://").rsplit(":", 1)
    sa = folder
    sa.mkdir()
    (sa / "token").write_text(config["users"][0]["user"]["token"])
    (sa / "ca.crt").write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    (sa / "namespace").write_text(namespace + "\n")
    monkeypatch.setattr(cluster_module, "SA_DIR", sa)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)
    return sa
