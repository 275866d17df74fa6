"""Lister-style reads of the server's objects, for controllers and the node.

client-go's controllers never read the API server in their loops: they read an informer's
cache through listers (`podLister.Pods(ns).Get(name)`, `.List(selector)`), and the objects
they get are the cache's own — deep-copied before any change (sample-controller's
`foo.DeepCopy()`). In labcluster the "cache" is the store's in-memory mirror, always
current (one process, no informer lag), so a lister here is a thin, named view of it: one
place that knows how a resource name becomes a store key, instead of `"apps/replicasets"`
strings spread over every controller.

Everything returned is the stored object itself: read-only. A caller that changes an
object first takes `copy.deepcopy` of it, as upstream's controllers do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .meta import controller_of, labels_of
from .selectors import Requirement, labels_match, parse_label_selector, selector_from_match

if TYPE_CHECKING:
    from .registry import Registry, Resource
    from .store import Store

Selector = str | dict[str, Any] | None


class Listers:
    """Reads of every stored resource by its name as callers write it (`"pods"`,
    `"replicasets"`, `"deployments.apps"`, a Resource): get, list, and the objects a given
    owner controls."""

    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry
        self._keys: dict[str, str] = {}

    def key(self, resource: str | Resource) -> str:
        """The store's key ("group/plural") of a resource; unknown names raise KeyError."""
        if not isinstance(resource, str):
            return f"{resource.group}/{resource.plural}"
        found = self._keys.get(resource)
        if found is None:
            r = self.registry.find(resource)
            found = self._keys[resource] = f"{r.group}/{r.plural}"
        return found

    def get(self, resource: str | Resource, namespace: str | None,
            name: str) -> dict[str, Any] | None:
        """The object, or None when there is none (cluster-scoped: namespace "" or None).
        Read-only."""
        return self.store.peek(self.key(resource), namespace or "", name)

    def list(self, resource: str | Resource, namespace: str | None = None,
             selector: Selector = None) -> list[dict[str, Any]]:
        """The objects of a namespace (None: all), sorted by (namespace, name), whose labels
        match `selector` — a label selector string (`app=web,tier in (a,b)`) or a
        LabelSelector (`{"matchLabels": …, "matchExpressions": …}`; empty selects all);
        None: no filter. A list, so callers may await while walking it. Read-only."""
        items = self.store.items(self.key(resource), namespace or None)
        if selector is None:
            return list(items)
        reqs = _requirements(selector)
        return [o for o in items if labels_match(reqs, labels_of(o))]

    def controlled_by(self, resource: str | Resource, namespace: str,
                      owner_uid: str) -> list[dict[str, Any]]:
        """The objects of a namespace whose controller reference (the ownerReference with
        `controller: true`) names `owner_uid`: what a workload controller claims as its
        own. Read-only."""
        return [o for o in self.store.items(self.key(resource), namespace)
                if (controller_of(o) or {}).get("uid") == owner_uid]


def _requirements(selector: str | dict[str, Any]) -> list[Requirement]:
    if isinstance(selector, str):
        return parse_label_selector(selector)
    if isinstance(selector, dict):
        return selector_from_match(selector) or []
    raise TypeError(f"a selector is a string or a LabelSelector dict, not {selector!r}")
