"""Who a container runs as, and what keeps it from the host: the kubelet's securityContext
rules plus what this node can enforce without a container runtime.

The kubelet part (any node): the container's uid is `runAsUser` (container, else pod), else
the image's user; its gid `runAsGroup`, else the image's group when the uid is the
image's, else 0; `supplementalGroups` and `fsGroup` are extra groups. With `runAsNonRoot`
a root uid is refused before the container is created (`CreateContainerConfigError`,
the kubelet's messages, `verify_run_as_non_root`).

The node part, only when the node runs as root (it can switch users then):

* uid/gid 0 become `nobody`/`nogroup` (65534): no container is root on the host;
* the process keeps one capability, CAP_NET_BIND_SERVICE (ambient), standing in for
  containerd's `ip_unprivileged_port_start=0` in a pod's network namespace, so a non-root
  nginx still listens on 80; every other capability is out of its bounding set;
* `no_new_privs` is always set: a host setuid binary (su, mount) gives nothing back;
* the process gets its own mount namespace in which a host directory it cannot enter but
  must (root's 0700 home holding pyenv's Python, for instance) is covered by a tmpfs that
  holds only the paths the node's programs need (`expose_plan`): the rest of that
  directory (root's kubeconfig, ssh keys...) stays out of sight.

As a plain user the node cannot switch users: containers run as the node's user, and
only the kubelet part applies (see node/README.md "Isolation").
"""

from __future__ import annotations

import ctypes
import functools
import os
import stat
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labcluster.node.launch import PACKAGE_ROOT

NOBODY = 65534
CAP_NET_BIND_SERVICE = 10
PR_CAPBSET_DROP, PR_SET_KEEPCAPS, PR_SET_NO_NEW_PRIVS = 24, 8, 38
PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE = 47, 2
CLONE_NEWNS = 0x00020000
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
MS_RDONLY, MS_REMOUNT = 1, 32
O_PATH = getattr(os, "O_PATH", 0o10000000)
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class RunAsRootRefused(ValueError):
    """runAsNonRoot and a root uid: the kubelet's CreateContainerConfigError."""


@dataclass(frozen=True)
class Identity:
    """A container's user as the pod sees it (`id`) — not yet mapped to the host."""

    uid: int
    gid: int
    groups: tuple[int, ...] = ()
    no_new_privs: bool = True
    read_only_root: bool = False


def _effective(pod: dict[str, Any], container: dict[str, Any], key: str) -> Any:
    """Container securityContext wins over the pod's (DetermineEffectiveSecurityContext)."""
    value = (container.get("securityContext") or {}).get(key)
    if value is None:
        value = ((pod.get("spec") or {}).get("securityContext") or {}).get(key)
    return value


def pod_label(pod: dict[str, Any]) -> str:
    """The kubelet's format.Pod: name_namespace(uid)."""
    meta = pod.get("metadata") or {}
    return f"{meta.get('name', '')}_{meta.get('namespace', '')}({meta.get('uid', '')})"


def verify_run_as_non_root(pod: dict[str, Any], container: dict[str, Any],
                           image_uid: int) -> None:
    """The kubelet's verifyRunAsNonRoot (pkg/kubelet/kuberuntime/security_context_others.go)."""
    if _effective(pod, container, "runAsNonRoot") is not True:
        return
    run_as = _effective(pod, container, "runAsUser")
    name = container.get("name", "")
    if run_as is not None:
        if int(run_as) == 0:
            raise RunAsRootRefused(f"container's runAsUser breaks non-root policy "
                                   f'(pod: "{pod_label(pod)}", container: {name})')
        return
    if image_uid == 0:
        raise RunAsRootRefused(f"container has runAsNonRoot and image will run as root "
                               f'(pod: "{pod_label(pod)}", container: {name})')


def identity(pod: dict[str, Any], container: dict[str, Any],
             image_user: tuple[int, int]) -> Identity:
    """The container's uid, gid and extra groups as the kubelet and runtime decide them."""
    verify_run_as_non_root(pod, container, image_user[0])
    run_as = _effective(pod, container, "runAsUser")
    uid = int(run_as) if run_as is not None else image_user[0]
    group = _effective(pod, container, "runAsGroup")
    # no runAsGroup: the runtime takes the image's group for the image's user, else root's
    gid = int(group) if group is not None else image_user[1] if uid == image_user[0] else 0
    pod_sc = (pod.get("spec") or {}).get("securityContext") or {}
    groups = [int(g) for g in pod_sc.get("supplementalGroups") or []]
    if pod_sc.get("fsGroup") is not None:
        groups.append(int(pod_sc["fsGroup"]))
    container_sc = container.get("securityContext") or {}
    return Identity(uid, gid, tuple(dict.fromkeys(groups)),
                    no_new_privs=container_sc.get("allowPrivilegeEscalation") is not True,
                    read_only_root=container_sc.get("readOnlyRootFilesystem") is True)


