"""How far apart, on labcluster, a deleted pod's SIGTERM and its removal from the node's
Service table are (the race that preStop hooks exist for).

One pod behind a Service; the pod's process writes the time it gets SIGTERM to a file; this
script polls the node's Service table (`<home>/node/services`, what both shims and the
kube-proxy route by) every 0.5 ms and notes when the pod's IP leaves it; then deletes the
pod. Positive "table after SIGTERM" means new connections could still be routed to a pod
that had been told to stop. Rounds repeat with a fresh pod each time.

    .venv/bin/python bench/endpoint_race_bench.py --rounds 10
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

from kubernetes import client, config

import labcluster

APP = r'''
import os, signal, sys, time
def on_term(*_):
    with open("term", "w") as f:
        f.write(repr(time.time()))
    os._exit(0)
signal.signal(signal.SIGTERM, on_term)
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080))
s.listen()
while True:
    time.sleep(0.1)
'''


def wait(fn, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {what}")


def one_round(core: client.CoreV1Api, table: Path, folder: Path, i: int) -> tuple[float, float]:
    """(table update − SIGTERM, table update − delete call) in ms for one pod."""
    name = f"race-{i}"
    (folder / "term").unlink(missing_ok=True)
    core.create_namespaced_pod("default", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "race"}},
        "spec": {"containers": [{
            "name": "app", "image": "storefront:0.1.0", "command": ["python", "app.py"],
            "workingDir": "/w", "volumeMounts": [{"name": "w", "mountPath": "/w"}],
            "ports": [{"containerPort": 8080}],
            "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1}}],
            "volumes": [{"name": "w", "hostPath": {"path": str(folder)}}]}})
    ip = wait(lambda: core.read_namespaced_pod(name, "default").status.pod_ip, 60, "IP")
    wait(lambda: table.exists() and f"{ip}:8080" in table.read_text(), 60, "in the table")
    gone: list[float] = []

    def poll() -> None:
        while True:
            try:
                if f"{ip}:8080" not in table.read_text():
                    gone.append(time.time())
                    return
            except OSError:
                pass
            time.sleep(0.0005)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    deleted = time.time()
    core.delete_namespaced_pod(name, "default")
    watcher.join(30)
    term = float(wait(lambda: (folder / "term").exists() and (folder / "term").read_text(),
                      30, "SIGTERM noted"))
    wait(lambda: name not in {p.metadata.name for p in core.list_namespaced_pod(
        "default").items}, 60, "pod gone")
    return (gone[0] - term) * 1000, (gone[0] - deleted) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="race-bench-"))
    home.chmod(0o755)
    folder = Path(tempfile.mkdtemp(prefix="race-app-"))
    folder.chmod(0o777)
    (folder / "app.py").write_text(APP)
    try:
        core = client.CoreV1Api(config.new_client_from_config(
            str(labcluster.ensure_running(home))))
        core.create_namespaced_service("default", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "race"},
            "spec": {"selector": {"app": "race"}, "ports": [{"port": 80, "targetPort": 8080}]}})
        rows = [one_round(core, home / "node" / "services", folder, i) for i in range(args.rounds)]
        after_term = [r[0] for r in rows]
        after_delete = [r[1] for r in rows]
        print(f"{args.rounds} deletions; Service table update minus SIGTERM, ms: "
              f"median {statistics.median(after_term):+.1f}, min {min(after_term):+.1f}, "
              f"max {max(after_term):+.1f}; after the delete call: median "
              f"{statistics.median(after_delete):.1f}, max {max(after_delete):.1f}")
        print("SIGTERM first (table later) in", sum(d > 0 for d in after_term), "of", args.rounds)
    finally:
        labcluster.stop(home)
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
