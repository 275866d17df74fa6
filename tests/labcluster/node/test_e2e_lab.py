"""End to end: the lab's manifests on a labcluster with its node, official client only.

One cluster for the whole module: the lab is applied once (timed), the broken scenarios
run side by side in their own namespaces (only the objects each fault needs, so the
node's 2 cores fit them all), and the last test takes the cluster down and checks the
process table.
"""

from __future__ import annotations

import copy
import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml
from e2e_helpers import (
    Cluster,
    call,
    container_processes,
    create_all,
    is_ready,
    service_get,
    wait_for,
    waiting_reason,
)
from kubernetes import client
from kubernetes.stream import portforward, stream

from labcluster.node import metrics, standins
from labhelpers.manifests.kustomize import build, set_namespace

NS = "ecommerce-lab"
ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with Cluster() as c:
        yield c


@pytest.fixture(scope="module")
def lab(cluster: Cluster) -> Cluster:
    start = time.monotonic()
    create_all(cluster.api, build(ROOT / "manifests/lab"))

    def all_ready() -> bool:
        pods = cluster.core.list_namespaced_pod(NS).items
        return len(pods) == 7 and all(is_ready(p) for p in pods)

    wait_for(all_ready, 90, "all 7 lab pods Ready")
    cluster.ready_seconds = time.monotonic() - start
    print(f"\nlab apply → 7 pods Ready: {cluster.ready_seconds:.1f} s")
    return cluster


def _scenario(name: str, ns: str, keep: set[tuple[str, str]],
              replicas: int | None = 1) -> list[dict[str, Any]]:
    objs = build(ROOT / "manifests/broken" / name)
    out = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}]
    for o in set_namespace(copy.deepcopy(objs), ns):
        if (o["kind"], o["metadata"]["name"]) in keep:
            if replicas is not None and o["kind"] == "Deployment":
                o["spec"]["replicas"] = replicas
            for c in (o.get("spec", {}).get("template", {}).get("spec", {})
                      .get("containers") or []):
                # the faults are not about CPU; small requests keep them all on 2 cores
                c.setdefault("resources", {}).setdefault("requests", {})["cpu"] = "10m"
            out.append(o)
    return out


CONFIG = {("ConfigMap", "ecommerce-config"), ("Secret", "postgres-secret")}
BACKEND = {("Deployment", "ecommerce-backend"), ("Service", "ecommerce-backend")}
SCENARIOS = {
    "wrong-db-host": CONFIG | BACKEND | {("StatefulSet", "postgres"), ("Service", "postgres")},
    "oom-backend": CONFIG | BACKEND,
    "missing-secret-key": CONFIG | BACKEND,
    "bad-image-tag": CONFIG | {("Deployment", "cart-service")},
    "missing-storageclass": CONFIG | {("StatefulSet", "postgres"), ("Service", "postgres")},
    "readiness-404": CONFIG | BACKEND,
    "service-selector": CONFIG | {("Deployment", "cart-service"), ("Service", "cart-service")},
}


@pytest.fixture(scope="module")
def broken(lab: Cluster) -> dict[str, str]:
    """Every scenario applied at once; name → namespace."""
    namespaces = {}
    for name, keep in SCENARIOS.items():
        ns = f"broken-{name}"[:40]
        create_all(lab.api, _scenario(name, ns, keep))
        namespaces[name] = ns
    return namespaces


def _pods(c: Cluster, ns: str, app: str) -> list[client.V1Pod]:
    return c.core.list_namespaced_pod(ns, label_selector=f"app={app}").items


# ---------------------------------------------------------------------------- the lab
def test_node_reports_this_machine(cluster: Cluster) -> None:
    node = wait_for(lambda: cluster.core.list_node().items, 10, "the node")[0]
    cap = metrics.capacity()
    assert node.status.capacity["cpu"] == cap.as_quantities()["cpu"]
    assert node.status.capacity["memory"] == metrics.memory_quantity(cap.memory_bytes)
    assert node.status.allocatable["memory"] == metrics.memory_quantity(
        metrics.allocatable().memory_bytes)
    classes = client.StorageV1Api(cluster.api).list_storage_class().items
    assert [sc.metadata.name for sc in classes] == ["standard"]


