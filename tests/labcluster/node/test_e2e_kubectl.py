"""The real kubectl (1.32) against labcluster with its node: `kubectl port-forward` (pod,
deployment, service; both of kubectl's transports: SPDY tunnelled in a websocket, its
default, and the plain `Upgrade: SPDY/3.1` it falls back to), `kubectl cp` both ways, and
every other command form of the lab text that needs the node (labcluster/README.md's
table names the test of each).

The cluster runs with LABCLUSTER_PRIVILEGED_PORTS=remap, so forwarding to nginx's port 80
also goes through the node's port shift (the mybinder.org path). Every wait is bounded.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from e2e_helpers import Cluster, is_ready, wait_for
from tools import KUBECTL_INSTALL, needs_tool

pytestmark = [pytest.mark.timeout(300), needs_tool("kubectl", shutil.which("kubectl"), KUBECTL_INSTALL)]

NS = "pf-test"
BIG = secrets.token_hex(300_000)  # 600 KB: many SPDY frames, past the output high-water mark
TRANSPORTS = {"websocket": "true", "spdy": "false"}  # KUBECTL_PORT_FORWARD_WEBSOCKETS


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with Cluster(env={"LABCLUSTER_PRIVILEGED_PORTS": "remap"}) as c:
        c.core.create_namespace({"metadata": {"name": NS}})
        c.core.create_namespaced_config_map(NS, {
            "metadata": {"name": "pages"}, "data": {"big.txt": BIG, "hello.txt": "hello\n"}})
        c.apps.create_namespaced_deployment(NS, {
            "metadata": {"name": "web"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                         "containers": [{"name": "web", "image": "nginx:1.27",
                                         "ports": [{"containerPort": 80, "name": "http"}],
                                         "volumeMounts": [{"name": "pages",
                                                           "mountPath": "/usr/share/nginx/html"}]}],
                         "volumes": [{"name": "pages", "configMap": {"name": "pages"}}]}}}})
        c.core.create_namespaced_service(NS, {
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"},
                     "ports": [{"port": 8080, "targetPort": "http"}]}})
        wait_for(lambda: (pods := c.core.list_namespaced_pod(NS, label_selector="app=web")
                          .items) and all(is_ready(p) for p in pods), 90, "web pod Ready")
        yield c


@dataclass
class Forward:
    proc: subprocess.Popen[str]
    port: int
    out: Path
    err: Path

    def stop(self, sig: int = signal.SIGINT) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=15)


def kubectl(cluster: Cluster, *args: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", "--kubeconfig", str(cluster.kubeconfig), "-n", NS,
                           *args], capture_output=True, text=True, timeout=60, **kw)


@pytest.fixture
def forward(cluster: Cluster, tmp_path: Path) -> Iterator:
    started: list[Forward] = []

    def start(target: str, remote: str, transport: str = "websocket") -> Forward:
        """`kubectl port-forward TARGET :REMOTE` (kubectl picks the local port and says
        which on its first line)."""
        out, err = tmp_path / f"pf{len(started)}.out", tmp_path / f"pf{len(started)}.err"
        env = {**os.environ, "KUBECTL_PORT_FORWARD_WEBSOCKETS": TRANSPORTS[transport]}
        with out.open("w") as o, err.open("w") as e:
            proc = subprocess.Popen(
                ["kubectl", "--kubeconfig", str(cluster.kubeconfig), "-n", NS,
                 "port-forward", target, f":{remote}", "--address", "127.0.0.1"],
                stdout=o, stderr=e, text=True, env=env)
        fwd = Forward(proc, 0, out, err)
        started.append(fwd)
        line = wait_for(lambda: re.search(r"Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)",
                                          out.read_text()) or proc.poll() is not None, 30,
                        f"kubectl port-forward {target} to listen")
        assert line is not True, f"kubectl exited: {err.read_text()}"
        fwd.port = int(line.group(1))
        return fwd

    yield start
    for fwd in started:
        if fwd.proc.poll() is None:
            fwd.proc.kill()
            fwd.proc.wait(timeout=10)


def get(port: int, path: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=20) as resp:
        return resp.status, resp.read()


# ------------------------------------------------------------------------ port-forward
@pytest.mark.parametrize("transport", list(TRANSPORTS))
@pytest.mark.parametrize("kind", ["pod", "deployment", "service"])
def test_port_forward_carries_http(cluster: Cluster, forward, kind: str,
                                   transport: str) -> None:
    """kubectl resolves deployment/service to a pod and the service port 8080 to the
    pod's port 80 (by the targetPort's name); the bytes then cross labcluster."""
    pod = cluster.core.list_namespaced_pod(NS, label_selector="app=web").items[0]
    target, remote = {"pod": (f"pod/{pod.metadata.name}", "80"),
                      "deployment": ("deployment/web", "80"),
                      "service": ("service/web", "8080")}[kind]
    fwd = forward(target, remote, transport)
    assert re.search(r"-> 80$", fwd.out.read_text().splitlines()[0])
    status, body = get(fwd.port, "/hello.txt")
    assert (status, body) == (200, b"hello\n")
    status, body = get(fwd.port, "/big.txt")
    assert status == 200 and hashlib.sha256(body).hexdigest() == \
        hashlib.sha256(BIG.encode()).hexdigest()
    assert fwd.stop() == 0
    assert "Handling connection for" in fwd.out.read_text()


@pytest.mark.parametrize("transport", list(TRANSPORTS))
def test_concurrent_connections_share_one_session(cluster: Cluster, forward,
                                                  transport: str) -> None:
    fwd = forward("deployment/web", "80", transport)
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda i: get(fwd.port, "/big.txt" if i % 3 == 0
                                              else "/hello.txt"), range(36)))
    assert [s for s, _ in results] == [200] * 36
    assert all(body == (BIG.encode() if i % 3 == 0 else b"hello\n")
               for i, (_, body) in enumerate(results))
    assert fwd.out.read_text().count("Handling connection for") == 36
    assert fwd.proc.poll() is None  # still serving
    assert fwd.stop() == 0


@pytest.mark.parametrize("transport", list(TRANSPORTS))
def test_closed_remote_port_is_kubectls_error(cluster: Cluster, forward,
                                              transport: str) -> None:
    """Nothing listens on 81: the kubelet's message comes back on the error stream,
    kubectl prints it and stops (`lost connection to pod`), as on a real cluster."""
    pod = cluster.core.list_namespaced_pod(NS, label_selector="app=web").items[0]
    fwd = forward(f"pod/{pod.metadata.name}", "81", transport)
    with pytest.raises(OSError):
        get(fwd.port, "/")
    code = fwd.proc.wait(timeout=20)
    err = fwd.err.read_text()
    assert code == 1
    assert f"an error occurred forwarding {fwd.port} -> 81: error forwarding port 81 to pod " \
           f"{pod.metadata.name}, uid {pod.metadata.uid}" in err
    assert "connect: connection refused" in err
    assert "error: lost connection to pod" in err


def test_sigint_ends_kubectl_and_its_session(cluster: Cluster, forward) -> None:
    """Ctrl-C in the middle of an open connection: kubectl exits 0, and the server ends
    the session (a new forward works at once)."""
    fwd = forward("service/web", "8080")
    import socket
    with socket.create_connection(("127.0.0.1", fwd.port), timeout=10) as sock:
        sock.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200 OK" in sock.recv(65536)
        assert fwd.stop(signal.SIGINT) == 0  # exits (stop() waits at most 15 s) with 0
    again = forward("service/web", "8080")
    assert get(again.port, "/hello.txt") == (200, b"hello\n")
    assert again.stop() == 0


def test_pod_that_is_not_running_is_refused_by_kubectl(cluster: Cluster) -> None:
    cluster.core.create_namespaced_pod(NS, {
        "metadata": {"name": "nowhere"},
        "spec": {"containers": [{"name": "c", "image": "nosuchimage.example/none:1"}]}})
    out = kubectl(cluster, "port-forward", "pod/nowhere", ":80")
    assert out.returncode == 1
    assert "unable to forward port because pod is not running. Current status=Pending" \
        in out.stderr


# ------------------------------------------------------------------------ cp
@pytest.fixture(scope="module")
def postgres(cluster: Cluster) -> str:
    """A postgres-0 like the lab's (postgres image, PGDATA on a volume): its exec runs as
    the postgres user, as `kubectl cp ... postgres-0:/tmp/` meets it."""
    cluster.apps.create_namespaced_stateful_set(NS, {
        "metadata": {"name": "postgres"},
        "spec": {"serviceName": "postgres", "replicas": 1,
                 "selector": {"matchLabels": {"app": "postgres"}},
                 "template": {"metadata": {"labels": {"app": "postgres"}}, "spec": {
                     "containers": [{
                         "name": "postgres", "image": "postgres:16.4-alpine",
                         "env": [{"name": "POSTGRES_PASSWORD", "value": "pw"},
                                 {"name": "PGDATA",
                                  "value": "/var/lib/postgresql/data/pgdata"}],
                         "volumeMounts": [{"name": "data",
                                           "mountPath": "/var/lib/postgresql/data"}]}],
                     "volumes": [{"name": "data", "emptyDir": {}}]}}}})
    wait_for(lambda: (p := cluster.core.list_namespaced_pod(
        NS, label_selector="app=postgres").items) and p[0].status.phase == "Running", 90,
        "postgres-0 Running")
    return "postgres-0"


def test_cp_a_file_into_the_pod_and_back(cluster: Cluster, postgres: str,
                                         tmp_path: Path) -> None:
    """The lab's `kubectl cp manifests/lab/config.yaml ecommerce-lab/postgres-0:/tmp/`:
    `test -d /tmp/` then `tar -xmf - -C /tmp` in the container; back with `tar cf -`."""
    src = Path(__file__).resolve().parents[3] / "manifests/lab/config.yaml"
    out = kubectl(cluster, "cp", str(src), f"{NS}/{postgres}:/tmp/")
    assert out.returncode == 0, out.stderr
    listed = kubectl(cluster, "exec", postgres, "--", "tar", "tf", "-", input="")
    assert listed.returncode == 2  # an empty stream is not an archive, as GNU tar says
    assert "This does not look like a tar archive" in listed.stderr
    seen = kubectl(cluster, "exec", postgres, "--", "cat", "/tmp/config.yaml")
    assert seen.stdout == src.read_text()
    back = tmp_path / "back.yaml"
    out = kubectl(cluster, "cp", f"{NS}/{postgres}:/tmp/config.yaml", str(back))
    assert out.returncode == 0, out.stderr
    assert back.read_bytes() == src.read_bytes()
    assert "tar: Removing leading `/' from member names" in out.stdout + out.stderr


def test_cp_a_tree_of_binary_files_both_ways(cluster: Cluster, postgres: str,
                                            tmp_path: Path) -> None:
    """A directory with a nested file, an empty dir and 1 MB of random bytes, into a
    volume path (the mount table, not the container's private /tmp) and back."""
    tree = tmp_path / "tree"
    (tree / "nested" / "deeper").mkdir(parents=True)
    (tree / "empty").mkdir()
    blob = os.urandom(1 << 20)
    (tree / "blob.bin").write_bytes(blob)
    (tree / "nested" / "deeper" / "note.txt").write_text("deep\n")
    (tree / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (tree / "run.sh").chmod(0o755)
    dest = "/var/lib/postgresql/data/incoming"
    out = kubectl(cluster, "cp", str(tree), f"{NS}/{postgres}:{dest}")
    assert out.returncode == 0, out.stderr
    assert kubectl(cluster, "exec", postgres, "--", "test", "-d", f"{dest}/empty").returncode == 0
    assert kubectl(cluster, "exec", postgres, "--", "test", "-f",
                   f"{dest}/nested/deeper/note.txt").returncode == 0
    assert kubectl(cluster, "exec", postgres, "--", "test", "-f", "/incoming/blob.bin"
                   ).returncode == 1  # not at the root: the volume holds it
    # the mode travels in (kubectl's own untar on the way back creates plain files)
    assert kubectl(cluster, "exec", postgres, "--", "test", "-x", f"{dest}/run.sh"
                   ).returncode == 0
    assert kubectl(cluster, "exec", postgres, "--", "test", "-x", f"{dest}/blob.bin"
                   ).returncode == 1
    back = tmp_path / "back"
    out = kubectl(cluster, "cp", f"{NS}/{postgres}:{dest}", str(back))
    assert out.returncode == 0, out.stderr
    assert (back / "blob.bin").read_bytes() == blob
    assert (back / "nested" / "deeper" / "note.txt").read_text() == "deep\n"
    assert (back / "empty").is_dir()
    assert (back / "run.sh").read_text() == "#!/bin/sh\necho hi\n"


def test_cp_from_a_missing_path_shows_tars_error(cluster: Cluster, postgres: str,
                                                 tmp_path: Path) -> None:
    out = kubectl(cluster, "cp", f"{NS}/{postgres}:/tmp/nothing-here", str(tmp_path / "x"))
    assert "tar: /tmp/nothing-here: Cannot stat: No such file or directory" in \
        out.stdout + out.stderr
    assert not (tmp_path / "x").exists()


# ------------------------------------------------------------------------ the lab text
# The kubectl commands the course text uses (README's table), with this module's objects
# standing in for the storefront's: web (nginx) for a Deployment behind a Service,
# postgres-0 for the database StatefulSet, `lab` for a Deployment the commands change.
LAB_DEPLOY = {
    "metadata": {"name": "lab"},
    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "lab"}},
             "template": {"metadata": {"labels": {"app": "lab"}}, "spec": {
                 "containers": [{"name": "lab", "image": "busybox:1.36",
                                 "command": ["sleep", "3600"],
                                 "resources": {"requests": {"cpu": "10m",
                                                            "memory": "16Mi"}}}]}}}}


