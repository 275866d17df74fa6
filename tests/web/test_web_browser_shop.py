"""A shopper in headless chromium, through real nginx, to the REAL backend and cart.

Everything is real and local: PostgreSQL and Redis (this module's own, so other tests'
data and cache never leak in), `python -m storefront backend` and `... cart` as processes
on loopback ports (the backend reaches the cart by CART_SERVICE_URL), nginx with the
storefront's own nginx.conf pointed at them, and the site as a browser runs it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
import pytest
from procs import stop_process
from servers import DB_NAME, DB_PASSWORD, DB_USER, dispose, down, start_postgres, start_redis
from tools import needs_tool
from web_browser import Chromium, chromium_binary
from web_helpers import ROOT, free_port
from web_nginx import NginxProcess, nginx_binary

BACKEND_POD = "ecommerce-backend-7c9f5d6b8-x2k4p"
CART_POD = "cart-service-5d8b7f9c4-q9wzn"

pytestmark = [
    pytest.mark.browser,
    needs_tool("chromium", chromium_binary(), "apt-get install chromium"),
    needs_tool("nginx", nginx_binary(), "apt-get install nginx"),
    pytest.mark.skipif(
        importlib.util.find_spec("storefront.cli") is None,
        reason="storefront backend/cart (storefront/cli.py) not in the tree yet",
    ),
]


class Service:
    """`python -m storefront <kind>` as a child process, logging to a file."""

    def __init__(self, kind: str, env: dict[str, str], workdir: Path) -> None:
        self.kind = kind
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env, "PORT": str(self.port), "HOST": "127.0.0.1"}
        self.log = workdir / f"{kind}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, ready: str, timeout: float = 60) -> Service:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "storefront", self.kind, "--host", "127.0.0.1",
                 "--port", str(self.port)],
                env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if httpx.get(self.url + ready, timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"storefront {self.kind} not ready:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        stop_process(self.proc)


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    work = tmp_path_factory.mktemp("shop")
    postgres, redis = start_postgres(), start_redis()
    common = {"REDIS_HOST": redis.host, "REDIS_PORT": str(redis.port), "LOG_LEVEL": "INFO"}
    cart = Service("cart", {**common, "POD_NAME": CART_POD}, work)
    backend = Service("backend", {
        **common, "POD_NAME": BACKEND_POD, "CART_SERVICE_URL": cart.url,
        "DATABASE_HOST": postgres.host, "DATABASE_PORT": str(postgres.port),
        "DATABASE_NAME": DB_NAME, "DATABASE_USER": DB_USER, "DATABASE_PASSWORD": DB_PASSWORD,
    }, work)
    (work / "nginx").mkdir()
    nginx = None
    try:
        cart.start("/ready")
        backend.start("/ready")
        nginx = NginxProcess(work / "nginx", backend=f"127.0.0.1:{backend.port}",
                             cart=f"127.0.0.1:{cart.port}").start()
        yield {"nginx": nginx, "backend": backend, "cart": cart, "postgres": postgres,
               "redis": redis}
    finally:
        if nginx:
            nginx.stop()
        backend.stop()
        cart.stop()
        dispose(redis)
        dispose(postgres)


@pytest.fixture
async def page(services, tmp_path):
    browser = Chromium(tmp_path)
    try:
        page = await browser.start()
        await page.goto(services["nginx"].url + "/")
        await page.wait_for("document.querySelectorAll('#products .card').length > 0",
                            what="the catalogue")
        yield page
    finally:
        await browser.stop()


ENABLED_ADD = "#products .card:not(:has(button:disabled)) button.add"


async def test_browse_add_to_cart_check_out_and_see_the_pod(services, page):
    assert BACKEND_POD in await page.text("#served-by"), "the footer names the pod that answered"

    # Browse one category: the chip is a link, the list shows only that category.
    await page.wait_for("document.querySelectorAll('#categories a').length > 1", what="categories")
    await page.click("#categories li:nth-child(2) a")
    category = await page.wait_for(
        "location.hash.includes('category=') && document.getElementById('catalog-title').textContent"
        " !== 'All products' && document.getElementById('catalog-title').textContent",
        what="the category view")
    await page.wait_for(
        f"[...document.querySelectorAll('#products .card .meta')].length > 0 && "
        f"[...document.querySelectorAll('#products .card .meta')].every(m => m.textContent === "
        f"{json.dumps(category)})", what=f"only {category} products")

    # Add the first product in stock, twice.
    product = await page.evaluate(
        f"(() => {{ const c = document.querySelector({json.dumps(ENABLED_ADD)}).closest('.card');"
        "return {id: c.dataset.productId, name: c.querySelector('h2').textContent,"
        "price: c.querySelector('.price').textContent}; })()")
    add = f"#products .card[data-product-id='{product['id']}'] button.add"
    await page.click(add)
    await page.wait_for("document.getElementById('cart-count').textContent === '1'", what="1 in cart")
    assert product["name"] in await page.text("#notice")
    await page.click(add)
    await page.wait_for("document.getElementById('cart-count').textContent === '2'", what="2 in cart")

    # The cart: one line of 2; set it to 3 by typing, as a person would.
    await page.click("#cart-link")
    await page.wait_for("document.querySelectorAll('#cart-items tr').length === 1", what="cart row")
    assert await page.evaluate("document.querySelector('#cart-items input').value") == "2"
    await page.type("#cart-items input", "3")
    await page.press("Tab", 9)
    await page.wait_for("document.getElementById('cart-count').textContent === '3'", what="3 in cart")
    unit = float(product["price"].lstrip("$"))
    assert await page.text("#cart-total") == f"${unit * 3:.2f}"

    # Check out.
    await page.type("#name", "Ada Lovelace")
    await page.type("#email", "ada@example.com")
    await page.click("#place-order")
    await page.wait_for("location.hash.startsWith('#/order/')", what="the confirmation")
    await page.wait_for(f"document.getElementById('order-pod').textContent === {json.dumps(BACKEND_POD)}",
                        what="the pod that took the order")
    assert "confirmed" in await page.text("#order-summary")
    assert f"3 × {product['name']}" in await page.text("#order-items")
    assert await page.text("#order-total") == f"${unit * 3:.2f}"
    assert await page.text("#cart-count") == "0"

    # The order is really there, and the cart really empty.
    order_id = (await page.evaluate("location.hash")).rsplit("/", 1)[1]
    order = httpx.get(f"{services['backend'].url}/api/orders/{order_id}").json()
    assert order["status"] == "confirmed"
    assert [(i["product_id"], i["quantity"]) for i in order["items"]] == [(int(product["id"]), 3)]

    # Which pods answered: the backend and the cart, both named in the tally.
    tally = await page.text("#pod-tally")
    assert BACKEND_POD in tally and CART_POD in tally
    assert (await page.text("#pod-count")).startswith("2 (1 backend, 1 cart)")
    assert page.errors == []


async def test_out_of_stock_at_checkout_is_told_in_words(services, page):
    product_id = await page.evaluate(
        f"document.querySelector({json.dumps(ENABLED_ADD)}).closest('.card').dataset.productId")
    await page.click(f"#products .card[data-product-id='{product_id}'] button.add")
    await page.wait_for("document.getElementById('cart-count').textContent === '1'", what="in cart")
    pg = services["postgres"]
    conn = await asyncpg.connect(host=pg.host, port=pg.port, user=DB_USER,
                                 password=DB_PASSWORD, database=DB_NAME)
    try:  # someone else bought the last one while this shopper was looking
        await conn.execute("UPDATE products SET stock = 0 WHERE id = $1", int(product_id))
    finally:
        await conn.close()
    await page.click("#cart-link")
    await page.wait_for("!document.getElementById('checkout').hidden", what="the checkout form")
    await page.type("#name", "Grace Hopper")
    await page.type("#email", "grace@example.com")
    await page.click("#place-order")
    error = await page.wait_for(
        "!document.getElementById('error').hidden && document.getElementById('error').textContent",
        what="the out-of-stock message")
    name = await page.text("#cart-items th")
    assert error.startswith("Sorry, ") and "stock" in error and name in error, error
    assert not (await page.evaluate("location.hash")).startswith("#/order/")
    assert await page.text("#cart-count") == "1", "nothing was bought; the cart is intact"


async def test_cart_down_is_told_in_words_and_recovers(services, page):
    with down(services["redis"]):
        await page.click(ENABLED_ADD)
        error = await page.wait_for(
            "!document.getElementById('error').hidden && "
            "document.getElementById('error').textContent", what="the cart-down message")
        assert "temporarily unavailable" in error
    await page.click(ENABLED_ADD)
    await page.wait_for("document.getElementById('error').hidden && "
                        "document.getElementById('cart-count').textContent === '1'",
                        what="the cart working again")
