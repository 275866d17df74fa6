"""``python -m labhelpers.quickstart`` on the session's labcluster (after the lab tests
cleaned up, so the node runs one lab at a time)."""

from __future__ import annotations

import pytest
from kubernetes import client
from lh_support import TEST_KUBECONFIG, Connected

from labhelpers import quickstart

pytestmark = [pytest.mark.timeout(300), pytest.mark.cluster]
#: The session's cluster: quickstart's default (labcluster) would start another one.
CLUSTER = ["--cluster", "kubeconfig", "--kubeconfig", TEST_KUBECONFIG] if TEST_KUBECONFIG else []


def test_quickstart_refuses_a_foreign_namespace(connected: Connected, capsys) -> None:
    core = connected.lab.core
    ns = "lh-quickstart-foreign"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    try:
        assert quickstart.main(["--namespace", ns, *CLUSTER]) == 2
        assert "adopt=True" in capsys.readouterr().err
        assert core.list_namespaced_pod(ns).items == []
    finally:
        core.delete_namespace(ns)


def test_quickstart_deploys_checks_and_says_how_to_open_it(connected: Connected,
                                                           capsys) -> None:
    ns = "lh-quickstart"
    try:
        assert quickstart.main(["--namespace", ns, *CLUSTER]) == 0
        out = capsys.readouterr().out
        assert "13/13 criteria pass" in out
        assert out.count("Running") >= 7 and "ecommerce-frontend" in out
        server = connected.lab.api.configuration.host
        assert f"{server}/api/v1/namespaces/{ns}/services/ecommerce-frontend/proxy/" in out
        assert "kubectl --kubeconfig " in out and "port-forward svc/ecommerce-frontend" in out
    finally:
        connected.lab.in_namespace(ns).cleanup()
