"""labhelpers.manifests.lint: clean variants stay clean, each scenario yields exactly its findings,
and each rule fires (and stays quiet) where it should."""

from __future__ import annotations

import copy

import pytest
from manifest_helpers import SCENARIOS, scenario

from labhelpers.manifests import MANIFESTS_DIR, load
from labhelpers.manifests.lint import RULES, Finding, lint, lint_path, parse_quantity

RULE_IDS = {
    "selector-mismatch", "service-no-match", "target-port-mismatch", "missing-reference",
    "unknown-host", "probe-path-unknown", "missing-resources", "image-tag-latest",
    "image-tag-unknown", "storageclass-unknown", "memory-below-minimum",
}  # fmt: skip


@pytest.mark.parametrize("variant", ["lab", "production", "staging"])
def test_variants_lint_clean(variant):
    findings = lint_path(MANIFESTS_DIR / variant)
    assert findings == [], "\n".join(map(str, findings))


def test_lab_with_nodeport_service_lints_clean(lab):
    nodeport = load(MANIFESTS_DIR / "lab" / "frontend-nodeport.yaml")
    for svc in nodeport:
        svc["metadata"]["namespace"] = "ecommerce-lab"
    assert lint([*lab, *nodeport]) == []


def test_production_secret_is_external_on_purpose(builds):
    """Without lint.yaml's `external`, the out-of-band Secret is reported: the rule is live."""
    findings = lint(builds["production"])
    assert {(f.rule, f.objects[-1]) for f in findings} == {
        ("missing-reference", "Secret/postgres-secret")
    }
    assert {f.object for f in findings} == {"StatefulSet/postgres", "Deployment/ecommerce-backend"}


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_yields_exactly_its_findings(name):
    expected = sorted((f["rule"], f["object"]) for f in scenario(name)["findings"])
    findings = lint_path(MANIFESTS_DIR / "broken" / name)
    assert sorted((f.rule, f.object) for f in findings) == expected, "\n".join(map(str, findings))
    for finding in findings:
        assert finding.object in finding.message, "the message names the object to change"
        assert finding.fix and finding.severity in ("error", "warning")


def test_rule_ids_are_the_documented_ones():
    sample = [f.rule for name in SCENARIOS for f in lint_path(MANIFESTS_DIR / "broken" / name)]
    assert set(sample) <= RULE_IDS
    assert len(RULES) == len(RULE_IDS)


# ------------------------------------------------------------------ rule by rule


def deployment(name="web", labels=None, containers=None, volumes=None, **spec):
    labels = labels or {"app": name}
    pod = {"containers": containers or [container()]}
    if volumes:
        pod["volumes"] = volumes
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": dict(labels)},
                     "template": {"metadata": {"labels": labels}, "spec": pod}, **spec}}  # fmt: skip


def container(name="web", image="storefront:0.1.0", **extra):
    resources = {"requests": {"cpu": "100m", "memory": "128Mi"},
                 "limits": {"cpu": "1", "memory": "256Mi"}}  # fmt: skip
    return {"name": name, "image": image, "resources": resources,
            "ports": [{"name": "http", "containerPort": 5000}], **extra}  # fmt: skip


def service(name="web", selector=None, target=5000, port=5000):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": selector or {"app": name},
                     "ports": [{"port": port, "targetPort": target}]}}  # fmt: skip


def config(kind="ConfigMap", name="cfg", **data):
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": name},
            ("stringData" if kind == "Secret" else "data"): data}  # fmt: skip


def rules(objects, **options) -> list[tuple[str, str]]:
    return [(f.rule, f.object) for f in lint(objects, **options)]


def test_target_port_by_name_or_number():
    assert rules([deployment(), service(target="http")]) == []
    assert rules([deployment(), service(target=5000)]) == []
    assert rules([deployment(), service(target="metrics")]) == [
        ("target-port-mismatch", "Service/web")
    ]
    assert rules([deployment(), service(target=None, port=80)]) == [
        ("target-port-mismatch", "Service/web")
    ], "targetPort defaults to port"


