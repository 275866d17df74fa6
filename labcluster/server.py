"""The server process: store + ClusterApi + HTTP + components, until SIGTERM.

Started detached by `labcluster up` as `python -m labcluster serve --home DIR`. It holds an
exclusive lock on the state dir (one cluster per dir), writes the kubeconfig only once it
listens, and is ready (/readyz) before the slow schema import happens in the background.
"""

from __future__ import annotations

import asyncio
import fcntl
import importlib
import importlib.util
import logging
import os
import secrets
import signal
import socket
import time
from pathlib import Path

from aiohttp import web

from . import home as homedir
from . import rbac, satokens, tls, validation
from .api import ClusterApi
from .authz import ReviewRoutes
from .component import Component, ServerContext
from .httpapi import HttpApi, make_auth_middleware
from .kubeconfig import read_kubeconfig, write_kubeconfig
from .store import Store

log = logging.getLogger("labcluster")
SLOW_STOP = 2.0  # seconds: a component's stop taking longer is logged
# Seconds a stopping server gives requests still in flight (ours answer in milliseconds);
# long-running streams are cut after it rather than waited for.
SHUTDOWN_GRACE = 3.0


def _free_port(preferred: int | None) -> int:
    """Reuse the previous port when free, so a learner's KUBECONFIG stays valid."""
    if preferred:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                pass
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_components(home: Path) -> list[Component]:
    """The controllers, plus the node when `labcluster.node.component` provides one."""
    from .controllers import controller_components

    comps: list[Component] = list(controller_components())
    if os.environ.get("LABCLUSTER_NODE", "1") not in ("0", "off", "false") and \
            importlib.util.find_spec("labcluster.node.component") is not None:
        # present but broken must fail loudly, so no ImportError is swallowed here
        node_component = importlib.import_module("labcluster.node.component")
        comps.append(node_component.create(home))
    return comps


class Server:
    def __init__(self, home: Path, components: list[Component] | None = None,
                 port: int | None = None):
        self.home = home
        self.components = components
        self.port = port
        self.runner: web.AppRunner | None = None
        self.api: ClusterApi | None = None
        self.store: Store | None = None
        self._lock_fd: int | None = None
        self.started: list[Component] = []

    async def start(self) -> None:
        homedir.make_private(self.home)
        self._lock_fd = os.open(self.home / "server.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another labcluster already serves {self.home}") from None
        previous = read_kubeconfig(self.home / "kubeconfig")
        token = previous.token if previous else secrets.token_urlsafe(32)
        port = self.port or _free_port(previous.port if previous else None)
        homedir.create_private_file(self.home / "store.sqlite")  # -wal/-shm get its mode
        self.store = Store(self.home / "store.sqlite")
        self.api = api = ClusterApi(self.store)
        await api.bootstrap()
        await rbac.ensure_bootstrap(api)
        issuer = satokens.TokenIssuer(self.home)
        api.token_issuer = issuer
        authorizer = rbac.RBACAuthorizer(api.store.items)
        server_url = f"https://127.0.0.1:{port}"
        service_ip = api.apiserver_service_ip()
        ssl_ctx = tls.server_context(self.home, (service_ip,) if service_ip else ())
        await api.publish_root_ca((self.home / "ca.crt").read_text())
        await api.publish_apiserver_endpoints("127.0.0.1", port)
        comps = self.components if self.components is not None else default_components(self.home)
        ctx = ServerContext(self.home, api.registry, api, server_url=server_url)
        for c in comps:
            c.setup(ctx)
        http = HttpApi(api, f"127.0.0.1:{port}")
        gate = make_auth_middleware(
            token, lambda given: issuer.authenticate(given, api.store.peek), authorizer)
        app = web.Application(middlewares=[gate],
                              client_max_size=16 * 2**20)
        app.add_routes(ctx.routes)
        app.add_routes(ReviewRoutes(authorizer).routes())
        app.add_routes(satokens.TokenRoutes(issuer, api.store.peek).routes())
        app.add_routes(http.routes())
        self.runner = web.AppRunner(app, handler_cancellation=True, access_log=None,
                                    # then streams (exec, logs -f, port-forward) are cut,
                                    # as a stopping apiserver does; watches end first
                                    shutdown_timeout=SHUTDOWN_GRACE)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port, reuse_address=True,
                           ssl_context=ssl_ctx)
        await site.start()
        write_kubeconfig(self.home / "kubeconfig", server_url, token,
                         (self.home / "ca.crt").read_bytes())
        homedir.create_private_file(self.home / "server.pid")
        (self.home / "server.pid").write_text(f"{os.getpid()}\n")
        for c in comps:
            await c.start(api)
            self.started.append(c)
        http.ready = True
        validation.warm_up()
        log.info("labcluster ready at %s (home %s)", server_url, self.home)

    async def stop(self) -> None:
        for c in reversed(self.started):
            began = time.monotonic()
            try:
                await c.stop()
            except Exception:
                log.exception("stopping %s", getattr(c, "name", c))
            took = time.monotonic() - began
            if took > SLOW_STOP:  # says which part a slow `labcluster down` waited on
                log.info("stopping %s took %.1f s", getattr(c, "name", c), took)
        self.started.clear()
        if self.api is not None:
            self.api.end_watches()
        if self.runner is not None:
            await self.runner.cleanup()
        if self.store is not None:
            self.store.close()
        pid_file = self.home / "server.pid"
        try:
            if pid_file.read_text().strip() == str(os.getpid()):
                pid_file.unlink()
        except FileNotFoundError:
            pass
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


async def serve(home: Path, components: list[Component] | None = None) -> None:
    server = Server(home, components)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    try:
        await stop.wait()
    finally:
        log.info("labcluster stopping")
        await server.stop()


def main_serve(home: Path) -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(home))
