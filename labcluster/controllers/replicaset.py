"""ReplicaSet → Pods: keep `spec.replicas` active pods, report counts in status."""

from __future__ import annotations

import copy
from typing import Any

from ..errors import ApiError
from ..meta import controller_of, labels_of, now, owner_ref, parse_time
from ..selectors import labels_match, selector_from_match
from .base import Controller, is_pod_active, is_pod_ready

COMPONENT = "replicaset-controller"


def pod_from_template(owner: dict[str, Any], template: dict[str, Any], name: str | None = None,
                      generate_name: str | None = None) -> dict[str, Any]:
    tpl = copy.deepcopy(template)
    meta = tpl.get("metadata") or {}
    pod_meta: dict[str, Any] = {
        "namespace": owner["metadata"]["namespace"],
        "labels": dict(meta.get("labels") or {}),
        "ownerReferences": [owner_ref(owner)],
    }
    if meta.get("annotations"):
        pod_meta["annotations"] = dict(meta["annotations"])
    if name:
        pod_meta["name"] = name
    else:
        pod_meta["generateName"] = generate_name
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": tpl.get("spec") or {}}


def _delete_rank(pod: dict[str, Any]) -> tuple[int, int, int, int, float]:
    """Which pods go first (the real ranking, simplified): unscheduled, pending, not ready,
    most restarts, newest."""
    status = pod.get("status") or {}
    restarts = sum(c.get("restartCount", 0) for c in status.get("containerStatuses") or [])
    created = parse_time(pod["metadata"].get("creationTimestamp"))
    return (1 if pod.get("spec", {}).get("nodeName") else 0,
            {"Pending": 0, "Unknown": 1, "Running": 2}.get(status.get("phase", ""), 0),
            1 if is_pod_ready(pod) else 0, -restarts,
            -(created.timestamp() if created else 0.0))


class ReplicaSetController(Controller):
    name = "replicaset-controller"
    primary = "replicasets"
    owns = ("pods",)

    async def reconcile(self, namespace: str, name: str) -> None:
        rs = self.current(namespace, name)
        if rs is None or rs["metadata"].get("deletionTimestamp"):
            return
        uid = rs["metadata"]["uid"]
        reqs = selector_from_match(rs["spec"].get("selector")) or []
        pods = []
        for pod in self.listers.list("pods", namespace):
            ref = controller_of(pod)
            if ref is not None and ref.get("uid") == uid:
                pods.append(pod)
            elif ref is None and labels_match(reqs, labels_of(pod)) and is_pod_active(pod):
                pods.append(await self._adopt(rs, pod))
        active = [p for p in pods if is_pod_active(p)]
        want = rs["spec"].get("replicas", 1)
        failure = None
        if len(active) < want:
            for _ in range(want - len(active)):
                pod = pod_from_template(rs, rs["spec"]["template"], generate_name=f"{name}-")
                try:
                    created = await self.api.create(pod, namespace, field_manager=COMPONENT)
                except ApiError as exc:
                    failure = exc.message
                    await self.api.record_event(rs, "FailedCreate", f"Error creating: {exc.message}",
                                                "Warning", COMPONENT)
                    self.enqueue_after((namespace, name), 5.0)
                    break
                active.append(created)
                await self.api.record_event(rs, "SuccessfulCreate",
                                            f"Created pod: {created['metadata']['name']}",
                                            component=COMPONENT)
        elif len(active) > want:
            doomed = sorted(active, key=_delete_rank)[: len(active) - want]
            for pod in doomed:
                try:
                    await self.api.delete("pods", namespace, pod["metadata"]["name"])
                except ApiError as exc:
                    if exc.code != 404:
                        raise
                await self.api.record_event(rs, "SuccessfulDelete",
                                            f"Deleted pod: {pod['metadata']['name']}",
                                            component=COMPONENT)
                active.remove(pod)
        await self._status(rs, active, failure)

    async def _adopt(self, rs: dict[str, Any], pod: dict[str, Any]) -> dict[str, Any]:
        refs = list(pod["metadata"].get("ownerReferences") or []) + [owner_ref(rs)]
        return await self.api.patch("pods", pod["metadata"]["namespace"], pod["metadata"]["name"],
                                    {"metadata": {"ownerReferences": refs,
                                                  "resourceVersion": pod["metadata"]["resourceVersion"]}},
                                    "merge", field_manager=COMPONENT)

    async def _status(self, rs: dict[str, Any], active: list[dict[str, Any]],
                      failure: str | None) -> None:
        ready = sum(1 for p in active if is_pod_ready(p))
        reqs = selector_from_match(rs["spec"].get("selector")) or []
        tpl_labels = (rs["spec"]["template"].get("metadata") or {}).get("labels") or {}
        status: dict[str, Any] = {
            "replicas": len(active),
            "fullyLabeledReplicas": sum(1 for p in active if labels_match(reqs, labels_of(p))
                                        and all(labels_of(p).get(k) == v
                                                for k, v in tpl_labels.items())),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        old_conds = (rs.get("status") or {}).get("conditions") or []
        if failure:
            prev = next((c for c in old_conds if c.get("type") == "ReplicaFailure"), None)
            status["conditions"] = [{"type": "ReplicaFailure", "status": "True",
                                     "reason": "FailedCreate", "message": failure,
                                     "lastTransitionTime": prev.get("lastTransitionTime")
                                     if prev else now()}]
        for k in ("readyReplicas", "availableReplicas", "fullyLabeledReplicas"):
            if status[k] == 0:
                status.pop(k)  # omitempty, as the real status serialises
        if rs.get("status") == status:
            return
        rs["status"] = status
        await self.api.update_status(rs, field_manager="kube-controller-manager")
