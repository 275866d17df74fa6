"""The real `storefront backend` and `storefront cart` processes, over real sockets."""

from __future__ import annotations

import time

import httpx
from servers import DB_PASSWORD, StorefrontProcess, free_port


def wait_ready(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(f"{url}/ready").status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError(f"{url} never ready")


def test_checkout_across_two_processes(processes):
    backend, cart = processes
    wait_ready(backend.url)
    session = f"proc-{free_port()}"
    r = httpx.post(f"{cart.url}/api/cart/{session}/items", json={"product_id": 5, "quantity": 1})
    assert r.status_code == 200 and r.headers["x-served-by"] == "cart-proc"
    r = httpx.post(f"{backend.url}/api/orders", json={"session_id": session},
                   headers={"Idempotency-Key": f"proc-{session}"})
    assert r.status_code == 201, r.text
    assert r.headers["x-served-by"] == "backend-proc" and r.json()["pod"] == "backend-proc"
    assert httpx.get(f"{cart.url}/api/cart/{session}").json()["count"] == 0
    assert httpx.get(f"{backend.url}/api/health").json()["status"] == "healthy"


def test_logs_say_what_the_lab_tells_learners_to_look_for(processes, postgres_server,
                                                          redis_server):
    backend, cart = processes
    wait_ready(backend.url)
    log = backend.log
    assert f"Connected to Postgres at {postgres_server.host}:{postgres_server.port}" in log
    assert f"Connected to Redis at {redis_server.host}:{redis_server.port}" in log
    assert f"Server listening on port {backend.port}" in log
    assert f"Server listening on port {cart.port}" in cart.log
    assert DB_PASSWORD not in log and DB_PASSWORD not in cart.log
    assert "Traceback" not in log and "Traceback" not in cart.log


def test_wrong_database_host_is_running_not_ready_and_logs_why(redis_server):
    proc = StorefrontProcess("backend", {
        "DATABASE_HOST": "postgres-db", "DATABASE_PORT": "5432", "REDIS_HOST": redis_server.host,
        "REDIS_PORT": str(redis_server.port), "POD_NAME": "typo"})
    try:
        proc.wait_healthy()
        time.sleep(0.3)
        assert httpx.get(f"{proc.url}/ready").status_code == 503
        assert "getaddrinfo failed for postgres-db (ENOTFOUND)" in proc.log
        assert proc.process.poll() is None  # running, retrying
    finally:
        assert proc.stop() == 0  # SIGTERM: a clean exit


def test_port_in_use_is_one_clear_line(processes):
    backend, _ = processes
    proc = StorefrontProcess("cart", {}, port=backend.port)
    proc.process.wait(30)
    log = proc.log
    assert proc.stop() == 1
    assert f"cannot listen on 127.0.0.1:{backend.port}" in log
