"""The order objects are applied in: what others refer to first, so that no pod starts
before its ConfigMap exists or waits on a claim that is not there yet."""

from __future__ import annotations

from typing import Any

#: kind -> rank; kinds not listed go after workloads (rank 5), in their input order.
APPLY_RANK = {
    "Namespace": 0,
    "ServiceAccount": 1, "ConfigMap": 1, "Secret": 1,
    "PersistentVolumeClaim": 2,
    "Service": 3,
    "Deployment": 4, "StatefulSet": 4, "DaemonSet": 4, "ReplicaSet": 4, "Pod": 4, "Job": 4,
}  # fmt: skip


def apply_order(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Namespaces → ConfigMaps/Secrets → PVCs → Services → workloads → the rest (stable)."""
    return sorted(objects, key=lambda o: APPLY_RANK.get(o["kind"], 5))


def delete_order(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The reverse of :func:`apply_order`: workloads go before what they use."""
    return list(reversed(apply_order(objects)))
