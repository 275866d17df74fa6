"""manifests/classroom: valid objects, a template that renders cleanly per learner,
quotas that equal what manifests/lab needs (recomputed here), and z2jh values that agree
with the template."""

from __future__ import annotations

import re

import kubernetes_validate
import pytest
import yaml
from classroom_support import CLASSROOM, PLACEHOLDER, load, render

from labhelpers.manifests import MANIFESTS_DIR
from labhelpers.manifests import load as load_manifests

MI = 1024 * 1024
NOTEBOOK = {"requests.cpu": 250, "requests.memory": 1024 * MI,
            "limits.cpu": 1000, "limits.memory": 2048 * MI}


def quantity(value: str | int) -> int:
    """CPU in millicores, memory/storage in bytes (the suffixes the manifests use)."""
    text = str(value)
    for suffix, factor in (("Ki", 1024), ("Mi", MI), ("Gi", 1024 * MI), ("m", 1)):
        if text.endswith(suffix):
            return int(text[: -len(suffix)]) * factor
    return int(float(text) * 1000)


def workloads_need(objects: list[dict], extra: dict[str, int] | None = None) -> dict[str, int]:
    """Sum requests/limits × replicas, pods, Services, PVCs and storage of a set of objects;
    ``extra``: workload name → additional pods (scale-up, surge)."""
    need = {"requests.cpu": 0, "requests.memory": 0, "limits.cpu": 0, "limits.memory": 0,
            "pods": 0, "services": 0, "persistentvolumeclaims": 0, "requests.storage": 0}
    for obj in objects:
        if obj["kind"] == "Service":
            need["services"] += 1
        if obj["kind"] not in ("Deployment", "StatefulSet"):
            continue
        pods = obj["spec"].get("replicas", 1) + (extra or {}).get(obj["metadata"]["name"], 0)
        need["pods"] += pods
        for c in obj["spec"]["template"]["spec"]["containers"]:
            for kind in ("requests", "limits"):
                for res in ("cpu", "memory"):
                    value = (c.get("resources") or {}).get(kind, {}).get(res)
                    need[f"{kind}.{res}"] += pods * quantity(value) if value else 0
        for claim in obj["spec"].get("volumeClaimTemplates", []):
            need["persistentvolumeclaims"] += 1
            need["requests.storage"] += quantity(claim["spec"]["resources"]["requests"]["storage"])
    return need


def hard(namespace: str) -> dict[str, int]:
    (quota,) = [o for o in render("alice") if o["kind"] == "ResourceQuota"
                and o["metadata"]["namespace"] == namespace]
    return {k: quantity(v) if k.startswith(("requests.", "limits.")) else int(v)
            for k, v in quota["spec"]["hard"].items()}