@pytest.fixture(scope="module")
def lab_deploy(cluster: Cluster) -> str:
    cluster.apps.create_namespaced_deployment(NS, LAB_DEPLOY)
    wait_for(lambda: (p := cluster.core.list_namespaced_pod(NS, label_selector="app=lab")
                      .items) and all(is_ready(x) for x in p), 60, "lab pod Ready")
    return "lab"


def ok(cluster: Cluster, *args: str, stdin: str | None = None) -> str:
    out = kubectl(cluster, *args, input=stdin)
    assert out.returncode == 0, f"kubectl {' '.join(args)}: {out.stderr}"
    return out.stdout


def test_lab_get_and_describe(cluster: Cluster, postgres: str) -> None:
    pods = ok(cluster, "get", "pods", "--show-labels").splitlines()
    assert pods[0].split()[-1] == "LABELS"
    assert any(line.startswith("postgres-0 ") and "app=postgres" in line for line in pods)
    name = ok(cluster, "get", "pods", "-l", "app=web", "-o",
              "jsonpath={.items[0].metadata.name}")
    assert name.startswith("web-")
    ep = ok(cluster, "get", "endpoints", "web").splitlines()
    assert ep[0].split() == ["NAME", "ENDPOINTS", "AGE"] and ep[1].split()[1].endswith(":80")
    assert ok(cluster, "get", "svc").splitlines()[0].split()[:4] == [
        "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP"]
    everything = ok(cluster, "get", "all")
    assert "deployment.apps/web" in everything and "statefulset.apps/postgres" in everything
    assert "service/web" in everything and "replicaset.apps/web-" in everything
    selector = [line for line in ok(cluster, "describe", "service", "web").splitlines()
                if line.startswith("Selector:")]
    assert [line.split() for line in selector] == [["Selector:", "app=web"]]
    assert "Containers:" in ok(cluster, "describe", "pod", "-l", "app=web")
    assert "StrategyType:           RollingUpdate" in ok(cluster, "describe", "deployment", "web")
    assert ok(cluster, "get", "configmap").splitlines()[0].split() == ["NAME", "DATA", "AGE"]
    assert "hello.txt: |" in ok(cluster, "get", "configmap", "pages", "-o", "yaml")


