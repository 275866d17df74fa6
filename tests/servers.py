"""Real PostgreSQL and Redis for tests, on 127.0.0.1 with free ports and private temp dirs.

Other engineers run tests on this machine at the same time, so nothing here uses a fixed
port or a shared folder, and each fixture stops exactly the processes it started.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from procs import stop_process

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


class StorefrontProcess:
    """A real `python -m storefront <service>` process on 127.0.0.1, its log in a file."""

    def __init__(self, service: str, env: dict[str, str], port: int | None = None) -> None:
        import os
        import sys

        self.service, self.port = service, port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(tempfile.mkdtemp(prefix=f"test-{service}-")) / "stdout.log"
        full_env = {**os.environ, **env}
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "storefront", service, "--host", "127.0.0.1",
                 "--port", str(self.port)], env=full_env, stdout=log, stderr=subprocess.STDOUT)

    def wait_healthy(self, timeout: float = 30) -> StorefrontProcess:
        import time

        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.service} exited {self.process.returncode}:\n{self.log}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.service} not healthy in {timeout} s:\n{self.log}")

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 20) -> int:
        code = stop_process(self.process, timeout)
        shutil.rmtree(self.log_path.parent, ignore_errors=True)
        return code
