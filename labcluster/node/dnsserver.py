"""Cluster DNS on the wire: what CoreDNS's kubernetes plugin answers, served by the node.

Why a real server next to the hosts table (`dns.py`): a learner's `nslookup` and `dig`
in a pod must talk to a DNS server at the `kube-dns` Service's ClusterIP and show it,
and SRV records, NXDOMAIN with an SOA, and TTLs only exist on the wire. Both are fed
from one `Zone` (built by `network.build_zone` from the store), so the shims'
getaddrinfo (hosts table, no round trip) and the server give identical A answers.

The server runs in the API server's event loop (dnslib for the wire format), UDP and
TCP on the node's DNS address (a loopback address from the pod range, port 53 shifted
like any pod port when the node is not root: `ports.py`). Pods reach it through the
`kube-dns` ClusterIP, which the shim DNATs (UDP and TCP) to that address.

Records, as the kubernetes plugin (CoreDNS 1.11, `pods insecure`, `ttl` default 5):
- `<svc>.<ns>.svc.<domain>` A: the ClusterIP; headless: the ready endpoints' IPs
  (not-ready ones too with `publishNotReadyAddresses`); no endpoint: NXDOMAIN.
- `<hostname>.<svc>.<ns>.svc.<domain>` A for a headless endpoint with a hostname
  (StatefulSet pods: `postgres-0.postgres.<ns>.svc.cluster.local`), else
  `<a-b-c-d>.<svc>...` (the IP with dashes).
- `_<port>._<proto>.<svc>.<ns>.svc.<domain>` SRV for each named port: the Service's name
  (ClusterIP) or one target per endpoint (headless), weights 100/n, A records of the
  targets in the additional section.
- `<a-b-c-d>.<ns>.pod.<domain>` A (pods insecure), PTR for ClusterIPs and endpoints.
- A name that exists without the asked type: NOERROR with no answer (NODATA) and the SOA;
  an unknown name under the domain or a single label: NXDOMAIN with the SOA, authoritative.
- Anything else is forwarded to the machine's resolvers (`/etc/resolv.conf`), as
  `forward . /etc/resolv.conf`; they fail or time out → SERVFAIL; none → REFUSED.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import struct
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dnslib import PTR, QTYPE, RCODE, RR, SOA, SRV, A, DNSRecord

log = logging.getLogger("labcluster.dns")
TTL = 5  # the kubernetes plugin's default `ttl`
UPSTREAM_TIMEOUT = 2.0
SOA_MNAME = "ns.dns.{domain}."
SOA_RNAME = "hostmaster.{domain}."


@dataclass(frozen=True)
class Zone:
    """The cluster's records: FQDN (lower case, no trailing dot) → data."""

    a: dict[str, tuple[str, ...]] = field(default_factory=dict)
    srv: dict[str, tuple[tuple[int, int, int, str], ...]] = field(default_factory=dict)
    ptr: dict[str, str] = field(default_factory=dict)  # IPv4 address → FQDN
    domain: str = "cluster.local"

    def exists(self, name: str) -> bool:
        return name in self.a or name in self.srv


def dashed(ip: str) -> str:
    return ip.replace(".", "-")


def host_upstreams(path: str = "/etc/resolv.conf") -> list[tuple[str, int]]:
    """The machine's nameservers, as CoreDNS's `forward . /etc/resolv.conf` reads them."""
    out = []
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            fields = line.split("#", 1)[0].split()
            if len(fields) >= 2 and fields[0] == "nameserver":
                with contextlib.suppress(ValueError):
                    out.append((str(ipaddress.ip_address(fields[1])), 53))
    return out


