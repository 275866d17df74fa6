"""`storefront backend|cart [--host H] [--port P]`: the image's entry point.

We bind the socket ourselves before handing it to uvicorn so that "Server listening on
port 5000" is logged only once it is true, and a port in use is one clear line.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator

import uvicorn

from storefront.config import ConfigError, Settings

DEFAULT_PORTS = {"backend": 5000, "cart": 8080}


class GracefulServer(uvicorn.Server):
    """uvicorn re-raises SIGTERM after its graceful shutdown, so the pod would end with exit
    code 143 ("Error"); after a clean shutdown we exit 0 ("Completed") as a pod should."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def configure_logging(level: str) -> None:
    logging.basicConfig(stream=sys.stdout, level=level, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="storefront", description=__doc__.splitlines()[0])
    parser.add_argument("service", choices=sorted(DEFAULT_PORTS))
    parser.add_argument("--host", default=None, help="address to bind (env HOST, default 0.0.0.0)")
    parser.add_argument("--port", default=None, help="port (env PORT; 5000 backend, 8080 cart)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    env = dict(os.environ)
    if args.host:
        env["HOST"] = args.host
    if args.port:
        env["PORT"] = args.port
    try:
        settings = Settings.from_env(env)
    except ConfigError as exc:
        print(f"storefront: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    log = logging.getLogger("storefront")
    port = settings.port or DEFAULT_PORTS[args.service]
    if args.service == "backend":
        from storefront.backend.app import create_app
    else:
        from storefront.cart.app import create_app
    app = create_app(settings)
    try:
        sock = socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((settings.host, port))
        sock.listen(2048)
    except OSError as exc:
        print(f"storefront: cannot listen on {settings.host}:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    log.info("Starting %s %s (pod %s)", args.service, _version(), settings.pod_name)
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on",
                            timeout_graceful_shutdown=20, server_header=False,
                            proxy_headers=False)
    server = GracefulServer(config)
    log.info("Server listening on port %d", port)
    # Start-up objects (modules, app, routes) never die: keep them out of the collector's
    # full passes, which otherwise show up as the p99 of the load test.
    gc.collect()
    gc.freeze()
    server.run(sockets=[sock])
    return 0


def _version() -> str:
    from storefront import __version__

    return __version__


if __name__ == "__main__":
    sys.exit(main())
