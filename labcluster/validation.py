"""Validation: the real OpenAPI schemas (kubernetes-validate) then the API server's own
semantic checks, with apimachinery's messages.

Schema validators are built once per kind and cached (kubernetes_validate.validate
rebuilds the registry on every call and stops at the first error); importing jsonschema
costs ~2 s, so `warm_up()` runs it in a thread after the server is ready.
"""

from __future__ import annotations

import base64
import contextvars
import json
import re
import threading
from functools import cache
from importlib.resources import files
from typing import Any

from . import networkpolicy
from .errors import FieldError, GoType, bad_request, go_label_selector, invalid
from .namerules import (
    DNS1035_LABEL,
    DNS1123_LABEL,
    DNS1123_SUBDOMAIN,
    MSG_1035,
    MSG_CONFIG_KEY,
    MSG_ENV_NAME,
    MSG_LABEL,
    MSG_PORT,
    MSG_PORT_NAME,
    MSG_SUBDOMAIN,
    check_labels,
)
from .registry import Resource
from .selectors import labels_match, selector_from_match

KUBE_VERSION = "1.32"
SCHEMA_DIR = f"v{KUBE_VERSION}.0-local-strict"

# Warnings for the current request (the HTTP layer turns them into `Warning:` headers).
warnings: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "labcluster_warnings", default=None)


def warn(text: str) -> None:
    sink = warnings.get()
    if sink is not None:
        sink.append(text)


_lock = threading.Lock()


@cache
def _definitions() -> Any:
    from referencing import Resource as RefResource

    root = files("kubernetes_validate") / "kubernetes-json-schema" / SCHEMA_DIR
    return RefResource.from_contents(json.loads((root / "_definitions.json").read_text()))


@cache
def schema_validator(kind: str, api_version: str) -> Any:
    """A cached Draft 2020-12 validator for one kind (None when no schema exists)."""
    with _lock:
        import jsonschema
        from referencing import Registry
        from referencing import Resource as RefResource

        group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
        root = files("kubernetes_validate") / "kubernetes-json-schema" / SCHEMA_DIR
        path = root / f"{kind.lower()}-{group_version}.json"
        if not path.is_file():
            return None
        schema = json.loads(path.read_text())
        resource = RefResource.from_contents(schema)
        registry = _definitions() @ (resource @ Registry())
        return jsonschema.validators.Draft202012Validator(schema, registry=registry)


async def ensure_validator(res: Resource) -> None:
    """Build (and first import jsonschema, ~2 s) in a thread so the event loop keeps serving."""
    import asyncio

    if (res.kind, res.api_version) not in _ready:
        await asyncio.to_thread(schema_validator, res.kind, res.api_version)
        _ready.add((res.kind, res.api_version))


_ready: set[tuple[str, str]] = set()


def warm_up() -> threading.Thread:
    """Import jsonschema and build the common validators off the request path."""
    def run() -> None:
        for kind, av in (("Deployment", "apps/v1"), ("Pod", "v1"), ("Service", "v1"),
                         ("ConfigMap", "v1"), ("StatefulSet", "apps/v1")):
            schema_validator(kind, av)
        from labcluster import openapi
        openapi.warm_up()

    t = threading.Thread(target=run, name="labcluster-schema-warmup", daemon=True)
    t.start()
    return t


