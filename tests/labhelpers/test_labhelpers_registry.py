"""LAB_IMAGE_REGISTRY / Lab(image_registry=...): deploy, ensure and apply run
``<registry>/storefront:<v>``. labcluster "pulls" the storefront by its last path part, so
the pods really start from the moved name here."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator

import pytest
from lh_support import Connected, wait_for

import labhelpers
from labhelpers.manifests import REGISTRY_ENV

pytestmark = [pytest.mark.timeout(300), pytest.mark.cluster]
NS = "lh-registry"
REGISTRY = "registry.example.edu:5000/course"


def written(lab: labhelpers.Lab, tier: str) -> str:
    """The image the tier's file names (``storefront:<v>``, ``redis:<v>``)."""
    [dep] = [o for o in lab.tier_objects(tier) if o["kind"] == "Deployment"]
    return dep["spec"]["template"]["spec"]["containers"][0]["image"]


def images(lab: labhelpers.Lab, deployment: str) -> list[str]:
    dep = lab.apps.read_namespaced_deployment(deployment, lab.namespace)
    return [c.image for c in dep.spec.template.spec.containers]


@pytest.fixture(scope="module")
def registry_lab(connected: Connected) -> Iterator[labhelpers.Lab]:
    lab = labhelpers.Lab(connected.lab.target, image_registry=REGISTRY).in_namespace(NS)
    yield lab
    with contextlib.redirect_stdout(io.StringIO()):
        lab.cleanup()


def test_the_registry_setting_is_checked_and_carried(connected: Connected, monkeypatch):
    monkeypatch.setenv(REGISTRY_ENV, REGISTRY + "/")
    lab = labhelpers.Lab(connected.lab.target)
    assert lab.image_registry == REGISTRY and f"registry={REGISTRY}" in repr(lab)
    assert lab.in_namespace("x").image_registry == REGISTRY
    assert labhelpers.Lab(connected.lab.target, image_registry="localhost:5000"
                          ).image_registry == "localhost:5000"  # the argument wins
    monkeypatch.setenv(REGISTRY_ENV, "https://ghcr.io/alice")
    with pytest.raises(ValueError, match="no https://"):
        labhelpers.Lab(connected.lab.target)
    monkeypatch.delenv(REGISTRY_ENV)
    assert labhelpers.Lab(connected.lab.target).image_registry is None


def test_deploy_runs_the_registrys_storefront(registry_lab: labhelpers.Lab) -> None:
    lab = registry_lab
    lab.deploy("config")
    lab.deploy("cache")
    pods = lab.deploy("cart")
    assert len(pods) >= 1 and set(pods["ready"]) == {"1/1"}
    storefront = written(lab, "cart")
    assert storefront.startswith("storefront:")
    assert images(lab, "cart-service") == [f"{REGISTRY}/{storefront}"]
    assert images(lab, "redis") == [written(lab, "cache")], "other images stay"
    for pod in lab.core.list_namespaced_pod(NS, label_selector="app.kubernetes.io/name="
                                            "cart-service").items:
        assert pod.spec.containers[0].image == f"{REGISTRY}/{storefront}"


def test_ensure_recreates_with_the_registry_from_the_environment(
        registry_lab: labhelpers.Lab, monkeypatch) -> None:
    monkeypatch.setenv(REGISTRY_ENV, "localhost:5000/other")
    lab = labhelpers.Lab(registry_lab.target)  # env only
    lab.apps.delete_namespaced_deployment("cart-service", NS)
    wait_for(lambda: "cart-service" not in
             [d.metadata.name for d in lab.apps.list_namespaced_deployment(NS).items],
             60, "cart-service deleted")
    with contextlib.redirect_stdout(io.StringIO()):
        table = lab.ensure("cart")
    assert "created" in set(table["state"])
    assert images(lab, "cart-service") == [f"localhost:5000/other/{written(lab, 'cart')}"]


def test_apply_moves_the_image_too(registry_lab: labhelpers.Lab) -> None:
    backend = [o for o in registry_lab.tier_objects("backend") if o["kind"] == "Deployment"]
    assert registry_lab.apply(backend) == ["Deployment/ecommerce-backend"]
    image = backend[0]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert images(registry_lab, "ecommerce-backend") == [f"{REGISTRY}/{image}"]
    assert image == written(registry_lab, "backend"), "the caller's objects are not changed"
