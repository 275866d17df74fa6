"""Cache-aside for product responses in Redis, that never makes a request fail.

Values are the finished JSON bodies (bytes), so a HIT costs one GET and no serialisation,
and concurrent reads of one key share one GET in flight (single-flight): under the load
test's 50 connections that turns 50 identical round trips into one, and every answer is
still what Redis held at that moment (no copy kept in the process).
When Redis is down the breaker opens for a second at a time: requests go straight to
PostgreSQL (X-Cache: BYPASS) instead of each paying a failed connect, the outage is
logged once, and the first successful call after it logs the recovery.
"""

from __future__ import annotations

import asyncio

from redis.exceptions import RedisError

from storefront.config import Settings
from storefront.metrics import Metrics
from storefront.redislink import RedisLink

LIST_KEYS = "products:list-keys"  # a set of the list keys, to invalidate them together


class ProductCache:
    HIT, MISS, BYPASS = "HIT", "MISS", "BYPASS"

    def __init__(self, settings: Settings, link: RedisLink, metrics: Metrics) -> None:
        self.ttl = settings.cache_ttl_seconds
        self.link = link
        self.hits = metrics.counter("cache_hits", "Product cache hits")
        self.misses = metrics.counter("cache_misses", "Product cache misses")
        self.bypasses = metrics.counter("cache_bypass", "Product requests that skipped the cache")
        self._inflight: dict[str, asyncio.Future] = {}

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    async def get(self, key: str) -> tuple[str, bytes | None]:
        """(HIT, value) | (MISS, None) | (BYPASS, None): BYPASS when off or Redis is down."""
        if not self.enabled or not self.link.available():
            self.bypasses.inc()
            return self.BYPASS, None
        try:
            value = await self._shared_get(key)
        except (RedisError, OSError) as exc:
            self.link.failed(exc)
            self.bypasses.inc()
            return self.BYPASS, None
        self.link.succeeded()
        if value is None:
            self.misses.inc()
            return self.MISS, None
        self.hits.inc()
        return self.HIT, value

    async def _shared_get(self, key: str) -> bytes | None:
        """One GET per key in flight; a task of its own, so a client that hangs up (and is
        cancelled) cannot cancel the answer others are waiting for."""
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self.link.client.get(key))
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        return await asyncio.shield(task)

    def _forget(self, key: str, task: asyncio.Future) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved, even when every waiter went away

    async def put(self, key: str, value: bytes, *, is_list: bool = False) -> None:
        if not self.enabled or not self.link.available():
            return
        try:
            async with self.link.client.pipeline(transaction=False) as pipe:
                pipe.set(key, value, ex=self.ttl)
                if is_list:
                    pipe.sadd(LIST_KEYS, key)
                    pipe.expire(LIST_KEYS, self.ttl * 2)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self.link.failed(exc)

    async def invalidate(self, product_ids: list[int]) -> None:
        """After stock changed: drop those products and every cached list."""
        if not self.enabled or not self.link.available():
            return
        client = self.link.client
        try:
            lists = await client.smembers(LIST_KEYS)
            keys = [*(f"products:item:{i}" for i in product_ids), *lists, LIST_KEYS]
            await client.delete(*keys)
        except (RedisError, OSError) as exc:
            self.link.failed(exc)
