"""Notebook 9's live part (issue 16): production's NetworkPolicies and HPA tried on the
session's deployed lab and taken away again. On labcluster the node enforces the policies
and the HPA controller acts, so the tables must show it — and leave the lab as it was."""

from __future__ import annotations

import contextlib
import io

import pytest
from kubernetes import client

from labhelpers import production_live

pytestmark = [pytest.mark.timeout(300)]


def test_policies_drop_the_forbidden_arrow_only_and_are_removed(deployed) -> None:
    lab, _ = deployed
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        table = production_live.network_policies(lab)
    rows = {(r["from"], r["to"]): r for r in table.to_dict("records")}
    assert rows[("ecommerce-frontend", "PostgreSQL :5432")]["with production's policies"] == \
        "timed out (dropped)"
    assert rows[("ecommerce-frontend", "backend :5000")]["with production's policies"] == \
        "connected"
    assert rows[("ecommerce-backend", "PostgreSQL :5432")]["with production's policies"] == \
        "connected"
    assert set(table["without them"]) == {"connected"}
    assert not client.NetworkingV1Api(lab.api).list_namespaced_network_policy(
        lab.namespace).items
    printed = [line for line in out.getvalue().splitlines() if line.startswith("$ ")]
    if lab.show_kubectl:  # apply, the dropped connect (pasted while in force), delete
        assert [p.split()[2] for p in printed] == ["apply", "exec", "delete"]
        assert printed[1].endswith("http://postgres:5432/")


def test_the_hpa_scales_to_its_minimum_then_the_lab_is_put_back(deployed) -> None:
    lab, _ = deployed
    with contextlib.redirect_stdout(io.StringIO()):
        table = production_live.autoscaler(lab, timeout=90)
    values = dict(zip(table["what"], table["value"], strict=True))
    assert values["replicas wanted by the HPA"] == "3"
    assert "below Spec.MinReplicas" in values["why (its last event)"]
    assert not client.AutoscalingV2Api(lab.api).list_namespaced_horizontal_pod_autoscaler(
        lab.namespace).items
    assert lab.apps.read_namespaced_deployment("ecommerce-backend",
                                               lab.namespace).spec.replicas == 2
