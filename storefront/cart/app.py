"""The cart service's HTTP API (port 8080).

`/health` is liveness (always 200); `/ready` is Redis answering PING. Any Redis failure
on a cart route is a 503 JSON error: a cart cannot be served from anywhere else.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from storefront.cart.store import MAX_LINES, MAX_QUANTITY, CartLimit, CartStore
from storefront.config import Settings
from storefront.httpkit import (
    ApiError,
    path_int,
    read_json,
    service_app,
    strict_int,
)
from storefront.metrics import Metrics
from storefront.openapi import cart_spec
from storefront.redislink import RedisLink

log = logging.getLogger("storefront.cart")
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_PRODUCT_ID = 2**31 - 1


def session_of(request: Request) -> str:
    session = request.path_params["session_id"]
    if not SESSION_ID.match(session):
        raise ApiError(400, "session_id must match [A-Za-z0-9_-]{1,64}", field="session_id")
    return session


class CartService:
    def __init__(self, settings: Settings) -> None:
        self.pod = settings.pod_name
        self.metrics = Metrics("cart")
        self.redis = RedisLink(settings)
        self.store = CartStore(self.redis.client)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await self.redis.ping()
        try:
            yield
        finally:
            await self.redis.close()

    async def _run(self, op: Callable[[], Awaitable[Any]]) -> Response:
        try:
            cart = await op()
        except CartLimit as exc:
            if exc.code == 1:
                raise ApiError(422, f"at most {MAX_QUANTITY} of one product per cart "
                                    f"({exc.current} already in it)", field="quantity") from None
            raise ApiError(422, f"at most {MAX_LINES} different products per cart",
                           field="product_id") from None
        except (RedisError, OSError) as exc:
            self.redis.failed(exc)
            raise ApiError(503, f"cart storage unavailable (Redis at {self.redis.where})") from None
        self.redis.succeeded()
        return JSONResponse(cart.json())

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "alive", "pod": self.pod})

    async def ready(self, request: Request) -> Response:
        if await self.redis.ping():
            return JSONResponse({"status": "ready", "redis": "connected", "pod": self.pod})
        return JSONResponse({"status": "not ready", "redis": "disconnected", "pod": self.pod},
                            status_code=503)

    async def get_cart(self, request: Request) -> Response:
        session = session_of(request)
        return await self._run(lambda: self.store.get(session))

    async def clear_cart(self, request: Request) -> Response:
        session = session_of(request)
        return await self._run(lambda: self.store.clear(session))

    async def add_item(self, request: Request) -> Response:
        session = session_of(request)
        body = await read_json(request)
        product_id = strict_int(body.get("product_id"), "product_id", 1, MAX_PRODUCT_ID)
        quantity = strict_int(body.get("quantity", 1), "quantity", 1, MAX_QUANTITY)
        return await self._run(lambda: self.store.add(session, product_id, quantity))

    async def set_item(self, request: Request) -> Response:
        session = session_of(request)
        product_id = path_int(request, "product_id", MAX_PRODUCT_ID)
        body = await read_json(request)
        quantity = strict_int(body.get("quantity"), "quantity", 0, MAX_QUANTITY)
        return await self._run(lambda: self.store.set(session, product_id, quantity))

    async def remove_item(self, request: Request) -> Response:
        session = session_of(request)
        product_id = path_int(request, "product_id", MAX_PRODUCT_ID)
        return await self._run(lambda: self.store.remove(session, product_id))

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(cart_spec())


def create_app(settings: Settings | None = None) -> Starlette:
    service = CartService(settings or Settings.from_env())
    routes = [
        Route("/health", service.health),
        Route("/ready", service.ready),
        Route("/api/cart/{session_id}", service.get_cart, methods=["GET"]),
        Route("/api/cart/{session_id}", service.clear_cart, methods=["DELETE"]),
        Route("/api/cart/{session_id}/items", service.add_item, methods=["POST"]),
        Route("/api/cart/{session_id}/items/{product_id}", service.set_item, methods=["PUT"]),
        Route("/api/cart/{session_id}/items/{product_id}", service.remove_item,
              methods=["DELETE"]),
        Route("/metrics", service.metrics.endpoint),
        Route("/openapi.json", service.openapi),
    ]
    return service_app(routes, service, state_name="cart")
