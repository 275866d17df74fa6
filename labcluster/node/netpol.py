"""NetworkPolicy enforcement: the node's CNI part.

A real CNI (Calico, Cilium) turns the policies into per-pod filters in the kernel. Here
every pod process carries the network shim (labnet.c, or the Python hook), which already
sees each connect(); the node compiles the policies of the store into one table
(`<home>/node/netpol`, written atomically, re-read by the shims when its stat changes)
and the shim decides each connection from the pod's own IP, after Service DNAT:

- a pod is isolated for ingress (egress) when some policy of its namespace selects it
  with that policyType; an isolated pod's traffic is allowed only when some rule of a
  selecting policy allows it (rules only add: the union of all selecting policies);
- a connection needs both the source pod's egress and the destination pod's ingress;
- peers: podSelector (this namespace), namespaceSelector, both (AND), ipBlock (cidr minus
  except), none (everyone); ports: protocol, number, endPort ranges, named ports (the
  destination pod's container port of that name and protocol).

The table (one line each; ports are the API's numbers, the shims undo the privileged-port
shift before they look):

    drop tcp 127.0.0.1 40123      # where denied TCP connects go (a full accept queue)
    drop udp 127.0.0.1 40124      # where denied UDP goes (a socket nobody reads)
    timeout 2000                  # ms until a dropped TCP connect fails with ETIMEDOUT
    iso 127.64.3.7 IE             # this pod is isolated for Ingress and/or Egress
    in 127.64.3.7 TCP 5432 5432 127.64.3.9/32      # ingress to the pod allowed from ...
    out 127.64.3.9 * 0 65535 10.0.0.0/8 10.1.0.0/16 # egress allowed to cidr except ...

`*` as protocol is every protocol, as cidr every address. Denied traffic is dropped, as a
CNI drops packets: the shim points a denied TCP connect at the node's `drop` listener,
whose accept queue is kept full so the kernel drops the SYNs, with TCP_USER_TIMEOUT set
to `timeout`, so the client gets a genuine ETIMEDOUT after that long (or its own,
shorter, connect timeout first); denied UDP goes to a socket that never reads.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labcluster.selectors import selector_from_match

HOST_IP = "127.0.0.1"  # where host processes (notebooks, the API server) connect from
DROP_SECONDS_ENV = "LABCLUSTER_NETPOL_DROP_SECONDS"
DEFAULT_DROP_SECONDS = 2.0
ANY = "*"
Net = ipaddress.IPv4Network | ipaddress.IPv6Network


def drop_seconds() -> float:
    """How long a denied TCP connect hangs before ETIMEDOUT (a dropped SYN's symptom)."""
    raw = os.environ.get(DROP_SECONDS_ENV, "")
    try:
        value = float(raw) if raw else DEFAULT_DROP_SECONDS
    except ValueError:
        raise ValueError(f"{DROP_SECONDS_ENV}={raw!r}: expected seconds, e.g. 2") from None
    if not 0.001 <= value <= 600:
        raise ValueError(f"{DROP_SECONDS_ENV}={raw!r}: expected 0.001 to 600 seconds")
    return value


@dataclass(frozen=True)
class Rule:
    """One allowed (pod, protocol, port range, peer network minus excepts)."""

    direction: str  # "in": traffic to `pod` from the peer; "out": from `pod` to the peer
    pod: str
    protocol: str  # TCP, UDP, SCTP or *
    low: int
    high: int
    cidr: str  # a network or * (any address)
    excepts: tuple[str, ...] = ()

    def line(self) -> str:
        return " ".join([self.direction, self.pod, self.protocol, str(self.low),
                         str(self.high), self.cidr, *self.excepts])

    def matches(self, peer: str, protocol: str, port: int) -> bool:
        if self.protocol not in (ANY, protocol) or not self.low <= port <= self.high:
            return False
        if self.cidr == ANY:
            return True
        address = _address(peer)
        if address is None or not _contains(self.cidr, address):
            return False
        return not any(_contains(e, address) for e in self.excepts)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


@functools.lru_cache(maxsize=4096)
def _network(cidr: str) -> Net:
    return ipaddress.ip_network(cidr, strict=False)


def _contains(cidr: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    net = _network(cidr)
    return net.version == address.version and address in net


@dataclass
class PolicyTable:
    """The compiled policies: who is isolated, and what each isolated pod may do."""

    isolated: dict[str, str] = field(default_factory=dict)  # pod IP -> "I", "E" or "IE"
    rules: list[Rule] = field(default_factory=list)
    drop_tcp: tuple[str, int] | None = None
    drop_udp: tuple[str, int] | None = None
    timeout_ms: int = int(DEFAULT_DROP_SECONDS * 1000)

    def allows(self, source: str, destination: str, port: int, protocol: str = "TCP") -> bool:
        """The verdict for one connection, as the shims decide it (`source` is a pod IP
        or HOST_IP; `destination` after Service DNAT; `port` in the API's numbers)."""
        if source == destination:
            return True  # a pod always reaches itself (localhost is its own IP here)
        flags_src = self.isolated.get(source, "")
        flags_dst = self.isolated.get(destination, "")
        if "E" in flags_src and not any(
                r.direction == "out" and r.pod == source and r.matches(destination, protocol, port)
                for r in self.rules):
            return False
        return "I" not in flags_dst or any(
            r.direction == "in" and r.pod == destination and r.matches(source, protocol, port)
            for r in self.rules)

    def render(self) -> str:
        lines = ["# labcluster NetworkPolicy table (labcluster/node/netpol.py)"]
        if self.drop_tcp:
            lines.append(f"drop tcp {self.drop_tcp[0]} {self.drop_tcp[1]}")
        if self.drop_udp:
            lines.append(f"drop udp {self.drop_udp[0]} {self.drop_udp[1]}")
        lines.append(f"timeout {self.timeout_ms}")
        lines += [f"iso {ip} {flags}" for ip, flags in sorted(self.isolated.items())]
        lines += [r.line() for r in self.rules]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str) -> PolicyTable:
        """The table back from its text (the Python hook reads it this way)."""
        table = cls()
        for line in text.splitlines():
            parts = line.split("#", 1)[0].split()
            if not parts:
                continue
            try:
                if parts[0] == "drop" and len(parts) == 4:
                    addr = (parts[2], int(parts[3]))
                    if parts[1] == "tcp":
                        table.drop_tcp = addr
                    else:
                        table.drop_udp = addr
                elif parts[0] == "timeout" and len(parts) == 2:
                    table.timeout_ms = int(parts[1])
                elif parts[0] == "iso" and len(parts) == 3:
                    table.isolated[parts[1]] = parts[2]
                elif parts[0] in ("in", "out") and len(parts) >= 6:
                    table.rules.append(Rule(parts[0], parts[1], parts[2], int(parts[3]),
                                            int(parts[4]), parts[5], tuple(parts[6:])))
            except ValueError:
                continue
        return table

    def write(self, path: Path) -> None:
        """Atomically (the shims may read it at any time), readable by every pod user."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(self.render())
        tmp.chmod(0o644)
        os.replace(tmp, path)


# ---------------------------------------------------------------- compiling

@dataclass(frozen=True)
class PodView:
    ip: str
    namespace: str
    labels: dict[str, str]
    ports: tuple[tuple[str, str, int], ...]  # (name, protocol, containerPort)

    def named_port(self, name: str, protocol: str) -> int | None:
        return next((n for pname, proto, n in self.ports
                     if pname == name and proto == protocol), None)


def pod_views(pods: list[dict[str, Any]]) -> list[PodView]:
    """Pods that have a pod-network IP and may still send or receive traffic."""
    views = []
    for pod in pods:
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        ip = status.get("podIP")
        if not ip or spec.get("hostNetwork") or status.get("phase") in ("Succeeded", "Failed"):
            continue
        ports = tuple((p.get("name", ""), p.get("protocol", "TCP"), int(p["containerPort"]))
                      for c in spec.get("containers") or [] for p in c.get("ports") or []
                      if p.get("name") and "containerPort" in p)
        views.append(PodView(ip, pod["metadata"]["namespace"],
                             dict(pod["metadata"].get("labels") or {}), ports))
    return views


def _selector(sel: dict[str, Any] | None) -> Callable[[dict[str, str]], bool]:
    """A label selector as a predicate, parsed once (`{}` selects everything)."""
    reqs = selector_from_match(sel if sel is not None else {}) or []
    return lambda labels: all(r.matches(labels) for r in reqs)


@dataclass(frozen=True)
class _Peer:
    """What one `from`/`to` entry names: pods, or a network minus excepts (or anyone)."""

    pods: tuple[PodView, ...] = ()
    cidr: str | None = None  # ANY for "everyone", else a network; None: a pod peer
    excepts: tuple[str, ...] = ()

    def has(self, pod: PodView) -> bool:
        if self.cidr is None:
            return pod in self.pods
        return Rule("in", "", ANY, 0, 65535, self.cidr, self.excepts).matches(pod.ip, ANY, 0)


def _peers(entries: list[dict[str, Any]] | None, namespace: str, pods: list[PodView],
           ns_labels: dict[str, dict[str, str]]) -> list[_Peer]:
    if not entries:
        return [_Peer(cidr=ANY)]
    out = []
    for entry in entries:
        block = entry.get("ipBlock")
        if block is not None:
            net = ipaddress.ip_network(block["cidr"], strict=False)
            out.append(_Peer(cidr=str(net), excepts=tuple(
                str(ipaddress.ip_network(e, strict=False)) for e in block.get("except") or [])))
            continue
        pod_sel, ns_sel = entry.get("podSelector"), entry.get("namespaceSelector")
        pod_ok = _selector(pod_sel)
        if ns_sel is None:
            chosen = [p for p in pods if p.namespace == namespace and pod_ok(p.labels)]
        else:
            ns_ok = _selector(ns_sel)
            chosen = [p for p in pods if ns_ok(ns_labels.get(p.namespace, {}))
                      and pod_ok(p.labels)]
        out.append(_Peer(pods=tuple(chosen)))
    return out


def _port_specs(ports: list[dict[str, Any]] | None) -> list[tuple[str, int | str | None, int | None]]:
    if not ports:
        return [(ANY, None, None)]
    return [(p.get("protocol") or "TCP", p.get("port"), p.get("endPort")) for p in ports]


def _add_rules(rules: list[Rule], direction: str, pod: PodView, peers: list[_Peer],
               ports: list[tuple[str, int | str | None, int | None]],
               pods: list[PodView]) -> None:
    for protocol, port, end in ports:
        for peer in peers:
            if isinstance(port, str):
                # a named port is the destination pod's: the selected pod's own for
                # ingress, each peer pod's for egress (pods only: an address has no names)
                targets = [pod] if direction == "in" else [
                    p for p in (peer.pods if peer.cidr is None else pods) if peer.has(p)]
                for target in targets:
                    number = target.named_port(port, protocol)
                    if number is None:
                        continue
                    if direction == "in":
                        rules += _peer_rules(direction, pod.ip, protocol, number, number, peer)
                    else:
                        rules.append(Rule(direction, pod.ip, protocol, number, number,
                                          f"{target.ip}/32"))
                continue
            low, high = (0, 65535) if port is None else (int(port), int(end or port))
            rules += _peer_rules(direction, pod.ip, protocol, low, high, peer)


def _peer_rules(direction: str, ip: str, protocol: str, low: int, high: int,
                peer: _Peer) -> list[Rule]:
    if peer.cidr is not None:
        return [Rule(direction, ip, protocol, low, high, peer.cidr, peer.excepts)]
    return [Rule(direction, ip, protocol, low, high, f"{p.ip}/32") for p in peer.pods]


def compile_policies(policies: list[dict[str, Any]], pods: list[dict[str, Any]],
                     namespaces: list[dict[str, Any]]) -> PolicyTable:
    """The table for the store's policies, pods and namespaces (labels matter for
    namespaceSelector). A policy whose fields the API rejected never gets here."""
    views = pod_views(pods)
    ns_labels = {n["metadata"]["name"]: dict(n["metadata"].get("labels") or {})
                 for n in namespaces}
    table = PolicyTable()
    rules: list[Rule] = []
    for pol in sorted(policies, key=lambda p: (p["metadata"]["namespace"],
                                               p["metadata"]["name"])):
        ns, spec = pol["metadata"]["namespace"], pol.get("spec") or {}
        types = spec.get("policyTypes") or (["Ingress"] + (["Egress"] if spec.get("egress")
                                                           else []))
        selects = _selector(spec.get("podSelector"))
        selected = [p for p in views if p.namespace == ns and selects(p.labels)]
        if not selected:
            continue
        for kind, flag, direction in (("Ingress", "I", "in"), ("Egress", "E", "out")):
            if kind not in types:
                continue
            for pod in selected:
                flags = table.isolated.get(pod.ip, "")
                table.isolated[pod.ip] = "".join(f for f in "IE" if f in flags + flag)
            for rule in spec.get(kind.lower()) or []:
                rule = rule or {}
                # peers and ports once per rule, then the rule for each selected pod
                peers = _peers(rule.get("from" if direction == "in" else "to"), ns, views,
                               ns_labels)
                ports = _port_specs(rule.get("ports"))
                for pod in selected:
                    _add_rules(rules, direction, pod, peers, ports, views)
    table.rules = list(dict.fromkeys(rules))
    return table


# ---------------------------------------------------------------- the drop

class DropSink:
    """Where denied traffic goes, held by the node process for the cluster's life.

    TCP: a listener with a backlog of 0 whose one queue slot is taken by a connection the
    node makes and never accepts: the kernel then drops every further SYN to it, so a
    connect there times out exactly as one through a CNI's DROP rule (retransmitted SYNs,
    ETIMEDOUT; the shim bounds it with TCP_USER_TIMEOUT). UDP: a bound socket that is
    never read (datagrams pile up, then are dropped)."""

    def __init__(self, host: str = HOST_IP) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind((host, 0))
        self.listener.listen(0)
        self.filler = socket.create_connection(self.listener.getsockname(), timeout=5)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
        self.udp.bind((host, 0))

    @property
    def tcp_address(self) -> tuple[str, int]:
        host, port = self.listener.getsockname()[:2]
        return host, port

    @property
    def udp_address(self) -> tuple[str, int]:
        host, port = self.udp.getsockname()[:2]
        return host, port

    def close(self) -> None:
        for s in (self.filler, self.listener, self.udp):
            s.close()