def _field_path(parts: list[Any]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else ("." if out else "") + str(p)
    return out


def _unknown_path(parts: list[Any]) -> str:
    """Strict decoding prints list indices as `containers[0]`, like the server."""
    return _field_path(parts)


_JSON_TYPES = {str: "string", int: "number", float: "number", bool: "bool", list: "array",
               dict: "object"}


def schema_check(res: Resource, obj: dict[str, Any], field_validation: str = "Warn",
                 ) -> dict[str, Any]:
    """Check `obj` against its schema; returns it with unknown fields dropped (Warn/Ignore).

    Unknown fields: Strict → 400 `strict decoding error`, Warn → dropped with a warning,
    Ignore → dropped. Type errors → 400 like the JSON decoder; missing required fields and
    enum violations → 422 Invalid.
    """
    validator = schema_validator(res.kind, res.api_version)
    if validator is None:
        return obj
    unknown: list[tuple[list[Any], str]] = []
    type_errors: list[str] = []
    field_errors: list[FieldError] = []
    for err in validator.iter_errors(obj):
        _collect(err, unknown, type_errors, field_errors, res)
    name = (obj.get("metadata") or {}).get("name") or ""
    prefix = f'{res.kind} in version "{res.version}" cannot be handled as a {res.kind}: '
    if type_errors:
        raise bad_request(prefix + type_errors[0])
    if unknown:
        texts = [f'unknown field "{_unknown_path(p + [k])}"' for p, k in unknown]
        if field_validation == "Strict":
            raise bad_request(prefix + "strict decoding error: " + ", ".join(texts))
        if field_validation != "Ignore":
            for t in texts:
                warn(t)
        for parts, key in unknown:
            cur: Any = obj
            for p in parts:
                cur = cur[p]
            cur.pop(key, None)
    if field_errors:
        raise invalid(res.kind, res.group, name, field_errors)
    return obj


def _collect(err: Any, unknown: list[tuple[list[Any], str]], type_errors: list[str],
             field_errors: list[FieldError], res: Resource) -> None:
    path = list(err.absolute_path)
    if err.validator in ("additionalProperties", "unevaluatedProperties"):
        allowed = set((err.schema.get("properties") or {}).keys())
        for key in err.instance:
            if key not in allowed:
                unknown.append((path, key))
    elif err.validator == "required":
        for key in err.validator_value:
            if key not in err.instance:
                field_errors.append(FieldError("Required value", _field_path(path + [key])))
    elif err.validator == "enum":
        allowed = ", ".join(json.dumps(v) for v in err.validator_value if v is not None)
        if path in (["apiVersion"], ["kind"]):
            type_errors.append(f"{path[0]} {json.dumps(err.instance)} is not {allowed}")
        else:
            field_errors.append(FieldError("Unsupported value", _field_path(path), err.instance,
                                           f"supported values: {allowed}"))
    elif err.validator in ("type", "oneOf", "anyOf"):
        want = err.validator_value if err.validator == "type" else "int or string"
        if isinstance(want, list):
            want = next((w for w in want if w != "null"), want[0])
        got = _JSON_TYPES.get(type(err.instance), "value")
        go_want = {"integer": "int32", "object": "map", "array": "slice", "boolean": "bool"}.get(
            want, want)
        type_errors.append(
            f"json: cannot unmarshal {got} into Go struct field {res.kind}.{'.'.join(str(p) for p in path if not isinstance(p, int))} of type {go_want}")
    elif err.context:
        for sub in err.context:
            _collect(sub, unknown, type_errors, field_errors, res)
    else:
        field_errors.append(FieldError("Invalid value", _field_path(path), err.instance,
                                       err.message))


# ---------------------------------------------------------------- semantic checks

# Which name rule each resource's metadata.name follows (apimachinery name validators).
NAME_RULE = {"namespaces": "label", "services": "1035", "roles": "path", "clusterroles": "path",
             "rolebindings": "path", "clusterrolebindings": "path"}


def _check_name(name: str, rule: str, path: str, errs: list[FieldError]) -> None:
    if rule == "label":
        if len(name) > 63:
            errs.append(FieldError("Invalid value", path, name, "must be no more than 63 characters"))
        if not re.fullmatch(DNS1123_LABEL, name):
            errs.append(FieldError("Invalid value", path, name, MSG_LABEL))
    elif rule == "1035":
        if len(name) > 63:
            errs.append(FieldError("Invalid value", path, name, "must be no more than 63 characters"))
        if not re.fullmatch(DNS1035_LABEL, name):
            errs.append(FieldError("Invalid value", path, name, MSG_1035))
    elif rule == "path":  # ValidatePathSegmentName: RBAC names such as system:basic-user
        for bad in (".", ".."):
            if name == bad:
                errs.append(FieldError("Invalid value", path, name, f"may not be '{bad}'"))
        for bad in ("/", "%"):
            if bad in name:
                errs.append(FieldError("Invalid value", path, name, f"may not contain '{bad}'"))
    else:
        if len(name) > 253:
            errs.append(FieldError("Invalid value", path, name, "must be no more than 253 characters"))
        if not re.fullmatch(DNS1123_SUBDOMAIN, name):
            errs.append(FieldError("Invalid value", path, name, MSG_SUBDOMAIN))


def _check_meta(res: Resource, obj: dict[str, Any], errs: list[FieldError]) -> None:
    meta = obj.get("metadata") or {}
    name = meta.get("name") or ""
    if not name:
        errs.append(FieldError("Required value", "metadata.name", detail="name or generateName is required"))
    else:
        _check_name(name, NAME_RULE.get(res.plural, "subdomain"), "metadata.name", errs)
    check_labels(meta.get("labels"), "metadata.labels", errs)


def _check_port(value: Any, path: str, errs: list[FieldError]) -> None:
    if isinstance(value, int) and not 1 <= value <= 65535:
        errs.append(FieldError("Invalid value", path, value, MSG_PORT))


def _check_port_name(name: str, path: str, errs: list[FieldError]) -> None:
    if len(name) > 15:
        errs.append(FieldError("Invalid value", path, name, "must be no more than 15 characters"))
    elif not re.fullmatch("[-a-z0-9]+", name):
        errs.append(FieldError("Invalid value", path, name, MSG_PORT_NAME))
    elif not re.search("[a-z]", name):
        errs.append(FieldError("Invalid value", path, name, "must contain at least one letter (a-z)"))
    elif name.startswith("-") or name.endswith("-") or "--" in name:
        errs.append(FieldError("Invalid value", path, name,
                               "must not begin or end with a hyphen, or contain adjacent hyphens"))


_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eE][0-9]+|[KMGTPE]i?|[mkMGTPE]|)$")
_SUFFIX = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def parse_quantity(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    m = _QUANTITY.match(str(value))
    if not m:
        return None
    num, suffix = m.groups()
    if suffix[:1] in ("e", "E") and suffix not in _SUFFIX:
        return float(num) * 10 ** int(suffix[1:])
    return float(num) * _SUFFIX[suffix]


def _check_pod_spec(spec: dict[str, Any], path: str, errs: list[FieldError],
                    claim_volumes: tuple[str, ...] = ()) -> None:
    containers = spec.get("containers") or []
    if not containers:
        errs.append(FieldError("Required value", f"{path}.containers"))
    volumes = set(claim_volumes)  # a StatefulSet's volumeClaimTemplates count as volumes
    for i, v in enumerate(spec.get("volumes") or []):
        vname = v.get("name", "")
        if vname in volumes:
            errs.append(FieldError("Duplicate value", f"{path}.volumes[{i}].name", vname))
        elif vname:
            _check_name(vname, "label", f"{path}.volumes[{i}].name", errs)
        volumes.add(vname)
    names: set[str] = set()
    port_names: set[str] = set()
    for group in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(group) or []):
            cpath = f"{path}.{group}[{i}]"
            cname = c.get("name", "")
            if not cname:
                errs.append(FieldError("Required value", f"{cpath}.name"))
            elif cname in names:
                errs.append(FieldError("Duplicate value", f"{cpath}.name", cname))
            else:
                _check_name(cname, "label", f"{cpath}.name", errs)
            names.add(cname)
            if not c.get("image"):
                errs.append(FieldError("Required value", f"{cpath}.image"))
            for j, p in enumerate(c.get("ports") or []):
                ppath = f"{cpath}.ports[{j}]"
                if "containerPort" not in p:
                    errs.append(FieldError("Required value", f"{ppath}.containerPort"))
                _check_port(p.get("containerPort"), f"{ppath}.containerPort", errs)
                if "hostPort" in p and p["hostPort"]:
                    _check_port(p["hostPort"], f"{ppath}.hostPort", errs)
                if p.get("name"):
                    _check_port_name(p["name"], f"{ppath}.name", errs)
                    if p["name"] in port_names:
                        errs.append(FieldError("Duplicate value", f"{ppath}.name", p["name"]))
                    port_names.add(p["name"])
            seen_env: dict[str, int] = {}
            for j, e in enumerate(c.get("env") or []):
                ename = e.get("name", "")
                if not ename:
                    errs.append(FieldError("Required value", f"{cpath}.env[{j}].name"))
                elif not re.fullmatch(r"[-._a-zA-Z][-._a-zA-Z0-9]*", ename):
                    errs.append(FieldError("Invalid value", f"{cpath}.env[{j}].name", ename,
                                           MSG_ENV_NAME))
                if ename in seen_env:
                    # the real server accepts this and warns (the later value wins)
                    warn(f'{cpath}.env[{j}]: hides previous definition of "{ename}", which may '
                         "be dropped when using apply")
                seen_env[ename] = j
            mounts: set[str] = set()
            for j, m in enumerate(c.get("volumeMounts") or []):
                mpath = f"{cpath}.volumeMounts[{j}]"
                if m.get("name") not in volumes:
                    errs.append(FieldError("Not found", f"{mpath}.name", m.get("name")))
                if m.get("mountPath") in mounts:
                    errs.append(FieldError("Invalid value", f"{mpath}.mountPath",
                                           m.get("mountPath"), "must be unique"))
                mounts.add(m.get("mountPath"))
            res = c.get("resources") or {}
            for rname, limit in (res.get("limits") or {}).items():
                req = (res.get("requests") or {}).get(rname)
                lq, rq = parse_quantity(limit), parse_quantity(req)
                if req is not None and lq is not None and rq is not None and rq > lq:
                    errs.append(FieldError(
                        "Invalid value", f"{cpath}.resources.requests", req,
                        f"must be less than or equal to {rname} limit of {limit}"))
            lifecycle = c.get("lifecycle")
            if isinstance(lifecycle, dict):
                _check_lifecycle(lifecycle, spec.get("terminationGracePeriodSeconds", 30),
                                 f"{cpath}.lifecycle", errs)
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                pr = c.get(probe) or {}
                kind = "httpGet" if "httpGet" in pr else "tcpSocket"
                port = (pr.get(kind) or {}).get("port")
                if isinstance(port, int):
                    _check_port(port, f"{cpath}.{probe}.{kind}.port", errs)
                elif isinstance(port, str):
                    _check_port_name(port, f"{cpath}.{probe}.{kind}.port", errs)


