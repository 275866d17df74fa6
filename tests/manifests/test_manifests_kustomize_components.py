"""labhelpers.manifests.kustomize: `components:` and `images:` — on their own, and equal to
`kubectl kustomize` (compared when kubectl is installed)."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from labhelpers.manifests import MANIFESTS_DIR
from labhelpers.manifests.kustomize import KustomizeError, build, retag_image, split_image

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl is not installed: nothing to compare our kustomize with"
)
IMAGES = {  # container name -> image, the cases kustomize's matching and splitting decide
    "plain": "storefront",
    "tag": "storefront:0.1.0",
    "digest": "storefront@sha256:abc",
    "both": "storefront:1@sha256:def",
    "other-host": "docker.io/storefront:1",
    "prefix": "storefronts:1",
    "port": "localhost:5000/x/storefront:2",
    "nginx": "nginx:1.27",
}


def kubectl_kustomize(path: Path) -> list[dict]:
    out = subprocess.run(
        [KUBECTL, "kustomize", str(path)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc is not None]


def by_ref(objects: list[dict]) -> dict[str, dict]:
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in objects}


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    return root


def images_of(obj: dict) -> dict[str, str]:
    spec = obj["spec"]["template"]["spec"]
    return {c["name"]: c["image"] for c in spec.get("initContainers", []) + spec["containers"]}


DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
    "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"initContainers": [{"name": "init", "image": "storefront:0.1.0"}],
                 "containers": [{"name": n, "image": i} for n, i in IMAGES.items()]}}},
}  # fmt: skip
TREE = {
    "base/kustomization.yaml": "resources: [app.yaml]\n",
    "base/app.yaml": yaml.safe_dump_all([DEPLOYMENT, {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"},
        "data": {"containers": "not a list: left alone"}}, {
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "cj"},
        "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "a", "image": "nginx"}]}}}}}},
    ]),  # fmt: skip
    "comp/kustomization.yaml": """
        apiVersion: kustomize.config.k8s.io/v1alpha1
        kind: Component
        resources: [pod.yaml]
        images:
        - {name: storefront, newName: reg.example:5000/course/storefront}
        - {name: nginx, newTag: "9"}
        patches:
        - patch: |
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: cm}
            data: {from-component: "yes"}
    """,
    "comp/pod.yaml": """
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          containers: [{name: a, image: "storefront:3"}]
    """,
    "overlay/kustomization.yaml": """
        namespace: ov
        resources: [../base]
        components: [../comp]
        images:
        - {name: reg.example:5000/course/storefront, digest: "sha256:0123"}
    """,
}


@pytest.fixture
def tree(tmp_path) -> Path:
    return write(tmp_path, TREE)


def test_component_adds_resources_and_transforms_its_includers_objects(tree):
    objects = by_ref(build(tree / "overlay"))
    assert set(objects) == {"Deployment/web", "ConfigMap/cm", "CronJob/cj", "Pod/p"}
    assert {o["metadata"]["namespace"] for o in objects.values()} == {"ov"}
    assert objects["ConfigMap/cm"]["data"] == {"containers": "not a list: left alone",
                                               "from-component": "yes"}
    reg = "reg.example:5000/course/storefront@sha256:0123"  # component, then the overlay's
    assert images_of(objects["Deployment/web"]) == {
        "init": reg, "plain": reg, "tag": reg, "digest": reg, "both": reg,
        "other-host": "docker.io/storefront:1", "prefix": "storefronts:1",
        "port": "localhost:5000/x/storefront:2", "nginx": "nginx:9",
    }  # fmt: skip
    assert objects["Pod/p"]["spec"]["containers"][0]["image"] == reg
    cron = objects["CronJob/cj"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert cron["containers"][0]["image"] == "nginx:9"


def test_a_component_builds_on_its_own(tree):
    with pytest.raises(KustomizeError, match="no object ConfigMap/cm"):
        build(tree / "comp")  # alone, its patch has no target (kubectl fails as well)
    kfile = tree / "comp" / "kustomization.yaml"
    kfile.write_text(kfile.read_text().split("patches:")[0])
    [pod] = build(tree / "comp")
    assert pod["spec"]["containers"][0]["image"] == "reg.example:5000/course/storefront:3"
    if KUBECTL:
        assert [pod] == kubectl_kustomize(tree / "comp")


@needs_kubectl
def test_components_and_images_equal_kubectl(tree):
    ours = sorted(build(tree / "overlay"), key=lambda o: o["kind"])
    assert ours == sorted(kubectl_kustomize(tree / "overlay"), key=lambda o: o["kind"])


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"name": "storefront", "newTag": "2"},
         ["storefront:2", "storefront:2", "storefront:2", "storefront:2"]),
        ({"name": "storefront", "digest": "sha256:9"},
         ["storefront@sha256:9"] * 4),
        ({"name": "storefront", "newTag": "2", "digest": "sha256:9"},
         ["storefront:2@sha256:9"] * 4),
        ({"name": "storefront", "newName": "r/s"},
         ["r/s", "r/s:0.1.0", "r/s@sha256:abc", "r/s:1@sha256:def"]),
        ({"name": "storefront:0.1.0", "newTag": "2"},  # a name with a tag matches only it
         ["storefront", "storefront:2", "storefront@sha256:abc", "storefront:1@sha256:def"]),
    ],
)  # fmt: skip
def test_retag_image(rule, expected):
    images = ["storefront", "storefront:0.1.0", "storefront@sha256:abc", "storefront:1@sha256:def"]
    assert [retag_image(i, rule) for i in images] == expected
    assert retag_image("docker.io/storefront:1", rule) == "docker.io/storefront:1"


@needs_kubectl
@pytest.mark.parametrize("rule", [
    {"name": "storefront", "newTag": "2"},
    {"name": "storefront", "newName": "ghcr.io/me/storefront", "digest": "sha256:9"},
    {"name": "storefront:0.1.0", "newTag": "2"},
    {"name": "localhost:5000/x/storefront", "newName": "y/storefront"},
    {"name": "docker.io/storefront", "newTag": "5", "digest": "sha256:1"},
])  # fmt: skip
def test_retag_image_equals_kubectl(tmp_path, rule):
    write(tmp_path, {"app.yaml": yaml.safe_dump(DEPLOYMENT),
                     "kustomization.yaml": yaml.safe_dump({"resources": ["app.yaml"],
                                                           "images": [rule]})})
    assert images_of(build(tmp_path)[0]) == images_of(kubectl_kustomize(tmp_path)[0])


def test_split_image():
    assert split_image("storefront") == ("storefront", "", "")
    assert split_image("storefront:1") == ("storefront", "1", "")
    assert split_image("storefront@sha256:ab") == ("storefront", "", "sha256:ab")
    assert split_image("storefront:1@sha256:ab") == ("storefront", "1", "sha256:ab")
    assert split_image("localhost:5000/storefront") == ("localhost:5000/storefront", "", "")
    assert split_image("localhost:5000/a/storefront:2") == ("localhost:5000/a/storefront",
                                                            "2", "")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"kustomization.yaml": "resources: [app.yaml]\ncomponents: [base]\n",
          "base/kustomization.yaml": "resources: []\n"}, "must be Component"),
        ({"kustomization.yaml": "resources: [comp]\n",
          "comp/kustomization.yaml": "kind: Component\n"}, "belongs under components"),
        ({"kustomization.yaml": "components: [nope]\n"}, "not a folder"),
        ({"kustomization.yaml": "resources: [app.yaml]\nimages: [{newTag: '2'}]\n"},
         "with a `name`"),
        ({"kustomization.yaml": "resources: [app.yaml]\nimages: [{name: a, newTag: 2}]\n"},
         "must be a string"),
        ({"kustomization.yaml": "resources: [app.yaml]\nimages: [{name: a, tagSuffix: x}]\n"},
         "tagSuffix"),
    ],
)  # fmt: skip
def test_bad_components_and_images_fail_clearly(tmp_path, files, message):
    write(tmp_path, {"app.yaml": yaml.safe_dump(DEPLOYMENT), **files})
    with pytest.raises(KustomizeError, match=message):
        build(tmp_path)


def test_the_registry_component_on_the_lab(tmp_path):
    """manifests/components/registry over manifests/lab: backend and cart run the
    registry's storefront at the same version; postgres, redis and nginx are untouched."""
    shutil.copytree(MANIFESTS_DIR / "lab", tmp_path / "lab")
    shutil.copytree(MANIFESTS_DIR / "components" / "registry", tmp_path / "registry")
    write(tmp_path, {"class/kustomization.yaml": """
        resources: [../lab]
        components: [../registry]
    """})
    lab, built = by_ref(build(tmp_path / "lab")), by_ref(build(tmp_path / "class"))
    assert set(built) == set(lab)
    changed = {ref for ref in lab if lab[ref] != built[ref]}
    assert changed == {"Deployment/ecommerce-backend", "Deployment/cart-service"}
    for ref in changed:
        [before] = lab[ref]["spec"]["template"]["spec"]["containers"]
        [after] = built[ref]["spec"]["template"]["spec"]["containers"]
        assert before["image"].startswith("storefront:")
        assert after["image"] == "ghcr.io/your-github-user/" + before["image"]
    if KUBECTL:
        assert sorted(built.items()) == sorted(by_ref(kubectl_kustomize(tmp_path / "class"))
                                               .items())
