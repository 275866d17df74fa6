"""Cache-aside in Redis: MISS then HIT, BYPASS when disabled or Redis is down, invalidation."""

from __future__ import annotations

import logging
import uuid

import pytest
from servers import down
from storefront_apps import running, settings_for

from storefront.backend.app import create_app


def fresh_category() -> str:
    return f"cat-{uuid.uuid4().hex[:8]}"  # a list key nobody has cached yet


async def test_miss_then_hit_with_the_same_body(api):
    params = {"category": fresh_category()}
    first = await api.get("/api/products", params=params)
    second = await api.get("/api/products", params=params)
    assert first.headers["x-cache"] == "MISS" and second.headers["x-cache"] == "HIT"
    assert first.content == second.content
    assert first.headers["x-total-count"] == second.headers["x-total-count"]


async def test_hit_comes_from_redis_not_postgres(api, db, product):
    url = f"/api/products/{product['id']}"
    assert (await api.get(url)).headers["x-cache"] == "MISS"
    await db.execute("UPDATE products SET name = 'changed behind the cache' WHERE id = $1",
                     product["id"])
    cached = await api.get(url)
    assert cached.headers["x-cache"] == "HIT"
    assert cached.json()["name"] != "changed behind the cache"


async def test_ttl_zero_bypasses_the_cache(postgres_server, redis_server):
    app = create_app(settings_for(postgres_server, redis_server, CACHE_TTL_SECONDS=0))
    async with running(app) as client:
        states = [(await client.get("/api/products/1")).headers["x-cache"] for _ in range(2)]
    assert states == ["BYPASS", "BYPASS"]


async def test_redis_down_serves_from_postgres_logs_once_and_recovers(api, redis_server, caplog):
    caplog.set_level(logging.INFO, logger="storefront.redis")
    with down(redis_server):
        answers = [await api.get("/api/products", params={"limit": 5}) for _ in range(5)]
        assert [a.status_code for a in answers] == [200] * 5
        assert {a.headers["x-cache"] for a in answers} == {"BYPASS"}
        assert len(answers[0].json()) == 5
        health = await api.get("/api/health")
        assert health.status_code == 200
        assert health.json()["status"] == "degraded" and health.json()["redis"] == "disconnected"
        assert (await api.get("/ready")).status_code == 200
    outages = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
    assert len(outages) == 1, [r.getMessage() for r in outages]
    # Back without restarting the app: the breaker lets a call through within a second.
    assert await _eventually_not_bypass(api)
    assert any("Connected to Redis" in r.getMessage() for r in caplog.records)
    assert (await api.get("/api/health")).json()["status"] == "healthy"


async def _eventually_not_bypass(api) -> bool:
    import asyncio

    for _ in range(60):
        r = await api.get("/api/products", params={"category": fresh_category()})
        if r.headers["x-cache"] != "BYPASS":
            return True
        await asyncio.sleep(0.1)
    return False


@pytest.mark.parametrize("crash", [True])
async def test_redis_crash_is_not_a_5xx(api, redis_server, crash):
    with down(redis_server, crash=crash):
        r = await api.get("/api/products/1")
        assert r.status_code == 200 and r.headers["x-cache"] == "BYPASS"
    assert await _eventually_not_bypass(api)


def redis_gets(redis_server) -> int:
    import redis

    client = redis.Redis(host=redis_server.host, port=redis_server.port)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return stats.get("cmdstat_get", {}).get("calls", 0)


async def test_concurrent_hits_share_one_redis_get(api, redis_server):
    import asyncio

    params = {"category": fresh_category()}
    await api.get("/api/products", params=params)  # MISS fills the key
    before = redis_gets(redis_server)
    answers = await asyncio.gather(*(api.get("/api/products", params=params) for _ in range(30)))
    used = redis_gets(redis_server) - before
    assert {a.headers["x-cache"] for a in answers} == {"HIT"}
    assert len({a.content for a in answers}) == 1
    # Exactly one: the 30 requests run in-process (ASGI transport) and take the same steps
    # to cache.get, so all join the GET in flight before its reply can arrive (the reply
    # needs another turn of the event loop). Measured 40 rounds out of 40. More than one
    # means the single-flight lost requests; 0 means the answers did not come from Redis.
    assert used == 1, used


async def test_a_cancelled_reader_does_not_fail_the_others(api, backend_app):
    import asyncio

    cache = backend_app.state.backend.cache
    key = f"products:item:{uuid.uuid4().hex}"
    await cache.link.client.set(key, b"{}", ex=60)
    first = asyncio.create_task(cache.get(key))
    await asyncio.sleep(0)  # first one starts the shared GET
    others = [asyncio.create_task(cache.get(key)) for _ in range(3)]
    first.cancel()
    results = await asyncio.gather(*others)
    assert results == [("HIT", b"{}")] * 3
