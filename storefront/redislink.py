"""One Redis connection pool with up/down bookkeeping, shared by the product cache and carts.

Outages are logged once (not per request) and recovery is logged when the first call
succeeds again; while down, callers can skip Redis for a second at a time.
"""

from __future__ import annotations

import logging
import time

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from storefront.config import Settings

log = logging.getLogger("storefront.redis")
RETRY_AFTER = 1.0


def redis_client(settings: Settings) -> aioredis.Redis:
    """Short timeouts and one retry: a slow or absent Redis must not slow the shop down, but
    a pooled connection that died with a Redis restart is replaced on the spot (not a 503)."""
    return aioredis.Redis(
        host=settings.redis_host, port=settings.redis_port, socket_connect_timeout=0.5,
        socket_timeout=0.5, retry=Retry(NoBackoff(), 1), health_check_interval=0,
    )


class RedisLink:
    """Up/down bookkeeping for one Redis, shared by the product cache and the cart store."""

    def __init__(self, settings: Settings) -> None:
        self.client = redis_client(settings)
        self.where = f"{settings.redis_host}:{settings.redis_port}"
        self.up: bool | None = None  # None: never tried
        self.retry_at = 0.0

    def available(self) -> bool:
        return self.up is not False or time.monotonic() >= self.retry_at

    def failed(self, exc: BaseException) -> None:
        if self.up is not False:
            log.warning("Redis unavailable at %s (%s)", self.where, exc or type(exc).__name__)
        self.up = False
        self.retry_at = time.monotonic() + RETRY_AFTER

    def succeeded(self) -> None:
        if self.up is not True:
            log.info("Connected to Redis at %s", self.where)
        self.up = True

    async def ping(self) -> bool:
        try:
            await self.client.ping()
        except (RedisError, OSError) as exc:
            self.failed(exc)
            return False
        self.succeeded()
        return True

    async def close(self) -> None:
        await self.client.aclose()
