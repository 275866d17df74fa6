"""`storefront backend|cart [--host H] [--port P]`: the image's entry point.

It binds and listens first, before it imports uvicorn and the app (about a CPU-second, so
one to several seconds at the pod's CPU limit): a startup probe that connects meanwhile is
not refused but waits in the listen backlog and gets its answer as soon as the app serves,
so the probe needs no fixed `initialDelaySeconds` (manifests/README.md, "Probes"). A port
in use is one clear line, and "Server listening on port 5000" is logged once the app is
loaded.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys

from storefront.config import ConfigError, Settings

DEFAULT_PORTS = {"backend": 5000, "cart": 8080}


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
    try:
        sock = socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((settings.host, port))
        sock.listen(2048)
    except OSError as exc:
        print(f"storefront: cannot listen on {settings.host}:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    log.info("Starting %s %s (pod %s)", args.service, _version(), settings.pod_name)
    if args.service == "backend":
        from storefront.backend.app import create_app
    else:
        from storefront.cart.app import create_app
    from storefront.serving import serve

    app = create_app(settings)
    log.info("Server listening on port %d", port)
    serve(app, sock)
    return 0


def _version() -> str:
    from storefront import __version__

    return __version__


if __name__ == "__main__":
    sys.exit(main())
