"""The node's cluster DNS as Kubernetes shows it: the `kube-dns` Service in kube-system.

A kubeadm cluster runs CoreDNS pods behind `kube-system/kube-dns` with the 10th address
of the service range (10.96.0.10 for 10.96.0.0/12) and points every pod's resolv.conf
at it. Here the server (`dnsserver.py`) runs in the node itself, on a loopback address
of its own taken from the pod range, and the Service has no selector: the node writes
its Endpoints, as for any selector-less Service. Pods reach it through the ClusterIP
(the shim's DNAT, UDP and TCP), so `nslookup` shows `Server: <ClusterIP>` as on a
real cluster. There is no coredns pod (nothing to `kubectl logs`).
"""

from __future__ import annotations

import copy
import ipaddress
import logging
from typing import Any

from labcluster.api import ClusterApi
from labcluster.errors import ApiError
from labcluster.node.dnsserver import DnsServer, host_upstreams
from labcluster.node.ports import node_ports
from labcluster.node.scheduling import NODE_NAME

log = logging.getLogger("labcluster.dns")
NAMESPACE, NAME = "kube-system", "kube-dns"
DNS_PORT, METRICS_PORT = 53, 9153
LABELS = {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true",
          "kubernetes.io/name": "CoreDNS"}
PORTS = [{"name": "dns", "port": DNS_PORT, "protocol": "UDP", "targetPort": DNS_PORT},
         {"name": "dns-tcp", "port": DNS_PORT, "protocol": "TCP", "targetPort": DNS_PORT},
         {"name": "metrics", "port": METRICS_PORT, "protocol": "TCP",
          "targetPort": METRICS_PORT}]


async def start_server(address: str) -> DnsServer:
    """The server on `address`, port 53 (shifted when the node is not root: ports.py)."""
    ports = node_ports()
    server = DnsServer(address, ports.host_port(DNS_PORT), host_upstreams(),
                       metrics_port=ports.host_port(METRICS_PORT))
    await server.start()
    return server


def conventional_ip(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    """The 10th address of the service range, as kubeadm gives kube-dns."""
    return str(network[10])


async def ensure_service(api: ClusterApi, server: DnsServer) -> str:
    """Create `kube-system/kube-dns` (kept across restarts) and point its Endpoints at
    this run's server; the ClusterIP pods' resolv.conf names."""
    svc = api.listers.get("services", NAMESPACE, NAME)
    if svc is None:
        body: dict[str, Any] = {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": dict(LABELS),
                         "annotations": {"prometheus.io/port": str(METRICS_PORT),
                                         "prometheus.io/scrape": "true"}},
            "spec": {"clusterIP": conventional_ip(api.network), "ports": copy.deepcopy(PORTS)}}
        # _trusted: written by the node before /readyz, it must not wait for the
        # jsonschema import (admission still allocates and checks the ClusterIP)
        try:
            svc = await api.create(body, NAMESPACE, field_manager="labcluster-node",
                                   _trusted=True)
        except ApiError as exc:  # the address is taken (a Service made before kube-dns)
            log.warning("dns: %s; kube-dns gets another ClusterIP", exc)
            del body["spec"]["clusterIP"]
            svc = await api.create(body, NAMESPACE, field_manager="labcluster-node",
                                   _trusted=True)
    endpoints = {
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": dict(LABELS)},
        "subsets": [{"addresses": [{"ip": server.address, "nodeName": NODE_NAME}],
                     "ports": [{"name": p["name"], "port": p["port"],
                                "protocol": p["protocol"]} for p in PORTS]}]}
    old = api.listers.get("endpoints", NAMESPACE, NAME)
    if old is None or old.get("subsets") != endpoints["subsets"]:
        # replaced rather than updated: an update waits for the schema (see above), and
        # pods started meanwhile would ask last run's address
        await api.purge("endpoints", NAMESPACE, NAME)
        await api.create(endpoints, NAMESPACE, field_manager="labcluster-node", _trusted=True)
    return svc["spec"]["clusterIP"]
