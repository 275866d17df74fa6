"""Small helpers the node tests share (not fixtures: plain functions)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import urllib.request
from pathlib import Path

# A storefront-like server: binds 0.0.0.0:<port> as apps in pods do, answers its pod name.
SERVER = """
import http.server, json, os, sys
port = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        status = 404 if "missing" in self.path else 200
        body = json.dumps({"pod": os.environ["HOSTNAME"], "path": self.path}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, fmt, *args):
        print("GET", self.path, flush=True)
print("listening", port, flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
"""


def wait_port(host: str, port: int, timeout: float = 15.0, proc=None) -> None:
    """Wait until host:port accepts; with `proc` (a ContainerProcess), fail fast with its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.termination is not None:
            log = (proc.log_dir / "current.log").read_text()
            raise AssertionError(f"container ended {proc.termination} before {host}:{port}:\n{log}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.03)
    raise AssertionError(f"nothing listens on {host}:{port} after {timeout}s")


def wait_text(path: Path, text: str, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = path.read_text() if path.exists() else ""
        if text in content:
            return content
        time.sleep(0.03)
    raise AssertionError(f"{text!r} not in {path}: {path.read_text() if path.exists() else ''!r}")


def get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


class _AddressServer(socket.socket):
    """A listening socket whose close() also stops its accept thread.

    A plain close() left the thread able to call accept() on the old descriptor number
    after the next test's server had reused it — the old server then answered the new
    test's connections with the old address. shutdown() wakes the accept, join() waits.
    """

    thread: threading.Thread | None = None

    def close(self) -> None:
        if self.thread is not None and self.fileno() != -1:
            with contextlib.suppress(OSError):
                self.shutdown(socket.SHUT_RDWR)
            self.thread.join(timeout=5)
        super().close()


def address_server(ip: str) -> socket.socket:
    """A TCP server on `ip` (free port) that tells each client its own address, then
    closes: which endpoint a proxied or rewritten connection reached. Close it to stop."""
    srv = _AddressServer()
    srv.bind((ip, 0))
    srv.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.sendall(ip.encode())

    srv.thread = threading.Thread(target=serve, daemon=True)
    srv.thread.start()
    return srv
