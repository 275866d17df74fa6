"""The cluster under test: $LABCLUSTER_TEST_KUBECONFIG (any real cluster), else a fresh
labcluster in a temporary home, started once per session without the node (its pods stay
Pending unless a test plays the kubelet, see `kubelet_stand_in`).

Fixture names are prefixed `kube_` so they never clash with the node's fixtures.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client, config

import labcluster


@dataclass
class KubeTarget:
    kubeconfig: Path
    home: Path | None  # a labcluster home (None: an external cluster)
    env: dict[str, str]


@pytest.fixture(scope="session")
def kube_target() -> Iterator[KubeTarget]:
    external = os.environ.get("LABCLUSTER_TEST_KUBECONFIG")
    if external:
        yield KubeTarget(Path(external), None, {})
        return
    home = Path(tempfile.mkdtemp(prefix="labcluster-test-"))
    env = {"LABCLUSTER_NODE": "0", "LABCLUSTER_WATCH_HISTORY": "300"}
    path = labcluster.ensure_running(home, env=env)
    try:
        yield KubeTarget(path, home, env)
    finally:
        labcluster.stop(home)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def kube_api(kube_target: KubeTarget) -> client.ApiClient:
    return config.new_client_from_config(str(kube_target.kubeconfig))


@pytest.fixture(scope="session")
def kube_core(kube_api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(kube_api)


@pytest.fixture(scope="session")
def kube_apps(kube_api: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(kube_api)


@pytest.fixture
def kube_ns(kube_core: client.CoreV1Api) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards (without waiting)."""
    name = "lc-test-" + secrets.token_hex(3)
    kube_core.create_namespace({"apiVersion": "v1", "kind": "Namespace",
                                "metadata": {"name": name}})
    yield name
    with contextlib.suppress(client.ApiException):
        kube_core.delete_namespace(name)
