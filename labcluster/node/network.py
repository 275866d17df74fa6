"""kube-proxy and CoreDNS of the node: the DNS zone (server + hosts table), a TCP proxy
per Service port, and the shim's DNAT tables (`services` for TCP, `services-udp`).

ClusterIPs come from the API (127.1.0.0/16 by default: on Linux all of 127/8 is local, so
they are bound directly, no mapping). Each Service port gets a listener on
`clusterIP:port` in the kube-proxy process (proxyc/labproxy.c, or kubeproxy.py without a C
compiler or with LABCLUSTER_KUBEPROXY=python) that picks a ready endpoint
round-robin per new connection; NodePort Services also listen on 127.0.0.1:<nodePort>.
Pods skip that process: their shim reads the same table (`services`) and connects to an
endpoint directly, as iptables DNAT would; the listeners serve host clients.
`sync()` recomputes everything from the store and is cheap, so any Service/Endpoints/Pod
/NetworkPolicy/Namespace event just calls it (debounced). It also writes the
NetworkPolicy table the pods' shims enforce (`netpol`, see netpol.py); host clients of the
kube-proxy count as coming from outside the cluster (netpol.HOST_IP), so an endpoint the
policies close to them is replaced by the node's drop address in the proxy's tables (the
connection is accepted, then its dial hangs and fails, as a dropped SYN). `check_node_ports()` turns a NodePort the kube-proxy
cannot bind (another program has it) into a Warning event on its Service.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from labcluster.api import ClusterApi
from labcluster.node import proxyc
from labcluster.node.dns import HostsTable
from labcluster.node.dnsserver import DnsServer, Zone, dashed
from labcluster.node.kubeproxy import write_proxy_text, write_services, write_table
from labcluster.node.netpol import HOST_IP, DropSink, PolicyTable, compile_policies, drop_seconds
from labcluster.node.ports import node_ports

log = logging.getLogger("labcluster.network")
DOMAIN = "cluster.local"
KUBEPROXY_ENV = "LABCLUSTER_KUBEPROXY"  # c | python | auto (default)
NODE_PORT_CHECK_SECONDS = 2.0
NODE_PORT_EVENT = "FailedToBindNodePort"
# listening addresses that take 127.0.0.1:<port> from the kube-proxy
_CLASHING = {"tcp": ("0100007F", "00000000"),
             "tcp6": ("00000000000000000000000000000000",
                      "0000000000000000FFFF00000100007F")}


def foreign_listeners(ports: set[int], proxy_pid: int) -> set[int]:
    """Of `ports`, those another program listens on where the kube-proxy would bind.

    Reads the kernel's socket tables before the proxy's own sockets, so a port the proxy
    binds in between counts as the proxy's; binds nothing itself (no race with the
    proxy's retries). Linux only: elsewhere nothing is reported."""
    listening: set[int] = set()
    for table, addrs in _CLASHING.items():
        try:
            lines = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            return set()
        for line in lines:
            fields = line.split()
            if len(fields) < 4 or fields[3] != "0A":  # 0A: LISTEN
                continue
            addr, _, port = fields[1].partition(":")
            if addr in addrs and int(port, 16) in ports:
                listening.add(int(port, 16))
    if not listening:
        return set()
    try:
        ours = {c.laddr.port for c in psutil.Process(proxy_pid).net_connections("tcp")
                if c.status == psutil.CONN_LISTEN}
    except psutil.Error:
        return set()
    return listening - ours


def text_table(json_table: Path) -> Path:
    """Where the C proxy's table lives: next to the JSON one."""
    return json_table.with_name("proxy.txt")


