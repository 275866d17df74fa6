"""Read-only volume mounts without mount namespaces.

A real kubelet bind-mounts a `readOnly` volume read-only (configMap and secret volumes
always are): a write fails with EROFS even for root. Here a container is a process on
the host file system, so "read-only" is made of two parts:

- the files a container sees there carry no write bits (files `a-w`, directories 0555):
  configMap/secret volumes are written that way (atomicwriter.py), other `readOnly`
  mounts (PVC, emptyDir, hostPath) get a read-only snapshot taken at container start
  (other pods may be writing the shared directory, so it cannot be chmodded);
- when the node runs as root, the container's processes (and its exec sessions) lose
  CAP_DAC_OVERRIDE from their capability bounding set, so root inside the container
  obeys those modes (CAP_DAC_READ_SEARCH stays: reading anything still works).

A write then fails with EACCES ("Permission denied"), not EROFS. This is a guard against
mistakes, not a security boundary: the process owns the files' owner uid (it runs as
the node's user) and could chmod them back.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labcluster.node.launch import ProcessSpec

PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE = 1
SNAPSHOT_LIMIT = 64 * 2**20  # bytes; a bigger read-only mount is refused, not copied


class SnapshotTooLarge(ValueError):
    pass


def seal(root: Path) -> None:
    """Remove every write bit under `root` (directories become 0555)."""
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                mode = stat.S_IMODE(os.lstat(path).st_mode)
                os.chmod(path, mode & ~0o222)
        for name in dirnames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, 0o555)
    if not root.is_symlink():
        root.chmod(0o555)


def unseal(root: Path) -> None:
    """Give the owner write access back to the directories (so the node can replace or
    remove them when it is not root); directories that are not ours are skipped."""
    if not root.exists() or root.is_symlink():
        return
    with contextlib.suppress(OSError):
        root.chmod(0o755)
    for dirpath, dirnames, _ in os.walk(root):
        for name in dirnames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                with contextlib.suppress(OSError):
                    os.chmod(path, 0o755)


def remove(root: Path, ignore_errors: bool = False) -> None:
    """rmtree that also works on a sealed tree when we are not root."""
    if root.is_symlink() or root.is_file():
        root.unlink()
        return
    if os.geteuid() != 0:
        unseal(root)
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(root, ignore_errors=ignore_errors)


def _size(root: Path) -> int:
    total = 0
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def snapshot(source: Path, target: Path, limit: int = SNAPSHOT_LIMIT) -> Path:
    """A sealed copy of `source` at `target` (replacing an older one); returns `target`."""
    if target.exists() or target.is_symlink():
        remove(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        size = _size(source)
        if size > limit:
            raise SnapshotTooLarge(f"readOnly mount of {source}: {size} bytes is more than the "
                                   f"{limit} bytes labcluster copies to make it read-only")
        shutil.copytree(source, target, symlinks=True)
    elif source.exists():
        shutil.copy2(source, target)
    else:
        target.mkdir()
    if target.is_dir():
        seal(target)
    else:
        target.chmod(stat.S_IMODE(target.stat().st_mode) & ~0o222)
    return target


try:  # resolved here, not in the forked child (no dlopen between fork and exec)
    _prctl: Callable[..., int] | None = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):
    _prctl = None


def _drop_write_override() -> None:
    """In the child before exec: take CAP_DAC_OVERRIDE out of the bounding set, so the
    exec'd program (root) has it in neither its permitted nor effective set."""
    if _prctl is not None:
        _prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, 0, 0, 0)


def preexec(spec: ProcessSpec) -> Callable[[], None] | None:
    """The preexec_fn for `spec`: only root has an override to drop, and a spec that
    switches user (PostgreSQL) loses it anyway."""
    if spec.drop_write_override and spec.user is None and os.geteuid() == 0:
        return _drop_write_override
    return None