def test_all_lab_pods_ready(lab: Cluster) -> None:
    pods = lab.core.list_namespaced_pod(NS).items
    assert len(pods) == 7 and all(is_ready(p) for p in pods)
    ips = {p.status.pod_ip for p in pods}
    assert len(ips) == 7 and all(ip.startswith("127.") for ip in ips)
    for p in pods:
        assert p.spec.node_name == "labcluster"
        assert p.status.container_statuses[0].image_id.startswith("labcluster://")
    pvc = lab.core.read_namespaced_persistent_volume_claim("data-postgres-0", NS)
    assert pvc.status.phase == "Bound" and pvc.status.capacity["storage"] == "1Gi"
    pv = lab.core.read_persistent_volume(pvc.spec.volume_name)
    assert pv.spec.claim_ref.uid == pvc.metadata.uid and pv.status.phase == "Bound"
    assert pv.spec.storage_class_name == "standard"
    assert (Path(pv.spec.host_path.path) / "pgdata" / "PG_VERSION").exists()
    reasons = {e.reason for e in lab.core.list_namespaced_event(NS).items}
    assert {"Scheduled", "Pulled", "Created", "Started"} <= reasons


def test_health_through_service_proxy(lab: Cluster) -> None:
    health = service_get(lab.api, NS, "ecommerce-backend:http", "api/health")
    assert health["database"] == "connected" and health["redis"] == "connected", health
    # and through nginx (the frontend Service), which resolves the backend by name
    via_nginx = service_get(lab.api, NS, "ecommerce-frontend", "api/health")
    assert via_nginx["database"] == "connected", via_nginx


def test_cluster_ip_and_node_port_listen(lab: Cluster) -> None:
    ip = lab.core.read_namespaced_service("ecommerce-backend", NS).spec.cluster_ip
    with urllib.request.urlopen(f"http://{ip}:5000/api/health", timeout=10) as r:
        assert json.load(r)["database"] == "connected"
    # the lab's optional NodePort step (not in the kustomization)
    # with the nodePort left to the API: another cluster on this machine may hold 30080
    nodeport = yaml.safe_load((ROOT / "manifests/lab/frontend-nodeport.yaml").read_text())
    del nodeport["spec"]["ports"][0]["nodePort"]
    created = lab.core.create_namespaced_service(NS, nodeport)
    port = created.spec.ports[0].node_port
    assert 30000 <= port <= 32767

    def health() -> bytes:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as r:
                return r.read()
        except OSError:
            return b""
    assert wait_for(health, 10, "the NodePort") == b"ok"
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
        assert b"<html" in r.read().lower()


def test_kube_proxy_is_restarted(lab: Cluster) -> None:
    table = f"{lab.home}/node/proxy.json"

    def proxies() -> list[psutil.Process]:
        return [p for p in psutil.process_iter(["cmdline"]) if table in (p.info["cmdline"] or [])]
    first = wait_for(proxies, 10, "the kube-proxy")[0]
    first.kill()
    first.wait(5)
    ip = lab.core.read_namespaced_service("ecommerce-backend", NS).spec.cluster_ip

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"http://{ip}:5000/health", timeout=5) as r:
                return r.status == 200
        except OSError:
            return False
    wait_for(answers, 15, "the ClusterIP answering again")
    assert [p.pid for p in proxies()] != [first.pid]


def test_exec_nslookup_in_backend(lab: Cluster) -> None:
    pod = _pods(lab, NS, "ecommerce-backend")[0].metadata.name
    pg_ip = lab.core.read_namespaced_pod("postgres-0", NS).status.pod_ip
    out = stream(lab.core.connect_get_namespaced_pod_exec, pod, NS,
                 command=["nslookup", "postgres"], stderr=True, stdin=False, stdout=True,
                 tty=False)
    assert "postgres.ecommerce-lab.svc.cluster.local" in out and pg_ip in out, out
    dns_ip = lab.core.read_namespaced_service("kube-dns", "kube-system").spec.cluster_ip
    assert out.startswith(f"Server:\t\t{dns_ip}\nAddress:\t{dns_ip}#53\n"), out  # on the wire
    out = stream(lab.core.connect_get_namespaced_pod_exec, pod, NS,
                 command=["nslookup", "postgres-0.postgres"], stderr=True, stdin=False,
                 stdout=True, tty=False)
    assert "postgres-0.postgres.ecommerce-lab.svc.cluster.local" in out and pg_ip in out, out
    ws = stream(lab.core.connect_get_namespaced_pod_exec, pod, NS,
                command=["nslookup", "postgres-db"], stderr=True, stdin=False, stdout=True,
                tty=False, _preload_content=False)
    ws.run_forever(timeout=20)
    assert ws.returncode == 1


