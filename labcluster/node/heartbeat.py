"""The kubelet's heartbeats: the node's Lease in `kube-node-lease` and the Ready
condition's `lastHeartbeatTime`, renewed every HEARTBEAT seconds; and the last word at
shutdown (conditions Unknown, as the node lifecycle controller would set them later).

The node lifecycle controller (labcluster/controllers/nodelifecycle.py) reads both to
mark a node whose kubelet went quiet (crashed, or a server started without its node)
NotReady after the grace period, as kube-controller-manager does.
"""

from __future__ import annotations

import os
from typing import Any

from labcluster.api import ClusterApi
from labcluster.errors import ApiError
from labcluster.meta import now, now_micro
from labcluster.nodeconditions import (
    LEASE_NAMESPACE,
    heartbeat_conditions,
    mark_unknown,
)

__all__ = ["LEASE_NAMESPACE", "heartbeat_seconds", "mark_unknown", "post_status", "renew_lease"]

LEASE_DURATION = 40  # seconds, the kubelet's default (nodeLeaseDurationSeconds)


def heartbeat_seconds() -> float:
    """The kubelet renews its Lease every 10 s (a quarter of the lease duration)."""
    return float(os.environ.get("LABCLUSTER_NODE_HEARTBEAT_SECONDS", "10"))


async def renew_lease(api: ClusterApi, node: str) -> dict[str, Any]:
    """Create or renew the node's Lease (holder = the node, renewTime = now)."""
    stamp = now_micro()
    try:
        lease = await api.get("leases", LEASE_NAMESPACE, node)
    except ApiError as exc:
        if exc.code != 404:
            raise
        node_obj = api.listers.get("nodes", "", node) or {}
        owner = [{"apiVersion": "v1", "kind": "Node", "name": node,
                  "uid": node_obj["metadata"]["uid"]}] if node_obj else []
        return await api.create({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": node, "namespace": LEASE_NAMESPACE,
                         "ownerReferences": owner},
            "spec": {"holderIdentity": node, "leaseDurationSeconds": LEASE_DURATION,
                     "renewTime": stamp}}, _trusted=True, field_manager="kubelet")
    lease["spec"]["renewTime"] = stamp
    lease["spec"]["holderIdentity"] = node
    lease["metadata"].pop("resourceVersion", None)
    return await api.update(lease, field_manager="kubelet")


async def post_status(api: ClusterApi, node: str) -> None:
    """The kubelet's status heartbeat: Ready (again) with a fresh lastHeartbeatTime."""
    obj = await api.get("nodes", None, node)
    ready = next((c for c in (obj.get("status") or {}).get("conditions") or []
                  if c.get("type") == "Ready"), None)
    if ready is not None and ready.get("status") != "True":
        ready.update(status="True", reason="KubeletReady",
                     message="kubelet is posting ready status", lastTransitionTime=now())
    heartbeat_conditions(obj, None, None)
    obj["metadata"].pop("resourceVersion", None)
    await api.update_status(obj, field_manager="kubelet")
