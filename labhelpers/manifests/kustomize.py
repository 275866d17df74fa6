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

- ``components``: folders whose kustomization is ``kind: Component``
  (``kustomize.config.k8s.io/v1alpha1``). As in kustomize, a component adds its resources
  to the ones gathered so far, then runs its own patches/namespace/images over all of
  them; the including kustomization's own transformations run after its components. A
  Component folder also builds on its own (kubectl's output: its resources, transformed);
  listed under ``resources`` it is an error, as is a Kustomization under ``components``.
- ``images``: ``name`` → ``newName`` / ``newTag`` / ``digest`` on every ``containers`` and
  ``initContainers`` image, with kustomize's matching (the name, then an optional tag and
  an optional ``@sha256:`` digest) and rewriting (a new tag or digest replaces both).

Transformations run in kustomize's order: patches, namespace, images.

Anything else (generators, labels, replicas, remote bases…) raises
:class:`KustomizeError` naming the field, instead of being silently ignored.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from labhelpers.errors import LabError
from labhelpers.manifests.files import find_kustomization, load_file, ref

Obj = dict[str, Any]

SUPPORTED_FIELDS = frozenset(
    {"apiVersion", "kind", "resources", "components", "namespace", "patches", "images"}
)
SUPPORTED_IMAGE_FIELDS = frozenset({"name", "newName", "newTag", "digest"})
KINDS = ("Kustomization", "Component")
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


class KustomizeError(LabError, ValueError):
    """A kustomization this subset cannot build; the message names file and field."""


def build(path: str | Path) -> list[Obj]:
    """Objects a kustomization folder produces, in resource order (kubectl's content).

    A Component folder builds too, on its own, as ``kubectl kustomize`` builds it."""
    return _accumulate(Path(path), [], None)


def _read(root: Path, role: str | None) -> tuple[Path, Obj]:
    """The kustomization file of ``root`` and its content, checked for what this subset
    and the including field (``role``: "resource", "component" or None) allow."""
    kfile = find_kustomization(root)
    if kfile is None:
        raise KustomizeError(f"{root}: no kustomization.yaml")
    spec = yaml.safe_load(kfile.read_text()) or {}
    if not isinstance(spec, dict):
        raise KustomizeError(f"{kfile}: a kustomization must be a mapping")
    kind = spec.get("kind", "Kustomization")
    if kind not in KINDS:
        raise KustomizeError(f"{kfile}: kind {kind!r} is not supported by this subset")
    if role == "component" and kind != "Component":
        raise KustomizeError(f"{kfile}: listed under components, so its kind must be "
                             f"Component (it is {kind})")
    if role == "resource" and kind == "Component":
        raise KustomizeError(f"{kfile}: a Component belongs under components, not resources")
    unsupported = sorted(set(spec) - SUPPORTED_FIELDS)
    if unsupported:
        raise KustomizeError(
            f"{kfile}: field(s) {', '.join(unsupported)} not supported by this kustomize subset "
            f"(supported: {', '.join(sorted(SUPPORTED_FIELDS))}); use `kubectl kustomize`"
        )
    return kfile, spec


def _accumulate(root: Path, objects: list[Obj], role: str | None) -> list[Obj]:
    """``objects`` plus what ``root`` adds, with ``root``'s transformations applied to all
    of them: for a top-level build ``objects`` is empty; a component gets everything its
    includer gathered so far (that is how a component can patch its includer's objects)."""
    kfile, spec = _read(root, role)
    for entry in spec.get("resources") or []:
        objects = [*objects, *_load_resource(kfile, root, entry)]
    _check_unique(kfile, objects)
    for entry in spec.get("components") or []:
        objects = _accumulate(_component_dir(kfile, root, entry), objects, "component")
    for index, patch in enumerate(spec.get("patches") or []):
        objects = _apply_patch_entry(kfile, root, index, patch, objects)
    if spec.get("namespace"):
        objects = set_namespace(objects, spec["namespace"])
    if spec.get("images"):
        objects = set_images(objects, spec["images"], f"{kfile}: images")
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
        return _accumulate(target, [], "resource")
    if target.is_file():
        return load_file(target)
    raise KustomizeError(f"{kfile}: resource {entry!r} not found ({target})")


