"""A container's filesystem view for the toolbox commands that take paths (`tar`,
`test`), which kubectl cp runs through exec.

There are no mount namespaces here (see README "Paths"): the node maps a container path
to a host path with the mount table (`ContainerLaunch.host_path`). The kubelet hands that
table to the container's processes as LABCLUSTER_ROOTFS (where unmounted paths live) and
LABCLUSTER_MOUNTS (JSON `[[container path, host path], ...]`), so a toolbox command sees
`/tmp/x` where the container would — not the machine's own /tmp.
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Mapping
from pathlib import Path

ROOTFS_ENV, MOUNTS_ENV = "LABCLUSTER_ROOTFS", "LABCLUSTER_MOUNTS"
WORKDIR_ENV = "LABCLUSTER_WORKDIR"


def env_for(rootfs: Path, mounts: list[tuple[str, Path]], workdir: str) -> dict[str, str]:
    return {ROOTFS_ENV: str(rootfs), WORKDIR_ENV: workdir,
            MOUNTS_ENV: json.dumps([[c, str(h)] for c, h in mounts])}


class ContainerFS:
    """Container path → host path, by the longest mount prefix (as `host_path`)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        root = env.get(ROOTFS_ENV)
        self.rootfs = Path(root) if root else None
        self.mounts = [("/" + c.strip("/"), Path(h))
                       for c, h in json.loads(env.get(MOUNTS_ENV) or "[]")]
        self.mounts.sort(key=lambda m: len(m[0]), reverse=True)
        self.cwd = env.get(WORKDIR_ENV) or ("/" if root else os.getcwd())

    @property
    def mapped(self) -> bool:
        """False outside a container (no table): paths are the host's."""
        return self.rootfs is not None

    def absolute(self, path: str, cwd: str | None = None) -> str:
        """A clean absolute container path (relative paths are from `cwd`, by default
        the container's working directory)."""
        base = cwd or self.cwd
        return posixpath.normpath(posixpath.join(base, path)) if path else base

    def host(self, container_path: str) -> Path:
        if self.rootfs is None:
            return Path(container_path)
        wanted = "/" + posixpath.normpath("/" + container_path).strip("/")
        for prefix, host in self.mounts:
            if wanted == prefix or wanted.startswith(prefix.rstrip("/") + "/"):
                rest = wanted[len(prefix):].lstrip("/")
                return host / rest if rest else host
        return self.rootfs / wanted.lstrip("/")

    def roots(self) -> list[Path]:
        """Host directories a write may land in (the rootfs and the mounts)."""
        if self.rootfs is None:
            return [Path("/")]
        return [self.rootfs, *(h for _c, h in self.mounts)]

    def inside(self, host_path: Path) -> bool:
        """Whether `host_path`, symlinks resolved, stays in this container's roots — so a
        symlink in a tar cannot carry a later member out of the container."""
        real = Path(os.path.realpath(host_path))
        for root in self.roots():
            base = Path(os.path.realpath(root))
            if real == base or base in real.parents:
                return True
        return False

    def children(self, container_dir: str) -> list[str]:
        """Names in a container directory: the host dir's entries plus mount points that
        sit directly below it."""
        names = set()
        host = self.host(container_dir)
        if host.is_dir():
            names.update(os.listdir(host))
        base = container_dir.rstrip("/") + "/"
        for prefix, _h in self.mounts:
            if prefix.startswith(base) and "/" not in prefix[len(base):]:
                names.add(prefix[len(base):])
        return sorted(names)
