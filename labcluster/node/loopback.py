"""Pod and Service IPs from 127.0.0.0/8, so every pod can listen on its own containerPort.

On Linux the whole of 127/8 is routed to `lo` with no configuration, so any 127.x.y.z
can be bound and reached by anyone on this machine; we only have to hand out distinct
addresses. `check_bindable` proves it on the running OS (macOS, for one, only has
127.0.0.1 unless aliases are added), so the kubelet fails early with a clear message.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterable

# Addresses a pod must never get: the host's own loopback, systemd-resolved's stub and
# the network/broadcast-looking ends of each /24.
RESERVED = frozenset({"127.0.0.1", "127.0.0.53", "127.0.0.54", "127.0.1.1"})


class AddressExhausted(RuntimeError):
    pass


class LoopbackNotUsable(RuntimeError):
    pass


class IPAllocator:
    """Hands out addresses from one loopback subnet (pods: 127.2.0.0/16 by default).

    Thread-safe; `reserve` re-claims addresses of pods that survived a restart of the
    kubelet, so a pod keeps its IP as on a real cluster.
    """

    def __init__(self, subnet: str = "127.2.0.0/16", in_use: Iterable[str] = ()) -> None:
        self.network = ipaddress.ip_network(subnet)
        if not self.network.subnet_of(ipaddress.ip_network("127.0.0.0/8")):
            raise ValueError(f"{subnet} is not inside 127.0.0.0/8")
        self._used: set[str] = set(in_use)
        self._lock = threading.Lock()
        self._next = 0

    def _candidates(self):
        hosts = self.network.num_addresses
        for offset in range(hosts):
            index = (self._next + offset) % hosts
            address = self.network.network_address + index
            text = str(address)
            last = int(address) & 0xFF
            if last in (0, 1, 255) or text in RESERVED:
                continue
            yield index, text

    def allocate(self) -> str:
        with self._lock:
            for index, text in self._candidates():
                if text not in self._used:
                    self._used.add(text)
                    self._next = index + 1  # round-robin: a freed IP is not reused at once
                    return text
        raise AddressExhausted(f"no free address left in {self.network}")

    def reserve(self, address: str) -> None:
        if ipaddress.ip_address(address) not in self.network:
            raise ValueError(f"{address} is not in {self.network}")
        with self._lock:
            self._used.add(address)

    def release(self, address: str) -> None:
        with self._lock:
            self._used.discard(address)

    def in_use(self) -> set[str]:
        with self._lock:
            return set(self._used)


def check_bindable(address: str) -> None:
    """Bind an ephemeral TCP port on `address`, or explain why this OS cannot."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((address, 0))
        except OSError as exc:
            raise LoopbackNotUsable(
                f"cannot bind {address}: {exc}. labcluster gives each pod its own 127.x.y.z;"
                " on Linux all of 127.0.0.0/8 is local, elsewhere add loopback aliases"
            ) from exc


def unprivileged_port_start() -> int:
    """The lowest port a non-root process may bind (Linux sysctl; 1024 when unknown).

    nginx's default `listen 80` needs either root or this sysctl at 0. labcluster runs
    nginx as the user it runs as; when that is not root and this is > 80, the nginx
    handler notes it (see README: "Ports below 1024").
    """
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 1024
