"""The subset of kustomize this course's manifests use, so notebooks need no kubectl.

Supported (and compared object for object with ``kubectl kustomize`` in the tests):

- ``resources``: YAML files and folders holding a kustomization (built recursively);
- ``namespace``: set on every namespaced object; a ``Namespace`` object is renamed;
- ``patches``: from ``path`` or inline ``patch``, either strategic merge (a mapping;
  ``$patch: delete`` removes an object or a list item; ``null`` removes a field) or
  JSON 6902 (a list of operations) with a ``target``.

Strategic merge follows the Kubernetes schema for the lists that matter: containers,
initContainers, volumes, env (by ``name``), container ports (by ``containerPort``),
volumeMounts (by ``mountPath``), Service ports (by ``port``), topology spread (by
``topologyKey``); every other list is replaced whole — including
``volumeClaimTemplates``, exactly as kubectl does (so patch those with JSON 6902).
Merged lists come out as kubectl writes them: the patch's items first, then the
remaining original items.

Anything else (generators, components, labels, images, replicas, remote bases…) raises
:class:`KustomizeError` naming the field, instead of being silently ignored.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from labhelpers.manifests import find_kustomization, load_file, ref

Obj = dict[str, Any]

SUPPORTED_FIELDS = frozenset({"apiVersion", "kind", "resources", "namespace", "patches"})
SUPPORTED_PATCH_FIELDS = frozenset({"path", "patch", "target"})
SUPPORTED_TARGET_FIELDS = frozenset(
    {"group", "version", "kind", "name", "namespace", "labelSelector", "annotationSelector"}
)

CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace", "Node", "PersistentVolume", "StorageClass", "ClusterRole",
        "ClusterRoleBinding", "CustomResourceDefinition", "PriorityClass", "IngressClass",
        "RuntimeClass", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
        "APIService", "CSIDriver", "CSINode", "VolumeAttachment", "CertificateSigningRequest",
        "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "FlowSchema",
        "PriorityLevelConfiguration",
    }
)  # fmt: skip

#: Where each kind keeps its pod spec (strategic-merge keys hang off it).
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}

_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
#: patchMergeKey of list fields, relative to the pod spec (from the Kubernetes types).
POD_SPEC_MERGE_KEYS: dict[tuple[str, ...], str] = {
    ("volumes",): "name",
    ("imagePullSecrets",): "name",
    ("hostAliases",): "ip",
    ("topologySpreadConstraints",): "topologyKey",
    **{(c,): "name" for c in _CONTAINER_LISTS},
    **{(c, "env"): "name" for c in _CONTAINER_LISTS},
    **{(c, "ports"): "containerPort" for c in _CONTAINER_LISTS},
    **{(c, "volumeMounts"): "mountPath" for c in _CONTAINER_LISTS},
    **{(c, "volumeDevices"): "devicePath" for c in _CONTAINER_LISTS},
}
OTHER_MERGE_KEYS: dict[tuple[str, tuple[str, ...]], str] = {
    ("Service", ("spec", "ports")): "port",
}


class KustomizeError(ValueError):
    """A kustomization this subset cannot build; the message names file and field."""


def build(path: str | Path) -> list[Obj]:
    """Objects a kustomization folder produces, in resource order (kubectl's content)."""
    root = Path(path)
    kfile = find_kustomization(root)
    if kfile is None:
        raise KustomizeError(f"{root}: no kustomization.yaml")
    spec = yaml.safe_load(kfile.read_text()) or {}
    if not isinstance(spec, dict):
        raise KustomizeError(f"{kfile}: a kustomization must be a mapping")
    kind = spec.get("kind", "Kustomization")
    if kind != "Kustomization":
        raise KustomizeError(f"{kfile}: kind {kind!r} is not supported by this subset")
    unsupported = sorted(set(spec) - SUPPORTED_FIELDS)
    if unsupported:
        raise KustomizeError(
            f"{kfile}: field(s) {', '.join(unsupported)} not supported by this kustomize subset "
            f"(supported: {', '.join(sorted(SUPPORTED_FIELDS))}); use `kubectl kustomize`"
        )

    objects: list[Obj] = []
    for entry in spec.get("resources") or []:
        objects.extend(_load_resource(kfile, root, entry))
    _check_unique(kfile, objects)
    for index, patch in enumerate(spec.get("patches") or []):
        objects = _apply_patch_entry(kfile, root, index, patch, objects)
    if spec.get("namespace"):
        objects = set_namespace(objects, spec["namespace"])
    return objects


def set_namespace(objects: list[Obj], namespace: str) -> list[Obj]:
    """Put namespaced objects in ``namespace`` and rename Namespace objects, as kustomize does."""
    for obj in objects:
        meta = obj.setdefault("metadata", {})
        if obj["kind"] == "Namespace":
            meta["name"] = namespace
        elif obj["kind"] in ("RoleBinding", "ClusterRoleBinding") and obj.get("subjects"):
            raise KustomizeError(
                f"{ref(obj)}: rewriting binding subjects' namespaces is not supported by this subset"
            )
        elif obj["kind"] not in CLUSTER_SCOPED_KINDS:
            meta["namespace"] = namespace
    return objects


# --------------------------------------------------------------------------- resources


def _load_resource(kfile: Path, root: Path, entry: Any) -> list[Obj]:
    if not isinstance(entry, str):
        raise KustomizeError(f"{kfile}: resources entry {entry!r} must be a path")
    if "://" in entry or entry.startswith(("github.com/", "git@")):
        raise KustomizeError(f"{kfile}: remote resource {entry!r} is not supported by this subset")
    target = (root / entry).resolve()
    if target.is_dir():
        return build(target)
    if target.is_file():
        return load_file(target)
    raise KustomizeError(f"{kfile}: resource {entry!r} not found ({target})")


def _identity(obj: Obj) -> tuple[str, str, str, str]:
    group = obj["apiVersion"].rpartition("/")[0]
    meta = obj.get("metadata") or {}
    return (group, obj["kind"], meta.get("namespace") or "", meta["name"])


def _check_unique(kfile: Path, objects: list[Obj]) -> None:
    seen: set[tuple[str, str, str, str]] = set()
    for obj in objects:
        key = _identity(obj)
        if key in seen:
            raise KustomizeError(f"{kfile}: {ref(obj)} is defined more than once")
        seen.add(key)


# ----------------------------------------------------------------------------- patches


def _apply_patch_entry(kfile: Path, root: Path, index: int, entry: Any, objects: list[Obj]):
    where = f"{kfile}: patches[{index}]"
    if not isinstance(entry, dict):
        raise KustomizeError(f"{where} must be a mapping with `path` or `patch`")
    unsupported = sorted(set(entry) - SUPPORTED_PATCH_FIELDS)
    if unsupported:
        raise KustomizeError(f"{where}: field(s) {', '.join(unsupported)} not supported")
    if ("path" in entry) == ("patch" in entry):
        raise KustomizeError(f"{where}: give exactly one of `path` or `patch`")
    if "path" in entry:
        patch_file = (root / entry["path"]).resolve()
        if not patch_file.is_file():
            raise KustomizeError(f"{where}: patch file {entry['path']!r} not found")
        text = patch_file.read_text()
        where = f"{where} ({entry['path']})"
    else:
        text = entry["patch"]
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise KustomizeError(f"{where}: not valid YAML: {exc}") from exc
    target = entry.get("target")
    if target is not None and (
        not isinstance(target, dict) or set(target) - SUPPORTED_TARGET_FIELDS
    ):
        raise KustomizeError(
            f"{where}: target must use only {', '.join(sorted(SUPPORTED_TARGET_FIELDS))}"
        )

    if len(docs) == 1 and isinstance(docs[0], list):
        if target is None:
            raise KustomizeError(f"{where}: a JSON 6902 patch needs a `target`")
        matched = _select(objects, target, where)
        for obj in matched:
            replacement = json6902(obj, docs[0], f"{where} on {ref(obj)}")
            objects = [replacement if o is obj else o for o in objects]
        return objects

    for doc in docs:
        if not isinstance(doc, dict):
            raise KustomizeError(f"{where}: a patch document must be a mapping or a list")
        matched = _select(objects, target, where) if target else _by_name(objects, doc, where)
        for obj in matched:
            if doc.get("$patch") == "delete":
                objects = [o for o in objects if o is not obj]
                continue
            if target:  # a targeted patch's own name is ignored, as kustomize does
                doc = {**doc, "metadata": {**(doc.get("metadata") or {}), **_id_meta(obj)}}
            merged = strategic_merge(obj, doc)
            objects = [merged if o is obj else o for o in objects]
    return objects


def _id_meta(obj: Obj) -> Obj:
    meta = obj.get("metadata") or {}
    return {k: meta[k] for k in ("name", "namespace") if k in meta}


def _by_name(objects: list[Obj], patch: Obj, where: str) -> list[Obj]:
    meta = patch.get("metadata") or {}
    if not patch.get("kind") or not meta.get("name"):
        raise KustomizeError(f"{where}: a strategic merge patch needs kind and metadata.name")
    matched = [
        o
        for o in objects
        if o["kind"] == patch["kind"]
        and o["metadata"]["name"] == meta["name"]
        and (not meta.get("namespace") or o["metadata"].get("namespace") == meta["namespace"])
    ]
    if not matched:
        raise KustomizeError(f"{where}: no object {patch['kind']}/{meta['name']} to patch")
    return matched


def _select(objects: list[Obj], target: dict[str, str], where: str) -> list[Obj]:
    def full(pattern: str | None, value: str) -> bool:
        return pattern is None or re.fullmatch(pattern, value) is not None

    matched = []
    for obj in objects:
        group, _, version = obj["apiVersion"].rpartition("/")
        meta = obj.get("metadata") or {}
        if (
            full(target.get("group"), group)
            and full(target.get("version"), version)
            and full(target.get("kind"), obj["kind"])
            and full(target.get("name"), meta["name"])
            and full(target.get("namespace"), meta.get("namespace") or "")
            and _labels_match(target.get("labelSelector"), meta.get("labels") or {}, where)
            and _labels_match(
                target.get("annotationSelector"), meta.get("annotations") or {}, where
            )
        ):
            matched.append(obj)
    if not matched:
        raise KustomizeError(f"{where}: target {target} matches no object")
    return matched


def _labels_match(selector: str | None, labels: dict[str, str], where: str) -> bool:
    if not selector:
        return True
    for term in (t.strip() for t in selector.split(",")):
        if match := re.fullmatch(r"([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)", term):
            key, op, value = match.groups()
            if (labels.get(key) == value) != (op != "!="):
                return False
        elif re.fullmatch(r"!?[\w./-]+", term):
            if (term.lstrip("!") in labels) == term.startswith("!"):
                return False
        else:
            raise KustomizeError(f"{where}: selector term {term!r} is not supported by this subset")
    return True


# ------------------------------------------------------------------- strategic merge


def strategic_merge(obj: Obj, patch: Obj) -> Obj:
    """``obj`` with a strategic-merge ``patch`` applied (neither argument is changed)."""
    return _merge_map(copy.deepcopy(obj), patch, (), obj["kind"])


def _merge_key(kind: str, path: tuple[str, ...]) -> str | None:
    if (kind, path) in OTHER_MERGE_KEYS:
        return OTHER_MERGE_KEYS[(kind, path)]
    if path == ("metadata", "ownerReferences"):
        return "uid"
    prefix = POD_SPEC_PATHS.get(kind)
    if prefix and path[: len(prefix)] == prefix:
        return POD_SPEC_MERGE_KEYS.get(path[len(prefix) :])
    return None


def _merge_map(dest: Obj, patch: Obj, path: tuple[str, ...], kind: str) -> Obj:
    for key, value in patch.items():
        if key.startswith("$"):
            if key == "$patch" and value == "merge":
                continue
            raise KustomizeError(
                f"{'.'.join(path) or kind}: directive {key}: {value} is not supported here"
            )
        here = (*path, key)
        if value is None:
            dest.pop(key, None)
        elif isinstance(value, dict) and isinstance(dest.get(key), dict):
            dest[key] = _merge_map(dest[key], value, here, kind)
        elif isinstance(value, list) and isinstance(dest.get(key), list):
            merge_key = _merge_key(kind, here)
            dest[key] = (
                _merge_list(dest[key], value, merge_key, here, kind)
                if merge_key
                else _clean(value, here, kind)
            )
        else:
            dest[key] = _clean(value, here, kind)
    return dest


def _merge_list(dest: list, patch: list, key: str, path: tuple[str, ...], kind: str) -> list:
    """Patch items (merged where they exist) first, then the untouched originals."""
    originals = {item.get(key): item for item in dest if isinstance(item, dict)}
    result, touched = [], set()
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise KustomizeError(f"{'.'.join(path)}: every patch item needs its `{key}`")
        touched.add(item[key])
        if item.get("$patch") == "delete":
            continue
        if item[key] in originals:
            result.append(_merge_map(originals[item[key]], item, path, kind))
        else:
            result.append(_clean(item, path, kind))
    result.extend(d for d in dest if not (isinstance(d, dict) and d.get(key) in touched))
    return result


def _clean(value: Any, path: tuple[str, ...], kind: str) -> Any:
    """New content from a patch: nulls dropped, directives rejected."""
    if isinstance(value, dict):
        return _merge_map({}, value, path, kind)
    if isinstance(value, list):
        return [_clean(v, path, kind) for v in value]
    return value


# ------------------------------------------------------------------------- JSON 6902


def json6902(obj: Obj, operations: list[Any], where: str = "patch") -> Obj:
    """``obj`` with RFC 6902 operations applied (the argument is not changed)."""
    doc = copy.deepcopy(obj)
    for number, op in enumerate(operations):
        here = f"{where}: op {number}"
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise KustomizeError(f"{here}: each operation needs `op` and `path`")
        name = op["op"]
        if name in ("add", "replace", "test") and "value" not in op:
            raise KustomizeError(f"{here}: {name} needs a `value`")
        if name == "add":
            _pointer_set(doc, op["path"], copy.deepcopy(op["value"]), here, insert=True)
        elif name == "replace":
            _pointer_get(doc, op["path"], here)
            _pointer_set(doc, op["path"], copy.deepcopy(op["value"]), here, insert=False)
        elif name == "remove":
            _pointer_remove(doc, op["path"], here)
        elif name in ("move", "copy"):
            if "from" not in op:
                raise KustomizeError(f"{here}: {name} needs `from`")
            value = copy.deepcopy(_pointer_get(doc, op["from"], here))
            if name == "move":
                _pointer_remove(doc, op["from"], here)
            _pointer_set(doc, op["path"], value, here, insert=True)
        elif name == "test":
            if _pointer_get(doc, op["path"], here) != op["value"]:
                raise KustomizeError(f"{here}: test failed at {op['path']}")
        else:
            raise KustomizeError(f"{here}: unknown op {name!r}")
    return doc


def _tokens(pointer: str, where: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise KustomizeError(f"{where}: path {pointer!r} must start with /")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _step(container: Any, token: str, pointer: str, where: str) -> Any:
    if isinstance(container, dict):
        if token not in container:
            raise KustomizeError(f"{where}: {pointer} does not exist")
        return container[token]
    if isinstance(container, list):
        if not token.isdigit() or int(token) >= len(container):
            raise KustomizeError(f"{where}: {pointer} does not exist")
        return container[int(token)]
    raise KustomizeError(f"{where}: {pointer} goes through a scalar")


def _pointer_get(doc: Any, pointer: str, where: str) -> Any:
    for token in _tokens(pointer, where):
        doc = _step(doc, token, pointer, where)
    return doc


def _parent(doc: Any, pointer: str, where: str) -> tuple[Any, str]:
    tokens = _tokens(pointer, where)
    if not tokens:
        raise KustomizeError(f"{where}: cannot change the whole document")
    for token in tokens[:-1]:
        doc = _step(doc, token, pointer, where)
    return doc, tokens[-1]


def _pointer_set(doc: Any, pointer: str, value: Any, where: str, insert: bool) -> None:
    parent, last = _parent(doc, pointer, where)
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-" and insert:
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent) - (0 if insert else 1):
            if insert:
                parent.insert(int(last), value)
            else:
                parent[int(last)] = value
        else:
            raise KustomizeError(f"{where}: bad list index in {pointer}")
    else:
        raise KustomizeError(f"{where}: {pointer} goes through a scalar")


def _pointer_remove(doc: Any, pointer: str, where: str) -> None:
    parent, last = _parent(doc, pointer, where)
    _step(parent, last, pointer, where)
    if isinstance(parent, dict):
        del parent[last]
    else:
        del parent[int(last)]