def switches_user() -> bool:
    """Whether this node runs containers as other users (only root can)."""
    return os.geteuid() == 0


def host_ids(ident: Identity) -> tuple[int, int, tuple[int, ...]] | None:
    """(uid, gid, groups) to run as on this machine: root inside is `nobody` outside;
    None when the node cannot switch users (it is not root)."""
    if not switches_user():
        return None

    def host(i: int) -> int:
        return NOBODY if i == 0 else i

    return host(ident.uid), host(ident.gid), tuple(dict.fromkeys(host(g) for g in ident.groups))


def userns_ids(ident: Identity) -> tuple[int, int]:
    """The (uid, gid) a plain-user node's container sees itself as: its own, with root
    as `nobody` as on a root node — root inside a one-uid namespace cannot setgroups()
    (nginx's workers call initgroups and stop), and is no more root than nobody."""
    return (ident.uid or NOBODY, ident.gid or NOBODY)


# --------------------------------------------------------------------------- file ownership
def give(path: Path, uid: int, gid: int) -> None:
    """chown -R `path` to uid:gid where it differs (the container's own files)."""
    if not path.exists() or path.is_symlink():
        return
    for dirpath, dirnames, filenames in os.walk(path):
        for name in [*dirnames, *filenames, ""]:
            target = os.path.join(dirpath, name) if name else dirpath
            try:
                st = os.lstat(target)
                if (st.st_uid, st.st_gid) != (uid, gid):
                    os.lchown(target, uid, gid)
            except OSError:
                continue


def seal_root(rootfs: Path) -> None:
    """readOnlyRootFilesystem: the container's own image paths become root's, 0555 dirs
    and read-only files, so a non-root container (every container of a root node) gets
    EACCES writing there; mounts (emptyDir at /tmp...) stay writable."""
    if not rootfs.exists():
        return
    for dirpath, dirnames, filenames in os.walk(rootfs):
        for name in filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if not stat.S_ISLNK(st.st_mode):
                os.lchown(path, 0, 0)
                os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o222)
        for name in dirnames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.lchown(path, 0, 0)
                os.chmod(path, 0o555)
    os.lchown(rootfs, 0, 0)
    os.chmod(rootfs, 0o555)


def apply_fs_group(volume_dirs: Iterable[Path], gid: int) -> None:
    """fsGroup: the volume's files belong to the group, group-writable, directories
    setgid so new files inherit it (the kubelet's SetVolumeOwnership, root only)."""
    for root in volume_dirs:
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            for name in [*filenames, *dirnames, ""]:
                path = os.path.join(dirpath, name) if name else dirpath
                try:
                    st = os.lstat(path)
                    if stat.S_ISLNK(st.st_mode):
                        continue
                    if st.st_gid != gid:
                        os.lchown(path, -1, gid)
                    mode = stat.S_IMODE(st.st_mode) | 0o060
                    if stat.S_ISDIR(st.st_mode):
                        mode |= 0o2010
                    if mode != stat.S_IMODE(st.st_mode):
                        os.chmod(path, mode)
                except OSError:
                    continue


# --------------------------------------------------------------------------- exposure
def _needed_paths() -> list[Path]:
    """What a container process of this node must reach: the interpreter (and its
    prefixes), this labcluster, the import path."""
    found = {Path(os.path.realpath(sys.executable)).parent.parent, Path(sys.prefix),
             Path(sys.base_prefix), Path(os.path.realpath(sys.base_prefix)), Path(PACKAGE_ROOT)}
    found.update(Path(p) for p in sys.path if p and os.path.isdir(p))
    return sorted(found)


def _blocked_by(path: Path) -> tuple[Path, str] | None:
    """(the first ancestor others cannot enter, the name under it leading to `path`)."""
    parts = path.absolute().parts
    for i in range(1, len(parts)):
        folder = Path(*parts[:i])
        try:
            st = folder.stat()
        except OSError:
            return None
        if not st.st_mode & 0o001:
            return folder, parts[i]
    return None


