"""connect() paths against the session's labcluster: in-cluster (a service-account folder
made from the cluster's own credentials, as a pod would see it), kubeconfig with a named
context, show_kubectl, and use from inside a running event loop (Jupyter's case)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from incluster import fake_service_account
from lh_support import TEST_KUBECONFIG, Connected

import labhelpers
from labhelpers import cluster as cluster_module

pytestmark = pytest.mark.cluster


@pytest.fixture
def service_account(connected: Connected, tmp_path: Path, monkeypatch) -> Path:
    return fake_service_account(connected.lab.target.kubeconfig, "classroom-alice",
                                tmp_path / "serviceaccount", monkeypatch)


def test_in_cluster_comes_first_and_uses_the_pods_namespace(service_account: Path) -> None:
    target = cluster_module.find_target()  # auto: the service account wins over the rest
    assert target.kind == "in-cluster" and target.namespace == "classroom-alice"
    assert target.api.configuration.host.startswith("https://127.0.0.1:")
    assert target.api.configuration.ssl_ca_cert == str(service_account / "ca.crt")
    assert cluster_module.find_target("mine", cluster="in-cluster").namespace == "mine"
    if not TEST_KUBECONFIG:  # (would start a labcluster beside the cluster under test)
        assert cluster_module.find_target(cluster="labcluster").kind == "labcluster"  # forced


def test_in_cluster_requests_reach_the_api(service_account: Path, capsys) -> None:
    # the client's in-cluster loader sends "bearer <token>" (lower case; any case is valid)
    lab = labhelpers.connect()
    line = capsys.readouterr().out.strip()
    assert line.startswith("connected: in-cluster cluster, context -, namespace "
                           "classroom-alice, Kubernetes v1."), line
    assert lab.core.list_namespace().items is not None


def test_kubeconfig_with_a_named_context(connected: Connected, capsys) -> None:
    path, context = connected.lab.target.kubeconfig, connected.lab.target.context
    lab = labhelpers.connect("ns-x", cluster="kubeconfig", kubeconfig=path, context=context)
    assert capsys.readouterr().out.startswith("connected: kubeconfig cluster, context "
                                              f"{context}, namespace ns-x")
    assert lab.target.kind == "kubeconfig" and lab.pods().empty


def test_show_kubectl_prints_the_command_each_helper_stands_for(connected: Connected,
                                                                capsys) -> None:
    lab = labhelpers.Lab(connected.lab.target, show_kubectl=True).in_namespace("nothing-here")
    df = lab.pods()
    lab.services()
    lab.events(warnings_only=True)
    out = capsys.readouterr().out.splitlines()
    assert out == ["$ kubectl get pods -n nothing-here -o wide",
                   "$ kubectl get services -n nothing-here -o wide",
                   "$ kubectl get events -n nothing-here --sort-by=.lastTimestamp "
                   "--field-selector type=Warning"]
    assert df.attrs["kubectl"] == out[0][2:]


async def test_helpers_work_inside_a_running_event_loop(connected: Connected) -> None:
    assert asyncio.get_running_loop().is_running()  # as in a Jupyter cell
    lab = (labhelpers.connect(cluster="kubeconfig", kubeconfig=TEST_KUBECONFIG)
           if TEST_KUBECONFIG else labhelpers.connect(cluster="labcluster"))
    assert list(lab.services().columns)[:2] == ["name", "type"]
