"""The cart service: carts in Redis, validation, limits, and Redis outages."""

from __future__ import annotations

import pytest
from servers import down

from storefront.cart.store import TTL_SECONDS


async def test_unknown_session_is_an_empty_cart(cart, session_id):
    r = await cart.get(f"/api/cart/{session_id}")
    assert r.status_code == 200
    assert r.json() == {"session_id": session_id, "items": [], "count": 0}
    assert r.headers["x-served-by"] == "cart-pod"


async def test_add_increments_put_sets_delete_removes(cart, session_id, redis_server):
    base = f"/api/cart/{session_id}"
    assert (await cart.post(f"{base}/items", json={"product_id": 7, "quantity": 2})).status_code == 200
    r = await cart.post(f"{base}/items", json={"product_id": 7, "quantity": 3})
    assert r.json()["items"] == [{"product_id": 7, "quantity": 5}]
    await cart.post(f"{base}/items", json={"product_id": 2, "quantity": 1})
    r = await cart.get(base)
    assert r.json()["items"] == [{"product_id": 2, "quantity": 1}, {"product_id": 7, "quantity": 5}]
    assert r.json()["count"] == 6
    r = await cart.put(f"{base}/items/7", json={"quantity": 9})
    assert r.json()["count"] == 10
    r = await cart.put(f"{base}/items/2", json={"quantity": 0})
    assert r.json()["items"] == [{"product_id": 7, "quantity": 9}]
    r = await cart.delete(f"{base}/items/7")
    assert r.json()["items"] == []
    await cart.post(f"{base}/items", json={"product_id": 1, "quantity": 1})
    import redis

    client = redis.Redis(host=redis_server.host, port=redis_server.port)
    ttl = client.ttl(f"cart:{session_id}")
    client.close()
    assert TTL_SECONDS - 10 < ttl <= TTL_SECONDS
    r = await cart.delete(base)
    assert r.json() == {"session_id": session_id, "items": [], "count": 0}


@pytest.mark.parametrize("body", [
    {"product_id": 1, "quantity": 0}, {"product_id": 1, "quantity": 100},
    {"product_id": 1, "quantity": -3}, {"product_id": 1, "quantity": 1.5},
    {"product_id": 1, "quantity": True}, {"product_id": 1, "quantity": "2"},
    {"product_id": 0, "quantity": 1}, {"product_id": "1", "quantity": 1},
    {"product_id": 2**31, "quantity": 1}, {"quantity": 1},
])
async def test_bad_items_are_422_and_change_nothing(cart, session_id, body):
    r = await cart.post(f"/api/cart/{session_id}/items", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["field"] in ("product_id", "quantity")
    assert (await cart.get(f"/api/cart/{session_id}")).json()["items"] == []


async def test_limits_per_line_and_per_cart(cart, session_id):
    base = f"/api/cart/{session_id}"
    await cart.post(f"{base}/items", json={"product_id": 1, "quantity": 90})
    r = await cart.post(f"{base}/items", json={"product_id": 1, "quantity": 10})
    assert r.status_code == 422 and "90 already" in r.json()["error"]
    for pid in range(2, 51):
        assert (await cart.post(f"{base}/items", json={"product_id": pid, "quantity": 1})).status_code == 200
    r = await cart.post(f"{base}/items", json={"product_id": 51, "quantity": 1})
    assert r.status_code == 422 and "50 different" in r.json()["error"]
    r = await cart.put(f"{base}/items/51", json={"quantity": 1})
    assert r.status_code == 422
    assert (await cart.put(f"{base}/items/50", json={"quantity": 4})).status_code == 200
    assert len((await cart.get(base)).json()["items"]) == 50


async def test_bad_session_ids_and_paths(cart):
    for bad in ("has space", "x" * 65, "semi;colon", "dot.dot"):
        r = await cart.get(f"/api/cart/{bad}")
        assert r.status_code in (400, 404), bad
        assert "error" in r.json()
    r = await cart.put("/api/cart/ok/items/abc", json={"quantity": 1})
    assert r.status_code == 400


async def test_malformed_oversized_and_wrong_json(cart, session_id):
    url = f"/api/cart/{session_id}/items"
    r = await cart.post(url, content=b'{"product_id": 1,', headers={"content-type": "application/json"})
    assert r.status_code == 400 and "malformed JSON" in r.json()["error"]
    r = await cart.post(url, content=b"[1, 2]")
    assert r.status_code == 422
    r = await cart.post(url, content=b"")
    assert r.status_code == 400
    big = b'{"product_id": 1, "quantity": 1, "pad": "' + b"x" * (70 * 1024) + b'"}'
    r = await cart.post(url, content=big)
    assert r.status_code == 413
    r = await cart.post(url, content=b"\xff\xfe not utf8")
    assert r.status_code == 400
    assert (await cart.get(f"/api/cart/{session_id}")).json()["items"] == []


async def test_redis_down_is_503_and_recovers(cart, session_id, redis_server):
    base = f"/api/cart/{session_id}"
    with down(redis_server):
        for call in (cart.get(base), cart.post(f"{base}/items", json={"product_id": 1, "quantity": 1}),
                     cart.delete(base)):
            r = await call
            assert r.status_code == 503 and "Redis" in r.json()["error"]
        assert (await cart.get("/ready")).status_code == 503
        assert (await cart.get("/health")).status_code == 200
    assert (await cart.get("/ready")).status_code == 200
    r = await cart.post(f"{base}/items", json={"product_id": 1, "quantity": 1})
    assert r.status_code == 200 and r.json()["count"] == 1


async def test_cart_metrics(cart, session_id):
    await cart.get(f"/api/cart/{session_id}")
    text = (await cart.get("/metrics")).text
    assert 'route="/api/cart/{session_id}",service="cart",status="200"' in text
