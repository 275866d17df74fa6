"""/openapi/v2: the Swagger 2.0 document of what we serve, in JSON or gnostic protobuf.

kubectl's discovery client asks for it only as protobuf
(`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`, gnostic's
openapi_v2.Document) and parses every definition of it at once (kube-openapi's
pkg/util/proto): `kubectl explain --output=plaintext-openapiv2` walks it, and a document it
cannot parse is an error printed by whatever kubectl command asked. So it is built from the
same schema set as openapi.py's v3 documents (kubernetes-validate's JSON Schema of 1.32),
turned into v2 shape (`#/definitions/` references beside their description, one `type`,
IntOrString and Quantity as upstream's v2 writes them), and every reference resolves.

The protobuf is written by hand (no generated code): the few gnostic messages a document
uses, with the field numbers of google/gnostic openapiv2/OpenAPIv2.proto — Document, Info,
Paths/PathItem/Operation/Responses, Definitions, Schema and its items, and Any (vendor
extensions and defaults travel as YAML text, which JSON is).
"""

from __future__ import annotations

import json
import struct
from typing import Any

from . import openapi
from .registry import Registry

PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
# what the API server answers with (the '@' is a '.' in the response's Content-Type)
PROTOBUF_RESPONSE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
DEFINITIONS = "#/definitions/"
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"


