"""The postgres image's docker-entrypoint.sh, as the first process of a postgres container.

Runs as the node's user; initialises the data dir when it holds no cluster (through
labcluster/runtimes, which runs initdb unprivileged), then *replaces itself* with the
server (exec, same PID, privileges dropped), so the supervisor watches PostgreSQL itself
and no Python stays behind. Messages follow the official image's, so `kubectl logs`
reads the same.

Usage: python -m labcluster.node.handlers.pg_entrypoint CONFIG.json (written by the handler).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from labcluster.runtimes.base import ServerError
from labcluster.runtimes.postgres import PostgresServer

NO_PASSWORD = """Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the
       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".
"""


def main(config_path: str) -> int:
    config = json.loads(Path(config_path).read_text())
    env = dict(os.environ)
    trust = env.get("POSTGRES_HOST_AUTH_METHOD") == "trust"
    server = PostgresServer.from_env(
        env, config["data_dir"], config["host"], int(config["port"]),
        socket_dir=config["socket_dir"], settings=config["settings"],
        bin_source=config.get("bin_dir", "auto"),  # the install of the tag's major
    )
    if not server.initialized:
        if not env.get("POSTGRES_PASSWORD") and not trust:
            sys.stderr.write(NO_PASSWORD)
            return 1
        print(f"The files belonging to this database system will be owned by uid "
              f"{server.run_as[0] if server.run_as else os.getuid()}.", flush=True)
    else:
        print("\nPostgreSQL Database directory appears to contain a database; "
              "Skipping initialization\n", flush=True)
    fresh = not server.initialized
    Path(config["socket_dir"]).mkdir(parents=True, exist_ok=True)
    try:
        server.prepare()
    except ServerError as exc:
        print(f"initdb: error: {exc}", file=sys.stderr, flush=True)
        return 1
    if fresh:
        if server.database != "postgres":
            print(f"CREATE DATABASE {server.database}", flush=True)
        print("\nPostgreSQL init process complete; ready for start up.\n", flush=True)
    command = server.command()
    argv = command.argv + list(config.get("extra_args", []))
    child_env = {**env, **command.env}
    if command.cwd:
        os.chdir(command.cwd)
    if command.user is not None:
        uid, gid = command.user
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    os.execve(argv[0], argv, child_env)
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
