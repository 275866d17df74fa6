"""The classroom for real on labcluster: the instructor's manifests applied (RBAC, quotas,
LimitRanges for two learners), then one single-user pod per learner, created as z2jh's
kubespawner creates it (in the learner's namespace, ``serviceAccountName: learner``, the
course image), runs from inside: labhelpers' in-cluster path reads the token, ca.crt and
namespace the kubelet put in the pod's ServiceAccount folder and reaches the API server
through the ``kubernetes`` Service — which authorizes every request with RBAC.
lab-alice's pod runs the whole course (``labcourse init`` into its home, then
``labcourse run --cluster in-cluster``: every notebook with papermill, as the learner's
ServiceAccount), then an in-cluster load test, the lab's checks and its cleanup; lab-bob's
a short run. Each pod records every request it sent — the course's kernels too — (printed
to its log), so the tests can send the same requests into other namespaces and see the
server refuse them; the instructor then collects both learners' results files, and the
course's report and executed notebooks, from the running pods (exec ``cat``)."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from classroom_support import LEARNER_NS, course_notebook_names
from incluster import apply_classroom, service_account_token
from kubernetes import client, config
from kubernetes.stream import stream
from procs import cluster_leftovers

import labcluster

IMAGE = "ecommerce-lab/course-runner:0.1.0"
LEARNERS = {"alice": (LEARNER_NS, "course"), "bob": ("lab-bob", "brief")}
PROGRAM = (Path(__file__).parent / "learner_pod.py").read_text()


@dataclass
class Classroom:
    kubeconfig: Path
    token: str  # lab-alice's learner ServiceAccount
    calls: list[tuple[str, str]]  # (method, URL) alice's pod sent as that learner
    done: dict[str, dict[str, Any]]  # learner -> what its pod reported at the end
    results: dict[str, dict[str, Any]]  # learner -> results file, collected by the instructor
    pods: dict[str, client.V1Pod]
    course_report: str  # what `labcourse run` printed in alice's pod (course-run.log)
    executed: dict[str, dict[str, Any]]  # notebook file -> executed copy, from alice's pod


def cat(core: client.CoreV1Api, pod: str, ns: str, path: str) -> str:
    """A file in a running pod, as the instructor reads it (exec ``cat``)."""
    return stream(core.connect_get_namespaced_pod_exec, pod, ns, command=["cat", path],
                  stderr=True, stdout=True, stdin=False, tty=False)


def spawner_pod(learner: str, namespace: str, mode: str, other: str) -> dict[str, Any]:
    """A single-user pod as kubespawner makes it for a ServiceAccount-enabled hub."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"jupyter-{learner}", "labels": {
                "app": "jupyterhub", "component": "singleuser-server",
                "heritage": "jupyterhub", "hub.jupyter.org/username": learner}},
            "spec": {"serviceAccountName": "learner", "automountServiceAccountToken": True,
                     "restartPolicy": "Never",
                     "securityContext": {"fsGroup": 100, "runAsUser": 1000},
                     "containers": [{
                         "name": "notebook", "image": IMAGE,
                         "command": ["python", "-c", PROGRAM, mode, learner, other],
                         "env": [{"name": "JUPYTERHUB_USER", "value": learner},
                                 {"name": "LAB_RESULTS_DIR", "value": "results"}],
                         # z2jh-values.yaml's guarantee and limit (learner.yaml's quota
                         # counts them)
                         "resources": {"requests": {"cpu": "250m", "memory": "1Gi"},
                                       "limits": {"cpu": "1", "memory": "2Gi"}}}]}}


def wait_done(core: client.CoreV1Api, name: str, ns: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pod = core.read_namespaced_pod(name, ns)
        log = core.read_namespaced_pod_log(name, ns) if pod.status.phase != "Pending" else ""
        if "\nDONE " in "\n" + log or pod.status.phase in ("Succeeded", "Failed"):
            return log
        time.sleep(1)
    raise AssertionError(f"{ns}/{name} did not finish in {timeout}s")


def crashed_logs(core: client.CoreV1Api, ns: str) -> str:
    """The previous logs of the namespace's restarted containers: why a tier never got
    ready, for the failure message."""
    out = []
    for pod in core.list_namespaced_pod(ns).items:
        for st in pod.status.container_statuses or []:
            if st.restart_count:
                try:
                    text = core.read_namespaced_pod_log(pod.metadata.name, ns,
                                                        container=st.name, previous=True)
                except client.ApiException as exc:
                    text = str(exc)
                out.append(f"--- {pod.metadata.name}/{st.name} (previous)\n{text[-2000:]}")
    return "\n".join(out)


def line(log: str, tag: str, why: str = "") -> Any:
    found = [x for x in log.splitlines() if x.startswith(tag + " ")]
    assert found, f"no {tag} line in the pod's log:\n{log[-3000:]}\n{why}"
    return json.loads(found[-1][len(tag) + 1:])


@pytest.fixture(scope="module")
def classroom() -> Iterator[Classroom]:
    home = Path(tempfile.mkdtemp(prefix="classroom-test-"))
    home.chmod(0o755)  # PostgreSQL runs as another user and must traverse it
    try:
        kubeconfig = labcluster.ensure_running(home)
        apply_classroom(kubeconfig, [ns for ns, _ in LEARNERS.values()])
        token = service_account_token(kubeconfig, LEARNER_NS, "learner")
        core = client.CoreV1Api(config.new_client_from_config(str(kubeconfig)))
        for learner, (ns, mode) in LEARNERS.items():
            other = "lab-bob" if ns == LEARNER_NS else LEARNER_NS
            core.create_namespaced_pod(ns, spawner_pod(learner, ns, mode, other))
        done, results, pods, calls = {}, {}, {}, []
        for learner, (ns, _) in LEARNERS.items():
            log = wait_done(core, f"jupyter-{learner}", ns, 2000)
            done[learner] = line(log, "DONE", "" if "\nDONE " in log else
                                 crashed_logs(core, ns))
            if learner == "alice":
                calls = [tuple(c) for c in line(log, "CALLS")]
            # the instructor (admin) collects the results file from the running server
            pod = f"jupyter-{learner}"
            results[learner] = json.loads(cat(core, pod, ns,
                                              f"/home/jovyan/results/{learner}.json"))
            pods[learner] = core.read_namespaced_pod(pod, ns)
        # and the course's run in alice's pod: the runner's report, the executed notebooks
        report = cat(core, "jupyter-alice", LEARNER_NS, "/home/jovyan/course-run.log")
        executed = {}
        for name in course_notebook_names():
            text = cat(core, "jupyter-alice", LEARNER_NS, f"/home/jovyan/course-run/{name}")
            try:
                executed[name] = json.loads(text)
            except ValueError:  # not there: cat's error, shown by the test that needs it
                executed[name] = {"missing": text[:500]}
        yield Classroom(kubeconfig, token, calls, done, results, pods, report, executed)
    finally:
        labcluster.stop(home)
        left = cluster_leftovers(home)
        shutil.rmtree(home, ignore_errors=True)
    assert not left, f"processes of the classroom cluster outlived it: {left}"

