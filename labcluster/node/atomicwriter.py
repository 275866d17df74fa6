"""configMap/secret volumes as the kubelet's AtomicWriter lays them out, so updates are
atomic for readers:

    <volume>/..2026_11_29_09_12_00.123456789/<files>   the payload, sealed read-only
    <volume>/..data -> ..2026_11_29_09_12_00.123456789  swapped with one rename()
    <volume>/<key> -> ..data/<key>                       one link per top-level entry

A reader that opens `<volume>/<key>` sees the old or the new payload, never a mix.
The kubelet rewrites a pod's volumes on its periodic sync, so edits to a ConfigMap or
Secret reach running containers (env vars do not: they are fixed at start).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from labcluster.node import readonly

DATA = "..data"
Payload = dict[str, tuple[bytes, int]]  # relative path -> (content, mode)


def current(volume: Path) -> Payload | None:
    """The payload `..data` points at, or None when there is none (or it is unreadable)."""
    data = volume / DATA
    if not data.is_symlink():
        return None
    root = volume / os.readlink(data)
    out: Payload = {}
    try:
        for dirpath, _, filenames in os.walk(root):
            for name in filenames:
                path = Path(dirpath) / name
                st = path.lstat()
                out[str(path.relative_to(root))] = (path.read_bytes(), st.st_mode & 0o7777)
    except OSError:
        return None
    return out


def _sealed_mode(mode: int) -> int:
    return mode & ~0o222


def write(volume: Path, payload: Payload) -> bool:
    """Make `volume` hold exactly `payload`; False when it already did (nothing touched)."""
    sealed = {rel: (body, _sealed_mode(mode)) for rel, (body, mode) in payload.items()}
    if current(volume) == sealed:
        return False
    if volume.exists() and not (volume / DATA).is_symlink():
        readonly.remove(volume)  # an older layout, or a half-made volume: start afresh
    volume.mkdir(parents=True, exist_ok=True)
    volume.chmod(0o755)  # writable for us while we change it (matters when not root)
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime())
    fresh = Path(tempfile.mkdtemp(prefix=stamp, dir=volume))
    for rel, (body, mode) in sealed.items():
        path = fresh / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        path.chmod(mode)
    readonly.seal(fresh)
    old = os.readlink(volume / DATA) if (volume / DATA).is_symlink() else None
    tmp_link = volume / "..data_tmp"
    if tmp_link.is_symlink():
        tmp_link.unlink()
    os.symlink(fresh.name, tmp_link)
    os.rename(tmp_link, volume / DATA)
    tops = {rel.split("/", 1)[0] for rel in sealed}
    for entry in os.listdir(volume):
        path = volume / entry
        if entry.startswith(".."):
            continue
        if entry not in tops and path.is_symlink():
            path.unlink()
    for top in tops:
        path = volume / top
        if not path.is_symlink():
            os.symlink(f"{DATA}/{top}", path)
    if old and old != fresh.name:
        readonly.remove(volume / old)
    volume.chmod(0o555)
    return True
