"""uvicorn, run on a socket the entry point already bound (storefront/cli.py).

Kept apart from cli.py so that the entry point can listen before it imports uvicorn and
the app: a probe that connects meanwhile waits in the listen backlog for its answer.
"""

from __future__ import annotations

import contextlib
import gc
import signal
import socket
import threading
from collections.abc import Iterator
from typing import Any

import uvicorn


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


def serve(app: Any, sock: socket.socket) -> None:
    """Serve ``app`` on ``sock`` until SIGTERM/SIGINT, then shut down gracefully."""
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on",
                            timeout_graceful_shutdown=20, server_header=False,
                            proxy_headers=False)
    server = GracefulServer(config)
    # Start-up objects (modules, app, routes) never die: keep them out of the collector's
    # full passes, which otherwise show up as the p99 of the load test.
    gc.collect()
    gc.freeze()
    server.run(sockets=[sock])
