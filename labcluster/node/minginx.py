"""minginx: the built-in stand-in for nginx where the real binary is not installed.

It reads real nginx.conf files and serves the subset the lab (and most static-site plus
reverse-proxy setups) use: `listen`, `server_name`, `root`, `index`, `location` (`=`,
prefix, `^~`), `try_files`, `return`, `proxy_pass` (host or `upstream` block, with or
without a URI part), `proxy_set_header`, `add_header`, `proxy_connect/read/send_timeout`,
`include`, `upstream { server ...; }`, `error_page` (ignored). Anything else that changes
behaviour (regex locations, `rewrite`, `if`) is reported on stderr at start, never silently
ignored. Like nginx, upstream names are resolved once at start and an unknown one is fatal
("host not found in upstream"). The access log goes to stdout in nginx's combined format.

Run: `python -m labcluster.node.minginx -c /path/nginx.conf` (`-t` only checks the file).
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import itertools
import mimetypes
import os
import re
import secrets
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from aiohttp import ClientSession, ClientTimeout, web

from labcluster.errors import ConfigError

IGNORED = {
    "daemon", "user", "worker_processes", "pid", "error_log", "events", "worker_connections",
    "access_log", "sendfile", "keepalive_timeout", "default_type", "types", "tcp_nopush",
    "tcp_nodelay", "gzip", "gzip_types", "gzip_vary", "gzip_proxied", "gzip_min_length",
    "client_body_temp_path", "proxy_temp_path", "fastcgi_temp_path", "uwsgi_temp_path",
    "scgi_temp_path", "client_max_body_size", "error_page", "expires", "server_tokens",
    "proxy_http_version", "proxy_buffering", "charset", "log_format", "autoindex",
    "worker_rlimit_nofile", "multi_accept", "include_types", "env",
}
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailers", "transfer-encoding", "upgrade", "content-length"}


# ---------------------------------------------------------------- parsing


@dataclass
class Directive:
    name: str
    args: list[str]
    block: list[Directive] | None = None
    where: str = ""


def tokenize(text: str, origin: str):
    """nginx tokens: words, quoted strings, `;`, `{`, `}`; `#` comments to end of line."""
    i, line = 0, 1
    while i < len(text):
        ch = text[i]
        if ch == "\n":
            line += 1
            i += 1
        elif ch.isspace():
            i += 1
        elif ch == "#":
            while i < len(text) and text[i] != "\n":
                i += 1
        elif ch in ";{}":
            yield ch, f"{origin}:{line}"
            i += 1
        elif ch in "\"'":
            end = i + 1
            value = []
            while end < len(text) and text[end] != ch:
                if text[end] == "\\" and end + 1 < len(text):
                    end += 1
                value.append(text[end])
                end += 1
            if end >= len(text):
                raise ConfigError(f"unterminated string in {origin}:{line}")
            yield "".join(value), f"{origin}:{line}"
            line += text.count("\n", i, end)
            i = end + 1
        else:
            start = i
            while i < len(text) and not text[i].isspace() and text[i] not in ";{}\"'":
                i += 1
            yield text[start:i], f"{origin}:{line}"


def parse(path: Path) -> list[Directive]:
    tokens = list(tokenize(path.read_text(), str(path)))
    directives, _ = _parse_block(tokens, 0, path.parent, nested=False)
    return directives


def _parse_block(tokens, i, base: Path, nested: bool = True) -> tuple[list[Directive], int]:
    out: list[Directive] = []
    words: list[str] = []
    where = ""
    while i < len(tokens):
        token, at = tokens[i]
        where = where or at
        if token == ";":
            if words:
                if words[0] == "include":
                    for name in sorted(glob.glob(str(base / words[1]) if not
                                                 os.path.isabs(words[1]) else words[1])):
                        out.extend(parse(Path(name)))
                else:
                    out.append(Directive(words[0], words[1:], None, where))
            words, where = [], ""
        elif token == "{":
            block, i = _parse_block(tokens, i + 1, base)
            if not words:
                raise ConfigError(f'unexpected "{{" in {at}')
            out.append(Directive(words[0], words[1:], block, where))
            words, where = [], ""
        elif token == "}":
            if words or not nested:
                raise ConfigError(f'unexpected "}}" in {at}')
            return out, i
        else:
            words.append(token)
        i += 1
    if words or nested:
        last = tokens[-1][1] if tokens else "end"
        raise ConfigError(f'unexpected end of file, expecting ";" or "}}" in {last}')
    return out, i


# ---------------------------------------------------------------- model


@dataclass
class Location:
    modifier: str  # "=", "" (prefix), "^~"
    path: str
    settings: dict[str, list[list[str]]] = field(default_factory=dict)

    def get(self, name: str, server: Server) -> list[str] | None:
        values = self.settings.get(name) or server.settings.get(name) or server.http.get(name)
        return values[-1] if values else None

    def all(self, name: str, server: Server) -> list[list[str]]:
        return self.settings.get(name) or server.settings.get(name) or server.http.get(name) or []


@dataclass
class Server:
    listen: list[tuple[str, int]]
    names: list[str]
    locations: list[Location]
    settings: dict[str, list[list[str]]]
    http: dict[str, list[list[str]]]

    def match(self, uri: str) -> Location | None:
        for loc in self.locations:
            if loc.modifier == "=" and loc.path == uri:
                return loc
        best = None
        for loc in self.locations:
            if loc.modifier in ("", "^~") and uri.startswith(loc.path) and (
                best is None or len(loc.path) > len(best.path)
            ):
                best = loc
        return best


@dataclass
class Config:
    servers: list[Server]
    upstreams: dict[str, list[tuple[str, int]]]
    warnings: list[str]


def _settings(directives: list[Directive], warnings: list[str], context: str):
    settings: dict[str, list[list[str]]] = {}
    for d in directives:
        if d.block is not None:
            continue
        if d.name not in SUPPORTED and d.name not in IGNORED:
            warnings.append(f'minginx: directive "{d.name}" is not supported, ignored in {d.where}')
        settings.setdefault(d.name, []).append(d.args)
    return settings


SUPPORTED = {"listen", "server_name", "root", "index", "try_files", "return", "proxy_pass",
             "proxy_set_header", "add_header", "proxy_connect_timeout", "proxy_read_timeout",
             "proxy_send_timeout", "alias"}


def _listen(args: list[str]) -> tuple[str, int]:
    spec = args[0]
    if spec.startswith("["):
        raise ConfigError("IPv6 listen is not supported")
    host, _, port = spec.rpartition(":")
    if not port.isdigit():
        host, port = (spec, "80") if not spec.isdigit() else ("", spec)
    return (host if host not in ("", "*") else "0.0.0.0"), int(port)


def build(directives: list[Directive]) -> Config:
    warnings: list[str] = []
    http_blocks = [d for d in directives if d.name == "http" and d.block is not None]
    http_directives = http_blocks[0].block if http_blocks else directives
    http = _settings(http_directives, warnings, "http")
    upstreams: dict[str, list[tuple[str, int]]] = {}
    servers: list[Server] = []
    for d in http_directives:
        if d.name == "upstream" and d.block is not None:
            members = []
            for member in d.block:
                if member.name == "server":
                    host, _, port = member.args[0].partition(":")
                    members.append((host, int(port or 80)))
            upstreams[d.args[0]] = members
        elif d.name == "server" and d.block is not None:
            settings = _settings(d.block, warnings, "server")
            locations = []
            for loc in d.block:
                if loc.name != "location" or loc.block is None:
                    continue
                modifier, path = ("", loc.args[0]) if len(loc.args) == 1 else loc.args[:2]
                if modifier not in ("=", "^~", ""):
                    warnings.append(f"minginx: location {modifier} {path} (regex) is not"
                                    f" supported, ignored in {loc.where}")
                    continue
                locations.append(Location(modifier, path, _settings(loc.block, warnings, "loc")))
            listen = [_listen(a) for a in settings.get("listen", [])] or [("0.0.0.0", 80)]
            names = [n for a in settings.get("server_name", []) for n in a]
            servers.append(Server(listen, names, locations, settings, http))
    if not servers:
        raise ConfigError("no server block")
    return Config(servers, upstreams, warnings)


# ---------------------------------------------------------------- serving


REQUEST_ID = web.RequestKey("request_id", str)


def _request_id(request: web.Request) -> str:
    """nginx's $request_id: 16 random bytes in hex, one value per request."""
    if REQUEST_ID not in request:
        request[REQUEST_ID] = secrets.token_hex(16)
    return request[REQUEST_ID]


