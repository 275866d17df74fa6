"""The component interface: how controllers and the node plug into the server.

A component is set up before the HTTP routes are frozen (so it can add routes such as
pods/log and API resources to discovery), then started with the in-process ClusterApi,
and stopped in reverse order at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiohttp import web

    from .api import ClusterApi
    from .registry import Registry

log = logging.getLogger("labcluster")


@dataclass
class ServerContext:
    """What a component sees at setup time."""

    home: Path
    registry: Registry
    api: ClusterApi
    routes: list[web.AbstractRouteDef] = field(default_factory=list)
    server_url: str = ""

    def add_routes(self, routes: list[web.AbstractRouteDef]) -> None:
        """Routes are matched before the generic resource routes and need the bearer token."""
        self.routes.extend(routes)


CANCEL_WAIT = 1.0  # seconds a cancelled task gets before it is cancelled again
CANCEL_ROUNDS = 10


async def cancel_tasks(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel every task, wait until each has ended (whatever it raised), empty the list.

    Waiting matters: a task's `finally` blocks (closing sockets, stopping processes) must
    run before the caller goes on to tear down what they use. A task still running a
    second after its cancel is cancelled again: on Python 3.11 `asyncio.wait_for` can
    swallow a cancellation that arrives as its inner awaitable completes (fixed in 3.12),
    and a loop around it then runs on — a stop hung until `labcluster down` killed the
    server 40 s later. A task that outlives CANCEL_ROUNDS is logged and left.
    """
    pending = [t for t in tasks if not t.done()]
    for round_ in range(CANCEL_ROUNDS):
        if not pending:
            break
        for t in pending:
            t.cancel()
        _, still = await asyncio.wait(pending, timeout=CANCEL_WAIT)
        pending = list(still)
        if pending:
            names = ", ".join(sorted(t.get_name() for t in pending))
            if round_ + 1 < CANCEL_ROUNDS:
                log.warning("cancelled again (round %d): %s", round_ + 2, names)
            else:
                log.warning("tasks that would not end after %d cancels, left: %s",
                            CANCEL_ROUNDS, names)
    for t in tasks:  # collect what they raised, so asyncio does not warn about it
        if t.done() and not t.cancelled():
            t.exception()
    tasks.clear()


class Component:
    """Override what you need; the defaults do nothing."""

    name = "component"

    def setup(self, ctx: ServerContext) -> None:
        """Register routes / resources. Called once, before the server listens."""

    async def start(self, api: ClusterApi) -> None:
        """Start background work (tasks); must return promptly."""

    async def stop(self) -> None:
        """Stop everything started in start()."""


class TaskComponent(Component):
    """A component made of asyncio tasks that are cancelled at stop()."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[Any]] = []

    def spawn(self, coro_fn: Callable[[], Awaitable[Any]], name: str) -> None:
        async def guarded() -> None:
            while True:
                try:
                    await coro_fn()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("%s: task %s failed; restarting in 1 s", self.name, name)
                    await asyncio.sleep(1)

        self.tasks.append(asyncio.get_running_loop().create_task(guarded(), name=name))

    async def stop(self) -> None:
        await cancel_tasks(self.tasks)