# ------------------------------------------------------------------ the JSON document
def _convert(node: Any, top: bool = False) -> Any:
    """One JSON Schema node in Swagger 2.0 form."""
    if isinstance(node, list):
        return [_convert(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("oneOf", "anyOf"):  # not in Swagger 2.0 (only IntOrString/Quantity use
            continue                    # them, and they are written out below)
        if key == "$ref":
            value = value.replace(openapi.DEFS, DEFINITIONS)
        elif key == "type" and isinstance(value, list):
            value = openapi.non_null_type(value)
        elif key == "properties":
            value = openapi.converted_properties(value, _convert, top)
        elif key in ("items", "additionalProperties", "allOf"):
            value = _convert(value)
        out[key] = value
    if out.get("type") == "array" and "items" not in out:
        out["items"] = {}  # kube-openapi refuses an array without items
    return out


def _definition(name: str) -> dict[str, Any]:
    raw = openapi._json_schemas()[name]
    if name == _INT_OR_STRING:
        return {"description": raw.get("description", "IntOrString is a type that can hold "
                                       "an int32 or a string."),
                "type": "string", "format": "int-or-string"}
    if name == _QUANTITY:
        return {"description": raw.get("description", "Quantity is a fixed-point "
                                       "representation of a number."), "type": "string"}
    return _convert(raw, top=True)


def _closure(roots: list[str]) -> dict[str, Any]:
    defs = openapi._json_schemas()
    found: dict[str, Any] = {}
    todo = [r for r in roots if r in defs]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found[name] = _definition(name)
        text = json.dumps(defs[name])
        start = 0
        while (i := text.find(openapi.DEFS, start)) >= 0:
            end = text.find('"', i)
            todo.append(text[i + len(openapi.DEFS):end])
            start = end
    return dict(sorted(found.items()))


def document(reg: Registry) -> dict[str, Any]:
    """The whole Swagger 2.0 document: every served group/version's paths and definitions
    (the v3 documents' paths, with their operations' kind and action extensions)."""
    paths: dict[str, Any] = {}
    roots: list[str] = []
    for group, versions in reg.groups().items():
        for version in versions:
            v3 = openapi.gv_document(reg, group, version, schemas=False)
            if v3 is None:
                continue
            for path, item in v3["paths"].items():
                paths[path] = {verb: {k: v for k, v in op.items() if k != "parameters"}
                               for verb, op in item.items()}
            kinds = [r.kind for r in reg.resources if r.group == group
                     and r.version == version and r.stored]
            roots.extend(openapi._schema_names(group, version, kinds))
    return {"swagger": "2.0",
            "info": {"title": "Kubernetes", "version": "v1.32.0+labcluster"},
            "paths": dict(sorted(paths.items())), "definitions": _closure(sorted(set(roots)))}


# ------------------------------------------------------------------ gnostic protobuf
def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int64: two's complement, ten bytes
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _bytes(num: int, data: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(data)) + data


def _str(num: int, text: str) -> bytes:
    return _bytes(num, text.encode()) if text else b""


def _int(num: int, value: int | bool) -> bytes:
    return _varint(num << 3) + _varint(int(value)) if value else b""


def _double(num: int, value: float) -> bytes:
    return _varint(num << 3 | 1) + struct.pack("<d", float(value)) if value else b""


def _any(value: Any) -> bytes:
    """gnostic Any: field 2, the value as YAML (JSON is YAML)."""
    return _str(2, json.dumps(value))


def _named_any(num: int, name: str, value: Any) -> bytes:
    return _bytes(num, _str(1, name) + _bytes(2, _any(value)))


def _schema(s: dict[str, Any]) -> bytes:
    out = bytearray()
    out += _str(1, s.get("$ref", ""))
    out += _str(2, s.get("format", ""))
    out += _str(3, s.get("title", ""))
    out += _str(4, s.get("description", ""))
    if "default" in s:
        out += _bytes(5, _any(s["default"]))
    for num, key in ((6, "multipleOf"), (7, "maximum"), (9, "minimum")):
        if key in s:
            out += _double(num, s[key])
    for num, key in ((8, "exclusiveMaximum"), (10, "exclusiveMinimum"), (11, "maxLength"),
                     (12, "minLength"), (14, "maxItems"), (15, "minItems"),
                     (16, "uniqueItems"), (17, "maxProperties"), (18, "minProperties"),
                     (27, "readOnly")):
        if key in s:
            out += _int(num, s[key])
    out += _str(13, s.get("pattern", ""))
    for req in s.get("required") or []:
        out += _str(19, req)
    for value in s.get("enum") or []:
        out += _bytes(20, _any(value))
    extra = s.get("additionalProperties")
    if isinstance(extra, dict):
        out += _bytes(21, _bytes(1, _schema(extra)))
    elif isinstance(extra, bool):
        out += _bytes(21, _varint(2 << 3) + _varint(int(extra)))
    if "type" in s:
        types = s["type"] if isinstance(s["type"], list) else [s["type"]]
        out += _bytes(22, b"".join(_str(1, t) for t in types))
    if "items" in s:
        items = s["items"] if isinstance(s["items"], list) else [s["items"]]
        out += _bytes(23, b"".join(_bytes(1, _schema(i)) for i in items))
    for sub in s.get("allOf") or []:
        out += _bytes(24, _schema(sub))
    if "properties" in s:
        out += _bytes(25, b"".join(_bytes(1, _str(1, name) + _bytes(2, _schema(prop)))
                                   for name, prop in s["properties"].items()))
    if "example" in s:
        out += _bytes(30, _any(s["example"]))
    for key, value in s.items():
        if key.startswith("x-"):
            out += _named_any(31, key, value)
    return bytes(out)


def _operation(op: dict[str, Any]) -> bytes:
    out = bytearray()
    responses = b"".join(
        _bytes(1, _str(1, code) + _bytes(2, _bytes(1, _str(1, r.get("description", "")))))
        for code, r in (op.get("responses") or {}).items())
    out += _bytes(9, responses)
    for key, value in op.items():
        if key.startswith("x-"):
            out += _named_any(13, key, value)
    return bytes(out)


_VERBS = {"get": 2, "put": 3, "post": 4, "delete": 5, "options": 6, "head": 7, "patch": 8}


def encode(doc: dict[str, Any]) -> bytes:
    """A Swagger 2.0 document (as document() builds it) as gnostic's openapi_v2.Document."""
    out = bytearray()
    out += _str(1, doc.get("swagger", "2.0"))
    info = doc.get("info") or {}
    out += _bytes(2, _str(1, info.get("title", "")) + _str(2, info.get("version", "")))
    paths = bytearray()
    for path, item in (doc.get("paths") or {}).items():
        ops = b"".join(_bytes(_VERBS[verb], _operation(op)) for verb, op in item.items()
                       if verb in _VERBS)
        paths += _bytes(2, _str(1, path) + _bytes(2, ops))
    out += _bytes(8, bytes(paths))
    out += _bytes(9, b"".join(_bytes(1, _str(1, name) + _bytes(2, _schema(schema)))
                              for name, schema in (doc.get("definitions") or {}).items()))
    return bytes(out)


_built: dict[tuple[tuple[str, str, str], ...], tuple[bytes, bytes]] = {}


def bodies(reg: Registry) -> tuple[bytes, bytes]:
    """(JSON, protobuf) of the registry's document; rebuilt when the registry changes (a
    component adding a kind). Seconds of work: call it off the event loop."""
    key = tuple((r.group, r.version, r.plural) for r in reg.resources)
    if key not in _built:
        doc = document(reg)
        _built[key] = (json.dumps(doc, separators=(",", ":")).encode(), encode(doc))
    return _built[key]
