"""Garbage collection through ownerReferences, and namespace deletion.

GC: an object whose owners are all gone is deleted (background); dangling references are
dropped; `foregroundDeletion` owners wait until their dependents are gone; `orphan` owners
first release their dependents. Namespaces: Terminating → everything inside is deleted →
the namespace goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from ..api import ClusterApi
from ..component import TaskComponent
from ..errors import ApiError
from ..meta import parse_time

log = logging.getLogger("labcluster.gc")
EVENT_TTL = float(os.environ.get("LABCLUSTER_EVENT_TTL", "3600"))


class GarbageCollector(TaskComponent):
    name = "garbage-collector"
    period = 20.0

    async def start(self, api: ClusterApi) -> None:
        self.api = api
        self._last_expiry = 0.0
        self.wake = asyncio.Event()
        self.wake.set()
        for r in api.registry.resources:
            if r.stored and not r.storage_version:
                self.spawn(lambda r=r: self._watch(r.plural if not r.group else r.qualified),
                           f"gc-watch-{r.qualified}")
        self.spawn(self._loop, "gc-sweep")

    async def _watch(self, res: str) -> None:
        while True:  # restart a watch that ended (see Controller._watch)
            async for etype, obj in self.api.watch(res, copies=False):
                meta = obj.get("metadata") or {}
                if etype in ("DELETED", "ERROR") or (
                        meta.get("deletionTimestamp") and meta.get("finalizers")) or (
                        etype == "ADDED" and meta.get("ownerReferences")):
                    self.wake.set()
                if etype == "ERROR":
                    break
            await asyncio.sleep(0.1)

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):  # not wait_for: on 3.11 it can swallow a cancel
                async with asyncio.timeout(self.period):
                    await self.wake.wait()
            self.wake.clear()
            await asyncio.sleep(0.05)  # let a burst of deletions settle into one sweep
            try:
                await self.sweep()
                await self.expire_events()
            except Exception:
                log.exception("gc sweep failed")
                await asyncio.sleep(1)

    async def expire_events(self) -> None:
        """Events live an hour (the API server's --event-ttl), so a long lab stays small."""
        now = time.monotonic()
        if now - self._last_expiry < 30:
            return
        self._last_expiry = now
        cutoff = datetime.now(UTC) - timedelta(seconds=EVENT_TTL)
        for ev in self.api.listers.list("events"):
            stamp = parse_time(ev.get("lastTimestamp") or ev["metadata"].get("creationTimestamp"))
            if stamp is not None and stamp < cutoff:
                with contextlib.suppress(ApiError):
                    await self.api.delete("events", ev["metadata"]["namespace"],
                                          ev["metadata"]["name"])
        live = {(e["metadata"]["namespace"], e["metadata"]["name"])
                for e in self.api.listers.list("events")}
        for key, name in list(self.api.event_index.items()):
            if (key[0], name) not in live:
                del self.api.event_index[key]

    def _objects(self) -> list[tuple[Any, dict[str, Any]]]:
        out = []
        for r in self.api.registry.resources:
            if r.stored and not r.storage_version:
                out.extend((r, o) for o in self.api.listers.list(r))
        return out

    async def sweep(self) -> None:
        objs = self._objects()
        live = {o["metadata"]["uid"]: (r, o) for r, o in objs}
        dependents: dict[str, list[tuple[Any, dict[str, Any]]]] = {}
        for r, o in objs:
            for ref in o["metadata"].get("ownerReferences") or []:
                dependents.setdefault(ref.get("uid"), []).append((r, o))
        again = False
        for r, o in objs:
            meta = o["metadata"]
            refs = meta.get("ownerReferences") or []
            if refs and not meta.get("deletionTimestamp"):
                alive = [ref for ref in refs if ref.get("uid") in live]
                if not alive:
                    await self._delete(r, o, "Background")
                    again = True
                elif len(alive) < len(refs):
                    await self._set_refs(r, o, alive)
            finalizers = meta.get("finalizers") or []
            if meta.get("deletionTimestamp") and "orphan" in finalizers:
                for dr, d in dependents.get(meta["uid"], []):
                    keep = [ref for ref in d["metadata"].get("ownerReferences") or []
                            if ref.get("uid") != meta["uid"]]
                    await self._set_refs(dr, d, keep)
                await self._drop_finalizer(r, o, "orphan")
                again = True
            elif meta.get("deletionTimestamp") and "foregroundDeletion" in finalizers:
                deps = [(dr, d) for dr, d in dependents.get(meta["uid"], [])
                        if d["metadata"]["uid"] in live]
                if not deps:
                    await self._drop_finalizer(r, o, "foregroundDeletion")
                    again = True
                for dr, d in deps:
                    if not d["metadata"].get("deletionTimestamp"):
                        leaf = dr.plural in ("pods", "endpointslices", "persistentvolumeclaims")
                        await self._delete(dr, d, "Background" if leaf else "Foreground")
        if again:
            self.wake.set()

    async def _delete(self, r: Any, o: dict[str, Any], policy: str) -> None:
        meta = o["metadata"]
        try:
            await self.api.delete(r, meta.get("namespace"), meta["name"],
                                  propagation_policy=policy,
                                  preconditions={"uid": meta["uid"]})
        except ApiError as exc:
            if exc.code not in (404, 409):
                raise

    async def _set_refs(self, r: Any, o: dict[str, Any], refs: list[dict[str, Any]]) -> None:
        meta = o["metadata"]
        try:
            await self.api.patch(r, meta.get("namespace"), meta["name"],
                                 {"metadata": {"ownerReferences": refs or None,
                                               "uid": meta["uid"]}},
                                 "merge", field_manager="garbage-collector")
        except ApiError as exc:
            if exc.code not in (404, 409):
                raise

    async def _drop_finalizer(self, r: Any, o: dict[str, Any], name: str) -> None:
        meta = o["metadata"]
        try:
            current = await self.api.get(r, meta.get("namespace"), meta["name"])
            current["metadata"]["finalizers"] = [
                f for f in current["metadata"].get("finalizers") or [] if f != name]
            await self.api.update(current, resource=r, field_manager="garbage-collector")
        except ApiError as exc:
            if exc.code not in (404, 409):
                raise


class NamespaceController(TaskComponent):
    name = "namespace-controller"

    async def start(self, api: ClusterApi) -> None:
        self.api = api
        self.active: set[str] = set()
        self.spawn(self._watch, "namespace-watch")

    async def _watch(self) -> None:
        while True:  # restart a watch that ended (see Controller._watch)
            async for etype, ns in self.api.watch("namespaces", copies=False):
                if etype == "ERROR":
                    break
                name, uid = ns["metadata"]["name"], ns["metadata"]["uid"]
                if ns["metadata"].get("deletionTimestamp") and uid not in self.active:
                    self.active.add(uid)
                    self.spawn(lambda name=name, uid=uid: self._finalize(name, uid),
                               f"namespace-delete-{name}")
            await asyncio.sleep(0.1)

    # A real namespace controller reacts after its informers catch up (about a second):
    # `kubectl delete -f lab/` deletes the namespace first and the rest after it.
    delay = 1.0

    def _ours(self, name: str, uid: str) -> bool:
        """The namespace being deleted is still this object, not a new one of that name.

        A stale event can start a pass after the old namespace is gone and a new one was
        created (`kubectl delete ns x; kubectl create ns x`): as the real controller, act
        only on the uid it started with, or it would delete the new namespace.
        """
        current = self.api.listers.get("namespaces", "", name)
        return current is not None and current["metadata"].get("uid") == uid

    async def _finalize(self, name: str, uid: str) -> None:
        try:
            await asyncio.sleep(self.delay)
            while True:
                if not self._ours(name, uid):
                    return
                left = 0
                for r in self.api.registry.resources:
                    if not r.stored or not r.namespaced or r.storage_version:
                        continue
                    for o in self.api.listers.list(r, name):
                        left += 1
                        if o["metadata"].get("deletionTimestamp"):
                            continue
                        if not self._ours(name, uid):
                            return
                        try:
                            await self.api.delete(r, name, o["metadata"]["name"],
                                                  propagation_policy="Background",
                                                  preconditions={"uid": o["metadata"]["uid"]})
                        except ApiError as exc:
                            if exc.code not in (404, 409):
                                raise
                if left == 0:
                    break
                await asyncio.sleep(0.2)
            if self._ours(name, uid):
                await self.api.purge("namespaces", None, name, uid=uid)
        finally:
            self.active.discard(uid)
