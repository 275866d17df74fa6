"""Shared fixtures for the manifest tests: every variant built once per session."""

from __future__ import annotations

import pytest
from manifest_helpers import KUSTOMIZATIONS

from labhelpers.manifests import MANIFESTS_DIR
from labhelpers.manifests.kustomize import build


@pytest.fixture(scope="session")
def builds() -> dict[str, list[dict]]:
    """Variant folder (relative to manifests/) -> its objects, built by our kustomize."""
    return {name: build(MANIFESTS_DIR / name) for name in KUSTOMIZATIONS}


@pytest.fixture(scope="session")
def lab(builds) -> list[dict]:
    return builds["lab"]
