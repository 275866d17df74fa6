"""End to end, one small cluster: the node's finer behaviours (storage defaulting,
read-only mounts, volume updates, heartbeats, privileged ports), official client only.
The volume sync and heartbeat periods are 1 s here (default 10 s) to keep tests short.

The cluster runs with LABCLUSTER_PRIVILEGED_PORTS=remap: the path a non-root node takes
(mybinder.org), forced while we are root, so every test here also runs on shifted ports.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest
from e2e_helpers import Cluster, call, is_ready, wait_for, waiting_reason
from kubernetes import client
from kubernetes.stream import portforward, stream

import labcluster
from labcluster.node.ports import DEFAULT_OFFSET

pytestmark = pytest.mark.timeout(300)
FAST = {"LABCLUSTER_PRIVILEGED_PORTS": "remap", "LABCLUSTER_VOLUME_SYNC_SECONDS": "1",
        "LABCLUSTER_NODE_HEARTBEAT_SECONDS": "1"}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with Cluster(env=FAST) as c:
        yield c


def _claim(name: str, cls: str | None = None) -> dict:
    spec: dict = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Mi"}}}
    if cls is not None:
        spec["storageClassName"] = cls
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
            "spec": spec}


# ---------------------------------------------------------------------------- storage
def test_claim_without_class_gets_the_default_class(cluster: Cluster) -> None:
    created = cluster.core.create_namespaced_persistent_volume_claim(
        "default", _claim("no-class"))
    assert created.spec.storage_class_name == "standard"  # set at admission, in the answer
    bound = wait_for(lambda: (c := cluster.core.read_namespaced_persistent_volume_claim(
        "no-class", "default")).status.phase == "Bound" and c, 20, "no-class Bound")
    pv = cluster.core.read_persistent_volume(bound.spec.volume_name)
    assert pv.spec.storage_class_name == "standard"


def test_newest_default_class_wins_and_explicit_class_is_kept(cluster: Cluster) -> None:
    storage = client.StorageV1Api(cluster.api)
    storage.create_storage_class({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "fast", "annotations": {
            "storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "labcluster.io/host-dir"})
    try:
        newer = cluster.core.create_namespaced_persistent_volume_claim(
            "default", _claim("newer-default"))
        assert newer.spec.storage_class_name == "fast"
        missing = cluster.core.create_namespaced_persistent_volume_claim(
            "default", _claim("explicit-missing", "no-such-class"))
        assert missing.spec.storage_class_name == "no-such-class"
        events = wait_for(lambda: [e for e in cluster.core.list_namespaced_event(
            "default").items if e.involved_object.name == "explicit-missing"
            and e.reason == "ProvisioningFailed"], 20, "ProvisioningFailed")
        assert 'storageclass.storage.k8s.io "no-such-class" not found' in events[0].message
        assert cluster.core.read_namespaced_persistent_volume_claim(
            "explicit-missing", "default").status.phase == "Pending"
        none = cluster.core.create_namespaced_persistent_volume_claim(
            "default", _claim("empty-class", ""))
        assert none.spec.storage_class_name == ""  # "" means no class: not defaulted
    finally:
        storage.delete_storage_class("fast", _preload_content=False)


# ---------------------------------------------------------------------------- ports < 1024
def _listening() -> set[tuple[str, int]]:
    return {(c.laddr.ip, c.laddr.port) for c in psutil.net_connections("tcp")
            if c.status == psutil.CONN_LISTEN}


def _exec(cluster: Cluster, pod: str, argv: list[str]) -> str:
    return stream(cluster.core.connect_get_namespaced_pod_exec, pod, "default", command=argv,
                  stderr=True, stdin=False, stdout=True, tty=False)


def test_port_80_without_privileges_is_shifted_but_the_api_says_80(cluster: Cluster) -> None:
    web = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "web", "labels": {"app": "web"}},
           "spec": {"containers": [{
               "name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}],
               "readinessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 1}}]}}
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 80}]}}
    client_pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client"},
                  "spec": {"containers": [{"name": "c", "image": "busybox:1.36",
                                           "command": ["sleep", "3600"]}]}}
    cluster.core.create_namespaced_pod("default", web)
    cluster.core.create_namespaced_service("default", svc)
    cluster.core.create_namespaced_pod("default", client_pod)
    pod = wait_for(lambda: is_ready(p := cluster.core.read_namespaced_pod("web", "default"))
                   and p, 60, "web Ready through its httpGet probe on port 80")
    wait_for(lambda: cluster.core.read_namespaced_pod("client", "default").status.phase
             == "Running", 30, "client Running")
    ip = pod.status.pod_ip
    shifted = 80 + DEFAULT_OFFSET
    # the API says 80 everywhere; the process really listens on the shifted port
    assert pod.spec.containers[0].ports[0].container_port == 80
    ep = wait_for(lambda: cluster.core.read_namespaced_endpoints("web", "default").subsets,
                  20, "web endpoints")
    assert ep[0].ports[0].port == 80 and ep[0].addresses[0].ip == ip
    cluster_ip = cluster.core.read_namespaced_service("web", "default").spec.cluster_ip
    wait_for(lambda: {(ip, shifted), (cluster_ip, shifted)} <= _listening(), 20,
             "nginx and kube-proxy on the shifted port")
    assert (ip, 80) not in _listening() and (cluster_ip, 80) not in _listening()
    # a pod reaches the Service and the pod on "80" (the shim shifts its connect)
    for url in ("http://web/", "http://web.default.svc.cluster.local:80/", f"http://{ip}/"):
        assert "Welcome to nginx" in _exec(cluster, "client", ["wget", "-qO-", url]), url
    # through the API server: services/proxy, pods/proxy, portforward
    status, body = call(cluster.api, "GET", "/api/v1/namespaces/default/services/web/proxy/")
    assert status == 200 and "Welcome to nginx" in body
    status, body = call(cluster.api, "GET", "/api/v1/namespaces/default/pods/web:80/proxy/")
    assert status == 200 and "Welcome to nginx" in body
    pf = portforward(cluster.core.connect_get_namespaced_pod_portforward, "web", "default",
                     ports="80")
    sock = pf.socket(80)
    sock.setblocking(True)
    sock.settimeout(10)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    sock.close()
    pf.close()
    assert data.startswith(b"HTTP/1.1 200") and b"Welcome to nginx" in data


# ---------------------------------------------------------------------------- volumes
def _sh(cluster: Cluster, pod: str, script: str, container: str | None = None) -> tuple[int, str]:
    ws = stream(cluster.core.connect_get_namespaced_pod_exec, pod, "default",
                command=["sh", "-c", script], container=container, stderr=True, stdin=False,
                stdout=True, tty=False, _preload_content=False)
    ws.run_forever(timeout=20)
    return ws.returncode, ws.read_stdout() + ws.read_stderr()


def _sleeper(name: str, mount: dict) -> dict:
    """Containers have no mount namespace: a shell sees a mount through its workingDir."""
    return {"name": name, "image": "busybox:1.36", "command": ["sleep", "3600"],
            "workingDir": mount["mountPath"], "volumeMounts": [mount]}


def test_read_only_mounts_cannot_be_written(cluster: Cluster) -> None:
    cluster.core.create_namespaced_config_map("default", {
        "metadata": {"name": "ro-cfg"}, "data": {"greeting": "hello"}})
    cluster.core.create_namespaced_persistent_volume_claim("default", _claim("ro-data"))
    seed = _sleeper("seed", {"name": "data", "mountPath": "/data"})
    seed["command"] = ["sh", "-c", "echo seeded > file"]
    cluster.core.create_namespaced_pod("default", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ro"},
        "spec": {
            "initContainers": [seed],
            "containers": [
                _sleeper("cfg", {"name": "cfg", "mountPath": "/etc/cfg"}),  # ro always
                _sleeper("data", {"name": "data", "mountPath": "/data", "readOnly": True}),
                _sleeper("scratch", {"name": "scratch", "mountPath": "/scratch"})],
            "volumes": [{"name": "cfg", "configMap": {"name": "ro-cfg"}},
                        {"name": "data", "persistentVolumeClaim": {"claimName": "ro-data"}},
                        {"name": "scratch", "emptyDir": {}}]}})
    wait_for(lambda: cluster.core.read_namespaced_pod("ro", "default").status.phase ==
             "Running", 60, "ro Running")
    assert _sh(cluster, "ro", "cat greeting", "cfg") == (0, "hello")
    assert _sh(cluster, "ro", "cat file", "data") == (0, "seeded\n")
    for container, name in (("cfg", "greeting"), ("cfg", "new"), ("data", "file"),
                            ("data", "new")):
        code, out = _sh(cluster, "ro", f"echo x > {name}", container)
        assert code != 0 and "Permission denied" in out, (container, name, code, out)
    assert _sh(cluster, "ro", "echo x > f && cat f", "scratch") == (0, "x\n")
    # the claim itself stays writable for other mounts: only this view is read-only
    pvc = cluster.core.read_namespaced_persistent_volume_claim("ro-data", "default")
    path = cluster.core.read_persistent_volume(pvc.spec.volume_name).spec.host_path.path
    with open(f"{path}/file") as f:
        assert f.read() == "seeded\n"


def test_configmap_edits_reach_the_volume_not_the_env(cluster: Cluster) -> None:
    cluster.core.create_namespaced_config_map("default", {
        "metadata": {"name": "live"}, "data": {"greeting": "v1", "old-key": "x"}})
    cluster.core.create_namespaced_pod("default", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "live"},
        "spec": {"containers": [{
            **_sleeper("c", {"name": "cfg", "mountPath": "/etc/cfg"}),
            "env": [{"name": "GREETING", "valueFrom": {"configMapKeyRef": {
                "name": "live", "key": "greeting"}}}]}],
            "volumes": [{"name": "cfg", "configMap": {"name": "live"}}]}})
    wait_for(lambda: cluster.core.read_namespaced_pod("live", "default").status.phase ==
             "Running", 60, "live Running")
    assert _sh(cluster, "live", "cat greeting; echo; echo $GREETING") == (0, "v1\nv1\n")
    code, listing = _sh(cluster, "live", "echo .* *")  # (busybox here has no ls)
    assert "..data" in listing.split()  # the kubelet's atomic layout
    cluster.core.patch_namespaced_config_map("live", "default", {
        "data": {"greeting": "v2", "old-key": None, "new-key": "y"}})
    wait_for(lambda: _sh(cluster, "live", "cat greeting")[1] == "v2", 30,
             "the edit in the mounted file")
    assert _sh(cluster, "live", "cat new-key; echo; echo *") == (0, "y\ngreeting new-key\n")
    assert _sh(cluster, "live", "echo $GREETING") == (0, "v1\n")  # env: fixed at start


# ---------------------------------------------------------------------------- heartbeat
def _ready(node: client.V1Node) -> client.V1NodeCondition:
    return next(c for c in node.status.conditions if c.type == "Ready")


def test_lease_and_ready_heartbeat_are_renewed(cluster: Cluster) -> None:
    coordination = client.CoordinationV1Api(cluster.api)
    lease = wait_for(lambda: coordination.read_namespaced_lease("labcluster", "kube-node-lease"),
                     20, "the node's Lease")
    assert lease.spec.holder_identity == "labcluster" and lease.spec.lease_duration_seconds == 40
    beat = _ready(cluster.core.read_node("labcluster"))
    assert beat.status == "True"
    # (the first renewal may wait for the schema import: seconds on a loaded machine)
    wait_for(lambda: coordination.read_namespaced_lease(
        "labcluster", "kube-node-lease").spec.renew_time > lease.spec.renew_time, 30,
        "the Lease renewed")
    later = wait_for(lambda: (r := _ready(cluster.core.read_node("labcluster")))
                     .last_heartbeat_time > beat.last_heartbeat_time and r, 30,
                     "a newer Ready heartbeat")
    assert later.last_transition_time == beat.last_transition_time  # still the same Ready


def test_node_goes_not_ready_without_its_node_component() -> None:
    with Cluster(env=FAST) as c:
        wait_for(lambda: _ready(c.core.read_node("labcluster")).status == "True", 20, "Ready")
        c.down()
        # the next server runs without the node: the Node says what the node said last
        quiet = {"LABCLUSTER_NODE": "0", "LABCLUSTER_NODE_MONITOR_GRACE_SECONDS": "2"}
        core = client.CoreV1Api(Cluster.connect(labcluster.ensure_running(c.home, env=quiet)))
        c.up = True
        gone = _ready(core.read_node("labcluster"))
        assert (gone.status, gone.reason, gone.message) == (
            "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
        # a kubelet that posts Ready once and then goes quiet: the node controller notices
        node = core.read_node("labcluster")
        stand_in = _ready(node)
        stand_in.status, stand_in.reason = "True", "KubeletReady"
        stand_in.last_heartbeat_time = stand_in.last_transition_time = datetime.now(UTC)
        core.replace_node_status("labcluster", node)
        assert _ready(core.read_node("labcluster")).status == "True"
        wait_for(lambda: _ready(core.read_node("labcluster")).status == "Unknown", 20,
                 "NotReady after the 2 s grace period")


# ---------------------------------------------------------------------------- attach
def test_attach_to_a_shell_with_stdin(cluster: Cluster) -> None:
    """What `kubectl run -i --rm -- sh` does: a pod with stdin, attached over websocket."""
    cluster.core.create_namespaced_pod("default", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "shell"},
        "spec": {"restartPolicy": "Never", "containers": [{
            "name": "shell", "image": "busybox:1.36", "command": ["sh"], "stdin": True,
            "stdinOnce": True}]}})
    wait_for(lambda: cluster.core.read_namespaced_pod("shell", "default").status.phase ==
             "Running", 60, "shell Running")
    ws = stream(cluster.core.connect_get_namespaced_pod_attach, "shell", "default",
                container="shell", stdin=True, stdout=True, stderr=True, tty=False,
                _preload_content=False)
    ws.write_stdin("echo hello from $HOSTNAME\n")
    out = ""
    deadline = time.monotonic() + 20
    while "hello from shell" not in out and time.monotonic() < deadline:
        ws.update(timeout=1)
        out += ws.read_stdout()
    assert "hello from shell" in out
    ws.write_stdin("exit 3\n")
    ws.run_forever(timeout=20)
    assert ws.returncode == 3
    pod = wait_for(lambda: (p := cluster.core.read_namespaced_pod("shell", "default"))
                   .status.phase == "Failed" and p, 30, "the pod Failed with exit 3")
    assert pod.status.container_statuses[0].state.terminated.exit_code == 3


# ---------------------------------------------------------------------------- lifecycle hooks
# Each container notes what happens to it in <mode>.order (a hostPath the test reads after
# the pod is gone): "prestop" when its preStop hook reaches it, "TERM <time>" at SIGTERM.
HOOK_APP = r'''
import http.server, os, signal, sys, time
mode = sys.argv[1]
def note(text):
    with open(f"{mode}.order", "a") as f:
        f.write(text + "\n")
def on_term(*_):
    note(f"TERM {time.time()}")
    if mode != "stubborn":
        os._exit(0)
signal.signal(signal.SIGTERM, on_term)
note("started")
if mode == "http":
    class Hook(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            note("prestop")
            self.send_response(200)
            self.end_headers()
        def log_message(self, *args):
            pass
    http.server.HTTPServer(("0.0.0.0", 8081), Hook).serve_forever()
while True:
    time.sleep(0.1)
'''


def _hook_container(mode: str, hooks: dict, **extra) -> dict:
    return {"name": mode, "image": "storefront:0.1.0", "command": ["python", "app.py", mode],
            "workingDir": "/hooks", "volumeMounts": [{"name": "hooks", "mountPath": "/hooks"}],
            "lifecycle": hooks, **extra}


def _hook_pod(name: str, folder: str, grace: int, containers: list[dict]) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"terminationGracePeriodSeconds": grace, "containers": containers,
                     "volumes": [{"name": "hooks", "hostPath": {"path": folder}}]}}


def _notes(folder, mode: str) -> list[str]:
    path = folder / f"{mode}.order"
    return path.read_text().split("\n")[:-1] if path.exists() else []


def _events(cluster: Cluster, pod: str, reason: str) -> list:
    return [e for e in cluster.core.list_namespaced_event("default").items
            if e.involved_object.name == pod and e.reason == reason]


def _delete_and_wait_gone(cluster: Cluster, name: str) -> float:
    before = time.time()
    cluster.core.delete_namespaced_pod(name, "default")
    wait_for(lambda: name not in {p.metadata.name for p in cluster.core.list_namespaced_pod(
        "default").items}, 60, f"pod {name} gone")
    return before


@pytest.fixture
def hook_dir(cluster: Cluster):
    """A folder the hook pods write their notes into (a hostPath): world-writable and outside
    pytest's 0700 temp root, because containers run as their image's user, never root; and
    the default namespace at Pod Security level privileged meanwhile (hostPath is refused
    under the default baseline)."""
    folder = Path(tempfile.mkdtemp(prefix="hooks-"))
    folder.chmod(0o777)
    label = "pod-security.kubernetes.io/enforce"
    cluster.core.patch_namespace("default", {"metadata": {"labels": {label: "privileged"}}})
    try:
        yield folder
    finally:
        cluster.core.patch_namespace("default", {"metadata": {"labels": {label: None}}})
        shutil.rmtree(folder, ignore_errors=True)


def test_pre_stop_hooks_run_before_sigterm(cluster: Cluster, hook_dir) -> None:
    """exec, httpGet and sleep preStop hooks, one per container (killed in parallel, as
    upstream): each container sees its hook before its SIGTERM; postStart runs first."""
    (hook_dir / "app.py").write_text(HOOK_APP)
    note = "import sys; open(sys.argv[1] + '.order', 'a').write(sys.argv[2] + '\\n')"
    cluster.core.create_namespaced_pod("default", _hook_pod("hooks", str(hook_dir), 30, [
        _hook_container("exec", {
            "postStart": {"exec": {"command": ["python", "-c", note, "exec", "poststart"]}},
            "preStop": {"exec": {"command": ["python", "-c", note, "exec", "prestop"]}}}),
        _hook_container("http", {"preStop": {"httpGet": {"path": "/prestop", "port": 8081}}},
                        readinessProbe={"tcpSocket": {"port": 8081}, "periodSeconds": 1}),
        _hook_container("sleep", {"preStop": {"sleep": {"seconds": 2}}})]))
    wait_for(lambda: is_ready(cluster.core.read_namespaced_pod("hooks", "default")), 60,
             "hooks Ready")
    deleted_at = _delete_and_wait_gone(cluster, "hooks")
    exec_notes = _notes(hook_dir, "exec")
    # postStart races the entrypoint, as upstream's (no order between the two)
    assert sorted(exec_notes[:2]) == ["poststart", "started"]
    assert [n.split()[0] for n in exec_notes[-2:]] == ["prestop", "TERM"]
    assert [n.split()[0] for n in _notes(hook_dir, "http")] == ["started", "prestop", "TERM"]
    sleep_notes = _notes(hook_dir, "sleep")
    assert [n.split()[0] for n in sleep_notes] == ["started", "TERM"]
    # order, not speed: SIGTERM came after the 2 s sleep that began after the delete call
    assert float(sleep_notes[-1].split()[1]) >= deleted_at + 2
    assert not _events(cluster, "hooks", "FailedPreStopHook")


def test_grace_period_bounds_a_hook_and_a_failed_hook_is_an_event(cluster: Cluster,
                                                                  hook_dir) -> None:
    """A hook longer than terminationGracePeriodSeconds is cut short: SIGTERM goes out
    anyway, then SIGKILL ends a process that ignores it; a failing hook is a Warning
    `FailedPreStopHook` with upstream's message, and the container still stops."""
    (hook_dir / "app.py").write_text(HOOK_APP)
    cluster.core.create_namespaced_pod("default", _hook_pod("hooks-bounded", str(hook_dir), 2, [
        _hook_container("stubborn", {"preStop": {"exec": {"command": ["sleep", "600"]}}}),
        _hook_container("failing", {"preStop": {"exec": {"command": ["sh", "-c", "exit 3"]}}}),
    ]))
    wait_for(lambda: (p := cluster.core.read_namespaced_pod("hooks-bounded", "default"))
             .status.container_statuses and all(
                 s.state.running for s in p.status.container_statuses), 60, "both running")
    wait_for(lambda: _notes(hook_dir, "stubborn") and _notes(hook_dir, "failing"), 30,
             "both processes up")
    _delete_and_wait_gone(cluster, "hooks-bounded")  # long before the 600 s hook would end
    assert [n.split()[0] for n in _notes(hook_dir, "stubborn")] == ["started", "TERM"]
    assert [n.split()[0] for n in _notes(hook_dir, "failing")] == ["started", "TERM"]
    failed = wait_for(lambda: _events(cluster, "hooks-bounded", "FailedPreStopHook"), 10,
                      "FailedPreStopHook")
    assert (failed[0].type, failed[0].message) == ("Warning", "PreStopHook failed")