def kubeproxy_command(json_table: Path, mode: str | None = None) -> tuple[str, list[str], str]:
    """(implementation, args, executable) of the kube-proxy process to start.

    mode (default: $LABCLUSTER_KUBEPROXY or "auto"): "c" is the C proxy or an error,
    "python" the asyncio one, "auto" the C one when it compiles, else the Python one.
    """
    mode = mode or os.environ.get(KUBEPROXY_ENV) or "auto"
    if mode not in ("c", "python", "auto"):
        raise ValueError(f"{KUBEPROXY_ENV}={mode!r}: expected c, python or auto")
    if mode != "python":
        try:
            binary = proxyc.build()
        except proxyc.ProxyBuildError:
            if mode == "c":
                raise
            log.exception("kube-proxy: the C proxy does not compile; running the Python one")
            binary = None
        if binary is None and mode == "c":
            raise proxyc.ProxyBuildError(f"{KUBEPROXY_ENV}=c but no C compiler (cc/gcc)")
        if binary is not None:
            args, executable = proxyc.command(text_table(json_table), binary, json_table)
            return "c", args, executable
    return "python", [sys.executable, "-m", "labcluster.node.kubeproxy", str(json_table)], \
        sys.executable


def build_zone(api: ClusterApi) -> Zone:
    """What CoreDNS's kubernetes plugin would answer (dnsserver.py's docstring lists it)."""
    a: dict[str, tuple[str, ...]] = {}
    srv: dict[str, tuple[tuple[int, int, int, str], ...]] = {}
    ptr: dict[str, str] = {}
    for svc in api.listers.list("services"):
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        spec = svc.get("spec") or {}
        fqdn = f"{name}.{ns}.svc.{DOMAIN}"
        ip = spec.get("clusterIP")
        if spec.get("type") == "ExternalName":
            continue  # a CNAME upstream; not served here
        if ip and ip != "None":
            a[fqdn] = (ip,)
            ptr[ip] = fqdn
            for p in spec.get("ports") or []:
                if p.get("name"):
                    proto = p.get("protocol", "TCP").lower()
                    srv[f"_{p['name']}._{proto}.{fqdn}"] = ((0, 100, int(p["port"]), fqdn),)
            continue
        ep = api.listers.get("endpoints", ns, name) or {}
        publish = spec.get("publishNotReadyAddresses", False)
        ips: list[str] = []
        named: dict[str, list[tuple[int, str]]] = {}
        for subset in ep.get("subsets") or []:
            addrs = list(subset.get("addresses") or [])
            if publish:
                addrs += subset.get("notReadyAddresses") or []
            for addr in addrs:
                host = f"{addr.get('hostname') or dashed(addr['ip'])}.{fqdn}"
                ips.append(addr["ip"])
                a[host] = tuple(sorted({*a.get(host, ()), addr["ip"]}))
                if addr.get("hostname"):
                    ptr[addr["ip"]] = host
                for p in subset.get("ports") or []:
                    if p.get("name"):
                        key = f"_{p['name']}._{p.get('protocol', 'TCP').lower()}.{fqdn}"
                        named.setdefault(key, []).append((int(p["port"]), host))
        if ips:
            a[fqdn] = tuple(sorted(set(ips)))
        for key, targets in named.items():
            weight = 100 // len(targets)
            srv[key] = tuple((0, weight, port, host) for port, host in sorted(targets))
    for pod in api.listers.list("pods"):
        status = pod.get("status") or {}
        if status.get("podIP") and status.get("phase") not in ("Succeeded", "Failed"):
            a[f"{dashed(status['podIP'])}.{pod['metadata']['namespace']}.pod.{DOMAIN}"] = (
                status["podIP"],)
    return Zone(a=a, srv=srv, ptr=ptr, domain=DOMAIN)


def ready_endpoints(api: ClusterApi, svc: dict[str, Any], port: dict[str, Any]) -> list[tuple[str, int]]:
    """(ip, targetPort) of ready endpoints for one Service port, from its Endpoints."""
    ep = api.listers.get("endpoints", svc["metadata"]["namespace"], svc["metadata"]["name"]) or {}
    out = []
    for subset in ep.get("subsets") or []:
        ports = subset.get("ports") or []
        match = [p for p in ports if p.get("name", "") == port.get("name", "")] or (
            ports if len(ports) == 1 else [])
        for p in match:
            out.extend((a["ip"], int(p["port"])) for a in subset.get("addresses") or [])
    return out