def test_lab_logs(cluster: Cluster, postgres: str) -> None:
    get(forward_once(cluster), "/hello.txt")  # something in nginx's access log
    assert "GET /hello.txt" in ok(cluster, "logs", "-l", "app=web", "--tail=20")
    assert "GET /hello.txt" in ok(cluster, "logs", "deploy/web", "--tail=20")
    logs = ok(cluster, "logs", "statefulset/postgres", "--tail=20")
    assert "database system is ready to accept connections" in logs
    assert len(ok(cluster, "logs", "statefulset/postgres", "--tail=2").splitlines()) == 2


def forward_once(cluster: Cluster) -> int:
    """A short-lived port-forward for a request (closed by the test's end)."""
    proc = subprocess.Popen(["kubectl", "--kubeconfig", str(cluster.kubeconfig), "-n", NS,
                             "port-forward", "service/web", ":8080"],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    match = re.search(r"127\.0\.0\.1:(\d+)", line)
    assert match, line
    _FORWARDS.append(proc)
    return int(match.group(1))


_FORWARDS: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _stop_forwards() -> Iterator[None]:
    yield
    while _FORWARDS:
        proc = _FORWARDS.pop()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)


def test_lab_exec(cluster: Cluster, postgres: str, lab_deploy: str) -> None:
    env = ok(cluster, "exec", "deploy/web", "--", "env")
    assert re.search(r"^HOSTNAME=web-", env, re.M)
    assert "LABCLUSTER" not in env
    assert ok(cluster, "exec", "deploy/lab", "--", "nslookup", "web").count("Address:") >= 2
    missing = kubectl(cluster, "exec", "deploy/lab", "--", "nslookup", "postgres-db")
    assert missing.returncode == 1 and "NXDOMAIN" in missing.stdout + missing.stderr
    assert ok(cluster, "exec", "deploy/web", "--", "curl", "-s",
              "http://web:8080/hello.txt") == "hello\n"
    out = ok(cluster, "exec", postgres, "--", "psql", "-U", "postgres", "-c", "SELECT 1")
    assert "(1 row)" in out
    assert ok(cluster, "exec", postgres, "--", "pg_isready").strip().endswith(
        "accepting connections")
    ping = kubectl(cluster, "exec", "deploy/lab", "--", "ping", "-c", "1", "web")
    assert ping.returncode != 0  # ping is not offered (no ICMP on loopback pods)


