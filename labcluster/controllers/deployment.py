"""Deployment → ReplicaSets: template hashing, rolling updates, status and conditions.

The arithmetic follows pkg/controller/deployment: maxSurge rounds up, maxUnavailable
rounds down (both 0 → 1 unavailable), old ReplicaSets shrink only while the total
available stays ≥ replicas − maxUnavailable.
"""

from __future__ import annotations

import copy
import json
import math
from datetime import UTC, datetime
from typing import Any

from ..errors import ApiError
from ..meta import controller_of, now, owner_ref, parse_time
from .base import Controller

COMPONENT = "deployment-controller"
REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def template_hash(template: dict[str, Any], collision_count: int = 0) -> str:
    """Stable hash of a pod template, encoded like rand.SafeEncodeString (no vowels)."""
    tpl = _without_hash(template)
    data = json.dumps(tpl, sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += str(collision_count).encode()
    return "".join(_ALPHANUMS[b % len(_ALPHANUMS)] for b in str(fnv32a(data)).encode())


def _without_hash(template: dict[str, Any]) -> dict[str, Any]:
    tpl = copy.deepcopy(template)
    labels = (tpl.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return tpl


def resolve(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        frac = int(text[:-1]) * total / 100
        return math.ceil(frac) if round_up else math.floor(frac)
    return int(text)


def surge_unavailable(d: dict[str, Any]) -> tuple[int, int]:
    replicas = d["spec"].get("replicas", 1)
    ru = (d["spec"].get("strategy") or {}).get("rollingUpdate") or {}
    surge = resolve(ru.get("maxSurge", "25%"), replicas, True)
    unavailable = resolve(ru.get("maxUnavailable", "25%"), replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, replicas)


def _rs_replicas(rs: dict[str, Any]) -> int:
    return rs["spec"].get("replicas", 0)


def _available(rs: dict[str, Any]) -> int:
    return (rs.get("status") or {}).get("availableReplicas", 0)


def _revision(rs: dict[str, Any]) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


class DeploymentController(Controller):
    name = "deployment-controller"
    primary = "deployments"
    owns = ("replicasets",)

    async def reconcile(self, namespace: str, name: str) -> None:
        d = self.current(namespace, name)
        if d is None or d["metadata"].get("deletionTimestamp"):
            return
        rss = [copy.deepcopy(rs) for rs in self.listers.controlled_by(
            "replicasets", namespace, d["metadata"]["uid"])]
        template = d["spec"]["template"]
        new = next((rs for rs in rss if _without_hash(rs["spec"]["template"]) == _without_hash(
            template)), None)
        olds = [rs for rs in rss if rs is not new]
        created_new = False
        if new is None and not d["spec"].get("paused"):
            new = await self._create_rs(d, rss)
            created_new = True
        elif new is not None:
            want_rev = max([_revision(r) for r in olds] + [0]) + 1
            if olds and _revision(new) < want_rev and any(_rs_replicas(o) for o in olds):
                new = await self._set_revision(new, want_rev)
        if new is not None and (d["metadata"].get("annotations") or {}).get(
                REVISION) != str(_revision(new)):
            # the Deployment carries its current revision too (`kubectl rollout undo` needs it)
            d["metadata"].setdefault("annotations", {})[REVISION] = str(_revision(new))
            d = await self.api.update(d, field_manager="kube-controller-manager")
        if not d["spec"].get("paused") and new is not None:
            strategy = (d["spec"].get("strategy") or {}).get("type", "RollingUpdate")
            if strategy == "Recreate":
                await self._recreate(d, new, olds)
            else:
                await self._rolling(d, new, olds)
            await self._cleanup(d, olds)
        await self._status(d, new, olds, created_new)

    async def _create_rs(self, d: dict[str, Any], rss: list[dict[str, Any]]) -> dict[str, Any]:
        ns, name = d["metadata"]["namespace"], d["metadata"]["name"]
        collisions = (d.get("status") or {}).get("collisionCount", 0)
        h = template_hash(d["spec"]["template"], collisions)
        tpl = copy.deepcopy(d["spec"]["template"])
        tpl.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = h
        selector = copy.deepcopy(d["spec"]["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = h
        surge, _ = surge_unavailable(d)
        replicas = d["spec"].get("replicas", 1)
        strategy = (d["spec"].get("strategy") or {}).get("type", "RollingUpdate")
        current = sum(_rs_replicas(r) for r in rss)
        if strategy == "Recreate" and current:
            start = 0
        elif not rss or current == 0:
            start = replicas
        else:
            start = max(0, min(replicas, replicas + surge - current))
        revision = max([_revision(r) for r in rss] + [0]) + 1
        rs = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {
                "name": f"{name}-{h}", "namespace": ns,
                "labels": dict(tpl["metadata"]["labels"]),
                "annotations": {REVISION: str(revision),
                                "deployment.kubernetes.io/desired-replicas": str(replicas),
                                "deployment.kubernetes.io/max-replicas": str(replicas + surge)},
                "ownerReferences": [owner_ref(d)],
            },
            "spec": {"replicas": start, "selector": selector, "template": tpl,
                     **({"minReadySeconds": d["spec"]["minReadySeconds"]}
                        if d["spec"].get("minReadySeconds") else {})},
        }
        try:
            created = await self.api.create(rs, ns, field_manager="kube-controller-manager")
        except ApiError as exc:
            if exc.reason == "AlreadyExists":
                # a hash collision with a ReplicaSet that is not ours: bump collisionCount
                d.setdefault("status", {})["collisionCount"] = collisions + 1
                await self.api.update_status(d, field_manager="kube-controller-manager")
            raise
        if start:
            await self.api.record_event(d, "ScalingReplicaSet",
                                        f"Scaled up replica set {created['metadata']['name']} "
                                        f"from 0 to {start}", component=COMPONENT)
        return created

    async def _set_revision(self, rs: dict[str, Any], revision: int) -> dict[str, Any]:
        rs["metadata"].setdefault("annotations", {})[REVISION] = str(revision)
        return await self.api.update(rs, field_manager="kube-controller-manager")

    async def _scale(self, d: dict[str, Any], rs: dict[str, Any], to: int) -> dict[str, Any]:
        frm = _rs_replicas(rs)
        if frm == to:
            return rs
        rs["spec"]["replicas"] = to
        ann = rs["metadata"].setdefault("annotations", {})
        surge, _ = surge_unavailable(d)
        ann["deployment.kubernetes.io/desired-replicas"] = str(d["spec"].get("replicas", 1))
        ann["deployment.kubernetes.io/max-replicas"] = str(d["spec"].get("replicas", 1) + surge)
        updated = await self.api.update(rs, field_manager="kube-controller-manager")
        rs.clear()
        rs.update(updated)  # callers keep using this dict: keep it current
        direction = "up" if to > frm else "down"
        await self.api.record_event(d, "ScalingReplicaSet",
                                    f"Scaled {direction} replica set {rs['metadata']['name']} "
                                    f"from {frm} to {to}", component=COMPONENT)
        return updated

    async def _recreate(self, d: dict[str, Any], new: dict[str, Any],
                        olds: list[dict[str, Any]]) -> None:
        for rs in olds:
            if _rs_replicas(rs):
                await self._scale(d, rs, 0)
        ns = d["metadata"]["namespace"]
        old_uids = {o["metadata"]["uid"] for o in olds}
        if any((controller_of(p) or {}).get("uid") in old_uids
               for p in self.listers.list("pods", ns)):
            return  # wait until every old pod is gone
        await self._scale(d, new, d["spec"].get("replicas", 1))

    async def _rolling(self, d: dict[str, Any], new: dict[str, Any],
                       olds: list[dict[str, Any]]) -> None:
        replicas = d["spec"].get("replicas", 1)
        surge, unavailable = surge_unavailable(d)
        # 1. the new ReplicaSet grows within replicas + maxSurge
        if _rs_replicas(new) > replicas:
            await self._scale(d, new, replicas)
            return
        if _rs_replicas(new) < replicas:
            total = _rs_replicas(new) + sum(_rs_replicas(o) for o in olds)
            room = replicas + surge - total
            if room > 0:
                await self._scale(d, new, min(replicas, _rs_replicas(new) + room))
                return
        # 2. old ReplicaSets shrink while availability stays above the minimum
        active_olds = sorted((o for o in olds if _rs_replicas(o)),
                             key=lambda o: o["metadata"].get("creationTimestamp", ""))
        if not active_olds:
            return
        all_pods = _rs_replicas(new) + sum(_rs_replicas(o) for o in active_olds)
        min_available = replicas - unavailable
        new_unavailable = max(0, _rs_replicas(new) - _available(new))
        budget = all_pods - min_available - new_unavailable
        if budget <= 0:
            return
        # first the old pods that are not available anyway
        for rs in active_olds:
            if budget <= 0:
                break
            unhealthy = _rs_replicas(rs) - _available(rs)
            cut = min(unhealthy, budget)
            if cut > 0:
                await self._scale(d, rs, _rs_replicas(rs) - cut)
                budget -= cut
        active_olds = [o for o in active_olds if _rs_replicas(o)]
        available = _available(new) + sum(min(_available(o), _rs_replicas(o)) for o in active_olds)
        can_remove = available - min_available
        for rs in active_olds:
            if can_remove <= 0:
                break
            cut = min(_rs_replicas(rs), can_remove)
            await self._scale(d, rs, _rs_replicas(rs) - cut)
            can_remove -= cut

    async def _cleanup(self, d: dict[str, Any], olds: list[dict[str, Any]]) -> None:
        limit = d["spec"].get("revisionHistoryLimit", 10)
        idle = sorted((o for o in olds if _rs_replicas(o) == 0
                       and not (o.get("status") or {}).get("replicas")),
                      key=_revision)
        for rs in idle[: max(0, len(idle) - limit)]:
            try:
                await self.api.delete("replicasets", rs["metadata"]["namespace"],
                                      rs["metadata"]["name"])
            except ApiError as exc:
                if exc.code != 404:
                    raise

    async def _status(self, d: dict[str, Any], new: dict[str, Any] | None,
                      olds: list[dict[str, Any]], created_new: bool) -> None:
        ns = d["metadata"]["namespace"]
        # read the ReplicaSets again: scaling above changed them
        rss = self.listers.controlled_by("replicasets", ns, d["metadata"]["uid"])
        new_name = new["metadata"]["name"] if new else None
        cur_new = next((rs for rs in rss if rs["metadata"]["name"] == new_name), None)
        replicas = d["spec"].get("replicas", 1)
        _, unavailable = surge_unavailable(d)
        total = sum((rs.get("status") or {}).get("replicas", 0) for rs in rss)
        ready = sum((rs.get("status") or {}).get("readyReplicas", 0) for rs in rss)
        available = sum(_available(rs) for rs in rss)
        updated = (cur_new.get("status") or {}).get("replicas", 0) if cur_new else 0
        old_total = total - updated
        status: dict[str, Any] = {
            "observedGeneration": d["metadata"].get("generation", 1),
            "replicas": total, "updatedReplicas": updated, "readyReplicas": ready,
            "availableReplicas": available,
            # upstream: desired replicas of all ReplicaSets minus the available ones
            "unavailableReplicas": max(0, sum(_rs_replicas(rs) for rs in rss) - available),
        }
        if (d.get("status") or {}).get("collisionCount"):
            status["collisionCount"] = d["status"]["collisionCount"]
        old_status = d.get("status") or {}
        conds = {c["type"]: c for c in old_status.get("conditions") or []}
        stamp = now()

        def cond(ctype: str, value: str, reason: str, message: str, progress: bool) -> None:
            prev = conds.get(ctype)
            same = prev and prev.get("status") == value and prev.get("reason") == reason
            conds[ctype] = {
                "type": ctype, "status": value,
                "lastUpdateTime": prev["lastUpdateTime"] if same and not progress and prev else stamp,
                "lastTransitionTime": (prev.get("lastTransitionTime")
                                       if prev and prev.get("status") == value else stamp),
                "reason": reason, "message": message,
            }

        if available >= replicas - unavailable:
            cond("Available", "True", "MinimumReplicasAvailable",
                 "Deployment has minimum availability.", False)
        else:
            cond("Available", "False", "MinimumReplicasUnavailable",
                 "Deployment does not have minimum availability.", False)
        deadline = d["spec"].get("progressDeadlineSeconds", 600)
        complete = (cur_new is not None and updated == replicas and available == replicas
                    and old_total == 0 and total == replicas)
        counts_changed = any(old_status.get(k, 0) != status.get(k, 0) for k in
                             ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas"))
        rs_name = new_name or ""
        prev_p = conds.get("Progressing")
        if d["spec"].get("paused"):
            cond("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", False)
        elif complete:
            cond("Progressing", "True", "NewReplicaSetAvailable",
                 f'ReplicaSet "{rs_name}" has successfully progressed.', counts_changed)
        elif created_new:
            cond("Progressing", "True", "NewReplicaSetCreated",
                 f'Created new replica set "{rs_name}"', True)
        elif counts_changed or prev_p is None or prev_p.get("reason") in (
                "NewReplicaSetAvailable", "DeploymentPaused", "DeploymentResumed") or (
                prev_p.get("message") and rs_name not in prev_p["message"]):
            cond("Progressing", "True", "ReplicaSetUpdated",
                 f'ReplicaSet "{rs_name}" is progressing.', True)
        elif prev_p.get("reason") in ("ReplicaSetUpdated", "NewReplicaSetCreated"):
            last = parse_time(prev_p.get("lastUpdateTime"))
            if last is not None and (datetime.now(UTC) - last).total_seconds() > deadline:
                cond("Progressing", "False", "ProgressDeadlineExceeded",
                     f'ReplicaSet "{rs_name}" has timed out progressing.', True)
            elif last is not None:
                left = deadline - (datetime.now(UTC) - last).total_seconds()
                self.enqueue_after((ns, d["metadata"]["name"]), max(1.0, left + 0.5))
        status["conditions"] = [conds[t] for t in ("Available", "Progressing", "ReplicaFailure")
                                if t in conds]
        for k in ("readyReplicas", "availableReplicas", "unavailableReplicas", "updatedReplicas",
                  "replicas"):
            if status.get(k) == 0:
                status.pop(k)  # omitempty
        if _strip_times(old_status) == _strip_times(status):
            return
        d["status"] = status
        await self.api.update_status(d, field_manager="kube-controller-manager")


def _strip_times(status: dict[str, Any]) -> dict[str, Any]:
    out = dict(status)
    out["conditions"] = [{k: v for k, v in c.items() if k not in ("lastUpdateTime",
                                                                  "lastTransitionTime")}
                         for c in status.get("conditions") or []]
    return out
