"""Cluster DNS as a hosts table: one file the kubelet writes, every pod process reads.

The same rules are implemented twice, here (kubelet, built-in `nslookup`, the Python
fallback hook) and in `netshim/labnet.c` (every dynamically linked program). Keep them in
step; `tests/labcluster/node/test_node_dns.py` checks both against the same table.

File format: `/etc/hosts` lines, `IP name [name...]`; a name on several lines has several
addresses (headless Services). It is replaced atomically (write + rename), and readers
re-read it when its (mtime, inode, size) changes.

Lookup follows a pod's resolv.conf (`search <ns>.svc.cluster.local svc.cluster.local
cluster.local`, `options ndots:5`): a name with fewer than 5 dots is tried with each
search suffix first, then as given; a name ending in "." only as given. A name that is
not in the table fails with NXDOMAIN when it is a single label or inside `cluster.local`
(that is what CoreDNS answers); any other name (`localhost`, `pypi.org`) goes to the
machine's own resolver.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

CLUSTER_DOMAIN = "cluster.local"
NDOTS = 5
PASS_THROUGH = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class NXDomain(LookupError):
    """The name does not exist in cluster DNS (what CoreDNS answers with NXDOMAIN)."""


def search_list(namespace: str, domain: str = CLUSTER_DOMAIN) -> list[str]:
    """The search list a pod in `namespace` gets (kubelet's ClusterFirst policy)."""
    return [f"{namespace}.svc.{domain}", f"svc.{domain}", domain]


def candidates(name: str, search: Iterable[str], ndots: int = NDOTS) -> list[str]:
    """Names to try, in the order glibc's resolver tries them for this resolv.conf."""
    name = name.strip().lower()
    if name.endswith("."):
        return [name.rstrip(".")]
    expanded = [f"{name}.{suffix.strip('.').lower()}" for suffix in search if suffix]
    return expanded + [name] if name.count(".") < ndots else [name, *expanded]


def is_cluster_only(name: str) -> bool:
    """True when a miss must be NXDOMAIN rather than a question for the real resolver."""
    name = name.strip().lower().rstrip(".")
    if name in PASS_THROUGH:
        return False
    return "." not in name or name == CLUSTER_DOMAIN or name.endswith("." + CLUSTER_DOMAIN)


@dataclass(frozen=True)
class Answer:
    """A cluster answer: the name that matched (FQDN) and its addresses."""

    fqdn: str
    addresses: tuple[str, ...]


class HostsTable:
    """The table file: written atomically by the kubelet, re-read by readers on change."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._stamp: tuple[int, int, int] | None = None
        self._records: dict[str, tuple[str, ...]] = {}

    def write(self, records: Mapping[str, Iterable[str]]) -> None:
        """Replace the whole table; readers see the old or the new one, never half."""
        by_ip: dict[str, list[str]] = {}
        for name, addresses in sorted(records.items()):
            for address in addresses:
                by_ip.setdefault(address, []).append(name.lower().rstrip("."))
        lines = [f"{ip} {' '.join(names)}\n" for ip, names in by_ip.items()]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".hosts.")
        try:
            with os.fdopen(fd, "w") as f:
                f.write("# labcluster cluster DNS (written by the kubelet; do not edit)\n")
                f.writelines(lines)
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def records(self) -> dict[str, tuple[str, ...]]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._records = None, {}
            return {}
        stamp = (st.st_mtime_ns, st.st_ino, st.st_size)
        if stamp != self._stamp:
            records: dict[str, list[str]] = {}
            for line in self.path.read_text().splitlines():
                fields = line.split("#", 1)[0].split()
                for name in fields[1:]:
                    records.setdefault(name.lower(), []).append(fields[0])
            self._records = {name: tuple(ips) for name, ips in records.items()}
            self._stamp = stamp
        return self._records

    def lookup(self, name: str, search: Iterable[str]) -> Answer | None:
        """The cluster answer for `name`, None when the real resolver should be asked.

        Raises NXDomain for a miss that cluster DNS owns (see module docstring).
        """
        records = self.records()
        for candidate in candidates(name, search):
            if candidate in records:
                return Answer(candidate, records[candidate])
        if is_cluster_only(name):
            raise NXDomain(name)
        return None


def resolv_conf(nameserver: str, search: Iterable[str], ndots: int = NDOTS) -> str:
    """A pod's /etc/resolv.conf under dnsPolicy ClusterFirst, as the kubelet writes it."""
    return (f"search {' '.join(search)}\nnameserver {nameserver}\n"
            f"options ndots:{ndots}\n")


def write_resolv_conf(path: Path, nameserver: str, search: Iterable[str]) -> None:
    """Write it into the container's rootfs when it changed (a mount over /etc wins, as
    a volume mounted there would hide the kubelet's file)."""
    text = resolv_conf(nameserver, search)
    try:
        if path.is_file() and path.read_text() == text:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".resolv.conf.{os.getpid()}")
        tmp.write_text(text)
        tmp.chmod(0o644)
        os.replace(tmp, path)
    except OSError:  # a read-only volume over /etc: keep what is there
        pass


def read_resolv_conf(text: str) -> tuple[list[str], list[str], int]:
    """(nameservers, search list, ndots) of a resolv.conf."""
    servers: list[str] = []
    search: list[str] = []
    ndots = 1
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if fields[0] == "nameserver" and len(fields) > 1:
            servers.append(fields[1])
        elif fields[0] in ("search", "domain"):
            search = fields[1:]
        elif fields[0] == "options":
            for opt in fields[1:]:
                if opt.startswith("ndots:") and opt[6:].isdigit():
                    ndots = int(opt[6:])
    return servers, search, ndots


def resolve(name: str, table: HostsTable, search: Iterable[str]) -> list[str]:
    """IPv4 addresses for `name` as a pod sees them: cluster first, then the machine's."""
    answer = table.lookup(name, search)
    if answer is not None:
        return list(answer.addresses)
    infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))
