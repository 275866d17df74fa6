"""What both services share on the HTTP side: JSON errors, bounded JSON bodies, and one
pure-ASGI middleware for `X-Served-By` and request metrics.

The middleware is pure ASGI (not Starlette's BaseHTTPMiddleware) because it sits on the
hot path of the load test and the wrapper's task-per-request costs a third of the rate.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storefront.metrics import Metrics

MAX_BODY = 64 * 1024
log = logging.getLogger("storefront")


class ApiError(Exception):
    """An answer for the client, not a crash: status, a sentence, and optional details."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


def error_response(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, "status": status, **extra}, status_code=status)


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, **exc.extra)


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: f"no route for {request.url.path}", 405: f"{request.method} is not allowed here"}
    response = error_response(exc.status_code, messages.get(exc.status_code, str(exc.detail)))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def unexpected_handler(request: Request, exc: Exception) -> Response:
    log.exception("Unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal error (see the pod's log)")


EXCEPTION_HANDLERS = {
    ApiError: api_error_handler,
    HTTPException: http_exception_handler,
    Exception: unexpected_handler,
}


async def read_json(request: Request, *, max_bytes: int = MAX_BODY) -> dict[str, Any]:
    """The body as a JSON object, refusing oversize (413) and malformed (400) input early."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "Content-Length is not a number")
        if int(declared) > max_bytes:
            raise ApiError(413, f"body is larger than {max_bytes} bytes")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise ApiError(413, f"body is larger than {max_bytes} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise ApiError(400, "client disconnected while sending the body") from None
    raw = b"".join(chunks)
    if not raw.strip():
        raise ApiError(400, "a JSON object body is required")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"malformed JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(422, "the body must be a JSON object")
    return body


def strict_int(value: Any, field: str, low: int, high: int) -> int:
    """An int in [low, high]; booleans and floats are refused (JSON true is not 1 item)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(422, f"{field} must be an integer", field=field)
    if not low <= value <= high:
        raise ApiError(422, f"{field} must be between {low} and {high}", field=field)
    return value


def check_text(value: str, field: str) -> str:
    """Text PostgreSQL can store: no NUL bytes, no lone surrogates (from JSON "\\ud800")."""
    if "\x00" in value:
        raise ApiError(422 if field != "category" else 400, f"{field} must not contain NUL",
                       field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(422 if field != "category" else 400, f"{field} is not valid UTF-8",
                       field=field) from None
    return value


def path_int(request: Request, name: str, high: int = 2**31 - 1) -> int:
    raw = request.path_params[name]
    if not raw.isdigit() or not 1 <= int(raw) <= high:
        raise ApiError(400, f"{name} must be a positive integer, got {raw!r}", field=name)
    return int(raw)


class ServiceMiddleware:
    """Adds `X-Served-By: <pod>` to every response and counts requests by route template."""

    def __init__(self, app: ASGIApp, pod: str, metrics: Metrics, templates: dict) -> None:
        self.app, self.metrics, self.templates = app, metrics, templates
        self.header = (b"x-served-by", pod.encode("latin-1", "replace"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_with_header(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), self.header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_header)
        finally:
            route = self.templates.get(scope.get("endpoint"), "unmatched")
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - start)


def service_app(routes: list[Any], service: Any, *, state_name: str) -> Starlette:
    """Both services are built the same way, so their errors, `X-Served-By` header and
    per-route metrics cannot drift apart: one place assembles the Starlette app."""
    app = Starlette(routes=routes, exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
                    lifespan=service.lifespan)
    templates: dict[Any, str] = {r.endpoint: r.path for r in routes}
    app.add_middleware(ServiceMiddleware, pod=service.pod, metrics=service.metrics,
                       templates=templates)
    setattr(app.state, state_name, service)
    return app
