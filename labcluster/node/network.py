"""kube-proxy and CoreDNS of the node: the hosts table and a TCP proxy per Service port.

ClusterIPs come from the API (127.1.0.0/16 by default: on Linux all of 127/8 is local, so
they are bound directly, no mapping). Each Service port gets an asyncio listener on
`clusterIP:port` that picks a ready endpoint round-robin per new connection; NodePort
Services also listen on 127.0.0.1:<nodePort>. `sync()` recomputes everything from the
store and is cheap, so any Service/Endpoints/Pod event just calls it (debounced).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from typing import Any

from labcluster.api import ClusterApi
from labcluster.node.dns import HostsTable

log = logging.getLogger("labcluster.network")
DOMAIN = "cluster.local"


def dns_records(api: ClusterApi) -> dict[str, list[str]]:
    """What CoreDNS would answer: Services, headless endpoints, StatefulSet pod names."""
    records: dict[str, list[str]] = {}
    for svc in api.store.items("/services"):
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        fqdn = f"{name}.{ns}.svc.{DOMAIN}"
        ip = (svc.get("spec") or {}).get("clusterIP")
        if ip and ip != "None":
            records[fqdn] = [ip]
            continue
        ep = api.store.get("/endpoints", ns, name) or {}
        publish = (svc.get("spec") or {}).get("publishNotReadyAddresses", False)
        ips: list[str] = []
        for subset in ep.get("subsets") or []:
            addrs = list(subset.get("addresses") or [])
            if publish:
                addrs += subset.get("notReadyAddresses") or []
            for a in addrs:
                ips.append(a["ip"])
                if a.get("hostname"):
                    records[f"{a['hostname']}.{fqdn}"] = [a["ip"]]
        if ips:
            records[fqdn] = sorted(set(ips))
    return records


def ready_endpoints(api: ClusterApi, svc: dict[str, Any], port: dict[str, Any]) -> list[tuple[str, int]]:
    """(ip, targetPort) of ready endpoints for one Service port, from its Endpoints."""
    ep = api.store.get("/endpoints", svc["metadata"]["namespace"], svc["metadata"]["name"]) or {}
    out = []
    for subset in ep.get("subsets") or []:
        ports = subset.get("ports") or []
        match = [p for p in ports if p.get("name", "") == port.get("name", "")] or (
            ports if len(ports) == 1 else [])
        for p in match:
            out.extend((a["ip"], int(p["port"])) for a in subset.get("addresses") or [])
    return out


class _Splice(asyncio.Protocol):
    """One direction-pair of a proxied connection, with transports' flow control.

    Protocols instead of streams: no task and no await per chunk, which roughly doubles
    what one event loop can forward."""

    def __init__(self, peer: asyncio.Transport | None = None) -> None:
        self.peer = peer
        self.transport: asyncio.Transport | None = None
        self.buffer: list[bytes] = []
        self.eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def attach(self, peer: asyncio.Transport) -> None:
        """The other side is connected: flush what came before it was."""
        self.peer = peer
        for chunk in self.buffer:
            peer.write(chunk)
        self.buffer.clear()
        if self.eof:
            _half_close(peer)

    def data_received(self, data: bytes) -> None:
        if self.peer is None:
            self.buffer.append(data)
        else:
            self.peer.write(data)

    def eof_received(self) -> bool:
        self.eof = True
        if self.peer is not None:
            _half_close(self.peer)
        return True  # keep our write side open until the peer closes

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None:
            self.peer.close()

    def pause_writing(self) -> None:  # our side is slow: stop reading the other one
        if self.peer is not None:
            self.peer.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None:
            self.peer.resume_reading()


def _half_close(transport: asyncio.Transport) -> None:
    if transport.can_write_eof():
        transport.write_eof()
    else:
        transport.close()


class _Listener:
    def __init__(self, api: ClusterApi, key: tuple[str, str, str], host: str, port: int) -> None:
        self.api, self.key, self.host, self.port = api, key, host, port
        self.server: asyncio.Server | None = None
        self.rr = itertools.count()

    def targets(self) -> list[tuple[str, int]]:
        ns, name, pname = self.key
        svc = self.api.store.get("/services", ns, name)
        if svc is None:
            return []
        for p in (svc.get("spec") or {}).get("ports") or []:
            if p.get("name", "") == pname:
                return ready_endpoints(self.api, svc, p)
        return []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(self._accepted, self.host, self.port,
                                               reuse_address=True, backlog=1024)

    def _accepted(self) -> _Splice:
        down = _Splice()
        asyncio.get_running_loop().create_task(self._connect(down))
        return down

    async def _connect(self, down: _Splice) -> None:
        targets = self.targets()
        loop = asyncio.get_running_loop()
        start = next(self.rr)
        for i in range(len(targets)):  # no (reachable) endpoint: the client sees a reset
            host, port = targets[(start + i) % len(targets)]
            try:
                up_transport, _ = await asyncio.wait_for(
                    loop.create_connection(lambda: _Splice(down.transport), host, port), 5)
            except (OSError, TimeoutError):
                continue
            if down.transport is None or down.transport.is_closing():
                up_transport.close()
                return
            down.attach(up_transport)  # type: ignore[arg-type]
            return
        if down.transport is not None:
            down.transport.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 1)


class Network:
    """Keeps the hosts table and the Service listeners equal to the store's Services."""

    def __init__(self, api: ClusterApi, table: HostsTable) -> None:
        self.api = api
        self.table = table
        self.listeners: dict[tuple[str, int], _Listener] = {}
        self._last: dict[str, list[str]] | None = None

    async def sync(self) -> None:
        records = dns_records(self.api)
        if records != self._last:
            self.table.write(records)
            self._last = records
        wanted: dict[tuple[str, int], tuple[str, str, str]] = {}
        for svc in self.api.store.items("/services"):
            spec = svc.get("spec") or {}
            ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
            ip = spec.get("clusterIP")
            for p in spec.get("ports") or []:
                key = (ns, name, p.get("name", ""))
                if ip and ip != "None":
                    wanted[(ip, int(p["port"]))] = key
                if spec.get("type") in ("NodePort", "LoadBalancer") and p.get("nodePort"):
                    wanted[("127.0.0.1", int(p["nodePort"]))] = key
        for addr in list(self.listeners):
            if wanted.get(addr) != self.listeners[addr].key:
                await self.listeners.pop(addr).close()
        for addr, key in wanted.items():
            if addr in self.listeners:
                continue
            lst = _Listener(self.api, key, *addr)
            try:
                await lst.start()
            except OSError as exc:
                log.warning("service %s/%s: cannot listen on %s:%s: %s", key[0], key[1],
                            addr[0], addr[1], exc)
                continue
            self.listeners[addr] = lst

    async def close(self) -> None:
        for lst in self.listeners.values():
            await lst.close()
        self.listeners.clear()
