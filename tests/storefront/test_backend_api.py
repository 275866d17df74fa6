"""The backend's read API, health endpoints, errors and metrics, against real servers."""

from __future__ import annotations

import pytest

PRODUCT_FIELDS = {"id", "sku", "name", "description", "category", "price", "price_cents", "stock"}


async def test_liveness_and_readiness(api):
    r = await api.get("/health")
    assert r.status_code == 200 and r.json() == {"status": "alive", "pod": "test-pod"}
    assert r.headers["x-served-by"] == "test-pod"
    assert (await api.get("/ready")).status_code == 200


async def test_api_health_has_exactly_the_labs_keys(api):
    r = await api.get("/api/health")
    assert r.status_code == 200
    assert r.json() == {"status": "healthy", "database": "connected", "redis": "connected",
                        "pod": "test-pod", "version": "0.1.0"}


async def test_products_are_a_json_array_of_the_seed(api, db):
    r = await api.get("/api/products", params={"limit": 100})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    products = r.json()
    assert isinstance(products, list) and products[0]["id"] == 1
    total = await db.fetchval("SELECT count(*) FROM products")
    assert int(r.headers["x-total-count"]) == total
    assert len(products) == min(total, 100)
    for p in products:
        assert set(p) == PRODUCT_FIELDS
        assert p["price"] == f"{p['price_cents'] // 100}.{p['price_cents'] % 100:02d}"
    seeded = [p for p in products if not p["sku"].startswith("TEST-")]
    assert len(seeded) == 50
    assert len({p["category"] for p in seeded}) == 5


async def test_category_limit_offset(api):
    books = (await api.get("/api/products", params={"category": "Books", "limit": 100})).json()
    assert len(books) == 10 and {p["category"] for p in books} == {"Books"}
    page = await api.get("/api/products", params={"category": "Books", "limit": 3, "offset": 3})
    assert [p["id"] for p in page.json()] == [p["id"] for p in books[3:6]]
    assert page.headers["x-total-count"] == "10"
    past = await api.get("/api/products", params={"category": "Books", "offset": 500})
    assert past.json() == [] and past.headers["x-total-count"] == "10"
    none = await api.get("/api/products", params={"category": "No Such Category"})
    assert none.status_code == 200 and none.json() == []


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"limit": "ten"},
                                    {"offset": -1}, {"offset": "1.5"}, {"category": "x" * 101},
                                    {"category": "nul\x00byte"}])
async def test_bad_list_parameters_are_a_400_that_names_them(api, params):
    r = await api.get("/api/products", params=params)
    assert r.status_code == 400
    assert r.json()["field"] == next(iter(params))


async def test_one_product_and_its_errors(api):
    r = await api.get("/api/products/2")
    assert r.status_code == 200 and r.json()["id"] == 2 and "x-cache" in r.headers
    missing = await api.get("/api/products/99999")
    assert missing.status_code == 404 and "99999" in missing.json()["error"]
    for bad in ("abc", "0", "-1", "1.5", "99999999999"):
        r = await api.get(f"/api/products/{bad}")
        assert r.status_code == 400, bad
        assert r.json()["status"] == 400


async def test_categories_count_the_catalogue(api, db):
    r = await api.get("/api/categories")
    expected = await db.fetch("SELECT category, count(*) FROM products GROUP BY 1 ORDER BY 1")
    assert r.json() == [{"name": c, "count": n} for c, n in expected]


async def test_unknown_route_and_method_are_json(api):
    r = await api.get("/api/nothing-here")
    assert r.status_code == 404 and r.json()["error"] == "no route for /api/nothing-here"
    r = await api.delete("/api/products")
    assert r.status_code == 405 and "DELETE" in r.json()["error"]


async def test_metrics_count_requests_by_route_template(api):
    await api.get("/api/products/3")
    await api.get("/api/products/abc")
    text = (await api.get("/metrics")).text
    assert 'route="/api/products/{product_id}",service="backend",status="200"' in text
    assert 'route="/api/products/{product_id}",service="backend",status="400"' in text
    assert "http_request_duration_seconds_bucket" in text
    assert "db_pool_size " in text and "db_pool_in_use " in text
    assert "cache_hits_total" in text and "cache_misses_total" in text


async def test_openapi_document_lists_the_routes(api):
    spec = (await api.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    assert {"/api/products", "/api/products/{product_id}", "/api/orders",
            "/api/orders/{order_id}", "/api/health"} <= set(spec["paths"])
