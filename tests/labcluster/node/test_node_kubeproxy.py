"""The kube-proxy process on its own, both implementations (C proxyc/labproxy.c and the
Python kubeproxy.py): round robin, failover past a dead endpoint, close when there is
none, a table change applied to the next connection, half-close, large transfers both
ways, many connections at once, listeners that come and go without dropping an open
connection, and the process ending with its parent."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
from node_helpers import address_server

from labcluster.node import proxyc
from labcluster.node.kubeproxy import write_proxy_text, write_table
from labcluster.node.loopback import IPAllocator
from labcluster.node.network import kubeproxy_command, text_table

Addr = tuple[str, int]


class Tables:
    """Both tables the node writes, so either implementation sees the change."""

    def __init__(self, json_table: Path) -> None:
        self.json = json_table

    def write(self, entries: dict[Addr, list[Addr]]) -> None:
        write_table(self.json, entries)
        write_proxy_text(text_table(self.json), entries)


@pytest.fixture(params=["c", "python"])
def impl(request: pytest.FixtureRequest) -> str:
    if request.param == "c" and proxyc.build() is None:
        pytest.skip("no C compiler (cc/gcc): the node runs the Python kube-proxy")
    return request.param


@pytest.fixture
def proxy(tmp_path: Path, impl: str) -> Iterator[Tables]:
    tables = Tables(tmp_path / "proxy.json")
    tables.write({})
    chosen, args, executable = kubeproxy_command(tables.json, impl)
    assert chosen == impl
    p = subprocess.Popen(args, executable=executable)
    yield tables
    p.terminate()
    p.wait(10)


def _ask(addr: Addr) -> str:
    with socket.create_connection(addr, timeout=5) as s:
        return s.recv(64).decode()


def _listening(addr: Addr) -> bool:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(addr, timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def _refused(addr: Addr) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            socket.create_connection(addr, timeout=1).close()
            time.sleep(0.05)
        except ConnectionRefusedError:
            return True
    return False


class EchoServer:
    """Echoes every byte back; on the client's FIN it sends a trailer and its own FIN, so
    a half-closed client still gets the answer (and knows the FIN got through)."""

    def __init__(self, ip: str) -> None:
        self.srv = socket.create_server((ip, 0), backlog=512)
        self.addr: Addr = self.srv.getsockname()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(65536):
                    conn.sendall(data)
                conn.sendall(b"<eof seen>")
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self) -> None:
        self.srv.close()


def _recv_all(s: socket.socket) -> bytes:
    chunks = []
    while chunk := s.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_proxy_spreads_fails_over_and_follows_the_table(proxy: Tables,
                                                        allocator: IPAllocator) -> None:
    servers = [address_server(allocator.allocate()) for _ in range(2)]
    eps = [srv.getsockname() for srv in servers]
    dead = (allocator.allocate(), 9)  # nothing listens there
    svc, empty = (allocator.allocate(), 18080), (allocator.allocate(), 18080)
    proxy.write({svc: [dead, *eps], empty: []})
    assert _listening(svc) and _listening(empty)
    answers = [_ask(svc) for _ in range(6)]
    assert set(answers) == {eps[0][0], eps[1][0]}  # both, never the dead one
    with socket.create_connection(empty, timeout=5) as s:
        assert s.recv(64) == b""  # no endpoint: closed at once
    proxy.write({svc: [eps[1]], empty: []})
    time.sleep(0.05)
    assert {_ask(svc) for _ in range(4)} == {eps[1][0]}
    for srv in servers:
        srv.close()


def _echo_service(proxy: Tables, allocator: IPAllocator) -> tuple[EchoServer, Addr]:
    """An echo endpoint behind a Service address the proxy already listens on."""
    echo = EchoServer(allocator.allocate())
    svc = (allocator.allocate(), 18080)
    proxy.write({svc: [echo.addr]})
    assert _listening(svc)
    return echo, svc


def test_round_robin_takes_turns(proxy: Tables, allocator: IPAllocator) -> None:
    servers = [address_server(allocator.allocate()) for _ in range(3)]
    svc = (allocator.allocate(), 18080)
    proxy.write({svc: [srv.getsockname() for srv in servers]})
    assert _listening(svc)
    answers = [_ask(svc) for _ in range(6)]
    assert answers[:3] == answers[3:] and len(set(answers[:3])) == 3  # strict turns
    for srv in servers:
        srv.close()


def test_half_close_and_8_mib_both_ways(proxy: Tables, allocator: IPAllocator) -> None:
    echo, svc = _echo_service(proxy, allocator)
    payload = os.urandom(8 << 20)
    with socket.create_connection(svc, timeout=20) as s:
        # the echo is read while we send: the proxy must not deadlock on full buffers
        got: list[bytes] = []
        reader = threading.Thread(target=lambda: got.append(_recv_all(s)))
        reader.start()
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)  # half-close: the answer must still come back
        reader.join(30)
    assert not reader.is_alive()
    assert got[0].endswith(b"<eof seen>")
    assert hashlib.sha256(got[0][:-10]).digest() == hashlib.sha256(payload).digest()
    echo.close()


def test_backpressure_a_slow_reader_gets_everything(proxy: Tables,
                                                    allocator: IPAllocator) -> None:
    echo, svc = _echo_service(proxy, allocator)
    payload = os.urandom(4 << 20)
    with socket.create_connection(svc, timeout=20) as s:
        sender = threading.Thread(target=lambda: (s.sendall(payload), s.shutdown(socket.SHUT_WR)))
        sender.start()
        time.sleep(1.0)  # nothing read yet: every buffer on the way fills up
        data = _recv_all(s)
        sender.join(10)
    assert data == payload + b"<eof seen>"
    echo.close()


def test_many_concurrent_connections(proxy: Tables, allocator: IPAllocator) -> None:
    echo, svc = _echo_service(proxy, allocator)
    socks = [socket.create_connection(svc, timeout=10) for _ in range(300)]  # all open
    try:
        for i, s in enumerate(socks):
            s.sendall(f"hello {i}".encode())
            s.shutdown(socket.SHUT_WR)

        def read(i: int) -> bool:
            return _recv_all(socks[i]) == f"hello {i}<eof seen>".encode()

        with ThreadPoolExecutor(16) as pool:
            assert all(pool.map(read, range(len(socks))))
    finally:
        for s in socks:
            s.close()
        echo.close()


def test_table_change_keeps_open_connections(proxy: Tables, allocator: IPAllocator) -> None:
    echo = EchoServer(allocator.allocate())
    old, new = (allocator.allocate(), 18080), (allocator.allocate(), 18081)
    proxy.write({old: [echo.addr]})
    assert _listening(old)
    with socket.create_connection(old, timeout=5) as s:
        s.sendall(b"before")
        assert s.recv(64) == b"before"
        proxy.write({new: [echo.addr]})  # the old listener goes, a new one comes
        assert _listening(new)
        assert _refused(old)
        s.sendall(b"after")
        assert s.recv(64) == b"after"  # the established connection lives on
        s.shutdown(socket.SHUT_WR)
        assert _recv_all(s) == b"<eof seen>"
    echo.close()


def test_a_refused_endpoint_then_none_left_closes_the_client(proxy: Tables,
                                                             allocator: IPAllocator) -> None:
    svc = (allocator.allocate(), 18080)
    proxy.write({svc: [(allocator.allocate(), 9), (allocator.allocate(), 9)]})
    assert _listening(svc)
    with socket.create_connection(svc, timeout=5) as s:
        s.sendall(b"anyone?")
        with contextlib.suppress(ConnectionResetError):  # closed with data unread: a reset
            assert s.recv(64) == b""


PARENT = """
import subprocess, sys, time
p = subprocess.Popen(sys.argv[2:], executable=sys.argv[1])
print(p.pid, flush=True)
time.sleep(120)
"""


def test_proxy_dies_with_its_parent(tmp_path: Path, impl: str) -> None:
    tables = Tables(tmp_path / "proxy.json")
    tables.write({})
    _, args, executable = kubeproxy_command(tables.json, impl)
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(PARENT), executable, *args],
                              stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = psutil.Process(int(parent.stdout.readline()))
    try:
        # found by name, either one; /proc/<pid>/cmdline can read empty for a moment while
        # a loaded machine finishes the exec (seen twice in CI): read until it is there
        deadline = time.monotonic() + 5
        while not child.cmdline() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "labcluster.node.kubeproxy" in child.cmdline()
        time.sleep(0.5)  # past its start-up checks
        assert child.is_running() and child.status() != psutil.STATUS_ZOMBIE
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while child.is_running() and child.status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "kube-proxy outlived its parent"
            time.sleep(0.05)
    finally:
        if child.is_running():
            child.kill()


def test_mode_selection(tmp_path: Path) -> None:
    table = tmp_path / "proxy.json"
    impl, args, _ = kubeproxy_command(table, "python")
    assert impl == "python" and args[1:] == ["-m", "labcluster.node.kubeproxy", str(table)]
    if proxyc.build() is not None:
        impl, args, executable = kubeproxy_command(table, "auto")
        assert impl == "c" and args[1:] == [str(text_table(table)), str(table)]
        assert Path(executable).is_file()
    with pytest.raises(ValueError, match="LABCLUSTER_KUBEPROXY"):
        kubeproxy_command(table, "rust")
