"""Checkout: the cart comes from the cart service over HTTP, the order is one transaction.

Rows are locked in id order (`FOR UPDATE`), so concurrent checkouts of the same products
queue instead of deadlocking, and stock is checked and decremented under that lock: 100
buyers for the last 10 units get exactly 10 orders. With an `Idempotency-Key`, the whole
checkout of that key runs under a session advisory lock on the key, so two identical
requests in flight make one order; the second answers with the first's order.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx

from storefront.backend.products import money
from storefront.httpkit import ApiError, check_text, strict_int

log = logging.getLogger("storefront.orders")

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
KEY = re.compile(r"^[\x21-\x7e]{1,200}$")  # printable ASCII, as headers carry it
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}$")


@dataclass(frozen=True)
class CheckoutRequest:
    session_id: str
    customer_name: str | None
    customer_email: str | None
    key: str | None

    @property
    def fingerprint(self) -> str:
        data = [self.session_id, self.customer_name, self.customer_email]
        return hashlib.sha256(json.dumps(data).encode()).hexdigest()


def parse_checkout(body: dict[str, Any], key: str | None) -> CheckoutRequest:
    session = body.get("session_id")
    if not isinstance(session, str) or not SESSION_ID.match(session):
        raise ApiError(422, "session_id must match [A-Za-z0-9_-]{1,64}", field="session_id")
    customer = body.get("customer")
    name = email = None
    if customer is not None:
        if not isinstance(customer, dict):
            raise ApiError(422, "customer must be an object with name and email", field="customer")
        name, email = customer.get("name"), customer.get("email")
        if name is not None and (not isinstance(name, str) or not 0 < len(name.strip()) <= 200):
            raise ApiError(422, "customer.name must be 1 to 200 characters", field="customer.name")
        if email is not None and (not isinstance(email, str) or not EMAIL.match(email)):
            raise ApiError(422, "customer.email is not an email address", field="customer.email")
        if name is not None:
            check_text(name, "customer.name")
        if email is not None:
            check_text(email, "customer.email")
    if key is not None and not KEY.match(key):
        raise ApiError(400, "Idempotency-Key must be 1 to 200 printable ASCII characters")
    return CheckoutRequest(session, name.strip() if name else None, email, key)


class CartClient:
    """The cart service, by the URL in CART_SERVICE_URL (a Service name in the cluster)."""

    def __init__(self, base_url: str, client: httpx.AsyncClient) -> None:
        self.base_url, self.client = base_url, client

    async def items(self, session_id: str) -> list[tuple[int, int]]:
        try:
            response = await self.client.get(f"{self.base_url}/api/cart/{session_id}")
        except httpx.HTTPError as exc:
            log.error("Cart service unreachable at %s: %s", self.base_url, _why(exc))
            raise ApiError(503, f"cart service unavailable ({_why(exc)})") from None
        if response.status_code >= 500:
            raise ApiError(503, f"cart service answered {response.status_code}")
        if response.status_code != 200:
            raise ApiError(502, f"cart service answered {response.status_code}")
        try:
            items = response.json()["items"]
            lines = [(strict_int(i["product_id"], "product_id", 1, 2**31 - 1),
                      strict_int(i["quantity"], "quantity", 1, 99)) for i in items]
        except (ValueError, KeyError, TypeError, ApiError):
            raise ApiError(502, "cart service sent a cart we cannot read") from None
        return sorted(lines)

    async def clear(self, session_id: str) -> None:
        """After the order is committed: a failure here leaves a stale cart, not a lost order."""
        try:
            response = await self.client.delete(f"{self.base_url}/api/cart/{session_id}")
            response.raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("Order placed but the cart %s was not emptied: %s", session_id, _why(exc))


def _why(exc: httpx.HTTPError) -> str:
    return str(exc) or type(exc).__name__


ORDER_QUERY = """
SELECT o.id, o.status, o.total_cents, o.created_at, o.pod, o.session_id,
       o.request_hash, o.customer_name, o.customer_email
