"""Hand-written OpenAPI 3.0 documents for both services (served at /openapi.json).

Written by hand so they say what the code promises (limits, error bodies, headers) and
schemathesis can fuzz the services against them.
"""

from __future__ import annotations

from typing import Any

from storefront import __version__

ERROR = {"$ref": "#/components/schemas/Error"}
SESSION = {"name": "session_id", "in": "path", "required": True,
           "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}}


def _json(schema: dict[str, Any], description: str = "OK",
          headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description,
                           "content": {"application/json": {"schema": schema}}}
    if headers:
        out["headers"] = headers
    return out


def _errors(*codes: int) -> dict[str, Any]:
    words = {400: "Bad request", 404: "Not found", 409: "Out of stock", 413: "Body too large",
             422: "Invalid input", 502: "Bad upstream answer", 503: "A dependency is down"}
    return {str(c): _json(ERROR, words[c]) for c in codes}


def _health(ready_what: str) -> dict[str, Any]:
    status = {"type": "object", "required": ["status", "pod"],
              "properties": {"status": {"type": "string"}, "pod": {"type": "string"}}}
    return {
        "/health": {"get": {"summary": "Liveness: the process runs",
                            "responses": {"200": _json(status)}}},
        "/ready": {"get": {"summary": f"Readiness: {ready_what}",
                           "responses": {"200": _json(status), "503": _json(status)}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {
            "description": "Prometheus text", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
    }


def _doc(title: str, paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    error = {"type": "object", "required": ["error", "status"],
             "properties": {"error": {"type": "string"}, "status": {"type": "integer"}}}
    return {"openapi": "3.0.3", "info": {"title": title, "version": __version__},
            "paths": paths, "components": {"schemas": {"Error": error, **schemas}}}


def backend_spec() -> dict[str, Any]:
    product = {"type": "object",
               "required": ["id", "sku", "name", "description", "category", "price",
                            "price_cents", "stock"],
               "properties": {"id": {"type": "integer"}, "sku": {"type": "string"},
                              "name": {"type": "string"}, "description": {"type": "string"},
                              "category": {"type": "string"},
                              "price": {"type": "string", "pattern": r"^\d+\.\d\d$"},
                              "price_cents": {"type": "integer"}, "stock": {"type": "integer"}}}
    order = {"type": "object",
             "required": ["id", "status", "items", "total", "total_cents", "created_at", "pod"],
             "properties": {
                 "id": {"type": "integer"}, "status": {"type": "string", "enum": ["confirmed"]},
                 "items": {"type": "array", "items": {
                     "type": "object",
                     "required": ["product_id", "name", "quantity", "unit_price"],
                     "properties": {"product_id": {"type": "integer"}, "name": {"type": "string"},
                                    "quantity": {"type": "integer"},
                                    "unit_price": {"type": "string"}}}},
                 "total": {"type": "string"}, "total_cents": {"type": "integer"},
                 "created_at": {"type": "string"}, "pod": {"type": "string"}}}
    cache = {"X-Cache": {"schema": {"type": "string", "enum": ["HIT", "MISS", "BYPASS"]}}}
    health = {"type": "object", "required": ["status", "database", "redis", "pod", "version"],
              "properties": {"status": {"type": "string", "enum": ["healthy", "degraded"]},
                             "database": {"type": "string", "enum": ["connected", "disconnected"]},
                             "redis": {"type": "string", "enum": ["connected", "disconnected"]},
                             "pod": {"type": "string"}, "version": {"type": "string"}}}
    id_param = {"in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
    paths = {
        **_health("PostgreSQL answers SELECT 1"),
        "/api/health": {"get": {"summary": "Dependencies' state",
                                "responses": {"200": _json(health), "503": _json(health)}}},
        "/api/products": {"get": {
            "summary": "List products",
            "parameters": [
                {"name": "category", "in": "query", "schema": {"type": "string", "maxLength": 100}},
                {"name": "limit", "in": "query",
                 "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}},
                {"name": "offset", "in": "query",
                 "schema": {"type": "integer", "minimum": 0, "maximum": 1000000, "default": 0}}],
            "responses": {"200": _json({"type": "array", "items": {"$ref": "#/components/schemas/Product"}},
                                       headers={**cache, "X-Total-Count": {"schema": {"type": "integer"}}}),
                          **_errors(400, 503)}}},
        "/api/products/{product_id}": {"get": {
            "summary": "One product", "parameters": [{"name": "product_id", **id_param}],
            "responses": {"200": _json({"$ref": "#/components/schemas/Product"}, headers=cache),
                          **_errors(400, 404, 503)}}},
        "/api/categories": {"get": {"summary": "Categories with product counts", "responses": {
            "200": _json({"type": "array", "items": {
                "type": "object", "required": ["name", "count"],
                "properties": {"name": {"type": "string"}, "count": {"type": "integer"}}}}),
            **_errors(503)}}},
        "/api/orders": {"post": {
            "summary": "Check out a cart",
            "parameters": [{"name": "Idempotency-Key", "in": "header",
                            "schema": {"type": "string", "maxLength": 200}}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["session_id"],
                "properties": {
                    "session_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                    "customer": {"type": "object", "properties": {
                        "name": {"type": "string", "minLength": 1, "maxLength": 200},
                        "email": {"type": "string", "format": "email"}}}}}}}},
            "responses": {"201": _json({"$ref": "#/components/schemas/Order"}, "Order placed"),
                          "200": _json({"$ref": "#/components/schemas/Order"}, "Replayed"),
                          **_errors(400, 409, 413, 422, 502, 503)}}},
        "/api/orders/{order_id}": {"get": {
            "summary": "One order", "parameters": [{"name": "order_id", **id_param}],
            "responses": {"200": _json({"$ref": "#/components/schemas/Order"}),
                          **_errors(400, 404, 503)}}},
    }
    return _doc("storefront backend", paths, {"Product": product, "Order": order})


def cart_spec() -> dict[str, Any]:
    cart = {"type": "object", "required": ["session_id", "items", "count"],
            "properties": {"session_id": {"type": "string"}, "count": {"type": "integer"},
                           "items": {"type": "array", "items": {
                               "type": "object", "required": ["product_id", "quantity"],
                               "properties": {"product_id": {"type": "integer"},
                                              "quantity": {"type": "integer"}}}}}}
    ok = _json({"$ref": "#/components/schemas/Cart"})
    product = {"name": "product_id", "in": "path", "required": True,
               "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}}
    body = {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["product_id", "quantity"],
        "properties": {"product_id": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                       "quantity": {"type": "integer", "minimum": 1, "maximum": 99}}}}}}
    qty = {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["quantity"],
        "properties": {"quantity": {"type": "integer", "minimum": 0, "maximum": 99}}}}}}
    paths = {
        **_health("Redis answers PING"),
        "/api/cart/{session_id}": {
            "parameters": [SESSION],
            "get": {"summary": "The cart (empty when unknown)",
                    "responses": {"200": ok, **_errors(400, 503)}},
            "delete": {"summary": "Empty the cart", "responses": {"200": ok, **_errors(400, 503)}}},
        "/api/cart/{session_id}/items": {
            "parameters": [SESSION],
            "post": {"summary": "Add a quantity of a product", "requestBody": body,
                     "responses": {"200": ok, **_errors(400, 413, 422, 503)}}},
        "/api/cart/{session_id}/items/{product_id}": {
            "parameters": [SESSION, product],
            "put": {"summary": "Set a line's quantity (0 removes it)", "requestBody": qty,
                    "responses": {"200": ok, **_errors(400, 413, 422, 503)}},
            "delete": {"summary": "Remove a line", "responses": {"200": ok, **_errors(400, 503)}}},
    }
    return _doc("storefront cart", paths, {"Cart": cart})
