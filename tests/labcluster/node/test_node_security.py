"""security.py's kubelet rules (who a container runs as, runAsNonRoot) and, as root, the
switch itself: a container process as the pod's user, with only CAP_NET_BIND_SERVICE."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from labcluster.node import security


def _pod(pod_sc: dict | None = None, container_sc: dict | None = None) -> tuple[dict, dict]:
    container = {"name": "app", **({"securityContext": container_sc} if container_sc else {})}
    pod = {"metadata": {"name": "web", "namespace": "shop", "uid": "u-1"},
           "spec": {"containers": [container], **({"securityContext": pod_sc} if pod_sc else {})}}
    return pod, container


def test_image_user_unless_run_as_user_and_container_wins_over_pod() -> None:
    pod, c = _pod()
    assert security.identity(pod, c, (10001, 10001)) == security.Identity(10001, 10001)
    pod, c = _pod({"runAsUser": 1000, "fsGroup": 2000, "supplementalGroups": [3000]},
                  {"runAsUser": 1001, "allowPrivilegeEscalation": True,
                   "readOnlyRootFilesystem": True})
    ident = security.identity(pod, c, (0, 0))
    # no runAsGroup and a uid that is not the image's: the runtime gives gid 0
    assert ident == security.Identity(1001, 0, (3000, 2000), no_new_privs=False,
                                      read_only_root=True)
    # a plain-user node's namespace: root is nobody there too, other ids as they are
    assert security.userns_ids(ident) == (1001, 65534)
    assert security.userns_ids(security.Identity(0, 0)) == (65534, 65534)


def test_run_as_non_root_messages_are_the_kubelets() -> None:
    pod, c = _pod({"runAsNonRoot": True})
    with pytest.raises(security.RunAsRootRefused) as err:
        security.identity(pod, c, (0, 0))
    assert str(err.value) == ('container has runAsNonRoot and image will run as root '
                              '(pod: "web_shop(u-1)", container: app)')
    pod, c = _pod({"runAsNonRoot": True}, {"runAsUser": 0})
    with pytest.raises(security.RunAsRootRefused) as err:
        security.identity(pod, c, (101, 101))
    assert str(err.value) == ("container's runAsUser breaks non-root policy "
                              '(pod: "web_shop(u-1)", container: app)')
    pod, c = _pod({"runAsNonRoot": True, "runAsUser": 70})
    assert security.identity(pod, c, (0, 0)).uid == 70
    pod, c = _pod({"runAsNonRoot": True}, {"runAsNonRoot": False})  # container wins
    assert security.identity(pod, c, (0, 0)).uid == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_switcher_runs_as_the_user_with_only_net_bind_service() -> None:
    uid, gid, groups = security.host_ids(security.Identity(0, 0, (2000,)))
    assert (uid, gid, groups) == (65534, 65534, (2000,))
    out = subprocess.run(
        ["/bin/sh", "-c", "grep -E '^(Uid|Gid|Groups|CapEff|CapBnd|CapAmb|NoNewPrivs)' "
                          "/proc/self/status"],
        preexec_fn=security.switcher(1000, 3000, (2000,)), capture_output=True, text=True,
        check=True).stdout
    fields = {k: v.split() for k, v in (line.split(":", 1) for line in out.splitlines())}
    assert fields["Uid"] == ["1000"] * 4 and fields["Gid"] == ["3000"] * 4
    assert fields["Groups"] == ["2000"]
    net_bind = f"{1 << security.CAP_NET_BIND_SERVICE:016x}"
    assert fields["CapEff"] == fields["CapBnd"] == fields["CapAmb"] == [net_bind]
    assert fields["NoNewPrivs"] == ["1"]


PLAIN_USER_PROBE = r"""
import os, subprocess, sys, time
sys.path.insert(0, sys.argv[1])
from labcluster.node import security
assert security.userns_available()
secret = sys.argv[2]
holder = subprocess.Popen(
    [sys.executable, "-c", "import ctypes, time; ctypes.CDLL(None).prctl(4, 0, 0, 0, 0); "
                           "time.sleep(30)"],  # what labnet.c does with LABCLUSTER_NODUMP=1
    env={"TOKEN": "abc"}, preexec_fn=security.userns_switcher(0, 0, (secret,)))
time.sleep(0.3)
with open(f"/proc/{holder.pid}/environ", "rb") as f:
    print("node reads:", f.read().split(b"\0")[0].decode())
out = subprocess.run(
    ["/bin/sh", "-c", f"id -u; echo \"[$(cat {secret})]\"; read x < /proc/{holder.pid}/environ"],
    preexec_fn=security.userns_switcher(1000, 1000, (secret,)), capture_output=True, text=True)
holder.kill()
print(out.stdout + out.stderr)
"""


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/usr/bin/python3"),
                    reason="plays a plain user with the system's Python (needs root to switch)")
def test_plain_user_node_maps_the_uid_hides_secrets_and_other_pods_environ() -> None:
    """A node that is not root (Binder, a laptop): each container in its own user and mount
    namespaces. Played here as `nobody` with the system's Python (the venv's may live in
    root's 0700 home)."""
    folder = Path(tempfile.mkdtemp(prefix="labsec-"))  # not pytest's: 0700, root's
    try:
        folder.chmod(0o755)
        secret = folder / "kubeconfig"
        secret.write_text("token: admin")
        os.chown(secret, 65534, 65534)
        secret.chmod(0o600)
        root = str(Path(security.__file__).resolve().parents[2])
        out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                              "/usr/bin/python3", "-c", PLAIN_USER_PROBE, root, str(secret)],
                             capture_output=True, text=True, timeout=60, cwd="/")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "node reads: TOKEN=abc"  # the node owns the pods' namespaces
    assert lines[1] == "1000"  # runAsUser as the pod sees it
    assert lines[2] == "[]"  # the home's secret is an empty file in there
    assert "Permission denied" in lines[3]  # another pod's environ