_HOOK_KINDS = ("exec", "httpGet", "tcpSocket", "sleep")


def _check_lifecycle(lifecycle: dict[str, Any], grace: Any, path: str,
                     errs: list[FieldError]) -> None:
    """Upstream's validateLifecycle (1.32, PodLifecycleSleepActionAllowZero off): each
    hook names exactly one handler; `exec` needs a command, `httpGet` a path and a valid
    port; `sleep.seconds` lies in 1..terminationGracePeriodSeconds. (Upstream reports
    a tcpSocket handler valid and fails it only when it runs; so does labcluster.)"""
    for name in ("postStart", "preStop"):
        hook = lifecycle.get(name)
        if not isinstance(hook, dict):
            continue
        hpath = f"{path}.{name}"
        kinds = [k for k in _HOOK_KINDS if hook.get(k) is not None]
        for extra in kinds[1:]:
            errs.append(FieldError("Forbidden", f"{hpath}.{extra}",
                                   detail="may not specify more than 1 handler type"))
        if not kinds:
            errs.append(FieldError("Required value", hpath,
                                   detail="must specify a handler type"))
            continue
        kind, body = kinds[0], hook[kinds[0]] or {}
        if kind == "exec" and not body.get("command"):
            errs.append(FieldError("Required value", f"{hpath}.exec.command"))
        elif kind == "httpGet":
            if not body.get("path"):
                errs.append(FieldError("Required value", f"{hpath}.httpGet.path"))
            port = body.get("port")
            if isinstance(port, int):
                _check_port(port, f"{hpath}.httpGet.port", errs)
            elif isinstance(port, str):
                _check_port_name(port, f"{hpath}.httpGet.port", errs)
        elif kind == "tcpSocket":
            port = body.get("port")
            if isinstance(port, int):
                _check_port(port, f"{hpath}.tcpSocket.port", errs)
        elif kind == "sleep" and isinstance(grace, int) and isinstance(body.get("seconds"), int):
            seconds = body["seconds"]
            if seconds <= 0 or seconds > grace:
                errs.append(FieldError(
                    "Invalid value", f"{hpath}.sleep", seconds,
                    f"must be greater than 0 and less than terminationGracePeriodSeconds "
                    f"({grace}). Enable AllowPodLifecycleSleepActionZeroValue feature gate "
                    "for zero sleep."))


