"""Run the real Debian nginx with storefront/web/nginx.conf, rewritten for loopback.

The server block is the one the cluster gets; only four things change, each by an exact
replacement that must match once (so an edit to nginx.conf that moves them fails loudly):
listen 80 -> 127.0.0.1:<free port>, the root -> the site folder, and the two Service URLs
-> 127.0.0.1:<port> of whatever plays that Service in the test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from procs import stop_process
from web_helpers import NGINX_CONF, SITE, free_port

MIME_TYPES = Path("/etc/nginx/mime.types")


def nginx_binary() -> str | None:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    return found if found and MIME_TYPES.is_file() else None


def rewrite_conf(text: str, *, port: int, root: Path, backend: str, cart: str) -> str:
    """The server block with loopback addresses in place of cluster ones."""
    swaps = {
        "listen 80;": f"listen 127.0.0.1:{port};",
        "root /usr/share/nginx/html;": f"root {root};",
        "proxy_pass http://cart-service:8080;": f"proxy_pass http://{cart};",
        "proxy_pass http://ecommerce-backend:5000;": f"proxy_pass http://{backend};",
    }
    for old, new in swaps.items():
        assert text.count(old) == 1, f"nginx.conf should contain {old!r} exactly once"
        text = text.replace(old, new)
    return text


class NginxProcess:
    """nginx as a non-daemon child with its pid, logs and temp files in its own folder."""

    def __init__(self, workdir: Path, *, backend: str, cart: str, root: Path = SITE) -> None:
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed")
        self.binary = binary
        self.dir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        server = rewrite_conf(NGINX_CONF.read_text(), port=self.port, root=root, backend=backend, cart=cart)
        (workdir / "default.conf").write_text(server)
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (workdir / sub).mkdir(exist_ok=True)
        # As root, workers would switch to "nobody", who cannot read a private pytest tmp
        # dir; the test's nginx listens on loopback only, so workers may stay root.
        user = "user root root;\n" if os.geteuid() == 0 else ""
        (workdir / "nginx.conf").write_text(
            f"{user}worker_processes 1;\ndaemon off;\npid {workdir}/nginx.pid;\n"
            f"error_log {workdir}/error.log info;\nevents {{ worker_connections 256; }}\n"
            f"http {{\n  include {MIME_TYPES};\n  default_type application/octet-stream;\n"
            f"  access_log {workdir}/access.log;\n"
            f"  client_body_temp_path {workdir}/body;\n  proxy_temp_path {workdir}/proxy;\n"
            f"  fastcgi_temp_path {workdir}/fastcgi;\n  uwsgi_temp_path {workdir}/uwsgi;\n"
            f"  scgi_temp_path {workdir}/scgi;\n  include {workdir}/default.conf;\n}}\n"
        )
        self.proc: subprocess.Popen | None = None

    def log_tail(self) -> str:
        log = self.dir / "error.log"
        return "\n".join(log.read_text().splitlines()[-20:]) if log.exists() else ""

    def start(self, timeout: float = 10.0) -> NginxProcess:
        cmd = [self.binary, "-p", str(self.dir), "-e", str(self.dir / "error.log"),
               "-c", str(self.dir / "nginx.conf")]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"nginx exited {self.proc.returncode}: {err}\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nginx did not answer within {timeout}s\n{self.log_tail()}")

    def stop(self) -> None:
        stop_process(self.proc)  # SIGTERM: fast shutdown of master and workers


class StandInUpstream:
    """Plays a Service for nginx tests (NOT the storefront): echoes what reached it as JSON
    and answers with the X-Served-By header a real pod sets."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.pod = f"stand-in-{name}-pod"
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                payload = json.dumps({
                    "upstream": outer.name, "method": self.command, "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body,
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("X-Served-By", outer.pod)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args) -> None:  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StandInUpstream:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
