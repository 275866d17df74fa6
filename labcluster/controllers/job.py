"""Job → pods run to completion (kube-controller-manager's job controller, NonIndexed).

Keeps `parallelism` pods active until `completions` pods succeeded; counts failures
against `backoffLimit` (restartPolicy Never: each Failed pod; OnFailure: the kubelet
restarts containers in place, so the restarts of active pods count, as upstream's
pastBackoffLimitOnFailure); `activeDeadlineSeconds` ends the Job; a failed Job's active
pods are deleted first and the terminal condition waits until they are gone (1.32 with
JobPodReplacementPolicy: `FailureTarget` → `Failed`, `SuccessCriteriaMet` → `Complete`).
`ttlSecondsAfterFinished` is the ttl-after-finished controller's part: the finished Job
is deleted with Foreground propagation, so the garbage collector removes its pods first.

Simplifications (documented in labcluster/README.md): no `batch.kubernetes.io/job-tracking`
pod finalizer — `succeeded`/`failed` count the finished pods that exist and never go
down, as upstream did before JobTrackingWithFinalizers; Indexed jobs get no completion
indexes; no podFailurePolicy/successPolicy/backoffLimitPerIndex.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Any

from ..errors import ApiError
from ..meta import now, parse_time
from .base import Controller, is_pod_ready
from .replicaset import pod_from_template

COMPONENT = "job-controller"
# Upstream: 10 s, doubled per failure, capped at 6 min. Tests shorten the base.
BACKOFF_BASE = float(os.environ.get("LABCLUSTER_JOB_BACKOFF_SECONDS", "10"))
BACKOFF_MAX = 360.0

BACKOFF_MESSAGE = "Job has reached the specified backoff limit"
DEADLINE_MESSAGE = "Job was active longer than specified deadline"
COMPLETE_MESSAGE = "Reached expected number of succeeded pods"


def _phase(pod: dict[str, Any]) -> str:
    return (pod.get("status") or {}).get("phase", "")


def _terminating(pod: dict[str, Any]) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def _restarts(pod: dict[str, Any]) -> int:
    status = pod.get("status") or {}
    return sum(c.get("restartCount", 0) for group in ("initContainerStatuses",
                                                      "containerStatuses")
               for c in status.get(group) or [])


def _condition(conds: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    return next((c for c in conds if c.get("type") == kind and c.get("status") == "True"),
                None)


def _new_condition(kind: str, reason: str, message: str) -> dict[str, Any]:
    stamp = now()
    return {"type": kind, "status": "True", "reason": reason, "message": message,
            "lastProbeTime": stamp, "lastTransitionTime": stamp}


def finished(job: dict[str, Any]) -> dict[str, Any] | None:
    """The Job's terminal condition (Complete or Failed), if it has one."""
    conds = (job.get("status") or {}).get("conditions") or []
    return _condition(conds, "Complete") or _condition(conds, "Failed")