# ---------------------------------------------------------------------------- containment
# Measured before (issue 17): a busybox pod read /etc/shadow, the home's kubeconfig and
# another pod's /proc/<pid>/environ, and could signal the API server: pods ran as root.
def _busybox(name: str, env: dict[str, str] | None = None, **spec) -> dict:
    container = {"name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"],
                 "env": [{"name": k, "value": v} for k, v in (env or {}).items()]}
    container.update(spec.pop("container", {}))
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [container], **spec}}


def _running(cluster: Cluster, name: str) -> None:
    wait_for(lambda: cluster.core.read_namespaced_pod(name, "default").status.phase ==
             "Running", 60, f"{name} Running")


@pytest.mark.skipif(os.geteuid() != 0, reason="the uid switch needs a root node")
def test_a_read_only_mount_over_64_mib_is_a_config_error(cluster: Cluster, hook_dir) -> None:
    """node README: a readOnly hostPath/PVC/emptyDir mount is copied up to 64 MiB, else the
    container waits in CreateContainerConfigError (test_node_volumes.py: the boundary)."""
    with open(hook_dir / "big", "wb") as f:  # sparse: its size counts, not its blocks
        f.truncate(64 * 2**20 + 1)
    cluster.core.create_namespaced_pod("default", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ro-big"},
        "spec": {"containers": [_sleeper("c", {"name": "big", "mountPath": "/big",
                                               "readOnly": True})],
                 "volumes": [{"name": "big", "hostPath": {"path": str(hook_dir)}}]}})
    try:
        pod = wait_for(lambda: waiting_reason(p := cluster.core.read_namespaced_pod(
            "ro-big", "default")) == "CreateContainerConfigError" and p, 30,
            "CreateContainerConfigError")
        message = pod.status.container_statuses[0].state.waiting.message
        assert f"{64 * 2**20 + 1} bytes is more than the {64 * 2**20} bytes" in message
        assert pod.status.phase == "Pending"
    finally:
        cluster.core.delete_namespaced_pod("ro-big", "default", grace_period_seconds=0)


