"""Configuration from the environment only, as the lab's ConfigMap and Secret provide it.

A bad value stops the process with one clear line (a pod in CrashLoopBackOff whose log
says why) rather than a traceback or a silent default.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit


class ConfigError(ValueError):
    """One line a learner can act on: which variable, what value, what was expected."""


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if raw == "":
        return default
    if name.endswith("_PORT") and raw.startswith("tcp://"):
        # Kubernetes' service links set REDIS_PORT=tcp://10.96.0.5:6379 for a Service named
        # `redis` when the ConfigMap does not: the port is what the learner meant.
        raw = raw.rsplit(":", 1)[-1]
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} is out of range ({low}..{high})")
    return value


def _str(env: Mapping[str, str], name: str, default: str) -> str:
    return env.get(name, "").strip() or default


@dataclass(frozen=True)
class Settings:
    database_host: str = "postgres"
    database_port: int = 5432
    database_name: str = "ecomdb"
    database_user: str = "ecomuser"
    database_password: str = ""
    redis_host: str = "redis"
    redis_port: int = 6379
    cart_service_url: str = "http://cart-service:8080"
    cache_ttl_seconds: int = 60
    startup_db_wait_seconds: int = 5
    log_level: str = "INFO"
    pod_name: str = "localhost"
    host: str = "0.0.0.0"
    port: int | None = None

    def __repr__(self) -> str:  # never print the password, even by accident
        return f"Settings(database={self.database_host}:{self.database_port}, redis={self.redis_host}:{self.redis_port}, pod={self.pod_name})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        cart_url = _str(env, "CART_SERVICE_URL", cls.cart_service_url).rstrip("/")
        parts = urlsplit(cart_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"CART_SERVICE_URL={cart_url!r} is not an http(s) URL")
        level = _str(env, "LOG_LEVEL", "INFO").upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ConfigError(f"LOG_LEVEL={level!r} is not one of DEBUG, INFO, WARNING, ERROR")
        port = _int(env, "PORT", 0, 0, 65535)
        return cls(
            database_host=_str(env, "DATABASE_HOST", cls.database_host),
            database_port=_int(env, "DATABASE_PORT", 5432, 1, 65535),
            database_name=_str(env, "DATABASE_NAME", cls.database_name),
            database_user=_str(env, "DATABASE_USER", cls.database_user),
            database_password=env.get("DATABASE_PASSWORD", ""),
            redis_host=_str(env, "REDIS_HOST", cls.redis_host),
            redis_port=_int(env, "REDIS_PORT", 6379, 1, 65535),
            cart_service_url=cart_url,
            cache_ttl_seconds=_int(env, "CACHE_TTL_SECONDS", 60, 0, 7 * 24 * 3600),
            startup_db_wait_seconds=_int(env, "STARTUP_DB_WAIT_SECONDS", 5, 0, 300),
            log_level=level,
            pod_name=_str(env, "POD_NAME", socket.gethostname()),
            host=_str(env, "HOST", cls.host),
            port=port or None,
        )