def test_the_lab_needs_what_the_docs_say():
    need = workloads_need(load_manifests(MANIFESTS_DIR / "lab"))
    assert (need["requests.cpu"], need["requests.memory"] // MI) == (850, 1088)
    assert (need["limits.cpu"], need["limits.memory"] // MI) == (4200, 4352)
    one_backend = workloads_need(load_manifests(MANIFESTS_DIR / "lab"),
                                 {"ecommerce-backend": -1})
    assert (one_backend["requests.cpu"], one_backend["requests.memory"] // MI) == (650, 832)


def test_learner_quota_is_the_lab_scaled_to_3_plus_a_surge_plus_the_notebook():
    # scale backend 2 → 3, and one surge pod while `restart` rolls it (maxSurge 25% of 3 → 1)
    need = workloads_need(load_manifests(MANIFESTS_DIR / "lab"), {"ecommerce-backend": 2})
    for key, value in NOTEBOOK.items():
        need[key] += value
    need["pods"] += 1
    need["persistentvolumeclaims"] += 1  # the notebook's home
    need["requests.storage"] += 2 * 1024 * MI
    need["services"] += 1  # the optional NodePort frontend
    got = hard("lab-alice")
    assert {k: got[k] for k in need} == need
    assert got["services.nodeports"] == 1


def test_breakfix_quota_fits_every_scenario_plus_a_surge():
    needs = [workloads_need(load_manifests(d), {"ecommerce-backend": 1})
             for d in sorted((MANIFESTS_DIR / "broken").iterdir()) if d.is_dir()]
    worst = {k: max(n[k] for n in needs) for k in needs[0]}
    got = hard("lab-alice-breakfix")
    assert {k: got[k] for k in worst} == worst


def test_limit_ranges_admit_every_lab_container_and_the_notebook():
    lab = load_manifests(MANIFESTS_DIR / "lab")
    biggest_cpu = max(quantity(c["resources"]["limits"]["cpu"]) for o in lab
                      if o["kind"] in ("Deployment", "StatefulSet")
                      for c in o["spec"]["template"]["spec"]["containers"])
    for lr in (o for o in render("alice") if o["kind"] == "LimitRange"):
        (limit,) = lr["spec"]["limits"]
        assert quantity(limit["max"]["cpu"]) >= max(biggest_cpu, NOTEBOOK["limits.cpu"])
        assert quantity(limit["defaultRequest"]["cpu"]) <= quantity(limit["default"]["cpu"])
    (learner_lr,) = [o for o in render("alice") if o["kind"] == "LimitRange"
                     and o["metadata"]["namespace"] == "lab-alice"]
    assert quantity(learner_lr["spec"]["limits"][0]["max"]["memory"]) == \
        NOTEBOOK["limits.memory"]


@pytest.mark.parametrize("name", ["cluster.yaml", "learner.yaml"])
@pytest.mark.parametrize("version", ["1.29", "1.33"])
def test_objects_validate_strictly(name, version):
    for obj in load(name) if name == "cluster.yaml" else render("alice"):
        kubernetes_validate.validate(obj, version, strict=True)


def test_render_replaces_every_placeholder_and_refs_resolve():
    text = (CLASSROOM / "learner.yaml").read_text()
    for learner in ("alice", "bob-2"):
        objs = render(learner)
        assert PLACEHOLDER not in yaml.safe_dump_all(objs)
        names = {o["metadata"]["name"] for o in objs} | {
            o["metadata"].get("namespace") for o in objs}
        assert {f"lab-{learner}", f"lab-{learner}-breakfix"} <= names
        for o in objs:
            assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", o["metadata"]["name"])
    cluster_roles = {o["metadata"]["name"] for o in load("cluster.yaml")
                     if o["kind"] == "ClusterRole"}
    for o in render("alice"):
        if "roleRef" in o:
            assert o["roleRef"]["kind"] == "ClusterRole"
            assert o["roleRef"]["name"] in cluster_roles
    # The role names must not contain the placeholder (sed would rename the roleRef).
    assert not any(PLACEHOLDER in n for n in cluster_roles)
    assert text.count(PLACEHOLDER) >= 10


def test_namespaces_are_adopted_not_owned():
    """part-of without managed-by: labhelpers deploys with adopt=True and cleanup() never
    deletes the namespace (which holds the notebook pod and the RBAC)."""
    for ns in (o for o in render("alice") if o["kind"] == "Namespace"):
        labels = ns["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "ecommerce-lab"
        assert "app.kubernetes.io/managed-by" not in labels


def test_z2jh_values_agree_with_the_template():
    values = yaml.safe_load((CLASSROOM / "z2jh-values.yaml").read_text())
    spawner = values["hub"]["config"]["KubeSpawner"]
    assert spawner["enable_user_namespaces"] is True
    assert spawner["automount_service_account_token"] is True
    assert spawner["user_namespace_template"].format(username="alice") == "lab-alice"
    (sa,) = [o for o in render("alice") if o["kind"] == "ServiceAccount"]
    assert values["singleuser"]["serviceAccountName"] == sa["metadata"]["name"]
    assert sa["metadata"]["namespace"] == "lab-alice"  # the pod's namespace = labhelpers'
    single = values["singleuser"]
    assert quantity(single["cpu"]["guarantee"]) == NOTEBOOK["requests.cpu"]
    assert quantity(single["cpu"]["limit"]) == NOTEBOOK["limits.cpu"]
    # kubespawner's G is 1024**3
    assert int(single["memory"]["guarantee"].rstrip("G")) * 1024 * MI == \
        NOTEBOOK["requests.memory"]
    assert int(single["memory"]["limit"].rstrip("G")) * 1024 * MI == NOTEBOOK["limits.memory"]
    assert quantity(single["storage"]["capacity"]) == 2 * 1024 * MI
    policy = single["networkPolicy"]
    assert policy["enabled"] and policy["egressAllowRules"]["privateIPs"] is False
    (rule,) = policy["egress"]
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+/32", rule["to"][0]["ipBlock"]["cidr"])
    assert {p["port"] for p in rule["ports"]} == {443, 6443}


def test_the_in_cluster_load_generator_fits_a_learner_namespace():
    """Notebook 7's in-cluster mode on a classroom: the generator pod must pass Pod Security
    "restricted", fit the LimitRange (its own CPU limit, not the 200m default that would
    make the generator the bottleneck) and the quota's surge slot (it runs at 3 backends,
    when no rollout surges)."""
    from labhelpers.loadtest.incluster import pod_spec

    spec = pod_spec("loadtest-x", "storefront:1", {"deadline": 30}, 30)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (c,) = spec["containers"]
    assert c["securityContext"] == {"allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]}}
    (limit_range,) = [o for o in render("alice") if o["kind"] == "LimitRange"
                      and o["metadata"]["namespace"] == "lab-alice"]
    (per_container,) = limit_range["spec"]["limits"]
    limits = c["resources"]["limits"]
    assert quantity(limits["cpu"]) == quantity(per_container["max"]["cpu"])  # a whole core
    assert quantity(limits["memory"]) <= quantity(per_container["max"]["memory"])
    (backend,) = [o for o in load_manifests(MANIFESTS_DIR / "lab")
                  if o["metadata"]["name"] == "ecommerce-backend" and o["kind"] == "Deployment"]
    surge = backend["spec"]["template"]["spec"]["containers"][0]["resources"]
    for kind in ("requests", "limits"):
        for res in ("cpu", "memory"):
            assert quantity(c["resources"][kind][res]) <= quantity(surge[kind][res]), (kind, res)
