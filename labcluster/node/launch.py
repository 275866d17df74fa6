"""What the kubelet hands to the node runtime, and what the runtime hands to the supervisor.

Two small value types keep the layers apart: the kubelet resolves everything that needs
the API (env, volumes, subPath, pod IP) into a `ContainerLaunch`; an image handler turns
that into a `ProcessSpec` (argv/env/cwd/user), which the supervisor runs without knowing
anything about images or Kubernetes.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from pathlib import Path

#: The folder holding the `labcluster` package that runs this node: containers' boot code
#: puts it first on sys.path, and as root its path must be traversable by pod users.
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])

@dataclass(frozen=True)
class Mount:
    """One volumeMount, already resolved by the kubelet (subPath applied)."""

    host_path: Path
    container_path: str
    read_only: bool = False


GRAFTED_UNDER = "/var/run/secrets/"


@dataclass(frozen=True)
class ContainerPort:
    container_port: int
    name: str = ""
    protocol: str = "TCP"


@dataclass
class ContainerLaunch:
    """Everything needed to start one container, with no API lookups left to do.

    `command`/`args` follow Kubernetes: `command` replaces the image's entrypoint, `args`
    replaces its default arguments; `None` means "not given" (use the image's), `[]` is an
    explicit empty list. `env` is already resolved (valueFrom, envFrom, `$(VAR)` expansion).
    `run_dir` is a directory the node owns for this container (logs, sockets, the host
    directories that stand in for image paths); it survives restarts of the container.
    """

    pod_uid: str
    pod_name: str
    namespace: str
    container_name: str
    image: str
    pod_ip: str
    run_dir: Path
    command: list[str] | None = None
    args: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    mounts: list[Mount] = field(default_factory=list)
    ports: list[ContainerPort] = field(default_factory=list)
    memory_limit: int | None = None  # bytes
    cpu_limit: int | None = None  # millicores
    dns_search: list[str] = field(default_factory=list)
    hostname: str = ""
    # (uid, gid, groups) the container runs as on this machine, decided by the kubelet
    # (security.py); None: as the node's own user (a plain-user node, or tests)
    host_user: tuple[int, int, tuple[int, ...]] | None = None
    no_new_privs: bool = True
    read_only_root: bool = False  # securityContext.readOnlyRootFilesystem
    uid: int | None = None  # the container's uid as it sees it (0: the image's root)
    # a plain-user node: (uid, gid) the node's user is mapped to in the container's own
    # user namespace, and paths hidden there (security.userns_switcher)
    userns: tuple[int, int] | None = None
    hide: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir)
        if not self.hostname:
            self.hostname = self.pod_name

    @property
    def has_read_only_mounts(self) -> bool:
        """Read-only mounts that rely on file modes (so root inside must obey them, see
        readonly.py). Not the service-account folder every pod now has: it is a read-only
        bind mount where it is grafted, and holds only files its container cannot write
        (0644, the node's) elsewhere — counting it would take CAP_DAC_OVERRIDE from every
        pod, PostgreSQL's root entrypoint included."""
        grafted = {c for c, _ in self.grafts}
        return any(m.read_only and m.container_path not in grafted for m in self.mounts)

    @property
    def grafts(self) -> tuple[tuple[str, str], ...]:
        """Mounts under /var/run/secrets (the service-account folder): the kubernetes
        client opens them by that fixed path, so the container must see them there, not
        only through the mount table."""
        return tuple((m.container_path, str(m.host_path)) for m in self.mounts
                     if ("/" + m.container_path.strip("/")).startswith(GRAFTED_UNDER))

    def mount_for(self, container_path: str) -> Mount | None:
        """The mount covering `container_path` exactly, if the pod mounted one there."""
        wanted = container_path.rstrip("/") or "/"
        for mount in self.mounts:
            if (mount.container_path.rstrip("/") or "/") == wanted:
                return mount
        return None

    def host_path(self, container_path: str) -> Path:
        """Where `container_path` lives on this machine (see README: "Paths").

        The longest mount that is a prefix of the path wins, as in a real mount table;
        a path under no mount lands under `run_dir/rootfs/`, so each container gets its
        own private copy of the image paths it writes to.
        """
        wanted = "/" + container_path.strip("/")
        best: Mount | None = None
        best_prefix = ""
        for mount in self.mounts:
            prefix = "/" + mount.container_path.strip("/")
            inside = wanted == prefix or wanted.startswith(prefix.rstrip("/") + "/")
            if inside and (best is None or len(prefix) > len(best_prefix)):
                best, best_prefix = mount, prefix
        if best is None:
            return self.run_dir / "rootfs" / wanted.lstrip("/")
        rest = wanted[len(best_prefix) :].lstrip("/")
        return best.host_path / rest if rest else best.host_path


@dataclass
class ProcessSpec:
    """A process to run, as the supervisor needs it: no images, no Kubernetes.

    `user` is a (uid, gid) to switch to before exec, or None to keep ours.
    `image_id` is what `status.imageID` reports; `stop_signal` is the image's STOPSIGNAL,
    sent by `ContainerProcess.stop()` before SIGKILL.
    """

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    image_id: str
    user: tuple[int, int] | None = None
    stop_signal: int = signal.SIGTERM  # the image's STOPSIGNAL (postgres: SIGINT)
    # root obeys file modes (read-only mounts): no CAP_DAC_OVERRIDE, see readonly.py
    drop_write_override: bool = False
    stdin: bool = False  # the container's `stdin: true`: a pipe that pods/attach writes to
    # `contained`: `user` is the container's own (security.switcher: groups, capabilities,
    # no_new_privs, mount namespace) rather than a program dropping root (PostgreSQL)
    contained: bool = False
    drops_root: bool = False  # started as root on purpose: it switches user itself
    userns: tuple[int, int] | None = None  # see ContainerLaunch.userns
    hide: tuple[str, ...] = ()
    groups: tuple[int, ...] = ()
    no_new_privs: bool = True
    # (container path, host path): mounts made real at their container path in the
    # process's own mount namespace (security.graft), for programs that open a fixed
    # path themselves — the service-account folder the kubernetes client reads
    grafts: tuple[tuple[str, str], ...] = ()
