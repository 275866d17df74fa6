"""Product reads: SQL in, finished JSON bytes out (so the cache can hold the bytes)."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from storefront.httpkit import ApiError, check_text

MAX_CATEGORY = 100


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def product_json(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": row["id"], "sku": row["sku"], "name": row["name"],
            "description": row["description"], "category": row["category"],
            "price": money(row["price_cents"]), "price_cents": row["price_cents"],
            "stock": row["stock"]}


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def list_params(query: Any) -> tuple[str | None, int, int]:
    """category, limit (1..100, default 50), offset (>= 0): bad values are a 400 that says so."""

    def number(name: str, default: int, low: int, high: int) -> int:
        raw = query.get(name)
        if raw is None or raw == "":
            return default
        if not raw.isdigit() or not low <= int(raw) <= high:
            raise ApiError(400, f"{name} must be an integer between {low} and {high}, got {raw!r}",
                           field=name)
        return int(raw)

    category = query.get("category") or None
    if category is not None:
        if len(category) > MAX_CATEGORY:
            raise ApiError(400, f"category is longer than {MAX_CATEGORY} characters",
                           field="category")
        check_text(category, "category")
    return category, number("limit", 50, 1, 100), number("offset", 0, 0, 1_000_000)


async def list_products(conn: asyncpg.Connection, category: str | None, limit: int,
                        offset: int) -> tuple[bytes, int]:
    rows = await conn.fetch(
        "SELECT id, sku, name, description, category, price_cents, stock FROM products "
        "WHERE ($1::text IS NULL OR category = $1) "
        "ORDER BY id LIMIT $2 OFFSET $3", category, limit, offset)
    total = await conn.fetchval(
        "SELECT count(*) FROM products WHERE ($1::text IS NULL OR category = $1)", category)
    return dumps([product_json(r) for r in rows]), total


async def get_product(conn: asyncpg.Connection, product_id: int) -> bytes | None:
    row = await conn.fetchrow(
        "SELECT id, sku, name, description, category, price_cents, stock FROM products "
        "WHERE id = $1", product_id)
    return dumps(product_json(row)) if row else None


async def categories(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT category AS name, count(*) AS count FROM products GROUP BY category ORDER BY category")
    return [{"name": r["name"], "count": r["count"]} for r in rows]
