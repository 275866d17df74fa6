"""The labels that mark what labhelpers made, so cleanup never deletes a learner's work.

Everything applied through labhelpers carries both labels; a namespace is ours only when it
carries both, because the lab's own YAML sets ``part-of`` and a learner running
``kubectl apply -k`` gets that one without us.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from labhelpers.errors import LabError

PART_OF = "app.kubernetes.io/part-of"
MANAGED_BY = "app.kubernetes.io/managed-by"
LABELS = {PART_OF: "ecommerce-lab", MANAGED_BY: "labhelpers"}
#: ``kubectl get ... -l`` form of the labels (for list calls and the kubectl hints).
SELECTOR = ",".join(f"{k}={v}" for k, v in LABELS.items())


def stamp(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with our labels added (in place; returned for chaining)."""
    meta = obj.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), **LABELS}
    return obj


def is_ours(labels: dict[str, str] | None) -> bool:
    """True when the labels say labhelpers made the object."""
    labels = labels or {}
    return all(labels.get(k) == v for k, v in LABELS.items())


def template_claims(statefulsets: Iterable[dict[str, Any]], claims: Iterable[str]) -> list[str]:
    """The claims among ``claims`` that these StatefulSets' volumeClaimTemplates made
    (``<template>-<statefulset>-<ordinal>``). Their controller creates them without our
    labels, so cleanup finds them this way — a claim left behind would hand the next
    deployment's database the old volume."""
    patterns = [re.compile(rf"{re.escape(t['metadata']['name'])}-"
                           rf"{re.escape(s['metadata']['name'])}-\d+")
                for s in statefulsets for t in s.get("spec", {}).get("volumeClaimTemplates") or []]
    return [c for c in claims if any(p.fullmatch(c) for p in patterns)]


#: A classroom's second namespace per learner, beside their own (manifests/classroom/learner.yaml).
BREAKFIX_SUFFIX = "-breakfix"


def adopted_by_pod(namespace: str, service_account_namespace: str | None) -> bool:
    """True for the namespaces a learner pod deploys into without ``adopt=True``: its service
    account's own and ``<that>-breakfix``. The instructor makes both (labelled ``part-of``
    only) and the learner may not create namespaces, so asking them to adopt would only be
    a hurdle; any other namespace still needs ``adopt=True``."""
    if not service_account_namespace:
        return False
    return namespace in (service_account_namespace,
                         service_account_namespace + BREAKFIX_SUFFIX)


class NotOurs(LabError, RuntimeError):
    """An existing namespace labhelpers did not create (pass ``adopt=True`` to use it)."""
