"""What every image handler and the image catalog share: the image reference, the node
config handlers get, the pull errors, tag versions, and the ImageHandler base class.

Below both `images.py` (the catalog's `resolve`) and `handlers/` (one module per image
family): they import this, never each other's way back, so no import has to hide in a
function (tests/test_layering.py checks it).
"""

from __future__ import annotations

import os
import re
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from labcluster.node import security
from labcluster.node.binaries import Install
from labcluster.node.containerfs import env_for
from labcluster.node.dns import write_resolv_conf
from labcluster.node.launch import PACKAGE_ROOT, ContainerLaunch, ProcessSpec
from labcluster.node.netshim import active_mode, shim_env


class ImagePullError(LookupError):
    """The image cannot be pulled; the message names it, as a registry error does."""

    def __init__(self, image: str, why: str = "not found", *, message: str | None = None) -> None:
        self.image = image
        super().__init__(message or (
            f'failed to pull and unpack image "{image}": image "{image}" {why} '
            "(labcluster's image catalog has postgres, redis, nginx, storefront, busybox,"
            " curlimages/curl, ecommerce-lab/course-runner)"
        ))


class CommandNotFound(LookupError):
    """The command is not in the image: a real runtime's "executable file not found"."""

    def __init__(self, command: str) -> None:
        self.command = command
        super().__init__(
            f'exec: "{command}": executable file not found in $PATH'
        )


@dataclass(frozen=True)
class ImageRef:
    """`[registry/]name[:tag][@digest]`, with Docker Hub's `library/` folded away."""

    raw: str
    name: str
    tag: str
    digest: str = ""

    @classmethod
    def parse(cls, image: str) -> ImageRef:
        raw = image.strip()
        rest, _, digest = raw.partition("@")
        slash = rest.rfind("/")
        colon = rest.rfind(":")
        name, tag = (rest[:colon], rest[colon + 1 :]) if colon > slash else (rest, "latest")
        parts = name.lower().split("/")
        if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
            if parts[0] in ("docker.io", "index.docker.io", "registry-1.docker.io"):
                parts = parts[1:]
            else:
                parts = parts  # another registry: keep it, the catalog decides
        if parts[0] == "library" and len(parts) == 2:
            parts = parts[1:]
        return cls(raw, "/".join(parts), tag, digest)


# `python -m labcluster.node.toolbox`, but from the labcluster that runs this node (the
# container env has no PYTHONPATH: another installed copy would answer otherwise)
TOOLBOX_BOOT = (f"import runpy, sys; sys.path.insert(0, {PACKAGE_ROOT!r}); sys.argv.pop(0); "
                "runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)")
COMMON_TOOLS = ("tar", "test", "id")  # in every stock image; kubectl cp execs them
# Tags that can exist for the stock images: "16", "16.4", "16.4-alpine", "alpine", "latest".
STOCK_TAG = re.compile(r"^(latest|stable|alpine|bookworm|bullseye|\d+(\.\d+){0,2}([-.][a-z0-9.]+)*)$")
#: run_dir entries that stay the node's (root's) when the container runs as another user
NODE_OWNED = frozenset({"logs", "bin", "readonly"})
TAG_VERSION = re.compile(r"^(\d+)(?:\.\d+){0,2}(.*)$")


def tag_major(tag: str) -> int | None:
    """The major version a stock tag names ("16.4-alpine" → 16), or None ("alpine", "latest")."""
    found = TAG_VERSION.match(tag)
    return int(found.group(1)) if found else None


def pick_install(ref: ImageRef, installs: dict[int, Install], product: str,
                 parts: int = 1, hints: dict[int, str] | None = None) -> Install:
    """The install that runs `ref`: the tag's major, or the newest for a tag without a version.

    A tag naming a major this node has no install of is refused as a registry refuses an
    image it does not have (ErrImagePull), with what to use instead: running another major
    under the tag's name would make `SELECT version()` / `INFO server` contradict the
    manifest.
    """
    major = tag_major(ref.tag)
    if major is None:
        return installs[max(installs)]
    if major in installs:
        return installs[major]
    found = TAG_VERSION.match(ref.tag)
    suffix = found.group(2) if found else ""
    # `parts`: how much of the version names a release line (PostgreSQL 16; Redis 6.2)
    lines = {m: ".".join(i.version.split(".")[:parts]) for m, i in installs.items()}
    runs = [f"{lines[m]} ({i.source.removeprefix('pip ')})" for m, i in installs.items()]
    runs_text = ", ".join(runs[:-1]) + " and " + runs[-1] if len(runs) > 1 else runs[0]
    use = " or ".join(f"{ref.name}:{line}{suffix}" for line in lines.values())
    hint = (hints or {}).get(major)  # a major labcluster can run once a package is added
    raise ImagePullError(ref.raw, message=f"{ref.raw}: labcluster runs {product} {runs_text}, not "
                                          f"{major}; use {use}"
                                          + (f" (or {hint} to run {major})" if hint else ""))


