"""labhelpers.manifests.kustomize: the features we use behave, and match `kubectl kustomize` exactly."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml
from manifest_helpers import KUSTOMIZATIONS

from labhelpers.manifests import MANIFESTS_DIR
from labhelpers.manifests.kustomize import KustomizeError, build, json6902, strategic_merge

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl is not installed: nothing to compare our kustomize with"
)


def kubectl_kustomize(path: Path) -> list[dict]:
    out = subprocess.run(
        [KUBECTL, "kustomize", str(path)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc is not None]


def canonical(objects: list[dict]) -> list[str]:
    return sorted(json.dumps(o, sort_keys=True) for o in objects)


@needs_kubectl
@pytest.mark.parametrize("variant", KUSTOMIZATIONS)
def test_build_equals_kubectl_kustomize(variant, builds):
    assert canonical(builds[variant]) == canonical(kubectl_kustomize(MANIFESTS_DIR / variant))


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    return root


BASE = {
    "base/kustomization.yaml": """
        namespace: one
        resources: [app.yaml]
    """,
    "base/app.yaml": """
        apiVersion: v1
        kind: Namespace
        metadata: {name: one}
        ---
        apiVersion: v1
        kind: Secret
        metadata: {name: s}
        stringData: {password: x}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: web, labels: {app: web}}
        spec:
          selector: {app: web}
          ports: [{name: http, port: 80, targetPort: 8080}]
        ---
        apiVersion: apps/v1
        kind: StatefulSet
        metadata: {name: web, labels: {app: web, tier: x}}
        spec:
          serviceName: web
          replicas: 2
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web, old: yes-label}}
            spec:
              containers:
              - name: web
                image: web:1
                args: [a, b]
                env: [{name: A, value: "1"}, {name: B, value: "2"}, {name: C, value: "3"}]
                ports: [{containerPort: 8080, name: http}]
                volumeMounts: [{name: data, mountPath: /data}]
          volumeClaimTemplates:
          - metadata: {name: data}
            spec:
              accessModes: [ReadWriteOnce]
              resources: {requests: {storage: 1Gi}}
    """,
}
OVERLAY = {
    "overlay/kustomization.yaml": """
        namespace: two
        resources: [../base, extra.yaml]
        patches:
        - path: sts.yaml
        - patch: |
            apiVersion: v1
            kind: Secret
            metadata: {name: s}
            $patch: delete
        - target: {kind: StatefulSet, name: "w.*"}
          patch: |
            - {op: add, path: /spec/volumeClaimTemplates/0/spec/storageClassName, value: fast}
            - {op: add, path: /spec/template/spec/containers/0/args/-, value: c}
            - {op: copy, from: /spec/serviceName, path: /metadata/labels/svc}
        - target: {kind: Service, labelSelector: "app=web"}
          patch: |
            apiVersion: v1
            kind: Service
            metadata: {name: ignored}
            spec:
              ports: [{port: 443, name: https, targetPort: 8443}]
    """,
    "overlay/extra.yaml": """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: extra, labels: {app: web}}
        data: {k: v}
    """,
    "overlay/sts.yaml": """
        apiVersion: apps/v1
        kind: StatefulSet
        metadata: {name: web}
        spec:
          replicas: null
          template:
            metadata: {labels: {old: null, new: label}}
            spec:
              containers:
              - name: web
                env: [{name: C, value: "x"}, {name: B, $patch: delete}, {name: D, value: "4"}]
                ports: [{containerPort: 9090, name: metrics}]
                volumeMounts: [{name: tmp, mountPath: /tmp}]
              - name: sidecar
                image: side:1
              volumes: [{name: tmp, emptyDir: {}}]
    """,
}


@pytest.fixture
def overlay(tmp_path) -> Path:
    return write(tmp_path, {**BASE, **OVERLAY}) / "overlay"


def test_overlay_features(overlay):
    objects = {f"{o['kind']}/{o['metadata']['name']}": o for o in build(overlay)}
    assert set(objects) == {"Namespace/two", "Service/web", "StatefulSet/web", "ConfigMap/extra"}
    assert all(
        o["metadata"].get("namespace") == "two" for k, o in objects.items() if k != "Namespace/two"
    )
    sts = objects["StatefulSet/web"]
    assert "replicas" not in sts["spec"]
    assert sts["spec"]["template"]["metadata"]["labels"] == {"app": "web", "new": "label"}
    container = sts["spec"]["template"]["spec"]["containers"][0]
    # patch items first (in patch order), then the untouched originals — kubectl's order
    assert container["env"] == [{"name": "C", "value": "x"}, {"name": "D", "value": "4"},
                                {"name": "A", "value": "1"}]  # fmt: skip
    assert [p["containerPort"] for p in container["ports"]] == [9090, 8080]
    assert container["args"] == ["a", "b", "c"]
    assert [c["name"] for c in sts["spec"]["template"]["spec"]["containers"]] == ["web", "sidecar"]
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "fast"
    assert sts["metadata"]["labels"] == {"app": "web", "tier": "x", "svc": "web"}
    assert [p["port"] for p in objects["Service/web"]["spec"]["ports"]] == [443, 80]


@needs_kubectl
def test_overlay_features_equal_kubectl(overlay):
    assert canonical(build(overlay)) == canonical(kubectl_kustomize(overlay))


def test_strategic_merge_replaces_lists_without_merge_key():
    sts = {"kind": "StatefulSet", "spec": {"volumeClaimTemplates": [{"a": 1}, {"b": 2}]}}
    patched = strategic_merge(sts, {"spec": {"volumeClaimTemplates": [{"c": 3}]}})
    assert patched["spec"]["volumeClaimTemplates"] == [{"c": 3}]
    assert sts["spec"]["volumeClaimTemplates"] == [{"a": 1}, {"b": 2}], "input left untouched"


def test_json6902_operations_and_errors():
    doc = {"kind": "X", "a": {"b": [1, 2, 3]}, "m~/n": 1}
    out = json6902(doc, [
        {"op": "remove", "path": "/a/b/0"},
        {"op": "move", "from": "/m~0~1n", "path": "/moved"},
        {"op": "replace", "path": "/a/b/1", "value": 9},
        {"op": "test", "path": "/a/b", "value": [2, 9]},
    ])  # fmt: skip
    assert out == {"kind": "X", "a": {"b": [2, 9]}, "moved": 1}
    with pytest.raises(KustomizeError, match="test failed"):
        json6902(doc, [{"op": "test", "path": "/a/b/0", "value": 7}])
    with pytest.raises(KustomizeError, match="does not exist"):
        json6902(doc, [{"op": "replace", "path": "/nope", "value": 1}])
    with pytest.raises(KustomizeError, match="unknown op"):
        json6902(doc, [{"op": "frobnicate", "path": "/a"}])


@pytest.mark.parametrize(
    ("kustomization", "message"),
    [
        ("resources: [app.yaml]\nreplicas: [{name: web, count: 2}]\n", "replicas"),
        ("resources: [nope.yaml]\n", "not found"),
        ("resources: [https://github.com/x/y]\n", "remote"),
        ("kind: Komponent\nresources: [app.yaml]\n", "Komponent"),
        ("resources: [app.yaml, app.yaml]\n", "more than once"),
        ("resources: [app.yaml]\npatches:\n- patch: '[{op: remove, path: /spec}]'\n", "target"),
        ("resources: [app.yaml]\npatches:\n- patch: |\n    kind: Service\n"
         "    metadata: {name: gone}\n", "no object Service/gone"),
        ("resources: [app.yaml]\npatches:\n- target: {kind: Job}\n"
         "  patch: '[{op: remove, path: /spec}]'\n", "matches no object"),
        ("resources: [app.yaml]\npatches:\n- path: p.yaml\n  options: {allowNameChange: true}\n",
         "options"),
    ],
)  # fmt: skip
def test_unsupported_or_broken_kustomizations_fail_clearly(tmp_path, kustomization, message):
    write(tmp_path, {"app.yaml": BASE["base/app.yaml"], "kustomization.yaml": kustomization})
    with pytest.raises(KustomizeError, match=message):
        build(tmp_path)


def test_not_a_kustomization(tmp_path):
    with pytest.raises(KustomizeError, match="no kustomization"):
        build(tmp_path)
