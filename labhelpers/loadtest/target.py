"""Where the generator sends its requests, and how it gets there.

A Service target is reached one of three ways (``mode``):

- ``direct``: the generator connects to the Service's ClusterIP. Used when that address
  answers from the notebook's process: on labcluster (ClusterIPs are real 127.1.x
  loopback addresses, so this measures the same kube-proxy path a pod uses) and when the
  notebook itself runs in a pod of the cluster (JupyterHub). ``auto`` tries it first.
- ``port-forward``: a local relay on 127.0.0.1 that opens a ``pods/portforward`` websocket
  (``kubernetes.stream.portforward``) per connection to one ready pod behind the Service,
  as ``kubectl port-forward svc/x`` does. Used on a real cluster seen from a laptop. It
  reaches one pod only and the tunnel's cost is in every latency: good for "does it
  work", poor for numbers — use ``in-cluster`` for those.
- ``in-cluster``: the generator runs in a pod in the namespace (see ``incluster.py``)
  and sends to the Service by its DNS name; latency is measured inside the cluster.
  Never chosen by ``auto``: it starts a pod.

A URL target (``http://127.0.0.1:8000/x``) is used as it is (mode ``url``), guarded.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from kubernetes import client

from labhelpers.loadtest import guard
from labhelpers.shop.portforward import Relay as PortForwardRelay
from labhelpers.shop.portforward import service_port as chosen_port

MODES = ("auto", "direct", "port-forward", "in-cluster")


@dataclass
class ServicePort:
    """A Service port and what it resolves to."""

    service: str
    namespace: str
    cluster_ip: str | None
    port: int
    target_port: int | str
    port_name: str | None

    @property
    def dns(self) -> str:
        return f"{self.service}.{self.namespace}.svc.cluster.local"


@dataclass
class Reach:
    """A base URL the generator can use, how it was reached, and what to close after."""

    base: str          # http://host:port
    mode: str
    description: str
    _closer: Any = field(default=None, repr=False)

    def close(self) -> None:
        if self._closer is not None:
            self._closer()


def lab_hosts(lab: Any) -> set[str]:
    """Names and ClusterIPs of the lab namespace's Services (what the guard allows)."""
    if lab is None:
        return set()
    hosts: set[str] = set()
    for svc in lab.core.list_namespaced_service(lab.namespace).items:
        name = svc.metadata.name
        hosts |= {name, f"{name}.{lab.namespace}", f"{name}.{lab.namespace}.svc",
                  f"{name}.{lab.namespace}.svc.cluster.local"}
        if svc.spec.cluster_ip and svc.spec.cluster_ip != "None":
            hosts.add(svc.spec.cluster_ip)
    return hosts


def service_port(lab: Any, name: str, port: int | str | None) -> ServicePort:
    """The Service's port by number or name (default: its first port)."""
    try:
        svc = lab.core.read_namespaced_service(name, lab.namespace)
    except client.ApiException as exc:
        if exc.status == 404:
            known = [s.metadata.name for s in lab.core.list_namespaced_service(
                lab.namespace).items]
            raise guard.LoadTargetRefused(
                f"no Service {name!r} in namespace {lab.namespace} (there: "
                f"{', '.join(known) or 'none'}); a URL target must start with http://"
                ) from None
        raise
    chosen = chosen_port(svc, port)
    ip = svc.spec.cluster_ip if svc.spec.cluster_ip not in (None, "", "None") else None
    return ServicePort(name, lab.namespace, ip, chosen.port,
                       chosen.target_port or chosen.port, chosen.name)


def reachable(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def reach_service(lab: Any, sp: ServicePort, mode: str) -> Reach:
    """``direct`` or ``port-forward`` (``auto`` picks direct when the ClusterIP answers)."""
    if mode in ("auto", "direct"):
        if sp.cluster_ip and reachable(sp.cluster_ip, sp.port):
            return Reach(f"http://{sp.cluster_ip}:{sp.port}", "direct",
                         f"Service {sp.service}:{sp.port} at its ClusterIP {sp.cluster_ip}")
        if mode == "direct":
            raise ConnectionError(f"ClusterIP {sp.cluster_ip}:{sp.port} of Service "
                                  f"{sp.service} does not answer from here; use "
                                  "mode='port-forward' or 'in-cluster'")
    pod, pod_port = backing_pod(lab, sp)
    relay = PortForwardRelay(lab.core, lab.namespace, pod, pod_port)
    relay.start()
    return Reach(f"http://127.0.0.1:{relay.port}", "port-forward",
                 f"Service {sp.service}:{sp.port} via port-forward to pod {pod}:{pod_port}",
                 relay.stop)


def backing_pod(lab: Any, sp: ServicePort) -> tuple[str, int]:
    """A ready pod behind the Service and the pod port its endpoint uses."""
    ep = lab.core.read_namespaced_endpoints(sp.service, lab.namespace)
    for subset in ep.subsets or []:
        port = next((p.port for p in subset.ports or []
                     if sp.port_name in (None, p.name) or len(subset.ports) == 1), None)
        for addr in subset.addresses or []:
            if addr.target_ref is not None and addr.target_ref.kind == "Pod" and port:
                return addr.target_ref.name, int(port)
    raise ConnectionError(f"Service {sp.service} has no ready endpoint to port-forward to")


def parse_url(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"a URL target must be http(s)://host[:port]/path (got {url!r})")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
