"""``python -m labcourse.quickstart`` on the session's labcluster (after the lab tests
cleaned up, so the node runs one lab at a time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from kubernetes import client
from lh_support import TEST_KUBECONFIG, Connected

from labcourse import quickstart

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
        # exit 1 (labhelpers README): deployed, but a criterion fails — here a liveness
        # probe failed a minute ago (an event in the 5-minute window, as a kubelet writes it)
        core = connected.lab.core
        backend = next(p for p in core.list_namespaced_pod(ns).items
                       if p.metadata.name.startswith("ecommerce-backend-"))
        when = datetime.now(UTC) - timedelta(minutes=1)
        core.create_namespaced_event(ns, client.CoreV1Event(
            metadata=client.V1ObjectMeta(name=f"{backend.metadata.name}.liveness"),
            involved_object=client.V1ObjectReference(
                kind="Pod", namespace=ns, name=backend.metadata.name, uid=backend.metadata.uid),
            reason="Unhealthy", type="Warning", count=1, first_timestamp=when,
            last_timestamp=when, source=client.V1EventSource(component="kubelet"),
            message="Liveness probe failed: HTTP probe failed with statuscode: 500"))
        assert quickstart.main(["--namespace", ns, *CLUSTER]) == 1
        out = capsys.readouterr().out
        assert "12/13 criteria pass" in out
        assert f"{backend.metadata.name} ×1; last: Liveness probe failed" in out
    finally:
        connected.lab.in_namespace(ns).cleanup()
