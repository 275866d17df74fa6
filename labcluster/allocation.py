"""Service allocation at admission: a ClusterIP from the service range and node ports
from 30000-32767, both unique and kept across updates, with the real server's errors.

ClusterIPs are loopback addresses (127.1.0.0/16 by default) so the node can bind a proxy
on exactly the address the API reports.
"""

from __future__ import annotations

import ipaddress
import secrets
from typing import Any

from . import errors
from .errors import ApiError, FieldError
from .meta import name_of

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def admit_service(services: list[dict[str, Any]], network: Network, obj: dict[str, Any],
                  old: dict[str, Any] | None) -> None:
    """Fill spec.clusterIP(s), ipFamilies and nodePorts of `obj` (in place)."""
    spec = obj["spec"]
    if spec.get("type") == "ExternalName":
        return
    old_spec = (old or {}).get("spec") or {}
    if old is not None and not spec.get("clusterIP") and old_spec.get("clusterIP"):
        spec["clusterIP"] = old_spec["clusterIP"]  # a PUT without it keeps it
    ip = spec.get("clusterIP")
    if ip == "None":
        spec["clusterIPs"] = ["None"]
    elif old is None or not old_spec.get("clusterIP"):
        spec["clusterIP"] = _cluster_ip(services, network, obj, ip)
        spec["clusterIPs"] = [spec["clusterIP"]]
    else:
        spec["clusterIPs"] = [spec["clusterIP"]]
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    _node_ports(services, obj, old)


def _node_ports(services: list[dict[str, Any]], obj: dict[str, Any],
                old: dict[str, Any] | None) -> None:
    spec = obj["spec"]
    ports = spec.get("ports") or []
    if spec.get("type") not in ("NodePort", "LoadBalancer"):
        for p in ports:
            p.pop("nodePort", None)
        return
    me = (obj["metadata"].get("namespace"), obj["metadata"].get("name"))
    used = {p.get("nodePort") for s in services
            if (s["metadata"].get("namespace"), s["metadata"]["name"]) != me
            for p in (s.get("spec") or {}).get("ports") or []} - {None}
    previous = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
                for p in ((old or {}).get("spec") or {}).get("ports") or []}
    errs = []
    for i, p in enumerate(ports):
        if not p.get("nodePort"):
            kept = previous.get((p.get("port"), p.get("protocol", "TCP")))
            if kept:
                p["nodePort"] = kept
            else:
                free = [n for n in range(30000, 32768) if n not in used]
                if not free:
                    raise ApiError(500, "InternalError", "range is full")
                p["nodePort"] = free[secrets.randbelow(len(free))]
        elif p["nodePort"] in used:
            errs.append(FieldError("Invalid value", f"spec.ports[{i}].nodePort",
                                   p["nodePort"], "provided port is already allocated"))
        used.add(p["nodePort"])
    if errs:
        raise errors.invalid("Service", "", name_of(obj), errs)


def _cluster_ip(services: list[dict[str, Any]], network: Network, obj: dict[str, Any],
                wanted: str | None) -> str:
    used = {s.get("spec", {}).get("clusterIP") for s in services}
    name = name_of(obj)
    if wanted:
        try:
            addr = ipaddress.ip_address(wanted)
        except ValueError:
            addr = None
        if addr is None or addr not in network:
            raise errors.invalid("Service", "", name, [FieldError(
                "Invalid value", "spec.clusterIPs", [wanted],
                f"failed to allocate IP {wanted}: provided IP is not in the valid range. "
                f"The range of valid IPs is {network}")])
        if wanted in used:
            raise errors.invalid("Service", "", name, [FieldError(
                "Invalid value", "spec.clusterIPs", [wanted],
                f"failed to allocate IP {wanted}: provided IP is already allocated")])
        return wanted
    hosts = network.num_addresses
    # Dynamic allocation prefers the range above the static band (upstream's
    # min(max(16, size/16), 256) addresses, KEP-3070), so kube-dns's 10th address stays
    # free for the node; the band is used only when the rest is full.
    band = min(max(16, hosts // 16), 256)
    for low in (band, 10):
        if hosts - 1 - low <= 0:
            continue
        for _ in range(hosts):
            candidate = str(network[secrets.randbelow(hosts - 1 - low) + low])
            if candidate not in used:
                return candidate
    raise ApiError(500, "InternalError", "range is full")
