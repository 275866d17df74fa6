"""labhelpers.manifests.with_registry (what ``lab.deploy`` uses for LAB_IMAGE_REGISTRY) moves
exactly what manifests/components/registry moves, to the same names."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from labhelpers.manifests import MANIFESTS_DIR, check_registry, registry_rule, with_registry
from labhelpers.manifests.kustomize import build

KUBECTL = shutil.which("kubectl")
REGISTRY = "registry.example.edu:5000/course"


def component_build(tmp_path, variant: str, registry: str, kubectl: bool) -> list[dict]:
    """``variant`` plus the registry component with its one setting changed to ``registry``."""
    shutil.copytree(MANIFESTS_DIR, tmp_path / "manifests")
    folder = tmp_path / "manifests" / "components" / "registry"
    [kfile] = [p for p in folder.iterdir() if p.name.startswith("kustomization")]
    spec = yaml.safe_load(kfile.read_text())
    spec["images"][0]["newName"] = f"{registry}/storefront"
    kfile.write_text(yaml.safe_dump(spec))
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(
        {"resources": [f"../manifests/{variant}"], "components": [
            "../manifests/components/registry"]}))
    if not kubectl:
        return build(overlay)
    out = subprocess.run([KUBECTL, "kustomize", str(overlay)], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def by_ref(objects: list[dict]) -> dict[str, dict]:
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in objects}


@pytest.mark.parametrize("variant", ["lab", "production"])
def test_with_registry_is_the_component(tmp_path, variant):
    plain = build(MANIFESTS_DIR / variant)
    moved = with_registry(plain, REGISTRY)
    expected = by_ref(component_build(tmp_path, variant, REGISTRY, kubectl=False))
    assert by_ref(moved) == expected
    if KUBECTL:  # and the component as the real kustomize builds it
        assert by_ref(moved) == by_ref(component_build(tmp_path / "k", variant, REGISTRY,
                                                       kubectl=True))


def test_only_storefront_images_move(lab):
    moved = by_ref(with_registry(lab, REGISTRY + "/"))  # a trailing slash is tolerated
    changed = set()
    for ref, before in by_ref(lab).items():
        after = moved[ref]
        if before != after:
            changed.add(ref)
            [old] = before["spec"]["template"]["spec"]["containers"]
            [new] = after["spec"]["template"]["spec"]["containers"]
            assert new["image"] == f"{REGISTRY}/{old['image']}"
            assert old["image"].startswith("storefront:")
    assert changed == {"Deployment/ecommerce-backend", "Deployment/cart-service"}
    assert lab == build(MANIFESTS_DIR / "lab"), "the input is not changed"
    assert with_registry(lab, None) == lab and with_registry(lab, "") == lab


@pytest.mark.parametrize("bad", ["https://ghcr.io/alice", "ghcr.io/Alice", "ghcr.io/a b",
                                 "ghcr.io/alice/storefront:1", "", "/"])
def test_a_bad_registry_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="host\\[:port\\]\\[/path\\]"):
        check_registry(bad)


def test_registry_rule():
    assert registry_rule("localhost:5000") == {"name": "storefront",
                                               "newName": "localhost:5000/storefront"}