@dataclass
class NodeConfig:
    """What every handler needs from the node: the DNS table, the shim mode, the interpreter."""

    hosts_file: Path
    shim_mode: str = "auto"  # auto | c | python | off (see netshim.shim_env)
    python: str = sys.executable
    nameserver: str | None = None  # kube-dns's ClusterIP: each container's resolv.conf
    hide: tuple[str, ...] = ()  # a plain-user node's paths pods must not see (security.py)

    def __post_init__(self) -> None:
        self.hosts_file = Path(self.hosts_file)


@dataclass
class ImageHandler:
    """Base: run `entrypoint + cmd` with the image's commands on PATH.

    Subclasses set `entrypoint`, `cmd`, `workdir`, `default_env` and `commands`, and
    override `main_spec` when the main program needs preparation (initdb, a generated
    nginx.conf) rather than a plain exec.
    """

    ref: ImageRef
    node: NodeConfig | None = None
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    workdir: str = "/"
    default_env: dict[str, str] = field(default_factory=dict)
    # the image's USER as (uid, gid): what a container runs as without runAsUser (root for
    # postgres, redis, nginx, busybox; curl_user 100:101; storefront 10001, its Dockerfile's)
    user: tuple[int, int] = (0, 0)

    # ----- what subclasses describe -----

    def commands(self) -> dict[str, list[str]]:
        """Command name → argv prefix on this machine (host binary or built-in)."""
        return {}

    def image_id(self) -> str:
        raise NotImplementedError

    def runs(self) -> str:
        """What this node runs for the image, said where a real kubelet says "pulled"
        (the event and `kubectl describe pod`): the image's own program, or a stand-in."""
        return ""

    # ----- shared machinery -----

    def client(self, name: str, real: str | None) -> list[str]:
        """The real client (curl) when the C shim lets it resolve cluster names, else the
        toolbox one (Python, so the Python-only shim covers it)."""
        mode = active_mode(self.node.shim_mode) if self.node else "c"
        if real and mode == "c":
            return [real]
        return self.toolbox(name)[name]

    def toolbox(self, *names: str) -> dict[str, list[str]]:
        python = self.node.python if self.node else sys.executable
        return {n: [python, "-c", TOOLBOX_BOOT, "labcluster.node.toolbox", n] for n in names}

    def argv_for(self, launch: ContainerLaunch) -> list[str]:
        """Kubernetes' rule: command replaces ENTRYPOINT, args replace CMD."""
        if launch.command is not None:
            return [*launch.command, *(launch.args or [])]
        if launch.args is not None:
            return [*self.entrypoint, *launch.args]
        return [*self.entrypoint, *self.cmd]

    def all_commands(self) -> dict[str, list[str]]:
        """The image's commands plus `tar` and `test`, which every stock image has
        (kubectl cp runs them through exec), from the toolbox."""
        return {**self.toolbox(*COMMON_TOOLS), **self.commands()}

    def commands_for(self, launch: ContainerLaunch) -> dict[str, list[str]]:
        """``all_commands`` for this container: a handler whose client needs the pod's
        address where the C shim would have supplied it overrides this."""
        return self.all_commands()

    def resolve_command(self, launch: ContainerLaunch, argv: list[str]) -> list[str]:
        """Map argv[0] as the image would find it to something this machine can run."""
        if not argv:
            raise CommandNotFound("")
        name = argv[0]
        table = self.commands_for(launch)
        base = name.rsplit("/", 1)[-1]
        if "/" not in name and name in table:
            return [*table[name], *argv[1:]]
        if "/" in name:
            if name.rsplit("/", 1)[0] in ("/bin", "/sbin", "/usr/bin", "/usr/sbin",
                                           "/usr/local/bin", "/usr/local/sbin") and base in table:
                return [*table[base], *argv[1:]]
            host = launch.host_path(name) if name.startswith("/") else None
            if host is not None and host.is_file() and os.access(host, os.X_OK):
                return [str(host), *argv[1:]]
        raise CommandNotFound(name)

    def write_bin_dir(self, launch: ContainerLaunch) -> Path:
        """One wrapper script per image command, so `sh -c`, exec and probes find them.

        Written by rename and only when changed: an exec may be running a wrapper while
        another exec (or a restart) prepares the same container.
        """
        bin_dir = launch.run_dir / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        launch.host_path("/root").mkdir(parents=True, exist_ok=True)  # $HOME
        tmp = launch.host_path("/tmp")  # every image has a world-writable /tmp
        if not tmp.is_dir():
            tmp.mkdir(parents=True, exist_ok=True)
            tmp.chmod(0o1777)
        for name, prefix in self.commands_for(launch).items():
            quoted = " ".join("'" + part.replace("'", "'\\''") + "'" for part in prefix)
            text = f'#!/bin/sh\nexec {quoted} "$@"\n'
            script = bin_dir / name
            try:
                if script.read_text() == text:
                    continue
            except OSError:
                pass
            tmp = bin_dir / f".{name}.{os.getpid()}.{threading.get_ident()}"
            tmp.write_text(text)
            tmp.chmod(0o755)
            os.replace(tmp, script)
        return bin_dir

    def environment(self, launch: ContainerLaunch, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The process environment: image defaults < pod env, plus PATH and the shim."""
        bin_dir = launch.run_dir / "bin"
        env = {
            "PATH": str(bin_dir),
            "HOSTNAME": launch.hostname,
            "HOME": str(launch.host_path("/root")),
            "LANG": "C.UTF-8",
            **self.default_env,
            **(extra or {}),
            **launch.env,
        }
        env["PATH"] = str(bin_dir)  # image commands only, as inside the image
        # the mount table, for toolbox commands that take container paths (containerfs.py)
        env.update(env_for(launch.host_path("/"), [(m.container_path, m.host_path)
                                                   for m in launch.mounts],
                           "/" + (launch.working_dir or self.workdir).strip("/")))
        if launch.host_user is not None or launch.userns is not None:
            env["LABCLUSTER_NODUMP"] = "1"  # other pods of the same uid: no /proc/<pid>/environ
        if self.node is None:
            return env
        if self.node.nameserver:  # what the kubelet writes for dnsPolicy ClusterFirst
            write_resolv_conf(launch.host_path("/etc/resolv.conf"), self.node.nameserver,
                              launch.dns_search)
        return shim_env(
            launch.pod_ip,
            self.node.hosts_file,
            launch.dns_search,
            launch.hostname,
            base_env=env,
            mode=self.node.shim_mode,
        )

    def working_dir(self, launch: ContainerLaunch) -> Path:
        path = launch.host_path(launch.working_dir or self.workdir)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def main_spec(self, launch: ContainerLaunch) -> ProcessSpec:
        """The container's main process. Default: exec entrypoint+cmd from the image."""
        argv = self.resolve_command(launch, self.argv_for(launch))
        return ProcessSpec(argv, self.environment(launch), self.working_dir(launch), self.image_id())

    def prepare(self, launch: ContainerLaunch) -> ProcessSpec:
        """Everything the kubelet calls to get a runnable spec for this container."""
        launch.run_dir.mkdir(parents=True, exist_ok=True)
        self.write_bin_dir(launch)
        spec = self.main_spec(launch)
        spec.drop_write_override = launch.has_read_only_mounts
        if not spec.drops_root:  # PostgreSQL's entrypoint switches user itself
            self.contain(launch, spec)
        return spec

    def contain(self, launch: ContainerLaunch, spec: ProcessSpec) -> None:
        """Run `spec` as the container's host user (security.py) and give that user the
        container's own files: everything in run_dir but the node's (logs, the command
        wrappers, read-only snapshots); readOnlyRootFilesystem seals the image paths."""
        spec.grafts = launch.grafts
        if launch.userns is not None:
            spec.userns, spec.hide = launch.userns, launch.hide
            spec.no_new_privs = launch.no_new_privs
            return
        if launch.host_user is None:
            return
        uid, gid, groups = launch.host_user
        spec.user, spec.groups, spec.contained = (uid, gid), groups, True
        spec.no_new_privs = launch.no_new_privs
        for entry in launch.run_dir.iterdir():
            if entry.name not in NODE_OWNED:
                security.give(entry, uid, gid)
        if launch.read_only_root:
            security.seal_root(launch.run_dir / "rootfs")

    def exec_env(self, launch: ContainerLaunch) -> dict[str, str]:
        """Environment for `kubectl exec` (the main process's, plus image conveniences)."""
        return self.environment(launch)

    def exec_spec(self, launch: ContainerLaunch, argv: list[str]) -> ProcessSpec:
        self.write_bin_dir(launch)
        resolved = self.resolve_command(launch, argv)
        spec = ProcessSpec(
            resolved, self.exec_env(launch), self.working_dir(launch), self.image_id(),
            user=self.exec_user(), drop_write_override=launch.has_read_only_mounts,
        )
        spec.grafts = launch.grafts
        if spec.user is None and launch.host_user is not None:
            uid, gid, groups = launch.host_user
            spec.user, spec.groups, spec.contained = (uid, gid), groups, True
            spec.no_new_privs = launch.no_new_privs
        elif spec.user is None and launch.userns is not None:
            spec.userns, spec.hide = launch.userns, launch.hide
            spec.no_new_privs = launch.no_new_privs
        return spec

    def exec_user(self) -> tuple[int, int] | None:
        return None
