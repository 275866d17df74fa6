"""The HTTP face of ClusterApi: routing, auth, bodies, watch streaming, Status errors.

Kept thin on purpose: every decision about objects is ClusterApi's, so the controllers
and the kubelet (in-process) see exactly what HTTP clients see.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from . import (
    authz,
    decoding,
    discovery,
    openapi,
    openapiv2,
    protobuf,
    rbac,
    requestinfo,
    validation,
)
from .api import PATCH_TYPES, ClusterApi
from .errors import ApiError, bad_request, method_not_allowed, unauthorized
from .registry import Resource
from .strategy import strategy_for
from .tables import to_table, wants_table

log = logging.getLogger("labcluster.http")
WATCH_DEFAULT_TIMEOUT = 1800
WEBSOCKET_SUBRESOURCES = ("exec", "attach", "portforward")


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=json.dumps(data, separators=(",", ":")), status=status,
                        content_type="application/json", headers=headers)


def _status_response(exc: ApiError) -> web.Response:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    return _json(exc.status(), exc.code, headers)


def make_auth_middleware(token: str,
                         authenticate: Callable[[str], authz.UserInfo | None] | None = None,
                         authorizer: authz.Authorizer | None = None) -> Any:
    """Who is asking (the admin token, or what ``authenticate`` accepts: ServiceAccount
    tokens), then whether they may (``authorizer``: RBAC), before any route runs — so a
    refused request is refused whether or not what it asks for exists, as upstream."""
    expected = token.encode()

    def who(given: str) -> authz.UserInfo | None:
        if hmac.compare_digest(given.encode(), expected):
            return authz.ADMIN
        return authenticate(given) if authenticate is not None and given else None

    def allowed(attrs: authz.Attributes) -> bool:
        if authorizer is None or authz.SUPERUSER_GROUP in attrs.user.groups:
            return True  # system:masters is never asked about (upstream: privileged group)
        return authorizer.authorize(attrs).allowed

    @web.middleware
    async def auth(request: web.Request, handler: Any) -> web.StreamResponse:
        # the scheme is case-insensitive (RFC 7235; the client's in-cluster loader sends
        # "bearer"), the token is not
        scheme, _, given = request.headers.get("Authorization", "").strip().partition(" ")
        user = who(given.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            return _status_response(unauthorized())
        try:
            as_user = authz.impersonated(request.headers)
            if as_user is not None:  # `kubectl --as`: the caller must hold `impersonate`
                for attrs in authz.impersonation_checks(user, as_user):
                    if not allowed(attrs):
                        raise rbac.forbidden(attrs)
                user = as_user
            attrs = requestinfo.attributes(user, request.method, request.path, request.query)
            if not allowed(attrs):
                raise rbac.forbidden(attrs)
            if attrs.verb == "get" and attrs.resource == "pods" and \
                    attrs.subresource in WEBSOCKET_SUBRESOURCES:
                # a websocket exec/attach/portforward is a GET, but since 1.31 it must also
                # be allowed to `create` (AuthorizePodWebsocketUpgradeCreatePermission)
                attrs = dataclasses.replace(attrs, verb="create")
                if not allowed(attrs):
                    raise rbac.forbidden(attrs)
        except ApiError as exc:
            return _status_response(exc)
        request[authz.USER_KEY] = user
        sink: list[str] = []
        tok = validation.warnings.set(sink)
        try:
            resp = await handler(request)
        except ApiError as exc:
            resp = _status_response(exc)
        except web.HTTPException:
            raise
        except Exception as exc:  # a bug must still answer as the API does
            log.exception("internal error on %s %s", request.method, request.path)
            resp = _status_response(ApiError(500, "InternalError",
                                             f"Internal error occurred: {exc}"))
        finally:
            validation.warnings.reset(tok)
        if sink and not resp.prepared:
            for w in sink:
                resp.headers.add("Warning", f'299 - "{w}"')
        return resp

    return auth


class HttpApi:
    def __init__(self, api: ClusterApi, server_address: str):
        self.api = api
        self.server_address = server_address
        self.ready = False
        self._openapi: dict[tuple[str, str], bytes | None] = {}

    def routes(self) -> list[web.AbstractRouteDef]:
        return [
            web.get("/version", self.version), web.get("/version/", self.version),
            web.get("/healthz", self.health), web.get("/livez", self.health),
            web.get("/readyz", self.readyz),
            web.get("/api", self.api_versions), web.get("/api/", self.api_versions),
            web.get("/apis", self.apis), web.get("/apis/", self.apis),
            web.get("/openapi/v2", self.openapi_v2), web.get("/openapi/v3", self.openapi_root),
            web.get("/openapi/v3/{path:.*}", self.openapi_gv),
            web.route("*", "/api/v1{tail:(/.*)?}", self.core),
            web.route("*", "/apis/{group}{tail:(/.*)?}", self.grouped),
        ]

    async def version(self, request: web.Request) -> web.Response:
        return _json(discovery.version())

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(self, request: web.Request) -> web.Response:
        if not self.ready:
            return web.Response(text="not ready", status=503)
        return web.Response(text="ok")

    async def api_versions(self, request: web.Request) -> web.Response:
        return _json(discovery.api_versions(self.server_address))

    async def apis(self, request: web.Request) -> web.Response:
        return _json(discovery.api_group_list(self.api.registry))

    async def openapi_v2(self, request: web.Request) -> web.Response:
        """Swagger 2.0: gnostic protobuf when asked for it (kubectl), else JSON."""
        as_json, as_proto = await asyncio.to_thread(openapiv2.bodies, self.api.registry)
        if openapiv2.PROTOBUF in request.headers.get("Accept", ""):
            return web.Response(body=as_proto, headers={
                "Content-Type": openapiv2.PROTOBUF_RESPONSE})
        return web.Response(body=as_json, content_type="application/json")

    async def openapi_root(self, request: web.Request) -> web.Response:
        return _json(openapi.root(self.api.registry))

    async def openapi_gv(self, request: web.Request) -> web.Response:
        parts = request.match_info["path"].strip("/").split("/")
        if parts[:1] == ["api"] and len(parts) == 2:
            group, version = "", parts[1]
        elif parts[:1] == ["apis"] and len(parts) == 3:
            group, version = parts[1], parts[2]
        else:
            raise _not_found()
        key = (group, version)
        if key not in self._openapi:  # built once, off the event loop (schemas load ~1 s)
            doc = await asyncio.to_thread(openapi.gv_document, self.api.registry, group,
                                          version)
            self._openapi[key] = None if doc is None else json.dumps(doc).encode()
        body = self._openapi[key]
        if body is None:
            raise _not_found()
        return web.Response(body=body, content_type="application/json")

    async def core(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        return await self._dispatch(request, "", "v1", [p for p in tail.split("/") if p])

    async def grouped(self, request: web.Request) -> web.StreamResponse:
        group = request.match_info["group"]
        parts = [p for p in request.match_info["tail"].split("/") if p]
        if not parts:
            doc = discovery.api_group(self.api.registry, group)
            if doc is None:
                raise _not_found()
            return _json(doc)
        return await self._dispatch(request, group, parts[0], parts[1:])

    # -------------------------------------------------------------- routing
    def _resolve(self, group: str, version: str, parts: list[str],
                 ) -> tuple[Resource, str | None, str | None, str | None]:
        reg = self.api.registry
        ns: str | None = None
        if len(parts) >= 3 and parts[0] == "namespaces":
            r = reg.lookup(group, parts[2], version)
            if r is not None and r.namespaced:
                ns = parts[1]
                parts = parts[2:]
        r = reg.lookup(group, parts[0], version)
        if r is None or len(parts) > 3:
            raise _not_found()
        name = parts[1] if len(parts) > 1 else None
        sub = parts[2] if len(parts) > 2 else None
        if sub and not r.sub(sub):
            raise _not_found()
        return r, ns, name, sub

    async def _dispatch(self, request: web.Request, group: str, version: str,
                        parts: list[str]) -> web.StreamResponse:
        """A path under /api/v1 or /apis/<g>/<v> → its ROUTES handler (the table below)."""
        if not parts:
            doc = discovery.resource_list(self.api.registry, group, version)
            if doc is None:
                raise _not_found()
            return _json(doc)
        r, ns, name, sub = self._resolve(group, version, parts)
        target = _target(r, name, sub)
        handler = ROUTES.get((request.method, target))
        call = _Call(request, r, ns, name, sub)
        if target in (COLLECTION, OBJECT, SCALE):
            if not r.stored:  # served by a component (metrics.k8s.io)
                raise _not_found()
            call.read_write_options()
            if handler is None:
                raise method_not_allowed()
        elif handler is None:
            # a subresource a component serves (pods/log, services/proxy...) when registered
            raise _not_found()
        return await handler(self, call)

    # -------------------------------------------------------------- handlers
    async def _list(self, call: _Call) -> web.StreamResponse:
        q = call.request.query
        if q.get("watch") in ("true", "1"):
            return await self._watch(call.request, call.r, call.ns)
        result = await self.api.list(call.r, call.ns, q.get("labelSelector"),
                                     q.get("fieldSelector"), _int(q.get("limit")),
                                     q.get("continue"), copies=False)
        return self._maybe_table(call.request, call.r, result)

    async def _create(self, call: _Call) -> web.StreamResponse:
        body = await _body(call.request, kind=(call.r.kind, call.r.version))
        created = await self.api.create(body, call.ns, resource=call.r,
                                        field_manager=call.manager,
                                        field_validation=call.validation, dry_run=call.dry_run)
        return _json(created, 201)

    async def _delete_collection(self, call: _Call) -> web.StreamResponse:
        q = call.request.query
        opts = await _delete_options(call.request)
        return _json(await self.api.delete_collection(call.r, call.ns, q.get("labelSelector"),
                                                      q.get("fieldSelector"), **opts))

    async def _get(self, call: _Call) -> web.StreamResponse:
        obj = await self.api.get(call.r, call.ns, call.object_name)
        return self._maybe_table(call.request, call.r, obj)

    async def _get_scale(self, call: _Call) -> web.StreamResponse:
        return _json(await self.api.get_scale(call.r, call.ns or "", call.object_name))

    async def _update(self, call: _Call) -> web.StreamResponse:
        """PUT of the object or of its status, finalize or scale subresource."""
        body = await _body(call.request, kind=(call.r.kind, call.r.version))
        return _json(await self.api.update(body, call.ns, call.object_name, resource=call.r,
                                           subresource=call.sub, field_manager=call.manager,
                                           field_validation=call.validation,
                                           dry_run=call.dry_run))

    async def _patch(self, call: _Call) -> web.StreamResponse:
        """PATCH of the object or a subresource: 201 when server-side apply created it."""
        request, q = call.request, call.request.query
        ctype = request.content_type
        if ctype not in PATCH_TYPES:
            raise ApiError(415, "UnsupportedMediaType",
                           "the body of the request was in an unknown format - accepted "
                           "media types include: application/json-patch+json, "
                           "application/merge-patch+json, application/apply-patch+yaml")
        apply = PATCH_TYPES[ctype] == "apply"
        body = await _body(request, yaml_ok=apply,
                           what="error decoding YAML" if apply else "error decoding patch")
        manager = None if apply and not q.get("fieldManager") else call.manager
        created_before = await _exists(self.api, call.r, call.ns, call.object_name)
        result = await self.api.patch(call.r, call.ns, call.object_name, body, ctype,
                                      subresource=call.sub, field_manager=manager,
                                      force=q.get("force") in ("true", "1"),
                                      field_validation=call.validation, dry_run=call.dry_run)
        return _json(result, 201 if apply and not created_before else 200)

    async def _delete(self, call: _Call) -> web.StreamResponse:
        """The object while it lingers (graceful, finalizers) or when its kind returns it
        (pods, services); else a Success Status naming it. A subresource (status,
        finalize) cannot be deleted: 405, as upstream (it deleted the whole object)."""
        if call.sub is not None:
            raise method_not_allowed()
        r, ns, name = call.r, call.ns, call.object_name
        opts = await _delete_options(call.request)
        obj = await self.api.delete(r, ns, name, **opts)
        if strategy_for(r).return_deleted_object or await _exists(self.api, r, ns, name):
            return _json(obj)
        meta = obj["metadata"]
        details = {"name": meta["name"], "kind": r.plural, "uid": meta.get("uid")}
        if r.group:
            details["group"] = r.group
        return _json({"kind": "Status", "apiVersion": "v1", "metadata": {},
                      "status": "Success", "details": details})

    async def _bind(self, call: _Call) -> web.StreamResponse:
        """pods/binding: what a scheduler posts."""
        body = await _body(call.request, kind=("Binding", "v1"))
        target = (body or {}).get("target") or {}
        if not target.get("name"):
            raise bad_request("Binding.target.name is required")
        await self.api.bind(call.ns or "default", call.object_name, target["name"])
        return _json({"kind": "Status", "apiVersion": "v1", "metadata": {},
                      "status": "Success", "code": 201}, 201)

    async def _evict(self, call: _Call) -> web.StreamResponse:
        """pods/eviction: a policy/v1 (or v1beta1) Eviction, as `kubectl drain` posts it."""
        body = await _body(call.request, kind=("Eviction", "v1"))
        if isinstance(body, dict) and body.get("apiVersion") not in (
                None, "policy/v1", "policy/v1beta1"):
            raise bad_request(f"the API version in the data ({body.get('apiVersion')}) "
                              "does not match the expected API version (policy/v1)")
        result = await self.api.evict(call.ns or "default", call.object_name, body,
                                      dry_run=call.request.query.get("dryRun") == "All")
        return _json(result, 201)

    def _maybe_table(self, request: web.Request, r: Resource, data: dict[str, Any],
                     ) -> web.Response:
        if wants_table(request.headers.get("Accept", "")):
            return _json(to_table(r, data, request.query.get("includeObject", "Object")))
        return _json(data)

    async def _watch(self, request: web.Request, r: Resource, ns: str | None,
                     ) -> web.StreamResponse:
        q = request.query
        timeout = _int(q.get("timeoutSeconds")) or WATCH_DEFAULT_TIMEOUT
        table = wants_table(request.headers.get("Accept", ""))
        events = self.api.watch(r, ns, q.get("resourceVersion"), q.get("labelSelector"),
                                q.get("fieldSelector"), copies=False)
        # Selector errors must be a 400 before the stream starts.
        first = asyncio.ensure_future(events.__anext__())
        await asyncio.sleep(0)
        if first.done() and first.exception() is not None:
            raise first.exception()  # type: ignore[misc]
        resp = web.StreamResponse(headers={"Content-Type": "application/json",
                                           "Transfer-Encoding": "chunked"})
        await resp.prepare(request)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pending: asyncio.Future[Any] | None = first
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                if pending is None:
                    pending = asyncio.ensure_future(events.__anext__())
                done, _ = await asyncio.wait({pending}, timeout=remaining)
                if not done:
                    break
                try:
                    etype, obj = pending.result()
                except StopAsyncIteration:
                    break
                pending = None
                if table and etype != "ERROR":
                    obj = to_table(r, obj, q.get("includeObject", "Object"))
                await resp.write(json.dumps({"type": etype, "object": obj},
                                            separators=(",", ":")).encode() + b"\n")
                if etype == "ERROR":
                    break
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            if pending is not None:
                pending.cancel()
                # the generator is "running" until the cancellation lands in it
                with contextlib.suppress(BaseException):
                    await pending
            with contextlib.suppress(RuntimeError):
                await events.aclose()
        with contextlib.suppress(ConnectionResetError):
            await resp.write_eof()
        return resp


# What a path under /api/v1 and /apis/<group>/<version> names (namespaced resources also
# under namespaces/<ns>/): the resource's collection, one object (with its status and
# finalize subresources, which GET reads as the object and PUT/PATCH write through
# ClusterApi.update), its scale, or "<resource>/<subresource>" for the rest.
COLLECTION, OBJECT, SCALE = "<resource>", "<resource>/<name>", "<resource>/<name>/scale"
Handler = Callable[[HttpApi, "_Call"], Awaitable[web.StreamResponse]]
#: What this server serves for its stored resources. A path that is not here is a
#: component's (pods/log, exec, attach, portforward, services/proxy: node/routes.py) or a
#: 404; a method a served path lacks is a 405.
ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", COLLECTION): HttpApi._list,  # and ?watch=true
    ("POST", COLLECTION): HttpApi._create,
    ("DELETE", COLLECTION): HttpApi._delete_collection,
    ("GET", OBJECT): HttpApi._get,
    ("PUT", OBJECT): HttpApi._update,
    ("PATCH", OBJECT): HttpApi._patch,
    ("DELETE", OBJECT): HttpApi._delete,
    ("GET", SCALE): HttpApi._get_scale,
    ("PUT", SCALE): HttpApi._update,
    ("PATCH", SCALE): HttpApi._patch,
    ("POST", "pods/binding"): HttpApi._bind,
    ("POST", "pods/eviction"): HttpApi._evict,
}


def _target(r: Resource, name: str | None, sub: str | None) -> str:
    if name is None:
        return COLLECTION
    if sub in (None, "status", "finalize"):
        return OBJECT
    return SCALE if sub == "scale" else f"{r.qualified}/{sub}"


@dataclasses.dataclass
class _Call:
    """One request to a resource path, resolved (see ROUTES)."""

    request: web.Request
    r: Resource
    ns: str | None
    name: str | None
    sub: str | None
    manager: str | None = None
    dry_run: bool = False
    validation: str = "Warn"

    @property
    def object_name(self) -> str:
        return self.name or ""

    def read_write_options(self) -> None:
        """fieldManager (default: the User-Agent's product), dryRun, fieldValidation."""
        q = self.request.query
        self.manager = q.get("fieldManager") or _manager_from_agent(self.request)
        self.dry_run = q.get("dryRun") == "All"
        self.validation = q.get("fieldValidation", "Warn")
        if self.validation not in ("Strict", "Warn", "Ignore"):
            raise bad_request('fieldValidation must be one of "Ignore", "Warn", or "Strict", '
                              f'got "{self.validation}"')


def _not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")


async def _exists(api: ClusterApi, r: Resource, ns: str | None, name: str) -> bool:
    try:
        await api.get(r, ns, name)
        return True
    except ApiError:
        return False


def _int(text: str | None) -> int | None:
    if text in (None, ""):
        return None
    try:
        return int(text)
    except ValueError:
        raise bad_request(f"invalid integer: {text!r}") from None


def _manager_from_agent(request: web.Request) -> str:
    """The real server's default field manager: the User-Agent up to its first '/'."""
    agent = request.headers.get("User-Agent", "")
    return agent.split("/", 1)[0][:128] or "unknown"


async def _read(request: web.Request) -> bytes:
    """The body, at most MAX_REQUEST_BODY_BYTES, as kube-apiserver's limitedReadBody reads it.

    A larger body is a 413 Status (not aiohttp's plain-text 413, nor a 16 MiB object that
    every later step copies); what the client still sends is drained by aiohttp."""
    limit = decoding.MAX_REQUEST_BODY_BYTES
    too_large = ApiError(413, "RequestEntityTooLarge",
                         f"Request entity too large: limit is {limit}")
    if (request.content_length or 0) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(1 << 16)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def _body(request: web.Request, yaml_ok: bool = False,
                kind: tuple[str, str] | None = None, what: str = "error decoding") -> Any:
    """The decoded body; `kind` (kind, version) words errors as the object decoder does,
    `what` prefixes them otherwise (patches)."""
    if request.content_type == "application/vnd.kubernetes.protobuf":
        return protobuf.decode(await _read(request))
    if "protobuf" in request.content_type or "cbor" in request.content_type:
        raise ApiError(415, "UnsupportedMediaType",
                       f'the body of the request was in an unknown format - accepted media '
                       f'types include: application/json, application/yaml '
                       f'(got "{request.content_type}")')
    raw = await _read(request)
    if not raw:
        raise bad_request("the body of the request was empty")
    import yaml

    try:
        return decoding.decode(raw, yaml_ok=yaml_ok)
    except decoding.TooDeep as exc:
        if kind:
            raise bad_request(f'{kind[0]} in version "{kind[1]}" cannot be handled as a '
                              f"{kind[0]}: {exc}") from None
        raise bad_request(f"{what}: {exc}") from None
    except yaml.YAMLError as exc:
        raise bad_request(f"error converting YAML to JSON: {exc}") from None
    except ValueError:
        raise bad_request("error decoding the body: invalid JSON (" + raw[:80].decode(
            errors="replace") + "...)") from None


async def _delete_options(request: web.Request) -> dict[str, Any]:
    q = request.query
    body: dict[str, Any] = {}
    raw = await _read(request)
    if raw:
        try:
            body = decoding.decode(raw) or {}
        except decoding.TooDeep as exc:
            raise bad_request(f'DeleteOptions in version "v1" cannot be handled as a '
                              f"DeleteOptions: {exc}") from None
        except ValueError:
            raise bad_request("invalid DeleteOptions body") from None
        if not isinstance(body, dict):
            raise bad_request("invalid DeleteOptions body")
    policy = q.get("propagationPolicy") or body.get("propagationPolicy")
    orphan = q.get("orphanDependents") or body.get("orphanDependents")
    if policy is None and orphan in (True, "true"):
        policy = "Orphan"
    grace = q.get("gracePeriodSeconds")
    grace_val = _int(grace) if grace is not None else body.get("gracePeriodSeconds")
    dry = q.get("dryRun") == "All" or body.get("dryRun") == ["All"]
    return {"propagation_policy": policy, "grace_period_seconds": grace_val,
            "preconditions": body.get("preconditions"), "dry_run": dry}
