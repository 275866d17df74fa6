"""PostgreSQL outages: the backend stays alive, reports degraded, and recovers by itself."""

from __future__ import annotations

import asyncio
import logging
import uuid

from servers import down
from storefront_apps import running, settings_for

from storefront.backend.app import create_app


async def eventually(check, timeout: float = 20.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.1)
    return False


async def test_postgres_down_gives_503s_and_recovers_without_restart(
        api, cart, postgres_server, session_id, caplog):
    caplog.set_level(logging.INFO, logger="storefront.db")
    await cart.post(f"/api/cart/{session_id}/items", json={"product_id": 1, "quantity": 1})
    with down(postgres_server, crash=True):
        assert (await api.get("/health")).status_code == 200
        assert (await api.get("/ready")).status_code == 503
        health = await api.get("/api/health")
        assert health.status_code == 503
        assert health.json() | {"pod": "x"} == {"status": "degraded", "database": "disconnected",
                                                "redis": "connected", "pod": "x",
                                                "version": "0.1.0"}
        for _ in range(3):  # uncached reads and writes: 503 JSON, never a 500
            r = await api.get("/api/products", params={"category": uuid.uuid4().hex})
            assert r.status_code == 503 and "database unavailable" in r.json()["error"]
        r = await api.post("/api/orders", json={"session_id": session_id})
        assert r.status_code == 503
        assert (await api.get("/api/categories")).status_code == 503
    lost = [r for r in caplog.records if "Lost Postgres" in r.getMessage()]
    assert len(lost) == 1  # once per outage, not per request

    async def ready() -> bool:
        return (await api.get("/ready")).status_code == 200

    assert await eventually(ready)
    assert (await api.get("/api/health")).json()["status"] == "healthy"
    r = await api.get("/api/products", params={"category": uuid.uuid4().hex})
    assert r.status_code == 200
    r = await api.post("/api/orders", json={"session_id": session_id})
    assert r.status_code == 201, r.text
    assert any("recovered" in r.getMessage() for r in caplog.records)


async def test_unresolvable_database_host_runs_but_is_not_ready(postgres_server, redis_server,
                                                                caplog):
    caplog.set_level(logging.INFO, logger="storefront.db")
    app = create_app(settings_for(postgres_server, redis_server,
                                  DATABASE_HOST="postgres-db.invalid"))
    async with running(app, wait_db=False) as client:
        await asyncio.sleep(0.3)
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/ready")).status_code == 503
        r = await client.get("/api/products")
        assert r.status_code in (200, 503)  # a cached list may answer; never a 500
        assert (await client.get("/api/orders/1")).status_code == 503
    messages = [r.getMessage() for r in caplog.records]
    assert any("getaddrinfo failed for postgres-db.invalid (ENOTFOUND)" in m for m in messages)


async def test_backend_started_before_postgres_connects_when_it_comes(
        postgres_server, redis_server, caplog):
    caplog.set_level(logging.INFO, logger="storefront.db")
    app = create_app(settings_for(postgres_server, redis_server))
    postgres_server.stop()
    try:
        async with running(app, wait_db=False) as client:
            await asyncio.sleep(0.6)  # at least one failed attempt
            assert (await client.get("/ready")).status_code == 503
            assert (await client.get("/health")).status_code == 200
            postgres_server.start()

            async def ready() -> bool:
                return (await client.get("/ready")).status_code == 200

            assert await eventually(ready)
    finally:
        postgres_server.start()  # a no-op when it already runs
    messages = [r.getMessage() for r in caplog.records]
    assert any("Cannot connect to Postgres" in m and "ECONNREFUSED" in m for m in messages)
    assert any(m.startswith("Connected to Postgres at 127.0.0.1:") for m in messages)


async def test_wrong_password_is_logged_without_the_password(postgres_server, redis_server,
                                                             caplog):
    caplog.set_level(logging.INFO)
    app = create_app(settings_for(postgres_server, redis_server,
                                  DATABASE_PASSWORD="wrong-pw-7c1e"))
    async with running(app, wait_db=False) as client:
        await asyncio.sleep(0.5)
        assert (await client.get("/ready")).status_code == 503
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "authentication failed" in text
    assert "wrong-pw-7c1e" not in text