def test_exec_with_stdin(lab: Cluster) -> None:
    pod = _pods(lab, NS, "ecommerce-backend")[0].metadata.name
    ws = stream(lab.core.connect_get_namespaced_pod_exec, pod, NS,
                command=["sh", "-c", "read line; echo got $line in $HOSTNAME; echo oops >&2; "
                         "exit 3"], stderr=True, stdin=True, stdout=True, tty=False,
                _preload_content=False)
    ws.write_stdin("hello\n")
    ws.run_forever(timeout=20)
    assert ws.read_stdout().strip() == f"got hello in {pod}"
    assert ws.read_stderr().strip() == "oops"
    assert ws.returncode == 3


def test_portforward_to_backend(lab: Cluster) -> None:
    pod = _pods(lab, NS, "ecommerce-backend")[0].metadata.name
    pf = portforward(lab.core.connect_get_namespaced_pod_portforward, pod, NS, ports="5000")
    sock = pf.socket(5000)
    sock.setblocking(True)
    sock.settimeout(10)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while b"alive" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    sock.close()
    pf.close()
    assert data.startswith(b"HTTP/1.1 200") and pod.encode() in data, data


def test_backend_logs(lab: Cluster) -> None:
    pod = _pods(lab, NS, "ecommerce-backend")[0].metadata.name
    text = lab.core.read_namespaced_pod_log(pod, NS)
    assert "Connected to Postgres at postgres:5432" in text
    tail = lab.core.read_namespaced_pod_log(pod, NS, tail_lines=1, timestamps=True)
    assert len(tail.strip().splitlines()) == 1 and tail[:4].isdigit()
    resp = lab.core.read_namespaced_pod_log(pod, NS, follow=True, _preload_content=False)
    first = resp.read(64)
    resp.release_conn()
    assert first and text.startswith(first.decode("utf-8", "replace")[:20])


def test_metrics_show_every_pod(lab: Cluster) -> None:
    custom = client.CustomObjectsApi(lab.api)
    pods = custom.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", NS, "pods")
    assert len(pods["items"]) == 7
    # a first sample averages since start: the backends' start-up shows as CPU
    backends = [i for i in pods["items"] if i["metadata"]["name"].startswith("ecommerce-backend")]
    assert all(int(i["containers"][0]["usage"]["cpu"][:-1]) > 0 for i in backends)
    for item in pods["items"]:
        assert item["containers"][0]["usage"]["memory"].endswith("Ki")
        assert int(item["containers"][0]["usage"]["memory"][:-2]) > 1000
    nodes = custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes")
    assert nodes["items"][0]["metadata"]["name"] == "labcluster"


def test_scale_backend_spreads_requests(lab: Cluster) -> None:
    lab.apps.patch_namespaced_deployment_scale("ecommerce-backend", NS, {"spec": {"replicas": 3}})
    try:
        def three() -> bool:
            ep = lab.core.read_namespaced_endpoints("ecommerce-backend", NS)
            return sum(len(s.addresses or []) for s in ep.subsets or []) == 3
        wait_for(three, 60, "3 backend endpoints")
        seen = {service_get(lab.api, NS, "ecommerce-backend:http", "api/health")["pod"]
                for _ in range(12)}
        assert len(seen) >= 2, seen
        # through the ClusterIP proxy too, via nginx
        via_nginx = {service_get(lab.api, NS, "ecommerce-frontend", "api/health")["pod"]
                     for _ in range(12)}
        assert len(via_nginx) >= 2, via_nginx
    finally:
        lab.apps.patch_namespaced_deployment_scale("ecommerce-backend", NS,
                                                   {"spec": {"replicas": 2}})


