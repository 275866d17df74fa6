"""Privileged ports without privileges: a fixed remapping the node and the shim share.

A pod on a real cluster listens on 80 (nginx) in its own network namespace. Here pods
are processes of whoever runs labcluster; on mybinder.org that is an unprivileged user,
and Linux refuses `bind()` below `net.ipv4.ip_unprivileged_port_start` (1024 almost
everywhere). So, when we are not root, every port below that start is shifted by a
fixed offset (80 → 10080) in exactly three places, and nowhere in the API:

- the network shim (labnet.c / pyhook): a pod's `bind(…, 80)` binds 10080, and its TCP
  `connect()` to a 127.x address outside 127.0.x.x on port 80 goes to 10080 (so pods
  reaching a Service's ClusterIP:80 or another pod's IP:80 still work);
- kube-proxy listens on `clusterIP:10080` for a Service port 80 and dials endpoints'
  `targetPort` shifted the same way;
- the kubelet's probes, `pods/proxy`, `services/proxy` and `pods/portforward` dial the
  shifted port.

The API still says 80 everywhere (containerPort, Service port, Endpoints). Outside pods,
only the node's own paths know the mapping: a process on the host that dials
`<pod IP>:80` itself must add the offset (`PortMap.host_port`).

`LABCLUSTER_PRIVILEGED_PORTS`: `auto` (default: remap when not root and the sysctl
says ports below 80+ are privileged), `remap` (always, e.g. to test the non-root path as
root), `direct` (never). `LABCLUSTER_PORT_OFFSET` changes the offset (default 10000).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from labcluster.node.loopback import unprivileged_port_start

MODE_ENV = "LABCLUSTER_PRIVILEGED_PORTS"
OFFSET_ENV = "LABCLUSTER_PORT_OFFSET"
SHIM_ENV = "LABCLUSTER_PORT_REMAP"  # "<below>:<offset>", read by labnet.c and pyhook
DEFAULT_OFFSET = 10000


@dataclass(frozen=True)
class PortMap:
    """Ports in [1, below) move up by `offset`; below == 0 means no remapping."""

    below: int = 0
    offset: int = 0

    @property
    def active(self) -> bool:
        return self.below > 0 and self.offset > 0

    def host_port(self, port: int) -> int:
        """Where a pod's `port` really listens on this machine."""
        return port + self.offset if self.active and 0 < port < self.below else port

    def shim_env(self) -> dict[str, str]:
        return {SHIM_ENV: f"{self.below}:{self.offset}"} if self.active else {}


def port_map(environ: dict[str, str] | None = None, euid: int | None = None) -> PortMap:
    """The node's mapping, decided once from who we are and the environment."""
    env = os.environ if environ is None else environ
    mode = env.get(MODE_ENV, "auto")
    if mode not in ("auto", "remap", "direct"):
        raise ValueError(f"{MODE_ENV}={mode!r}: expected auto, remap or direct")
    offset = int(env.get(OFFSET_ENV, DEFAULT_OFFSET))
    if not 0 < offset <= 64000:
        raise ValueError(f"{OFFSET_ENV}={offset}: expected 1..64000")
    start = unprivileged_port_start()
    if mode == "direct":
        return PortMap()
    if mode == "remap":
        return PortMap(start if start > 1 else 1024, offset)
    root = (os.geteuid() if euid is None else euid) == 0
    return PortMap() if root or start <= 1 else PortMap(start, offset)


_cached: PortMap | None = None


def node_ports() -> PortMap:
    """The mapping of this process (the API server with its node, or kube-proxy)."""
    global _cached
    if _cached is None:
        _cached = port_map()
    return _cached
