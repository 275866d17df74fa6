"""The OpenAPI v3 documents kubectl reads: per group/version, the paths (kubectl apply
looks for a `fieldValidation` parameter on each kind's PATCH to know the server validates
fields itself) and `components.schemas` (what `kubectl explain` walks).

The schemas are the real Kubernetes 1.32 ones, from the JSON Schema set
kubernetes-validate ships (converted from the API server's own OpenAPI), turned back into
OpenAPI v3 shape: `$ref`s to `#/components/schemas/...` wrapped in `allOf` so a field's
description survives (as the API server does), `["string", "null"]` types back to
`string`, IntOrString/Quantity to strings, and the converter's one-value `apiVersion` /
`kind` enums dropped. Each document holds the schemas its kinds reach.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import cache
from importlib.resources import files
from typing import Any

from .registry import Registry

SCHEMA_SET = "v1.32.0-local"  # the non-strict variant: no added additionalProperties
DEFS, COMPONENTS = "#/$defs/", "#/components/schemas/"


@cache
def _json_schemas() -> dict[str, Any]:
    root = files("kubernetes_validate") / "kubernetes-json-schema" / SCHEMA_SET
    return json.loads((root / "_definitions.json").read_text())["$defs"]


def warm_up() -> None:
    """Load the schema set (about a second) before kubectl explain or apply asks."""
    _json_schemas()


def non_null_type(types: list[str]) -> str | list[str]:
    """A JSON Schema type list as the API server writes it: without "null", one type alone."""
    kept = [t for t in types if t != "null"]
    return kept[0] if len(kept) == 1 else kept


def converted_properties(props: dict[str, Any], convert: Callable[[Any], Any],
                         top: bool) -> dict[str, Any]:
    """``properties`` with each converted; a kind's own apiVersion/kind lose the one-value
    enum the JSON schemas pin them to (the API server's documents have none). Shared by the
    v3 documents and openapiv2's."""
    out = {name: convert(prop) for name, prop in props.items()}
    for name in ("apiVersion", "kind"):
        prop = out.get(name)
        if top and isinstance(prop, dict) and len(prop.get("enum") or []) == 1:
            out[name] = {k: v for k, v in prop.items() if k != "enum"}
    return out


def _convert(node: Any, top: bool = False) -> Any:
    """One JSON Schema node back to the API server's OpenAPI v3 form."""
    if isinstance(node, list):
        return [_convert(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref":
            continue
        if key == "type" and isinstance(value, list):
            value = non_null_type(value)
        elif key == "properties":
            value = converted_properties(value, _convert, top)
        elif key in ("items", "additionalProperties", "oneOf", "anyOf", "allOf"):
            value = _convert(value)
        out[key] = value
    ref = node.get("$ref")
    if ref:
        target = {"$ref": ref.replace(DEFS, COMPONENTS)}
        if len(node) == 1:
            return target
        out["allOf"] = [target]
    return out


def _definition(name: str) -> dict[str, Any]:
    raw = _json_schemas()[name]
    # the two untyped wrappers (no `type`, so kubectl explain names them)
    if name == "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
        return {"description": "IntOrString is a type that can hold an int32 or a string.  "
                "When used in JSON or YAML marshalling and unmarshalling, it produces or "
                "consumes the inner type.  This allows you to have, for example, a JSON field "
                "that can accept a name or number.", "format": "int-or-string",
                "oneOf": [{"type": "integer"}, {"type": "string"}]}
    if name == "io.k8s.apimachinery.pkg.api.resource.Quantity":
        return {"description": raw.get("description", "Quantity is a fixed-point "
                                        "representation of a number."),
                "oneOf": [{"type": "string"}, {"type": "number"}]}
    return _convert(raw, top=True)


@cache
def _closure(roots: tuple[str, ...]) -> dict[str, Any]:
    """The named schemas and every schema they reference, converted."""
    defs = _json_schemas()
    found: dict[str, Any] = {}
    todo = [r for r in roots if r in defs]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found[name] = _definition(name)
        text = json.dumps(defs[name])
        start = 0
        while (i := text.find(DEFS, start)) >= 0:
            end = text.find('"', i)
            todo.append(text[i + len(DEFS):end])
            start = end
    return dict(sorted(found.items()))


def _schema_names(group: str, version: str, kinds: list[str]) -> tuple[str, ...]:
    """The definitions whose x-kubernetes-group-version-kind is one of `kinds` (and
    their lists)."""
    wanted = {(group, version, k) for k in kinds} | {(group, version, k + "List")
                                                     for k in kinds}
    names = []
    for name, schema in _json_schemas().items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            if (gvk.get("group", ""), gvk.get("version"), gvk.get("kind")) in wanted:
                names.append(name)
    return tuple(sorted(set(names)))

_PARAMS = [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
           for n in ("dryRun", "fieldManager", "fieldValidation", "force")]


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def gv_document(reg: Registry, group: str, version: str,
                schemas: bool = True) -> dict[str, Any] | None:
    """The /openapi/v3/{api|apis/group}/version document; `schemas=False` leaves the
    components out (cheap: what the root's hashes are computed from)."""
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
    kinds = [r.kind for r in reg.resources if r.group == group and r.version == version
             and r.stored]
    components = _closure(_schema_names(group, version, kinds)) if schemas else SCHEMA_SET
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0+labcluster"},
            "paths": paths, "components": {"schemas": components}}


def root(reg: Registry) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for group, versions in reg.groups().items():
        for v in versions:
            doc = gv_document(reg, group, v, schemas=False)  # hash: paths + schema set
            if doc is None:
                continue
            digest = hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:64]
            path = _gv_path(group, v)
            out[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest.upper()}"}
    return {"paths": out}
