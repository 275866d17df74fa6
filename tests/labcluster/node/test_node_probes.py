"""Each probe type against real servers and processes, with the kubelet's messages."""

from __future__ import annotations

import asyncio
import socket

from node_helpers import SERVER, wait_port

from labcluster.node.exec import Exec
from labcluster.node.images import resolve
from labcluster.node.probes import exec_probe, http_get, tcp_socket

VERSION = "0.1.0"


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


async def test_http_tcp_and_exec_probes(make_launch, run_container, node):
    launch = make_launch(f"storefront:{VERSION}", name="probed",
                         command=["python", "-c", SERVER], args=["5000"])
    proc = run_container(launch)
    await asyncio.to_thread(wait_port, launch.pod_ip, 5000)
    ip = launch.pod_ip

    ok = await http_get(ip, 5000, "/ready", timeout=2)
    assert ok.success and '"/ready"' in ok.output
    missing = await http_get(ip, 5000, "/missing", timeout=2)
    assert missing == missing.__class__(False, "HTTP probe failed with statuscode: 404")
    closed = free_port(ip)
    refused = await http_get(ip, closed, "/health", timeout=2)
    assert not refused.success
    assert refused.output == (f'Get "http://{ip}:{closed}/health": dial tcp {ip}:{closed}:'
                              " connect: connection refused")

    assert (await tcp_socket(ip, 5000, timeout=2)).success
    tcp_refused = await tcp_socket(ip, closed, timeout=2)
    assert tcp_refused.output == f"dial tcp {ip}:{closed}: connect: connection refused"

    runner = Exec(resolve(launch.image, node), launch, proc.marker)
    good = await exec_probe(runner, ["sh", "-c", "echo alive"], timeout=10)
    assert good.success and good.output == "alive\n"
    bad = await exec_probe(runner, ["sh", "-c", "echo broken >&2; exit 2"], timeout=10)
    assert not bad.success and bad.output == "broken\n"
    slow = await exec_probe(runner, ["sleep", "30"], timeout=1)
    assert not slow.success and "timed out" in slow.output


async def test_http_probe_times_out_on_a_silent_server():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    try:
        result = await http_get("127.0.0.1", port, "/health", timeout=0.3)
    finally:
        server.close()
    assert not result.success and "context deadline exceeded" in result.output
