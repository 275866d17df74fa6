"""The storefront apps on the real session PostgreSQL and Redis.

Apps run in-process (httpx's ASGI transport, lifespan entered by hand) where that tests
the same code paths as a server would; the backend reaches the cart app through an httpx
client on the cart's ASGI transport, i.e. the same HTTP calls CART_SERVICE_URL would carry.
test_processes.py runs the real `storefront` processes over real sockets.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from servers import DB_NAME, DB_PASSWORD, DB_USER
from storefront_apps import running, settings_for


@pytest.fixture(scope="session")
async def cart_app(postgres_server, redis_server):
    from storefront.cart.app import create_app

    return create_app(settings_for(postgres_server, redis_server, POD_NAME="cart-pod"))


@pytest.fixture(scope="session")
async def cart(cart_app) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the cart service."""
    async with running(cart_app) as client:
        yield client


@pytest.fixture(scope="session")
async def backend_app(postgres_server, redis_server, cart_app, cart):
    from storefront.backend.app import create_app

    cart_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=cart_app))
    app = create_app(settings_for(postgres_server, redis_server), cart_client=cart_http)
    yield app
    await cart_http.aclose()


@pytest.fixture(scope="session")
async def api(backend_app) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the backend (cache TTL 60 s, cart service in-process)."""
    async with running(backend_app) as client:
        yield client


@pytest.fixture(scope="session")
async def db(postgres_server, api) -> AsyncIterator[asyncpg.Pool]:
    """Direct SQL on the shop's database (after the backend created the schema)."""
    pool = await asyncpg.create_pool(host=postgres_server.host, port=postgres_server.port,
                                     user=DB_USER, password=DB_PASSWORD, database=DB_NAME,
                                     min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
def session_id() -> str:
    return f"s-{uuid.uuid4().hex[:20]}"


@pytest.fixture
async def product(db) -> dict:
    """A fresh product of our own (stock 10), so tests never fight over the seed catalogue."""
    sku = f"TEST-{uuid.uuid4().hex[:10]}"
    row = await db.fetchrow(
        "INSERT INTO products (sku, name, description, category, price_cents, stock) "
        "VALUES ($1, $2, 'made by a test', 'Test Category', 1250, 10) RETURNING id",
        sku, f"Test product {sku}")
    return {"id": row["id"], "sku": sku, "price_cents": 1250, "stock": 10}


@pytest.fixture(scope="session")
def processes(postgres_server, redis_server):
    """Real `storefront cart` and `storefront backend` processes; the backend finds the cart
    by CART_SERVICE_URL over real HTTP. Yields (backend, cart) StorefrontProcess objects."""
    from servers import StorefrontProcess

    env = {"DATABASE_HOST": postgres_server.host, "DATABASE_PORT": str(postgres_server.port),
           "DATABASE_PASSWORD": DB_PASSWORD, "REDIS_HOST": redis_server.host,
           "REDIS_PORT": str(redis_server.port), "LOG_LEVEL": "INFO"}
    cart_proc = StorefrontProcess("cart", {**env, "POD_NAME": "cart-proc"})
    backend_proc = StorefrontProcess("backend", {**env, "POD_NAME": "backend-proc",
                                                 "CART_SERVICE_URL": cart_proc.url})
    try:
        cart_proc.wait_healthy()
        backend_proc.wait_healthy()
        yield backend_proc, cart_proc
    finally:
        backend_proc.stop()
        cart_proc.stop()