def test_lab_change_commands(cluster: Cluster, lab_deploy: str) -> None:
    assert "deployment.apps/lab env updated" in ok(cluster, "set", "env", "deployment/lab",
                                                    "DATABASE_HOST=postgres")
    ok(cluster, "rollout", "status", "deployment", "lab", "--timeout=90s")
    patched = ok(cluster, "patch", "deployment", "lab", "--type=json", "-p",
                 '[{"op": "replace", "path": "/spec/template/spec/containers/0/env/0/value",'
                 ' "value": "postgres.pf-test"}]')
    assert "deployment.apps/lab patched" in patched
    ok(cluster, "rollout", "status", "deployment", "lab", "--timeout=90s")
    assert "DATABASE_HOST:  postgres.pf-test" in ok(cluster, "describe", "deployment", "lab")
    assert "resource requirements updated" in ok(
        cluster, "set", "resources", "deployment", "lab", "--limits=memory=64Mi",
        "--requests=memory=32Mi")
    ok(cluster, "rollout", "status", "deployment", "lab", "--timeout=90s")
    assert "deployment.apps/lab scaled" in ok(cluster, "scale", "deployment/lab",
                                              "--replicas=2")
    ok(cluster, "rollout", "status", "deployment", "lab", "--timeout=90s")
    assert ok(cluster, "wait", "--for=condition=ready", "pod", "-l", "app=lab",
              "--timeout=60s").count("condition met") == 2
    env = {"EDITOR": "sed -i -e 's/replicas: 2/replicas: 1/'"}
    edited = kubectl(cluster, "edit", "deployment", "lab", env={**os.environ, **env})
    assert edited.returncode == 0 and "deployment.apps/lab edited" in edited.stdout
    yaml_text = ok(cluster, "create", "configmap", "ecommerce-config",
                   "--from-literal=DATABASE_HOST=postgres", "--dry-run=client", "-o", "yaml")
    assert "configmap/ecommerce-config created" in ok(cluster, "apply", "-f", "-",
                                                     stdin=yaml_text)