@functools.lru_cache(maxsize=1)
def expose_plan() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Directories a non-root container cannot enter on the way to what it must run, each
    with the entries to show through (computed once: the interpreter does not move)."""
    plan: dict[Path, set[str]] = {}
    for path in _needed_paths():
        hit = _blocked_by(path)
        if hit is not None:
            plan.setdefault(hit[0], set()).add(hit[1])
    return tuple((str(d), tuple(sorted(names))) for d, names in sorted(plan.items()))


# --------------------------------------------------------------------------- switching
class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


try:  # resolved here, not in the forked child
    _libc = ctypes.CDLL(None, use_errno=True)
    _prctl: Callable[..., int] = _libc.prctl
    _capset: Callable[..., int] = _libc.capset
    _unshare: Callable[..., int] = _libc.unshare
    _mount: Callable[..., int] = _libc.mount
    _mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                       ctypes.c_char_p]
    AVAILABLE = True
except (OSError, AttributeError):
    AVAILABLE = False


def _last_cap() -> int:
    try:
        return int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except (OSError, ValueError):
        return 40


LAST_CAP = _last_cap()


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _expose(plan: tuple[tuple[str, tuple[str, ...]], ...]) -> None:
    """In the child: a private mount namespace where each blocked directory is a 0755
    tmpfs showing only the needed entries (bind mounts of the originals)."""
    _check(_unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(_mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    for folder, names in plan:
        fd = os.open(folder, O_PATH | os.O_DIRECTORY)
        try:
            _check(_mount(b"tmpfs", folder.encode(), b"tmpfs", 0, b"mode=0755,size=64k"),
                   f"mount tmpfs on {folder}")
            for name in names:
                source = f"/proc/self/fd/{fd}/{name}"
                target = os.path.join(folder, name)
                if os.path.isdir(source):
                    os.mkdir(target, 0o755)
                else:
                    os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
                _check(_mount(source.encode(), target.encode(), None, MS_BIND | MS_REC, None),
                       f"bind {folder}/{name}")
        finally:
            os.close(fd)


def _make_room(target: str) -> None:
    """In the child's own mount namespace: make directory `target` exist without touching
    the host. Its deepest existing ancestor is covered by a tmpfs that shows every original
    entry again (bind mounts; symlinks copied), plus the new path."""
    parts = target.strip("/").split("/")
    depth = len(parts)
    while depth > 0 and not os.path.exists("/" + "/".join(parts[:depth])):
        depth -= 1
    base = os.path.realpath("/" + "/".join(parts[:depth]))
    if base == "/" or not os.path.isdir(base):
        raise OSError(f"cannot make {target}: no directory to cover above it")
    rest = parts[depth:]
    fd = os.open(base, O_PATH | os.O_DIRECTORY)
    try:
        names = os.listdir(f"/proc/self/fd/{fd}")
        _check(_mount(b"tmpfs", base.encode(), b"tmpfs", 0, b"mode=0755,size=64k"),
               f"mount tmpfs on {base}")
        for name in names:
            source, here = f"/proc/self/fd/{fd}/{name}", os.path.join(base, name)
            if os.path.islink(source):
                os.symlink(os.readlink(source), here)
                continue
            if os.path.isdir(source):
                os.mkdir(here, 0o755)
            else:
                os.close(os.open(here, os.O_CREAT | os.O_WRONLY, 0o644))
            _check(_mount(source.encode(), here.encode(), None, MS_BIND | MS_REC, None),
                   f"bind {here}")
    finally:
        os.close(fd)
    os.makedirs(os.path.join(base, *rest), 0o755, exist_ok=True)


def graft(grafts: tuple[tuple[str, str], ...]) -> None:
    """In the child, inside its own mount namespace: bind each host folder read-only at
    its container path (a pod's service-account volume at /var/run/secrets/...)."""
    for target, source in grafts:
        if not os.path.isdir(target):
            _make_room(target)
        _check(_mount(source.encode(), target.encode(), None, MS_BIND | MS_REC, None),
               f"bind {target}")
        # keep the flags the filesystem has (a user namespace may not drop locked ones)
        have = os.statvfs(target).f_flag
        kept = sum(ms for st, ms in ((2, 2), (4, 4), (8, 8), (1024, 1024), (2048, 2048),
                                     (4096, 1 << 21)) if have & st)
        _check(_mount(b"none", target.encode(), None,
                      MS_BIND | MS_REMOUNT | MS_RDONLY | kept, None),
               f"remount {target} read-only")


def switcher(uid: int, gid: int, groups: tuple[int, ...], no_new_privs: bool = True,
             extra: Callable[[], None] | None = None,
             grafts: tuple[tuple[str, str], ...] = ()) -> Callable[[], None]:
    """A preexec_fn that turns the (root) child into the container's user (see module
    docstring). Any failure raises: the container does not start rather than run as root."""
    plan = expose_plan()

    def run() -> None:
        if extra is not None:
            extra()
        if plan:
            _expose(plan)
        if grafts:
            if not plan:
                _check(_unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
                _check(_mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None),
                       "mount --make-rprivate /")
            graft(grafts)
        for cap in range(LAST_CAP + 1):
            if cap != CAP_NET_BIND_SERVICE:
                _check(_prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "drop capability")
        _check(_prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), "keepcaps")
        for fd in (0, 1, 2):  # the container's stdio pipes are its own: nginx reopens
            try:              # /dev/stdout (/proc/self/fd/1), a pipe root made 0600
                if stat.S_ISFIFO(os.fstat(fd).st_mode):
                    os.fchown(fd, uid, gid)
            except OSError:
                pass
        os.setgroups(list(groups))
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        bit = 1 << CAP_NET_BIND_SERVICE
        header, data = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0), (_CapData * 2)()
        data[0].effective = data[0].permitted = data[0].inheritable = bit
        _check(_capset(ctypes.byref(header), ctypes.byref(data)), "capset")
        _check(_prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0),
               "ambient NET_BIND_SERVICE")
        if no_new_privs:
            _check(_prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")

    return run


CLONE_NEWUSER = 0x10000000


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def userns_switcher(uid: int, gid: int, hide: tuple[str, ...] = (),
                    no_new_privs: bool = True,
                    grafts: tuple[tuple[str, str], ...] = ()) -> Callable[[], None]:
    """A preexec_fn for a node that is not root: the child enters its own user and mount
    namespaces, where the node's uid is mapped to the container's (so `id -u` says
    runAsUser, or 0 for an image's root), and `hide` — the home's secrets, ~/.kube,
    ~/.ssh — is covered (files by /dev/null, directories by an empty tmpfs). The node
    owns that user namespace, so it still reads the pod's /proc entries; other pods do not
    (each has its own namespace, and the shim makes them non-dumpable)."""
    def run() -> None:
        real_uid, real_gid = os.getuid(), os.getgid()
        _check(_unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare(CLONE_NEWUSER|CLONE_NEWNS)")
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {real_uid} 1")
        _write("/proc/self/gid_map", f"{gid} {real_gid} 1")
        _check(_mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
        for path in hide:
            if os.path.isdir(path):
                _check(_mount(b"tmpfs", path.encode(), b"tmpfs", 0, b"mode=0700,size=16k"),
                       f"hide {path}")
            elif os.path.exists(path):
                _check(_mount(b"/dev/null", path.encode(), None, MS_BIND, None), f"hide {path}")
        graft(grafts)
        if no_new_privs:
            _check(_prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")

    return run


@functools.lru_cache(maxsize=1)
def userns_available() -> bool:
    """Whether this (non-root) node can give containers user + mount namespaces: the
    kernel allows unprivileged ones (Debian/Fedora do; Ubuntu 24.04's AppArmor
    restriction or a container's seccomp may not). LABCLUSTER_USERNS=0 turns it off."""
    if os.environ.get("LABCLUSTER_USERNS", "auto") in ("0", "off") or not AVAILABLE:
        return False
    import subprocess

    try:
        subprocess.run(["/bin/sh", "-c", "exit 0"], check=True, timeout=10,
                       preexec_fn=userns_switcher(os.getuid(), os.getgid()))
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def private_paths(home: Path) -> tuple[str, ...]:
    """What a pod of a plain-user node must not read although it runs as the node's user:
    the home's secrets and the user's own credentials (hidden by userns_switcher)."""
    from labcluster.home import PRIVATE_FILES

    user_home = Path.home()
    found = [str(home / name) for name in PRIVATE_FILES if name not in ("ca.crt", "server.crt")]
    found += [str(user_home / ".kube"), str(user_home / ".ssh"), str(user_home / ".aws"),
              str(user_home / ".config" / "gcloud"), str(user_home / ".docker")]
    return tuple(found)


def popen_options(spec: Any, fallback: Callable[[], None] | None) -> dict[str, Any]:
    """subprocess options to start `spec` (a ProcessSpec): the switcher when the node is
    root and the spec names a user with `groups` set by the kubelet; otherwise the plain
    user/group switch (PostgreSQL's own) or none, plus `fallback` as preexec_fn."""
    if spec.user is not None and spec.contained and switches_user() and AVAILABLE:
        uid, gid = spec.user
        return {"preexec_fn": switcher(uid, gid, tuple(spec.groups), spec.no_new_privs,
                                       grafts=tuple(spec.grafts))}
    if spec.userns is not None and not switches_user():
        return {"preexec_fn": userns_switcher(*spec.userns, tuple(spec.hide),
                                              spec.no_new_privs, tuple(spec.grafts))}
    user, group = spec.user if spec.user else (None, None)
    return {"user": user, "group": group,
            "extra_groups": [] if user is not None else None, "preexec_fn": fallback}