class DnsServer:
    """UDP + TCP DNS for one Zone; `zone` is replaced whole when the cluster changes."""

    def __init__(self, address: str, port: int, upstreams: Iterable[tuple[str, int]] = (),
                 zone: Zone | None = None, metrics_port: int | None = None) -> None:
        self.address, self.port, self.metrics_port = address, port, metrics_port
        self.upstreams = list(upstreams)
        self.zone = zone or Zone()
        self.requests: Counter[tuple[str, str]] = Counter()   # (proto, qtype)
        self.responses: Counter[str] = Counter()              # rcode name
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._metrics: asyncio.Server | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._udp, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self), local_addr=(self.address, self.port))
        self._tcp = await asyncio.start_server(self._serve_tcp, self.address, self.port)
        if self.metrics_port:
            self._metrics = await asyncio.start_server(self._serve_metrics, self.address,
                                                       self.metrics_port)
        log.info("cluster DNS on %s:%d (udp, tcp)", self.address, self.port)

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        for server in (self._tcp, self._metrics):
            if server is not None:
                server.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(server.wait_closed(), 2)
        self._tcp = self._metrics = None

    # ------------------------------------------------------------------ answering
    async def handle(self, data: bytes, proto: str) -> bytes | None:
        """The reply to one query message, None for garbage (dropped, as CoreDNS does)."""
        reply, forward = self.decide(data, proto)
        if forward is not None:
            reply = self.counted(await self.forward(forward, data))
        return None if reply is None else reply.pack()

    def decide(self, data: bytes, proto: str) -> tuple[DNSRecord | None, DNSRecord | None]:
        """(reply, None) for the cluster's names, answered at once without a task;
        (None, request) for a name to forward; (None, None) to drop the message."""
        try:
            request = DNSRecord.parse(data)
        except Exception:  # dnslib raises DNSError and struct/index errors on junk
            return None, None
        if request.header.qr or not request.questions:
            return None, None
        q = request.q
        self.requests[(proto, QTYPE.get(q.qtype, str(q.qtype)))] += 1
        name = str(q.qname).lower().rstrip(".")
        if not self.owns(name):
            return None, request
        return self.counted(self.answer(request, name)), None

    def counted(self, reply: DNSRecord) -> DNSRecord:
        self.responses[RCODE.get(reply.header.rcode, str(reply.header.rcode))] += 1
        return reply

    def owns(self, name: str) -> bool:
        domain = self.zone.domain
        if "." not in name or name == domain or name.endswith("." + domain):
            return True
        return name.endswith(".in-addr.arpa") and _ptr_ip(name) in self.zone.ptr

    def answer(self, request: DNSRecord, name: str) -> DNSRecord:
        zone, q = self.zone, request.q
        reply = request.reply(ra=1, aa=1)
        qtype = q.qtype
        if name.endswith(".in-addr.arpa"):
            reply.add_answer(RR(q.qname, QTYPE.PTR, ttl=TTL,
                                rdata=PTR(zone.ptr[_ptr_ip(name)] + ".")))
            return reply
        found = False
        if name in zone.a:
            found = True
            if qtype in (QTYPE.A, QTYPE.ANY):
                for ip in zone.a[name]:
                    reply.add_answer(RR(q.qname, QTYPE.A, ttl=TTL, rdata=A(ip)))
        if name in zone.srv:
            found = True
            if qtype in (QTYPE.SRV, QTYPE.ANY):
                for prio, weight, port, target in zone.srv[name]:
                    reply.add_answer(RR(q.qname, QTYPE.SRV, ttl=TTL,
                                        rdata=SRV(prio, weight, port, target + ".")))
                    for ip in zone.a.get(target, ()):
                        reply.add_ar(RR(target + ".", QTYPE.A, ttl=TTL, rdata=A(ip)))
        if not found:
            reply.header.rcode = RCODE.NXDOMAIN
        if not reply.rr:
            d = zone.domain
            reply.add_auth(RR(d + ".", QTYPE.SOA, ttl=TTL, rdata=SOA(
                SOA_MNAME.format(domain=d), SOA_RNAME.format(domain=d),
                (1, 7200, 1800, 86400, TTL))))
        return reply

    async def forward(self, request: DNSRecord, data: bytes) -> DNSRecord:
        """Ask the machine's resolvers; SERVFAIL when none answers, REFUSED without any."""
        if not self.upstreams:
            reply = request.reply(ra=1, aa=0)
            reply.header.rcode = RCODE.REFUSED
            return reply
        for host, port in self.upstreams:
            try:
                answer = DNSRecord.parse(await _udp_exchange(data, host, port,
                                                             UPSTREAM_TIMEOUT))
                if answer.header.id == request.header.id:
                    return answer
            except Exception as exc:  # timeouts, ICMP errors, junk: try the next one
                log.debug("dns: upstream %s:%d: %r", host, port, exc)
        reply = request.reply(ra=1, aa=0)
        reply.header.rcode = RCODE.SERVFAIL
        return reply

    # ------------------------------------------------------------------ transports
    async def _serve_tcp(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readexactly(2)
                data = await reader.readexactly(struct.unpack("!H", head)[0])
                out = await self.handle(data, "tcp")
                if out is None:
                    break
                writer.write(struct.pack("!H", len(out)) + out)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _serve_metrics(self, reader: asyncio.StreamReader,
                             writer: asyncio.StreamWriter) -> None:
        """`GET /metrics` (CoreDNS's prometheus plugin on :9153); one request per connection."""
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            path = request.split(b" ", 2)[1] if request.count(b" ") >= 2 else b""
            if path.split(b"?")[0] == b"/metrics":
                body, status = self.metrics_text().encode(), b"200 OK"
                ctype = b"text/plain; version=0.0.4; charset=utf-8"
            else:
                body, status, ctype = b"404 page not found\n", b"404 Not Found", b"text/plain"
            writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: " + ctype +
                         b"\r\nContent-Length: " + str(len(body)).encode() +
                         b"\r\nConnection: close\r\n\r\n" + body)
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                ConnectionError):
            pass
        finally:
            writer.close()

    def metrics_text(self) -> str:
        """Prometheus text with CoreDNS's counter names (a subset)."""
        lines = ["# HELP coredns_dns_requests_total Counter of DNS requests made per zone, "
                 "protocol and family.", "# TYPE coredns_dns_requests_total counter"]
        for (proto, qtype), n in sorted(self.requests.items()):
            lines.append(f'coredns_dns_requests_total{{family="1",proto="{proto}",'
                         f'server="dns://:53",type="{qtype}",zone="."}} {n}')
        lines += ["# HELP coredns_dns_responses_total Counter of response status codes.",
                  "# TYPE coredns_dns_responses_total counter"]
        for rcode, n in sorted(self.responses.items()):
            lines.append(f'coredns_dns_responses_total{{rcode="{rcode}",'
                         f'server="dns://:53",zone="."}} {n}')
        return "\n".join(lines) + "\n"