def test_lab_events_and_top(cluster: Cluster, postgres: str) -> None:
    events = ok(cluster, "get", "events", "--sort-by=.lastTimestamp")
    assert events.splitlines()[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT",
                                              "MESSAGE"]
    wide = ok(cluster, "get", "events", "-o", "wide").splitlines()[0].split()
    assert wide[-1] == "NAME" and "SOURCE" in wide and "COUNT" in wide
    assert "Scheduled" in events and "Started" in events
    none = kubectl(cluster, "get", "events", "--field-selector", "reason=OOMKilling")
    assert none.returncode == 0 and "No resources found" in none.stderr
    warnings = ok(cluster, "get", "events", "--field-selector", "type!=Normal",
                  "--sort-by=.lastTimestamp")
    assert "Normal" not in warnings
    top = wait_for(lambda: (t := kubectl(cluster, "top", "pods")).returncode == 0 and t.stdout,
                   60, "kubectl top pods")
    assert top.splitlines()[0].split() == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert any(line.startswith("postgres-0 ") for line in top.splitlines())
    one = ok(cluster, "top", "pod", "-l", "app=web").splitlines()
    assert len(one) == 2 and one[1].startswith("web-")


def test_lab_run_config_and_namespaces(cluster: Cluster, tmp_path: Path) -> None:
    out = ok(cluster, "run", "curl-test", "--image=curlimages/curl", "-i", "--rm",
             "--restart=Never", "--", "curl", "-s", "http://web:8080/hello.txt")
    assert out.startswith("hello\n") and 'pod "curl-test" deleted' in out
    config = tmp_path / "kubeconfig"
    shutil.copy(cluster.kubeconfig, config)
    cfg = ["kubectl", "--kubeconfig", str(config)]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cfg, *args], capture_output=True, text=True, timeout=60)

    assert run("config", "view", "--minify", "--output",
               "jsonpath={..namespace}").stdout == "default"  # labcluster's kubeconfig says so
    assert run("config", "set-context", "--current", "--namespace=pf-test").returncode == 0
    assert run("config", "view", "--minify", "--output",
               "jsonpath={..namespace}").stdout == "pf-test"
    assert "postgres-0" in run("get", "pods").stdout or "web-" in run("get", "pods").stdout
    assert run("create", "namespace", "lab-tmp").stdout == "namespace/lab-tmp created\n"
    assert run("delete", "namespace", "lab-tmp").stdout == 'namespace "lab-tmp" deleted\n'


