"""A minimal OpenAPI v3 document set: enough for kubectl to see that the server does
field validation itself (it looks for a `fieldValidation` parameter on each kind's PATCH
operation) instead of demanding a full schema download. No schemas are served.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .registry import Registry

_PARAMS = [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
           for n in ("dryRun", "fieldManager", "fieldValidation", "force")]


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def gv_document(reg: Registry, group: str, version: str) -> dict[str, Any] | None:
    paths: dict[str, Any] = {}
    for r in reg.resources:
        if r.group != group or r.version != version or not r.stored:
            continue
        base = "/" + _gv_path(group, version)
        item = (f"{base}/namespaces/{{namespace}}/{r.plural}/{{name}}" if r.namespaced
                else f"{base}/{r.plural}/{{name}}")
        gvk = {"group": group, "version": version, "kind": r.kind}
        ok = {"200": {"description": "OK"}}
        paths[item] = {
            "get": {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "get",
                    "responses": ok},
            "put": {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "put",
                    "parameters": _PARAMS[:3], "responses": ok},
            "patch": {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "patch",
                      "parameters": _PARAMS, "responses": ok},
            "delete": {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "delete",
                       "responses": ok},
        }
    if not paths:
        return None
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0+labcluster"},
            "paths": paths, "components": {"schemas": {}}}


def root(reg: Registry) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for group, versions in reg.groups().items():
        for v in versions:
            doc = gv_document(reg, group, v)
            if doc is None:
                continue
            digest = hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:64]
            path = _gv_path(group, v)
            out[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest.upper()}"}
    return {"paths": out}
