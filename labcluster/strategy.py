"""What differs per resource when ClusterApi creates, updates or deletes an object.

ClusterApi runs the same steps for every kind (decode, schema, defaults, semantic checks,
quota, store, watch events); the few rules that belong to one kind live here, one object
per resource, so ClusterApi never asks which kind it holds and a kind's rules are read in
one place. The shape is upstream's registry strategies (k8s.io/apiserver/pkg/registry/rest:
`RESTCreateStrategy.PrepareForCreate`, `RESTUpdateStrategy.PrepareForUpdate`,
`GracefulDeleteStrategy.CheckGracefulDelete`, `GarbageCollectionDeleteStrategy`) plus the
generic store's `AfterCreate` and `ReturnDeletedObject`, and the mutating admission
plugins that act on one kind (ServiceAccount, PodSecurity, DefaultStorageClass, the
Service IP/port allocators).

Semantic validation stays in validation.py and defaulting in defaults.py: both are tables
by kind already, and run for every kind at fixed points of ClusterApi's paths.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
from typing import TYPE_CHECKING, Any, Protocol

from . import admission, allocation, errors, podsecurity, serviceaccount, validation
from .errors import ApiError
from .meta import name_of, now

if TYPE_CHECKING:
    from .registry import Resource
    from .store import Store

Obj = dict[str, Any]
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class Cluster(Protocol):
    """What a strategy may use of ClusterApi (which imports this module, so it is named
    by what it offers rather than imported)."""

    store: Store
    network: ipaddress.IPv4Network | ipaddress.IPv6Network

    async def ensure_default_service_account(self, ns: str) -> None: ...

    async def publish_root_ca_in(self, ns: str) -> None: ...


class Strategy:
    """The generic store's behaviour: a kind with no rules of its own gets this."""

    #: POST keeps the status the client sent (namespaces, claims); others start without one
    keeps_status_on_create: bool = False
    #: may be created in a namespace that is being terminated (events, as upstream's
    #: NamespaceLifecycle admission lets them through)
    creatable_in_terminating_namespace: bool = False
    #: DELETE answers with the object rather than a Status (the store's ReturnDeletedObject)
    return_deleted_object: bool = False
    #: DELETE only marks the object; its controller removes it (namespaces: Terminating)
    deleted_by_controller: bool = False

    def prepare_create(self, obj: Obj) -> None:
        """PrepareForCreate: normalise a new object (in place) before defaults."""

    def prepare_update(self, new: Obj, old: Obj) -> None:
        """PrepareForUpdate: carry over what a PUT may not change (in place), before
        admission and defaults."""

    def prepare_subresource_update(self, sub: str, body: Obj, old: Obj) -> Obj:
        """The object a PUT to `sub` makes of `old`: `status` replaces the status only."""
        if sub == "status":
            new = copy.deepcopy(old)
            new["status"] = body.get("status", {})
            return new
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    def admit(self, api: Cluster, r: Resource, obj: Obj, old: Obj | None) -> None:
        """Mutating/validating admission of this kind (old is None on create)."""

    async def after_create(self, api: Cluster, created: Obj) -> None:
        """AfterCreate: what follows a stored create (every way of creating one)."""

    def graceful_delete_seconds(self, obj: Obj, requested: int | None) -> int:
        """CheckGracefulDelete: seconds the object lingers with a deletionTimestamp."""
        return 0

    def default_propagation(self) -> str | None:
        """DefaultGarbageCollectionPolicy when a DELETE names none (None: Background)."""
        return None

    def mark_deleting(self, obj: Obj) -> bool:
        """For `deleted_by_controller` kinds: mark `obj` (in place); False when it
        already was."""
        raise NotImplementedError


def fold_string_data(obj: Obj) -> None:
    """Secret `stringData` is write-only: merged into `data`, base64-encoded (its keys win,
    as upstream's conversion does)."""
    if "stringData" in obj:
        data = obj.setdefault("data", {})
        for k, v in obj.pop("stringData").items():
            data[k] = base64.b64encode(str(v).encode()).decode()


def _namespace_labels(api: Cluster, obj: Obj) -> dict[str, str]:
    nsobj = api.store.peek("/namespaces", "", obj["metadata"].get("namespace", ""))
    return ((nsobj or {}).get("metadata") or {}).get("labels") or {}


class SecretStrategy(Strategy):
    def prepare_create(self, obj: Obj) -> None:
        fold_string_data(obj)

    def prepare_update(self, new: Obj, old: Obj) -> None:
        fold_string_data(new)