def _check_selector(res: Resource, obj: dict[str, Any], errs: list[FieldError]) -> None:
    spec = obj.get("spec") or {}
    sel = spec.get("selector")
    tpl_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if sel is None:
        errs.append(FieldError("Required value", "spec.selector"))
    elif not sel.get("matchLabels") and not sel.get("matchExpressions"):
        errs.append(FieldError("Invalid value", "spec.selector", go_label_selector(sel),
                               f"empty selector is invalid for {res.singular}"))
    if sel is not None:
        reqs = selector_from_match(sel) or []
        if not labels_match(reqs, tpl_labels):
            errs.append(FieldError("Invalid value", "spec.template.metadata.labels", tpl_labels,
                                   "`selector` does not match template `labels`"))
    replicas = spec.get("replicas")
    if isinstance(replicas, int) and replicas < 0:
        errs.append(FieldError("Invalid value", "spec.replicas", replicas,
                               "must be greater than or equal to 0"))
    tpl = spec.get("template") or {}
    check_labels((tpl.get("metadata") or {}).get("labels"), "spec.template.metadata.labels", errs)
    claims = tuple((c.get("metadata") or {}).get("name", "")
                    for c in spec.get("volumeClaimTemplates") or [])
    _check_pod_spec(tpl.get("spec") or {}, "spec.template.spec", errs, claims)
    policy = (tpl.get("spec") or {}).get("restartPolicy", "Always")
    if policy != "Always":
        errs.append(FieldError("Unsupported value", "spec.template.spec.restartPolicy", policy,
                               'supported values: "Always"'))


def _check_service(obj: dict[str, Any], old: dict[str, Any] | None, errs: list[FieldError]) -> None:
    spec = obj.get("spec") or {}
    ports = spec.get("ports") or []
    headless = spec.get("clusterIP") == "None"
    if not ports and not headless and spec.get("type") != "ExternalName":
        errs.append(FieldError("Required value", "spec.ports"))
    names: set[str] = set()
    for i, p in enumerate(ports):
        ppath = f"spec.ports[{i}]"
        pname = p.get("name", "")
        if len(ports) > 1 and not pname:
            errs.append(FieldError("Required value", f"{ppath}.name"))
        elif pname:
            if pname in names:
                errs.append(FieldError("Duplicate value", f"{ppath}.name", pname))
            _check_name(pname, "label", f"{ppath}.name", errs)
        names.add(pname)
        if "port" not in p:
            errs.append(FieldError("Required value", f"{ppath}.port"))
        _check_port(p.get("port"), f"{ppath}.port", errs)
        target = p.get("targetPort")
        if isinstance(target, int):
            _check_port(target, f"{ppath}.targetPort", errs)
        elif isinstance(target, str) and target:
            _check_port_name(target, f"{ppath}.targetPort", errs)
        if p.get("nodePort"):
            node_port = p["nodePort"]
            if not 30000 <= node_port <= 32767:
                errs.append(FieldError("Invalid value", f"{ppath}.nodePort", node_port,
                                       "provided port is not in the valid range. The range of "
                                       "valid ports is 30000-32767"))
    if old is not None:
        old_ip = (old.get("spec") or {}).get("clusterIP")
        new_ip = spec.get("clusterIP")
        if old_ip and new_ip and new_ip != old_ip and spec.get("type") != "ExternalName":
            errs.append(FieldError("Invalid value", "spec.clusterIPs[0]", [new_ip],
                                   "may not change once set"))


JOB_CONTROLLER_UID = "batch.kubernetes.io/controller-uid"