class Network:
    """Keeps the hosts table and the kube-proxy table equal to the store's Services."""

    def __init__(self, api: ClusterApi, table: HostsTable, proxy_table: Path) -> None:
        self.api = api
        self.table = table
        self.proxy_table = proxy_table
        self.proxy: subprocess.Popen[bytes] | None = None
        self.proxy_impl = ""  # "c" or "python" once started: which kube-proxy runs
        self._starting = asyncio.Lock()  # the C build is awaited: one start at a time
        self._last: dict[str, list[str]] | None = None
        self._last_proxy: dict[tuple[str, int], list[tuple[str, int]]] | None = None
        self._last_udp: dict[tuple[str, int], list[tuple[str, int]]] | None = None
        self.dns: DnsServer | None = None  # the node's cluster DNS, fed by sync()
        self._port_failures: set[tuple[str, int]] = set()  # (Service uid, nodePort) told
        self._next_port_check = 0.0
        self.policy = PolicyTable()  # the NetworkPolicy verdicts in force (netpol.py)
        self.policy_path = proxy_table.with_name("netpol")
        self._drop: DropSink | None = None
        self._last_policy = ""
        self._policy_rv = -1
        self._host_entries: dict[tuple[str, int], list[tuple[str, int]]] | None = None

    def proxy_entries(self, protocol: str = "TCP", for_host: bool = False,
                      ) -> dict[tuple[str, int], list[tuple[str, int]]]:
        """Listen address → targets of the Service ports of `protocol`, in host ports
        (privileged ones shifted: ports.py). TCP feeds kube-proxy and the shim's connect()
        DNAT; UDP only the shim's datagram DNAT (`services-udp`: kube-dns).

        for_host: the kube-proxy's view, for clients outside the pod network: a target the
        NetworkPolicies close to them (protocol TCP, source HOST_IP) is the drop address."""
        entries: dict[tuple[str, int], list[tuple[str, int]]] = {}
        host_port = node_ports().host_port
        drop = self._drop.tcp_address if self._drop is not None else None

        def target(ip: str, port: int) -> tuple[str, int]:
            if for_host and drop is not None and not self.policy.allows(HOST_IP, ip, port):
                return drop
            return ip, host_port(port)

        for svc in self.api.listers.list("services"):
            spec = svc.get("spec") or {}
            ip = spec.get("clusterIP")
            for p in spec.get("ports") or []:
                if p.get("protocol", "TCP") != protocol:
                    continue
                targets = [target(t, tp) for t, tp in ready_endpoints(self.api, svc, p)]
                if ip and ip != "None":
                    entries[(ip, host_port(int(p["port"])))] = targets
                if spec.get("type") in ("NodePort", "LoadBalancer") and p.get("nodePort"):
                    entries[("127.0.0.1", int(p["nodePort"]))] = targets
        return entries

    def sync_policies(self) -> None:
        """Compile the store's NetworkPolicies into the table the shims read (written only
        when it changed: the shims re-read it on their next connect, no restart)."""
        store, listers = self.api.store, self.api.listers
        if self._drop is None:
            self._drop = DropSink()
        if store.rv == self._policy_rv and self.policy_path.exists():
            return  # nothing in the store changed since the last compile
        self._policy_rv = store.rv
        table = compile_policies(listers.list("networkpolicies"), listers.list("pods"),
                                 listers.list("namespaces"))
        table.drop_tcp, table.drop_udp = self._drop.tcp_address, self._drop.udp_address
        table.timeout_ms = int(drop_seconds() * 1000)
        self.policy = table
        text = table.render()
        if text != self._last_policy or not self.policy_path.exists():
            table.write(self.policy_path)
            self._last_policy = text

    async def sync(self) -> None:
        zone = build_zone(self.api)
        if self.dns is not None:
            self.dns.zone = zone  # the server and the hosts table: one zone
        records = {name: list(ips) for name, ips in zone.a.items()}
        if records != self._last:
            self.table.write(records)
            self._last = records
        self.sync_policies()
        entries = self.proxy_entries()
        if entries != self._last_proxy:
            write_services(self.proxy_table.with_name("services"), entries)
            self._last_proxy = entries
        udp = self.proxy_entries("UDP")
        if udp != self._last_udp:
            write_services(self.proxy_table.with_name("services-udp"), udp)
            self._last_udp = udp
        host_entries = self.proxy_entries(for_host=True)
        if host_entries != self._host_entries:
            write_table(self.proxy_table, host_entries)
            write_proxy_text(text_table(self.proxy_table), host_entries)
            self._host_entries = host_entries
        async with self._starting:
            if self.proxy is None or self.proxy.poll() is not None:
                await self._start_proxy()

    async def check_node_ports(self) -> None:
        """A NodePort another program holds on 127.0.0.1 becomes a Warning event on its
        Service (once per Service and port until it is bound), not only the proxy's log
        line. Upstream kube-proxy reported "can't open port" the same way, on the Node.
        At most every NODE_PORT_CHECK_SECONDS, and only while NodePorts exist."""
        if time.monotonic() < self._next_port_check:
            return
        self._next_port_check = time.monotonic() + NODE_PORT_CHECK_SECONDS
        wanted: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
        for svc in self.api.listers.list("services"):
            spec = svc.get("spec") or {}
            if spec.get("type") in ("NodePort", "LoadBalancer"):
                for p in spec.get("ports") or []:
                    if p.get("nodePort"):
                        wanted[int(p["nodePort"])] = (svc, p)
        proxy = self.proxy
        if not wanted or proxy is None or proxy.poll() is not None:
            self._port_failures.clear()
            return
        taken = await asyncio.to_thread(foreign_listeners, set(wanted), proxy.pid)
        now_failing = set()
        for port in sorted(taken):
            svc, p = wanted[port]
            key = (svc["metadata"].get("uid", ""), port)
            now_failing.add(key)
            if key in self._port_failures:
                continue
            meta = svc["metadata"]
            where = f'{meta["namespace"]}/{meta["name"]}' + (f':{p["name"]}' if p.get("name")
                                                               else "")
            message = (f'can\'t open port "nodePort for {where}" (127.0.0.1:{port}/tcp), '
                       f"skipping it: listen tcp4 127.0.0.1:{port}: bind: address already "
                       "in use")
            log.warning("kube-proxy: %s", message)
            await self.api.record_event(svc, NODE_PORT_EVENT, message, "Warning", "kube-proxy")
        self._port_failures = now_failing

    async def _start_proxy(self) -> None:
        if self.proxy is not None:
            log.warning("kube-proxy (%s) exited with %s; restarting it", self.proxy_impl,
                        self.proxy.returncode)
        impl, args, executable = await asyncio.to_thread(kubeproxy_command, self.proxy_table)
        self.proxy = subprocess.Popen(args, executable=executable, stdin=subprocess.DEVNULL)
        if impl != self.proxy_impl:
            log.info("kube-proxy: the %s implementation (pid %d)", impl, self.proxy.pid)
        self.proxy_impl = impl

    async def close(self) -> None:
        if self._drop is not None:
            self._drop.close()
            self._drop = None
        if self.proxy is not None and self.proxy.poll() is None:
            self.proxy.terminate()
            try:
                await asyncio.to_thread(self.proxy.wait, 5)
            except subprocess.TimeoutExpired:
                self.proxy.kill()
                await asyncio.to_thread(self.proxy.wait)
        self.proxy = None
