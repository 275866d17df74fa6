"""NetworkPolicy enforcement below the API: the node's compiler (policies → verdicts, with
upstream's semantics) and both network shims acting on its table (a denied TCP connect
times out as a dropped SYN, a denied UDP datagram vanishes, a new table applies to the
next connection of a running process)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from node_helpers import address_server

from labcluster import networkpolicy
from labcluster.node import netshim
from labcluster.node.dns import HostsTable
from labcluster.node.kubeproxy import write_services
from labcluster.node.loopback import IPAllocator
from labcluster.node.netpol import HOST_IP, DropSink, PolicyTable, Rule, compile_policies

ROOT = Path(__file__).resolve().parents[3]
NS = "ecommerce-lab"


def _pod(name: str, ip: str, labels: dict[str, str], ns: str = NS,
         ports: list[dict] | None = None) -> dict:
    return {"metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"containers": [{"name": "main", "ports": ports or []}]},
            "status": {"podIP": ip, "phase": "Running"}}


def _ns(name: str) -> dict:
    return {"metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}}}


def _policy(name: str, spec: dict, ns: str = NS) -> dict:
    obj = {"metadata": {"name": name, "namespace": ns}, "spec": spec}
    networkpolicy.apply_defaults(obj)  # as the API stores it
    return obj


PODS = {
    "frontend": _pod("frontend", "127.70.0.2", {"app": "ecommerce-frontend"},
                     ports=[{"name": "http", "containerPort": 80, "protocol": "TCP"}]),
    "backend": _pod("backend", "127.70.0.3", {"app": "ecommerce-backend"},
                    ports=[{"name": "http", "containerPort": 5000, "protocol": "TCP"}]),
    "postgres": _pod("postgres-0", "127.70.0.4", {"app": "postgres"},
                     ports=[{"name": "postgres", "containerPort": 5432, "protocol": "TCP"}]),
    "cart": _pod("cart", "127.70.0.5", {"app": "cart-service"}),
    "prometheus": _pod("prometheus", "127.70.1.2", {"app": "prometheus"}, ns="monitoring"),
    "stranger": _pod("stranger", "127.70.2.2", {"app": "ecommerce-frontend"}, ns="other"),
}
NAMESPACES = [_ns(NS), _ns("monitoring"), _ns("other")]


def ip(name: str) -> str:
    return PODS[name]["status"]["podIP"]


def production() -> list[dict]:
    docs = yaml.safe_load_all((ROOT / "manifests/production/network-policies.yaml").read_text())
    out = []
    for doc in docs:
        doc["metadata"]["namespace"] = NS
        networkpolicy.apply_defaults(doc)
        out.append(doc)
    return out


def test_production_policies_allow_exactly_the_architectures_arrows() -> None:
    table = compile_policies(production(), list(PODS.values()), NAMESPACES)
    # the lesson: only the backend reaches PostgreSQL, on its port
    assert not table.allows(ip("frontend"), ip("postgres"), 5432)
    assert table.allows(ip("backend"), ip("postgres"), 5432)
    assert not table.allows(ip("backend"), ip("postgres"), 5433)
    assert not table.allows(ip("backend"), ip("postgres"), 5432, "UDP")  # protocol TCP
    # podSelector peers are pods of the policy's namespace only
    assert not table.allows(ip("stranger"), ip("backend"), 5000)
    assert table.allows(ip("frontend"), ip("backend"), 5000)
    # namespaceSelector: monitoring may scrape, on the metrics ports only
    assert table.allows(ip("prometheus"), ip("backend"), 5000)
    assert table.allows(ip("prometheus"), ip("postgres"), 9187)
    assert not table.allows(ip("prometheus"), ip("postgres"), 5432)
    # default-deny-ingress isolates every pod; no policy has Egress: egress is open
    assert not table.allows(ip("backend"), ip("frontend"), 5000)
    assert not table.allows(ip("postgres"), ip("backend"), 5000)
    assert table.allows(ip("backend"), "93.184.215.14", 443)
    # the host is outside the cluster: the frontend's rule has no `from` (anyone)
    assert table.allows(HOST_IP, ip("frontend"), 80)
    assert not table.allows(HOST_IP, ip("backend"), 5000)
    # pods of other namespaces are not isolated by these policies
    assert table.allows(ip("frontend"), ip("stranger"), 80)
    # a pod always reaches itself
    assert table.allows(ip("postgres"), ip("postgres"), 5432)
    # the text the shims read gives the same verdicts
    again = PolicyTable.parse(table.render())
    for src in ("frontend", "backend", "prometheus", "stranger"):
        for dst, port in (("postgres", 5432), ("backend", 5000), ("postgres", 9187)):
            assert again.allows(ip(src), ip(dst), port) == table.allows(ip(src), ip(dst), port)


def test_no_policy_no_isolation_and_deleting_one_reopens() -> None:
    pods, nss = list(PODS.values()), NAMESPACES
    assert compile_policies([], pods, nss).allows(ip("frontend"), ip("postgres"), 5432)
    deny = _policy("deny", {"podSelector": {"matchLabels": {"app": "postgres"}}})
    assert not compile_policies([deny], pods, nss).allows(ip("frontend"), ip("postgres"), 5432)


def test_named_ports_resolve_on_the_destination_pod() -> None:
    pods, nss = list(PODS.values()), NAMESPACES
    ingress = _policy("pg", {"podSelector": {"matchLabels": {"app": "postgres"}},
                             "ingress": [{"ports": [{"port": "postgres"}]}]})
    table = compile_policies([ingress], pods, nss)
    assert table.allows(ip("frontend"), ip("postgres"), 5432)
    assert not table.allows(ip("frontend"), ip("postgres"), 5433)
    # egress: the name is the peer pod's port (5000 on the backend, no `http` on postgres)
    egress = _policy("fe", {"podSelector": {"matchLabels": {"app": "ecommerce-frontend"}},
                            "policyTypes": ["Egress"],
                            "egress": [{"ports": [{"port": "http"}]}]})
    table = compile_policies([egress], pods, nss)
    assert table.allows(ip("frontend"), ip("backend"), 5000)
    assert not table.allows(ip("frontend"), ip("postgres"), 5432)
    assert not table.allows(ip("frontend"), "93.184.215.14", 80)  # an address has no names


def test_default_deny_egress_with_dns_and_ip_blocks() -> None:
    pods, nss = list(PODS.values()), NAMESPACES
    egress = _policy("be", {
        "podSelector": {"matchLabels": {"app": "ecommerce-backend"}},
        "egress": [
            {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]},
            {"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
             "ports": [{"port": 8000, "endPort": 8100}]},
        ]})
    assert egress["spec"]["policyTypes"] == ["Ingress", "Egress"]  # defaulted from `egress`
    table = compile_policies([egress], pods, nss)
    assert table.allows(ip("backend"), "10.96.0.10", 53, "UDP")
    assert table.allows(ip("backend"), "10.96.0.10", 53, "TCP")
    assert not table.allows(ip("backend"), ip("postgres"), 5432)
    assert table.allows(ip("backend"), "10.2.3.4", 8050)
    assert not table.allows(ip("backend"), "10.2.3.4", 8101)
    assert not table.allows(ip("backend"), "10.1.3.4", 8050)  # except
    # Ingress is in the defaulted policyTypes with no rule: the backend is closed too
    assert not table.allows(ip("frontend"), ip("backend"), 5000)


def test_pod_and_namespace_selector_in_one_peer_is_an_and() -> None:
    pods, nss = list(PODS.values()), NAMESPACES
    both = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "other"}},
            "podSelector": {"matchLabels": {"app": "ecommerce-frontend"}}}
    apart = [{"namespaceSelector": both["namespaceSelector"]},
             {"podSelector": {"matchLabels": {"app": "ecommerce-backend"}}}]
    sel = {"matchLabels": {"app": "postgres"}}
    table = compile_policies([_policy("and", {"podSelector": sel, "ingress": [{"from": [both]}]})],
                             pods, nss)
    assert table.allows(ip("stranger"), ip("postgres"), 5432)
    assert not table.allows(ip("frontend"), ip("postgres"), 5432)  # right labels, wrong ns
    table = compile_policies([_policy("or", {"podSelector": sel, "ingress": [{"from": apart}]})],
                             pods, nss)
    assert table.allows(ip("stranger"), ip("postgres"), 5432)
    assert table.allows(ip("backend"), ip("postgres"), 5432)
    assert not table.allows(ip("prometheus"), ip("postgres"), 5432)


# ------------------------------------------------------------------ the shims enforce it

CLIENT = """
import json, socket, sys
def tcp(target):
    s = socket.socket()
    s.settimeout(10)
    try:
        s.connect(tuple(target))
        return s.recv(64).decode()
    except (TimeoutError, socket.timeout) as exc:
        return "timeout" if "timed out" in str(exc) else repr(exc)
    except ConnectionRefusedError:
        return "refused"
    finally:
        s.close()
