"""Pod spec → what the runtime needs: quantities, env, volumes (the kubelet's resolving).

Kept apart from the pod worker so the rules (Kubernetes' own: `$(VAR)` expansion,
service links, valueFrom messages) are one small readable module. Errors raise
ConfigError with the exact text a real kubelet puts in CreateContainerConfigError.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from kubernetes.utils import parse_quantity

from labcluster.errors import ConfigError
from labcluster.node import atomicwriter
from labcluster.node.atomicwriter import Payload
from labcluster.node.launch import Mount

Getter = Callable[[str, str, str], "dict[str, Any] | None"]  # (resource, ns, name) -> obj
# a serviceAccountToken projection -> the token (the kubelet's TokenRequest for the pod)
Tokener = Callable[[dict[str, Any]], str]


def _quantity(q: Any) -> Decimal:
    """The official client's parser (resource.Quantity's suffixes and exponents), with
    this module's message for what is not a quantity."""
    try:
        number = parse_quantity(q.strip() if isinstance(q, str) else q)
    except ValueError:
        number = None
    if number is None or not number.is_finite():
        raise ValueError(f"quantity {q!r} is not valid")
    return number


def memory_bytes(q: Any) -> int:
    return int(_quantity(q))


def millicores(q: Any) -> int:
    return int(_quantity(q) * 1000)


def requests_of(pod: dict[str, Any]) -> tuple[int, int]:
    """(cpu millicores, memory bytes) the pod asks for: what the scheduler admits."""
    cpu = mem = 0
    for c in (pod.get("spec") or {}).get("containers") or []:
        req = (c.get("resources") or {}).get("requests") or {}
        if "cpu" in req:
            cpu += millicores(req["cpu"])
        if "memory" in req:
            mem += memory_bytes(req["memory"])
    return cpu, mem


_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: known vars replaced, `$$` escapes, unknown kept."""
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env[name] if name in env else m.group(0)
    return _VAR.sub(sub, text)


def service_links(services: list[dict[str, Any]]) -> dict[str, str]:
    """Docker-link style variables for the namespace's Services (enableServiceLinks)."""
    env: dict[str, str] = {}
    for svc in services:
        spec = svc.get("spec") or {}
        ip = spec.get("clusterIP")
        if not ip or ip == "None" or spec.get("type") == "ExternalName":
            continue
        name = svc["metadata"]["name"].upper().replace("-", "_")
        ports = spec.get("ports") or []
        if not ports:
            continue
        env[f"{name}_SERVICE_HOST"] = ip
        env[f"{name}_SERVICE_PORT"] = str(ports[0]["port"])
        first = ports[0]
        env[f"{name}_PORT"] = f"{first.get('protocol', 'TCP').lower()}://{ip}:{first['port']}"
        for p in ports:
            proto = p.get("protocol", "TCP")
            if p.get("name"):
                env[f"{name}_SERVICE_PORT_{p['name'].upper().replace('-', '_')}"] = str(p["port"])
            key = f"{name}_PORT_{p['port']}_{proto}"
            env[key] = f"{proto.lower()}://{ip}:{p['port']}"
            env[key + "_PROTO"] = proto.lower()
            env[key + "_PORT"] = str(p["port"])
            env[key + "_ADDR"] = ip
    return env


def _decoded(obj: dict[str, Any], kind: str) -> dict[str, str]:
    if kind == "Secret":
        return {k: base64.b64decode(v).decode("utf-8", "replace")
                for k, v in (obj.get("data") or {}).items()}
    return dict(obj.get("data") or {})


def _source(get: Getter, kind: str, ns: str, name: str, optional: bool) -> dict[str, str] | None:
    obj = get("/configmaps" if kind == "ConfigMap" else "/secrets", ns, name)
    if obj is None:
        if optional:
            return None
        raise ConfigError(f'{kind.lower()} "{name}" not found')
    return _decoded(obj, kind)


def _field(pod: dict[str, Any], path: str) -> str:
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    simple = {"metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"),
              "metadata.uid": meta.get("uid"), "spec.nodeName": spec.get("nodeName"),
              "spec.serviceAccountName": spec.get("serviceAccountName"),
              "status.podIP": status.get("podIP"), "status.hostIP": status.get("hostIP")}
    if path in simple:
        return str(simple[path] or "")
    m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    raise ConfigError(f"unsupported fieldRef fieldPath {path}")


