"""ClusterApi: everything the API server does, callable in-process.

The HTTP handlers are thin over this object and the controllers (and the node's kubelet)
use it directly: one code path for defaulting, validation, admission, storage and watch
events, whoever the caller is.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import ipaddress
import json
import os
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from . import (
    decoding,
    defaults,
    errors,
    hpaconversion,
    managedfields,
    patch,
    quota,
    serviceaccount,
    validation,
)
from .errors import ApiError, FieldError
from .listers import Listers
from .meta import name_of, now, random_suffix
from .registry import Registry, Resource, default_registry
from .selectors import labels_match, matcher, selector_from_match, selector_string
from .store import Store
from .strategy import SYSTEM_NAMESPACES, strategy_for

SERVICE_CIDR = os.environ.get("LABCLUSTER_SERVICE_CIDR", "127.1.0.0/16")
DEFAULT_MANAGER = "labcluster"
PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
    "application/apply-patch+cbor": "apply",
}


@dataclass
class WatchEvent:
    rv: int
    res: str
    type: str
    obj: dict[str, Any]
    old: dict[str, Any] | None


@dataclass(eq=False)
class _Watcher:
    res: str
    namespace: str | None
    queue: asyncio.Queue[WatchEvent] = field(default_factory=asyncio.Queue)
    overflowed: bool = False


# A watcher this far behind is cut off (the real cache drops slow watchers too); the
# client lists again and resumes.
WATCH_QUEUE_LIMIT = 20000


def res_key(res: Resource) -> str:
    return f"{res.group}/{res.plural}"


# served versions stored as another: (group, version, plural) -> (to stored, from stored)
CONVERSIONS: dict[tuple[str, str, str], tuple[Callable[[dict[str, Any]], dict[str, Any]],
                                              Callable[[dict[str, Any]], dict[str, Any]]]] = {
    ("autoscaling", "v1", "horizontalpodautoscalers"): (hpaconversion.to_v2,
                                                        hpaconversion.to_v1),
}


def _too_deep(res: Resource, exc: decoding.TooDeep) -> ApiError:
    """A patched object past decoding.MAX_DEPTH, worded as the decoder words a body."""
    return errors.bad_request(f'{res.kind} in version "{res.version}" cannot be handled as '
                              f"a {res.kind}: {exc}")


class ClusterApi:
    """The API server's behaviour over a Store; see the module docstring."""

    def __init__(self, store: Store, registry: Registry | None = None,
                 history: int | None = None):
        self.store = store
        self.registry = registry or default_registry()
        self.listers = Listers(store, self.registry)  # controllers' and the node's reads
        size = history or int(os.environ.get("LABCLUSTER_WATCH_HISTORY", "5000"))
        self.history: deque[WatchEvent] = deque(maxlen=size)
        self.history_floor = store.rv  # events after this rv are (or were) in history
        self.watchers: set[_Watcher] = set()
        self.event_index: dict[tuple[str, ...], str] = {}
        self.network = ipaddress.ip_network(SERVICE_CIDR)
        # metrics.k8s.io PodMetrics as the node serves them (None: no metrics API here)
        self.pod_metrics_source: Callable[
            [str | None, str | None, str | None], Awaitable[list[dict[str, Any]]]] | None = None
        # the CA that signs the serving certificate (server.py sets it before bootstrap):
        # published as every namespace's kube-root-ca.crt ConfigMap
        self.root_ca: str | None = None
        # satokens.TokenIssuer (server.py): the kubelet asks it for pods' bound tokens
        self.token_issuer: Any = None

    # ------------------------------------------------------------------ helpers
    def resource(self, res: str | Resource) -> Resource:
        if isinstance(res, Resource):
            return res
        try:
            return self.registry.find(res)
        except KeyError:
            raise ApiError(404, "NotFound", "the server could not find the requested resource") from None

    def _ns(self, res: Resource, namespace: str | None) -> str:
        return (namespace or "") if res.namespaced else ""

    def _stored(self, r: Resource) -> tuple[Resource, Callable[[dict[str, Any]], dict[str, Any]],
                                             Callable[[dict[str, Any]], dict[str, Any]]]:
        """A converted view's stored resource and its two conversions."""
        stored = self.registry.lookup(r.group, r.plural, r.storage_version)
        assert stored is not None, r
        to_stored, from_stored = CONVERSIONS[(r.group, r.version, r.plural)]
        return stored, to_stored, from_stored

    def _emit(self, res: Resource, etype: str, obj: dict[str, Any],
              old: dict[str, Any] | None = None) -> None:
        ev = WatchEvent(int(obj["metadata"]["resourceVersion"]), res_key(res), etype, obj, old)
        if len(self.history) == self.history.maxlen:
            self.history_floor = self.history[0].rv
        self.history.append(ev)
        ns = obj["metadata"].get("namespace") or None
        for w in list(self.watchers):
            if w.res == ev.res and (w.namespace is None or w.namespace == ns):
                if w.queue.qsize() >= WATCH_QUEUE_LIMIT:
                    w.overflowed = True
                    self.watchers.discard(w)
                    w.queue.put_nowait(ev)  # wakes it up to notice
                else:
                    w.queue.put_nowait(ev)

    def _persist(self, res: Resource, obj: dict[str, Any], etype: str,
                 old: dict[str, Any] | None) -> dict[str, Any]:
        meta = obj["metadata"]
        self.store.put(res_key(res), meta.get("namespace", ""), meta["name"], obj)
        stored = self.store.peek(res_key(res), meta.get("namespace", ""), meta["name"])
        assert stored is not None
        self._emit(res, etype, stored, old)
        return copy.deepcopy(stored)

    def _remove(self, res: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        rv = self.store.remove(res_key(res), meta.get("namespace", ""), meta["name"])
        gone = copy.deepcopy(obj)
        gone["metadata"]["resourceVersion"] = str(rv)
        self._emit(res, "DELETED", gone, obj)
        return copy.deepcopy(gone)

    def _current(self, res: Resource, ns: str, name: str) -> dict[str, Any]:
        obj = self.store.get(res_key(res), self._ns(res, ns), name)
        if obj is None:
            raise errors.not_found(res.plural, res.group, name)
        return obj

    def _namespace_admission(self, res: Resource, ns: str, name: str) -> None:
        if not res.namespaced:
            return
        nsobj = self.store.peek("/namespaces", "", ns)
        if nsobj is None:
            raise errors.not_found("namespaces", "", ns)
        if nsobj.get("status", {}).get("phase") == "Terminating" and \
                not strategy_for(res).creatable_in_terminating_namespace:
            raise errors.forbidden(
                res.plural, res.group, name,
                f"unable to create new content in namespace {ns} because it is being terminated",
                errors.Cause("NamespaceTerminating",
                             f"namespace {ns} is being terminated", "metadata.namespace"))

    # ------------------------------------------------------------------ reads
    async def get(self, res: str | Resource, namespace: str | None, name: str) -> dict[str, Any]:
        r = self.resource(res)
        if r.storage_version:
            stored, _, out = self._stored(r)
            return out(self._current(stored, namespace or "", name))
        return self._current(r, namespace or "", name)

    async def list(self, res: str | Resource, namespace: str | None = None,
                   label_selector: str | None = None, field_selector: str | None = None,
                   limit: int | None = None, continue_: str | None = None, *,
                   copies: bool = True) -> dict[str, Any]:
        """copies=False returns the stored objects themselves (read-only; the HTTP layer
        only serialises them)."""
        r = self.resource(res)
        if r.storage_version:
            stored, _, out = self._stored(r)
            listed = await self.list(stored, namespace, label_selector, field_selector, limit,
                                     continue_, copies=False)
            return {**listed, "kind": r.list_kind, "apiVersion": r.api_version,
                    "items": [out(o) for o in listed["items"]]}
        pred = matcher(label_selector, field_selector, r.plural, r.kind, r.version)
        start: tuple[str, str] | None = None
        if continue_:
            try:
                token = json.loads(base64.urlsafe_b64decode(continue_.encode()))
                start = (token["start"][0], token["start"][1])
            except (ValueError, KeyError, TypeError, IndexError):
                raise errors.bad_request("continue key is not valid: incorrect encoded start "
                                         "resourceVersion (version meta.k8s.io/v1)") from None
        items = []
        more = None
        remaining = 0
        ns = self._ns(r, namespace) or None
        for obj in self.store.items(res_key(r), ns):
            key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            if start is not None and key <= start:
                continue
            if not pred(obj):
                continue
            if limit and len(items) >= limit:
                if more is None:
                    last = items[-1]["metadata"]
                    more = (last.get("namespace", ""), last["name"])
                remaining += 1
                continue
            items.append(copy.deepcopy(obj) if copies else obj)
        meta: dict[str, Any] = {"resourceVersion": str(self.store.rv)}
        if more is not None:
            meta["continue"] = base64.urlsafe_b64encode(
                json.dumps({"rv": self.store.rv, "start": list(more)}).encode()).decode()
            meta["remainingItemCount"] = remaining
        return {"kind": r.list_kind, "apiVersion": r.api_version, "metadata": meta,
                "items": items}

    async def pod_metrics(self, namespace: str, label_selector: str | None,
                          ) -> list[dict[str, Any]]:
        """metrics.k8s.io/v1beta1 PodMetrics of `namespace` (the HPA's resource metrics
        client); 404 as the aggregator answers when no metrics API is registered."""
        if self.pod_metrics_source is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource "
                           "(get pods.metrics.k8s.io)")
        return await self.pod_metrics_source(namespace, None, label_selector)

    # ------------------------------------------------------------------ create
    async def create(self, obj: dict[str, Any], namespace: str | None = None, *,
                     resource: str | Resource | None = None, field_manager: str | None = None,
                     field_validation: str = "Warn", dry_run: bool = False,
                     _trusted: bool = False) -> dict[str, Any]:
        if resource is not None:
            r = self.resource(resource)
            validation.check_kind(r, obj)
        else:
            r = self.registry.by_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
            if r is None:
                raise errors.bad_request(
                    f'no kind "{obj.get("kind")}" is registered for version "{obj.get("apiVersion")}"')
        if r.storage_version:
            stored, to_stored, out = self._stored(r)
            return out(await self.create(to_stored(obj), namespace, resource=stored,
                                         field_manager=field_manager,
                                         field_validation=field_validation, dry_run=dry_run,
                                         _trusted=_trusted))
        obj = copy.deepcopy(obj)
        obj.setdefault("apiVersion", r.api_version)
        meta = obj.setdefault("metadata", {})
        if r.namespaced:
            body_ns = meta.get("namespace")
            if namespace and body_ns and body_ns != namespace:
                raise errors.bad_request("the namespace of the provided object does not match "
                                         "the namespace sent on the request")
            meta["namespace"] = namespace or body_ns or "default"
        else:
            meta.pop("namespace", None)
        if not _trusted:
            await validation.ensure_validator(r)
            validation.schema_check(r, obj, field_validation)
            validation.check_encoding(r, obj)
        if not meta.get("name") and meta.get("generateName"):
            for _ in range(10):
                candidate = meta["generateName"] + random_suffix()
                if self.store.peek(res_key(r), meta.get("namespace", ""), candidate) is None:
                    meta["name"] = candidate
                    break
        strategy = strategy_for(r)
        self._prepare_create(r, obj)
        ns = meta.get("namespace", "")
        quota.apply_limit_ranges(r, obj, self.store.items("/limitranges", ns))  # mutating
        validation.semantic_check(r, obj)
        self._namespace_admission(r, ns, meta["name"])
        if self.store.peek(res_key(r), ns, meta["name"]) is not None:
            raise errors.already_exists(r.plural, r.group, meta["name"])
        strategy.admit(self, r, obj, None)
        quota.check_quota(self.store, r, obj)  # validating: last, on the final object
        managedfields.record_update(None, obj, field_manager or DEFAULT_MANAGER, r.api_version)
        if dry_run:
            return obj
        created = self._persist(r, obj, "ADDED", None)
        await strategy_for(r).after_create(self, created)
        return created

    def _prepare_create(self, r: Resource, obj: dict[str, Any]) -> None:
        """What every new object gets (the kind's own rules: its strategy), then defaults."""
        strategy = strategy_for(r)
        meta = obj["metadata"]
        for k in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds",
                  "selfLink"):
            meta.pop(k, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now()
        if _has_generation(r):
            meta["generation"] = 1
        if r.sub("status") and not strategy.keeps_status_on_create:
            obj.pop("status", None)
        strategy.prepare_create(obj)
        defaults.apply_defaults(r.plural, obj)

    async def ensure_default_service_account(self, ns: str) -> None:
        """The `default` ServiceAccount of `ns` (the serviceaccounts controller's job)."""
        if self.store.peek("/serviceaccounts", ns, "default") is None:
            try:
                await self.create({"apiVersion": "v1", "kind": "ServiceAccount",
                                   "metadata": {"name": "default", "namespace": ns}},
                                  field_manager="kube-controller-manager", _trusted=True)
            except ApiError as exc:
                if exc.reason != "AlreadyExists":
                    raise

    async def publish_root_ca_in(self, ns: str) -> None:
        """kube-root-ca.crt in `ns` (root-ca-cert-publisher), with the current CA."""
        await serviceaccount.publish_root_ca(self, ns)

    async def publish_apiserver_endpoints(self, host: str, port: int) -> None:
        """default/kubernetes Endpoints = where the API server listens (kube-apiserver's
        own reconciler); written when they differ, e.g. after a restart on another port."""
        wanted = serviceaccount.kubernetes_endpoints(host, port)
        current = self.store.peek("/endpoints", "default", "kubernetes")
        if current is None:
            await self.create(wanted, field_manager="kube-apiserver", _trusted=True)
        elif current.get("subsets") != wanted["subsets"]:
            await self.update({**current, "subsets": wanted["subsets"]},
                              field_manager="kube-apiserver")

    # ------------------------------------------------------------------ update
    async def update(self, obj: dict[str, Any], namespace: str | None = None,
                     name: str | None = None, *, resource: str | Resource | None = None,
                     subresource: str | None = None, field_manager: str | None = None,
                     field_validation: str = "Warn", dry_run: bool = False,
                     _managed: bool = True) -> dict[str, Any]:
        r = self.resource(resource) if resource is not None else self.registry.by_kind(
            obj.get("apiVersion", ""), obj.get("kind", ""))
        if r is None:
            raise errors.bad_request(f'no kind "{obj.get("kind")}" is registered')
        if r.storage_version:
            stored, to_stored, out = self._stored(r)
            if subresource is None or resource is not None:
                validation.check_kind(r, obj)
            return out(await self.update(to_stored(obj), namespace, name, resource=stored,
                                         subresource=subresource, field_manager=field_manager,
                                         field_validation=field_validation, dry_run=dry_run,
                                         _managed=_managed))
        if subresource == "scale":
            return await self._update_scale(r, obj, namespace, name, field_manager, dry_run)
        if subresource is None or resource is not None:
            validation.check_kind(r, obj)
        # the one await before the read-modify-write: nothing may interleave after it.
        # Subresources are not schema-checked, so they need no validator: the node's first
        # status writes (at start) must not wait for the ~2 s jsonschema import (15 s and
        # more on a loaded machine)
        if not subresource:
            await validation.ensure_validator(r)
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        name = name or meta.get("name", "")
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request(f"the name of the object ({meta['name']}) does not match "
                                     f"the name on the URL ({name})")
        if r.namespaced:
            body_ns = meta.get("namespace")
            if namespace and body_ns and body_ns != namespace:
                raise errors.bad_request("the namespace of the provided object does not match "
                                         "the namespace sent on the request")
            namespace = namespace or body_ns or "default"
            meta["namespace"] = namespace
        ns = self._ns(r, namespace)
        old = self._current(r, ns, name)
        rv = meta.get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(r.plural, r.group, name)
        strategy = strategy_for(r)
        if subresource:
            new = strategy.prepare_subresource_update(subresource, obj, old)
        else:
            validation.schema_check(r, obj, field_validation)
            validation.check_encoding(r, obj)
            new = obj
            for k in ("uid", "creationTimestamp", "deletionTimestamp",
                      "deletionGracePeriodSeconds", "generation"):
                if k in old["metadata"]:
                    new["metadata"][k] = old["metadata"][k]
                else:
                    new["metadata"].pop(k, None)
            if r.sub("status"):
                if "status" in old:
                    new["status"] = old["status"]
                else:
                    new.pop("status", None)
            strategy.prepare_update(new, old)
            strategy.admit(self, r, new, old)
            defaults.apply_defaults(r.plural, new)
            validation.semantic_check(r, new, old)
            if _has_generation(r) and _spec_changed(new, old):
                new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if _managed:
            managedfields.record_update(old, new, field_manager or DEFAULT_MANAGER,
                                        r.api_version, subresource if subresource == "status" else None)
        if _same(new, old):
            return old
        if dry_run:
            return new
        if (new["metadata"].get("deletionTimestamp") and _finalizers(r, old)
                and not _finalizers(r, new)):
            return self._remove(r, new)
        return self._persist(r, new, "MODIFIED", old)

    async def update_status(self, obj: dict[str, Any], field_manager: str | None = None,
                            ) -> dict[str, Any]:
        """Write `obj.status` through the status subresource (controllers, kubelet)."""
        r = self.registry.by_kind(obj["apiVersion"], obj["kind"])
        assert r is not None
        return await self.update(obj, obj["metadata"].get("namespace"), name_of(obj),
                                 subresource="status", field_manager=field_manager)

    async def get_scale(self, res: str | Resource, namespace: str, name: str) -> dict[str, Any]:
        r = self.resource(res)
        if not r.sub("scale"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        obj = self._current(r, namespace, name)
        return _scale_of(obj)

    async def _update_scale(self, r: Resource, scale: dict[str, Any], namespace: str | None,
                            name: str | None, manager: str | None, dry_run: bool) -> dict[str, Any]:
        if not r.sub("scale"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        await validation.ensure_validator(r)  # before the read: no await until the write
        name = name or name_of(scale)
        obj = self._current(r, namespace or "", name)
        rv = (scale.get("metadata") or {}).get("resourceVersion")
        if rv and rv != obj["metadata"]["resourceVersion"]:
            raise errors.conflict(r.plural, r.group, name)
        replicas = (scale.get("spec") or {}).get("replicas", 0)
        if not isinstance(replicas, int) or replicas < 0:
            raise errors.invalid("Scale", "autoscaling", name, [FieldError(
                "Invalid value", "spec.replicas", replicas, "must be greater than or equal to 0")])
        obj["spec"]["replicas"] = replicas
        obj["metadata"].pop("resourceVersion", None)
        updated = await self.update(obj, namespace, name, resource=r, field_manager=manager,
                                    dry_run=dry_run)
        return _scale_of(updated)

    # ------------------------------------------------------------------ patch
    async def patch(self, res: str | Resource, namespace: str | None, name: str,
                    body: Any, patch_type: str = "merge", *, subresource: str | None = None,
                    field_manager: str | None = None, force: bool = False,
                    field_validation: str = "Warn", dry_run: bool = False) -> dict[str, Any]:
        """patch_type: json | merge | strategic | apply (or the matching Content-Type)."""
        r = self.resource(res)
        ptype = PATCH_TYPES.get(patch_type, patch_type)
        ns = self._ns(r, namespace)
        view = self._stored(r) if r.storage_version else None
        if view is not None and ptype == "apply":
            raise ApiError(415, "UnsupportedMediaType",
                           f"labcluster serves server-side apply for {r.qualified} in "
                           f"{r.group}/{r.storage_version} only (this version is converted "
                           f"from it): use apiVersion {r.group}/{r.storage_version}")
        await validation.ensure_validator(view[0] if view else r)  # no await until the write
        if ptype == "apply":
            return await self._apply(r, ns, name, body, subresource, field_manager, force,
                                     field_validation, dry_run)
        if force:
            raise errors.bad_request("force is not allowed for non-apply patches")
        if subresource == "scale":
            current = await self.get_scale(r, ns, name)
        elif view is not None:  # patch what the client sees, store it converted
            current = view[2](self._current(view[0], ns, name))
        else:
            current = self._current(r, ns, name)
        try:
            if ptype == "json":
                new = patch.json_patch(current, body)
            elif ptype == "merge":
                if not isinstance(body, dict):
                    raise errors.bad_request("json: cannot unmarshal array into Go value of "
                                             "type map[string]interface {}")
                new = patch.json_merge_patch(current, body)
            elif ptype == "strategic":
                if not isinstance(body, dict):
                    raise errors.bad_request("json: cannot unmarshal array into Go value of "
                                             "type map[string]interface {}")
                new = patch.strategic_merge_patch(current, body)
            else:
                raise errors.unsupported_media_type(patch_type)
            # a patch may nest its body under a stored path: the result is bounded as a
            # request body is, before update() copies and validates it (decoding.py)
            if decoding.object_too_deep(new):
                raise decoding.TooDeep()
        except decoding.TooDeep as exc:
            raise _too_deep(r, exc) from None
        if not isinstance(new, dict):
            raise errors.bad_request("the patch produced a document that is not an object")
        new.setdefault("metadata", {}).setdefault("resourceVersion",
                                                 current["metadata"].get("resourceVersion"))
        if subresource == "scale":
            return await self._update_scale(r, new, ns, name, field_manager, dry_run)
        return await self.update(new, ns, name, resource=r, subresource=subresource,
                                 field_manager=field_manager, field_validation=field_validation,
                                 dry_run=dry_run)

    async def _apply(self, r: Resource, ns: str, name: str, config: Any, subresource: str | None,
                     manager: str | None, force: bool, field_validation: str,
                     dry_run: bool) -> dict[str, Any]:
        if not manager:
            raise errors.invalid("PatchOptions", "meta.k8s.io", "", [FieldError(
                "Required value", "fieldManager", detail="is required for apply patch")])
        if not isinstance(config, dict):
            raise errors.bad_request("error decoding YAML: the apply configuration must be an object")
        validation.check_kind(r, config)
        meta = config.setdefault("metadata", {})
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request(f"the name of the object ({meta['name']}) does not match "
                                     f"the name on the URL ({name})")
        meta["name"] = name
        if r.namespaced:
            if meta.get("namespace") and meta["namespace"] != ns:
                raise errors.bad_request("the namespace of the provided object does not match "
                                         "the namespace sent on the request")
            meta["namespace"] = ns
        await validation.ensure_validator(r)
        config = validation.schema_check(r, copy.deepcopy(config), field_validation)
        live = self.store.get(res_key(r), ns, name)
        if subresource == "status":
            if live is None:
                raise errors.not_found(r.plural, r.group, name)
            merged = managedfields.apply_merge(live, {"status": config.get("status", {})})
            merged["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
            return await self.update(merged, ns, name, resource=r, subresource="status",
                                     field_manager=manager, dry_run=dry_run)
        rv = meta.get("resourceVersion")
        if live is None:
            created = managedfields.server_side_apply(None, config, manager, force, r.api_version)
            managed = created["metadata"].pop("managedFields")
            return await self._create_with_managed(r, created, ns, managed, dry_run)
        if rv and rv != live["metadata"]["resourceVersion"]:
            raise errors.conflict(r.plural, r.group, name)
        try:
            new = managedfields.server_side_apply(live, config, manager, force, r.api_version)
        except ApiError as exc:
            exc.group, exc.kind = r.group, r.plural
            raise
        if decoding.object_too_deep(new):
            raise _too_deep(r, decoding.TooDeep())
        new["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
        return await self.update(new, ns, name, resource=r, field_manager=manager,
                                 field_validation="Ignore", dry_run=dry_run, _managed=False)

    async def _create_with_managed(self, r: Resource, obj: dict[str, Any], ns: str,
                                   managed: list[dict[str, Any]], dry_run: bool) -> dict[str, Any]:
        obj["metadata"]["managedFields"] = []
        created = await self.create(obj, ns, resource=r, dry_run=True)
        created["metadata"]["managedFields"] = managed
        if dry_run:
            return created
        if self.store.peek(res_key(r), ns, name_of(created)) is not None:
            raise errors.already_exists(r.plural, r.group, name_of(created))
        out = self._persist(r, created, "ADDED", None)
        await strategy_for(r).after_create(self, out)
        return out

    # ------------------------------------------------------------------ delete
    async def delete(self, res: str | Resource, namespace: str | None, name: str, *,
                     propagation_policy: str | None = None,
                     grace_period_seconds: int | None = None,
                     preconditions: dict[str, Any] | None = None,
                     dry_run: bool = False) -> dict[str, Any]:
        r = self.resource(res)
        if r.storage_version:
            stored, _, out = self._stored(r)
            gone = await self.delete(stored, namespace, name,
                                     propagation_policy=propagation_policy,
                                     grace_period_seconds=grace_period_seconds,
                                     preconditions=preconditions, dry_run=dry_run)
            return out(gone)
        ns = self._ns(r, namespace)
        obj = self._current(r, ns, name)
        meta = obj["metadata"]
        pre = preconditions or {}
        if pre.get("uid") and pre["uid"] != meta.get("uid"):
            raise errors.uid_precondition(r.plural, r.group, name, pre["uid"], meta.get("uid", ""))
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta.get("resourceVersion"):
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on '
                           f'{r.qualified} "{name}": Precondition failed: ResourceVersion in '
                           f'precondition: {pre["resourceVersion"]}, ResourceVersion in object '
                           f'meta: {meta.get("resourceVersion")}', name=name, group=r.group,
                           kind=r.plural)
        if propagation_policy not in (None, "Orphan", "Background", "Foreground"):
            raise errors.invalid("DeleteOptions", "meta.k8s.io", "", [FieldError(
                "Unsupported value", "propagationPolicy", propagation_policy,
                'supported values: "Foreground", "Background", "Orphan", "nil"')])
        strategy = strategy_for(r)
        if propagation_policy is None:
            propagation_policy = strategy.default_propagation()
        if dry_run:
            return obj
        old = copy.deepcopy(obj)
        if strategy.deleted_by_controller:
            return self._persist(r, obj, "MODIFIED", old) if strategy.mark_deleting(obj) else obj
        finalizers = list(meta.get("finalizers") or [])
        if propagation_policy == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        elif propagation_policy == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        grace = strategy.graceful_delete_seconds(obj, grace_period_seconds)
        if finalizers or grace > 0:
            if meta.get("deletionTimestamp"):
                # a shorter grace period may still shorten a pending graceful deletion
                if grace < (meta.get("deletionGracePeriodSeconds") or 0):
                    meta["deletionGracePeriodSeconds"] = grace
                    meta["deletionTimestamp"] = _in_seconds(grace)
                    return self._persist(r, obj, "MODIFIED", old)
                if not finalizers and grace == 0:
                    return self._remove(r, obj)
                return obj
            meta["finalizers"] = finalizers
            if not finalizers:
                meta.pop("finalizers")
            meta["deletionTimestamp"] = _in_seconds(grace)
            meta["deletionGracePeriodSeconds"] = grace
            if _has_generation(r):
                meta["generation"] = meta.get("generation", 1) + 1
            return self._persist(r, obj, "MODIFIED", old)
        return self._remove(r, obj)

    async def delete_collection(self, res: str | Resource, namespace: str | None = None,
                                label_selector: str | None = None,
                                field_selector: str | None = None, **kwargs: Any,
                                ) -> dict[str, Any]:
        r = self.resource(res)
        listed = await self.list(r, namespace, label_selector, field_selector)
        for item in listed["items"]:
            try:
                await self.delete(r, item["metadata"].get("namespace"), item["metadata"]["name"],
                                  **kwargs)
            except ApiError as exc:
                if exc.code != 404:
                    raise
        return {**listed, "items": []}

    async def purge(self, res: str | Resource, namespace: str | None, name: str,
                    uid: str | None = None) -> None:
        """Remove an object now, whatever its finalizers (namespace controller, kubelet).

        With `uid`, only that object: a new one that took the name is left alone.
        """
        r = self.resource(res)
        obj = self.store.get(res_key(r), self._ns(r, namespace), name)
        if obj is not None and (uid is None or obj["metadata"].get("uid") == uid):
            self._remove(r, obj)

    async def bind(self, namespace: str, name: str, node: str,
                   field_manager: str = "default-scheduler") -> dict[str, Any]:
        """pods/binding: what a scheduler does (sets spec.nodeName and PodScheduled)."""
        pod = self._current(self.resource("pods"), namespace, name)
        if pod["spec"].get("nodeName"):
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on pods/binding "{name}": '
                           f'pod {name} is already assigned to node "{pod["spec"]["nodeName"]}"',
                           name=name, kind="pods/binding")
        if pod["metadata"].get("deletionTimestamp"):
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on pods/binding '
                           f'"{name}": pod {name} is being deleted, cannot be assigned to a host',
                           name=name, kind="pods/binding")
        old = copy.deepcopy(pod)
        pod["spec"]["nodeName"] = node
        conds = [c for c in pod.setdefault("status", {}).get("conditions") or []
                 if c.get("type") != "PodScheduled"]
        conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                      "lastTransitionTime": now()})
        pod["status"]["conditions"] = conds
        managedfields.record_update(old, pod, field_manager, "v1")
        return self._persist(self.resource("pods"), pod, "MODIFIED", old)

    # ------------------------------------------------------------------ eviction
    async def evict(self, namespace: str, name: str, eviction: Any,
                    dry_run: bool = False) -> dict[str, Any]:
        """pods/eviction (policy/v1 Eviction), as pkg/registry/core/pod/storage/eviction.go:
        a pod its PodDisruptionBudget cannot spare is refused with 429 TooManyRequests
        (`kubectl drain` retries it every 5 s); otherwise the budget's disruptionsAllowed
        is decremented, the pod gets the DisruptionTarget condition and is deleted."""
        if not isinstance(eviction, dict):
            raise errors.bad_request("not a Eviction object")
        if (eviction.get("metadata") or {}).get("name", "") != name:
            raise errors.bad_request("name in URL does not match name in Eviction object")
        opts = eviction.get("deleteOptions") or {}
        if not isinstance(opts, dict):
            raise errors.bad_request("invalid deleteOptions in Eviction object")
        dry = dry_run or opts.get("dryRun") == ["All"]
        grace = opts.get("gracePeriodSeconds")
        pods = self.resource("pods")
        pod = self._current(pods, namespace, name)
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed", "Pending") or pod["metadata"].get("deletionTimestamp"):
            # already disrupted (or never started): no budget to consult
            if not dry:
                await self.delete(pods, namespace, name, grace_period_seconds=grace)
            return _success()
        pdbs = [p for p in self.store.items("policy/poddisruptionbudgets", namespace)
                if _selects(p, pod)]
        if len(pdbs) > 1:
            raise ApiError(500, "", "This pod has more than one PodDisruptionBudget, which the "
                           "eviction subresource does not support.")
        if pdbs:
            pdb = copy.deepcopy(pdbs[0])
            st = pdb.get("status") or {}
            unhealthy_ok = not _pod_ready(pod) and (
                (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy") == "AlwaysAllow"
                or (st.get("currentHealthy", 0) >= st.get("desiredHealthy", 0)
                    and st.get("desiredHealthy", 0) > 0))
            if not unhealthy_ok:
                await self._check_and_decrement(pdb, name, dry)
        if not dry:
            await self._mark_disruption_target(pod)
            await self.delete(pods, namespace, name, grace_period_seconds=grace)
        return _success()

    async def _check_and_decrement(self, pdb: dict[str, Any], pod_name: str,
                                   dry: bool) -> None:
        meta, st = pdb["metadata"], pdb.setdefault("status", {})
        pdb_name = meta["name"]
        message = "Cannot evict pod as it would violate the pod's disruption budget."
        if st.get("observedGeneration", 0) < meta.get("generation", 1):
            raise ApiError(429, "TooManyRequests", message, retry_after=10, causes=[
                errors.Cause("DisruptionBudget", f"The disruption budget {pdb_name} is still "
                             "being processed by the server.")])
        allowed = st.get("disruptionsAllowed", 0)
        if allowed < 0:
            raise errors.forbidden("poddisruptionbudget", "policy", pdb_name,
                                   "pdb disruptions allowed is negative")
        if len(st.get("disruptedPods") or {}) > 2000:
            raise errors.forbidden("poddisruptionbudget", "policy", pdb_name,
                                   "DisruptedPods map too big - too many evictions not "
                                   "confirmed by PDB controller")
        if allowed == 0:
            raise ApiError(429, "TooManyRequests", message, causes=[errors.Cause(
                "DisruptionBudget", f"The disruption budget {pdb_name} needs "
                f"{st.get('desiredHealthy', 0)} healthy pods and has "
                f"{st.get('currentHealthy', 0)} currently")])
        st["disruptionsAllowed"] = allowed - 1
        if st["disruptionsAllowed"] == 0:
            set_pdb_condition(st, False)
        if dry:
            return
        st.setdefault("disruptedPods", {})[pod_name] = now()
        await self.update(pdb, meta["namespace"], pdb_name, resource="poddisruptionbudgets",
                          subresource="status", field_manager="kube-apiserver")

    async def _mark_disruption_target(self, pod: dict[str, Any]) -> None:
        """1.31+ (PodDisruptionConditions GA): the evicted pod says why it goes."""
        pod = copy.deepcopy(pod)
        status = pod.setdefault("status", {})
        conds = [c for c in status.get("conditions") or [] if c.get("type") != "DisruptionTarget"]
        conds.append({"type": "DisruptionTarget", "status": "True", "lastProbeTime": None,
                      "lastTransitionTime": now(), "reason": "EvictionByEvictionAPI",
                      "message": "Eviction API: evicting"})
        status["conditions"] = conds
        pod["metadata"].pop("resourceVersion", None)
        await self.update(pod, pod["metadata"]["namespace"], pod["metadata"]["name"],
                          resource="pods", subresource="status", field_manager="kube-apiserver")

    # ------------------------------------------------------------------ watch
    async def watch(self, res: str | Resource, namespace: str | None = None,
                    resource_version: str | None = None, label_selector: str | None = None,
                    field_selector: str | None = None, *, copies: bool = True,
                    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Yield (type, object) forever; ("ERROR", Status) and stop when rv is too old."""
        r = self.resource(res)
        if r.storage_version:
            stored, _, out = self._stored(r)
            async for etype, obj in self.watch(stored, namespace, resource_version,
                                               label_selector, field_selector, copies=False):
                yield etype, (obj if etype == "ERROR" else out(obj))
            return
        pred = matcher(label_selector, field_selector, r.plural, r.kind, r.version)
        ns = self._ns(r, namespace) or None
        watcher = _Watcher(res_key(r), ns)
        start_rv: int
        replay: list[WatchEvent] = []
        if resource_version in (None, "", "0"):
            start_rv = self.store.rv
            initial = [o for o in self.store.items(res_key(r), ns) if pred(o)]
        else:
            try:
                start_rv = int(resource_version)
            except ValueError:
                raise errors.bad_request(f'invalid resource version "{resource_version}"') from None
            initial = []
            if start_rv < self.history_floor:
                yield "ERROR", errors.gone(
                    f"too old resource version: {start_rv} ({self.history_floor + 1})").status()
                return
            replay = [e for e in self.history if e.rv > start_rv and e.res == watcher.res
                      and (ns is None or e.obj["metadata"].get("namespace") == ns)]
        self.watchers.add(watcher)
        try:
            for obj in initial:
                yield "ADDED", copy.deepcopy(obj) if copies else obj
            for ev in replay:
                out = _filtered(ev, pred)
                if out:
                    yield out[0], copy.deepcopy(out[1]) if copies else out[1]
            while True:
                ev = await watcher.queue.get()
                if watcher.overflowed:
                    return  # the stream ends; clients list and watch again
                if ev.rv <= start_rv:
                    continue
                out = _filtered(ev, pred)
                if out:
                    yield out[0], copy.deepcopy(out[1]) if copies else out[1]
        finally:
            self.watchers.discard(watcher)

    def end_watches(self) -> None:
        """At shutdown: end every open watch stream now, as kube-apiserver closes its
        watches when it stops (clients see the stream end and list again, from whichever
        server answers next). Left open, each one held the HTTP server's shutdown until its
        own timeout, so `labcluster down` with a kernel watching took 40 s and a SIGKILL."""
        for w in list(self.watchers):
            w.overflowed = True  # the stream's loop returns on its next wake-up
            self.watchers.discard(w)
            w.queue.put_nowait(WatchEvent(self.store.rv, w.res, "BOOKMARK", {}, None))

    # ------------------------------------------------------------------ events
    async def record_event(self, obj: dict[str, Any], reason: str, message: str,
                           type: str = "Normal", component: str = "labcluster",
                           ) -> dict[str, Any] | None:
        """A core/v1 Event about `obj`, aggregated like the client-go recorder (count++)."""
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace") or "default"
        key = (ns, meta.get("uid", ""), reason, message, component)
        stamp = now()
        existing = self.event_index.get(key)
        if existing:
            ev = self.store.get("/events", ns, existing)
            if ev is not None:
                ev["count"] = ev.get("count", 1) + 1
                ev["lastTimestamp"] = stamp
                try:
                    return await self.update(ev, ns, existing, resource="events",
                                             field_manager=component)
                except ApiError:
                    pass
        event = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{meta.get('name', '')}.{uuid.uuid4().hex[:16]}",
                         "namespace": ns},
            "involvedObject": {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"),
                               "name": meta.get("name"), "namespace": meta.get("namespace"),
                               "uid": meta.get("uid"),
                               "resourceVersion": meta.get("resourceVersion")},
            "reason": reason, "message": message, "type": type,
            "source": {"component": component},
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
            "reportingComponent": component, "reportingInstance": "",
            "eventTime": None,
        }
        if not meta.get("namespace"):
            event["involvedObject"].pop("namespace")
        try:
            created = await self.create(event, ns, field_manager=component)
        except ApiError:
            return None  # events are best effort, as in client-go
        self.event_index[key] = name_of(created)
        return created

    # ------------------------------------------------------------------ bootstrap
    async def bootstrap(self) -> None:
        """Namespaces a fresh cluster has (default, kube-system, kube-public, kube-node-lease)."""
        for ns in SYSTEM_NAMESPACES:
            if self.store.peek("/namespaces", "", ns) is None:
                await self.create({"apiVersion": "v1", "kind": "Namespace",
                                   "metadata": {"name": ns}}, field_manager="kube-apiserver",
                                  _trusted=True)
            await self.ensure_default_service_account(ns)
        if self.store.peek("/services", "default", "kubernetes") is None:
            first = str(next(self.network.hosts()))
            taken = any((s.get("spec") or {}).get("clusterIP") == first
                        for s in self.store.items("/services"))
            await self.create(serviceaccount.kubernetes_service(None if taken else first),
                              field_manager="kube-apiserver", _trusted=True)

    async def publish_root_ca(self, ca_pem: str) -> None:
        """Set the CA and (re)publish kube-root-ca.crt in every namespace that is not
        terminating (at start: the CA may be new)."""
        self.root_ca = ca_pem
        for nsobj in list(self.store.items("/namespaces")):
            if (nsobj.get("status") or {}).get("phase") != "Terminating":
                await self.publish_root_ca_in(nsobj["metadata"]["name"])

    def apiserver_service_ip(self) -> str | None:
        """The `kubernetes` Service's ClusterIP: a SAN of the serving certificate."""
        svc = self.store.peek("/services", "default", "kubernetes")
        return ((svc or {}).get("spec") or {}).get("clusterIP")


def _filtered(ev: WatchEvent, pred: Callable[[dict[str, Any]], bool],
              ) -> tuple[str, dict[str, Any]] | None:
    """Selector-aware event type: an object leaving the selection is DELETED for the watcher."""
    now_match = pred(ev.obj)
    if ev.type == "MODIFIED" and ev.old is not None:
        was = pred(ev.old)
        if was and not now_match:
            return "DELETED", ev.obj
        if now_match and not was:
            return "ADDED", ev.obj
    if ev.type == "DELETED":
        return (ev.type, ev.obj) if (ev.old is not None and pred(ev.old)) or now_match else None
    return (ev.type, ev.obj) if now_match else None


def _has_generation(r: Resource) -> bool:
    """In 1.32 only workload-style kinds track metadata.generation (pods got it in 1.33)."""
    return r.has_spec and r.group != ""


def _spec_changed(new: dict[str, Any], old: dict[str, Any]) -> bool:
    strip = ("metadata", "status")
    return {k: v for k, v in new.items() if k not in strip} != {
        k: v for k, v in old.items() if k not in strip}


def _same(new: dict[str, Any], old: dict[str, Any]) -> bool:
    """No-op writes are not persisted (no new resourceVersion), as in the real server."""
    def strip(o: dict[str, Any]) -> dict[str, Any]:
        m = {k: v for k, v in o.get("metadata", {}).items() if k != "managedFields"}
        m["managedFields"] = [{k: v for k, v in e.items() if k != "time"}
                              for e in o.get("metadata", {}).get("managedFields") or []]
        return {**o, "metadata": m}
    return strip(new) == strip(old)


def _finalizers(r: Resource, obj: dict[str, Any]) -> list[str]:
    return list(obj["metadata"].get("finalizers") or [])


def _in_seconds(seconds: int) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": meta["name"], "namespace": meta.get("namespace"),
                     "uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion"),
                     "creationTimestamp": meta.get("creationTimestamp")},
        "spec": {"replicas": obj.get("spec", {}).get("replicas", 0)},
        "status": {"replicas": obj.get("status", {}).get("replicas", 0),
                   "selector": selector_string(obj.get("spec", {}).get("selector"))},
    }