def test_crash_loop_restarts_at_once_then_backs_off_10s_then_20s(cluster: Cluster) -> None:
    """node README: CrashLoopBackOff's first restart is at once, then 10 s doubling (the
    whole schedule to 5 min and its reset: test_node_backoff.py, on the kubelet's function).
    A container that exits 1 at once: the first back-off the pod ever shows comes after the
    second exit (restartCount 2) and says 10s; after it, the next says 20s."""
    cluster.core.create_namespaced_pod("default", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "crasher"},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36",
                                 "command": ["sh", "-c", "exit 1"]}]}})
    seen: list[tuple[int, str]] = []

    def backoff(n: int) -> str:
        cs = cluster.core.read_namespaced_pod("crasher", "default").status.container_statuses
        waiting = cs[0].state.waiting if cs and cs[0].state else None
        if waiting and waiting.reason == "CrashLoopBackOff":
            if (cs[0].restart_count, waiting.message) not in seen:
                seen.append((cs[0].restart_count, waiting.message))
            return n == cs[0].restart_count and waiting.message
        return ""

    try:
        uid = cluster.core.read_namespaced_pod("crasher", "default").metadata.uid
        first = wait_for(lambda: backoff(2), 30, "back-off after the second exit", 0.1)
        assert first == (f"back-off 10s restarting failed container=c "
                         f"pod=crasher_default({uid})")
        assert seen[0][0] == 2, seen  # no back-off before the first restart
        second = wait_for(lambda: backoff(3), 40, "back-off after the third exit", 0.1)
        assert second.startswith("back-off 20s restarting failed container=c "), second
        cs = cluster.core.read_namespaced_pod("crasher", "default").status.container_statuses
        assert cs[0].last_state.terminated.exit_code == 1
        assert cs[0].last_state.terminated.reason == "Error"
    finally:
        cluster.core.delete_namespaced_pod("crasher", "default", grace_period_seconds=0)


