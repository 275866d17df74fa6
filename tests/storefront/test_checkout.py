"""Checkout: one transaction, nothing written on refusal, idempotency, and contention."""

from __future__ import annotations

import asyncio
import uuid

from servers import free_port
from storefront_apps import running, settings_for

from storefront.backend.app import create_app


async def fill(cart, session_id: str, *lines: tuple[int, int]) -> None:
    for product_id, quantity in lines:
        r = await cart.post(f"/api/cart/{session_id}/items",
                            json={"product_id": product_id, "quantity": quantity})
        assert r.status_code == 200, r.text


async def counts(db, product_id: int) -> tuple[int, int]:
    """(stock, number of order lines) for a product: what a refused checkout must not change."""
    return (await db.fetchval("SELECT stock FROM products WHERE id = $1", product_id),
            await db.fetchval("SELECT count(*) FROM order_items WHERE product_id = $1", product_id))


async def test_checkout_writes_the_order_decrements_stock_and_empties_the_cart(
        api, cart, db, product, session_id):
    await fill(cart, session_id, (product["id"], 3), (1, 1))
    price_1 = await db.fetchval("SELECT price_cents FROM products WHERE id = 1")
    stock_1 = await db.fetchval("SELECT stock FROM products WHERE id = 1")
    r = await api.post("/api/orders", json={
        "session_id": session_id, "customer": {"name": "Ada", "email": "ada@example.com"}})
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["status"] == "confirmed" and order["pod"] == "test-pod"
    assert [(i["product_id"], i["quantity"]) for i in order["items"]] == [(1, 1), (product["id"], 3)]
    assert order["total_cents"] == 3 * product["price_cents"] + price_1
    assert order["total"] == f"{order['total_cents'] // 100}.{order['total_cents'] % 100:02d}"
    assert {"id", "items", "total", "total_cents", "created_at", "pod", "status"} <= set(order)
    assert await counts(db, product["id"]) == (7, 1)
    assert await db.fetchval("SELECT stock FROM products WHERE id = 1") == stock_1 - 1
    assert (await cart.get(f"/api/cart/{session_id}")).json()["items"] == []
    again = await api.get(f"/api/orders/{order['id']}")
    assert again.status_code == 200 and again.json() == order


async def test_stock_change_invalidates_the_cached_product(api, cart, product, session_id):
    url = f"/api/products/{product['id']}"
    await api.get(url)
    assert (await api.get(url)).headers["x-cache"] == "HIT"
    await fill(cart, session_id, (product["id"], 4))
    assert (await api.post("/api/orders", json={"session_id": session_id})).status_code == 201
    fresh = await api.get(url)
    assert fresh.headers["x-cache"] == "MISS" and fresh.json()["stock"] == 6


async def test_empty_cart_is_400(api, session_id):
    r = await api.post("/api/orders", json={"session_id": session_id})
    assert r.status_code == 400 and r.json()["error"] == "the cart is empty"


async def test_unknown_product_is_422_and_writes_nothing(api, cart, db, product, session_id):
    await fill(cart, session_id, (product["id"], 1), (2_000_000_000, 1))
    r = await api.post("/api/orders", json={"session_id": session_id})
    assert r.status_code == 422 and r.json()["product_ids"] == [2_000_000_000]
    assert await counts(db, product["id"]) == (10, 0)
    assert len((await cart.get(f"/api/cart/{session_id}")).json()["items"]) == 2


async def test_out_of_stock_is_409_naming_the_product_and_writes_nothing(
        api, cart, db, product, session_id):
    await fill(cart, session_id, (1, 1), (product["id"], 11))
    stock_1 = await db.fetchval("SELECT stock FROM products WHERE id = 1")
    r = await api.post("/api/orders", json={"session_id": session_id})
    assert r.status_code == 409
    body = r.json()
    assert (body["product_id"], body["available"], body["requested"]) == (product["id"], 10, 11)
    assert product["sku"] in body["error"]
    assert await counts(db, product["id"]) == (10, 0)
    assert await db.fetchval("SELECT stock FROM products WHERE id = 1") == stock_1