def _check_job(obj: dict[str, Any], errs: list[FieldError]) -> None:
    """pkg/apis/batch/validation: counts, completionMode, the generated selector and the
    template's restartPolicy (Always, the pod default, is a `Required value`)."""
    spec = obj.get("spec") or {}
    for key in ("parallelism", "completions", "backoffLimit", "activeDeadlineSeconds",
                "ttlSecondsAfterFinished"):
        value = spec.get(key)
        if isinstance(value, int) and value < 0:
            errs.append(FieldError("Invalid value", f"spec.{key}", value,
                                   "must be greater than or equal to 0"))
    mode = spec.get("completionMode", "NonIndexed")
    if mode not in ("NonIndexed", "Indexed"):
        errs.append(FieldError("Unsupported value", "spec.completionMode", mode,
                               'supported values: "NonIndexed", "Indexed"'))
    elif mode == "Indexed" and spec.get("completions") is None:
        errs.append(FieldError("Required value", "spec.completions",
                               detail="when completion mode is Indexed"))
    sel = spec.get("selector")
    tpl = spec.get("template") or {}
    tpl_labels = (tpl.get("metadata") or {}).get("labels") or {}
    if sel is None:
        errs.append(FieldError("Required value", "spec.selector"))
    else:
        if not spec.get("manualSelector"):
            uid = (obj.get("metadata") or {}).get("uid", "")
            if sel != {"matchLabels": {JOB_CONTROLLER_UID: uid}}:
                errs.append(FieldError("Invalid value", "spec.selector", go_label_selector(sel),
                                       "`selector` not auto-generated"))
        if not labels_match(selector_from_match(sel) or [], tpl_labels):
            errs.append(FieldError("Invalid value", "spec.template.metadata.labels", tpl_labels,
                                   "`selector` does not match template `labels`"))
    check_labels(tpl_labels, "spec.template.metadata.labels", errs)
    _check_pod_spec(tpl.get("spec") or {}, "spec.template.spec", errs)
    policy = (tpl.get("spec") or {}).get("restartPolicy") or ""
    path = "spec.template.spec.restartPolicy"
    if policy in ("Always", ""):
        errs.append(FieldError("Required value", path,
                               detail='valid values: "OnFailure", "Never"'))
    elif policy not in ("OnFailure", "Never"):
        errs.append(FieldError("Unsupported value", path, policy,
                               'supported values: "OnFailure", "Never"'))


def _check_job_update(spec: dict[str, Any], old_spec: dict[str, Any],
                      errs: list[FieldError]) -> None:
    """ValidateJobSpecUpdate: selector, completions (NonIndexed), completionMode and the pod
    template are immutable. The template's value is printed abbreviated (the real server
    dumps the whole Go struct)."""
    if spec.get("selector") != old_spec.get("selector"):
        errs.append(FieldError("Invalid value", "spec.selector",
                               go_label_selector(spec.get("selector")), "field is immutable"))
    if (spec.get("completions") != old_spec.get("completions")
            and spec.get("completionMode") != "Indexed"):
        errs.append(FieldError("Invalid value", "spec.completions", spec.get("completions"),
                               "field is immutable"))
    if spec.get("completionMode") != old_spec.get("completionMode"):
        errs.append(FieldError("Invalid value", "spec.completionMode",
                               spec.get("completionMode"), "field is immutable"))
    if spec.get("template") != old_spec.get("template"):
        errs.append(FieldError("Invalid value", "spec.template",
                               GoType("core.PodTemplateSpec{...}"), "field is immutable"))