def resolve_env(pod: dict[str, Any], container: dict[str, Any], get: Getter,
                services: list[dict[str, Any]],
                master: dict[str, Any] | None = None) -> dict[str, str]:
    """The container's environment, in the kubelet's order of precedence. `master` is the
    `kubernetes` Service of `default`: its variables (KUBERNETES_SERVICE_HOST, ...) are
    always there, even with enableServiceLinks false; the namespace's own Services (links
    on) win a name clash, as in the kubelet's getServiceEnvVarMap."""
    ns = pod["metadata"]["namespace"]
    env: dict[str, str] = {}
    links = (pod.get("spec") or {}).get("enableServiceLinks", True)
    chosen: dict[str, dict[str, Any]] = {}
    if master is not None:
        chosen[master["metadata"]["name"]] = master
    if links:
        for svc in services:
            chosen[svc["metadata"]["name"]] = svc
    env.update(service_links(list(chosen.values())))
    for src in container.get("envFrom") or []:
        prefix = src.get("prefix", "")
        for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            ref = src.get(key)
            if ref:
                data = _source(get, kind, ns, ref.get("name", ""), bool(ref.get("optional")))
                for k, v in (data or {}).items():
                    env[prefix + k] = v
    for e in container.get("env") or []:
        name = e["name"]
        if "valueFrom" not in e:
            env[name] = expand(str(e.get("value", "")), env)
            continue
        vf = e["valueFrom"]
        for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
            ref = vf.get(key)
            if ref is None:
                continue
            optional = bool(ref.get("optional"))
            data = _source(get, kind, ns, ref.get("name", ""), optional)
            if data is None:
                break
            if ref["key"] not in data:
                if optional:
                    break
                raise ConfigError(f"couldn't find key {ref['key']} in {kind} "
                                  f"{ns}/{ref.get('name', '')}")
            env[name] = data[ref["key"]]
        if "fieldRef" in vf:
            env[name] = _field(pod, vf["fieldRef"]["fieldPath"])
        if "resourceFieldRef" in vf:
            env[name] = _resource_field(container, vf["resourceFieldRef"])
    return env


