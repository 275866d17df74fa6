"""Short stand-ins, in the temp dir, for directories under a pod's dir whose path is too
long for what goes in them (a unix socket's name is at most 108 bytes on Linux, and a pod
dir is already ~90 characters under ~/.labcluster).

The long path becomes a symlink to its stand-in, so the pod dir still shows where things
are, and the node removes the stand-ins it finds linked there when it removes the pod dir:
before, every PostgreSQL pod left an empty ``/tmp/labcluster-pgsock-*`` behind. Only a
directory of ours is removed: one in the temp dir, with our prefix, that a link in a pod
dir points to.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

PREFIX = "labcluster-"
#: the longest path used as it is (a socket name adds ~20 characters: /.s.PGSQL.5432.lock)
MAX_LENGTH = 80


def short_dir(long: Path, kind: str) -> Path:
    """``long``, or its stand-in when ``long`` is too long (stable: the same path gives
    the same stand-in, so a restarted container finds its socket dir again)."""
    if len(str(long)) <= MAX_LENGTH:
        return long
    digest = hashlib.sha256(str(long).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"{PREFIX}{kind}-{digest}"


def make(long: Path, kind: str) -> Path:
    """Create the directory ``short_dir(long, kind)`` names; a stand-in gets a symlink at
    ``long`` pointing to it. Returns the directory to use."""
    target = short_dir(long, kind)
    target.mkdir(parents=True, exist_ok=True)
    if target != long and not long.is_symlink():
        long.parent.mkdir(parents=True, exist_ok=True)
        long.symlink_to(target, target_is_directory=True)
    return target


def remove_linked_from(pod_dir: Path) -> list[Path]:
    """Remove the stand-ins that links under ``pod_dir`` point to (call it before removing
    the pod dir); returns what was removed."""
    removed: list[Path] = []
    temp = Path(tempfile.gettempdir())
    try:
        links = [p for p in pod_dir.rglob("*") if p.is_symlink()]
    except OSError:
        return removed
    for link in links:
        try:
            target = Path(link.readlink())
        except OSError:
            continue
        if target.parent != temp or not target.name.startswith(PREFIX):
            continue  # not a stand-in of ours: never touched
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target, ignore_errors=True)
            removed.append(target)
    return removed
