"""Mutating admission plugins that look at other objects (defaults.py looks at one only).

DefaultStorageClass: the real API server's admission plugin of that name gives a claim
created without `storageClassName` the default class, so `kubectl get pvc` shows it and
the claim keeps that class even if the default changes later. An explicit class — also
one that does not exist, or `""` (no class) — is left alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


def default_class(classes: Iterable[dict[str, Any]]) -> str | None:
    """The default StorageClass; with several, the newest wins, then the first by name
    (GetDefaultClass since Kubernetes 1.26)."""
    marked = [c for c in classes
              if (c["metadata"].get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"]
    if not marked:
        return None
    by_name = sorted(marked, key=lambda c: c["metadata"]["name"])
    newest = max(by_name, key=lambda c: c["metadata"].get("creationTimestamp", ""))
    return newest["metadata"]["name"]


def default_storage_class(pvc: dict[str, Any], classes: Iterable[dict[str, Any]],
                          old: dict[str, Any] | None = None) -> None:
    """Set `spec.storageClassName` on a new claim that has none; keep it on an update."""
    spec = pvc.setdefault("spec", {})
    if spec.get("storageClassName") is not None:
        return
    if old is not None:
        kept = (old.get("spec") or {}).get("storageClassName")
        if kept is not None:
            spec["storageClassName"] = kept  # immutable once set: a PUT without it keeps it
        return
    name = default_class(classes)
    if name is not None:
        spec["storageClassName"] = name
