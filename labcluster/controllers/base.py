"""A controller: watches (in-process), a de-duplicating work queue, one worker, resync.

Reacting to watch events (not polling) keeps an idle cluster at ~0% CPU; the resync
every RESYNC seconds only re-checks what exists, like an informer's resync period.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..api import ClusterApi
from ..component import TaskComponent
from ..errors import ApiError

log = logging.getLogger("labcluster.controllers")
Key = tuple[str, str]  # (namespace, name)


class Controller(TaskComponent):
    name = "controller"
    primary = ""                      # resource whose objects are reconciled
    watches: tuple[str, ...] = ()     # other resources whose events map to primary keys
    resync = 30.0

    def __init__(self) -> None:
        super().__init__()
        self.api: ClusterApi
        self.queue: asyncio.Queue[Key] = asyncio.Queue()
        self.pending: set[Key] = set()
        self.idle = asyncio.Event()

    async def start(self, api: ClusterApi) -> None:
        self.api = api
        for res in (self.primary, *self.watches):
            self.spawn(lambda res=res: self._watch(res), f"{self.name}-watch-{res}")
        self.spawn(self._worker, f"{self.name}-worker")
        self.spawn(self._resync_loop, f"{self.name}-resync")

    async def _watch(self, res: str) -> None:
        while True:  # a watch that ends (cut off, expired) starts again from a fresh list
            async for etype, obj in self.api.watch(res, copies=False):
                if etype == "ERROR":
                    break
                for key in self.keys_for(res, etype, obj):
                    self.enqueue(key)
            await asyncio.sleep(0.1)

    def keys_for(self, res: str, etype: str, obj: dict[str, Any]) -> list[Key]:
        """Map an event to primary keys; default: the object itself when it is primary."""
        meta = obj["metadata"]
        if res == self.primary:
            return [(meta.get("namespace", ""), meta["name"])]
        return []

    def enqueue(self, key: Key) -> None:
        if key not in self.pending:
            self.pending.add(key)
            self.idle.clear()
            self.queue.put_nowait(key)

    def enqueue_after(self, key: Key, delay: float) -> None:
        asyncio.get_running_loop().call_later(delay, self.enqueue, key)

    async def _worker(self) -> None:
        while True:
            if self.queue.empty():
                self.idle.set()
            key = await self.queue.get()
            self.pending.discard(key)
            try:
                await self.reconcile(*key)
            except ApiError as exc:
                if exc.code in (409, 404):
                    self.enqueue_after(key, 0.05)  # raced with another writer: retry soon
                else:
                    log.warning("%s: %s/%s: %s", self.name, key[0], key[1], exc)
                    self.enqueue_after(key, 1.0)
            except Exception:
                log.exception("%s: reconcile %s/%s failed", self.name, *key)
                self.enqueue_after(key, 1.0)

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.resync)
            for obj in list(self.api.store.items(f"{self._group()}/{self.primary}")):
                meta = obj["metadata"]
                self.enqueue((meta.get("namespace", ""), meta["name"]))

    def _group(self) -> str:
        return self.api.resource(self.primary).group

    async def reconcile(self, namespace: str, name: str) -> None:
        raise NotImplementedError


def is_pod_ready(pod: dict[str, Any]) -> bool:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def is_pod_active(pod: dict[str, Any]) -> bool:
    """Counts toward replicas: not terminating and not finished."""
    return (not pod["metadata"].get("deletionTimestamp")
            and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"))
