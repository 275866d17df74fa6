"""Start-up migration: idempotent, and safe when several replicas start at the same moment."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from servers import DB_PASSWORD, DB_USER

from storefront.backend.catalog import CATEGORIES, seed_rows
from storefront.backend.schema import migrate


async def test_five_replicas_migrating_at_once_seed_exactly_once(postgres_server):
    name = f"migrate_{uuid.uuid4().hex[:8]}"
    postgres_server.psql(f'CREATE DATABASE "{name}"')
    kwargs = {"host": postgres_server.host, "port": postgres_server.port, "user": DB_USER,
              "password": DB_PASSWORD, "database": name}
    conns = [await asyncpg.connect(**kwargs) for _ in range(5)]
    try:
        seeded = await asyncio.gather(*(migrate(c) for c in conns))
        assert sorted(seeded) == [0, 0, 0, 0, 50]
        assert await migrate(conns[0]) == 0  # and again later: nothing to do
        rows = await conns[0].fetch("SELECT category, count(*) FROM products GROUP BY 1")
        assert {r["category"]: r["count"] for r in rows} == {c: 10 for c in CATEGORIES}
    finally:
        for c in conns:
            await c.close()
        postgres_server.psql(f'DROP DATABASE "{name}"', database="postgres")


def test_seed_is_deterministic_and_unique():
    rows = seed_rows()
    assert rows == seed_rows() and len(rows) == 50
    assert len({r[0] for r in rows}) == 50  # SKUs
    assert all(r[4] > 0 and r[5] > 0 for r in rows)  # prices and stock