def test_order_survives_postgres_restart(lab: Cluster) -> None:
    base = f"/api/v1/namespaces/{NS}/services/ecommerce-frontend/proxy/api"
    products = call(lab.api, "GET", base + "/products?limit=1")[1]
    sid = "e2e" + uuid.uuid4().hex[:8]
    status, _ = call(lab.api, "POST", f"{base}/cart/{sid}/items",
                     {"product_id": products[0]["id"], "quantity": 1})
    assert status in (200, 201)
    status, order = call(lab.api, "POST", base + "/orders", {"session_id": sid})
    assert status == 201, order
    old_uid = lab.core.read_namespaced_pod("postgres-0", NS).metadata.uid
    # its socket dir's path is too long here: a stand-in in the temp dir, linked from the pod
    sockets = lab.home / "node" / "pods" / old_uid / "containers" / "postgres" / "run"
    stand_in = standins.short_dir(sockets, "pgsock")
    assert stand_in != sockets and sockets.readlink() == stand_in and stand_in.is_dir()
    lab.core.delete_namespaced_pod("postgres-0", NS)

    def back() -> bool:
        pod = lab.core.read_namespaced_pod("postgres-0", NS)
        return pod.metadata.uid != old_uid and is_ready(pod)
    wait_for(back, 90, "postgres-0 back and Ready")
    wait_for(lambda: not stand_in.exists(), 10, f"the deleted pod's {stand_in} removed")
    wait_for(lambda: call(lab.api, "GET", f"{base}/orders/{order['id']}")[0] == 200, 30,
             "the order readable again")
    again = call(lab.api, "GET", f"{base}/orders/{order['id']}")[1]
    assert again["id"] == order["id"]


def test_claim_lifecycle(lab: Cluster) -> None:
    lab.core.create_namespaced_persistent_volume_claim("default", {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "scratch"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Mi"}},
                 "storageClassName": "standard"}})
    pvc = wait_for(lambda: (c := lab.core.read_namespaced_persistent_volume_claim(
        "scratch", "default")).status.phase == "Bound" and c, 20, "scratch Bound")
    path = Path(lab.core.read_persistent_volume(pvc.spec.volume_name).spec.host_path.path)
    assert path.is_dir() and str(path).startswith(str(lab.home))
    # (the API answers this delete with a Status, which the typed client cannot parse)
    lab.core.delete_namespaced_persistent_volume_claim("scratch", "default",
                                                       _preload_content=False)
    wait_for(lambda: not path.exists() and not [
        v for v in lab.core.list_persistent_volume().items
        if v.metadata.name == pvc.spec.volume_name], 20, "volume and directory reclaimed")


def test_unschedulable_pod_stays_pending(lab: Cluster) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "too-big"},
           "spec": {"containers": [{"name": "c", "image": "busybox:1.36",
                                    "command": ["sleep", "3600"],
                                    "resources": {"requests": {"memory": "4000Gi"}}}]}}
    lab.core.create_namespaced_pod("default", pod)

    def failed() -> list[client.CoreV1Event]:
        return [e for e in lab.core.list_namespaced_event("default").items
                if e.involved_object.name == "too-big" and e.reason == "FailedScheduling"]
    events = wait_for(failed, 20, "FailedScheduling")
    assert "0/1 nodes are available: 1 Insufficient memory." in events[0].message
    assert lab.core.read_namespaced_pod("too-big", "default").status.phase == "Pending"
    lab.core.delete_namespaced_pod("too-big", "default")


def test_liveness_failure_restarts_the_container(lab: Cluster) -> None:
    lab.core.create_namespaced_pod("default", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "unlively"},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
            "name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"],
            "livenessProbe": {"exec": {"command": ["sh", "-c", "echo sick; exit 1"]},
                              "periodSeconds": 1, "failureThreshold": 2}}]}})
    try:
        pod = wait_for(lambda: (p := lab.core.read_namespaced_pod("unlively", "default"))
                       .status.container_statuses and p.status.container_statuses[0]
                       .restart_count >= 1 and p, 30, "a restart")
        assert pod.status.container_statuses[0].last_state.terminated is not None
        events = {(e.reason, e.message) for e in lab.core.list_namespaced_event("default").items
                  if e.involved_object.name == "unlively"}
        assert ("Unhealthy", "Liveness probe failed: sick") in events
        assert ("Killing", "Container c failed liveness probe, will be restarted") in events
    finally:
        lab.core.delete_namespaced_pod("unlively", "default")


