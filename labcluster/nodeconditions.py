"""What the kubelet and the node lifecycle controller share about a Node: the Lease's
namespace and the conditions' heartbeat, and how a node is marked Unknown.

Why a module of its own: the node (labcluster/node/heartbeat.py) heartbeats and, at
shutdown, marks its conditions Unknown exactly as the controller
(labcluster/controllers/nodelifecycle.py) does after the grace period; both import this
lower module so the node never imports a controller.
"""

from __future__ import annotations

from typing import Any

from labcluster.api import ClusterApi
from labcluster.meta import now

LEASE_NAMESPACE = "kube-node-lease"
UNKNOWN_REASON = "NodeStatusUnknown"
UNKNOWN_MESSAGE = "Kubelet stopped posting node status."


def heartbeat_conditions(node: dict[str, Any], status: str | None, message: str | None,
                         reason: str | None = None) -> None:
    """Heartbeat every condition; with `status`, also move them all there."""
    stamp = now()
    for c in (node.get("status") or {}).get("conditions") or []:
        if status is not None and c.get("status") != status:
            c["status"] = status
            c["lastTransitionTime"] = stamp
            c["reason"] = reason or c.get("reason")
            c["message"] = message
        if status != "Unknown":
            c["lastHeartbeatTime"] = stamp


async def mark_unknown(api: ClusterApi, node: str) -> None:
    """Every condition Unknown with the controller's reason (the kubelet is gone)."""
    obj = await api.get("nodes", None, node)
    heartbeat_conditions(obj, "Unknown", UNKNOWN_MESSAGE, UNKNOWN_REASON)
    obj["metadata"].pop("resourceVersion", None)
    await api.update_status(obj, field_manager="node-controller")