def _check_hpa(spec: dict[str, Any], errs: list[FieldError]) -> None:
    """pkg/apis/autoscaling/validation (v2): replica bounds, the target reference, each
    metric's source and target, and the behavior's windows and policies."""
    lo, hi = spec.get("minReplicas"), spec.get("maxReplicas", 0)
    if isinstance(lo, int) and lo < 1:
        errs.append(FieldError("Invalid value", "spec.minReplicas", lo,
                               "must be greater than or equal to 1"))
    if isinstance(hi, int) and hi < 1:
        errs.append(FieldError("Invalid value", "spec.maxReplicas", hi, "must be greater than 0"))
    if isinstance(lo, int) and isinstance(hi, int) and hi < lo:
        errs.append(FieldError("Invalid value", "spec.maxReplicas", hi,
                               "must be greater than or equal to `minReplicas`"))
    ref = spec.get("scaleTargetRef") or {}
    for key in ("kind", "name"):
        if not ref.get(key):
            errs.append(FieldError("Required value", f"spec.scaleTargetRef.{key}"))
        elif "/" in ref[key] or ref[key] in (".", ".."):
            errs.append(FieldError("Invalid value", f"spec.scaleTargetRef.{key}", ref[key],
                                   "may not contain '/'"))
    sources = ("ContainerResource", "External", "Object", "Pods", "Resource")
    for i, metric in enumerate(spec.get("metrics") or []):
        path = f"spec.metrics[{i}]"
        mtype = metric.get("type") or ""
        if not mtype:
            errs.append(FieldError("Required value", f"{path}.type",
                                   detail="must specify a metric source type"))
        elif mtype not in sources:
            errs.append(FieldError("Unsupported value", f"{path}.type", mtype,
                                   "supported values: " + ", ".join(f'"{t}"' for t in sources)))
            continue
        field = mtype[0].lower() + mtype[1:]
        src = metric.get(field)
        if src is None:
            errs.append(FieldError("Required value", f"{path}.{field}",
                                   detail="must populate information for the given metric "
                                   "source"))
            continue
        if mtype in ("Resource", "ContainerResource") and not src.get("name"):
            errs.append(FieldError("Required value", f"{path}.{field}.name",
                                   detail="must specify a resource name"))
        _check_metric_target(src.get("target") or {}, f"{path}.{field}.target", errs,
                             mtype in ("Resource", "ContainerResource"))
    behavior = spec.get("behavior") or {}
    for direction in ("scaleUp", "scaleDown"):
        rules = behavior.get(direction) or {}
        path = f"spec.behavior.{direction}"
        window = rules.get("stabilizationWindowSeconds")
        if isinstance(window, int) and window < 0:
            errs.append(FieldError("Invalid value", f"{path}.stabilizationWindowSeconds", window,
                                   "must be greater than or equal to zero"))
        elif isinstance(window, int) and window > 3600:
            errs.append(FieldError("Invalid value", f"{path}.stabilizationWindowSeconds", window,
                                   "must be less than or equal to 3600"))
        policy = rules.get("selectPolicy")
        if policy is not None and policy not in ("Max", "Min", "Disabled"):
            errs.append(FieldError("Unsupported value", f"{path}.selectPolicy", policy,
                                   'supported values: "Disabled", "Max", "Min"'))
        for j, pol in enumerate(rules.get("policies") or []):
            ppath = f"{path}.policies[{j}]"
            if pol.get("type") not in ("Pods", "Percent"):
                errs.append(FieldError("Unsupported value", f"{ppath}.type", pol.get("type"),
                                       'supported values: "Percent", "Pods"'))
            period = pol.get("periodSeconds", 0)
            if isinstance(period, int) and period <= 0:
                errs.append(FieldError("Invalid value", f"{ppath}.periodSeconds", period,
                                       "must be greater than zero"))
            elif isinstance(period, int) and period > 1800:
                errs.append(FieldError("Invalid value", f"{ppath}.periodSeconds", period,
                                       "must be less than or equal to 1800"))
            value = pol.get("value", 0)
            if isinstance(value, int) and value <= 0:
                errs.append(FieldError("Invalid value", f"{ppath}.value", value,
                                       "must be greater than zero"))


def _check_metric_target(target: dict[str, Any], path: str, errs: list[FieldError],
                         resource: bool) -> None:
    ttype = target.get("type") or ""
    if not ttype:
        errs.append(FieldError("Required value", f"{path}.type",
                               detail="must specify a metric target type"))
    elif ttype not in ("Utilization", "Value", "AverageValue"):
        errs.append(FieldError("Unsupported value", f"{path}.type", ttype,
                               'supported values: "AverageValue", "Utilization", "Value"'))
    util = target.get("averageUtilization")
    if isinstance(util, int) and util < 1:
        errs.append(FieldError("Invalid value", f"{path}.averageUtilization", util,
                               "must be greater than 0"))
    if resource and util is None and target.get("averageValue") is None:
        errs.append(FieldError("Required value", f"{path}.averageUtilization",
                               detail="must set either a target raw value or a target "
                               "utilization"))
    if ttype == "Utilization" and util is None and not resource:
        errs.append(FieldError("Required value", f"{path}.averageUtilization",
                               detail="must set a target utilization"))


MSG_PERCENT = ("a valid percent string must be a numeric string followed by an ending '%' "
               "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")


def _check_int_or_percent(value: Any, path: str, errs: list[FieldError]) -> None:
    """ValidatePositiveIntOrPercent + IsNotMoreThan100Percent (apps validation)."""
    if isinstance(value, str):
        if not re.fullmatch(r"[0-9]+%", value):
            errs.append(FieldError("Invalid value", path, value, MSG_PERCENT))
        elif int(value[:-1]) > 100:
            errs.append(FieldError("Invalid value", path, value, "must not be greater than 100%"))
    elif isinstance(value, int) and value < 0:
        errs.append(FieldError("Invalid value", path, value, "must be greater than or equal to 0"))


def _check_pdb(spec: dict[str, Any], errs: list[FieldError]) -> None:
    """pkg/apis/policy/validation: one of minAvailable/maxUnavailable, each an int ≥ 0 or a
    percentage ≤ 100%."""
    lo, hi = spec.get("minAvailable"), spec.get("maxUnavailable")
    if lo is not None and hi is not None:
        errs.append(FieldError("Invalid value", "spec.minAvailable", lo,
                               "minAvailable and maxUnavailable cannot be both set"))
    if lo is not None:
        _check_int_or_percent(lo, "spec.minAvailable", errs)
    if hi is not None:
        _check_int_or_percent(hi, "spec.maxUnavailable", errs)
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in ("IfHealthyBudget", "AlwaysAllow"):
        errs.append(FieldError("Unsupported value", "spec.unhealthyPodEvictionPolicy", policy,
                               'supported values: "AlwaysAllow", "IfHealthyBudget"'))


