"""The load generator: HTTP/1.1 keep-alive over raw asyncio streams, standard library only.

Standard library only because the same file runs in three places: in a subprocess of the
notebook (``python -m labhelpers.loadtest.generator``), and as ``python -c <this source>``
inside a ``storefront:<version>`` pod for in-cluster runs, whose image has the storefront's
dependencies but not aiohttp or numpy. Raw streams rather than aiohttp: measured in
bench/loadtest_bench.py, they give more requests/s per CPU second here.

Two models:
- closed (``rate=None``, like hey/ab): ``concurrency`` connections, each sends its next
  request when the previous answer is in. A slow server slows the generator down, so a stall
  shows up as *fewer requests*, not as high latencies (coordinated omission).
- open (``rate=R``, like wrk2): request i is due at ``t0 + i/R`` whatever happened before;
  a connection that is free at that time sends it, and its latency is counted from the
  *intended* time, so time spent waiting for a connection (because the server stalled)
  is in the latency. The service time (from the actual send) is kept too.

Bounded: it stops at ``requests``, at ``duration`` and, whatever else happens, at a hard
deadline (duration or an estimate, plus one request timeout).

Output (one JSON document): per request the intended/sent/done times in µs from t0, the
status (0 = error), an error index and the value of one chosen response header; plus the
generator's own CPU time, so the caller can tell when the generator was the bottleneck.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import ssl
import sys
import time
import zlib
from typing import Any
from urllib.parse import urlsplit

CHUNK_MARK = "LOADTEST-RESULT"
CHUNK_SIZE = 6000  # characters of base64 per log line (kubelet/containerd split long lines)


class Recorder:
    """Every request as parallel int lists (compact to ship as JSON)."""

    def __init__(self) -> None:
        self.intended: list[int] = []
        self.sent: list[int] = []
        self.done: list[int] = []
        self.status: list[int] = []
        self.error: list[int] = []     # index into errors (-1: none)
        self.header: list[int] = []    # index into header_values (-1: absent)
        self.errors: list[str] = []
        self.header_values: list[str] = []
        self._error_ix: dict[str, int] = {}
        self._header_ix: dict[str, int] = {}

    def add(self, intended: float, sent: float, done: float, status: int,
            error: str | None, header: str | None) -> None:
        self.intended.append(round(intended * 1e6))
        self.sent.append(round(sent * 1e6))
        self.done.append(round(done * 1e6))
        self.status.append(status)
        self.error.append(-1 if error is None else self._index(error, self.errors,
                                                               self._error_ix))
        self.header.append(-1 if header is None else self._index(header, self.header_values,
                                                                 self._header_ix))

    @staticmethod
    def _index(value: str, values: list[str], ix: dict[str, int]) -> int:
        if value not in ix:
            ix[value] = len(values)
            values.append(value)
        return ix[value]


class Connection:
    """One keep-alive HTTP/1.1 connection; reconnects after an error or ``Connection: close``."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> None:
        self.host, self.port, self.tls = host, port, tls
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, raw: bytes, header: bytes | None, head_only: bool
                      ) -> tuple[int, str | None]:
        """Send one request; (status, value of ``header``).

        A keep-alive connection the server closed while it was idle (a pod shutting down
        closes its idle connections) fails the next request before any byte of an answer:
        like Go's net/http (hey), curl and browsers, that request is sent once more on a
        new connection — RFC 9112 §9.3.1 allows it for idempotent methods (GET, HEAD, the
        only ones retried). A failure on a fresh connection is never retried."""
        reused = self.writer is not None
        try:
            return await self._request(raw, header, head_only)
        except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError) as exc:
            partial = getattr(exc, "partial", b"")
            if not reused or partial or not raw.startswith((b"GET ", b"HEAD ")):
                raise
            self.close()
            return await self._request(raw, header, head_only)

    async def _request(self, raw: bytes, header: bytes | None, head_only: bool
                       ) -> tuple[int, str | None]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(
                self.host, self.port, ssl=self.tls,
                server_hostname=self.host if self.tls else None)
        reader, writer = self.reader, self.writer
        writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, chunked, close, value = None, False, False, None
        for line in head.split(b"\r\n")[1:]:
            name, _, val = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(val)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in val.lower()
            elif name == b"connection":
                close = b"close" in val.lower()
            elif header is not None and name == header:
                value = val.strip().decode("latin-1")
        if head_only or status in (204, 304) or 100 <= status < 200:
            pass
        elif chunked:
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await reader.readexactly(size + 2)
                if size == 0:
                    break
        elif length is not None:
            await reader.readexactly(length)
        else:
            await reader.read()  # body until EOF
            close = True
        if close:
            self.close()
        return status, value


def _error_name(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, asyncio.IncompleteReadError):
        return "connection closed by server"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return type(exc).__name__


