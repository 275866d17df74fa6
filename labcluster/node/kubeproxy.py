"""kube-proxy as its own process: TCP listeners per Service port from a table file.

The node writes `proxy.json` (atomically, like the hosts table): a list of
`{"host", "port", "targets": [[ip, port], ...]}`. This process keeps one listener per
entry and sends each new connection to the next target (round robin). It is separate
from the API server so forwarding has its own event loop and core instead of sharing
the API server's. It exits when its parent (the server) dies; the node restarts it if it
ends on its own.

The node runs the C proxy (proxyc/labproxy.c, same behaviour, a fraction of the CPU per
connection) when it compiles, and this one otherwise or with LABCLUSTER_KUBEPROXY=python
(network.kubeproxy_command). Both tables are written on every change.

Run: python -m labcluster.node.kubeproxy TABLE
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import itertools
import json
import os
import signal
import socket
import sys
from pathlib import Path

Target = tuple[str, int]
CONNECT_TIMEOUT = 5.0  # seconds before the next endpoint is tried


def write_table(path: Path, entries: dict[tuple[str, int], list[Target]]) -> None:
    """Replace the table; the proxy sees the old or the new one, never half."""
    body = [{"host": h, "port": p, "targets": [list(t) for t in ts]}
            for (h, p), ts in sorted(entries.items())]
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(body))
    os.replace(tmp, path)


def write_services(path: Path, entries: dict[tuple[str, int], list[Target]]) -> None:
    """The same table for the shims' in-process DNAT: `ip port ep:port ...` per line.

    Only ClusterIP entries (127.x outside 127.0.x.x): NodePorts are for host clients,
    which the kube-proxy process serves.
    """
    lines = [f"{h} {p} {' '.join(f'{ip}:{port}' for ip, port in ts)}\n"
             for (h, p), ts in sorted(entries.items()) if not h.startswith("127.0.")]
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text("".join(lines))
    tmp.chmod(0o644)
    os.replace(tmp, path)


def write_proxy_text(path: Path, entries: dict[tuple[str, int], list[Target]]) -> None:
    """The table for the C proxy (proxyc/labproxy.c): `host port ip:port ...` per line.

    Every entry, NodePorts (127.0.x) included: unlike the shims' `services`, this one
    serves host clients. An entry with no targets is a line with no targets: the listener
    stays and closes each connection, as the Python proxy does.
    """
    lines = [f"{h} {p} {' '.join(f'{ip}:{port}' for ip, port in ts)}".rstrip() + "\n"
             for (h, p), ts in sorted(entries.items())]
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text("".join(lines))
    os.replace(tmp, path)


class _Splice(asyncio.Protocol):
    """One side of a proxied connection; see network.py's history for why protocols."""

    def __init__(self, peer: asyncio.Transport | None = None) -> None:
        self.peer = peer
        self.transport: asyncio.Transport | None = None
        self.buffer: list[bytes] = []
        self.eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def attach(self, peer: asyncio.Transport) -> None:
        self.peer = peer
        for chunk in self.buffer:
            peer.write(chunk)
        self.buffer.clear()
        if self.eof:
            _half_close(peer)

    def data_received(self, data: bytes) -> None:
        if self.peer is None:
            self.buffer.append(data)
        else:
            self.peer.write(data)

    def eof_received(self) -> bool:
        self.eof = True
        if self.peer is not None:
            _half_close(self.peer)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None:
            self.peer.close()

    def pause_writing(self) -> None:
        if self.peer is not None:
            self.peer.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None:
            self.peer.resume_reading()


class _Client(_Splice):
    """The accepted side: dials an endpoint as soon as the connection is made."""

    def __init__(self, proxy: Proxy, addr: tuple[str, int]) -> None:
        super().__init__()
        self.proxy, self.addr = proxy, addr

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.proxy.dial(self.addr, self)


