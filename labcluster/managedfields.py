"""Server-side apply: field ownership (`metadata.managedFields`), conflicts, removal.

A simplified structured-merge-diff: a field set is the set of leaf paths of an object,
list items of associative lists (containers by name, ...) addressed by key
(`k:{"name":"web"}`), other lists atomic. That is enough for what apply promises the
lab: create-or-update, fields a manager stops applying are removed, and changing a field
another manager owns is a 409 conflict unless forced.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

from .errors import ApiError, Cause
from .patch import merge_key

Path = tuple[str, ...]
IGNORED_META = {"managedFields", "resourceVersion", "uid", "creationTimestamp", "generation",
                "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds", "name",
                "namespace"}
_MISSING = object()


def leaf_values(obj: dict[str, Any], subresource: str | None = None) -> dict[Path, Any]:
    """Every owned path → its value; item-existence paths end in '.' with value True."""
    out: dict[Path, Any] = {}
    for key, value in obj.items():
        if key in ("apiVersion", "kind"):
            continue
        if subresource == "status" and key != "status":
            continue
        if subresource is None and key == "status":
            continue
        if key == "metadata":
            value = {k: v for k, v in value.items() if k not in IGNORED_META}
        _walk(value, (f"f:{key}",), key, out)
    return out


def _walk(value: Any, path: Path, field: str, out: dict[Path, Any]) -> None:
    if isinstance(value, dict):
        # an empty map owns nothing (`metadata: {}` must not conflict with live metadata)
        for k, v in value.items():
            _walk(v, path + (f"f:{k}",), k, out)
    elif isinstance(value, list) and value and (key := merge_key(field, value)) and all(
            isinstance(i, dict) and key in i for i in value):
        for item in value:
            ip = path + (item_key(key, item),)
            out[ip + (".",)] = True
            for k, v in item.items():
                _walk(v, ip + (f"f:{k}",), k, out)
    else:
        out[path] = value


def item_key(key: str, item: dict[str, Any]) -> str:
    return "k:" + json.dumps({key: item[key]}, separators=(",", ":"), sort_keys=True)


def to_fields_v1(paths: set[Path] | list[Path]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for path in sorted(paths):
        node = root
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node.setdefault(path[-1], {})
    # fieldsV1 marks a keyed item's own presence with "." inside it: already the case.
    return root


def from_fields_v1(tree: dict[str, Any], prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    for key, sub in (tree or {}).items():
        path = prefix + (key,)
        if sub:
            out |= from_fields_v1(sub, path)
        else:
            out.add(path)
    return out


def _resolve(obj: Any, path: Path) -> Any:
    cur = obj
    for part in path:
        if part == ".":
            return True if cur is not _MISSING else _MISSING
        if part.startswith("f:"):
            if not isinstance(cur, dict) or part[2:] not in cur:
                return _MISSING
            cur = cur[part[2:]]
        elif part.startswith("k:"):
            want = json.loads(part[2:])
            if not isinstance(cur, list):
                return _MISSING
            cur = next((i for i in cur if isinstance(i, dict)
                        and all(i.get(k) == v for k, v in want.items())), _MISSING)
            if cur is _MISSING:
                return _MISSING
    return cur


def _remove_path(obj: Any, path: Path) -> None:
    """Delete what a path names (a field, or a keyed list item when it ends in '.')."""
    if path and path[-1] == ".":
        parent = _resolve(obj, path[:-2])
        want = json.loads(path[-2][2:])
        if isinstance(parent, list):
            parent[:] = [i for i in parent if not (isinstance(i, dict) and all(
                i.get(k) == v for k, v in want.items()))]
        return
    parent = _resolve(obj, path[:-1])
    if isinstance(parent, dict) and path[-1].startswith("f:"):
        parent.pop(path[-1][2:], None)


def apply_merge(live: Any, config: Any, field: str = "") -> Any:
    """Merge an applied configuration into the live object (keyed lists merge by key)."""
    if isinstance(config, dict):
        result = copy.deepcopy(live) if isinstance(live, dict) else {}
        for k, v in config.items():
            result[k] = apply_merge(result.get(k, _MISSING), v, k)
        return result
    if isinstance(config, list) and (key := merge_key(field, config)) and all(
            isinstance(i, dict) and key in i for i in config):
        current = copy.deepcopy(live) if isinstance(live, list) else []
        for item in config:
            idx = next((n for n, cur in enumerate(current)
                        if isinstance(cur, dict) and cur.get(key) == item[key]), None)
            if idx is None:
                current.append(apply_merge(_MISSING, item))
            else:
                current[idx] = apply_merge(current[idx], item)
        # apply keeps the order of the applied configuration for the items it names
        order = [i[key] for i in config]
        current.sort(key=lambda i: order.index(i.get(key)) if i.get(key) in order else len(order))
        return current
    return copy.deepcopy(config)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _entries(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return obj.get("metadata", {}).get("managedFields") or []


def server_side_apply(live: dict[str, Any] | None, config: dict[str, Any], manager: str,
                      force: bool, api_version: str) -> dict[str, Any]:
    """Return the new object; raises 409 Conflict when another manager owns a changed field."""
    cfg_values = leaf_values(config)
    if live is None:
        new = copy.deepcopy(config)
        new.setdefault("metadata", {})["managedFields"] = [
            _entry(manager, "Apply", api_version, set(cfg_values))]
        return new
    entries = _entries(live)
    owned = {i: from_fields_v1(e.get("fieldsV1", {})) for i, e in enumerate(entries)}
    mine = next((i for i, e in enumerate(entries)
                 if e.get("manager") == manager and e.get("operation") == "Apply"
                 and not e.get("subresource")), None)
    conflicts: list[tuple[str, str, Path]] = []
    for path, value in cfg_values.items():
        have = _resolve(live, path)
        if have is _MISSING or have == value:
            continue
        for i, e in enumerate(entries):
            if i != mine and not e.get("subresource") and path in owned[i]:
                conflicts.append((e.get("manager", ""), e.get("apiVersion", ""), path))
    if conflicts and not force:
        raise _conflict_error(conflicts, live)
    new = apply_merge(live, {k: v for k, v in config.items() if k not in ("status",)})
    # fields this manager applied before and no longer does go away, unless another owns them
    others: set[Path] = set()
    for i, e in enumerate(entries):
        if i != mine and not e.get("subresource"):
            others |= owned[i]
    if mine is not None:
        for path in sorted(owned[mine] - set(cfg_values) - others, key=len, reverse=True):
            _remove_path(new, path)
    new_entries = []
    for i, e in enumerate(entries):
        if i == mine:
            continue
        if force and not e.get("subresource"):
            lost = {p for _, _, p in conflicts} if e.get("manager") != manager else set()
            paths = owned[i] - lost
            if not paths:
                continue
            e = {**e, "fieldsV1": to_fields_v1(paths)}
        new_entries.append(e)
    new_entries.append(_entry(manager, "Apply", api_version, set(cfg_values)))
    new.setdefault("metadata", {})["managedFields"] = new_entries
    return new


def record_update(old: dict[str, Any] | None, new: dict[str, Any], manager: str,
                  api_version: str, subresource: str | None = None) -> None:
    """Give `manager` the fields a non-apply write changed (operation Update), in place."""
    entries = [dict(e) for e in _entries(old or {})]
    before = leaf_values(old, subresource) if old else {}
    after = leaf_values(new, subresource)
    changed = {p for p, v in after.items() if before.get(p, _MISSING) != v}
    gone = set(before) - set(after)
    out = []
    mine = None
    for e in entries:
        same_sub = (e.get("subresource") or None) == subresource
        if same_sub and e.get("manager") == manager and e.get("operation") == "Update":
            mine = e
            continue
        if same_sub:
            paths = from_fields_v1(e.get("fieldsV1", {})) - changed - gone
            if not paths:
                continue
            e["fieldsV1"] = to_fields_v1(paths)
        out.append(e)
    paths = (from_fields_v1(mine.get("fieldsV1", {})) if mine else set()) - gone | changed
    if paths:
        out.append(_entry(manager, "Update", api_version, paths, subresource))
    new.setdefault("metadata", {})["managedFields"] = out


def _entry(manager: str, op: str, api_version: str, paths: set[Path],
           subresource: str | None = None) -> dict[str, Any]:
    e = {"manager": manager, "operation": op, "apiVersion": api_version, "time": _now(),
         "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(paths)}
    if subresource:
        e["subresource"] = subresource
    return e


def path_string(path: Path) -> str:
    """`.spec.template.spec.containers[name="web"].image`, as apply conflicts print paths."""
    out = ""
    for part in path:
        if part.startswith("f:"):
            out += "." + part[2:]
        elif part.startswith("k:"):
            key = json.loads(part[2:])
            out += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in key.items()) + "]"
    return out


def _conflict_error(conflicts: list[tuple[str, str, Path]], live: dict[str, Any]) -> ApiError:
    meta = live.get("metadata", {})
    if len(conflicts) == 1:
        m, v, p = conflicts[0]
        detail = f'conflict with "{m}" using {v}: {path_string(p)}'
    else:
        by_manager: dict[str, list[str]] = {}
        for m, _v, p in conflicts:
            by_manager.setdefault(m, []).append(path_string(p))
        lines = []
        for m, paths in by_manager.items():
            lines.append(f'conflicts with "{m}"')
            lines += [f"- {p}" for p in paths]
        detail = "\n".join(lines)
    n = len(conflicts)
    return ApiError(
        409, "Conflict", f"Apply failed with {n} conflict{'s' if n > 1 else ''}: {detail}",
        name=meta.get("name", ""),
        causes=[Cause("FieldManagerConflict", f'conflict with "{m}" using {v}', path_string(p))
                for m, v, p in conflicts])
