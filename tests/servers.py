"""Real PostgreSQL and Redis for tests, on 127.0.0.1 with free ports and private temp dirs.

Other engineers run tests on this machine at the same time, so nothing here uses a fixed
port or a shared folder, and each fixture stops exactly the processes it started.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from labcluster.runtimes import PostgresServer, RedisServer
from labcluster.runtimes.base import ServerProcess

DB_USER, DB_PASSWORD, DB_NAME = "ecomuser", "test-pw-not-secret", "ecomdb"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def server_dir(prefix: str) -> Path:
    """A private temp dir that the unprivileged PostgreSQL user can traverse (mode 755)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


@contextlib.contextmanager
def down(server: ServerProcess, *, crash: bool = False) -> Iterator[None]:
    """Stop (or SIGKILL) a server for the block, and always start it again afterwards."""
    if crash:
        server.kill()
    else:
        server.stop()
    try:
        yield
    finally:
        server.start()


def start_postgres() -> PostgresServer:
    root = server_dir("test-pg-")
    server = PostgresServer(root / "data", "127.0.0.1", free_port(), user=DB_USER,
                            password=DB_PASSWORD, database=DB_NAME, socket_dir=root,
                            settings={"fsync": "off", "max_connections": "300"})
    return server.start()


def start_redis() -> RedisServer:
    return RedisServer(server_dir("test-redis-"), "127.0.0.1", free_port()).start()


def dispose(server: PostgresServer | RedisServer) -> None:
    server.stop()
    root = server.data_dir.parent if isinstance(server, PostgresServer) else server.data_dir
    shutil.rmtree(root, ignore_errors=True)
