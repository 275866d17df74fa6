"""The backend's HTTP API (port 5000).

Health semantics (what probes and learners see):
- `/health` (liveness) is 200 whenever the process runs: no dependency can make it fail,
  so a database outage never gets the pod restarted.
- `/ready` (readiness) is 200 when PostgreSQL answers `SELECT 1`, else 503.
- `/api/health` reports both parts: `"status"` is "healthy" only when the database and
  Redis are both connected, "degraded" when either is not. The HTTP status is 503 only when
  the database is disconnected: without Redis the shop still sells (products come from
  PostgreSQL), so a Redis outage must not take the backend out of load balancing.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from storefront import __version__
from storefront.backend import orders as orders_mod
from storefront.backend import products as products_mod
from storefront.backend.cache import ProductCache
from storefront.backend.db import Database
from storefront.config import Settings
from storefront.httpkit import ApiError, path_int, read_json, service_app
from storefront.metrics import Metrics
from storefront.openapi import backend_spec
from storefront.redislink import RedisLink

log = logging.getLogger("storefront.backend")


class Backend:
    """The app's state and handlers; one instance per app (tests run several at once)."""

    def __init__(self, settings: Settings, cart_client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.pod = settings.pod_name
        self.metrics = Metrics("backend")
        self.db = Database(settings)
        self.redis = RedisLink(settings)
        self.cache = ProductCache(settings, self.redis, self.metrics)
        self._own_client = cart_client is None
        self.http = cart_client or httpx.AsyncClient(
            timeout=httpx.Timeout(5.0, connect=2.0),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20))
        self.cart = orders_mod.CartClient(settings.cart_service_url, self.http)
        self.metrics.gauge("db_pool_size", "PostgreSQL connections open", self.db.pool_size)
        self.metrics.gauge("db_pool_in_use", "PostgreSQL connections in use", self.db.pool_in_use)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.db.start()
        await self.redis.ping()  # logs "Connected to Redis at ..." or the outage
        # Listen only once the first database connection is made (or a few seconds have
        # passed): a pod's first readiness probe then finds it ready instead of logging an
        # Unhealthy event for a connection still being opened. A database that stays away
        # (a wrong DATABASE_HOST) still gets a listening, not-Ready pod.
        await self.db.wait_connected(self.settings.startup_db_wait_seconds)
        try:
            yield
        finally:
            await self.db.close()
            await self.redis.close()
            if self._own_client:
                await self.http.aclose()

    # -- health ------------------------------------------------------------------------
    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "alive", "pod": self.pod})

    async def ready(self, request: Request) -> Response:
        if await self.db.ping():
            return JSONResponse({"status": "ready", "pod": self.pod})
        return JSONResponse({"status": "not ready", "database": "disconnected", "pod": self.pod},
                            status_code=503)

    async def api_health(self, request: Request) -> Response:
        database = await self.db.ping()
        redis_ok = await self.redis.ping()
        body = {
            "status": "healthy" if database and redis_ok else "degraded",
            "database": "connected" if database else "disconnected",
            "redis": "connected" if redis_ok else "disconnected",
            "pod": self.pod,
            "version": __version__,
        }
        return JSONResponse(body, status_code=200 if database else 503)

    # -- products ----------------------------------------------------------------------
    async def list_products(self, request: Request) -> Response:
        category, limit, offset = products_mod.list_params(request.query_params)
        key = f"products:list:{limit}:{offset}:{category or ''}"
        state, cached = await self.cache.get(key)
        if cached is not None:
            total, _, body = cached.partition(b"\n")
            return self._json(body, state, {"X-Total-Count": total.decode()})
        async with self.db.connection() as conn:
            body, total = await products_mod.list_products(conn, category, limit, offset)
        if state == ProductCache.MISS:
            await self.cache.put(key, b"%d\n%s" % (total, body), is_list=True)
        return self._json(body, state, {"X-Total-Count": str(total)})

    async def get_product(self, request: Request) -> Response:
        product_id = path_int(request, "product_id")
        key = f"products:item:{product_id}"
        state, cached = await self.cache.get(key)
        if cached is not None:
            return self._json(cached, state)
        async with self.db.connection() as conn:
            body = await products_mod.get_product(conn, product_id)
        if body is None:
            raise ApiError(404, f"no product with id {product_id}", product_id=product_id)
        if state == ProductCache.MISS:
            await self.cache.put(key, body)
        return self._json(body, state)

    async def categories(self, request: Request) -> Response:
        async with self.db.connection() as conn:
            return JSONResponse(await products_mod.categories(conn))

    @staticmethod
    def _json(body: bytes, cache: str, headers: dict[str, str] | None = None) -> Response:
        return Response(body, media_type="application/json",
                        headers={"X-Cache": cache, **(headers or {})})

    # -- orders ------------------------------------------------------------------------
    async def create_order(self, request: Request) -> Response:
        body = await read_json(request)
        req = orders_mod.parse_checkout(body, request.headers.get("idempotency-key"))
        if req.key is None:
            lines = await self.cart.items(req.session_id)
            async with self.db.connection() as conn:
                order = await orders_mod.place_order(conn, req, lines, self.pod)
        else:
            order, replayed = await self._idempotent_order(req)
            if replayed:
                return JSONResponse(order, headers={"Idempotent-Replayed": "true"})
        await self.cart.clear(req.session_id)
        await self.cache.invalidate([item["product_id"] for item in order["items"]])
        return JSONResponse(order, status_code=201)

    async def _idempotent_order(self, req: orders_mod.CheckoutRequest) -> tuple[dict, bool]:
        """Checkout under a session advisory lock on the key: one order per key, ever."""
        async with self.db.connection() as conn:
            await conn.execute("SELECT pg_advisory_lock(hashtextextended($1, 42))", req.key)
            try:
                found = await orders_mod.load_order(conn, key=req.key)
                if found is not None:
                    order, fingerprint = found
                    if fingerprint != req.fingerprint:
                        raise ApiError(422, "this Idempotency-Key was used for a different "
                                            "request", order_id=order["id"])
                    return order, True
                lines = await self.cart.items(req.session_id)
                return await orders_mod.place_order(conn, req, lines, self.pod), False
            finally:
                if not conn.is_closed():
                    await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 42))",
                                       req.key)

    async def get_order(self, request: Request) -> Response:
        order_id = path_int(request, "order_id", high=2**63 - 1)
        async with self.db.connection() as conn:
            found = await orders_mod.load_order(conn, order_id=order_id)
        if found is None:
            raise ApiError(404, f"no order with id {order_id}", order_id=order_id)
        return JSONResponse(found[0])

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(backend_spec())


def create_app(settings: Settings | None = None, *,
               cart_client: httpx.AsyncClient | None = None) -> Starlette:
    """The backend app. `cart_client` lets tests route the cart calls in-process."""
    backend = Backend(settings or Settings.from_env(), cart_client)
    routes = [
        Route("/health", backend.health),
        Route("/ready", backend.ready),
        Route("/api/health", backend.api_health),
        Route("/api/products", backend.list_products),
        Route("/api/products/{product_id}", backend.get_product),
        Route("/api/categories", backend.categories),
        Route("/api/orders", backend.create_order, methods=["POST"]),
        Route("/api/orders/{order_id}", backend.get_order),
        Route("/metrics", backend.metrics.endpoint),
        Route("/openapi.json", backend.openapi),
    ]
    return service_app(routes, backend, state_name="backend")