class JobController(Controller):
    name = "job-controller"
    primary = "jobs"
    owns = ("pods",)

    def __init__(self) -> None:
        super().__init__()
        # job uid → (failures seen, monotonic time the last new one was seen): the
        # back-off before a replacement pod (upstream keeps this in memory too)
        self.failures: dict[str, tuple[int, float]] = {}

    async def reconcile(self, namespace: str, name: str) -> None:
        job = self.current(namespace, name)
        if job is None:
            return
        uid = job["metadata"]["uid"]
        if job["metadata"].get("deletionTimestamp"):
            self.failures.pop(uid, None)
            return  # the garbage collector takes the pods
        done = finished(job)
        if done is not None:
            self.failures.pop(uid, None)
            await self._expire(job, done)
            return
        pods = self.listers.controlled_by("pods", namespace, uid)
        spec = job["spec"]
        old = job.get("status") or {}
        status: dict[str, Any] = {k: v for k, v in old.items()}
        conds: list[dict[str, Any]] = list(old.get("conditions") or [])
        active = [p for p in pods if not _terminating(p) and _phase(p) not in (
            "Succeeded", "Failed")]
        terminating = [p for p in pods if _terminating(p) and _phase(p) not in (
            "Succeeded", "Failed")]
        succeeded = max(old.get("succeeded", 0), sum(1 for p in pods if _phase(p) == "Succeeded"))
        failed = max(old.get("failed", 0), sum(1 for p in pods if _phase(p) == "Failed"))
        suspended = bool(spec.get("suspend"))
        if not suspended and not status.get("startTime"):
            status["startTime"] = now()

        target = _condition(conds, "FailureTarget") or _condition(conds, "SuccessCriteriaMet")
        if target is None:
            target = self._judge(job, status, pods, active, succeeded, failed)
            if target is not None:
                conds.append(target)
                if target["type"] == "FailureTarget":
                    await self.api.record_event(job, target["reason"], target["message"],
                                                "Warning", COMPONENT)
        if target is not None:
            for pod in active:
                await self._delete_pod(job, pod)
            terminating += active
            active = []
            if not terminating:  # 1.32: the terminal condition waits for the pods to go
                await self._finish(job, status, conds, target)
        elif suspended:
            for pod in active:
                await self._delete_pod(job, pod)
            terminating += active
            active = []
            if not _condition(conds, "Suspended"):
                conds.append(_new_condition("Suspended", "JobSuspended", "Job suspended"))
                await self.api.record_event(job, "Suspended", "Job suspended",
                                            component=COMPONENT)
        else:
            conds = [c for c in conds if c.get("type") != "Suspended"]
            active += await self._create_pods(job, active, succeeded, failed)
        status.update({
            "active": len(active), "succeeded": succeeded, "failed": failed,
            "ready": sum(1 for p in active if is_pod_ready(p)),
            "terminating": len(terminating), "uncountedTerminatedPods": {},
        })
        if conds:
            status["conditions"] = conds
        else:
            status.pop("conditions", None)
        for k in ("active", "succeeded", "failed"):
            if status[k] == 0:
                status.pop(k)  # omitempty; ready and terminating are pointers: kept at 0
        if status != old:
            job["status"] = status
            await self.api.update_status(job, field_manager="kube-controller-manager")

    def _judge(self, job: dict[str, Any], status: dict[str, Any], pods: list[dict[str, Any]],
               active: list[dict[str, Any]], succeeded: int, failed: int,
               ) -> dict[str, Any] | None:
        """The interim condition once the Job has failed or succeeded, else None."""
        spec = job["spec"]
        limit = spec.get("backoffLimit", 6)
        old_failed = (job.get("status") or {}).get("failed", 0)
        if failed > old_failed and len(active) != spec.get("parallelism", 1) and failed > limit:
            return _new_condition("FailureTarget", "BackoffLimitExceeded", BACKOFF_MESSAGE)
        if spec["template"]["spec"].get("restartPolicy") == "OnFailure":
            restarts = sum(_restarts(p) for p in pods if _phase(p) in ("Pending", "Running")
                           and not _terminating(p))
            if (restarts > 0) if limit == 0 else (restarts >= limit):
                return _new_condition("FailureTarget", "BackoffLimitExceeded", BACKOFF_MESSAGE)
        deadline = spec.get("activeDeadlineSeconds")
        start = parse_time(status.get("startTime"))
        if deadline is not None and start is not None and not spec.get("suspend"):
            left = start.timestamp() + deadline - datetime.now(UTC).timestamp()
            if left <= 0:
                return _new_condition("FailureTarget", "DeadlineExceeded", DEADLINE_MESSAGE)
            self.enqueue_after((job["metadata"]["namespace"], job["metadata"]["name"]),
                               left + 0.05)
        completions = spec.get("completions")
        if (succeeded >= completions if completions is not None
                else succeeded > 0 and not active):
            return _new_condition("SuccessCriteriaMet", "CompletionsReached", COMPLETE_MESSAGE)
        return None

    async def _finish(self, job: dict[str, Any], status: dict[str, Any],
                      conds: list[dict[str, Any]], target: dict[str, Any]) -> None:
        if target["type"] == "SuccessCriteriaMet":
            conds.append(_new_condition("Complete", target["reason"], target["message"]))
            status["completionTime"] = now()
            await self.api.record_event(job, "Completed", "Job completed", component=COMPONENT)
        else:
            conds.append(_new_condition("Failed", target["reason"], target["message"]))
        ttl = job["spec"].get("ttlSecondsAfterFinished")
        if ttl is not None:
            self.enqueue_after((job["metadata"]["namespace"], job["metadata"]["name"]),
                               ttl + 0.05)

    async def _create_pods(self, job: dict[str, Any], active: list[dict[str, Any]],
                           succeeded: int, failed: int) -> list[dict[str, Any]]:
        spec = job["spec"]
        ns, name = job["metadata"]["namespace"], job["metadata"]["name"]
        parallelism = spec.get("parallelism", 1)
        completions = spec.get("completions")
        want = (min(parallelism, max(0, completions - succeeded)) if completions is not None
                else (0 if succeeded else parallelism))
        if len(active) >= want:
            return []
        wait = self._backoff_left(job["metadata"]["uid"], failed)
        if wait > 0:
            self.enqueue_after((ns, name), wait + 0.05)
            return []
        created: list[dict[str, Any]] = []
        for _ in range(want - len(active)):
            pod = pod_from_template(job, spec["template"], generate_name=f"{name}-")
            try:
                new = await self.api.create(pod, ns, field_manager=COMPONENT)
            except ApiError as exc:
                await self.api.record_event(job, "FailedCreate", f"Error creating: {exc.message}",
                                            "Warning", COMPONENT)
                self.enqueue_after((ns, name), 5.0)
                break
            created.append(new)
            await self.api.record_event(job, "SuccessfulCreate",
                                        f"Created pod: {new['metadata']['name']}",
                                        component=COMPONENT)
        return created

    def _backoff_left(self, uid: str, failed: int) -> float:
        """Seconds until a replacement may start: BACKOFF_BASE·2^(failures-1), capped."""
        seen, since = self.failures.get(uid, (0, 0.0))
        if failed > seen:
            seen, since = failed, time.monotonic()
            self.failures[uid] = (seen, since)
        if seen == 0:
            return 0.0
        delay = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (seen - 1))
        return since + delay - time.monotonic()

    async def _delete_pod(self, job: dict[str, Any], pod: dict[str, Any]) -> None:
        try:
            await self.api.delete("pods", pod["metadata"]["namespace"], pod["metadata"]["name"],
                                  preconditions={"uid": pod["metadata"]["uid"]})
        except ApiError as exc:
            if exc.code not in (404, 409):
                raise
            return
        await self.api.record_event(job, "SuccessfulDelete",
                                    f"Deleted pod: {pod['metadata']['name']}",
                                    component=COMPONENT)

    async def _expire(self, job: dict[str, Any], done: dict[str, Any]) -> None:
        """ttl-after-finished: delete the Job (Foreground: its pods go first)."""
        ttl = job["spec"].get("ttlSecondsAfterFinished")
        if ttl is None:
            return
        ended = parse_time((job.get("status") or {}).get("completionTime")
                           or done.get("lastTransitionTime"))
        left = 0.0 if ended is None else ended.timestamp() + ttl - datetime.now(UTC).timestamp()
        ns, name = job["metadata"]["namespace"], job["metadata"]["name"]
        if left > 0:
            self.enqueue_after((ns, name), left + 0.05)
            return
        try:
            await self.api.delete("jobs", ns, name, propagation_policy="Foreground",
                                  preconditions={"uid": job["metadata"]["uid"]})
        except ApiError as exc:
            if exc.code not in (404, 409):
                raise