def test_selector_with_match_expressions():
    ok = deployment()
    ok["spec"]["selector"] = {"matchExpressions": [
        {"key": "app", "operator": "In", "values": ["web", "www"]}]}  # fmt: skip
    assert rules([ok]) == []
    bad = copy.deepcopy(ok)
    bad["spec"]["selector"]["matchExpressions"][0]["operator"] = "NotIn"
    assert rules([bad]) == [("selector-mismatch", "Deployment/web")]


def test_service_no_match_suggests_the_closest_workload():
    [finding] = lint([deployment("cart-service"), service("cart", selector={"app": "cart"})])
    assert finding.rule == "service-no-match" and "Deployment/cart-service" in finding.fix


def test_env_from_and_volume_references():
    env_from = container(envFrom=[{"configMapRef": {"name": "missing"}},
                                  {"secretRef": {"name": "opt", "optional": True}}])  # fmt: skip
    vols = [{"name": "v", "configMap": {"name": "cfg", "items": [{"key": "nope", "path": "x"}]}},
            {"name": "p", "projected": {"sources": [{"secret": {"name": "gone"}}]}}]  # fmt: skip
    found = rules([config(a="1"), deployment(containers=[env_from], volumes=vols)])
    assert sorted(f for f in found) == [("missing-reference", "Deployment/web")] * 3
    messages = " ".join(f.message for f in lint([config(a="1"), deployment(
        containers=[env_from], volumes=vols)]))  # fmt: skip
    assert "ConfigMap/missing" in messages and "'nope'" in messages and "Secret/gone" in messages


def test_external_objects_are_not_missing():
    c = container(env=[{"name": "P", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}])
    assert rules([deployment(containers=[c])]) == [("missing-reference", "Deployment/web")]
    assert rules([deployment(containers=[c])], external=["Secret/s"]) == []


@pytest.mark.parametrize(
    ("var", "value", "flagged"),
    [
        ("DATABASE_HOST", "db", False),
        ("DATABASE_HOST", "db:5432", False),
        ("DATABASE_HOST", "db.shop.svc.cluster.local", False),
        ("DATABASE_HOST", "db-0.db", False),
        ("DATABASE_HOST", "dbx", True),
        ("DATABASE_HOST", "dbx.shop.svc", True),
        ("DATABASE_HOST", "db.example.com", False),
        ("DATABASE_HOST", "127.0.0.1", False),
        ("CART_URL", "http://db:8080/x", False),
        ("CART_URL", "http://cart:8080", True),
        ("LOG_LEVEL", "cart", False),
    ],
)
def test_hosts_in_env(var, value, flagged):
    objects = [deployment("db"), service("db"), deployment(containers=[container(
        env=[{"name": var, "value": value}])])]  # fmt: skip
    for obj in objects:
        obj["metadata"]["namespace"] = "shop"
    assert rules(objects) == ([("unknown-host", "Deployment/web")] if flagged else [])


def test_host_from_config_map_names_the_config_map_and_suggests():
    env = [
        {
            "name": "DATABASE_HOST",
            "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "DATABASE_HOST"}},
        }
    ]
    objects = [
        deployment("postgres"),
        service("postgres"),
        config(DATABASE_HOST="postgres-db"),
        deployment(containers=[container(env=env)]),
    ]
    [finding] = lint(objects)
    assert finding.objects == ("ConfigMap/cfg", "Deployment/web")
    assert "'postgres'" in finding.fix


def test_probe_paths_per_image_role():
    def probe(path, **kw):
        return {"httpGet": {"path": path, "port": 5000}, **kw}

    good = container(readinessProbe=probe("/ready"), livenessProbe=probe("/health?x=1"))
    assert rules([deployment(containers=[good])]) == []
    cart = container(args=["cart"], readinessProbe=probe("/api/products"))
    assert rules([deployment(containers=[cart])]) == [("probe-path-unknown", "Deployment/web")]
    other = container(image="example/thing:1", readinessProbe=probe("/whatever"))
    assert rules([deployment(containers=[other])]) == [], "unknown images are not judged"