def _resource_field(container: dict[str, Any], ref: dict[str, Any]) -> str:
    kind, _, res = ref.get("resource", "").partition(".")
    value = ((container.get("resources") or {}).get(kind) or {}).get(res)
    if value is None:
        return "0"
    if res == "cpu":
        return str(max(1, -(-millicores(value) // 1000)))
    return str(memory_bytes(value))


def _source_payload(src: dict[str, Any], kind: str, ns: str, get: Getter,
                    mode: int) -> Payload:
    """The files of one configMap/secret source (a volume, or a projected volume's)."""
    ref = src.get("name") or src.get("secretName", "")
    obj = get("/configmaps" if kind == "ConfigMap" else "/secrets", ns, ref)
    if obj is None:
        if not src.get("optional"):
            raise ConfigError(f'{kind.lower()} "{ref}" not found')
        obj = {}
    data = {k: v.encode() for k, v in (obj.get("data") or {}).items()} \
        if kind == "ConfigMap" else {k: base64.b64decode(v)
                                     for k, v in (obj.get("data") or {}).items()}
    for k, b in ((obj.get("binaryData") or {}) if kind == "ConfigMap" else {}).items():
        data[k] = base64.b64decode(b)
    items = src.get("items")
    for item in items or []:
        if item["key"] not in data and not (obj == {} and src.get("optional")):
            raise ConfigError(f"configmap references non-existent config key: {item['key']}")
    chosen = [(i["key"], i.get("path", i["key"]), i.get("mode", mode)) for i in items
              if i["key"] in data] if items else [(k, k, mode) for k in data]
    return {rel: (data[key], fmode) for key, rel, fmode in chosen}


def _downward_payload(items: list[dict[str, Any]], pod: dict[str, Any],
                      mode: int) -> Payload:
    """downwardAPI files: fieldRef (metadata.labels/annotations as `k="v"` lines, as the
    kubelet's FormatMap) and resourceFieldRef of a named container."""
    out: Payload = {}
    meta = pod["metadata"]
    for item in items:
        if "fieldRef" in item:
            path = item["fieldRef"]["fieldPath"]
            if path in ("metadata.labels", "metadata.annotations"):
                values = meta.get(path.split(".")[1]) or {}
                text = "\n".join(f'{k}="{v}"' for k, v in sorted(values.items()))
            else:
                text = _field(pod, path)
        elif "resourceFieldRef" in item:
            ref = item["resourceFieldRef"]
            container = next((c for c in (pod.get("spec") or {}).get("containers") or []
                              if c.get("name") == ref.get("containerName")), {})
            text = _resource_field(container, ref)
        else:
            continue
        out[item["path"]] = (text.encode(), item.get("mode", mode))
    return out


def volume_payload(v: dict[str, Any], pod: dict[str, Any], get: Getter,
                   token: Tokener | None = None) -> Payload:
    """The files of a configMap, secret, downwardAPI or projected volume; ConfigError for
    a missing source or key, or a token the kubelet cannot get."""
    ns = pod["metadata"]["namespace"]
    if "configMap" in v or "secret" in v:
        kind = "ConfigMap" if "configMap" in v else "Secret"
        src = v.get("configMap") or v.get("secret") or {}
        return _source_payload(src, kind, ns, get, src.get("defaultMode", 0o644))
    if "downwardAPI" in v:
        src = v["downwardAPI"] or {}
        return _downward_payload(src.get("items") or [], pod, src.get("defaultMode", 0o644))
    src = v.get("projected") or {}
    mode = src.get("defaultMode", 0o644)
    out: Payload = {}
    for part in src.get("sources") or []:
        if "serviceAccountToken" in part:
            proj = part["serviceAccountToken"]
            if token is None:
                raise ConfigError("serviceAccountToken projection: no token issuer")
            out[proj["path"]] = (token(proj).encode(), mode)
        elif "configMap" in part:
            out.update(_source_payload(part["configMap"], "ConfigMap", ns, get, mode))
        elif "secret" in part:
            out.update(_source_payload(part["secret"], "Secret", ns, get, mode))
        elif "downwardAPI" in part:
            out.update(_downward_payload(part["downwardAPI"].get("items") or [], pod, mode))
    return out


def api_volume_payload(v: dict[str, Any], ns: str, get: Getter) -> Payload:
    """The files of a configMap/secret volume; ConfigError for a missing source or key."""
    return volume_payload(v, {"metadata": {"namespace": ns}}, get)


def is_api_volume(v: dict[str, Any]) -> bool:
    """configMap, secret, downwardAPI and projected volumes: always read-only, written by
    the kubelet (AtomicWriter) and refreshed by its sync."""
    return any(k in v for k in ("configMap", "secret", "downwardAPI", "projected"))


def sync_api_volumes(pod: dict[str, Any], pod_dir: Path, get: Getter,
                     token: Tokener | None = None) -> list[str]:
    """Rewrite the pod's API volumes whose source changed (the kubelet's periodic sync);
    names of the volumes updated. A source that is now missing keeps the old files, as
    the kubelet does; a token is rewritten when the kubelet has refreshed it."""
    changed = []
    for v in (pod.get("spec") or {}).get("volumes") or []:
        if not is_api_volume(v):
            continue
        try:
            payload = volume_payload(v, pod, get, token)
        except ConfigError:
            continue
        if atomicwriter.write(pod_dir / "volumes" / v["name"], payload):
            changed.append(v["name"])
    return changed


def volume_dirs(pod: dict[str, Any], pod_dir: Path, get: Getter,
                claim_dir: Callable[[str, str], Path | None],
                token: Tokener | None = None) -> dict[str, Path]:
    """Materialise each volume as a host dir; ConfigError for a missing source."""
    ns = pod["metadata"]["namespace"]
    out: dict[str, Path] = {}
    for v in (pod.get("spec") or {}).get("volumes") or []:
        name = v["name"]
        target = pod_dir / "volumes" / name
        if is_api_volume(v):
            atomicwriter.write(target, volume_payload(v, pod, get, token))
            out[name] = target
        elif "emptyDir" in v:
            target.mkdir(parents=True, exist_ok=True)
            target.chmod(0o777)
            out[name] = target
        elif "persistentVolumeClaim" in v:
            claim = v["persistentVolumeClaim"]["claimName"]
            path = claim_dir(ns, claim)
            if path is None:
                raise ConfigError(f'persistentvolumeclaim "{claim}" not bound')
            out[name] = path
        elif "hostPath" in v:
            out[name] = Path(v["hostPath"]["path"])
        else:
            raise ConfigError(f"volume {name}: unsupported volume type "
                              f"{sorted(k for k in v if k != 'name')}")
    return out


def mounts_for(container: dict[str, Any], volumes: dict[str, Path],
               env: dict[str, str], sealed: frozenset[str] = frozenset()) -> list[Mount]:
    """The container's mounts; `sealed` volumes (configMap/secret) are read-only always."""
    mounts = []
    for vm in container.get("volumeMounts") or []:
        base = volumes.get(vm["name"])
        if base is None:
            raise ConfigError(f'unable to find volume "{vm["name"]}" for volumeMount')
        sub = vm.get("subPath") or expand(vm.get("subPathExpr", ""), env)
        host = base
        if sub:
            if os.path.isabs(sub) or ".." in Path(sub).parts:
                raise ConfigError(f"subPath {sub!r} must be a relative path without '..'")
            host = base / sub
            if not host.exists():
                host.mkdir(parents=True, exist_ok=True)
                host.chmod(0o777)
        mounts.append(Mount(host, vm["mountPath"],
                            bool(vm.get("readOnly")) or vm["name"] in sealed))
    return mounts
