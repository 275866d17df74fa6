"""Manifest tooling: load Kubernetes YAML from files and folders into plain dicts, and what
is built on that — the kustomize subset, apply order, the linter, lab-vs-production diffs.

    files.py      one YAML file's objects, a folder's kustomization file, ``Kind/name``
    kustomize.py  the kustomize subset the manifests use (build a folder)
    ordering.py   apply order (Namespace → ConfigMap/Secret → PVC → Service → workloads)
    lint.py       the manifests linter (``python -m labhelpers.manifests.lint PATH``)
    compare.py    lab vs production/staging, change by change (notebook 9)

This module is the entry: everything that reads manifests (the deploy helpers, the
linter, the tests) goes through :func:`load`, so "what is in this folder" has one answer:
a folder with a kustomization is *built*; a plain folder is every ``*.yaml`` file in name
order. It also holds the lab's tiers and the namespace/registry overrides, and re-exports
``files``' names. Below the rest of labhelpers: it imports only errors, coursefiles and
(compare) the small helpers apply, commands, ownership and styling — never ``lab``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from labhelpers import coursefiles
from labhelpers.manifests.files import (  # re-exported: callers read files through this module
    KUSTOMIZATION_NAMES as KUSTOMIZATION_NAMES,
)
from labhelpers.manifests.files import ManifestError, find_kustomization, load_file
from labhelpers.manifests.files import ref as ref
from labhelpers.manifests.kustomize import build, set_images, set_namespace

#: The course's manifests (``labcourse`` package data: a checkout's folder or the wheel's).
MANIFESTS_DIR = coursefiles.MANIFESTS

#: The storefront's image without its tag: what a registry goes in front of.
STOREFRONT_IMAGE = "storefront"
#: One setting for a cluster that pulls from a registry: ``storefront:<v>`` →
#: ``$LAB_IMAGE_REGISTRY/storefront:<v>`` in everything labhelpers applies.
REGISTRY_ENV = "LAB_IMAGE_REGISTRY"
_REGISTRY = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9._-]+)*")

#: The lab's tiers in deploy order → the files of manifests/lab they apply (here, below
#: both lab.py and ensure.py, which use it).
TIERS: dict[str, tuple[str, ...]] = {
    "config": ("namespace", "config"),
    "database": ("database",),
    "cache": ("cache",),
    "cart": ("cart",),
    "backend": ("backend",),
    "frontend": ("frontend-site", "frontend"),
}
#: YAML files that live beside manifests but describe them (not Kubernetes objects).
METADATA_FILES = frozenset({"scenario.yaml", "lint.yaml"})


def load(path: str | Path) -> list[dict[str, Any]]:
    """Objects of a file, a kustomization folder (built) or a plain folder of YAML files."""
    path = Path(path)
    if path.is_file():
        return load_file(path)
    if not path.is_dir():
        raise ManifestError(f"{path}: no such file or folder")
    if find_kustomization(path):
        return build(path)
    objects: list[dict[str, Any]] = []
    for file in sorted([*path.glob("*.yaml"), *path.glob("*.yml")]):
        if file.name not in METADATA_FILES:
            objects.extend(load_file(file))
    return objects


def lab_tiers(lab_dir: str | Path | None = None) -> dict[str, Path]:
    """Tier name -> file, in the order the lab's kustomization lists (and deploys) them.

    The tier name is the file's stem (``database.yaml`` -> ``database``), so the
    notebooks' ``deploy("database")`` and the files on disk cannot drift apart.
    """
    lab_dir = Path(lab_dir) if lab_dir else MANIFESTS_DIR / "lab"
    kustomization = find_kustomization(lab_dir)
    if kustomization is None:
        raise ManifestError(f"{lab_dir}: no kustomization file")
    resources = (yaml.safe_load(kustomization.read_text()) or {}).get("resources") or []
    return {Path(entry).stem: lab_dir / entry for entry in resources}


def with_namespace(objects: Iterable[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    """Copies of objects placed in ``namespace`` (the deploy helpers' override)."""
    return set_namespace([copy.deepcopy(o) for o in objects], namespace)


def check_registry(registry: str) -> str:
    """``registry`` without a trailing slash, or a ValueError saying what a registry looks
    like (a typo here would otherwise surface as ImagePullBackOff much later)."""
    value = registry.strip().rstrip("/")
    if not _REGISTRY.fullmatch(value):
        raise ValueError(
            f"image registry {registry!r} is not host[:port][/path] in lower case "
            "(e.g. ghcr.io/alice or registry.example.edu:5000/course; no https://, no tag)")
    return value


def registry_rule(registry: str) -> dict[str, str]:
    """The kustomize ``images:`` rule that moves ``storefront:<v>`` to
    ``<registry>/storefront:<v>``: exactly manifests/components/registry's, with
    ``newName: <registry>/storefront``."""
    return {"name": STOREFRONT_IMAGE, "newName": f"{check_registry(registry)}/{STOREFRONT_IMAGE}"}


def with_registry(objects: Iterable[dict[str, Any]], registry: str | None
                  ) -> list[dict[str, Any]]:
    """Copies of objects whose storefront images come from ``registry`` (None or "": as
    they are). Same rule, same code as the registry component: kustomize's ``images:``."""
    objects = list(objects)
    return set_images(objects, [registry_rule(registry)]) if registry else copy.deepcopy(objects)