def _ptr_ip(name: str) -> str:
    parts = name[: -len(".in-addr.arpa")].split(".")
    return ".".join(reversed(parts)) if len(parts) == 4 else ""


def udp_limit(request: bytes) -> int:
    """512 bytes, or the EDNS0 payload size the client announced."""
    try:
        record = DNSRecord.parse(request)
    except Exception:
        return 512
    for rr in record.ar:
        if rr.rtype == QTYPE.OPT:
            return max(512, rr.rclass)
    return 512


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply, forward = self.server.decide(data, "udp")
        if reply is not None:
            self._send(reply, data, addr)
        elif forward is not None:
            asyncio.get_running_loop().create_task(self._forward(forward, data, addr))

    async def _forward(self, request: DNSRecord, data: bytes, addr: tuple[str, int]) -> None:
        self._send(self.server.counted(await self.server.forward(request, data)), data, addr)

    def _send(self, reply: DNSRecord, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport is None:
            return
        out = reply.pack()
        if len(out) > 512 and len(out) > udp_limit(data):  # TC: the client asks over TCP
            reply.rr, reply.auth, reply.ar = [], [], []
            reply.header.tc = 1
            out = reply.pack()
        self.transport.sendto(out, addr)


class _Exchange(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self.answer.done():
            self.answer.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc)


async def _udp_exchange(data: bytes, host: str, port: int, timeout: float) -> bytes:
    transport, proto = await asyncio.get_running_loop().create_datagram_endpoint(
        _Exchange, remote_addr=(host, port))
    try:
        transport.sendto(data)
        return await asyncio.wait_for(proto.answer, timeout)
    finally:
        transport.close()
