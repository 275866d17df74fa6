"""minginx: proxy_pass targets are keyed by (host, port), and $request_id works.

In process (aiohttp on loopback, random ports): two upstreams on one host that differ
only by port must each get their own requests.
"""

from __future__ import annotations

import socket

import aiohttp
from aiohttp import web

from labcluster.node.minginx import Minginx, build, parse


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _echo(port: int) -> web.AppRunner:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"port": port, "request_id": request.headers.get("X-Request-ID"),
                                  "also": request.headers.get("X-Also")})
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def test_two_ports_on_one_host_are_two_upstreams(tmp_path) -> None:
    a, b, front = _free_port(), _free_port(), _free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""server {{
      listen 127.0.0.1:{front};
      location /a/ {{ proxy_pass http://localhost:{a};
                     proxy_set_header X-Request-ID $request_id;
                     proxy_set_header X-Also $request_id; }}
      location /b/ {{ proxy_pass http://localhost:{b}; }}
    }}""")
    m = Minginx(build(parse(conf)))
    m.resolve_upstreams()
    m.session = aiohttp.ClientSession()
    async def handler(request: web.Request) -> web.StreamResponse:
        return await m.handle(request, ("127.0.0.1", front))

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runners = [await _echo(a), await _echo(b)]
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", front).start()
    try:
        async with aiohttp.ClientSession() as s:
            answers = []
            for path in ("/a/x", "/b/x", "/a/y", "/b/y"):
                async with s.get(f"http://127.0.0.1:{front}{path}") as r:
                    answers.append(await r.json())
        assert [x["port"] for x in answers] == [a, b, a, b]
        ids = [x["request_id"] for x in answers[::2]]
        assert all(i and len(i) == 32 and int(i, 16) >= 0 for i in ids)
        assert ids[0] != ids[1]                      # one per request
        assert answers[0]["also"] == ids[0]          # the same value within a request
    finally:
        await runner.cleanup()
        for r in runners:
            await r.cleanup()
        await m.session.close()