def test_lab_watch_pods_and_events(cluster: Cluster, tmp_path: Path) -> None:
    """`kubectl get pods -w` / `get events --watch`: the lines of a pod created while
    they watch arrive (then Ctrl-C)."""
    procs = {}
    for what in (("get", "pods", "-w"), ("get", "events", "--watch")):
        out = tmp_path / f"{what[1]}.out"
        with out.open("w") as sink:
            procs[what[1]] = (subprocess.Popen(
                ["kubectl", "--kubeconfig", str(cluster.kubeconfig), "-n", NS, *what],
                stdout=sink, stderr=subprocess.STDOUT), out)
    try:
        wait_for(lambda: all(o.read_text() for _p, o in procs.values()), 30, "headers")
        cluster.core.create_namespaced_pod(NS, {
            "metadata": {"name": "watched"},
            "spec": {"restartPolicy": "Never", "containers": [
                {"name": "c", "image": "busybox:1.36", "command": ["sleep", "2"]}]}})
        pods, events = procs["pods"][1], procs["events"][1]
        wait_for(lambda: re.search(r"^watched +1/1 +Running", pods.read_text(), re.M), 60,
                 "watched Running in kubectl get pods -w")
        wait_for(lambda: re.search(r"Started +pod/watched", events.read_text()), 60,
                 "the Started event in kubectl get events --watch")
        wait_for(lambda: re.search(r"^watched +0/1 +Completed", pods.read_text(), re.M), 60,
                 "watched Completed")
    finally:
        for proc, _out in procs.values():
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=15)