def udp(target):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"ping", tuple(target))
    s.close()
    return "sent"
for line in sys.stdin:
    kind, target = json.loads(line)
    print(json.dumps(tcp(target) if kind == "tcp" else udp(target)), flush=True)
"""


@pytest.fixture
def policy_file(hosts: HostsTable) -> Iterator[Path]:
    """The node's table next to the session's hosts table; removed after, so other tests'
    pods see no policies."""
    path = hosts.path.with_name("netpol")
    yield path
    path.unlink(missing_ok=True)
    write_services(hosts.path.with_name("services"), {})


@pytest.mark.parametrize("mode", ["c", "python"])
def test_shim_drops_what_the_table_denies_and_follows_its_changes(
        mode: str, policy_file: Path, hosts: HostsTable, allocator: IPAllocator) -> None:
    if mode == "c" and netshim.compiler() is None:
        pytest.skip("no C compiler: labnet.so cannot be built (the python mode is tested)")
    client_ip = allocator.allocate()
    open_srv, closed_srv = address_server(allocator.allocate()), address_server(allocator.allocate())
    udp_srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp_srv.bind((allocator.allocate(), 0))
    udp_srv.settimeout(1)
    sink = DropSink()
    open_ep, closed_ep, udp_ep = (open_srv.getsockname(), closed_srv.getsockname(),
                                  udp_srv.getsockname())
    cluster_ip = "127.1.250.9"
    write_services(hosts.path.with_name("services"), {(cluster_ip, 80): [closed_ep]})

    def table(deny: bool) -> None:
        t = PolicyTable(drop_tcp=sink.tcp_address, drop_udp=sink.udp_address, timeout_ms=500)
        if deny:  # all three isolated for ingress; rules open only open_ep to the client
            t.isolated = {closed_ep[0]: "I", udp_ep[0]: "I", open_ep[0]: "I"}
            t.rules = [
                Rule("in", open_ep[0], "TCP", open_ep[1], open_ep[1], f"{client_ip}/32"),
                Rule("in", closed_ep[0], "TCP", 0, 65535, "127.0.0.9/32"),  # someone else
                Rule("in", udp_ep[0], "TCP", 0, 65535, f"{client_ip}/32"),  # TCP, not UDP
            ]
        t.write(policy_file)

    table(deny=True)
    env = netshim.shim_env(client_ip, hosts.path, [], "client", mode=mode,
                           base_env={"PATH": "/usr/bin:/bin"})
    assert env["LABCLUSTER_NETPOL"] == str(policy_file)
    if mode == "python":
        env["PYTHONPATH"] = f"{env['PYTHONPATH']}:{ROOT}"
    proc = subprocess.Popen([sys.executable, "-c", CLIENT], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def ask(kind: str, target: tuple) -> str:
        assert proc.stdin and proc.stdout
        proc.stdin.write(json.dumps([kind, list(target)]) + "\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else ""
        return json.loads(line)

    try:
        assert ask("tcp", open_ep) == open_ep[0]
        assert ask("tcp", closed_ep) == "timeout"            # a dropped SYN, not a refusal
        assert ask("tcp", (cluster_ip, 80)) == "timeout"     # decided after DNAT
        assert ask("udp", udp_ep) == "sent"
        with pytest.raises(TimeoutError):
            udp_srv.recvfrom(64)                             # the datagram never came
        table(deny=False)                                    # the policy deleted: live
        assert ask("tcp", closed_ep) == closed_ep[0]
        assert ask("tcp", (cluster_ip, 80)) == closed_ep[0]
        assert ask("udp", udp_ep) == "sent"
        assert udp_srv.recvfrom(64)[0] == b"ping"
    finally:
        proc.kill()
        proc.wait()
        for s in (open_srv, closed_srv, udp_srv):
            s.close()
        sink.close()
