"""batch/v1 Jobs, through the official client: defaults and validation as the real API
server, and the job controller running real busybox pods on the node.

The session cluster of conftest.py runs without a node (its pods stay Pending), and a Job
is about pods that run and end, so this module starts one labcluster with its node for
all its tests (or uses $LABCLUSTER_TEST_KUBECONFIG, like conftest). Its replacement-pod
back-off base is 1 s instead of 10 s (LABCLUSTER_JOB_BACKOFF_SECONDS) to keep the file short.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kube_helpers import status_body, wait_for
from kubernetes import client, config

import labcluster

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def job_api() -> Iterator[client.ApiClient]:
    external = os.environ.get("LABCLUSTER_TEST_KUBECONFIG")
    if external:
        yield config.new_client_from_config(external)
        return
    home = Path(tempfile.mkdtemp(prefix="labcluster-jobs-"))
    home.chmod(0o755)
    try:
        path = labcluster.ensure_running(home, env={"LABCLUSTER_JOB_BACKOFF_SECONDS": "1"})
        yield config.new_client_from_config(str(path))
    finally:
        labcluster.stop(home)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def core(job_api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(job_api)


@pytest.fixture(scope="module")
def batch(job_api: client.ApiClient) -> client.BatchV1Api:
    return client.BatchV1Api(job_api)


@pytest.fixture
def ns(core: client.CoreV1Api) -> Iterator[str]:
    name = "jobs-" + secrets.token_hex(3)
    core.create_namespace({"metadata": {"name": name}})
    yield name
    with contextlib.suppress(client.ApiException):
        core.delete_namespace(name)


def job(name: str, command: str, restart: str | None = "Never", **spec: Any) -> dict[str, Any]:
    pod: dict[str, Any] = {"terminationGracePeriodSeconds": 1, "containers": [
        {"name": "main", "image": "busybox:1.36", "command": ["sh", "-c", command]}]}
    if restart:
        pod["restartPolicy"] = restart
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"template": {"spec": pod}, **spec}}


def condition(j: client.V1Job, kind: str) -> client.V1JobCondition | None:
    return next((c for c in (j.status and j.status.conditions) or []
                 if c.type == kind and c.status == "True"), None)


def wait_condition(batch: client.BatchV1Api, ns: str, name: str, kind: str,
                   timeout: float = 30) -> client.V1Job:
    return wait_for(lambda: (j := batch.read_namespaced_job(name, ns)) and condition(j, kind)
                    and j, timeout, f"job {name} {kind}")


def pods_of(core: client.CoreV1Api, ns: str, name: str) -> list[client.V1Pod]:
    return core.list_namespaced_pod(ns, label_selector=f"batch.kubernetes.io/job-name={name}"
                                    ).items


def reasons(core: client.CoreV1Api, ns: str, name: str) -> list[str]:
    return [e.reason for e in core.list_namespaced_event(
        ns, field_selector=f"involvedObject.name={name},involvedObject.kind=Job").items]


def _auth(api: client.ApiClient) -> dict[str, str]:
    """The bearer token header, for the raw requests (tables, warnings)."""
    headers: dict[str, str] = {}
    api.update_params_for_auth(headers, [], ["BearerToken"], "", "", None)
    return headers


def test_a_job_runs_to_completion(job_api, core, batch, ns) -> None:
    created = batch.create_namespaced_job(ns, job("hello", "echo done"))
    uid = created.metadata.uid
    spec = created.spec
    assert (spec.parallelism, spec.completions, spec.backoff_limit) == (1, 1, 6)
    assert (spec.completion_mode, spec.suspend, spec.manual_selector) == (
        "NonIndexed", False, None)
    assert spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": uid}
    generated = {"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
                 "batch.kubernetes.io/job-name": "hello", "job-name": "hello"}
    assert spec.template.metadata.labels == generated
    assert created.metadata.labels == generated  # copied from the template, as upstream

    done = wait_condition(batch, ns, "hello", "Complete")
    assert done.status.succeeded == 1 and not done.status.failed and not done.status.active
    assert done.status.start_time and done.status.completion_time
    assert done.status.ready == 0 and done.status.terminating == 0
    met = condition(done, "SuccessCriteriaMet")
    assert met and met.reason == condition(done, "Complete").reason == "CompletionsReached"

    (pod,) = pods_of(core, ns, "hello")
    assert pod.metadata.name.startswith("hello-") and pod.status.phase == "Succeeded"
    assert generated.items() <= pod.metadata.labels.items()
    (ref,) = pod.metadata.owner_references
    assert (ref.kind, ref.api_version, ref.name, ref.uid) == ("Job", "batch/v1", "hello", uid)
    assert ref.controller is True and ref.block_owner_deletion is True
    # `kubectl logs job/hello` reads the log of the job's pod
    assert core.read_namespaced_pod_log(pod.metadata.name, ns) == "done\n"
    assert {"SuccessfulCreate", "Completed"} <= set(reasons(core, ns, "hello"))

    # `kubectl get jobs`: the server-side table's columns
    resp = job_api.call_api("GET", f"{job_api.configuration.host}/apis/batch/v1/namespaces/"
                            f"{ns}/jobs", header_params={
                                "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io",
                                **_auth(job_api)})
    resp.read()
    table = json.loads(resp.data)
    cols = [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0]
    assert cols == ["Name", "Status", "Completions", "Duration", "Age"]
    assert table["rows"][0]["cells"][:3] == ["hello", "Complete", "1/1"]


def test_parallel_completions(core, batch, ns) -> None:
    batch.create_namespaced_job(ns, job("three", "echo ok", completions=3, parallelism=2))
    done = wait_condition(batch, ns, "three", "Complete")
    assert done.status.succeeded == 3
    pods = pods_of(core, ns, "three")
    assert len(pods) == 3 and {p.status.phase for p in pods} == {"Succeeded"}


def test_failures_count_against_the_backoff_limit(core, batch, ns) -> None:
    batch.create_namespaced_job(ns, job("fails", "echo no; exit 3", backoffLimit=1))
    failed = wait_condition(batch, ns, "fails", "Failed")
    cond = condition(failed, "Failed")
    assert (cond.reason, cond.message) == ("BackoffLimitExceeded",
                                           "Job has reached the specified backoff limit")
    assert condition(failed, "FailureTarget").reason == "BackoffLimitExceeded"
    assert failed.status.failed == 2 and not failed.status.succeeded
    assert not failed.status.completion_time
    pods = pods_of(core, ns, "fails")
    assert len(pods) == 2 and {p.status.phase for p in pods} == {"Failed"}
    assert "BackoffLimitExceeded" in reasons(core, ns, "fails")


def test_active_deadline_ends_the_job_and_its_pods(core, batch, ns) -> None:
    batch.create_namespaced_job(ns, job("slow", "sleep 300", activeDeadlineSeconds=2))
    wait_for(lambda: pods_of(core, ns, "slow"), 15, "the job's pod")
    failed = wait_condition(batch, ns, "slow", "Failed")
    assert condition(failed, "Failed").reason == "DeadlineExceeded"
    assert not failed.status.active
    running = [p.metadata.name for p in pods_of(core, ns, "slow")
               if p.status.phase not in ("Succeeded", "Failed")]
    assert running == [], "a pod of the failed job is still running"
    assert "DeadlineExceeded" in reasons(core, ns, "slow")


def test_on_failure_restarts_count_against_the_backoff_limit(core, batch, ns) -> None:
    """restartPolicy OnFailure: the kubelet restarts the container in place (the first
    restart is immediate); its restarts count, so backoffLimit 1 fails the Job after one."""
    batch.create_namespaced_job(ns, job("flaky", "exit 1", restart="OnFailure",
                                        backoffLimit=1))
    failed = wait_condition(batch, ns, "flaky", "Failed")
    assert condition(failed, "Failed").reason == "BackoffLimitExceeded"
    running = [p.metadata.name for p in pods_of(core, ns, "flaky")
               if p.status.phase not in ("Succeeded", "Failed")]
    assert running == []
    assert "SuccessfulDelete" in reasons(core, ns, "flaky")


@pytest.mark.parametrize("ttl", [0, 1])
def test_ttl_after_finished_removes_the_job_and_its_pods(core, batch, ns, ttl) -> None:
    name = f"ttl{ttl}"
    batch.create_namespaced_job(ns, job(name, "echo bye", ttlSecondsAfterFinished=ttl))
    wait_for(lambda: not batch.list_namespaced_job(ns).items, 30, f"job {name} deleted by its TTL")
    wait_for(lambda: not pods_of(core, ns, name), 30, "its pods gone")
    # it ran to completion first (events are not owned by the Job: they stay)
    assert {"SuccessfulCreate", "Completed"} <= set(reasons(core, ns, name))


def test_restart_policy_always_is_rejected(batch, ns) -> None:
    with pytest.raises(client.ApiException) as err:
        batch.create_namespaced_job(ns, job("bad", "true", restart=None))
    body = status_body(err.value)
    assert err.value.status == 422 and body["reason"] == "Invalid"
    assert body["message"] == ('Job.batch "bad" is invalid: spec.template.spec.restartPolicy: '
                               'Required value: valid values: "OnFailure", "Never"')
    with pytest.raises(client.ApiException) as err:
        batch.create_namespaced_job(ns, job("bad", "true", restart="Always"))
    assert err.value.status == 422
    assert batch.list_namespaced_job(ns).items == []


def test_the_template_is_immutable(batch, ns) -> None:
    batch.create_namespaced_job(ns, job("fixed", "sleep 300", suspend=True))
    with pytest.raises(client.ApiException) as err:
        batch.patch_namespaced_job("fixed", ns, {"spec": {"template": {"spec": {
            "containers": [{"name": "main", "image": "busybox:1.37"}]}}}})
    body = status_body(err.value)
    assert err.value.status == 422 and body["reason"] == "Invalid"
    assert [(c["field"], c["reason"]) for c in body["details"]["causes"]] == [
        ("spec.template", "FieldValueInvalid")]
    assert "field is immutable" in body["message"]
    # what may change does: parallelism
    assert batch.patch_namespaced_job("fixed", ns, {"spec": {"parallelism": 2}}
                                      ).spec.parallelism == 2
    cond = wait_condition(batch, ns, "fixed", "Suspended")
    assert not cond.status.active


def test_deleting_a_job_without_a_policy_orphans_its_pods(job_api, core, batch, ns) -> None:
    """batch/v1's default propagation is Orphan (with a warning): the pods stay, ownerless."""
    batch.create_namespaced_job(ns, job("kept", "sleep 300"))
    wait_for(lambda: pods_of(core, ns, "kept"), 15, "the job's pod")
    resp = job_api.call_api("DELETE", f"{job_api.configuration.host}/apis/batch/v1/namespaces/"
                            f"{ns}/jobs/kept", header_params=_auth(job_api))
    resp.read()
    assert resp.status == 200
    assert "child pods are preserved by default" in resp.getheader("Warning")
    wait_for(lambda: not batch.list_namespaced_job(ns).items, 10, "the job gone")
    (pod,) = pods_of(core, ns, "kept")
    assert not pod.metadata.owner_references and not pod.metadata.deletion_timestamp


@pytest.mark.parametrize("policy", ["Background", "Foreground"])
def test_deleting_a_job_removes_its_pods(core, batch, ns, policy) -> None:
    batch.create_namespaced_job(ns, job("doomed", "sleep 300", parallelism=2, completions=4))
    wait_for(lambda: len(pods_of(core, ns, "doomed")) == 2, 15, "two pods")
    batch.delete_namespaced_job("doomed", ns, propagation_policy=policy)
    wait_for(lambda: not pods_of(core, ns, "doomed"), 30, "the job's pods gone")
    wait_for(lambda: not batch.list_namespaced_job(ns).items, 10, "the job gone")
