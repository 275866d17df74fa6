"""Where a labcluster keeps its state, and who may read it.

The state dir ("home") holds the store (every object, Secrets included), the kubeconfig
with the admin token, the TLS keys and the server log: all private to its owner (0600).
PostgreSQL refuses to run as root, so when the node is root it runs PostgreSQL as
`nobody`, and `nobody` must *traverse* the home down to the claim's data dir. A
directory it cannot enter anywhere on that path (root's own home is mode 0700 on Debian
and in most containers) makes `postgres-0` crash-loop. Hence the default layout:

* as a plain user (a laptop, Binder's `jovyan`): ``~/.labcluster``, mode 0700 — every
  pod runs as that user, nobody else needs in;
* as root: ``/var/lib/labcluster`` (as k3s uses /var/lib/rancher/k3s and the kubelet
  /var/lib/kubelet), mode 0711 — `nobody` may pass through to its data dir but cannot
  list anything, and every file it could name is 0600;
* ``$LABCLUSTER_HOME`` (or ``--home``) wins over both; as root it is refused up front,
  with what to do, when `nobody` cannot traverse to it.

A home made by an older version at ``~/.labcluster`` is used as root when `nobody` can
reach it (its files' modes are tightened on start) and refused with the commands that
move it otherwise, so no object or data is ever silently left behind.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping
from pathlib import Path

#: Who runs PostgreSQL (and whatever else may not run as root) when the node is root.
UNPRIVILEGED_USER = "nobody"
ROOT_DEFAULT = Path("/var/lib/labcluster")
LEGACY_NAME = ".labcluster"
#: Files of the home that hold secrets or what a local user should not read.
PRIVATE_FILES = ("store.sqlite", "store.sqlite-wal", "store.sqlite-shm", "server.log",
                 "server.pid", "kubeconfig", "ca.crt", "server.crt", "server.key", "ca.key",
                 "sa.key")


class HomeError(RuntimeError):
    """A state dir labcluster cannot use as it is; the message says what to do."""


def unprivileged_ids() -> tuple[int, int] | None:
    """(uid, gid) the node's unprivileged parts run as, or None when we are not root."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


def blocking_ancestor(path: Path, ids: tuple[int, int]) -> Path | None:
    """The first existing ancestor of `path` that uid/gid `ids` cannot enter, or None."""
    uid, gid = ids
    for folder in reversed(path.absolute().parents):
        try:
            st = folder.stat()
        except OSError:
            return None  # not made yet: we create the rest with the right modes
        bit = 0o100 if st.st_uid == uid else 0o010 if st.st_gid == gid else 0o001
        if not st.st_mode & bit:
            return folder
    return None


_WHO_WE_ARE = object()


def default_home(env: Mapping[str, str] | None = None, user_home: Path | None = None,
                 ids: tuple[int, int] | None | object = _WHO_WE_ARE,
                 root_default: Path = ROOT_DEFAULT) -> Path:
    """``$LABCLUSTER_HOME``, else the layout above for who we are (the arguments exist
    so a test can ask for another user than the one it runs as)."""
    env = os.environ if env is None else env
    explicit = env.get("LABCLUSTER_HOME")
    if explicit:
        return Path(explicit).expanduser()
    legacy = (user_home or Path.home()) / LEGACY_NAME
    if ids is _WHO_WE_ARE:
        ids = unprivileged_ids()
    if ids is None:
        return legacy
    if (legacy / "store.sqlite").exists():
        assert isinstance(ids, tuple)
        blocked = blocking_ancestor(legacy, ids)
        if blocked is None:
            return legacy
        raise HomeError(
            f"an older labcluster home is at {legacy}, but as root labcluster runs PostgreSQL "
            f"as {UNPRIVILEGED_USER!r}, which cannot enter {blocked} (mode "
            f"{blocked.stat().st_mode & 0o777:04o}); the default home for root is now "
            f"{root_default}. Keep its objects and data by moving it:\n"
            f"  labcluster down --home {legacy} && mv {legacy} {root_default}\n"
            f"or start afresh by removing it (labcluster down --home {legacy}, then delete "
            f"it), or keep using it with LABCLUSTER_HOME=<a folder {UNPRIVILEGED_USER} can "
            f"traverse>.")
    return root_default


def check_reachable(home: Path, ids: tuple[int, int] | None | object = _WHO_WE_ARE) -> None:
    """As root, refuse a home the unprivileged pods cannot traverse (before anything runs)."""
    if ids is _WHO_WE_ARE:
        ids = unprivileged_ids()
    if not isinstance(ids, tuple):
        return
    blocked = blocking_ancestor(home, ids)
    if blocked is not None:
        raise HomeError(
            f"labcluster home {home} is under {blocked} (mode "
            f"{blocked.stat().st_mode & 0o777:04o}), which {UNPRIVILEGED_USER!r} cannot "
            f"enter: as root, labcluster runs PostgreSQL as {UNPRIVILEGED_USER!r} and its "
            f"data lives in the home. Use a home outside it, e.g. unset LABCLUSTER_HOME "
            f"(root's default is {ROOT_DEFAULT}) or LABCLUSTER_HOME=/var/tmp/labcluster.")


def dir_mode() -> int:
    """0711 when unprivileged pods must pass through, else 0700."""
    return 0o711 if unprivileged_ids() is not None else 0o700


def make_private(home: Path) -> None:
    """Create `home` if needed and give it and its state files their private modes.

    Also tightens a home made by an older version (0644 store and log)."""
    try:
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise HomeError(f"cannot create labcluster home {home}: {exc.strerror}; set "
                        f"LABCLUSTER_HOME to a folder you can write") from None
    os.chmod(home, dir_mode())
    for name in PRIVATE_FILES:
        path = home / name
        if path.exists():
            os.chmod(path, 0o600)


def create_private_file(path: Path) -> None:
    """Make `path` (empty) with mode 0600 unless it exists, so what is written later
    (sqlite's store, -wal and -shm take the store's mode) is never readable by others."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
