"""StatefulSet → pods `name-0…name-N-1` with stable names and their own PVCs.

OrderedReady: pod i+1 is created only when 0…i are Running and Ready, and scale-down
removes the highest ordinal first, one at a time. PVCs from volumeClaimTemplates are
named `<claim>-<sts>-<ordinal>` and stay when pods go (retention policy Retain).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from ..errors import ApiError
from .base import Controller, is_pod_ready
from .deployment import template_hash
from .replicaset import pod_from_template

COMPONENT = "statefulset-controller"
REVISION_LABEL = "controller-revision-hash"


def _ordinal(sts_name: str, pod_name: str) -> int | None:
    m = re.fullmatch(re.escape(sts_name) + r"-(\d+)", pod_name)
    return int(m.group(1)) if m else None


def _running_ready(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and is_pod_ready(pod)


class StatefulSetController(Controller):
    name = "statefulset-controller"
    primary = "statefulsets"
    owns = ("pods",)

    def revision(self, sts: dict[str, Any]) -> str:
        return f"{sts['metadata']['name']}-{template_hash(sts['spec']['template'])}"

    async def reconcile(self, namespace: str, name: str) -> None:
        sts = self.current(namespace, name)
        if sts is None or sts["metadata"].get("deletionTimestamp"):
            return
        revision = self.revision(sts)
        pods: dict[int, dict[str, Any]] = {}
        for pod in self.listers.controlled_by("pods", namespace, sts["metadata"]["uid"]):
            i = _ordinal(name, pod["metadata"]["name"])
            if i is not None:
                pods[i] = pod
        replicas = sts["spec"].get("replicas", 1)
        ordered = sts["spec"].get("podManagementPolicy", "OrderedReady") == "OrderedReady"
        # replace finished pods (a StatefulSet pod is always restarted)
        for i, pod in list(pods.items()):
            if (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded") and not pod[
                    "metadata"].get("deletionTimestamp"):
                await self._delete_pod(sts, pod)
                pods.pop(i)
        for i in range(replicas):
            pod = pods.get(i)
            if pod is None:
                await self._create_pod(sts, i, revision)
                if ordered:
                    break
                continue
            if pod["metadata"].get("deletionTimestamp"):
                if ordered:
                    break
                continue
            if ordered and not _running_ready(pod):
                break
        else:
            await self._scale_down_or_update(sts, pods, replicas, revision, ordered)
        await self._status(sts, revision)

    async def _scale_down_or_update(self, sts: dict[str, Any], pods: dict[int, dict[str, Any]],
                                    replicas: int, revision: str, ordered: bool) -> None:
        extra = sorted((i for i in pods if i >= replicas), reverse=True)
        if extra:
            if ordered and any(pods[i]["metadata"].get("deletionTimestamp") for i in extra):
                return
            lower_ok = all(_running_ready(pods[i]) for i in pods if i < replicas)
            for i in extra if not ordered else extra[:1]:
                if ordered and not lower_ok:
                    return
                if not pods[i]["metadata"].get("deletionTimestamp"):
                    await self._delete_pod(sts, pods[i])
            return
        strategy = (sts["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate")
        if strategy != "RollingUpdate":
            return
        partition = ((sts["spec"].get("updateStrategy") or {}).get("rollingUpdate") or {}).get(
            "partition", 0)
        if not all(_running_ready(p) for p in pods.values()):
            return
        for i in sorted(pods, reverse=True):
            if i < partition:
                break
            if (pods[i]["metadata"].get("labels") or {}).get(REVISION_LABEL) != revision:
                await self._delete_pod(sts, pods[i])
                return

    async def _create_pod(self, sts: dict[str, Any], i: int, revision: str) -> None:
        ns, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        pod_name = f"{name}-{i}"
        for claim in sts["spec"].get("volumeClaimTemplates") or []:
            await self._ensure_claim(sts, claim, i, pod_name)
        pod = pod_from_template(sts, sts["spec"]["template"], name=pod_name)
        labels = pod["metadata"]["labels"]
        labels[REVISION_LABEL] = revision
        labels["statefulset.kubernetes.io/pod-name"] = pod_name
        labels["apps.kubernetes.io/pod-index"] = str(i)
        spec = pod["spec"]
        spec["hostname"] = pod_name
        if sts["spec"].get("serviceName"):
            spec["subdomain"] = sts["spec"]["serviceName"]
        claims = {c["metadata"]["name"] for c in sts["spec"].get("volumeClaimTemplates") or []}
        volumes = [v for v in spec.get("volumes") or [] if v.get("name") not in claims]
        for c in sorted(claims):
            volumes.append({"name": c, "persistentVolumeClaim": {"claimName": f"{c}-{pod_name}"}})
        if volumes:
            spec["volumes"] = volumes
        try:
            await self.api.create(pod, ns, field_manager=COMPONENT)
        except ApiError as exc:
            if exc.reason == "AlreadyExists":
                return
            await self.api.record_event(
                sts, "FailedCreate", f"create Pod {pod_name} in StatefulSet {name} failed "
                f"error: {exc.message}", "Warning", COMPONENT)
            self.enqueue_after((ns, name), 5.0)
            return
        await self.api.record_event(sts, "SuccessfulCreate",
                                    f"create Pod {pod_name} in StatefulSet {name} successful",
                                    component=COMPONENT)

    async def _ensure_claim(self, sts: dict[str, Any], claim: dict[str, Any], i: int,
                            pod_name: str) -> None:
        ns, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        claim_name = f"{claim['metadata']['name']}-{pod_name}"
        if self.listers.get("persistentvolumeclaims", ns, claim_name) is not None:
            return
        labels = dict((claim.get("metadata") or {}).get("labels") or {})
        labels.update((sts["spec"].get("selector") or {}).get("matchLabels") or {})
        pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
               "metadata": {"name": claim_name, "namespace": ns, "labels": labels},
               "spec": copy.deepcopy(claim.get("spec") or {})}
        if (claim.get("metadata") or {}).get("annotations"):
            pvc["metadata"]["annotations"] = dict(claim["metadata"]["annotations"])
        try:
            await self.api.create(pvc, ns, field_manager=COMPONENT)
        except ApiError as exc:
            if exc.reason != "AlreadyExists":
                raise
            return
        await self.api.record_event(sts, "SuccessfulCreate",
                                    f"create Claim {claim_name} Pod {pod_name} in StatefulSet "
                                    f"{name} success", component=COMPONENT)

    async def _delete_pod(self, sts: dict[str, Any], pod: dict[str, Any]) -> None:
        ns, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        try:
            await self.api.delete("pods", ns, pod["metadata"]["name"])
        except ApiError as exc:
            if exc.code != 404:
                raise
        await self.api.record_event(sts, "SuccessfulDelete",
                                    f"delete Pod {pod['metadata']['name']} in StatefulSet "
                                    f"{name} successful", component=COMPONENT)

    async def _status(self, sts: dict[str, Any], revision: str) -> None:
        pods = self.listers.controlled_by("pods", sts["metadata"]["namespace"],
                                          sts["metadata"]["uid"])
        ready = sum(1 for p in pods if is_pod_ready(p))
        updated = sum(1 for p in pods
                      if (p["metadata"].get("labels") or {}).get(REVISION_LABEL) == revision)
        old = sts.get("status") or {}
        current_rev = old.get("currentRevision") or revision
        if updated == len(pods) == sts["spec"].get("replicas", 1):
            current_rev = revision
        current = sum(1 for p in pods
                      if (p["metadata"].get("labels") or {}).get(REVISION_LABEL) == current_rev)
        status: dict[str, Any] = {
            "observedGeneration": sts["metadata"].get("generation", 1),
            "replicas": len(pods), "readyReplicas": ready, "currentReplicas": current,
            "updatedReplicas": updated, "availableReplicas": ready,
            "currentRevision": current_rev, "updateRevision": revision, "collisionCount": 0,
        }
        for k in ("readyReplicas", "currentReplicas", "updatedReplicas"):
            if status[k] == 0:
                status.pop(k)
        if old == status:
            return
        sts["status"] = status
        await self.api.update_status(sts, field_manager="kube-controller-manager")
