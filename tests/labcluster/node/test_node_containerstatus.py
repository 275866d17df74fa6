"""The kubelet's container state types (containerstatus.py) give exactly the
`containerStatuses[].state` dicts the API showed when the kubelet built them by hand,
and the kubelet's restart decision follows the pod's restartPolicy."""

from __future__ import annotations

import pytest

from labcluster.node.containerstatus import (
    CRASH_LOOP_BACKOFF,
    POST_START_HOOK_ERROR,
    Running,
    Terminated,
    Waiting,
)
from labcluster.node.kubelet import ContainerState, _Restarts


def test_waiting_has_a_message_only_when_given():
    assert Waiting(POST_START_HOOK_ERROR).to_status() == {
        "waiting": {"reason": "PostStartHookError"}}
    assert Waiting(CRASH_LOOP_BACKOFF, "back-off 10s").to_status() == {
        "waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}}
    assert Waiting("CreateContainerConfigError", "").to_status() == {
        "waiting": {"reason": "CreateContainerConfigError", "message": ""}}


def test_terminated_carries_the_fields_that_are_set_in_the_api_order():
    ended = Terminated(137, "OOMKilled", None, "2026-01-01T00:00:00Z", "2026-01-01T00:00:05Z",
                       "labcluster://m1", 9)
    assert list(ended.to_status()["terminated"].items()) == [
        ("exitCode", 137), ("signal", 9), ("reason", "OOMKilled"),
        ("startedAt", "2026-01-01T00:00:00Z"), ("finishedAt", "2026-01-01T00:00:05Z"),
        ("containerID", "labcluster://m1")]
    unstamped = Terminated.start_error("no such file", stamped=False).to_status()
    assert unstamped == {"terminated": {"exitCode": 128, "reason": "StartError",
                                        "message": "no such file"}}
    stamped = Terminated.start_error("exec: \"x\": executable file not found in $PATH")
    at = stamped.to_status()["terminated"]
    assert at["startedAt"] == at["finishedAt"] and at["startedAt"].endswith("Z")


def test_container_status_shows_state_last_state_and_id():
    c = ContainerState({"name": "app", "image": "busybox"})
    first = c.status()
    assert first["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert first["lastState"] == {} and "containerID" not in first
    c.state = Running("2026-01-01T00:00:00Z")
    c.last = Terminated(1, "Error", started_at="a", finished_at="b", container_id="x")
    shown = c.status()
    assert shown["state"] == {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    assert shown["lastState"] == {"terminated": {"exitCode": 1, "reason": "Error",
                                                 "startedAt": "a", "finishedAt": "b",
                                                 "containerID": "x"}}
    assert shown["containerID"] == ""  # no process record yet


@pytest.mark.parametrize(("policy", "code", "restarts"), [
    ("Always", 0, True), ("Always", 1, True), ("OnFailure", 0, False),
    ("OnFailure", 128, True), ("Never", 1, False), ("Never", 0, False)])
def test_restart_policy_decides_after_an_exit(policy, code, restarts):
    assert _Restarts(policy).restarts_after(code) is restarts