async def test_bad_checkout_bodies_are_4xx(api):
    cases = [
        ({"content": b"{not json"}, 400),
        ({"content": b"[]"}, 422),
        ({"json": {}}, 422),
        ({"json": {"session_id": "bad id!"}}, 422),
        ({"json": {"session_id": "ok", "customer": "Ada"}}, 422),
        ({"json": {"session_id": "ok", "customer": {"email": "not-an-email"}}}, 422),
        ({"json": {"session_id": "ok", "customer": {"name": ""}}}, 422),
        ({"json": {"session_id": "ok", "customer": {"name": "nul\x00"}}}, 422),
        ({"content": b'{"session_id": "ok", "customer": {"name": "\\ud800"}}'}, 422),
        ({"content": b'{"session_id": "' + b"x" * 70000 + b'"}'}, 413),
        ({"json": {"session_id": "ok"}, "headers": {"Idempotency-Key": "k" * 201}}, 400),
    ]
    for kwargs, status in cases:
        r = await api.post("/api/orders", **kwargs)
        assert r.status_code == status, (kwargs.get("json"), r.text)
        assert r.json()["status"] == status


async def test_unknown_order_is_404(api):
    assert (await api.get("/api/orders/987654321")).status_code == 404
    assert (await api.get("/api/orders/nope")).status_code == 400


async def test_idempotency_key_replays_the_same_order(api, cart, db, product, session_id):
    await fill(cart, session_id, (product["id"], 2))
    key = {"Idempotency-Key": f"key-{uuid.uuid4()}"}
    body = {"session_id": session_id, "customer": {"name": "Bo"}}
    first = await api.post("/api/orders", json=body, headers=key)
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    await fill(cart, session_id, (product["id"], 2))  # the shopper fills the cart again...
    second = await api.post("/api/orders", json=body, headers=key)
    assert second.status_code == 200 and second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    assert await counts(db, product["id"]) == (8, 1)
    other = await api.post("/api/orders", json={**body, "customer": {"name": "Cy"}}, headers=key)
    assert other.status_code == 422 and other.json()["order_id"] == first.json()["id"]


async def test_two_concurrent_requests_with_one_key_make_one_order(api, cart, db, product,
                                                                     session_id):
    await fill(cart, session_id, (product["id"], 1))
    key = {"Idempotency-Key": f"key-{uuid.uuid4()}"}
    body = {"session_id": session_id}
    answers = await asyncio.gather(*(api.post("/api/orders", json=body, headers=key)
                                     for _ in range(5)))
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 200, 201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert await counts(db, product["id"]) == (9, 1)


async def test_cart_service_unreachable_is_503_and_nothing_written(
        postgres_server, redis_server, db, product, session_id):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    app = create_app(settings_for(postgres_server, redis_server, CART_SERVICE_URL=url))
    async with running(app) as client:
        r = await client.post("/api/orders", json={"session_id": session_id})
    assert r.status_code == 503 and "cart service unavailable" in r.json()["error"]
    assert await counts(db, product["id"]) == (10, 0)


async def test_100_buyers_for_the_last_10_units(api, cart, db, product):
    sessions = [f"race-{uuid.uuid4().hex[:12]}" for _ in range(100)]
    await asyncio.gather(*(fill(cart, s, (product["id"], 1)) for s in sessions))
    answers = await asyncio.gather(*(api.post("/api/orders", json={"session_id": s})
                                     for s in sessions))
    statuses = [a.status_code for a in answers]
    assert statuses.count(201) == 10 and statuses.count(409) == 90, statuses
    assert await counts(db, product["id"]) == (0, 10)
    orders = await db.fetchval(
        "SELECT count(DISTINCT order_id) FROM order_items WHERE product_id = $1", product["id"])
    assert orders == 10

