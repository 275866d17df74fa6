"""A controller: watches (in-process), a de-duplicating work queue, one worker, resync.

Shaped like sample-controller: event handlers turn watch events into keys of the primary
resource (`keys_for`: the object itself, or for an object it `owns` the owner named by its
controller reference — `owner_key`, one mapping for every workload controller); a worker
takes keys off the queue and calls `reconcile(namespace, name)`, which reads the primary
object with `current()` (a private copy, or None once it is gone: nothing left to do) and
everything else through `self.listers` (labcluster/listers.py), never the store's keys.

Reacting to watch events (not polling) keeps an idle cluster at ~0% CPU; the resync
every RESYNC seconds only re-checks what exists, like an informer's resync period.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from typing import Any

from ..api import ClusterApi
from ..component import TaskComponent
from ..errors import ApiError
from ..listers import Listers
from ..meta import controller_of

log = logging.getLogger("labcluster.controllers")
Key = tuple[str, str]  # (namespace, name)


class Controller(TaskComponent):
    name = "controller"
    primary = ""                      # resource whose objects are reconciled
    owns: tuple[str, ...] = ()        # resources a primary object controls (controller
                                      # reference): their events map to their owner's key
    watches: tuple[str, ...] = ()     # other resources whose events keys_for maps
    resync = 30.0

    def __init__(self) -> None:
        super().__init__()
        self.api: ClusterApi
        self.listers: Listers
        self._owner_kind = ("", "")   # the primary's (group, kind), set at start
        self.queue: asyncio.Queue[Key] = asyncio.Queue()
        self.pending: set[Key] = set()
        self.idle = asyncio.Event()

    async def start(self, api: ClusterApi) -> None:
        self.api = api
        self.listers = api.listers
        r = api.resource(self.primary)
        self._owner_kind = (r.group, r.kind)
        for res in (self.primary, *self.owns, *self.watches):
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
        """Map an event to primary keys; default: the object itself when it is primary,
        its controlling owner when it is one of `owns`."""
        meta = obj["metadata"]
        if res == self.primary:
            return [(meta.get("namespace", ""), meta["name"])]
        if res in self.owns:
            key = self.owner_key(obj)
            return [key] if key is not None else []
        return []

    def owner_key(self, obj: dict[str, Any]) -> Key | None:
        """The key of the primary object that controls `obj`, as upstream's
        resolveControllerRef: the controller reference names the primary's kind (and
        group), and an object of that name exists with that uid. None otherwise (an
        orphan, another controller's object, or an owner already gone)."""
        ref = controller_of(obj)
        if ref is None or ref.get("kind") != self._owner_kind[1]:
            return None
        group = ref.get("apiVersion", "").rpartition("/")[0]
        if group != self._owner_kind[0]:
            return None
        ns = obj["metadata"].get("namespace", "")
        owner = self.listers.get(self.primary, ns, ref.get("name", ""))
        if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
            return None
        return (ns, owner["metadata"]["name"])

    def current(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The primary object as a private copy to change and write back, or None when it
        is gone — the read-or-gone every reconcile starts with (sample-controller's
        "no longer exists, stop processing")."""
        obj = self.listers.get(self.primary, namespace, name)
        return copy.deepcopy(obj) if obj is not None else None

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
            for obj in self.listers.list(self.primary):
                meta = obj["metadata"]
                self.enqueue((meta.get("namespace", ""), meta["name"]))

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
