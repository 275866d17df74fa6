"""End to end, what the node does when a pod or Service asks for more than it can have:
an emptyDir past its `sizeLimit` gets the pod evicted (as the kubelet's eviction manager
does), and a NodePort another program holds becomes a Warning event on the Service.
The emptyDir check runs every second here (default 5 s)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from e2e_helpers import Cluster, wait_for
from kubernetes import client

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with Cluster(env={"LABCLUSTER_EVICTION_SECONDS": "1"}) as c:
        yield c


def _events(cluster: Cluster, kind: str, name: str) -> list[client.CoreV1Event]:
    return [e for e in cluster.core.list_namespaced_event("default").items
            if e.involved_object.kind == kind and e.involved_object.name == name]


def _writes(kib: int) -> str:
    """A shell script (busybox here has few applets: sh builtins only) that writes about
    `kib` KiB into the working directory, then sleeps."""
    return ("s=x; for k in 1 2 3 4 5 6 7 8 9 10; do s=$s$s; done; i=0; "
            f'while [ $i -lt {kib} ]; do echo "$s"; i=$((i+1)); done > blob && sleep 3600')


def _pod(name: str, script: str, size_limit: str) -> dict:
    """Containers have no mount namespace: the shell writes through its workingDir."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
                     "containers": [{"name": "writer", "image": "busybox:1.36",
                                     "command": ["sh", "-c", script],
                                     "workingDir": "/scratch",
                                     "volumeMounts": [{"name": "scratch",
                                                       "mountPath": "/scratch"}]}],
                     "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": size_limit}}]}}


def test_emptydir_past_its_size_limit_evicts_the_pod(cluster: Cluster) -> None:
    # 2 MiB into a 1Mi volume, then keep running: only the eviction can end it
    cluster.core.create_namespaced_pod("default", _pod("hog", _writes(2048), "1Mi"))
    # the same within its limit: must keep running
    cluster.core.create_namespaced_pod("default", _pod("tidy", _writes(100), "1Mi"))
    pod = wait_for(lambda: (p := cluster.core.read_namespaced_pod("hog", "default"))
                   .status.phase == "Failed" and p, 60, "the pod evicted")
    message = 'Usage of EmptyDir volume "scratch" exceeds the limit "1Mi". '
    assert (pod.status.reason, pod.status.message) == ("Evicted", message)
    target = [c for c in pod.status.conditions if c.type == "DisruptionTarget"]
    assert target and (target[0].status, target[0].reason) == ("True", "TerminationByKubelet")
    # killed, not restarted
    state = pod.status.container_statuses[0]
    assert state.state.terminated is not None and state.restart_count == 0
    evicted = wait_for(lambda: [e for e in _events(cluster, "Pod", "hog")
                                if e.reason == "Evicted"], 10, "the Evicted event")
    assert (evicted[0].type, evicted[0].message) == ("Warning", message)
    assert evicted[0].source.component == "kubelet"
    tidy = wait_for(lambda: (p := cluster.core.read_namespaced_pod("tidy", "default"))
                    .status.phase == "Running" and p, 30, "the pod within its limit Running")
    assert tidy.status.reason is None
    assert not [e for e in _events(cluster, "Pod", "tidy") if e.reason == "Evicted"]
    # the evicted pod stays (Failed) until deleted, then goes as any pod does
    cluster.core.delete_namespaced_pod("hog", "default", grace_period_seconds=0)
    wait_for(lambda: "hog" not in [p.metadata.name for p in
                                   cluster.core.list_namespaced_pod("default").items],
             30, "the evicted pod deleted")


def _free_node_port() -> tuple[socket.socket, int]:
    """A listening socket on 127.0.0.1 at a port in the NodePort range (30000-32767)."""
    for port in range(31900, 32700):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        s.listen()
        return s, port
    raise AssertionError("no free port in 31900-32700")


def test_a_node_port_another_program_holds_is_a_warning_event(cluster: Cluster) -> None:
    squatter, port = _free_node_port()
    try:
        cluster.core.create_namespaced_service("default", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "taken"},
            "spec": {"type": "NodePort", "selector": {"app": "none"},
                     "ports": [{"name": "http", "port": 80, "nodePort": port}]}})
        # a NodePort that is free: no event for it
        cluster.core.create_namespaced_service("default", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "free"},
            "spec": {"type": "NodePort", "selector": {"app": "none"},
                     "ports": [{"port": 80}]}})
        events = wait_for(lambda: [e for e in _events(cluster, "Service", "taken")
                                   if e.type == "Warning"], 30, "a Warning on the Service")
        assert events[0].reason == "FailedToBindNodePort"
        assert events[0].source.component == "kube-proxy"
        assert f"127.0.0.1:{port}" in events[0].message
        assert 'nodePort for default/taken:http' in events[0].message
        assert "address already in use" in events[0].message
        free = cluster.core.read_namespaced_service("free", "default").spec.ports[0].node_port
        wait_for(lambda: _listens(free), 30, "the free NodePort bound")
        assert not [e for e in _events(cluster, "Service", "free") if e.type == "Warning"]
    finally:
        squatter.close()
    # once the port is free the proxy binds it (it retries)
    wait_for(lambda: _listens(port), 30, "the NodePort bound after the squatter left")


def _listens(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0
