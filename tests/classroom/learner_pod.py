"""The program a learner's single-user pod runs (``python -c`` of this file's text, in the
``ecommerce-lab/course-runner`` image): labhelpers connects through the pod's own
ServiceAccount folder and KUBERNETES_SERVICE_* (the real in-cluster path), runs the lab,
records what it established in the learner's results file (``labhelpers.results``, what
the instructor's batch report reads), prints every (method, URL) it sent, then stays up
as a notebook server does, so the instructor can collect the results file.

``full`` is the lab conftest.py ran before from outside any pod (connect → deploy all →
look, exec, http, scale, in-cluster load test, restart, check, doctor, cleanup);
``brief`` connects, checks the empty namespace and tries the other learner's namespace."""

import json
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


ApiClient.param_serialize = recording
lab = labhelpers.connect()  # auto: the pod's service account, and its namespace
assert lab.target.kind == "in-cluster", lab.target.kind
if mode == "full":
    from labhelpers.loadtest.runner import LoadTestWarning

    lab.deploy("all", adopt=True)  # the instructor's namespace is adopted, not ours
    lab.pods()
    lab.services()
    lab.endpoints()
    lab.events(warnings_only=True)
    lab.pvcs()
    lab.configmap("ecommerce-config")
    lab.secret("postgres-secret")
    lab.logs("deploy/cart-service", tail=5)
    lab.describe("deploy/ecommerce-backend")
    lab.top()
    lab.timeline()
    assert lab.exec("deploy/ecommerce-backend",
                    "psql -h postgres -U ecomuser -d ecomdb -c 'SELECT 1'").returncode == 0
    lab.resolve("postgres")
    assert lab.http("ecommerce-backend", "/api/health").ok
    lab.scale("deploy/ecommerce-backend", 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LoadTestWarning)
        assert lab.loadtest("ecommerce-backend", path="/health", requests=50, concurrency=2,
                            mode="in-cluster").status_counts() == {200: 50}
    lab.scale("deploy/ecommerce-backend", 2)  # back to the lab's shape before the checks
    lab.restart("deploy/cart-service")
    checks = lab.check()
    lab.doctor()
    lab.core.list_node()
    client.StorageV1Api(lab.api).list_storage_class()
    client.ApisApi(lab.api).get_api_versions()
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
failed = [r.criterion for r in checks.itertuples() if r.ok != "✅"]
print("DONE " + json.dumps({"namespace": lab.namespace, "other": other, "failed": failed,
                            "checks": [passed, len(checks)]}), flush=True)
while True:  # a notebook server stays up
    time.sleep(3600)
