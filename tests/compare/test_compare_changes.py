"""labhelpers.manifests.compare: every production change it lists is really in the rendered
production manifests and really absent from the lab's (assertions on the objects, built
by the offline kustomize subset, not on the prose or the diff text)."""

from __future__ import annotations

import shutil
from typing import Any

import pytest
import yaml

from labhelpers.manifests import compare as cmp
from labhelpers.manifests import ref
from labhelpers.manifests.kustomize import POD_SPEC_PATHS
from labhelpers.styling import GREEN, RED

Obj = dict[str, Any]


@pytest.fixture(scope="module")
def result() -> cmp.Comparison:
    return cmp.compare("lab", "production")


@pytest.fixture(scope="module")
def lab(result) -> dict[str, Obj]:
    return {ref(o): o for o in result.base}


@pytest.fixture(scope="module")
def prod(result) -> dict[str, Obj]:
    return {ref(o): o for o in result.other}


def pod(obj: Obj) -> Obj:
    spec = obj
    for key in POD_SPEC_PATHS[obj["kind"]]:
        spec = spec[key]
    return spec


def workloads(side: dict[str, Obj]) -> list[Obj]:
    return [o for o in side.values() if o["kind"] in ("Deployment", "StatefulSet")]


def containers(obj: Obj) -> list[Obj]:
    return pod(obj)["containers"]


def of_kind(side: dict[str, Obj], kind: str) -> list[Obj]:
    return [o for o in side.values() if o["kind"] == kind]


# ------------------------------------------------------------ every change is present


def test_every_change_differs_between_lab_and_production(result):
    missing = [c.change.key for c in result.changes if not c.present]
    assert not missing, f"changes production/ does not make (any more): {missing}"
    lab_refs, prod_refs = {ref(o) for o in result.base}, {ref(o) for o in result.other}
    for c in result.changes:
        assert c.items and c.change.why and "\n" not in c.change.why, c.change.key
        for item in c.items:
            minus, plus = item.diff.splitlines()[:2]
            # /dev/null (as git names an added or deleted file) only where there is no object
            assert minus.startswith("--- lab/" if item.ref in lab_refs else "--- /dev/null"), item
            assert plus.startswith("+++ production/" if item.ref in prod_refs
                                   else "+++ /dev/null"), item


def test_secret_is_committed_in_lab_and_absent_in_production(lab, prod):
    assert "Secret/postgres-secret" in lab
    assert "Secret/postgres-secret" not in prod
    # ...while production's workloads still reference it by the same name and key
    refs = {(e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
            for w in workloads(prod) for c in containers(w) for e in c.get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})}
    assert refs == {("postgres-secret", "password")}


def test_replicas(lab, prod):
    assert lab["Deployment/ecommerce-frontend"]["spec"]["replicas"] == 2
    assert prod["Deployment/ecommerce-frontend"]["spec"]["replicas"] == 3
    assert lab["Deployment/cart-service"]["spec"]["replicas"] == 1
    assert prod["Deployment/cart-service"]["spec"]["replicas"] == 2
    assert "replicas" in lab["Deployment/ecommerce-backend"]["spec"]
    assert "replicas" not in prod["Deployment/ecommerce-backend"]["spec"]  # the HPA owns it


def test_autoscaling_targets_the_backend_only_in_production(lab, prod):
    assert not of_kind(lab, "HorizontalPodAutoscaler")
    (hpa,) = of_kind(prod, "HorizontalPodAutoscaler")
    target = hpa["spec"]["scaleTargetRef"]
    assert f"{target['kind']}/{target['name']}" in prod
    assert hpa["spec"]["minReplicas"] >= 2 < hpa["spec"]["maxReplicas"]


def test_disruption_budgets_select_existing_multi_replica_pods(lab, prod):
    assert not of_kind(lab, "PodDisruptionBudget")
    pdbs = of_kind(prod, "PodDisruptionBudget")
    assert {p["metadata"]["name"] for p in pdbs} == {
        "ecommerce-frontend", "ecommerce-backend", "cart-service"}
    for p in pdbs:
        selected = [w for w in workloads(prod) if p["spec"]["selector"]["matchLabels"].items()
                    <= w["spec"]["template"]["metadata"]["labels"].items()]
        assert len(selected) == 1, ref(p)
        replicas = selected[0]["spec"].get("replicas") or 3  # HPA minimum for the backend
        assert p["spec"]["minAvailable"] < replicas, f"{ref(p)} would block every drain"