def build_request(url: str, method: str, headers: dict[str, str]
                  ) -> tuple[str, int, bytes, bool]:
    """(host, port, the request's bytes, TLS?) for an http:// or https:// URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"only http:// and https:// URLs are supported (got {url!r})")
    tls = parts.scheme == "https"
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if tls else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    hdrs = {"Host": parts.netloc, "User-Agent": "labhelpers-loadtest/1", "Accept": "*/*",
            **headers}
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
    return host, port, (head + "\r\n").encode("latin-1"), tls


def tls_context(cfg: dict[str, Any]) -> ssl.SSLContext:
    """Verified like any HTTPS client (the system's CAs, or ``ca_file``); ``verify_tls``
    False accepts any certificate (a lab's self-signed one) — the handshake still costs
    what it costs, so the numbers stay honest."""
    ctx = ssl.create_default_context(cafile=cfg.get("ca_file"))
    if cfg.get("verify_tls") is False:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def generate(cfg: dict[str, Any]) -> dict[str, Any]:
    """Run one load test described by ``cfg`` (see ``run_config``) and return its record."""
    urls = cfg["urls"]
    method = cfg.get("method", "GET")
    requests_ = [build_request(u, method, cfg.get("headers") or {}) for u in urls]
    host, port, _, tls = requests_[0]
    if any((h, p, t) != (host, port, tls) for h, p, _, t in requests_):
        raise ValueError("all URLs of one run must share scheme, host and port")
    raws = [r[2] for r in requests_]
    context = tls_context(cfg) if tls else None
    header = cfg.get("header")
    header_b = header.lower().encode() if header else None
    head_only = method == "HEAD"
    concurrency = int(cfg["concurrency"])
    rate = cfg.get("rate")
    limit = cfg.get("requests")
    duration = cfg.get("duration")
    timeout = float(cfg.get("timeout", 10.0))
    deadline_s = float(cfg["deadline"])
    rec = Recorder()
    clock = time.perf_counter
    next_i = 0
    cpu0 = os.times()
    t0 = clock() + 0.005
    t0_epoch = time.time() + (t0 - clock())  # t0 on the wall clock: events elsewhere line up
    stop_at = t0 + (duration if duration else deadline_s)
    hard_stop = t0 + deadline_s
    stopped_by = "requests"

    def take() -> int | None:
        nonlocal next_i, stopped_by
        if limit is not None and next_i >= limit:
            return None
        now = clock()
        due = t0 + next_i / rate if rate else now
        if due >= stop_at or now >= hard_stop:
            stopped_by = "duration" if duration and due >= stop_at else "deadline"
            return None
        i = next_i
        next_i += 1
        return i

    async def worker() -> None:
        conn = Connection(host, port, context)
        await asyncio.sleep(max(t0 - clock(), 0))  # every offset from t0 is >= 0
        try:
            while (i := take()) is not None:
                raw = raws[i % len(raws)]
                if rate:
                    intended = t0 + i / rate
                    wait = intended - clock()
                    if wait > 0:
                        await asyncio.sleep(wait)
                sent = clock()
                if not rate:
                    intended = sent
                status, error, value = 0, None, None
                try:
                    async with asyncio.timeout(min(timeout, max(hard_stop - sent, 0.001))):
                        status, value = await conn.request(raw, header_b, head_only)
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                        ValueError, TimeoutError) as exc:
                    error = _error_name(exc)
                    conn.close()
                rec.add(intended - t0, sent - t0, clock() - t0, status, error, value)
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = clock() - t0
    cpu1 = os.times()
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    return {
        "config": {k: v for k, v in cfg.items() if k != "headers"},
        "wall_s": wall, "cpu_s": cpu, "stopped_by": stopped_by, "t0_epoch": t0_epoch,
        "python": sys.version.split()[0], "pid": os.getpid(),
        "intended_us": rec.intended, "sent_us": rec.sent, "done_us": rec.done,
        "status": rec.status, "error": rec.error, "header": rec.header,
        "errors": rec.errors, "header_values": rec.header_values,
    }


def run_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """``cfg``: urls (list, one http host:port), method, headers, header (one response header
    to record), concurrency, rate (req/s or None), requests, duration (s), timeout (s per
    request), deadline (s: the hard stop)."""
    return asyncio.run(generate(cfg))


def to_chunks(record: dict[str, Any]) -> list[str]:
    """The record as log lines ``LOADTEST-RESULT i/n <base64 zlib json>``: short lines that
    survive a container runtime's log line splitting."""
    blob = base64.b64encode(zlib.compress(json.dumps(record).encode(), 6)).decode()
    parts = [blob[i:i + CHUNK_SIZE] for i in range(0, len(blob), CHUNK_SIZE)] or [""]
    return [f"{CHUNK_MARK} {i + 1}/{len(parts)} {p}" for i, p in enumerate(parts)]


def from_chunks(text: str) -> dict[str, Any]:
    """Inverse of ``to_chunks`` over a whole log (other lines are ignored)."""
    parts: dict[int, str] = {}
    total = None
    for line in text.splitlines():
        idx = line.find(CHUNK_MARK + " ")
        if idx < 0:
            continue
        fields = line[idx:].split(" ")
        num, _, count = fields[1].partition("/")
        parts[int(num)] = fields[2] if len(fields) > 2 else ""
        total = int(count)
    if total is None or len(parts) != total:
        raise ValueError(f"incomplete load-test result in the log: {len(parts)} of "
                         f"{total or '?'} parts")
    blob = "".join(parts[i] for i in range(1, total + 1))
    return json.loads(zlib.decompress(base64.b64decode(blob)))


def main(argv: list[str]) -> int:
    """``generator.py CONFIG_JSON [--chunks]``: the record on stdout, as one JSON line or
    (``--chunks``, for pod logs) as LOADTEST-RESULT lines."""
    cfg = json.loads(argv[0])
    record = run_config(cfg)
    if "--chunks" in argv[1:]:
        for line in to_chunks(record):
            print(line, flush=True)
    else:
        sys.stdout.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
