"""The program a learner's single-user pod runs (``python -c`` of this file's text, in the
``ecommerce-lab/course-runner`` image): labhelpers connects through the pod's own
ServiceAccount folder and KUBERNETES_SERVICE_* (the real in-cluster path), runs the
course (or a brief check), records what it established in the learner's results file (``labhelpers.results``, what
the instructor's batch report reads), prints every (method, URL) it sent, then stays up
as a notebook server does, so the instructor can collect the results file.

``course`` runs the course itself, as the learner would: ``labcourse init`` copies it into
the home (z2jh's postStart hook), then ``labcourse run --cluster in-cluster`` executes every
notebook with papermill, each kernel reaching the API server through the pod's
ServiceAccount. A startup file in the kernels' IPython profile records their requests the
same way; the runner's report goes to ``course-run.log`` and the executed notebooks to
``course-run/`` in the home, where the instructor reads them (exec ``cat``). Then, as
the learner's own client, an in-cluster load test (the notebooks' run from the pod
directly), the lab's checks on what the course left, and the lab's cleanup.
``brief`` connects, checks the empty namespace and tries the other learner's namespace."""

import json
import os
import subprocess
import sys
import threading
import time
import warnings

from kubernetes import client
from kubernetes.client.api_client import ApiClient

import labhelpers
from labhelpers import results

mode, learner, other_ns = sys.argv[1], sys.argv[2], sys.argv[3]
calls: list[tuple[str, str]] = []
lock = threading.Lock()
original = ApiClient.param_serialize


def recording(self, method, resource_path, path_params=None, query_params=None, *args, **kw):
    out = original(self, method, resource_path, path_params, query_params, *args, **kw)
    with lock:
        calls.append((out[0], out[1]))
    return out


# the kernels' IPython profile: the same recorder, appending each distinct call to a file
KERNEL_RECORDER = """
import json, os, threading
from kubernetes.client.api_client import ApiClient
_seen, _lock, _original = set(), threading.Lock(), ApiClient.param_serialize
def _recording(self, method, resource_path, path_params=None, query_params=None, *a, **kw):
    out = _original(self, method, resource_path, path_params, query_params, *a, **kw)
    with _lock:
        if (out[0], out[1]) not in _seen:
            _seen.add((out[0], out[1]))
            with open(os.environ["CALLS_FILE"], "a") as f:
                f.write(json.dumps([out[0], out[1]]) + "\\n")
    return out
ApiClient.param_serialize = _recording
"""


def run_course() -> tuple[int, float]:
    """The course as a learner's pod runs it: into the home, then every notebook.
    Returns the runner's exit code and its seconds."""
    home = os.getcwd()  # the image's WORKDIR, /home/jovyan
    startup = os.path.join(home, ".ipython", "profile_default", "startup")
    os.makedirs(startup, exist_ok=True)
    with open(os.path.join(startup, "00-record-calls.py"), "w") as f:
        f.write(KERNEL_RECORDER)
    env = {**os.environ, "IPYTHONDIR": os.path.join(home, ".ipython"),
           "CALLS_FILE": os.path.join(home, "calls.jsonl")}
    start = time.monotonic()
    with open("course-run.log", "w") as log:
        subprocess.run(["labcourse", "init", "ecommerce-k8s-course"], stdout=log,
                       stderr=subprocess.STDOUT, env=env, check=True)
        rc = subprocess.run(["labcourse", "run", "--cluster", "in-cluster",
                             "--course-dir", "ecommerce-k8s-course/notebooks",
                             "--output", "course-run"],
                            stdout=log, stderr=subprocess.STDOUT, env=env).returncode
    seconds = time.monotonic() - start
    with open("course-run.log") as log:  # also in the pod's log, for a failure message
        print(log.read(), flush=True)
    with open(env["CALLS_FILE"]) as f:
        calls.extend(tuple(json.loads(x)) for x in f if x.strip())
    return rc, seconds


course = run_course() if mode == "course" else None
ApiClient.param_serialize = recording
lab = labhelpers.connect()  # auto: the pod's service account, and its namespace
assert lab.target.kind == "in-cluster", lab.target.kind
if mode == "course":
    from labhelpers.loadtest.runner import LoadTestWarning

    # the notebooks' load tests reach the Services straight from the pod (auto → direct);
    # the lab's third way, a generator Job in the learner's namespace, once here
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LoadTestWarning)
        assert lab.loadtest("ecommerce-backend", path="/health", requests=50, concurrency=2,
                            mode="in-cluster").status_counts() == {200: 50}
    # the lab as the course left it: notebook 9 ends by scaling the backend back to 2, so
    # give its extra pods time to terminate (as a learner re-runs the check cell)
    deadline = time.monotonic() + 180
    checks = lab.check()
    while (checks["ok"] != "✅").any() and time.monotonic() < deadline:
        time.sleep(2)
        checks = lab.check()
    lab.cleanup()
else:
    checks = lab.check()
try:
    client.CoreV1Api(lab.api).list_namespaced_pod(other_ns)
    other = 200
except client.ApiException as exc:
    other = exc.status
passed = int((checks["ok"] == "✅").sum())  # checks.run marks each row ✅ or ❌
results.record("classroom", "checks", {"passed": passed, "total": len(checks)},
               learner=learner)
ApiClient.param_serialize = original
print("CALLS " + json.dumps(calls), flush=True)
failed = [f"{r.criterion}: {r.evidence}" for r in checks.itertuples() if r.ok != "✅"]
print("DONE " + json.dumps({"namespace": lab.namespace, "other": other, "failed": failed,
                            "checks": [passed, len(checks)], "course": course}), flush=True)
while True:  # a notebook server stays up
    time.sleep(3600)
