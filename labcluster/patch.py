"""The four patch types the API server accepts (JSON, merge, strategic merge, apply).

Server-side apply lives in `managedfields.py`; this module holds the list semantics it
shares with strategic merge: which lists are maps keyed by a field (containers by
`name`, volumeMounts by `mountPath`, ...), as the Go types' patchMergeKey tags say.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from .decoding import MAX_DEPTH, MAX_REQUEST_BODY_BYTES, TooDeep, object_too_deep
from .errors import ApiError, bad_request

# field name → merge key of its items (patchMergeKey in k8s.io/api); `ports` is decided
# per item (containerPort in containers, port in Services).
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "conditions": "type",
    "ownerReferences": "uid",
    "topologySpreadConstraints": "topologyKey",
    "secrets": "name",
    "resourceClaims": "name",
    "containerStatuses": "name",
    "initContainerStatuses": "name",
}
PRIMITIVE_MERGE = {"finalizers"}
# kube-apiserver's maxJSONPatchOperations; copies are bounded by JSONPatchMaxCopyBytes,
# which defaults to the request body limit
MAX_JSON_PATCH_OPERATIONS = 10000


def merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        sample = next((i for i in items if isinstance(i, dict)), None)
        if sample is None:
            return None
        return "containerPort" if "containerPort" in sample else "port"
    if field == "addresses" or field == "notReadyAddresses":
        return "ip"
    return MERGE_KEYS.get(field)


def json_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = json_merge_patch(result.get(key), value)
    return result


_DELETE = object()


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Strategic merge patch with the directives kubectl sends ($patch, $setElementOrder,
    $deleteFromPrimitiveList, $retainKeys)."""
    out = _smp(target, patch)
    return {} if out is _DELETE else out


def _smp(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "delete":
        return _DELETE
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive not in (None, "merge"):
        raise bad_request(f"Unknown patch type: {directive}")
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        for key in list(result):
            if key not in retain and key not in patch:
                result.pop(key)
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            result[field] = [x for x in result.get(field) or [] if x not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            merged = _smp(result.get(key), value)
            if merged is _DELETE:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _smp_list(key, result.get(key), value)
        else:
            result[key] = value
    for field, order in orders.items():
        if isinstance(result.get(field), list):
            result[field] = _apply_order(field, result[field], order)
    return result


def _smp_list(field: str, target: Any, patch: list[Any]) -> list[Any]:
    current = list(target) if isinstance(target, list) else []
    if field in PRIMITIVE_MERGE:
        return current + [x for x in patch if x not in current]
    key = merge_key(field, patch + current)
    if key is None:
        return [x for x in copy.deepcopy(patch) if not (isinstance(x, dict) and "$patch" in x)]
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [copy.deepcopy(i) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    result = copy.deepcopy(current)
    for item in patch:
        if not isinstance(item, dict):
            raise bad_request(f"unable to find api field in struct for {field}: list item is not a map")
        if key not in item:
            raise bad_request(f"map: {item} does not contain declared merge key: {key}")
        idx = next((i for i, cur in enumerate(result)
                    if isinstance(cur, dict) and cur.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                result.pop(idx)
            continue
        if idx is None:
            result.append(_smp({}, item))
        else:
            result[idx] = _smp(result[idx], item)
    return result


def _apply_order(field: str, items: list[Any], order: list[Any]) -> list[Any]:
    key = merge_key(field, items)
    if key is None:
        return items

    def rank(item: Any) -> int:
        for i, o in enumerate(order):
            if isinstance(o, dict) and isinstance(item, dict) and o.get(key) == item.get(key):
                return i
        return len(order)

    return sorted(items, key=rank)


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902 (add, remove, replace, move, copy, test)."""
    if not isinstance(ops, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:
        raise ApiError(413, "RequestEntityTooLarge", "Request entity too large: The allowed "
                       f"maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, "
                       f"got {len(ops)}")
    doc = copy.deepcopy(target)
    copied = 0  # bytes added by `copy` ops: each can double the document
    for op in ops:
        if not isinstance(op, dict):
            raise bad_request("json: cannot unmarshal array into Go value of type "
                              "jsonpatch.Operation")
        kind = op.get("op")
        path = _pointer(op.get("path", ""))
        if kind in ("add", "replace", "move", "copy"):
            # each op keeps the document within MAX_DEPTH: a `copy` of a node under
            # itself doubles the depth, and the next op's copy would recurse into it
            src = _pointer(op.get("from", "")) if kind in ("move", "copy") else []
            value = _get(doc, src) if kind in ("move", "copy") else op.get("value")
            if object_too_deep(value, MAX_DEPTH - len(path)):
                raise TooDeep()
            if kind == "copy":
                copied += len(json.dumps(value, separators=(",", ":")))
                if copied > MAX_REQUEST_BODY_BYTES:
                    raise ApiError(422, "Invalid", "the server rejected our request due to an "
                                   "error in our request: Unable to complete the copy, the "
                                   f"accumulated size increase of copy is {copied}, exceeding "
                                   f"the limit {MAX_REQUEST_BODY_BYTES}")
        if kind == "add":
            doc = _put(doc, path, copy.deepcopy(op.get("value")), insert=True)
        elif kind == "replace":
            _get(doc, path)
            doc = _put(doc, path, copy.deepcopy(op.get("value")), insert=False)
        elif kind == "remove":
            doc = _remove(doc, path)
        elif kind in ("move", "copy"):
            value = copy.deepcopy(_get(doc, src))
            if kind == "move":
                doc = _remove(doc, src)
            doc = _put(doc, path, value, insert=True)
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise ApiError(422, "Invalid", "the server rejected our request due to an error "
                               "in our request", causes=[])
        else:
            raise bad_request(f"Unexpected kind: {kind}")
    return doc


def _pointer(text: str) -> list[str]:
    if text == "":
        return []
    if not text.startswith("/"):
        raise bad_request(f"the server rejected our request due to an error in our request: {text}")
    return [p.replace("~1", "/").replace("~0", "~") for p in text[1:].split("/")]


def _missing(path: list[str]) -> ApiError:
    return ApiError(422, "Invalid",
                    f"the server rejected our request due to an error in our request: "
                    f"doc is missing path: \"/{'/'.join(path)}\"")


def _get(doc: Any, path: list[str]) -> Any:
    cur = doc
    for part in path:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            raise _missing(path)
    return cur


def _put(doc: Any, path: list[str], value: Any, insert: bool) -> Any:
    if not path:
        return value
    parent = _get(doc, path[:-1])
    last = path[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            if insert:
                parent.insert(int(last), value)
            else:
                parent[int(last)] = value
        else:
            raise _missing(path)
    else:
        raise _missing(path)
    return doc


def _remove(doc: Any, path: list[str]) -> Any:
    parent = _get(doc, path[:-1])
    last = path[-1]
    if isinstance(parent, dict) and last in parent:
        del parent[last]
    elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        parent.pop(int(last))
    else:
        raise _missing(path)
    return doc
