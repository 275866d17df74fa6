"""`labcluster down` while a client is watching (a kernel's wait, a controller, kubectl -w):
kube-apiserver ends its watches when it stops. Before, the HTTP server waited for every open
watch to time out, so the stop ran into its deadline and SIGKILLed the server (40 s and an
unclean store; seen as 40 s teardowns in CI)."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path

from kubernetes import client, config, watch

import labcluster


def test_stop_ends_open_watches_and_the_server_exits_by_itself():
    home = Path(tempfile.mkdtemp(prefix="labcluster-stop-"))
    try:
        kubeconfig = labcluster.ensure_running(home, env={"LABCLUSTER_NODE": "0"})
        pid = int((home / "server.pid").read_text())
        core = client.CoreV1Api(config.new_client_from_config(str(kubeconfig)))
        opened, ended = threading.Event(), []

        def watching() -> None:
            try:
                stream = watch.Watch().stream(core.list_namespaced_config_map, "default",
                                              timeout_seconds=600)
                for _ in stream:  # kube-root-ca.crt's ADDED: the stream is open
                    opened.set()
                ended.append("ended")
            except Exception as exc:  # a cut connection instead of an ended stream
                ended.append(repr(exc))

        watcher = threading.Thread(target=watching, daemon=True)
        watcher.start()
        assert opened.wait(60), "the watch never delivered its first event"
        assert labcluster.stop(home)
        watcher.join(30)
        assert ended == ["ended"], ended  # the server ended the stream, cleanly
        # the server is our child (ensure_running started it): how did it end?
        _, status = os.waitpid(pid, 0)
        assert not os.WIFSIGNALED(status), f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
        assert os.WEXITSTATUS(status) == 0
    finally:
        labcluster.stop(home)
        shutil.rmtree(home, ignore_errors=True)
