"""The classroom's isolation, enforced by the server: labcluster authorizes every request
with RBAC (labcluster/rbac.py), so the lab run in conftest.py — from inside lab-alice's
single-user pod, as its learner ServiceAccount, with the token the kubelet mounted —
passing at all means every call it made was allowed.
Here the same calls go to other namespaces and the server refuses each (403), escalations
are refused, and the learner's ResourceQuota stops a runaway scale."""

from __future__ import annotations

import http.client
import json
import re
import ssl
import time
from base64 import b64decode
from urllib.parse import urlsplit

import pytest
import yaml
from classroom_support import BREAKFIX_NS, LEARNER_NS, course_notebook_names, load
from kubernetes import client, config

# The first test carries the classroom run (the whole course in alice's pod: minutes).
pytestmark = [pytest.mark.cluster, pytest.mark.timeout(2400)]


def send(classroom, method: str, url: str, token: str | None = None) -> tuple[int, str]:
    """One request as the learner (or ``token``), body-less: authorization comes before the
    body is read, so a refused request never gets that far."""
    doc = yaml.safe_load(classroom.kubeconfig.read_text())
    cluster = doc["clusters"][0]["cluster"]
    ctx = ssl.create_default_context(cadata=b64decode(cluster["certificate-authority-data"])
                                     .decode())
    parts = urlsplit(cluster["server"])
    conn = http.client.HTTPSConnection(parts.hostname, parts.port, context=ctx, timeout=30)
    split = urlsplit(url)
    path = split.path + (f"?{split.query}" if split.query else "")
    try:
        conn.request(method, path, headers={"Authorization": f"Bearer {token or classroom.token}",
                                            "Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


def moved(url: str, other: str) -> str:
    return re.sub(rf"/namespaces/{LEARNER_NS}(?=/|$|\?)", f"/namespaces/{other}", url)


def test_the_lab_ran_as_the_learner_and_made_the_whole_labs_calls(classroom):
    """Guards the rest: a run that made few calls, or not as the learner, would prove
    nothing. The server answers whoami with the ServiceAccount the token names."""
    assert classroom.done["alice"]["namespace"] == LEARNER_NS
    paths = {(m, urlsplit(u).path) for m, u in classroom.calls}
    for method, pattern in [
            ("GET", rf"/api/v1/namespaces/{LEARNER_NS}$"),
            ("PATCH", rf"/apis/apps/v1/namespaces/{LEARNER_NS}/deployments/[^/]+$"),
            ("PATCH", rf"/apis/apps/v1/namespaces/{LEARNER_NS}/statefulsets/postgres$"),
            ("GET", rf"/api/v1/namespaces/{LEARNER_NS}/pods/[^/]+/exec$"),
            ("GET", rf"/api/v1/namespaces/{LEARNER_NS}/pods/[^/]+/log$"),
            ("GET", rf"/api/v1/namespaces/{LEARNER_NS}/services/[^/]+/proxy/.*"),
            ("PATCH", rf"/apis/apps/v1/namespaces/{LEARNER_NS}/deployments/[^/]+/scale$"),
            ("POST", rf"/apis/batch/v1/namespaces/{LEARNER_NS}/jobs$"),
            ("GET", r"/api/v1/nodes$")]:
        assert any(m == method and re.fullmatch(pattern, p) for m, p in paths), \
            f"the lab run made no {method} {pattern}"
    status, body = send(classroom, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews")
    assert status == 201, body
    assert json.loads(body)["status"]["userInfo"]["username"] == \
        f"system:serviceaccount:{LEARNER_NS}:learner"


def test_the_course_ran_in_alices_pod_and_every_notebook_passed(classroom):
    """The course, headless, inside the learner's pod as its ServiceAccount (``labcourse
    run --cluster in-cluster``): the runner's report says every notebook passed, and each
    executed notebook, read from the pod as the instructor reads it, ran every code cell,
    connected in-cluster to the learner's own namespace (the runner took it from the
    service account: no ``-p namespace`` was given)."""
    rc, seconds = classroom.done["alice"]["course"]
    names = course_notebook_names()
    report = classroom.course_report
    assert rc == 0, f"labcourse run exited {rc}:\n{report[-6000:]}"
    assert f"all {len(names)} notebooks passed" in report, report[-6000:]
    assert "namespace='lab-alice'" in report and "cluster='in-cluster'" in report, report[:600]
    print(f"the course in alice's pod: {seconds:.0f} s")
    for name in names:
        nb = classroom.executed[name]
        assert "cells" in nb, f"{name} is not in the pod's course-run/: {nb}"
        assert not nb["metadata"]["papermill"]["exception"], name
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        statuses = [c["metadata"]["papermill"]["status"] for c in code]
        assert set(statuses) == {"completed"}, (name, statuses)
        injected = "".join(next(c["source"] for c in code
                                if "injected-parameters" in c["metadata"].get("tags", [])))
        assert 'cluster = "in-cluster"' in injected and 'namespace = "lab-alice"' in injected, \
            (name, injected)
        printed = "".join("".join(o.get("text", "")) for c in code for o in c["outputs"]
                          if o.get("output_type") == "stream")
        assert re.search(r"connected: in-cluster cluster, context -, namespace lab-alice,",
                         printed), (name, printed[:1000])
    # what the notebooks recorded, in the results file named by the hub's user (alice)
    sections = classroom.results["alice"]["sections"]
    assert len(set(sections) - {"classroom"}) >= len(names) - 1, sorted(sections)
    challenge = sections["breakfix"]["challenge"]  # nobody edited a ✏️ cell
    assert not challenge["solved"] and challenge["solved_by"] is None, challenge


def test_each_learner_ran_in_a_spawned_pod_as_its_service_account(classroom):
    """The pods are kubespawner's: the learner's ServiceAccount, the kube-api-access
    volume admission added, and each pod's own try at the other learner's namespace
    answered 403 by the server."""
    for learner, pod in classroom.pods.items():
        assert pod.spec.service_account_name == "learner"
        assert pod.status.phase == "Running", (learner, pod.status.phase)
        assert [v.name[:16] for v in pod.spec.volumes] == ["kube-api-access-"]
        assert classroom.done[learner]["other"] == 403, learner
    assert classroom.done["bob"]["namespace"] == "lab-bob"


def test_the_batch_report_collects_both_learners(classroom):
    """The instructor's report (labcourse.batch.summarise) over what each learner's pod
    recorded: both learners, each with the checks their own run established."""
    from labcourse.batch import Learner, Run, summarise

    learners = [Learner("alice", LEARNER_NS), Learner("bob", "lab-bob")]
    runs = [Run("alice", LEARNER_NS, "classroom-lab", ok=True),
            Run("bob", "lab-bob", "classroom-lab", ok=True)]
    table, _ = summarise(learners, runs, classroom.results)
    rows = {r["learner"]: r for r in table.to_dict("records")}
    assert set(rows) == {"alice", "bob"}
    for learner in rows:
        passed, total = classroom.done[learner]["checks"]
        sections = classroom.results[learner]["sections"]
        assert (sections["classroom"]["checks"]["passed"],
                sections["classroom"]["checks"]["total"]) == (passed, total)
        assert total > 0
    # bob's pod recorded only its own checks; alice's file also holds what her notebooks
    # recorded (under the hub's user name, not the OS user's), and the report counts it
    assert set(classroom.results["bob"]["sections"]) == {"classroom"}
    assert (rows["bob"]["checks_passed"], rows["bob"]["checks_total"]) == \
        tuple(classroom.done["bob"]["checks"])
    assert rows["alice"]["checks_total"] > classroom.done["alice"]["checks"][1]
    # the lab the course left in lab-alice passes every check, though her notebook pod lives
    # in the same namespace (labhelpers.checks counts only the storefront's pods). Bob
    # deployed nothing, so his checks fail.
    assert classroom.done["alice"]["failed"] == []
    assert rows["alice"]["checks_passed"] > rows["bob"]["checks_passed"]


def test_the_learners_calls_are_allowed_in_the_breakfix_namespace(classroom):
    """What the lab does in lab-alice, break & fix does in lab-alice-breakfix: reads only
    here (writes would change the namespace), each answered, none refused."""
    reads = {u for m, u in classroom.calls if m == "GET" and f"/namespaces/{LEARNER_NS}/" in u
             and "watch=" not in u and not re.search(r"/(exec|portforward|attach)\b", u)}
    assert reads
    refused = [u for u in sorted(reads)
               if send(classroom, "GET", moved(u, BREAKFIX_NS))[0] == 403]
    assert not refused, "refused in the breakfix namespace:\n" + "\n".join(refused)


@pytest.mark.parametrize("other", ["lab-bob", "default", "kube-system", "jhub"])
def test_the_same_calls_in_another_namespace_are_refused_by_the_server(classroom, other):
    mine = sorted({(m, u) for m, u in classroom.calls
                   if re.search(rf"/namespaces/{LEARNER_NS}(/|$|\?)", u)})
    assert len(mine) > 20
    answered = [(m, moved(u, other), send(classroom, m, moved(u, other))) for m, u in mine]
    not_refused = [f"{m} {u} → {status}" for m, u, (status, _) in answered if status != 403]
    assert not not_refused, f"not refused in {other}:\n" + "\n".join(not_refused)
    _, _, (_, body) = answered[0]
    message = json.loads(body)["message"]
    assert f'User "system:serviceaccount:{LEARNER_NS}:learner" cannot' in message
    assert f'in the namespace "{other}"' in message


@pytest.mark.parametrize(("method", "path"), [
    ("PATCH", f"/api/v1/namespaces/{LEARNER_NS}/resourcequotas/ecommerce-lab"),
    ("DELETE", f"/api/v1/namespaces/{LEARNER_NS}/limitranges/ecommerce-lab"),
    ("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{LEARNER_NS}/rolebindings"),
    ("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{LEARNER_NS}/roles"),
    ("DELETE", f"/api/v1/namespaces/{LEARNER_NS}"),
    ("PATCH", f"/api/v1/namespaces/{LEARNER_NS}"),
    ("POST", "/api/v1/namespaces"),
    ("GET", "/api/v1/secrets"),
    ("GET", "/api/v1/pods"),  # notebook 01 lists all pods: it must tolerate a 403 here
    ("GET", "/api/v1/namespaces/kube-system/secrets/x"),
    ("PATCH", "/api/v1/nodes/n1"),
    ("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"),
    ("POST", f"/api/v1/namespaces/{LEARNER_NS}/serviceaccounts/learner/token"),
])
def test_the_learner_cannot_escalate_or_look_around(classroom, method, path):
    status, body = send(classroom, method, path)
    assert status == 403, f"{method} {path} → {status}: {body[:300]}"


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/v1/nodes"),
    ("GET", "/apis/metrics.k8s.io/v1beta1/nodes"),
    ("GET", "/apis/storage.k8s.io/v1/storageclasses"),
    ("GET", f"/api/v1/namespaces/{LEARNER_NS}/resourcequotas"),
    ("GET", f"/api/v1/namespaces/{BREAKFIX_NS}/limitranges"),
])
def test_preflight_and_load_tests_can_read_what_they_need(classroom, method, path):
    status, body = send(classroom, method, path)
    assert status == 200, f"{method} {path} → {status}: {body[:300]}"


def test_quota_stops_a_runaway_scale_and_the_limitrange_fills_in_resources(classroom):
    """As the learner: a Deployment of containers naming no resources, scaled far past the
    quota's 10 pods. The LimitRange gives each its defaults (so the quota can count them);
    the quota refuses the pods past the limit, and the ReplicaSet says so in its events."""
    api = config.new_client_from_config(str(classroom.kubeconfig))
    api.configuration.api_key = {"authorization": f"Bearer {classroom.token}"}
    api.configuration.cert_file = api.configuration.key_file = None
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment(LEARNER_NS, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "runaway"},
        "spec": {"replicas": 14, "selector": {"matchLabels": {"app": "runaway"}},
                 "template": {"metadata": {"labels": {"app": "runaway"}},
                              "spec": {"containers": [{"name": "sleep", "image": "busybox:1.36",
                                                       "command": ["sleep", "3600"]}]}}}})
    try:
        deadline, refused = time.monotonic() + 60, []
        while time.monotonic() < deadline and not refused:
            events = core.list_namespaced_event(LEARNER_NS).items
            # only the runaway's: the course's notebook 9 ran production's HPA (up to 10
            # backends) here, and the quota stopped that too
            refused = [e.message for e in events if e.reason == "FailedCreate"
                       and e.involved_object.name.startswith("runaway-")
                       and "exceeded quota" in (e.message or "")]
            time.sleep(0.5)
        pods = core.list_namespaced_pod(LEARNER_NS, label_selector="app=runaway").items
        others = [p for p in core.list_namespaced_pod(LEARNER_NS).items
                  if (p.metadata.labels or {}).get("app") != "runaway"
                  and p.status.phase not in ("Succeeded", "Failed")]
        assert len(pods) + len(others) == 10, (len(pods), len(others))
        assert refused, "no FailedCreate event for the quota"
        assert re.search(r'pods "runaway-[a-z0-9]+-[a-z0-9]+" is forbidden: exceeded quota: '
                         r"ecommerce-lab, requested: pods=1, used: pods=10, limited: pods=10",
                         refused[0]), refused[0]
        resources = pods[0].spec.containers[0].resources
        assert resources.requests == {"cpu": "50m", "memory": "64Mi"}
        assert resources.limits == {"cpu": "200m", "memory": "256Mi"}
        assert pods[0].metadata.annotations["kubernetes.io/limit-ranger"] == \
               "LimitRanger plugin set: cpu, memory request for container sleep; cpu, " \
               "memory limit for container sleep"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            used = core.read_namespaced_resource_quota("ecommerce-lab", LEARNER_NS).status.used
            if used and used.get("pods") == "10":
                break
            time.sleep(0.5)
        assert used["pods"] == "10", used
    finally:
        apps.delete_namespaced_deployment("runaway", LEARNER_NS)


def test_the_cluster_role_grants_only_cluster_scoped_reads():
    (read,) = [o for o in load("cluster.yaml")
               if o["metadata"]["name"] == "ecommerce-learner-cluster-read"]
    for rule in read["rules"]:
        assert set(rule["verbs"]) <= {"get", "list", "watch"}
        assert set(rule["resources"]) <= {"nodes", "storageclasses"}, rule
