"""A container's state as the kubelet reports it: core/v1 ContainerStateWaiting,
ContainerStateRunning and ContainerStateTerminated, one small type each.

The kubelet's container loop sets one of them per phase; `to_status()` gives the dict the
API shows under `containerStatuses[].state` / `lastState` (keys omitted when unset, as
the Go types' `omitempty` does), so the wording of each phase lives in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labcluster.meta import now

#: reasons the kubelet gives a waiting container (kuberuntime, images/types.go)
CONTAINER_CREATING = "ContainerCreating"
POD_INITIALIZING = "PodInitializing"
CONFIG_ERROR = "CreateContainerConfigError"
ERR_IMAGE_PULL = "ErrImagePull"
IMAGE_PULL_BACKOFF = "ImagePullBackOff"
CRASH_LOOP_BACKOFF = "CrashLoopBackOff"
POST_START_HOOK_ERROR = "PostStartHookError"
RUN_CONTAINER_ERROR = "RunContainerError"
#: a terminated container that never ran (its command could not be started)
START_ERROR = "StartError"
START_ERROR_EXIT_CODE = 128


@dataclass(frozen=True)
class Waiting:
    reason: str
    message: str | None = None

    def to_status(self) -> dict[str, Any]:
        waiting: dict[str, Any] = {"reason": self.reason}
        if self.message is not None:
            waiting["message"] = self.message
        return {"waiting": waiting}


@dataclass(frozen=True)
class Running:
    started_at: str

    def to_status(self) -> dict[str, Any]:
        return {"running": {"startedAt": self.started_at}}


@dataclass(frozen=True)
class Terminated:
    exit_code: int
    reason: str
    message: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    container_id: str | None = None
    signal: int | None = None

    @classmethod
    def start_error(cls, message: str, *, stamped: bool = True) -> Terminated:
        """A command that could not start: exit code 128, reason StartError (stamped:
        with the attempt's time as startedAt and finishedAt)."""
        at = now() if stamped else None
        return cls(START_ERROR_EXIT_CODE, START_ERROR, message, at, at)

    def to_status(self) -> dict[str, Any]:
        """The fields set, in ContainerStateTerminated's order."""
        fields = (("exitCode", self.exit_code), ("signal", self.signal),
                  ("reason", self.reason), ("message", self.message),
                  ("startedAt", self.started_at), ("finishedAt", self.finished_at),
                  ("containerID", self.container_id))
        return {"terminated": {k: v for k, v in fields if v is not None}}


State = Waiting | Running | Terminated