class _Dial:
    """Try targets in order until one accepts; then splice it to `down`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, targets: list[Target],
                 down: _Splice) -> None:
        self.loop, self.targets, self.down = loop, targets, down
        self.sock: socket.socket | None = None
        self.timer: asyncio.TimerHandle | None = None

    def next(self) -> None:
        while self.targets:
            host, port = self.targets.pop(0)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            err = sock.connect_ex((host, port))
            if err == 0:
                self.done(sock)
                return
            if err == errno.EINPROGRESS:
                self.sock = sock
                self.loop.add_writer(sock.fileno(), self.writable)
                self.timer = self.loop.call_later(CONNECT_TIMEOUT, self.give_up)
                return
            sock.close()
        if self.down.transport is not None:  # no ready endpoint: the client sees the close
            self.down.transport.close()

    def writable(self) -> None:
        sock, self.sock = self.sock, None
        assert sock is not None
        self.loop.remove_writer(sock.fileno())
        if self.timer is not None:
            self.timer.cancel()
        if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
            self.done(sock)
        else:
            sock.close()
            self.next()

    def give_up(self) -> None:
        if self.sock is not None:
            self.loop.remove_writer(self.sock.fileno())
            self.sock.close()
            self.sock = None
        self.next()

    def done(self, sock: socket.socket) -> None:
        down = self.down
        if down.transport is None or down.transport.is_closing():
            sock.close()
            return
        up = _Splice(down.transport)  # type: ignore[arg-type]
        make = getattr(self.loop, "_make_socket_transport", None)
        if make is not None:  # the selector loop's own constructor: no task needed
            up.transport = make(sock, up)
            down.attach(up.transport)  # type: ignore[arg-type]
            return

        async def wrap() -> None:  # other loops: the public (coroutine) way
            transport, _ = await self.loop.create_connection(lambda: up, sock=sock)
            down.attach(transport)  # type: ignore[arg-type]

        self.loop.create_task(wrap())


def _half_close(transport: asyncio.Transport) -> None:
    if transport.can_write_eof():
        transport.write_eof()
    else:
        transport.close()


class Proxy:
    def __init__(self, table: Path) -> None:
        self.table = table
        self.stamp: tuple[int, int] | None = None
        self.targets: dict[tuple[str, int], list[Target]] = {}
        self.servers: dict[tuple[str, int], asyncio.AbstractServer] = {}
        self.rr: dict[tuple[str, int], itertools.count[int]] = {}
        self.failed: set[tuple[str, int]] = set()

    def read(self) -> bool:
        try:
            st = self.table.stat()
        except FileNotFoundError:
            return False
        stamp = (st.st_mtime_ns, st.st_ino)
        if stamp == self.stamp:
            return False
        try:
            entries = json.loads(self.table.read_text())
        except (OSError, ValueError):
            return False
        self.stamp = stamp
        self.targets = {(e["host"], int(e["port"])): [(t[0], int(t[1])) for t in e["targets"]]
                        for e in entries}
        return True

    async def sync(self) -> None:
        loop = asyncio.get_running_loop()
        for addr in list(self.servers):
            if addr not in self.targets:
                self.servers.pop(addr).close()
        for addr in self.targets:
            if addr in self.servers:
                continue
            try:
                self.servers[addr] = await loop.create_server(
                    lambda addr=addr: self.accepted(addr), addr[0], addr[1],
                    reuse_address=True, backlog=1024)
                self.failed.discard(addr)
            except OSError as exc:
                if addr not in self.failed:
                    print(f"kube-proxy: cannot listen on {addr[0]}:{addr[1]}: {exc}",
                          file=sys.stderr, flush=True)
                    self.failed.add(addr)

    def accepted(self, addr: tuple[str, int]) -> _Splice:
        self.read()  # a stat per new connection: endpoint changes apply at once
        return _Client(self, addr)

    def dial(self, addr: tuple[str, int], down: _Splice) -> None:
        """Connect to the next target without a task or a timer: a non-blocking connect
        (on loopback it mostly completes at once) and the loop's socket transport made
        directly — the per-connection cost that bounds new-connection throughput."""
        targets = self.targets.get(addr) or []
        start = next(self.rr.setdefault(addr, itertools.count()))
        order = [targets[(start + i) % len(targets)] for i in range(len(targets))]
        _Dial(asyncio.get_running_loop(), order, down).next()

    async def run(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        while not stop.is_set():
            if self.read() or self.failed:
                await self.sync()
            with contextlib.suppress(TimeoutError):  # not wait_for: on 3.11 it can swallow a cancel
                async with asyncio.timeout(0.2):
                    await stop.wait()
        for server in self.servers.values():
            server.close()


def _die_with_parent() -> None:
    """PR_SET_PDEATHSIG: SIGTERM when the server that started us goes, however it goes."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    _die_with_parent()
    if os.getppid() == 1:
        return 0
    if os.environ.get("LABCLUSTER_PROXY_UVLOOP") == "1":
        # faster, but crashed ("double free or corruption") under a new connection per
        # request in our bench: off unless asked for
        import uvloop
        uvloop.install()
    asyncio.run(Proxy(Path(args[0])).run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
