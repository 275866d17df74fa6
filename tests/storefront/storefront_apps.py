"""Helpers to run the storefront apps in-process on the real test servers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from servers import DB_NAME, DB_PASSWORD, DB_USER

from labcluster.runtimes import PostgresServer, RedisServer
from storefront.config import Settings


def settings_for(pg: PostgresServer, rd: RedisServer, **overrides) -> Settings:
    env = {"DATABASE_HOST": pg.host, "DATABASE_PORT": str(pg.port), "DATABASE_NAME": DB_NAME,
           "DATABASE_USER": DB_USER, "DATABASE_PASSWORD": DB_PASSWORD,
           "REDIS_HOST": rd.host, "REDIS_PORT": str(rd.port), "POD_NAME": "test-pod",
           "CART_SERVICE_URL": "http://cart-service:8080"}
    env.update({k: str(v) for k, v in overrides.items()})
    return Settings.from_env(env)


@contextlib.asynccontextmanager
async def running(app, wait_db: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    """Enter the app's lifespan (as uvicorn does) and give a client on its ASGI transport."""
    async with app.router.lifespan_context(app):
        if wait_db and hasattr(app.state, "backend"):
            assert await app.state.backend.db.wait_connected(30), "backend never reached PostgreSQL"
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