def _success() -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "code": 201}


def _pod_ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _selects(pdb: dict[str, Any], pod: dict[str, Any]) -> bool:
    """A PDB's selector matches the pod; a nil or empty selector matches nothing."""
    sel = (pdb.get("spec") or {}).get("selector")
    if not sel or not (sel.get("matchLabels") or sel.get("matchExpressions")):
        return False
    try:
        reqs = selector_from_match(sel)
    except (ApiError, KeyError):  # an invalid selector matches no pod
        return False
    return bool(reqs) and labels_match(reqs, pod["metadata"].get("labels") or {})


def set_pdb_condition(status: dict[str, Any], allowed: bool) -> None:
    """component-helpers' UpdateDisruptionAllowedCondition: DisruptionAllowed True
    (SufficientPods) or False (InsufficientPods); the transition time moves on change."""
    want = {"type": "DisruptionAllowed", "status": "True" if allowed else "False",
            "reason": "SufficientPods" if allowed else "InsufficientPods", "message": ""}
    conds = [c for c in status.get("conditions") or [] if c.get("type") != "DisruptionAllowed"]
    old = next((c for c in status.get("conditions") or []
                if c.get("type") == "DisruptionAllowed"), None)
    stamp = old.get("lastTransitionTime") if old and old.get("status") == want["status"] else now()
    want["lastTransitionTime"] = stamp
    want["observedGeneration"] = status.get("observedGeneration", 0)
    status["conditions"] = [*conds, want]