def _component_dir(kfile: Path, root: Path, entry: Any) -> Path:
    if not isinstance(entry, str):
        raise KustomizeError(f"{kfile}: components entry {entry!r} must be a path")
    if "://" in entry or entry.startswith(("github.com/", "git@")):
        raise KustomizeError(f"{kfile}: remote component {entry!r} is not supported by this subset")
    target = (root / entry).resolve()
    if not target.is_dir():
        raise KustomizeError(f"{kfile}: component {entry!r} is not a folder ({target})")
    return target


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


# ------------------------------------------------------------------------------ images


def set_images(objects: list[Obj], images: list[Any], where: str = "images") -> list[Obj]:
    """Copies of ``objects`` with kustomize's ``images:`` rules applied, in order, to every
    ``containers``/``initContainers`` image (CustomResourceDefinitions excepted, as in
    kustomize). One rule: ``{"name": "storefront", "newName": "reg.example/storefront"}``."""
    rules = [_image_rule(rule, f"{where}[{i}]") for i, rule in enumerate(images)]
    out = copy.deepcopy(objects)
    for obj in out:
        if obj.get("kind") == "CustomResourceDefinition":
            continue
        for rule in rules:
            _retag_containers(obj, rule)
    return out


def _image_rule(rule: Any, where: str) -> dict[str, str]:
    if not isinstance(rule, dict) or not rule.get("name"):
        raise KustomizeError(f"{where}: an image rule is a mapping with a `name`")
    unsupported = sorted(set(rule) - SUPPORTED_IMAGE_FIELDS)
    if unsupported:
        raise KustomizeError(f"{where}: field(s) {', '.join(unsupported)} not supported "
                             f"(supported: {', '.join(sorted(SUPPORTED_IMAGE_FIELDS))})")
    for key, value in rule.items():
        if not isinstance(value, str):
            raise KustomizeError(f"{where}: {key} must be a string (quote it: {key}: "
                                 f'"{value}")')
    return rule


def _retag_containers(node: Any, rule: dict[str, str]) -> None:
    """Every ``containers``/``initContainers`` list at any depth (pod, template, CronJob…)."""
    if isinstance(node, list):
        for item in node:
            _retag_containers(item, rule)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key in ("containers", "initContainers") and isinstance(value, list):
            for container in value:
                if isinstance(container, dict) and isinstance(container.get("image"), str):
                    container["image"] = retag_image(container["image"], rule)
        else:
            _retag_containers(value, rule)


def split_image(image: str) -> tuple[str, str, str]:
    """(name, tag, digest) of ``[host[:port]/]path[:tag][@digest]``, as kustomize splits it
    (a registry's port is not a tag: the search starts at the first slash)."""
    slash = image.find("/")
    offset = slash if slash > 0 else 0
    rest = image[offset:]
    at, colon = rest.find("@"), rest.find(":")
    if at < 0 and colon < 0:
        return image, "", ""
    if at >= 0 and (colon < 0 or at < colon):
        return image[: offset + at], "", image[offset + at + 1 :]
    if at >= 0:
        return (image[: offset + colon], image[offset + colon + 1 : offset + at],
                image[offset + at + 1 :])
    return image[: offset + colon], image[offset + colon + 1 :], ""


def retag_image(image: str, rule: dict[str, str]) -> str:
    """``image`` rewritten by one ``images:`` rule, or unchanged when the rule's name does
    not match it (the name exactly, then an optional ``:tag`` and ``@sha256:`` digest)."""
    pattern = re.escape(rule["name"]) + r"(:[a-zA-Z0-9_.{}-]*)?(@sha256:[a-zA-Z0-9_.{}-]*)?"
    if not re.fullmatch(pattern, image):
        return image
    name, tag, digest = split_image(image)
    name = rule.get("newName") or name
    if rule.get("newTag") or rule.get("digest"):  # either replaces both tag and digest
        tag, digest = rule.get("newTag", ""), rule.get("digest", "")
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


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