STS_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy",
               "persistentVolumeClaimRetentionPolicy", "minReadySeconds")


def semantic_check(res: Resource, obj: dict[str, Any], old: dict[str, Any] | None = None) -> None:
    """Raise 422 Invalid with every field error found (nothing is stored on failure)."""
    errs: list[FieldError] = []
    _check_meta(res, obj, errs)
    spec = obj.get("spec") or {}
    if res.plural == "pods":
        _check_pod_spec(spec, "spec", errs)
        if old is not None:
            _check_pod_update(obj, old, errs)
    elif res.plural in ("deployments", "replicasets", "statefulsets"):
        _check_selector(res, obj, errs)
        if old is not None:
            old_sel = (old.get("spec") or {}).get("selector")
            if spec.get("selector") != old_sel:
                errs.append(FieldError("Invalid value", "spec.selector",
                                       go_label_selector(spec.get("selector")),
                                       "field is immutable"))
        if res.plural == "statefulsets" and old is not None:
            a = {k: v for k, v in spec.items() if k not in STS_MUTABLE}
            b = {k: v for k, v in (old.get("spec") or {}).items() if k not in STS_MUTABLE}
            if a != b and spec.get("selector") == (old.get("spec") or {}).get("selector"):
                errs.append(FieldError(
                    "Forbidden", "spec", detail="updates to statefulset spec for fields other "
                    "than 'replicas', 'ordinals', 'template', 'updateStrategy', "
                    "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))
    elif res.plural == "jobs":
        _check_job(obj, errs)
        if old is not None:
            _check_job_update(spec, old.get("spec") or {}, errs)
    elif res.plural == "services":
        _check_service(obj, old, errs)
    elif res.plural == "networkpolicies":
        networkpolicy.check(obj, errs)
    elif res.plural == "horizontalpodautoscalers":
        _check_hpa(spec, errs)
    elif res.plural == "poddisruptionbudgets":
        _check_pdb(spec, errs)
    elif res.plural in ("configmaps", "secrets"):
        for section in ("data", "binaryData", "stringData"):
            for key in obj.get(section) or {}:
                if not re.fullmatch(r"[-._a-zA-Z0-9]+", key) or len(key) > 253:
                    errs.append(FieldError("Invalid value", f"{section}[{key}]", key, MSG_CONFIG_KEY))
        _check_data_size(res, obj, errs)
        if old is not None and old.get("immutable") and (
                obj.get("data") != old.get("data") or obj.get("binaryData") != old.get("binaryData")):
            errs.append(FieldError("Forbidden", "data",
                                   detail="field is immutable when `immutable` is set"))
    elif res.group == "rbac.authorization.k8s.io":
        _check_rbac(res, obj, old, errs)
    elif res.plural == "persistentvolumeclaims" and old is not None:
        a = {k: v for k, v in spec.items() if k not in ("resources", "volumeName")}
        b = {k: v for k, v in (old.get("spec") or {}).items() if k not in ("resources", "volumeName")}
        if a != b:
            errs.append(FieldError("Forbidden", "spec", detail="spec is immutable after creation "
                                   "except resources.requests and volumeAttributesClassName for "
                                   "bound claims"))
    if errs:
        name = (obj.get("metadata") or {}).get("name") or ""
        raise invalid(res.kind, res.group, name, errs)


def _check_rbac(res: Resource, obj: dict[str, Any], old: dict[str, Any] | None,
                errs: list[FieldError]) -> None:
    """pkg/apis/rbac/validation: rules need verbs; a Role cannot name URLs; a binding needs
    a roleRef that never changes and subjects of a known kind."""
    if res.plural in ("roles", "clusterroles"):
        for i, rule in enumerate(obj.get("rules") or []):
            where = f"rules[{i}]"
            if not rule.get("verbs"):
                errs.append(FieldError("Required value", f"{where}.verbs",
                                       detail="verbs must contain at least one value"))
            urls = rule.get("nonResourceURLs") or []
            if urls and res.plural == "roles":
                errs.append(FieldError("Invalid value", f"{where}.nonResourceURLs", urls,
                                       "namespaced rules cannot apply to non-resource URLs"))
            elif urls and (rule.get("apiGroups") or rule.get("resources")):
                errs.append(FieldError("Invalid value", f"{where}.nonResourceURLs", urls,
                                       "rules cannot apply to both regular resources and "
                                       "non-resource URLs"))
            elif not urls:
                if not rule.get("apiGroups"):
                    errs.append(FieldError("Required value", f"{where}.apiGroups",
                                           detail="resource rules must supply at least one "
                                                  "api group"))
                if not rule.get("resources"):
                    errs.append(FieldError("Required value", f"{where}.resources",
                                           detail="resource rules must supply at least one "
                                                  "resource"))
        return
    ref = obj.get("roleRef") or {}
    kinds = ("Role", "ClusterRole") if res.plural == "rolebindings" else ("ClusterRole",)
    if not ref.get("name"):
        errs.append(FieldError("Required value", "roleRef.name"))
    if ref.get("kind") not in kinds:
        errs.append(FieldError("Unsupported value", "roleRef.kind", ref.get("kind", ""),
                               "supported values: " + ", ".join(f'"{k}"' for k in kinds)))
    if ref.get("apiGroup") != "rbac.authorization.k8s.io":
        errs.append(FieldError("Unsupported value", "roleRef.apiGroup", ref.get("apiGroup", ""),
                               'supported values: "rbac.authorization.k8s.io"'))
    if old is not None and ref != (old.get("roleRef") or {}):
        errs.append(FieldError("Invalid value", "roleRef", ref, "cannot change roleRef"))
    for i, subject in enumerate(obj.get("subjects") or []):
        kind = subject.get("kind")
        if kind not in ("User", "Group", "ServiceAccount"):
            errs.append(FieldError("Unsupported value", f"subjects[{i}].kind", kind or "",
                                   'supported values: "ServiceAccount", "User", "Group"'))
        if not subject.get("name"):
            errs.append(FieldError("Required value", f"subjects[{i}].name"))
        if kind == "ServiceAccount" and res.plural == "clusterrolebindings" \
                and not subject.get("namespace"):
            errs.append(FieldError("Required value", f"subjects[{i}].namespace"))


MAX_SECRET_SIZE = 1024 * 1024  # core.MaxSecretSize, for Secrets and ConfigMaps alike


def _decoded_len(value: Any) -> int:
    """Bytes behind a base64 string ([]byte in Go), without decoding it."""
    text = str(value)
    return len(text) // 4 * 3 - (2 if text.endswith("==") else 1 if text.endswith("=") else 0)


def _check_data_size(res: Resource, obj: dict[str, Any], errs: list[FieldError]) -> None:
    """ValidateConfigMap/ValidateSecret: the values may total at most 1 MiB.

    ConfigMap: `data` (string bytes) + `binaryData` (decoded), reported on the whole
    object, whose path prints as `[]`; Secret: `data` (decoded, `stringData` already
    merged in), reported on `data`."""
    if res.plural == "configmaps":
        total = sum(len(str(v).encode()) for v in (obj.get("data") or {}).values())
        total += sum(_decoded_len(v) for v in (obj.get("binaryData") or {}).values())
        where = "[]"
    else:
        total = sum(_decoded_len(v) for v in (obj.get("data") or {}).values())
        where = "data"
    if total > MAX_SECRET_SIZE:
        errs.append(FieldError("Too long", where,
                               detail=f"must have at most {MAX_SECRET_SIZE} bytes"))


def _check_pod_update(obj: dict[str, Any], old: dict[str, Any], errs: list[FieldError]) -> None:
    """Pod spec is immutable except images, activeDeadlineSeconds, tolerations (additions)."""
    a = dict(obj.get("spec") or {})
    b = dict(old.get("spec") or {})
    for s in (a, b):
        s["containers"] = [{k: v for k, v in c.items() if k != "image"} for c in s.get("containers") or []]
        s.pop("activeDeadlineSeconds", None)
        s.pop("tolerations", None)
        s.pop("nodeName", None) if not b.get("nodeName") else None
    if a != b:
        errs.append(FieldError(
            "Forbidden", "spec", detail="pod updates may not change fields other than "
            "`spec.containers[*].image`,`spec.initContainers[*].image`,"
            "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
            "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it "
            "was previously negative)"))


def check_encoding(res: Resource, obj: dict[str, Any]) -> None:
    """Secret `data`/ConfigMap `binaryData` are base64 ([]byte in Go): the decoder rejects
    anything else with 400, as a real server does."""
    import binascii

    fields = {"secrets": "data", "configmaps": "binaryData"}
    field = fields.get(res.plural)
    for value in (obj.get(field) or {}).values() if field else ():
        try:
            base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            pos = next((i for i, ch in enumerate(str(value)) if not (
                ch.isalnum() or ch in "+/=")), len(str(value)))
            raise bad_request(f'{res.kind} in version "{res.version}" cannot be handled as a '
                              f"{res.kind}: illegal base64 data at input byte {pos}") from None


def check_kind(res: Resource, obj: dict[str, Any]) -> None:
    """The body must be the kind and apiVersion the URL names (400 like the decoder)."""
    if not isinstance(obj, dict):
        raise bad_request("the object provided is unrecognized (must be of type object)")
    # like the server's decoder, a body without kind/apiVersion takes the URL's
    kind = obj.setdefault("kind", res.kind)
    api_version = obj.setdefault("apiVersion", res.api_version)
    if api_version != res.api_version:
        raise bad_request(f"the API version in the data ({api_version}) does not match the "
                          f"expected API version ({res.api_version})")
    if kind != res.kind:
        raise bad_request(f'{kind} in version "{res.version}" cannot be handled as a '
                          f'{res.kind}: no kind "{kind}" is registered for version '
                          f'"{res.api_version}" in scheme "pkg/api/legacyscheme/scheme.go:30"')
