"""The real `storefront backend` and `storefront cart` processes, over real sockets."""

from __future__ import annotations

import asyncio
import signal
import time

import asyncpg
import httpx
from servers import DB_NAME, DB_PASSWORD, DB_USER, StorefrontProcess, free_port


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


def test_sigterm_drains_the_request_in_flight_then_exits_0(postgres_server, redis_server):
    """What a pod's SIGTERM does: the listener closes at once (new connections are
    refused), the request already running completes with its answer, then exit 0."""
    proc = StorefrontProcess("backend", {
        "DATABASE_HOST": postgres_server.host, "DATABASE_PORT": str(postgres_server.port),
        "DATABASE_NAME": DB_NAME, "DATABASE_USER": DB_USER, "DATABASE_PASSWORD": DB_PASSWORD,
        "REDIS_HOST": redis_server.host, "REDIS_PORT": str(redis_server.port),
        "CACHE_TTL_SECONDS": "0", "POD_NAME": "draining"})

    async def scenario() -> httpx.Response:
        async with httpx.AsyncClient(timeout=30) as http:  # start-up done (schema, seed)
            deadline = time.monotonic() + 30
            while (await http.get(f"{proc.url}/api/products?limit=1")).status_code != 200:
                assert time.monotonic() < deadline, "the backend never served products"
                await asyncio.sleep(0.05)
        db = await asyncpg.connect(host=postgres_server.host, port=postgres_server.port,
                                   user=DB_USER, password=DB_PASSWORD, database=DB_NAME)
        tx = db.transaction()
        await tx.start()
        await db.execute("LOCK TABLE products IN ACCESS EXCLUSIVE MODE")  # holds the query
        async with httpx.AsyncClient(timeout=30) as http:
            inflight = asyncio.create_task(http.get(f"{proc.url}/api/products?limit=3"))
            waiting = ("SELECT count(*) FROM pg_locks WHERE NOT granted "
                       "AND relation = 'products'::regclass")
            deadline = time.monotonic() + 20
            while not await db.fetchval(waiting):
                assert time.monotonic() < deadline, "the request never reached PostgreSQL"
                assert not inflight.done(), f"answered despite the lock: {inflight.result().text}"
                await asyncio.sleep(0.02)
            proc.process.send_signal(signal.SIGTERM)
            while True:  # a fresh connection each time: no keep-alive reuse
                try:
                    async with httpx.AsyncClient(timeout=2) as fresh:
                        await fresh.get(f"{proc.url}/health")
                except httpx.ConnectError:
                    break
                except httpx.RemoteProtocolError:  # queued in the backlog as the listener
                    pass  # closed: dropped unanswered; the next one must be refused
                assert time.monotonic() < deadline, "the listener stayed open after SIGTERM"
                await asyncio.sleep(0.02)
            assert not inflight.done()  # still held by our lock, after the listener closed
            await tx.rollback()
            answer = await inflight
        await db.close()
        return answer

    try:
        wait_ready(proc.wait_healthy().url)
        answer = asyncio.run(scenario())
        assert answer.status_code == 200 and len(answer.json()) == 3
        assert proc.process.wait(20) == 0
        assert "Traceback" not in proc.log
    finally:
        proc.stop()
