"""Every object of every variant validates against the real Kubernetes schemas, strictly."""

from __future__ import annotations

import json

import kubernetes_validate
import pytest

from labhelpers.manifests import MANIFESTS_DIR, load

VERSIONS = ["1.29", "1.30", "1.31", "1.32", "1.33"]


@pytest.fixture(scope="session")
def distinct_objects(builds) -> dict[str, tuple[str, dict]]:
    """Each distinct object once (the scenarios share most of the lab's), with its origin."""
    found: dict[str, tuple[str, dict]] = {}
    extra = {"lab/frontend-nodeport.yaml": load(MANIFESTS_DIR / "lab" / "frontend-nodeport.yaml")}
    for variant, objects in {**builds, **extra}.items():
        for obj in objects:
            found.setdefault(json.dumps(obj, sort_keys=True), (variant, obj))
    return found


@pytest.mark.parametrize("version", VERSIONS)
def test_every_object_validates_strictly(version, distinct_objects):
    failures = []
    for variant, obj in distinct_objects.values():
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            failures.append(f"{variant}: {obj['kind']}/{obj['metadata']['name']}: {exc.message}")
    assert not failures, "\n".join(failures)


def test_every_variant_is_covered(builds, distinct_objects):
    assert {"lab", "production", "staging", "broken/combined"} <= set(builds)
    assert len(distinct_objects) > len(builds["lab"])


def test_strict_validation_really_rejects_unknown_fields():
    """Guards the test above: a misspelt field must fail, or 'validates' means nothing."""
    bad = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
           "spec": {"selectr": {"app": "x"}, "ports": [{"port": 80}]}}  # fmt: skip
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, "1.32", strict=True)