def test_pod_runs_unprivileged_and_cannot_reach_host_secrets(cluster: Cluster) -> None:
    cluster.core.create_namespaced_pod("default", _busybox("prober"))
    _running(cluster, "prober")
    assert _sh(cluster, "prober", "id -u") == (0, "65534\n")  # the image's root: nobody
    home = cluster.home
    for path in ("/etc/shadow", home / "kubeconfig", home / "store.sqlite"):
        assert Path(path).exists(), path
        code, out = _sh(cluster, "prober", f"read x < {path}")
        assert code != 0 and "Permission denied" in out, (path, code, out)
    server = int((home / "server.pid").read_text().split()[0])
    code, out = _sh(cluster, "prober", f"kill -0 {server}")
    assert code != 0 and "Operation not permitted" in out, out
    psutil.Process(server).status()  # still there


@pytest.mark.skipif(os.geteuid() != 0, reason="the uid switch needs a root node")
def test_another_pods_environment_is_unreadable(cluster: Cluster) -> None:
    secret = "s3cret-" + os.urandom(4).hex()
    cluster.core.create_namespaced_pod("default", _busybox("holder", {"TOKEN": secret}))
    cluster.core.create_namespaced_pod("default", _busybox("snoop"))
    _running(cluster, "holder")
    _running(cluster, "snoop")
    holder = wait_for(lambda: [p for p in psutil.process_iter() if _has(p, secret)], 20,
                      "the holder's process")[0]
    assert holder.uids().real == 65534  # same uid as the snooping pod: modes do not help
    code, out = _sh(cluster, "snoop", f"read x < /proc/{holder.pid}/environ")
    assert code != 0 and "Permission denied" in out, (code, out)


