"""A tiny aiohttp server the load-test tests aim at: behaviours chosen per request by
query parameters, counted per ``key`` so tests that share the server do not disturb each
other.

    /delay?key=k&every=N&ms=D   every Nth request (per key) answers after D ms
    /status?key=k&every=N&code=C every Nth request answers C, the others 200
    /cache?key=k                 X-Cache: MISS for the first request of a key, then HIT
    /chunked                     a chunked body;  /close: Connection: close
    /hang                        answers after 30 s
Run: python lt_server.py PORT [CERT_DIR] (binds 127.0.0.1; with CERT_DIR, HTTPS with a
certificate for 127.0.0.1 signed by CERT_DIR/ca.crt, made there on first use).
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter

from aiohttp import web

counts: Counter[str] = Counter()
BODY = b"x" * 1000


def nth(request: web.Request) -> tuple[int, int]:
    key = request.path + ":" + request.query.get("key", "")
    counts[key] += 1
    return counts[key], int(request.query.get("every", "0") or 0)


async def delay(request: web.Request) -> web.Response:
    n, every = nth(request)
    if every and n % every == 0:
        await asyncio.sleep(int(request.query["ms"]) / 1000)
    return web.Response(body=BODY)


async def status(request: web.Request) -> web.Response:
    n, every = nth(request)
    code = int(request.query["code"]) if every and n % every == 0 else 200
    return web.Response(body=BODY, status=code)


async def cache(request: web.Request) -> web.Response:
    n, _ = nth(request)
    return web.Response(body=BODY, headers={"X-Cache": "MISS" if n == 1 else "HIT"})


async def chunked(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse()
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    for _ in range(3):
        await resp.write(b"y" * 300)
    await resp.write_eof()
    return resp


async def close(request: web.Request) -> web.Response:
    return web.Response(body=BODY, headers={"Connection": "close"})


async def hang(request: web.Request) -> web.Response:
    await asyncio.sleep(30)
    return web.Response(body=BODY)


def main() -> None:
    app = web.Application()
    app.router.add_get("/delay", delay)
    app.router.add_get("/status", status)
    app.router.add_get("/cache", cache)
    app.router.add_get("/chunked", chunked)
    app.router.add_get("/close", close)
    app.router.add_get("/hang", hang)
    tls = None
    if len(sys.argv) > 2:
        from pathlib import Path

        from labcluster.tls import server_context

        tls = server_context(Path(sys.argv[2]))
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None,
                shutdown_timeout=0.5, ssl_context=tls)


if __name__ == "__main__":
    main()