def test_liveness_is_not_asked_while_the_pod_terminates(lab: Cluster) -> None:
    """The kubelet stops a pod's liveness (and startup) probes once it is being deleted
    (worker.go: "Pod deletion requested, setting probe result to success"): a process
    that stops answering during its graceful shutdown gets no `Liveness probe failed`."""
    lab.core.create_namespaced_pod("default", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "slow-to-stop"},
        "spec": {"terminationGracePeriodSeconds": 8, "containers": [{
            "name": "c", "image": "busybox:1.36",
            "command": ["sh", "-c", "trap '' TERM; sleep 3600"],
            "livenessProbe": {"exec": {"command": ["sh", "-c", "echo sick; exit 1"]},
                              "periodSeconds": 1, "failureThreshold": 1000}}]}})

    def failures() -> int:
        return sum(e.count or 1 for e in lab.core.list_namespaced_event("default").items
                   if e.involved_object.name == "slow-to-stop" and e.reason == "Unhealthy")
    wait_for(lambda: failures() >= 2, 30, "liveness failures while it runs")
    before = failures()
    lab.core.delete_namespaced_pod("slow-to-stop", "default")

    def gone() -> bool:
        try:
            lab.core.read_namespaced_pod("slow-to-stop", "default")
        except client.ApiException as exc:
            return exc.status == 404
        return False
    wait_for(gone, 40, "the pod gone after its 8 s grace period")
    # a probe each second until the deletion reaches the node, none in the 8 s after
    assert failures() <= before + 2, (before, failures())


def test_init_containers_run_first_and_gate_the_pod(lab: Cluster) -> None:
    def pod(name: str, init_cmd: str, policy: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                "spec": {"restartPolicy": policy,
                         "initContainers": [{"name": "wait", "image": "busybox:1.36",
                                             "command": ["sh", "-c", init_cmd]}],
                         "containers": [{"name": "main", "image": "busybox:1.36",
                                         "command": ["sleep", "3600"]}]}}
    lab.core.create_namespaced_pod("default", pod("init-ok", "sleep 1; echo ready-now", "Always"))
    lab.core.create_namespaced_pod("default", pod("init-bad", "echo nope; exit 3", "Never"))
    try:
        ok = wait_for(lambda: is_ready(p := lab.core.read_namespaced_pod("init-ok", "default"))
                      and p, 30, "init-ok Ready")
        init = ok.status.init_container_statuses[0]
        assert init.state.terminated.reason == "Completed"
        main = ok.status.container_statuses[0].state.running.started_at
        assert main >= init.state.terminated.finished_at
        assert lab.core.read_namespaced_pod_log("init-ok", "default",
                                                container="wait").strip() == "ready-now"
        bad = wait_for(lambda: (p := lab.core.read_namespaced_pod("init-bad", "default"))
                       .status.phase == "Failed" and p, 30, "init-bad Failed")
        assert bad.status.init_container_statuses[0].state.terminated.exit_code == 3
        assert bad.status.container_statuses[0].state.waiting.reason == "PodInitializing"
        initialized = [c for c in bad.status.conditions if c.type == "Initialized"][0]
        assert initialized.status == "False" and initialized.reason == "ContainersNotInitialized"
    finally:
        lab.core.delete_namespaced_pod("init-ok", "default")
        lab.core.delete_namespaced_pod("init-bad", "default")