class PodStrategy(Strategy):
    return_deleted_object = True

    def admit(self, api: Cluster, r: Resource, obj: Obj, old: Obj | None) -> None:
        """On create: the ServiceAccount plugin, then PodSecurity's enforce and warn levels
        (updates of pods are not re-checked)."""
        if old is not None:
            return
        ns = obj["metadata"].get("namespace", "")
        sa_name = (obj.get("spec") or {}).get("serviceAccountName") or "default"
        serviceaccount.admit_pod(obj, api.store.peek("/serviceaccounts", ns, sa_name))
        name = obj["metadata"].get("name", "")
        podsecurity.admit_pod(
            obj, _namespace_labels(api, obj),
            lambda why: errors.forbidden(r.plural, r.group, name, why), validation.warn)

    def graceful_delete_seconds(self, obj: Obj, requested: int | None) -> int:
        """Unscheduled or finished pods go at once; running ones wait for the kubelet."""
        if not (obj.get("spec") or {}).get("nodeName"):
            return 0
        if (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return 0
        if requested is not None:
            return max(0, requested)
        return int((obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30))


class WorkloadStrategy(Strategy):
    """Kinds with a pod template: PodSecurity warns about the template (never enforces:
    the pods are checked when their controller creates them)."""

    def admit(self, api: Cluster, r: Resource, obj: Obj, old: Obj | None) -> None:
        podsecurity.warn_template(r.plural, obj, _namespace_labels(api, obj), validation.warn)


class JobStrategy(WorkloadStrategy):
    def default_propagation(self) -> str | None:
        """batch/v1 keeps OrphanDependents for compatibility; the real server warns (and
        kubectl sends Background)."""
        validation.warn("child pods are preserved by default when jobs are deleted; set "
                        "propagationPolicy=Background to remove them or set "
                        "propagationPolicy=Orphan to suppress this warning")
        return "Orphan"


class ServiceStrategy(Strategy):
    return_deleted_object = True

    def admit(self, api: Cluster, r: Resource, obj: Obj, old: Obj | None) -> None:
        """The ClusterIP and node port allocators."""
        allocation.admit_service(list(api.store.items("/services")), api.network, obj, old)


class ClaimStrategy(Strategy):
    keeps_status_on_create = True

    def admit(self, api: Cluster, r: Resource, obj: Obj, old: Obj | None) -> None:
        """DefaultStorageClass."""
        admission.default_storage_class(obj, api.store.items("storage.k8s.io/storageclasses"),
                                        old)


class EventStrategy(Strategy):
    creatable_in_terminating_namespace = True


class NamespaceStrategy(Strategy):
    keeps_status_on_create = True
    deleted_by_controller = True

    def prepare_update(self, new: Obj, old: Obj) -> None:
        new["status"] = old.get("status", {})

    def prepare_subresource_update(self, sub: str, body: Obj, old: Obj) -> Obj:
        """status keeps the phase (only the namespace controller's DELETE path moves it);
        finalize replaces spec.finalizers only."""
        if sub == "finalize":
            new = copy.deepcopy(old)
            new.setdefault("spec", {})["finalizers"] = (body.get("spec") or {}).get(
                "finalizers", [])
            return new
        new = super().prepare_subresource_update(sub, body, old)
        new["status"]["phase"] = old.get("status", {}).get("phase", "Active")
        return new

    async def after_create(self, api: Cluster, created: Obj) -> None:
        """What kube-controller-manager adds to a new namespace at once: its `default`
        ServiceAccount and kube-root-ca.crt."""
        await api.ensure_default_service_account(name_of(created))
        await api.publish_root_ca_in(name_of(created))

    def mark_deleting(self, obj: Obj) -> bool:
        meta = obj["metadata"]
        if meta["name"] in SYSTEM_NAMESPACES:
            raise errors.forbidden("namespaces", "", meta["name"],
                                   "this namespace may not be deleted")
        if meta.get("deletionTimestamp"):
            return False
        meta["deletionTimestamp"] = now()
        meta["deletionGracePeriodSeconds"] = 0
        obj["status"] = {"phase": "Terminating"}
        return True


DEFAULT = Strategy()
_WORKLOAD = WorkloadStrategy()
#: "group/plural" (the store's key) → the resource's strategy; others get DEFAULT
STRATEGIES: dict[str, Strategy] = {
    "/pods": PodStrategy(),
    "/services": ServiceStrategy(),
    "/secrets": SecretStrategy(),
    "/persistentvolumeclaims": ClaimStrategy(),
    "/events": EventStrategy(),
    "/namespaces": NamespaceStrategy(),
    "batch/jobs": JobStrategy(),
    **{key: _WORKLOAD for key in ("apps/deployments", "apps/replicasets", "apps/statefulsets",
                                  "apps/daemonsets", "batch/cronjobs",
                                  "/replicationcontrollers", "/podtemplates")},
}


def strategy_for(r: Resource) -> Strategy:
    return STRATEGIES.get(f"{r.group}/{r.plural}", DEFAULT)
