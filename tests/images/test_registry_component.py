"""manifests/components/registry: changing its one setting (`newName`) moves every
storefront image of every variant to `<registry>/storefront:<version>` and nothing else.
Built with the real kustomize (`kubectl kustomize`); tests/manifests checks that
labhelpers' own kustomize subset builds the component the same way."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from tools import KUBECTL_INSTALL, needs_tool

from labcourse import images

ROOT = Path(__file__).resolve().parents[2]
COMPONENT = ROOT / "manifests" / "components" / "registry"
KUBECTL = shutil.which("kubectl")
pytestmark = needs_tool("kubectl", KUBECTL, KUBECTL_INSTALL)
VERSION = images.version()


def containers(objects: list[dict]) -> list[tuple[str, str]]:
    """(object/container, image) for every container of every pod template."""
    found = []
    for obj in objects:
        spec = (obj.get("spec") or {}).get("template", {}).get("spec")
        for c in [*(spec or {}).get("initContainers", []), *(spec or {}).get("containers", [])]:
            found.append((f"{obj['kind']}/{obj['metadata']['name']}/{c['name']}", c["image"]))
    return found


def kustomize(path: Path) -> list[dict]:
    out = subprocess.run([KUBECTL, "kustomize", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


@functools.cache
def variant_objects(variant: str) -> list[dict]:
    return kustomize(ROOT / "manifests" / variant)


def overlay(tmp_path: Path, variant: str, registry: str | None) -> Path:
    """A learner's overlay: the variant plus the component, its one setting changed."""
    component = tmp_path / "registry"
    shutil.copytree(COMPONENT, component)
    if registry is not None:
        spec = yaml.safe_load((component / "kustomization.yaml").read_text())
        spec["images"][0]["newName"] = f"{registry}/storefront"
        (component / "kustomization.yaml").write_text(yaml.safe_dump(spec))
    over = tmp_path / "overlay"
    over.mkdir()
    (over / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [os.path.relpath(ROOT / "manifests" / variant, over)],
        "components": ["../registry"]}))
    return over


def test_the_component_has_exactly_one_setting():
    spec = yaml.safe_load((COMPONENT / "kustomization.yaml").read_text())
    assert spec["kind"] == "Component"
    assert set(spec) == {"apiVersion", "kind", "images"}
    assert spec["images"] == [{"name": "storefront",
                               "newName": "ghcr.io/your-github-user/storefront"}]


@pytest.mark.parametrize("variant", ["lab", "staging", "production"])
@pytest.mark.parametrize("registry", ["ghcr.io/alice", "registry.example.edu:5000/course"])
def test_every_storefront_image_moves_to_the_registry(tmp_path, variant, registry):
    before = dict(containers(variant_objects(variant)))
    after = dict(containers(kustomize(overlay(tmp_path, variant, registry))))
    assert before.keys() == after.keys()
    ours = {k for k, image in before.items() if image.split(":")[0] == "storefront"}
    assert len(ours) >= 2  # backend and cart
    for key, image in before.items():
        if key in ours:
            assert image == f"storefront:{VERSION}"
            assert after[key] == f"{registry}/storefront:{VERSION}", key
        else:
            assert after[key] == image, f"{key}: not a storefront image, must not move"


def test_only_images_change(tmp_path):
    """Apart from the image strings, the lab is object for object what it was."""
    base = variant_objects("lab")
    moved = kustomize(overlay(tmp_path, "lab", "ghcr.io/alice"))
    text = yaml.safe_dump_all(moved).replace("ghcr.io/alice/storefront:", "storefront:")
    assert list(yaml.safe_load_all(text)) == base