# ---------------------------------------------------------------------------- policies
def _exec(c: Cluster, ns: str, pod: str, command: list[str]) -> tuple[int, str]:
    """(exit code, stdout+stderr) of a command in a pod."""
    ws = stream(c.core.connect_get_namespaced_pod_exec, pod, ns, command=command,
                stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
    ws.run_forever(timeout=30)
    return ws.returncode, ws.read_all()


def _policies(c: Cluster, docs: list[dict[str, Any]]) -> list[str]:
    """Create NetworkPolicies in NS; wait until the node's table isolates some pod."""
    net = client.NetworkingV1Api(c.api)
    for doc in docs:
        net.create_namespaced_network_policy(NS, doc)
    wait_for(lambda: "\niso " in (c.home / "node" / "netpol").read_text(), 10,
             "the node's NetworkPolicy table")
    return [d["metadata"]["name"] for d in docs]


def _delete_policies(c: Cluster) -> None:
    client.NetworkingV1Api(c.api).delete_collection_namespaced_network_policy(NS)
    wait_for(lambda: "\niso " not in (c.home / "node" / "netpol").read_text(), 10,
             "the node's NetworkPolicy table emptied")


# curl gives up (exit 28) before the node's drop time (2 s) ends the connect: one cause
CURL_PG = ["curl", "-sS", "--connect-timeout", "1", "http://postgres:5432/"]


def test_production_network_policies_are_enforced(lab: Cluster) -> None:
    """manifests/production's policies on the lab: the frontend cannot reach PostgreSQL
    (a dropped SYN: curl's connect timeout), the backend can; the shop still works through
    the frontend; monitoring (namespaceSelector) reaches the backend only; deleting the
    policies opens the path again in the running pods."""
    docs = list(yaml.safe_load_all(
        (ROOT / "manifests/production/network-policies.yaml").read_text()))
    frontend = _pods(lab, NS, "ecommerce-frontend")[0].metadata.name
    backend = _pods(lab, NS, "ecommerce-backend")[0].metadata.name
    before = {p.metadata.uid: p.status.container_statuses[0].restart_count
              for p in lab.core.list_namespaced_pod(NS).items}
    lab.core.create_namespace({"metadata": {"name": "monitoring"}})
    lab.core.create_namespaced_pod("monitoring", {
        "metadata": {"name": "scraper"}, "spec": {"containers": [
            {"name": "main", "image": "busybox:1.36", "command": ["sleep", "3600"]}]}})
    _policies(lab, docs)
    try:
        code, out = _exec(lab, NS, frontend, CURL_PG)
        assert code == 28 and "Failed to connect to postgres port 5432" in out, out
        code, out = _exec(lab, NS, backend, ["psql", "-h", "postgres", "-U", "ecomuser",
                                             "-d", "ecomdb", "-tAc", "SELECT 1"])
        assert code == 0 and out.strip() == "1", out
        # host → frontend (any source on 80) → backend → postgres: all allowed arrows
        products = service_get(lab.api, NS, "ecommerce-frontend", "api/products")
        assert isinstance(products, list) and products, products
        # the API server's proxy is outside the pod network: the backend admits only the
        # frontend and monitoring, so its dial times out as on a real cluster
        status, body = call(lab.api, "GET",
                            f"/api/v1/namespaces/{NS}/services/ecommerce-backend:http"
                            "/proxy/api/health")
        assert status == 503 and "i/o timeout" in str(body), body
        # port-forward is the kubelet dialing: not subject to NetworkPolicy, as upstream
        pf = portforward(lab.core.connect_get_namespaced_pod_portforward, backend, NS,
                         ports="5000")
        sock = pf.socket(5000)
        sock.setblocking(True)
        sock.settimeout(10)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        sock.close()
        pf.close()
        wait_for(lambda: is_ready(lab.core.read_namespaced_pod("scraper", "monitoring")), 30,
                 "the monitoring pod")
        code, out = _exec(lab, "monitoring", "scraper", [
            "wget", "-qO-", "-T", "5", f"http://ecommerce-backend.{NS}:5000/api/health"])
        assert code == 0 and "healthy" in out, out
        code, out = _exec(lab, "monitoring", "scraper", [
            "wget", "-qO-", "-T", "5", f"http://postgres.{NS}:5432/"])
        assert code != 0, out
    finally:
        _delete_policies(lab)
        lab.core.delete_namespace("monitoring")
    code, out = _exec(lab, NS, frontend, CURL_PG)
    assert code == 52, out  # connected; PostgreSQL does not speak HTTP: "Empty reply"
    after = {p.metadata.uid: p.status.container_statuses[0].restart_count
             for p in lab.core.list_namespaced_pod(NS).items}
    assert {k: v for k, v in after.items() if k in before} == before  # no pod restarted


def test_default_deny_egress_and_a_named_port(lab: Cluster) -> None:
    """Egress isolation of the frontend, open only to the backend's port named `http`:
    the backend answers, the cart (its `http` is 8080, but not selected) does not."""
    frontend = _pods(lab, NS, "ecommerce-frontend")[0].metadata.name
    _policies(lab, [{
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "frontend-egress"},
        "spec": {"podSelector": {"matchLabels": {"app": "ecommerce-frontend"}},
                 "policyTypes": ["Egress"],
                 "egress": [{"to": [{"podSelector": {"matchLabels": {
                     "app": "ecommerce-backend"}}}], "ports": [{"port": "http"}]}]}}])
    try:
        code, out = _exec(lab, NS, frontend, [
            "curl", "-sS", "-m", "10", "http://ecommerce-backend:5000/api/health"])
        assert code == 0 and "healthy" in out, out
        code, out = _exec(lab, NS, frontend, [
            "curl", "-sS", "--connect-timeout", "1", "http://cart-service:8080/health"])
        assert code == 28, out
    finally:
        _delete_policies(lab)


