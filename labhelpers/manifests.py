"""Load Kubernetes YAML from files and folders into plain dicts.

Everything that reads manifests (kustomize subset, linter, deploy helpers, tests) goes
through here, so "what is in this folder" has one answer: a folder with a
kustomization is *built*; a plain folder is every ``*.yaml`` file in name order.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

import labcourse
from labhelpers.errors import LabError

#: The course's manifests (``labcourse`` package data: a checkout's folder or the wheel's).
MANIFESTS_DIR = labcourse.MANIFESTS

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

#: The storefront's image without its tag: what a registry goes in front of.
STOREFRONT_IMAGE = "storefront"
#: One setting for a cluster that pulls from a registry: ``storefront:<v>`` →
#: ``$LAB_IMAGE_REGISTRY/storefront:<v>`` in everything labhelpers applies.
REGISTRY_ENV = "LAB_IMAGE_REGISTRY"
_REGISTRY = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9._-]+)*")

#: YAML files that live beside manifests but describe them (not Kubernetes objects).
METADATA_FILES = frozenset({"scenario.yaml", "lint.yaml"})


class ManifestError(LabError, ValueError):
    """A manifest file that is not a list of Kubernetes objects."""


def load_file(path: str | Path) -> list[dict[str, Any]]:
    """All objects of a (multi-document) YAML file; empty documents are skipped.

    A document that is not a mapping with ``apiVersion``, ``kind`` and ``metadata.name``
    raises, naming the file and document, because a silently skipped object is a tier
    that never gets deployed.
    """
    path = Path(path)
    try:
        docs = list(yaml.safe_load_all(path.read_text()))
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path}: not valid YAML: {exc}") from exc
    objects = []
    for index, doc in enumerate(docs):
        if doc is None:
            continue
        if not isinstance(doc, dict) or not doc.get("apiVersion") or not doc.get("kind"):
            raise ManifestError(
                f"{path}: document {index} is not a Kubernetes object (needs apiVersion and kind)"
            )
        if not (doc.get("metadata") or {}).get("name"):
            raise ManifestError(f"{path}: document {index} ({doc['kind']}) has no metadata.name")
        objects.append(doc)
    return objects


def find_kustomization(folder: str | Path) -> Path | None:
    """The kustomization file of a folder, or None when it has none."""
    for name in KUSTOMIZATION_NAMES:
        candidate = Path(folder) / name
        if candidate.is_file():
            return candidate
    return None


def load(path: str | Path) -> list[dict[str, Any]]:
    """Objects of a file, a kustomization folder (built) or a plain folder of YAML files."""
    path = Path(path)
    if path.is_file():
        return load_file(path)
    if not path.is_dir():
        raise ManifestError(f"{path}: no such file or folder")
    if find_kustomization(path):
        from labhelpers.kustomize import build  # a cycle at import time otherwise

        return build(path)
    objects: list[dict[str, Any]] = []
    for file in sorted([*path.glob("*.yaml"), *path.glob("*.yml")]):
        if file.name not in METADATA_FILES:
            objects.extend(load_file(file))
    return objects


def ref(obj: dict[str, Any]) -> str:
    """``Kind/name``: how findings, errors and people name an object."""
    return f"{obj['kind']}/{obj['metadata']['name']}"


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
    from labhelpers.kustomize import set_namespace

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
    from labhelpers.kustomize import set_images

    objects = list(objects)
    return set_images(objects, [registry_rule(registry)]) if registry else copy.deepcopy(objects)
