"""Reading manifest files: one YAML file's objects, a folder's kustomization file, an
object's ``Kind/name``.

Why a module of its own: both :mod:`labhelpers.manifests` (files, folders, the lab's
tiers) and :mod:`labhelpers.manifests.kustomize` (which builds a kustomization from such
files) need these; kept below both, neither has to import the other inside a function to
dodge an import circle. :mod:`labhelpers.manifests` re-exports every name here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from labhelpers.errors import LabError

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


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


def ref(obj: dict[str, Any]) -> str:
    """``Kind/name``: how findings, errors and people name an object."""
    return f"{obj['kind']}/{obj['metadata']['name']}"