# ---------------------------------------------------------------------------- broken
def test_wrong_db_host(lab: Cluster, broken: dict[str, str]) -> None:
    ns = broken["wrong-db-host"]

    def logged() -> str:
        pods = _pods(lab, ns, "ecommerce-backend")
        if not pods or pods[0].status.phase != "Running":
            return ""
        text = lab.core.read_namespaced_pod_log(pods[0].metadata.name, ns)
        return text if "postgres-db" in text else ""
    text = wait_for(logged, 60, "backend logs naming postgres-db")
    assert "Name or service not known" in text or "getaddrinfo" in text or \
        "could not translate" in text, text
    pod = _pods(lab, ns, "ecommerce-backend")[0]
    assert pod.status.phase == "Running" and not is_ready(pod)


def test_oom_backend(lab: Cluster, broken: dict[str, str]) -> None:
    ns = broken["oom-backend"]

    def oom() -> bool:
        for p in _pods(lab, ns, "ecommerce-backend"):
            for cs in p.status.container_statuses or []:
                last = cs.last_state.terminated if cs.last_state else None
                if last and last.reason == "OOMKilled" and last.exit_code == 137:
                    return cs.restart_count >= 1
        return False
    wait_for(oom, 60, "OOMKilled, exit 137, restarted")
    reasons = {e.reason for e in lab.core.list_namespaced_event(ns).items}
    assert "OOMKilling" in reasons
    crashloop = wait_for(lambda: [p for p in _pods(lab, ns, "ecommerce-backend")
                                  if waiting_reason(p) == "CrashLoopBackOff"], 60,
                         "CrashLoopBackOff")[0]
    assert "back-off 10s" in crashloop.status.container_statuses[0].state.waiting.message
    previous = lab.core.read_namespaced_pod_log(crashloop.metadata.name, ns, previous=True)
    assert previous  # the killed instance's log


def test_readiness_404(lab: Cluster, broken: dict[str, str]) -> None:
    ns = broken["readiness-404"]
    wanted = "Readiness probe failed: HTTP probe failed with statuscode: 404"
    wait_for(lambda: [e for e in lab.core.list_namespaced_event(ns).items
                      if e.reason == "Unhealthy" and e.message == wanted], 60, wanted)
    pod = _pods(lab, ns, "ecommerce-backend")[0]
    assert pod.status.phase == "Running" and not is_ready(pod)
    assert pod.status.container_statuses[0].restart_count == 0


def test_service_selector(lab: Cluster, broken: dict[str, str]) -> None:
    ns = broken["service-selector"]
    wait_for(lambda: any(p.status.pod_ip for p in _pods(lab, ns, "cart-service")), 30,
             "a cart pod with an IP")
    ep = wait_for(lambda: lab.core.read_namespaced_endpoints("cart-service", ns), 20, "endpoints")
    assert not ep.subsets
    status, body = call(lab.api, "GET", f"/api/v1/namespaces/{ns}/services/cart-service/proxy/")
    assert status == 503 and 'no endpoints available for service "cart-service"' in \
        body["message"]


def test_missing_secret_key(lab: Cluster, broken: dict[str, str]) -> None:
    ns = broken["missing-secret-key"]
    pod = wait_for(lambda: [p for p in _pods(lab, ns, "ecommerce-backend")
                            if waiting_reason(p) == "CreateContainerConfigError"], 30,
                   "CreateContainerConfigError")[0]
    msg = pod.status.container_statuses[0].state.waiting.message
    assert msg == f"couldn't find key postgres-password in Secret {ns}/postgres-secret"