def _expand(value: str, request: web.Request, proxy_host: str = "") -> str:
    peer = request.remote or ""
    forwarded = request.headers.get("X-Forwarded-For")
    variables = {
        "host": request.host.split(":")[0], "http_host": request.host, "remote_addr": peer,
        "scheme": request.scheme, "request_uri": request.raw_path, "uri": request.path,
        "args": request.query_string, "request_method": request.method,
        "proxy_host": proxy_host, "server_port": str(request.url.port or ""),
        "proxy_add_x_forwarded_for": f"{forwarded}, {peer}" if forwarded else peer,
        "request_id": _request_id(request),
    }

    def sub(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name.startswith("http_"):
            return request.headers.get(name[5:].replace("_", "-"), "")
        return variables.get(name, "")

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", sub, value)


class Minginx:
    def __init__(self, config: Config) -> None:
        self.config = config
        # keyed by (host, port): two proxy_pass targets on one host are two upstreams;
        # an `upstream` block is keyed by (name, 0)
        self.resolved: dict[tuple[str, int], list[tuple[str, int]]] = {}
        self.round_robin: dict[tuple[str, int], itertools.cycle] = {}
        self.session: ClientSession | None = None

    def resolve_upstreams(self) -> None:
        """Resolve every proxy_pass host once, at start, as nginx does."""
        for server in self.config.servers:
            for loc in server.locations:
                target = loc.get("proxy_pass", server)
                if not target:
                    continue
                parts = urlsplit(target[0])
                name = parts.hostname or ""
                key = self.upstream_key(target[0])
                if name in self.config.upstreams:
                    members = self.config.upstreams[name]
                else:
                    members = [(name, parts.port or 80)]
                addresses = []
                for host, port in members:
                    try:
                        infos = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)
                    except socket.gaierror:
                        raise ConfigError(
                            f'host not found in upstream "{host}:{port}" in {loc.path}'
                        ) from None
                    addresses += [(i[4][0], port) for i in infos]
                self.resolved[key] = addresses
                self.round_robin[key] = itertools.cycle(addresses)

    def upstream_key(self, target: str) -> tuple[str, int]:
        parts = urlsplit(target)
        name = parts.hostname or ""
        return (name, 0) if name in self.config.upstreams else (name, parts.port or 80)

    def pick_server(self, request: web.Request, bound: tuple[str, int]) -> Server:
        candidates = [s for s in self.config.servers if bound in s.listen or
                      ("0.0.0.0", bound[1]) in s.listen]
        host = request.host.split(":")[0]
        for server in candidates:
            if host in server.names:
                return server
        return candidates[0] if candidates else self.config.servers[0]

    async def handle(self, request: web.Request, bound: tuple[str, int]) -> web.StreamResponse:
        server = self.pick_server(request, bound)
        response = await self.respond(request, server, request.path, depth=0)
        loc = server.match(request.path)
        for header in (loc.all("add_header", server) if loc else server.settings.get("add_header", [])):
            response.headers[header[0]] = _expand(header[1], request)
        return response

    async def respond(self, request, server: Server, uri: str, depth: int) -> web.StreamResponse:
        if depth > 10:
            return web.Response(status=500, text="rewrite or internal redirection cycle\n")
        loc = server.match(uri)
        if loc is None:
            return self.static(server, None, uri)
        ret = loc.get("return", server)
        if ret is not None:
            code = int(ret[0])
            text = _expand(ret[1], request) if len(ret) > 1 else ""
            if code in (301, 302, 303, 307, 308):
                return web.Response(status=code, headers={"Location": text})
            return web.Response(status=code, body=text.encode(), content_type="text/plain")
        proxy = loc.get("proxy_pass", server)
        if proxy is not None:
            return await self.proxy(request, server, loc, proxy[0], uri)
        tries = loc.get("try_files", server)
        if tries:
            for candidate in tries[:-1]:
                path = _expand(candidate.replace("$uri", uri), request)
                found = self.file_for(server, loc, path)
                if found is not None:
                    return self.file_response(found)
            last = tries[-1]
            if last.startswith("="):
                return web.Response(status=int(last[1:]), text="")
            return await self.respond(request, server, last.replace("$uri", uri), depth + 1)
        return self.static(server, loc, uri)

    def file_for(self, server: Server, loc: Location | None, uri: str) -> Path | None:
        root = (loc.get("root", server) if loc else None) or server.settings.get(
            "root", [["html"]])[-1]
        alias = loc.get("alias", server) if loc else None
        relative = unquote(uri)
        if alias and loc:
            base, relative = Path(alias[0]), relative[len(loc.path):]
        else:
            base = Path(root[0])
        target = (base / relative.lstrip("/")).resolve()
        if base.resolve() not in (target, *target.parents):
            return None  # ".." out of the root
        if target.is_dir():
            index = (loc.get("index", server) if loc else None) or ["index.html"]
            for name in index:
                if (target / name).is_file():
                    return target / name
            return None
        return target if target.is_file() else None

    def static(self, server: Server, loc: Location | None, uri: str) -> web.StreamResponse:
        found = self.file_for(server, loc, uri)
        if found is None:
            return web.Response(status=404, text="<h1>404 Not Found</h1>\n",
                                content_type="text/html")
        return self.file_response(found)

    @staticmethod
    def file_response(path: Path) -> web.StreamResponse:
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return web.Response(body=path.read_bytes(), content_type=kind)

    async def proxy(self, request, server, loc: Location, target: str, uri: str):
        parts = urlsplit(target)
        name = parts.hostname or ""
        ip, port = next(self.round_robin[self.upstream_key(target)])
        upstream_uri = request.raw_path
        if parts.path:  # a URI part: the matched location prefix is replaced by it
            upstream_uri = parts.path + request.raw_path[len(loc.path):]
        proxy_host = name if name in self.config.upstreams else (
            f"{name}:{parts.port}" if parts.port and parts.port != 80 else name)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Host"] = proxy_host
        for header in loc.all("proxy_set_header", server):
            headers[header[0]] = _expand(header[1], request, proxy_host)
        timeouts = {n: float(str((loc.get(f"proxy_{n}_timeout", server) or ["60"])[0]).rstrip("s"))
                    for n in ("connect", "read", "send")}
        timeout = ClientTimeout(sock_connect=timeouts["connect"], sock_read=timeouts["read"])
        assert self.session is not None
        try:
            async with self.session.request(
                request.method, f"http://{ip}:{port}{upstream_uri}", headers=headers,
                data=await request.read(), timeout=timeout, allow_redirects=False,
            ) as upstream:
                body = await upstream.read()
                out = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
                return web.Response(status=upstream.status, body=body, headers=out)
        except (TimeoutError, OSError) as exc:
            status = 504 if isinstance(exc, asyncio.TimeoutError) else 502
            print(f"minginx: upstream {name} ({ip}:{port}) failed: {exc!r}", file=sys.stderr,
                  flush=True)
            title = "Gateway Time-out" if status == 504 else "Bad Gateway"
            return web.Response(status=status, text=f"<h1>{status} {title}</h1>\n",
                                content_type="text/html")


