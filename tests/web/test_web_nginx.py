"""storefront/web/nginx.conf in real nginx: probe, static site, both proxies, headers."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from tools import needs_tool
from web_helpers import SITE
from web_nginx import NginxProcess, StandInUpstream, nginx_binary

pytestmark = needs_tool("nginx", nginx_binary(), "apt-get install nginx")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with StandInUpstream("backend") as backend, StandInUpstream("cart") as cart:
        nginx = NginxProcess(
            tmp_path_factory.mktemp("nginx"), backend=backend.address, cart=cart.address
        ).start()
        try:
            with httpx.Client(base_url=nginx.url, timeout=5) as client:
                yield client, backend, cart
        finally:
            nginx.stop()


def test_health_probe_answers_ok(stack):
    client, _, _ = stack
    r = client.get("/health")
    assert r.status_code == 200 and r.text == "ok"


def test_root_serves_the_site(stack):
    client, _, _ = stack
    r = client.get("/")
    assert r.status_code == 200
    assert r.content == (SITE / "index.html").read_bytes()
    assert r.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-cache"


def test_javascript_has_a_module_mime_type(stack):
    client, _, _ = stack
    for name in ("app.js", "api.js"):
        r = client.get(f"/{name}")
        assert r.status_code == 200 and r.content == (SITE / name).read_bytes()
        assert "javascript" in r.headers["content-type"], "browsers refuse modules otherwise"


def test_missing_file_is_404_not_the_index(stack):
    client, _, _ = stack
    assert client.get("/no-such-file.js").status_code == 404


def test_api_reaches_the_backend_with_path_and_query_intact(stack):
    client, backend, _ = stack
    r = client.get("/api/products", params={"category": "Books & Media", "limit": 5})
    assert r.status_code == 200
    seen = r.json()
    assert seen["upstream"] == "backend"
    assert seen["path"] == "/api/products?category=Books+%26+Media&limit=5"
    assert r.headers["x-served-by"] == backend.pod, "X-Served-By must pass through"
    assert re.fullmatch(r"[0-9a-f]{32}", seen["headers"]["x-request-id"])
    assert seen["headers"]["x-forwarded-for"] == "127.0.0.1"


def test_api_cart_reaches_the_cart_service(stack):
    client, _, cart = stack
    r = client.get("/api/cart/abc")
    assert r.json()["upstream"] == "cart" and r.json()["path"] == "/api/cart/abc"
    assert r.headers["x-served-by"] == cart.pod
    r = client.put("/api/cart/abc/items/7", json={"quantity": 2})
    seen = r.json()
    assert (seen["upstream"], seen["method"], seen["path"]) == ("cart", "PUT", "/api/cart/abc/items/7")
    assert json.loads(seen["body"]) == {"quantity": 2}


def test_orders_go_to_the_backend_with_their_idempotency_key(stack):
    client, _, _ = stack
    r = client.post("/api/orders", json={"session_id": "abc"}, headers={"Idempotency-Key": "k-1"})
    seen = r.json()
    assert (seen["upstream"], seen["method"], seen["path"]) == ("backend", "POST", "/api/orders")
    assert seen["headers"]["idempotency-key"] == "k-1"


def test_a_down_upstream_is_a_502_not_a_hang(tmp_path):
    # Nothing listens on the cart's port: the shopper gets a quick 502, which the site
    # words as "temporarily unavailable".
    with StandInUpstream("backend") as backend:
        dead = StandInUpstream("cart")
        dead.server.server_close()
        nginx = NginxProcess(tmp_path, backend=backend.address, cart=dead.address).start()
        try:
            r = httpx.get(f"{nginx.url}/api/cart/abc", timeout=10)
            assert r.status_code == 502
            assert httpx.get(f"{nginx.url}/api/products", timeout=5).status_code == 200
        finally:
            nginx.stop()