def test_bad_image_tag(lab: Cluster, broken: dict[str, str]) -> None:
    ns = broken["bad-image-tag"]
    pod = wait_for(lambda: [p for p in _pods(lab, ns, "cart-service")
                            if waiting_reason(p) == "ImagePullBackOff"], 30,
                   "ImagePullBackOff")[0]
    assert "storefront:v0.1.0" in pod.status.container_statuses[0].state.waiting.message
    assert pod.status.phase == "Pending"


def test_missing_storageclass(lab: Cluster, broken: dict[str, str]) -> None:
    ns = broken["missing-storageclass"]
    pvc = wait_for(lambda: lab.core.read_namespaced_persistent_volume_claim(
        "data-postgres-0", ns), 20, "the claim")
    events = wait_for(lambda: [e for e in lab.core.list_namespaced_event(ns).items
                               if e.reason == "ProvisioningFailed"], 20, "ProvisioningFailed")
    assert 'storageclass.storage.k8s.io "fast-ssd" not found' in events[0].message
    pvc = lab.core.read_namespaced_persistent_volume_claim("data-postgres-0", ns)
    assert pvc.status.phase == "Pending"
    pod = wait_for(lambda: [e for e in lab.core.list_namespaced_event(ns).items
                            if e.reason == "FailedScheduling"], 20, "FailedScheduling")
    assert "unbound immediate PersistentVolumeClaims" in pod[0].message
    assert lab.core.read_namespaced_pod("postgres-0", ns).spec.node_name is None


# ---------------------------------------------------------------------------- teardown
def test_namespace_deletion_stops_its_processes(lab: Cluster, broken: dict[str, str]) -> None:
    ns = broken["wrong-db-host"]
    # postgres-0 of this scenario runs (only the backend is broken): the check below means
    # something only if its processes were found first — an empty list has no survivors.
    pg = wait_for(lambda: [p for p in lab.core.list_namespaced_pod(ns).items
                           if p.metadata.name == "postgres-0" and is_ready(p)], 90,
                  "postgres-0 of the scenario Ready")[0]
    uids = {p.metadata.uid for p in lab.core.list_namespaced_pod(ns).items}

    # A container's processes run in its pod's dir (…/node/pods/<uid>/…), except
    # PostgreSQL's, which run in the data volume (…/node/volumes/<ns>/data-postgres-0/…):
    # matching pod uids alone never found them.
    claim_dir = f"{lab.home}/node/volumes/{ns}/"
    procs, of_postgres = [], 0
    for p in container_processes(str(lab.home)):
        try:
            where = " ".join(p.cmdline()) + " " + p.cwd()
        except psutil.Error:  # ended while we looked (the backend crash-loops)
            continue
        if any(u in where for u in uids) or claim_dir in where:
            procs.append(p)
            of_postgres += claim_dir in where or pg.metadata.uid in where
    assert of_postgres, "no process of postgres-0 found: the check below would pass on nothing"
    lab.core.delete_namespace(ns)
    wait_for(lambda: not lab.core.list_namespaced_pod(ns).items, 60, "pods of the namespace gone")
    assert not [p for p in procs if p.is_running() and p.status() != "zombie"]


def test_cluster_down_leaves_no_process(lab: Cluster) -> None:
    procs = container_processes(str(lab.home))
    assert len(procs) >= 7
    table = f"{lab.home}/node/proxy.json"
    proxies = [p for p in psutil.process_iter(["cmdline"]) if table in (p.info["cmdline"] or [])]
    assert len(proxies) == 1  # the kube-proxy process
    procs += proxies
    stand_ins = [link.readlink() for link in (lab.home / "node" / "pods").rglob("run")
                 if link.is_symlink()]
    assert stand_ins and all(s.is_dir() for s in stand_ins)  # postgres-0's socket dir
    lab.down()
    alive = [p for p in procs if p.is_running() and p.status() != "zombie"]
    assert not alive, [(p.pid, p.cmdline()) for p in alive]
    assert not container_processes(str(lab.home))
    assert [s for s in stand_ins if s.exists()] == [], "stand-ins left in the temp dir"
