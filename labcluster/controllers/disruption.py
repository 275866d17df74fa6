"""PodDisruptionBudget status, as pkg/controller/disruption computes it.

The eviction subresource (ClusterApi.evict) only reads `status.disruptionsAllowed` and
decrements it; this controller keeps the numbers true: which pods the budget selects,
how many are healthy (Ready, not being deleted, not just evicted), how many must be, and
so how many may go. Evictions the API server approved sit in `status.disruptedPods` until
the pod is gone, or for at most two minutes (upstream's DeletionTimeout).
"""

from __future__ import annotations

import copy
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from ..api import _selects, set_pdb_condition
from ..meta import controller_of, parse_time
from .base import Controller, Key, is_pod_ready

COMPONENT = "controllermanager"  # the disruption controller's event source upstream
DELETION_TIMEOUT = timedelta(minutes=2)


class ExpectedPodsError(Exception):
    """Why the expected pod count cannot be known (a pod with no scalable controller)."""


class DisruptionController(Controller):
    name = "disruption-controller"
    primary = "poddisruptionbudgets"
    watches = ("pods",)

    def keys_for(self, res: str, etype: str, obj: dict[str, Any]) -> list[Key]:
        meta = obj["metadata"]
        if res == self.primary:
            return [(meta.get("namespace", ""), meta["name"])]
        ns = meta.get("namespace", "")
        return [(ns, p["metadata"]["name"])
                for p in self.listers.list("poddisruptionbudgets", ns)
                if _selects(p, obj)]

    async def reconcile(self, namespace: str, name: str) -> None:
        pdb = self.current(namespace, name)
        if pdb is None:
            return
        old_status = copy.deepcopy(pdb.get("status") or {})
        pods = [p for p in self.listers.list("pods", namespace) if _selects(pdb, p)]
        if not pods:
            await self.api.record_event(pdb, "NoPods", "No matching pods found", "Normal",
                                        COMPONENT)
        try:
            expected, desired = self.expected_and_desired(pdb, pods)
        except ExpectedPodsError as exc:
            await self.api.record_event(pdb, "CalculateExpectedPodCountFailed",
                                        f"Failed to calculate the number of expected pods: "
                                        f"{exc}", "Warning", COMPONENT)
            await self._fail_safe(pdb)
            return
        now = datetime.now(UTC)
        disrupted, recheck = _disrupted_pods(pods, pdb, now)
        healthy = sum(1 for p in pods if not p["metadata"].get("deletionTimestamp")
                      and p["metadata"]["name"] not in disrupted and is_pod_ready(p))
        status = pdb.setdefault("status", {})
        status.update({
            "currentHealthy": healthy, "desiredHealthy": desired, "expectedPods": expected,
            "disruptionsAllowed": max(0, healthy - desired),
            "observedGeneration": pdb["metadata"].get("generation", 1)})
        if disrupted:
            status["disruptedPods"] = disrupted
        else:
            status.pop("disruptedPods", None)
        set_pdb_condition(status, status["disruptionsAllowed"] > 0)
        if status != old_status:
            await self.api.update_status(pdb, field_manager="kube-controller-manager")
        if recheck is not None:
            self.enqueue_after((namespace, name), max(0.1, (recheck - now).total_seconds()))

    async def _fail_safe(self, pdb: dict[str, Any]) -> None:
        """failSafe: no disruptions allowed while the numbers cannot be computed."""
        status = pdb.setdefault("status", {})
        status["disruptionsAllowed"] = 0
        status["observedGeneration"] = pdb["metadata"].get("generation", 1)
        conds = [c for c in status.get("conditions") or [] if c.get("type") != "DisruptionAllowed"]
        conds.append({"type": "DisruptionAllowed", "status": "False", "reason": "SyncFailed",
                      "message": "", "observedGeneration": status["observedGeneration"],
                      "lastTransitionTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})
        status["conditions"] = conds
        await self.api.update_status(pdb, field_manager="kube-controller-manager")

    def expected_and_desired(self, pdb: dict[str, Any], pods: list[dict[str, Any]],
                             ) -> tuple[int, int]:
        """getExpectedPodCount: an integer minAvailable counts the pods there are; a
        percentage, or maxUnavailable, counts what their controllers want (scale)."""
        spec = pdb.get("spec") or {}
        low, high = spec.get("minAvailable"), spec.get("maxUnavailable")
        if high is not None:
            expected = self._expected_scale(pods)
            desired = max(0, expected - _scaled(high, expected))
        elif isinstance(low, int):
            expected, desired = len(pods), low
        elif isinstance(low, str):
            expected = self._expected_scale(pods)
            desired = _scaled(low, expected)
        else:
            expected, desired = len(pods), 0
        return expected, desired

    def _expected_scale(self, pods: list[dict[str, Any]]) -> int:
        """The sum of spec.replicas over the pods' controllers (a ReplicaSet's Deployment
        when it has one), each counted once."""
        seen: dict[str, int] = {}
        for pod in pods:
            ref = controller_of(pod)
            if ref is None:
                raise ExpectedPodsError(f'found no controller ref for pod "{pod["metadata"]["name"]}"')
            ns = pod["metadata"].get("namespace", "")
            owner = None
            if ref.get("kind") == "ReplicaSet":
                rs = self.listers.get("replicasets", ns, ref["name"])
                dref = controller_of(rs) if rs else None
                if dref and dref.get("kind") == "Deployment":
                    owner = self.listers.get("deployments", ns, dref["name"])
                else:
                    owner = rs
            elif ref.get("kind") == "StatefulSet":
                owner = self.listers.get("statefulsets", ns, ref["name"])
            if owner is None:
                raise ExpectedPodsError(f'found no controllers for pod "{pod["metadata"]["name"]}"')
            seen[owner["metadata"]["uid"]] = (owner.get("spec") or {}).get("replicas", 1)
        return sum(seen.values())


def _scaled(value: Any, total: int) -> int:
    """intstr.GetScaledValueFromIntOrPercent with roundUp=true."""
    if isinstance(value, int):
        return value
    return math.ceil(int(str(value).rstrip("%")) * total / 100)


def _disrupted_pods(pods: list[dict[str, Any]], pdb: dict[str, Any], now: datetime,
                    ) -> tuple[dict[str, str], datetime | None]:
    """buildDisruptedPodMap: evictions not yet seen through (pod still there, not deleting,
    younger than DELETION_TIMEOUT), and when the oldest of them expires."""
    listed = (pdb.get("status") or {}).get("disruptedPods") or {}
    by_name = {p["metadata"]["name"]: p for p in pods}
    out: dict[str, str] = {}
    recheck: datetime | None = None
    for name, stamp in listed.items():
        pod = by_name.get(name)
        when = parse_time(stamp)
        if pod is None or pod["metadata"].get("deletionTimestamp") or when is None:
            continue
        expires = when + DELETION_TIMEOUT
        if expires < now:
            continue
        out[name] = stamp
        recheck = expires if recheck is None or expires < recheck else recheck
    return out, recheck
