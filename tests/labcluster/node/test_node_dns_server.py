"""Cluster DNS on the wire: the zone the node builds from the store (network.build_zone),
served by dnsserver.DnsServer over UDP and TCP and asked with dnslib as a client would;
the hosts table the shims read holds the same A records; and the shims' UDP DNAT takes
a datagram to a ClusterIP to the server and reports the reply as the ClusterIP's."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from labcluster.api import ClusterApi
from labcluster.node import netshim
from labcluster.node.dns import HostsTable, search_list
from labcluster.node.dnsserver import TTL, DnsServer
from labcluster.node.kubeproxy import write_services
from labcluster.node.loopback import IPAllocator
from labcluster.node.network import build_zone
from labcluster.store import Store

NS = "shop"
PORT = 10053


def _put(api: ClusterApi, res: str, name: str, body: dict) -> None:
    api.store.put(f"/{res}", NS, name, {"metadata": {"name": name, "namespace": NS}, **body})


@pytest.fixture
async def api(tmp_path: Path, allocator: IPAllocator) -> AsyncIterator[ClusterApi]:
    """A store with what the lab has: a ClusterIP Service, a headless one for a
    StatefulSet (postgres-0 with its hostname), a headless one without hostnames."""
    store = Store(tmp_path / "store.sqlite")
    a = ClusterApi(store, history=50)
    await a.bootstrap()
    ips = {k: allocator.allocate() for k in ("pg", "c1", "c2")}
    _put(a, "services", "backend", {"spec": {"clusterIP": "127.1.77.5", "ports": [
        {"name": "http", "port": 5000, "protocol": "TCP"}]}})
    _put(a, "services", "postgres", {"spec": {"clusterIP": "None", "ports": [
        {"name": "postgres", "port": 5432, "protocol": "TCP"}]}})
    _put(a, "endpoints", "postgres", {"subsets": [{
        "addresses": [{"ip": ips["pg"], "hostname": "postgres-0"}],
        "ports": [{"name": "postgres", "port": 5432, "protocol": "TCP"}]}]})
    _put(a, "services", "cache", {"spec": {"clusterIP": "None", "ports": [{"port": 6379}]}})
    _put(a, "endpoints", "cache", {"subsets": [{
        "addresses": [{"ip": ips["c1"]}, {"ip": ips["c2"]}], "ports": [{"port": 6379}]}]})
    _put(a, "pods", "postgres-0", {"status": {"phase": "Running", "podIP": ips["pg"]}})
    a.ips = ips  # type: ignore[attr-defined]
    yield a
    store.close()


@pytest.fixture
async def server(api: ClusterApi, allocator: IPAllocator) -> AsyncIterator[DnsServer]:
    srv = DnsServer(allocator.allocate(), PORT, zone=build_zone(api))
    await srv.start()
    yield srv
    await srv.close()


async def ask(srv: DnsServer | tuple[str, int], name: str, qtype: str = "A",
              tcp: bool = False) -> DNSRecord:
    host, port = (srv.address, srv.port) if isinstance(srv, DnsServer) else srv
    raw = await asyncio.to_thread(DNSRecord.question(name, qtype).send, host, port, tcp=tcp,
                                  timeout=5)
    return DNSRecord.parse(raw)


def answers(reply: DNSRecord) -> list[str]:
    return sorted(str(rr.rdata) for rr in reply.rr)


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_records_as_coredns_kubernetes_plugin(api: ClusterApi, server: DnsServer,
                                                    tcp: bool) -> None:
    ips = api.ips  # type: ignore[attr-defined]
    fq = f"{NS}.svc.cluster.local"
    backend = await ask(server, f"backend.{fq}", tcp=tcp)
    assert answers(backend) == ["127.1.77.5"] and backend.rr[0].ttl == TTL
    assert backend.header.aa and backend.header.rcode == RCODE.NOERROR
    assert answers(await ask(server, f"postgres.{fq}", tcp=tcp)) == [ips["pg"]]
    assert answers(await ask(server, f"postgres-0.postgres.{fq}", tcp=tcp)) == [ips["pg"]]
    assert answers(await ask(server, f"cache.{fq}", tcp=tcp)) == sorted([ips["c1"], ips["c2"]])
    # SRV for named ports: the Service (ClusterIP) or each endpoint (headless)
    srv = await ask(server, f"_http._tcp.backend.{fq}", "SRV", tcp=tcp)
    assert answers(srv) == [f"0 100 5000 backend.{fq}."]
    srv = await ask(server, f"_postgres._tcp.postgres.{fq}", "SRV", tcp=tcp)
    assert answers(srv) == [f"0 100 5432 postgres-0.postgres.{fq}."]
    assert [(str(rr.rname), str(rr.rdata)) for rr in srv.ar] == [
        (f"postgres-0.postgres.{fq}.", ips["pg"])]
    # unknown names under the domain, and single labels: NXDOMAIN with the zone's SOA
    for name in (f"postgres-db.{fq}", "postgres-db", f"_x._tcp.backend.{fq}"):
        nx = await ask(server, name, tcp=tcp)
        assert nx.header.rcode == RCODE.NXDOMAIN and not nx.rr, name
        assert [QTYPE[rr.rtype] for rr in nx.auth] == ["SOA"]
    # a name that exists without the type asked (IPv6): NOERROR, no answer
    nodata = await ask(server, f"backend.{fq}", "AAAA", tcp=tcp)
    assert nodata.header.rcode == RCODE.NOERROR and not nodata.rr and nodata.auth
    assert answers(await ask(server, "5.77.1.127.in-addr.arpa", "PTR", tcp=tcp)) == [
        f"backend.{fq}."]
    pod = ips["pg"].replace(".", "-")
    assert answers(await ask(server, f"{pod}.{NS}.pod.cluster.local", tcp=tcp)) == [ips["pg"]]


async def test_zone_follows_the_store_and_matches_the_hosts_table(
        api: ClusterApi, server: DnsServer, tmp_path: Path) -> None:
    """What the shims' getaddrinfo reads (hosts table) is what the server answers, for
    every name and the search list; a new Service is answered once the zone is rebuilt."""
    zone = build_zone(api)
    table = HostsTable(tmp_path / "hosts")
    table.write({name: list(ips) for name, ips in zone.a.items()})
    search = search_list(NS)
    for short in ("backend", "postgres", "postgres-0.postgres", "cache", "backend.shop"):
        local = table.lookup(short, search)
        assert local is not None
        assert answers(await ask(server, local.fqdn)) == sorted(local.addresses), short
    fqdn = f"cart.{NS}.svc.cluster.local"
    assert (await ask(server, fqdn)).header.rcode == RCODE.NXDOMAIN
    _put(api, "services", "cart", {"spec": {"clusterIP": "127.1.77.9", "ports": [
        {"port": 5002}]}})
    server.zone = build_zone(api)  # what Network.sync does on every Service/Endpoints event
    assert answers(await ask(server, fqdn)) == ["127.1.77.9"]
    assert "coredns_dns_requests_total" in server.metrics_text()


async def test_other_names_are_forwarded(api: ClusterApi, server: DnsServer,
                                         allocator: IPAllocator) -> None:
    """Outside cluster.local: the upstream's answer; none configured: REFUSED; one that
    does not answer (nothing listens): SERVFAIL."""
    from labcluster.node.dnsserver import Zone

    upstream = DnsServer(allocator.allocate(), PORT, zone=Zone(
        a={"shop.example.test": ("192.0.2.7",)}, domain="test"))
    await upstream.start()
    try:
        assert (await ask(server, "shop.example.test")).header.rcode == RCODE.REFUSED
        server.upstreams = [(upstream.address, upstream.port)]
        assert answers(await ask(server, "shop.example.test")) == ["192.0.2.7"]
        server.upstreams = [(allocator.allocate(), PORT)]
        assert (await ask(server, "shop.example.test")).header.rcode == RCODE.SERVFAIL
    finally:
        await upstream.close()


UDP_CLIENT = r"""
import json, socket, sys
from dnslib import DNSRecord
cluster_ip, name = sys.argv[1], sys.argv[2]
out = {}
q = DNSRecord.question(name)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(q.pack(), (cluster_ip, 53))
data, source = s.recvfrom(4096)
out["sendto"] = [list(source), [str(r.rdata) for r in DNSRecord.parse(data).rr]]
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.settimeout(5)
c.connect((cluster_ip, 53))
c.send(q.pack())
data, source = c.recvfrom(4096)
out["connected"] = [list(source), [str(r.rdata) for r in DNSRecord.parse(data).rr]]
try:
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", (sys.argv[3], 53))
    out["empty"] = "sent"