def access_log(request: web.Request, response: web.StreamResponse, size: int) -> None:
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
    print(f'{request.remote} - - [{stamp}] "{request.method} {request.raw_path} HTTP/'
          f'{request.version.major}.{request.version.minor}" {response.status} {size} "'
          f'{request.headers.get("Referer", "-")}" "{request.headers.get("User-Agent", "-")}"',
          flush=True)


async def serve(config: Config) -> None:
    app_server = Minginx(config)
    app_server.resolve_upstreams()
    app_server.session = ClientSession(auto_decompress=False)
    runners = []
    for bound in sorted({b for s in config.servers for b in s.listen}):

        async def handler(request, bound=bound):
            response = await app_server.handle(request, bound)
            access_log(request, response, response.body_length if hasattr(
                response, "body_length") else 0)
            return response

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, bound[0], bound[1], reuse_address=True).start()
        runners.append(runner)
    print(f"minginx: listening on {', '.join(f'{h}:{p}' for h, p in sorted({b for s in config.servers for b in s.listen}))}",
          file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for runner in runners:
        await runner.cleanup()
    await app_server.session.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="minginx")
    parser.add_argument("-c", dest="conf", default="/etc/nginx/nginx.conf")
    parser.add_argument("-t", dest="test", action="store_true")
    parser.add_argument("-g", dest="globals", default="")  # accepted, like nginx's
    parser.add_argument("-p", dest="prefix")
    parser.add_argument("-e", dest="error_log")
    opts = parser.parse_args(argv)
    try:
        config = build(parse(Path(opts.conf)))
    except (ConfigError, OSError) as exc:
        print(f"minginx: [emerg] {exc}", file=sys.stderr)
        return 1
    for warning in config.warnings:
        print(warning, file=sys.stderr)
    if opts.test:
        print(f"minginx: the configuration file {opts.conf} syntax is ok", file=sys.stderr)
        return 0
    try:
        asyncio.run(serve(config))
    except ConfigError as exc:
        print(f"minginx: [emerg] {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"minginx: [emerg] bind() failed ({exc})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
