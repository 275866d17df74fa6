"""A server killed with SIGKILL leaves its containers running (they are in their own
sessions); the next `up` of the same home kills them, and kube-proxy dies with it."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import psutil
from e2e_helpers import container_processes, wait_for
from kubernetes import client, config

import labcluster


def test_next_up_reaps_what_a_crashed_server_left() -> None:
    home = Path(tempfile.mkdtemp(prefix="labcluster-crash-"))
    home.chmod(0o755)
    try:
        core = client.CoreV1Api(config.new_client_from_config(
            str(labcluster.ensure_running(home))))
        core.create_namespaced_pod("default", {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sleeper"},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36",
                                     "command": ["sleep", "3600"]}]}})
        wait_for(lambda: core.read_namespaced_pod("sleeper", "default").status.phase ==
                 "Running", 30, "the pod Running")
        left = wait_for(lambda: container_processes(str(home)), 10, "the container process")
        server = psutil.Process(int((home / "server.pid").read_text()))
        proxy = [p for p in server.children() if "labcluster.node.kubeproxy" in p.cmdline()]
        assert len(proxy) == 1
        os.kill(server.pid, signal.SIGKILL)
        wait_for(lambda: not proxy[0].is_running() or proxy[0].status() == "zombie", 10,
                 "kube-proxy gone with its server")
        time.sleep(0.5)
        assert all(p.is_running() for p in left)  # orphans, as the docstring says
        core = client.CoreV1Api(config.new_client_from_config(
            str(labcluster.ensure_running(home))))
        wait_for(lambda: not any(p.is_running() and p.status() != "zombie" for p in left), 20,
                 "the orphans reaped by the next up")
        # and the pod runs again under the new server
        wait_for(lambda: core.read_namespaced_pod("sleeper", "default").status.phase ==
                 "Running" and container_processes(str(home)), 30, "the pod running again")
    finally:
        labcluster.stop(home)
        shutil.rmtree(home, ignore_errors=True)
    assert not container_processes(str(home))
