"""The schema and its seed, applied at start-up by every replica.

Several replicas start at once in the lab, so the whole step runs in one transaction under
a transaction-level advisory lock: the first replica creates and seeds, the others wait
and then find everything there. Every statement is idempotent as well.
"""

from __future__ import annotations

import asyncpg

from storefront.backend.catalog import seed_rows

ADVISORY_LOCK = 0x5F0E_2002  # any constant shared by all replicas

DDL = """
CREATE TABLE IF NOT EXISTS products (
    id          serial PRIMARY KEY,
    sku         text NOT NULL UNIQUE,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    category    text NOT NULL,
    price_cents integer NOT NULL CHECK (price_cents >= 0),
    stock       integer NOT NULL CHECK (stock >= 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS products_category_id ON products (category, id);
CREATE TABLE IF NOT EXISTS orders (
    id              bigserial PRIMARY KEY,
    idempotency_key text UNIQUE,
    request_hash    text,
    session_id      text NOT NULL,
    customer_name   text,
    customer_email  text,
    status          text NOT NULL,
    total_cents     bigint NOT NULL,
    pod             text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS order_items (
    order_id         bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id       integer NOT NULL REFERENCES products (id),
    name             text NOT NULL,
    quantity         integer NOT NULL CHECK (quantity > 0),
    unit_price_cents integer NOT NULL,
    PRIMARY KEY (order_id, product_id)
);
"""


async def migrate(conn: asyncpg.Connection) -> int:
    """Create what is missing and seed an empty catalogue; returns how many rows were seeded."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", ADVISORY_LOCK)
        await conn.execute(DDL)
        if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM products)"):
            return 0
        rows = seed_rows()
        await conn.executemany(
            "INSERT INTO products (sku, name, description, category, price_cents, stock) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sku) DO NOTHING", rows)
        return len(rows)