FROM orders o WHERE {where}
"""
ITEMS_QUERY = """
SELECT product_id, name, quantity, unit_price_cents FROM order_items
WHERE order_id = $1 ORDER BY product_id
"""


async def load_order(conn: asyncpg.Connection, *, order_id: int | None = None,
                     key: str | None = None) -> tuple[dict[str, Any], str | None] | None:
    """The order as the API shows it, plus its request fingerprint (for idempotency)."""
    if order_id is not None:
        row = await conn.fetchrow(ORDER_QUERY.format(where="o.id = $1"), order_id)
    else:
        row = await conn.fetchrow(ORDER_QUERY.format(where="o.idempotency_key = $1"), key)
    if row is None:
        return None
    items = await conn.fetch(ITEMS_QUERY, row["id"])
    return order_json(row, items), row["request_hash"]


def order_json(row: Any, items: list[Any]) -> dict[str, Any]:
    customer = None
    if row["customer_name"] or row["customer_email"]:
        customer = {"name": row["customer_name"], "email": row["customer_email"]}
    return {
        "id": row["id"], "status": row["status"], "session_id": row["session_id"],
        "customer": customer,
        "items": [{"product_id": i["product_id"], "name": i["name"], "quantity": i["quantity"],
                   "unit_price": money(i["unit_price_cents"])} for i in items],
        "total": money(row["total_cents"]), "total_cents": row["total_cents"],
        "created_at": row["created_at"].isoformat(), "pod": row["pod"],
    }


async def place_order(conn: asyncpg.Connection, req: CheckoutRequest,
                      lines: list[tuple[int, int]], pod: str) -> dict[str, Any]:
    """One transaction: lock, check, decrement, write. Any refusal writes nothing."""
    if not lines:
        raise ApiError(400, "the cart is empty", session_id=req.session_id)
    ids = [product_id for product_id, _ in lines]
    quantities = [quantity for _, quantity in lines]
    async with conn.transaction():
        rows = await conn.fetch(
            "SELECT id, name, price_cents, stock FROM products WHERE id = ANY($1::int[]) "
            "ORDER BY id FOR UPDATE", ids)
        found = {r["id"]: r for r in rows}
        unknown = [i for i in ids if i not in found]
        if unknown:
            raise ApiError(422, f"unknown product(s) in the cart: {unknown}", product_ids=unknown)
        for product_id, quantity in lines:
            product = found[product_id]
            if product["stock"] < quantity:
                raise ApiError(
                    409, f"not enough stock for {product['name']} "
                         f"(wanted {quantity}, {product['stock']} left)",
                    product_id=product_id, available=product["stock"], requested=quantity)
        await conn.execute(
            "UPDATE products p SET stock = p.stock - x.q "
            "FROM unnest($1::int[], $2::int[]) AS x(id, q) WHERE p.id = x.id", ids, quantities)
        total = sum(found[i]["price_cents"] * q for i, q in lines)
        order = await conn.fetchrow(
            "INSERT INTO orders (idempotency_key, request_hash, session_id, customer_name, "
            "customer_email, status, total_cents, pod) "
            "VALUES ($1, $2, $3, $4, $5, 'confirmed', $6, $7) "
            "RETURNING id, status, total_cents, created_at, pod, session_id, customer_name, "
            "customer_email", req.key, req.fingerprint if req.key else None, req.session_id,
            req.customer_name, req.customer_email, total, pod)
        await conn.execute(
            "INSERT INTO order_items (order_id, product_id, name, quantity, unit_price_cents) "
            "SELECT $1, x.id, x.name, x.q, x.price "
            "FROM unnest($2::int[], $3::text[], $4::int[], $5::int[]) AS x(id, name, q, price)",
            order["id"], ids, [found[i]["name"] for i in ids], quantities,
            [found[i]["price_cents"] for i in ids])
    items = [{"product_id": i, "name": found[i]["name"], "quantity": q,
              "unit_price_cents": found[i]["price_cents"]} for i, q in lines]
    return order_json(order, items)