def test_lab_redis_ping_and_apply_a_directory(cluster: Cluster, tmp_path: Path) -> None:
    """`kubectl apply -f k8s/` (every manifest of a folder), then the lab's
    `kubectl exec deploy/redis -- redis-cli ping`."""
    folder = tmp_path / "k8s"
    folder.mkdir()
    (folder / "redis-deployment.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: redis}\nspec:\n"
        "  selector: {matchLabels: {app: redis}}\n  template:\n"
        "    metadata: {labels: {app: redis}}\n    spec:\n      containers:\n"
        "      - {name: redis, image: 'redis:6.2-alpine', ports: [{containerPort: 6379}]}\n")
    (folder / "redis-service.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: redis}\nspec:\n"
        "  selector: {app: redis}\n  ports: [{port: 6379}]\n")
    out = ok(cluster, "apply", "-f", str(folder))
    assert "deployment.apps/redis created" in out and "service/redis created" in out
    ok(cluster, "rollout", "status", "deployment/redis", "--timeout=90s")
    assert ok(cluster, "exec", "deploy/redis", "--", "redis-cli", "ping") == "PONG\n"


# ------------------------------------------------------------------------ cluster DNS
# The node's DNS server behind kube-system/kube-dns (this cluster shifts port 53 to the
# non-root port, so the DNAT and the shift are both on the path): a Python client in a pod
# asks the ClusterIP over UDP and TCP, the host asks the server's own address, nslookup
# shows the server, and the pod's getaddrinfo gives the server's answer.
DNS_CLIENT = r"""
import json, socket, sys
from dnslib import DNSRecord
server, port, ns = sys.argv[1], int(sys.argv[2]), sys.argv[3]
fq = f"{ns}.svc.cluster.local"
out = {}
for tcp in (False, True):
    for name, qtype in ((f"web.{fq}", "A"), (f"postgres.{fq}", "A"),
                        (f"postgres-0.postgres.{fq}", "A"),
                        (f"_postgres._tcp.postgres.{fq}", "SRV"), (f"postgres-db.{fq}", "A")):
        reply = DNSRecord.parse(DNSRecord.question(name, qtype).send(server, port, tcp=tcp,
                                                                     timeout=5))
        out[f"{'tcp' if tcp else 'udp'} {qtype} {name.split('.svc')[0]}"] = [
            reply.header.rcode, sorted(str(rr.rdata) for rr in reply.rr)]
try:
    out["getaddrinfo"] = sorted({i[4][0] for i in socket.getaddrinfo("postgres", 5432,
                                                                     socket.AF_INET)})
except socket.gaierror:
    out["getaddrinfo"] = "unresolved"
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def dns_client(cluster: Cluster, postgres: str) -> str:
    """The postgres StatefulSet's headless Service (named port) and a storefront pod,
    whose image has python and dnslib."""
    cluster.core.create_namespaced_service(NS, {
        "metadata": {"name": "postgres"},
        "spec": {"clusterIP": "None", "selector": {"app": "postgres"},
                 "ports": [{"name": "postgres", "port": 5432}]}})
    cluster.core.create_namespaced_pod(NS, {
        "metadata": {"name": "dns-client"},
        "spec": {"containers": [{"name": "c", "image": "storefront:0.1.0",
                                 "command": ["python", "-c", "import time; time.sleep(3600)"]}]}})
    wait_for(lambda: is_ready(cluster.core.read_namespaced_pod("dns-client", NS)), 60,
             "dns-client Ready")
    wait_for(lambda: (e := cluster.core.read_namespaced_endpoints("postgres", NS)).subsets
             and e.subsets[0].addresses, 60, "postgres endpoints")
    return "dns-client"


def test_kube_dns_service_answers_pods_and_host(cluster: Cluster, dns_client: str) -> None:
    svc = cluster.core.read_namespaced_service("kube-dns", "kube-system")
    assert svc.spec.cluster_ip == "127.1.0.10"  # the 10th address of 127.1.0.0/16
    assert [(p.name, p.port, p.protocol) for p in svc.spec.ports] == [
        ("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP")]
    server_ip = cluster.core.read_namespaced_endpoints(
        "kube-dns", "kube-system").subsets[0].addresses[0].ip
    web_ip = cluster.core.read_namespaced_service("web", NS).spec.cluster_ip
    pg_ip = cluster.core.read_namespaced_pod("postgres-0", NS).status.pod_ip
    fq = f"{NS}.svc.cluster.local"
    expected = {}
    for proto in ("udp", "tcp"):
        expected.update({
            f"{proto} A web.{NS}": [0, [web_ip]], f"{proto} A postgres.{NS}": [0, [pg_ip]],
            f"{proto} A postgres-0.postgres.{NS}": [0, [pg_ip]],
            f"{proto} SRV _postgres._tcp.postgres.{NS}": [
                0, [f"0 100 5432 postgres-0.postgres.{fq}."]],
            f"{proto} A postgres-db.{NS}": [3, []]})  # 3: NXDOMAIN
    in_pod = ok(cluster, "exec", dns_client, "--", "python", "-c", DNS_CLIENT, "127.1.0.10",
                "53", NS)
    assert json.loads(in_pod) == {**expected, "getaddrinfo": [pg_ip]}
    host_port = str(10053)  # LABCLUSTER_PRIVILEGED_PORTS=remap: 53 + 10000 on the node
    from_host = subprocess.run([sys.executable, "-c", DNS_CLIENT, server_ip, host_port, NS],
                               capture_output=True, text=True, timeout=60, check=True)
    # the host's own resolver knows no cluster names
    assert json.loads(from_host.stdout) == {**expected, "getaddrinfo": "unresolved"}
    # live: a new Service is answered, a deleted one is NXDOMAIN again
    from dnslib import DNSRecord

    def ask(name: str) -> tuple[int, list[str]]:
        reply = DNSRecord.parse(DNSRecord.question(f"{name}.{fq}").send(
            server_ip, int(host_port), timeout=5))
        return reply.header.rcode, [str(rr.rdata) for rr in reply.rr]

    late = cluster.core.create_namespaced_service(NS, {
        "metadata": {"name": "late"}, "spec": {"ports": [{"port": 80}]}}).spec.cluster_ip
    wait_for(lambda: ask("late") == (0, [late]), 10, "the new Service in DNS")
    cluster.core.delete_namespaced_service("late", NS)
    wait_for(lambda: ask("late") == (3, []), 10, "the deleted Service gone from DNS")
    out = ok(cluster, "exec", dns_client, "--", "nslookup", "postgres-0.postgres")
    assert out.startswith("Server:\t\t127.1.0.10\nAddress:\t127.1.0.10#53\n\n"), out
    assert f"Name:\tpostgres-0.postgres.{fq}\nAddress: {pg_ip}\n" in out
    resolv = ok(cluster, "exec", dns_client, "--", "cat", "/etc/resolv.conf")
    assert resolv == (f"search {NS}.svc.cluster.local svc.cluster.local cluster.local\n"
                      "nameserver 127.1.0.10\noptions ndots:5\n")