except ConnectionRefusedError:
    out["empty"] = "refused"
print(json.dumps(out))
"""


@pytest.mark.parametrize("mode", ["c", "python"])
async def test_shim_dnats_datagrams_to_the_dns_service(mode: str, server: DnsServer,
                                                       hosts: HostsTable,
                                                       allocator: IPAllocator) -> None:
    """sendto/connect to kube-dns's ClusterIP reach the server's own address, and the
    reply is reported as coming from ClusterIP:53 (conntrack's reverse NAT), which
    resolvers check; a UDP Service without endpoints refuses."""
    if mode == "c" and netshim.compiler() is None:
        pytest.skip("no C compiler: labnet.so cannot be built (the python mode is tested)")
    cluster_ip, empty_ip = "127.1.250.10", "127.1.250.11"
    write_services(hosts.path.with_name("services-udp"),
                   {(cluster_ip, 53): [(server.address, server.port)], (empty_ip, 53): []})
    env = netshim.shim_env(allocator.allocate(), hosts.path, [], "client", mode=mode,
                           base_env={"PATH": "/usr/bin:/bin"})
    assert env["LABCLUSTER_SERVICES_UDP"] == str(hosts.path.with_name("services-udp"))
    env.pop("LABCLUSTER_PORT_REMAP", None)  # port 53 as asked: the table says where to
    root = str(Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = f"{env['PYTHONPATH']}:{root}" if mode == "python" else root
    out = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", UDP_CLIENT, cluster_ip,
                         f"backend.{NS}.svc.cluster.local", empty_ip],
        env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["sendto"] == [[cluster_ip, 53], ["127.1.77.5"]]
    assert got["connected"] == [[cluster_ip, 53], ["127.1.77.5"]]
    assert got["empty"] == "refused"


async def test_a_big_answer_is_truncated_over_udp_and_whole_over_tcp(
        api: ClusterApi, allocator: IPAllocator) -> None:
    """40 endpoints do not fit 512 bytes: UDP says TC (no partial answer), TCP has all."""
    ips = sorted(allocator.allocate() for _ in range(40))
    _put(api, "services", "many", {"spec": {"clusterIP": "None", "ports": [{"port": 80}]}})
    _put(api, "endpoints", "many", {"subsets": [{
        "addresses": [{"ip": ip} for ip in ips], "ports": [{"port": 80}]}]})
    srv = DnsServer(allocator.allocate(), PORT, zone=build_zone(api))
    await srv.start()
    try:
        udp = await ask(srv, f"many.{NS}.svc.cluster.local")
        assert udp.header.tc and not udp.rr
        tcp = await ask(srv, f"many.{NS}.svc.cluster.local", tcp=True)
        assert not tcp.header.tc and answers(tcp) == sorted(ips)
    finally:
        await srv.close()


async def test_a_taken_dns_address_draws_another_pod_subnet(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process already serving DNS on the first address of the drawn /24 (as
    another cluster on this machine can) sends the node to the next /24, not down."""
    from labcluster.node import component
    from labcluster.node.ports import node_ports
    monkeypatch.delenv(component.POD_CIDR_ENV, raising=False)
    port = node_ports().host_port(53)
    squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    squatter.bind(("127.88.7.2", port))
    drawn = iter(["127.88.7.0/24", "127.88.8.0/24"])
    try:
        ips, server = await component.start_dns_in_a_free_subnet(lambda: next(drawn))
        try:
            assert (server.address, str(ips.network)) == ("127.88.8.2", "127.88.8.0/24")
            reply = await ask(server, "kubernetes.default.svc.cluster.local")
            assert str(reply.q.qname) == "kubernetes.default.svc.cluster.local."
        finally:
            await server.close()
    finally:
        squatter.close()


async def test_a_taken_dns_address_in_a_fixed_subnet_fails_with_its_name(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from labcluster.node import component
    from labcluster.node.ports import node_ports
    monkeypatch.setenv(component.POD_CIDR_ENV, "127.88.9.0/24")
    squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    squatter.bind(("127.88.9.2", node_ports().host_port(53)))
    try:
        with pytest.raises(OSError, match=r"cluster DNS cannot listen on 127\.88\.9\.2 .*"
                           r"LABCLUSTER_POD_CIDR=127\.88\.9\.0/24"):
            await component.start_dns_in_a_free_subnet()
    finally:
        squatter.close()
