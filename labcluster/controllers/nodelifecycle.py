"""The node lifecycle controller: a node whose kubelet stopped heartbeating (no Lease
renewal and no status update for the grace period, 40 s as kube-controller-manager's
--node-monitor-grace-period) gets every condition `Unknown`: `kubectl get nodes` says
NotReady. It covers a crashed node component and a server started with
LABCLUSTER_NODE=0 over a home whose Node was once Ready.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from ..meta import parse_time
from ..nodeconditions import LEASE_NAMESPACE, mark_unknown
from .base import Controller


def grace_seconds() -> float:
    return float(os.environ.get("LABCLUSTER_NODE_MONITOR_GRACE_SECONDS", "40"))


class NodeLifecycleController(Controller):
    name = "node-lifecycle"
    primary = "nodes"
    watches = ("leases",)
    resync = 5.0

    def keys_for(self, res: str, etype: str, obj: dict) -> list[tuple[str, str]]:
        meta = obj["metadata"]
        if res == "leases":
            return [("", meta["name"])] if meta.get("namespace") == LEASE_NAMESPACE else []
        return [("", meta["name"])]

    def last_heartbeat(self, node: dict) -> datetime | None:
        stamps = [parse_time(c.get("lastHeartbeatTime"))
                  for c in (node.get("status") or {}).get("conditions") or []
                  if c.get("type") == "Ready"]
        lease = self.listers.get("leases", LEASE_NAMESPACE, node["metadata"]["name"])
        if lease is not None:
            stamps.append(parse_time((lease.get("spec") or {}).get("renewTime")))
        known = [s for s in stamps if s is not None]
        return max(known) if known else None

    async def reconcile(self, namespace: str, name: str) -> None:
        node = self.listers.get("nodes", "", name)
        if node is None:
            return
        conds = (node.get("status") or {}).get("conditions") or []
        ready = next((c for c in conds if c.get("type") == "Ready"), None)
        if ready is None or ready.get("status") == "Unknown":
            return
        last = self.last_heartbeat(node)
        if last is None:
            return
        age = (datetime.now(UTC) - last).total_seconds()
        if age > grace_seconds():
            await mark_unknown(self.api, name)
        else:
            self.enqueue_after(("", name), grace_seconds() - age + 0.5)