def _has(proc: psutil.Process, text: str) -> bool:
    try:
        return f"TOKEN={text}" in [f"{k}={v}" for k, v in proc.environ().items()]
    except psutil.Error:
        return False


@pytest.mark.skipif(os.geteuid() != 0, reason="the uid switch needs a root node")
def test_run_as_user_group_and_fs_group_are_honoured(cluster: Cluster) -> None:
    cluster.core.create_namespaced_pod("default", _busybox(
        "as-user", securityContext={"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000,
                                    "supplementalGroups": [4000]},
        volumes=[{"name": "scratch", "emptyDir": {}}],
        container={"volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
                   "workingDir": "/scratch"}))
    _running(cluster, "as-user")
    assert _sh(cluster, "as-user", "id") == (0, "uid=1000 gid=3000 groups=3000,2000,4000\n")
    assert _sh(cluster, "as-user", "echo x > f && cat f") == (0, "x\n")
    uid = cluster.core.read_namespaced_pod("as-user", "default").metadata.uid
    proc = next(p for p in psutil.process_iter()
                if _cwd(p).endswith(f"/{uid}/volumes/scratch"))
    assert (proc.uids().real, proc.gids().real) == (1000, 3000)


def _cwd(proc: psutil.Process) -> str:
    try:
        return proc.cwd()
    except psutil.Error:
        return ""