def test_nginx_probe_may_ask_for_a_site_file():
    site = config(name="site", **{"index.html": "<p>", "app.js": ""})
    nginx = container(
        image="nginx:1.27.3-alpine",
        readinessProbe={"httpGet": {"path": "/app.js", "port": 80}},
        volumeMounts=[{"name": "html", "mountPath": "/usr/share/nginx/html"}],
    )
    vols = [{"name": "html", "configMap": {"name": "site"}}]
    assert rules([site, deployment(containers=[nginx], volumes=vols)]) == []
    nginx["readinessProbe"]["httpGet"]["path"] = "/missing.js"
    assert rules([site, deployment(containers=[nginx], volumes=vols)]) == [
        ("probe-path-unknown", "Deployment/web")
    ]


@pytest.mark.parametrize(
    ("image", "rule"),
    [
        ("redis", "image-tag-latest"),
        ("redis:latest", "image-tag-latest"),
        ("localhost:5000/redis", "image-tag-latest"),
        ("localhost:5000/redis:7.4.1", None),
        ("redis@sha256:" + "a" * 64, None),
        ("storefront:9.9.9", "image-tag-unknown"),
        ("registry.example/team/storefront:0.1.0", None),
    ],
)
def test_image_tags(image, rule):
    assert rules([deployment(containers=[container(image=image)])]) == (
        [(rule, "Deployment/web")] if rule else []
    )


def test_missing_resources_lists_what_is_missing():
    bare = container()
    del bare["resources"]["limits"]
    [finding] = lint([deployment(containers=[bare])])
    assert finding.rule == "missing-resources" and finding.severity == "warning"
    assert "limits.cpu" in finding.message and "requests.cpu" not in finding.message


def test_storage_class_heuristic():
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": {
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [container(image="postgres:16.4")]},
            },
            "volumeClaimTemplates": [
                {"metadata": {"name": "d"}, "spec": {"storageClassName": "fast-ssd"}}
            ],
        },
    }
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c"},
           "spec": {"storageClassName": "gp3"}}  # fmt: skip
    assert rules([sts, pvc]) == [("storageclass-unknown", "StatefulSet/db")]
    assert "heuristic" in lint([sts])[0].message
    assert rules([sts, pvc], cluster_storage_classes=["fast-ssd"]) == []


def test_memory_minimum():
    small = container()
    small["resources"]["limits"]["memory"] = "64Mi"
    assert rules([deployment(containers=[small])]) == [("memory-below-minimum", "Deployment/web")]
    small["resources"]["limits"]["memory"] = "100M"  # 100e6 bytes < 96Mi
    assert rules([deployment(containers=[small])]) == [("memory-below-minimum", "Deployment/web")]
    small["resources"]["limits"]["memory"] = "101M"
    assert rules([deployment(containers=[small])]) == []


def test_parse_quantity():
    assert parse_quantity("1Gi") == 2**30
    assert parse_quantity("500m") == 0.5
    assert parse_quantity("1e3") == 1000
    assert parse_quantity(2) == 2
    assert parse_quantity("0.5") == 0.5 and parse_quantity("128Mi") == 128 * 2**20
    for bad in ("12 bananas", "Infinity", "1mi", ""):
        with pytest.raises(ValueError, match="not a Kubernetes quantity"):
            parse_quantity(bad)


def test_lint_path_on_a_plain_folder(tmp_path):
    import yaml

    (tmp_path / "app.yaml").write_text(yaml.safe_dump_all([deployment(), service(target=1)]))
    (tmp_path / "scenario.yaml").write_text("name: not-a-k8s-object\n")
    assert [f.rule for f in lint_path(tmp_path)] == ["target-port-mismatch"]


def test_finding_reads_as_one_line():
    f = Finding("r", "error", ("Service/x",), "Service/x is wrong.", "fix it.")
    assert str(f) == "error: [r] Service/x is wrong. Fix: fix it."


def test_command_line(capsys):
    from labhelpers.manifests.lint import main

    assert main([str(MANIFESTS_DIR / "lab")]) == 0
    assert "no findings" in capsys.readouterr().out
    assert main([str(MANIFESTS_DIR / "broken" / "target-port")]) == 1
    assert "[target-port-mismatch] Service/ecommerce-backend" in capsys.readouterr().out