def test_placement(lab, prod):
    for name in ("ecommerce-frontend", "ecommerce-backend", "cart-service"):
        r = f"Deployment/{name}"
        assert "affinity" not in pod(lab[r])
        terms = pod(prod[r])["affinity"]["podAntiAffinity"][
            "preferredDuringSchedulingIgnoredDuringExecution"]
        assert terms[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
        assert terms[0]["podAffinityTerm"]["labelSelector"]["matchLabels"] == {"app": name}
    for name in ("ecommerce-frontend", "ecommerce-backend"):
        spread = pod(prod[f"Deployment/{name}"])["topologySpreadConstraints"]
        assert spread[0]["topologyKey"] == "topology.kubernetes.io/zone"


def test_security_context_on_every_production_workload(lab, prod):
    for w in workloads(lab):
        assert "securityContext" not in pod(w), ref(w)
        assert all("securityContext" not in c for c in containers(w)), ref(w)
    for w in workloads(prod):
        sc = pod(w)["securityContext"]
        assert sc["runAsNonRoot"] is True and sc["runAsUser"] > 0, ref(w)
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, ref(w)
        for c in containers(w):
            csc = c["securityContext"]
            assert csc["allowPrivilegeEscalation"] is False, (ref(w), c["name"])
            assert csc["capabilities"]["drop"] == ["ALL"], (ref(w), c["name"])
    front = pod(prod["Deployment/ecommerce-frontend"])["securityContext"]
    assert {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"} in front["sysctls"]


def test_read_only_root_with_writable_emptydirs(prod):
    for w in workloads(prod):
        volumes = {v["name"]: v for v in pod(w).get("volumes", [])}
        claims = {t["metadata"]["name"] for t in w["spec"].get("volumeClaimTemplates", [])}
        for c in containers(w):
            assert c["securityContext"]["readOnlyRootFilesystem"] is True, (ref(w), c["name"])
            for m in c.get("volumeMounts", []):
                assert m["name"] in volumes or m["name"] in claims, (ref(w), m)
        assert any("emptyDir" in v for v in volumes.values()), ref(w)


def test_probes(lab, prod):
    for name, port in (("ecommerce-backend", 5000), ("cart-service", 8080)):
        r = f"Deployment/{name}"
        (lab_c,), (prod_c,) = containers(lab[r]), containers(prod[r])
        # both have a startup probe on /health (the lab's waits for Python's imports,
        # manifests/README.md); production's is its own, so it is still a change
        assert lab_c["startupProbe"]["httpGet"] == prod_c["startupProbe"]["httpGet"] == {
            "path": "/health", "port": port}
        assert lab_c["startupProbe"] != prod_c["startupProbe"], r
        for probe in ("livenessProbe", "readinessProbe"):
            assert prod_c[probe]["timeoutSeconds"] == 2, (r, probe)
            assert lab_c[probe] != prod_c[probe], (r, probe)
    lab_pg = containers(lab["StatefulSet/postgres"])[0]
    prod_pg = containers(prod["StatefulSet/postgres"])[0]
    assert prod_pg["readinessProbe"]["failureThreshold"] == 3
    assert "failureThreshold" not in lab_pg["readinessProbe"]


def test_rollout(lab, prod):
    r = "Deployment/ecommerce-backend"
    assert "strategy" not in lab[r]["spec"]
    assert prod[r]["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert containers(prod[r])[0]["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    assert "lifecycle" not in containers(lab[r])[0]


def test_database_disk_and_resources(lab, prod):
    def storage(o):
        return o["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]

    assert (storage(lab["StatefulSet/postgres"]), storage(prod["StatefulSet/postgres"])) == (
        "1Gi", "20Gi")
    lab_res = containers(lab["StatefulSet/postgres"])[0]["resources"]
    prod_res = containers(prod["StatefulSet/postgres"])[0]["resources"]
    assert lab_res["limits"]["memory"] == "512Mi" and prod_res["limits"]["memory"] == "2Gi"
    assert prod_res["requests"]["cpu"] == "500m"


def test_images_pinned_everywhere_and_exporter_added(lab, prod):
    for side in (lab, prod):
        for w in workloads(side):
            for c in containers(w):
                tag = c["image"].rpartition(":")[2]
                assert tag and tag != "latest" and "/" not in tag, c["image"]
                assert c["imagePullPolicy"] == "IfNotPresent", c["image"]
    lab_images = {c["image"] for w in workloads(lab) for c in containers(w)}
    prod_images = {c["image"] for w in workloads(prod) for c in containers(w)}
    assert prod_images - lab_images == {"quay.io/prometheuscommunity/postgres-exporter:v0.15.0"}


def test_postgres_tuning_and_metrics(lab, prod):
    assert "ConfigMap/postgres-tuning" not in lab
    conf = prod["ConfigMap/postgres-tuning"]["data"]["postgresql.conf"]
    assert "shared_buffers = 512MB" in conf
    pg = pod(prod["StatefulSet/postgres"])
    assert pg["containers"][0]["args"] == ["-c", "config_file=/etc/postgresql/postgresql.conf"]
    assert {"name": "tuning", "configMap": {"name": "postgres-tuning"}} in pg["volumes"]
    assert [c["name"] for c in pg["containers"]] == ["postgres", "postgres-exporter"]
    assert [c["name"] for c in containers(lab["StatefulSet/postgres"])] == ["postgres"]
    ann = prod["StatefulSet/postgres"]["spec"]["template"]["metadata"]["annotations"]
    assert ann["prometheus.io/port"] == "9187"
    assert "annotations" not in lab["StatefulSet/postgres"]["spec"]["template"]["metadata"]


def test_network_policies_default_deny_then_arrows(lab, prod):
    assert not of_kind(lab, "NetworkPolicy")
    policies = {p["metadata"]["name"]: p for p in of_kind(prod, "NetworkPolicy")}
    deny = policies["default-deny-ingress"]["spec"]
    assert deny["podSelector"] == {} and "ingress" not in deny
    sources = [f["podSelector"]["matchLabels"]["app"]
               for rule in policies["postgres"]["spec"]["ingress"]
               for f in rule.get("from", []) if "podSelector" in f]
    assert sources == ["ecommerce-backend"]


def test_config(lab, prod):
    assert lab["ConfigMap/ecommerce-config"]["data"]["LOG_LEVEL"] == "INFO"
    assert prod["ConfigMap/ecommerce-config"]["data"]["LOG_LEVEL"] == "WARNING"


# ------------------------------------------------------------------- the module itself


def test_summary_table(result):
    df = result.summary()
    assert list(df["key"][: len(cmp.CHANGES)]) == [c.key for c in cmp.CHANGES]
    assert df["status"][: len(cmp.CHANGES)].str.startswith("changed in").all()
    not_done = df[df["status"] == "not in manifests/production"]
    assert sorted(not_done["lab text #"]) == [1, 3, 14, 15]
    assert "kubectl diff" in df.attrs["kubectl"]


def test_every_lab_text_row_is_covered(result):
    rows = set(result.summary()["lab text #"].dropna().astype(int))
    assert rows == set(range(1, 16))


def test_diffs_are_applicable_yaml_views(result, lab, prod):
    """The + side of a diff is the production object's fields (a real diff, not prose)."""
    diff = result.diff("replicas")
    plus = [ln[1:] for ln in diff.splitlines() if ln.startswith("+ ") or ln.startswith("+  ")]
    assert "  replicas: 3" in plus
    view = cmp.view(prod["Deployment/ecommerce-frontend"], ("spec.replicas",))
    assert view == {"spec": {"replicas": 3}}
    sec = cmp.view(prod["StatefulSet/postgres"], ("{pod}.containers[].securityContext",))
    names = [c["name"] for c in sec["spec"]["template"]["spec"]["containers"]]
    assert names == ["postgres", "postgres-exporter"]
    only = cmp.view(prod["StatefulSet/postgres"], ("{pod}.containers[postgres-exporter]",))
    assert only["spec"]["template"]["spec"]["containers"][0]["image"].startswith("quay.io/")
    assert yaml.safe_load(cmp.to_yaml(view)) == view


def test_no_secret_value_in_any_output(result):
    lab_secret = yaml.safe_load(
        (cmp.MANIFESTS_DIR / "lab" / "config.yaml").read_text().split("---")[-1])
    values = [v for v in (lab_secret.get("stringData") or {}).values()]
    assert values, "the lab's committed Secret should have a value to hide"
    text = result.text() + result.summary().to_string() + result.objects().to_string()
    for v in values:
        assert str(v) not in text
    assert cmp.REDACTED in result.diff("secrets")


def test_staging_differs_only_in_configuration():
    s = cmp.compare("lab", "staging")
    changed = {c.change.key for c in s.changes if c.present}
    assert changed == {"namespace", "replicas", "config"}
    assert not s.unexplained()
    assert s["replicas"].differing == ["Deployment/ecommerce-backend"]
    assert "+  replicas: 1" in s.diff("replicas")
    states = s.objects().set_index("object")["state"]
    assert states["ConfigMap/ecommerce-config"] == "changed"
    assert (states.drop(["ConfigMap/ecommerce-config", "Deployment/ecommerce-backend",
                         "Namespace/ecommerce-lab", "Namespace/ecommerce-staging"])
            == "same").all()
    assert "not in manifests/production" not in set(s.summary()["status"])


def test_unknown_change_key_names_the_known_ones(result):
    with pytest.raises(KeyError, match="replicas"):
        result.diff("no-such-change")


def test_production_lints_clean_and_a_broken_variant_does_not():
    assert cmp.lint_table("production").empty
    broken = cmp.lint_table(cmp.MANIFESTS_DIR / "broken" / "selector-mismatch")
    assert not broken.empty and "selector-mismatch" in set(broken["rule"])


def test_offline_validation_catches_unknown_fields(prod):
    pdb = prod["PodDisruptionBudget/cart-service"]
    assert cmp.offline_validate(pdb) == "valid"
    bad = {**pdb, "spec": {**pdb["spec"], "minAvalable": 1}}
    assert cmp.offline_validate(bad).startswith("invalid")


# ------------------------------------------------------- diff items, as a learner reads them


def sides(diff: str) -> tuple[str, str]:
    """The lines of a one-hunk diff's two sides (context with its - lines, context with its +
    lines): a contiguous run of each side's YAML."""
    lines = diff.splitlines()
    assert lines[2].startswith("@@ -") and not any(ln.startswith("@@") for ln in lines[3:]), diff
    a = "".join(ln[1:] + "\n" for ln in lines[3:] if ln[:1] in (" ", "-"))
    b = "".join(ln[1:] + "\n" for ln in lines[3:] if ln[:1] in (" ", "+"))
    return a, b


def only_container(view: Obj, name: str) -> Obj:
    spec = view["spec"]["template"]["spec"]
    return {"spec": {"template": {"spec": {"containers": [
        c for c in spec["containers"] if c["name"] == name]}}}}


def test_sidecar_resources_are_a_diff_item_of_their_own(result, lab, prod):
    """postgres' own requests/limits and the exporter's are two items: difflib no longer
    pairs the exporter's lines with postgres' (the lab's 128Mi read as the exporter's)."""
    items = result["resources"].items
    assert [(i.ref, i.part) for i in items] == [
        ("StatefulSet/postgres", "container postgres"),
        ("StatefulSet/postgres", "container postgres-exporter")]
    fields = ("{pod}.containers[].resources",)
    a, b = (cmp.view(side["StatefulSet/postgres"], fields) for side in (lab, prod))
    own_a, own_b = sides(items[0].diff)
    assert own_a in cmp.to_yaml(only_container(a, "postgres"))
    assert own_b in cmp.to_yaml(only_container(b, "postgres"))
    assert "-            memory: 512Mi\n" in items[0].diff and "32Mi" not in items[0].diff
    assert sides(items[1].diff) == ("", cmp.to_yaml(only_container(b, "postgres-exporter")))
    assert "512Mi" not in items[1].diff
    assert "+++ production/StatefulSet/postgres (container postgres-exporter)" in items[1].diff


def test_tuning_mount_is_in_the_tuning_diff_not_the_read_only_root_one(result):
    tuning = result["postgres-tuning"]
    mounts = [i for i in tuning.items if i.part == "container postgres"]
    assert len(mounts) == 1
    _, b = sides(mounts[0].diff)
    (container,) = yaml.safe_load(b)["spec"]["template"]["spec"]["containers"]
    assert container["volumeMounts"] == [
        {"name": "tuning", "mountPath": "/etc/postgresql", "readOnly": True}]
    assert container["args"] == ["-c", "config_file=/etc/postgresql/postgresql.conf"]
    assert "/etc/postgresql" not in result.diff("read-only-root")
    assert "postgres-tuning" not in result.diff("read-only-root")
    # the new ConfigMap is shown whole, its postgresql.conf as the block it is in the file
    new = next(i for i in tuning.items if i.ref == "ConfigMap/postgres-tuning").diff
    assert new.startswith("--- /dev/null\n+++ production/ConfigMap/postgres-tuning")
    assert "+  postgresql.conf: |\n+    listen_addresses = '*'\n" in new


def test_empty_dir_volumes_are_kept(result, prod):
    """``emptyDir: {}`` is a volume's whole definition: a view that dropped it as empty
    showed a volume with a name and no source."""
    diff = result.diff("read-only-root")
    for w in workloads(prod):
        for v in pod(w).get("volumes", []):
            if v.get("emptyDir") == {}:
                assert f"- name: {v['name']}\n+        emptyDir: {{}}\n" in diff, (ref(w), v)
    fields = ("{pod}.volumes[!tuning]",)
    view = cmp.view(prod["Deployment/cart-service"], fields)
    assert view == {"spec": {"template": {"spec": {"volumes": [{"name": "tmp", "emptyDir": {}}]}}}}


def test_list_selectors_and_kind_prefixes():
    obj = {"kind": "Deployment", "metadata": {"name": "x"}, "spec": {"template": {"spec": {
        "containers": [{"name": "a", "image": "a:1", "env": []},
                       {"name": "b", "image": "b:1"}],
        "volumes": [{"name": "t", "emptyDir": {}}, {"name": "u", "configMap": {"name": "u"}}]}}}}
    pick = cmp.view
    assert pick(obj, ("{pod}.containers[b].image",))["spec"]["template"]["spec"] == {
        "containers": [{"name": "b", "image": "b:1"}]}
    assert pick(obj, ("{pod}.volumes[!u]",))["spec"]["template"]["spec"]["volumes"] == [
        {"name": "t", "emptyDir": {}}]
    assert pick(obj, ("{pod}.containers[].env",))["spec"]["template"]["spec"]["containers"] == [
        {"name": "a", "env": []}]  # only the item that has it; its empty list kept
    assert pick(obj, ("{pod}.affinity",)) == {}  # nothing picked: no scaffolding
    assert pick(obj, ("Deployment:",)) == obj and pick(obj, ("Service:",)) == {}


def test_diff_html_colours_added_and_removed_lines(result):
    html = result.view("replicas")._repr_html_()
    assert f'<div style="background-color: {GREEN}; color: #000">+  replicas: 3</div>' in html
    assert f'<div style="background-color: {RED}; color: #000">-  replicas: 2</div>' in html
    assert '<div style="font-weight: bold">+++ production/Deployment/ecommerce-frontend</div>' \
        in html
    assert "<div> spec:</div>" in html  # context: not coloured
    secret = result.view("secrets")._repr_html_()
    assert "&lt;redacted&gt;" in secret and "<redacted>" not in secret
    text = str(result.view("replicas"))
    assert text.startswith("## More replicas") and "+  replicas: 3" in text


# ------------------------------------------------ the check measures the manifests themselves


def copy_variants(tmp_path) -> tuple:
    """Copies of manifests/lab and manifests/production (production refers to ../lab)."""
    shutil.copytree(cmp.MANIFESTS_DIR / "lab", tmp_path / "lab")
    shutil.copytree(cmp.MANIFESTS_DIR / "production", tmp_path / "production")
    return tmp_path / "lab", tmp_path / "production"


def check_rows(checks) -> dict[str, tuple[str, str, str]]:
    return {r.criterion: (r.ok, r.evidence, r.hint) for r in checks.itertuples()}


def test_checks_pass_on_production_with_hints_only_on_failing_rows(result):
    checks = cmp.production_checks(result)
    assert (checks["ok"] == "✅").all(), checks.to_string()
    assert (checks["hint"] == "").all()
    rows = check_rows(checks)
    n = len(cmp.CHANGES)
    assert rows["every listed change is made by manifests/production"][1] == (
        f"{n}/{n} changes differ from lab")


def test_check_fails_when_production_stops_making_a_change(tmp_path):
    lab_dir, prod_dir = copy_variants(tmp_path)
    kustomization = prod_dir / "kustomization.yaml"
    text = kustomization.read_text()
    assert "  - autoscaling.yaml\n" in text
    kustomization.write_text(text.replace("  - autoscaling.yaml\n", ""))
    rows = check_rows(cmp.production_checks(cmp.compare(lab_dir, prod_dir)))
    n = len(cmp.CHANGES)
    ok, evidence, hint = rows["every listed change is made by manifests/production"]
    assert (ok, evidence) == ("❌", f"{n - 1}/{n} changes differ from lab")
    assert "no longer makes: autoscaling" in hint
    assert rows["every difference from lab is one of the listed changes"] == (
        "✅", rows["every difference from lab is one of the listed changes"][1], "")


def test_check_fails_on_a_difference_no_listed_change_explains(tmp_path):
    lab_dir, prod_dir = copy_variants(tmp_path)
    kustomization = prod_dir / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().rstrip("\n") + """
  - target:
      kind: Service
      name: redis
    patch: |-
      - op: add
        path: /spec/sessionAffinity
        value: ClientIP
""")
    result = cmp.compare(lab_dir, prod_dir)
    assert result.unexplained() == ["Service/redis: spec.sessionAffinity"]
    rows = check_rows(cmp.production_checks(result))
    ok, evidence, hint = rows["every difference from lab is one of the listed changes"]
    assert ok == "❌" and evidence.endswith(", 1 not explained")
    assert hint == "not explained: Service/redis: spec.sessionAffinity"
    assert rows["every listed change is made by manifests/production"][0] == "✅"