def test_run_as_non_root_with_a_root_image_is_a_config_error(cluster: Cluster) -> None:
    cluster.core.create_namespaced_pod("default", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nonroot"},
        "spec": {"securityContext": {"runAsNonRoot": True},
                 "containers": [{"name": "nginx", "image": "nginx:1.27"}]}})
    pod = wait_for(lambda: waiting_reason(p := cluster.core.read_namespaced_pod(
        "nonroot", "default")) == "CreateContainerConfigError" and p, 30,
        "CreateContainerConfigError")
    expected = (f'container has runAsNonRoot and image will run as root (pod: "nonroot_default'
                f'({pod.metadata.uid})", container: nginx)')
    assert pod.status.container_statuses[0].state.waiting.message == expected
    events = wait_for(lambda: [e for e in cluster.core.list_namespaced_event("default").items
                               if e.involved_object.name == "nonroot" and e.reason == "Failed"],
                      20, "Failed event")
    assert events[0].message == f"Error: {expected}"


def test_production_manifests_run_under_restricted(cluster: Cluster) -> None:
    """manifests/production (runAsNonRoot, readOnlyRootFilesystem, capabilities dropped,
    seccomp) in a namespace that enforces `restricted`: admitted, every pod Ready, and the
    read-only root is real. The postgres-exporter sidecar is left out: its image is not in
    labcluster's catalog (ErrImagePull, nothing to do with security)."""
    from kubernetes import utils

    from labhelpers.manifests import with_namespace
    from labhelpers.manifests.compare import render

    ns = "prod"
    cluster.core.create_namespace({"metadata": {"name": ns, "labels": {
        "pod-security.kubernetes.io/enforce": "restricted"}}})
    cluster.core.create_namespaced_secret(ns, {"metadata": {"name": "postgres-secret"},
                                               "stringData": {"password": "pw-" + os.urandom(6).hex()}})
    served = {"ConfigMap", "Secret", "Service", "Deployment", "StatefulSet"}
    for obj in with_namespace([o for o in render("production") if o["kind"] in served], ns):
        if obj["kind"] == "StatefulSet":
            spec = obj["spec"]["template"]["spec"]
            spec["containers"] = [c for c in spec["containers"] if c["name"] != "postgres-exporter"]
        utils.create_from_dict(cluster.api, obj, namespace=ns)

    def all_ready() -> list[client.V1Pod]:
        pods = cluster.core.list_namespaced_pod(ns).items
        return pods if len(pods) >= 7 and all(is_ready(p) for p in pods) else []

    pods = wait_for(all_ready, 240, "every production pod Ready")
    backend = next(p.metadata.name for p in pods if p.metadata.name.startswith("ecommerce-backend"))

    def sh(script: str) -> tuple[int, str]:
        ws = stream(cluster.core.connect_get_namespaced_pod_exec, backend, ns,
                    command=["sh", "-c", script], stderr=True, stdin=False, stdout=True,
                    tty=False, _preload_content=False)
        ws.run_forever(timeout=20)
        return ws.returncode, ws.read_stdout() + ws.read_stderr()

    assert sh("id -u") == (0, "10001\n")
    # the shell starts in its workingDir, the container's "/": readOnlyRootFilesystem
    code, out = sh("echo x > written")
    assert code != 0 and "Permission denied" in out, (code, out)
