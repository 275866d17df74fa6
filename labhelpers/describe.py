"""``kubectl describe`` for the objects of the lab, as text a learner reads top to bottom:
what it is (labels, selector, replicas), what runs (containers: image, ports, env by name,
requests/limits, probes, state and last state), how it is doing (conditions, endpoints) and
the events at the bottom.

Environment values that come from a Secret are shown as the reference (``<set to the key
'password' in secret 'postgres-secret'>``), as kubectl does; a literal value whose name looks
secret (PASSWORD, TOKEN, ...) is redacted too, because a describe output ends up in saved
notebooks and CI logs.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from labhelpers.podstatus import age, pod_status
from labhelpers.tables import endpoint_addresses

KINDS = {"pod": "Pod", "pods": "Pod", "po": "Pod",
         "deploy": "Deployment", "deployment": "Deployment", "deployments": "Deployment",
         "sts": "StatefulSet", "statefulset": "StatefulSet", "statefulsets": "StatefulSet",
         "svc": "Service", "service": "Service", "services": "Service",
         "pvc": "PersistentVolumeClaim", "persistentvolumeclaim": "PersistentVolumeClaim"}
SECRET_NAME = re.compile(r"pass|secret|token|key|credential", re.IGNORECASE)


@dataclass
class Description:
    """The text of a describe; ``print``, ``str`` and Jupyter's display all show the text."""

    kind: str
    name: str
    text: str
    kubectl: str

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text

    def __contains__(self, part: str) -> bool:
        return part in self.text


def parse_target(target: str) -> tuple[str, str]:
    """``deploy/x`` → ("Deployment", "x"); a bare name is a pod."""
    kind, _, name = target.partition("/")
    if not name:
        return "Pod", target
    if kind.lower() not in KINDS:
        raise ValueError(f"{target!r}: describe knows pod/, deploy/, sts/, svc/ and pvc/")
    return KINDS[kind.lower()], name


class _Text:
    """Lines with kubectl's "Label:  value" alignment at each indent level."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def kv(self, key: str, value: Any, indent: int = 0, width: int = 20) -> None:
        pad = " " * indent
        label = f"{key}:"
        self.lines.append(f"{pad}{label:<{max(width - indent, len(label) + 1)}}"
                          f"{'' if value is None else value}".rstrip())

    def mapping(self, key: str, data: dict[str, str] | None, indent: int = 0,
                sep: str = "=") -> None:
        items = [f"{k}{sep}{v}" for k, v in sorted((data or {}).items())] or ["<none>"]
        self.kv(key, items[0], indent)
        for item in items[1:]:
            self.lines.append(" " * max(20, indent + len(key) + 2) + item)

    def line(self, text: str = "", indent: int = 0) -> None:
        self.lines.append(" " * indent + text)

    def __str__(self) -> str:
        return "\n".join(self.lines)


def _time(t: dt.datetime | None) -> str:
    return t.strftime("%a, %d %b %Y %H:%M:%S %z") if t else "<unknown>"


def _selector(sel: Any) -> str:
    labels = sel.match_labels if hasattr(sel, "match_labels") else sel
    return ",".join(f"{k}={v}" for k, v in (labels or {}).items()) or "<none>"


def _probe(p: Any) -> str:
    if p.http_get:
        how = f"http-get http://:{p.http_get.port}{p.http_get.path or '/'}"
    elif p.tcp_socket:
        how = f"tcp-socket :{p.tcp_socket.port}"
    elif p._exec:
        how = f"exec [{' '.join(p._exec.command or [])}]"
    else:
        how = "grpc" if getattr(p, "grpc", None) else "?"
    return (f"{how} delay={p.initial_delay_seconds or 0}s timeout={p.timeout_seconds or 1}s "
            f"period={p.period_seconds or 10}s #success={p.success_threshold or 1} "
            f"#failure={p.failure_threshold or 3}")


def _opt(ref: Any) -> str:
    return "true" if ref.optional else "false"


def env_line(e: Any) -> str:
    """One Environment entry: the value, or where it comes from (never a Secret's value)."""
    src = e.value_from
    if src is None:
        if e.value and SECRET_NAME.search(e.name):
            return f"<redacted literal, {len(e.value)} chars: better in a Secret>"
        return e.value if e.value is not None else ""
    if src.secret_key_ref:
        r = src.secret_key_ref
        return f"<set to the key '{r.key}' in secret '{r.name}'>  Optional: {_opt(r)}"
    if src.config_map_key_ref:
        r = src.config_map_key_ref
        return (f"<set to the key '{r.key}' of config map '{r.name}'>  "
                f"Optional: {_opt(r)}")
    if src.field_ref:
        return f"({src.field_ref.api_version or 'v1'}:{src.field_ref.field_path})"
    if src.resource_field_ref:
        return f"({src.resource_field_ref.resource})"
    return "<set from elsewhere>"


def _state(out: _Text, label: str, state: Any, indent: int) -> None:
    if state is None or not (state.running or state.waiting or state.terminated):
        if label == "State":
            out.kv(label, "Waiting", indent)
        return
    if state.running:
        out.kv(label, "Running", indent)
        out.kv("Started", _time(state.running.started_at), indent + 2)
    elif state.waiting:
        out.kv(label, "Waiting", indent)
        out.kv("Reason", state.waiting.reason, indent + 2)
        if state.waiting.message:
            out.kv("Message", state.waiting.message, indent + 2)
    else:
        t = state.terminated
        out.kv(label, "Terminated", indent)
        out.kv("Reason", t.reason or "", indent + 2)
        out.kv("Exit Code", t.exit_code, indent + 2)
        if t.signal:
            out.kv("Signal", t.signal, indent + 2)
        out.kv("Started", _time(t.started_at), indent + 2)
        out.kv("Finished", _time(t.finished_at), indent + 2)


def _containers(out: _Text, spec: Any, statuses: list[Any] | None, indent: int,
                init_statuses: list[Any] | None = None) -> None:
    """Init containers first (each must finish before the next starts; a pod stuck in
    Init:… is explained there), then the app containers — kubectl's order."""
    if spec.init_containers:
        _container_list(out, "Init Containers:", spec.init_containers,
                        None if statuses is None else init_statuses or [], indent)
    _container_list(out, "Containers:", spec.containers, statuses, indent)


def _container_list(out: _Text, title: str, containers: list[Any],
                    statuses: list[Any] | None, indent: int) -> None:
    by_name = {cs.name: cs for cs in statuses or []}
    out.line(title, indent)
    for c in containers:
        i = indent + 2
        out.line(f"{c.name}:", i)
        i += 2
        out.kv("Image", c.image, i)
        ports = [f"{p.container_port}/{p.protocol or 'TCP'}" + (f" ({p.name})" if p.name else "")
                 for p in c.ports or []]
        out.kv("Port" + ("s" if len(ports) > 1 else ""), ", ".join(ports) or "<none>", i)
        if c.command:
            out.kv("Command", " ".join(c.command), i)
        if c.args:
            out.kv("Args", " ".join(c.args), i)
        cs = by_name.get(c.name)
        if statuses is not None:
            _state(out, "State", cs.state if cs else None, i)
            if cs:
                _state(out, "Last State", cs.last_state, i)
            out.kv("Ready", bool(cs and cs.ready), i)
            out.kv("Restart Count", cs.restart_count if cs else 0, i)
        res = c.resources
        for title, values in (("Limits", res.limits if res else None),
                              ("Requests", res.requests if res else None)):
            if values:
                out.line(f"{title}:", i)
                for k, v in sorted(values.items()):
                    out.kv(k, v, i + 2, width=i + 12)
        for title, probe in (("Liveness", c.liveness_probe), ("Readiness", c.readiness_probe),
                             ("Startup", c.startup_probe)):
            if probe:
                out.kv(title, _probe(probe), i)
        if c.env_from:
            out.line("Environment Variables from:", i)
            for ef in c.env_from:
                ref = ef.config_map_ref or ef.secret_ref
                what = "ConfigMap" if ef.config_map_ref else "Secret"
                out.line(f"{ref.name}  {what}  Optional: {_opt(ref)}", i + 2)
        out.line("Environment:" + ("  <none>" if not c.env else ""), i)
        for e in c.env or []:
            out.kv(e.name, env_line(e), i + 2, width=i + 2 + len(e.name) + 3)
        if c.volume_mounts:
            out.line("Mounts:", i)
            for m in c.volume_mounts:
                mode = "ro" if m.read_only else "rw"
                out.line(f"{m.mount_path} from {m.name} ({mode})", i + 2)


def _volumes(out: _Text, spec: Any, indent: int = 0) -> None:
    if not spec.volumes:
        return
    out.line("Volumes:", indent)
    for v in spec.volumes:
        out.line(f"{v.name}:", indent + 2)
        if v.persistent_volume_claim:
            out.kv("Type", "PersistentVolumeClaim", indent + 4)
            out.kv("ClaimName", v.persistent_volume_claim.claim_name, indent + 4)
        elif v.config_map:
            out.kv("Type", "ConfigMap", indent + 4)
            out.kv("Name", v.config_map.name, indent + 4)
        elif v.secret:
            out.kv("Type", "Secret", indent + 4)
            out.kv("SecretName", v.secret.secret_name, indent + 4)
        elif v.empty_dir is not None:
            out.kv("Type", "EmptyDir", indent + 4)
        else:
            out.kv("Type", "other", indent + 4)


def _conditions(out: _Text, conditions: list[Any] | None, with_reason: bool = False) -> None:
    if not conditions:
        return
    out.line("Conditions:")
    header = ["Type", "Status"] + (["Reason"] if with_reason else [])
    rows = [[c.type, c.status] + ([c.reason or ""] if with_reason else []) for c in conditions]
    _columns(out, header, rows, 2)


def _columns(out: _Text, header: list[str], rows: list[list[Any]], indent: int) -> None:
    table = [header, ["-" * len(h) for h in header]] + [[str(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header) - 1)]
    for r in table:
        out.line("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=False)) + "  "
                 + r[-1], indent)


def _events(out: _Text, core: client.CoreV1Api, ns: str, kind: str, name: str,
            uid: str | None) -> None:
    items = core.list_namespaced_event(ns, field_selector=f"involvedObject.name={name}").items
    items = [e for e in items if e.involved_object.kind == kind
             and (uid is None or not e.involved_object.uid or e.involved_object.uid == uid)]
    if not items:
        out.kv("Events", "<none>", 0, width=8)
        return

    def when(e: Any) -> dt.datetime:
        return (e.last_timestamp or e.event_time or e.first_timestamp
                or e.metadata.creation_timestamp)

    out.line("Events:")
    rows = []
    for e in sorted(items, key=when):
        seen = age(when(e))
        if (e.count or 1) > 1:
            seen += f" (x{e.count} over {age(e.first_timestamp)})"
        src = (e.source.component if e.source else None) or e.reporting_component or ""
        rows.append([e.type, e.reason, seen, src, e.message or ""])
    _columns(out, ["Type", "Reason", "Age", "From", "Message"], rows, 2)


#: Annotations kubectl describe leaves out (a copy of the whole object: noise here).
_HIDDEN_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


def _annotations(out: _Text, meta: Any) -> None:
    shown = {k: v for k, v in (meta.annotations or {}).items() if k not in _HIDDEN_ANNOTATIONS}
    out.mapping("Annotations", shown, sep=": ")


def _header(out: _Text, meta: Any) -> None:
    out.kv("Name", meta.name)
    out.kv("Namespace", meta.namespace)


def describe_pod(core: client.CoreV1Api, ns: str, name: str) -> _Text:
    p = core.read_namespaced_pod(name, ns)
    out = _Text()
    _header(out, p.metadata)
    out.kv("Node", p.spec.node_name or "<none>")
    out.kv("Start Time", _time(p.status.start_time))
    out.mapping("Labels", p.metadata.labels)
    _annotations(out, p.metadata)
    out.kv("Status", pod_status(p))
    out.kv("IP", p.status.pod_ip or "<none>")
    owner = next((o for o in p.metadata.owner_references or [] if o.controller), None)
    out.kv("Controlled By", f"{owner.kind}/{owner.name}" if owner else "<none>")
    _containers(out, p.spec, p.status.container_statuses or [], 0,
                p.status.init_container_statuses)
    _conditions(out, p.status.conditions)
    _volumes(out, p.spec)
    _events(out, core, ns, "Pod", name, p.metadata.uid)
    return out


def _template(out: _Text, template: Any) -> None:
    out.line("Pod Template:")
    out.mapping("  Labels", template.metadata.labels)
    _containers(out, template.spec, None, 2)
    _volumes(out, template.spec, 2)


def describe_deployment(core: client.CoreV1Api, apps: client.AppsV1Api, ns: str,
                        name: str) -> _Text:
    d = apps.read_namespaced_deployment(name, ns)
    st = d.status
    out = _Text()
    _header(out, d.metadata)
    out.kv("CreationTimestamp", _time(d.metadata.creation_timestamp))
    out.mapping("Labels", d.metadata.labels)
    _annotations(out, d.metadata)
    out.kv("Selector", _selector(d.spec.selector))
    desired = d.spec.replicas if d.spec.replicas is not None else 1
    out.kv("Replicas", f"{desired} desired | {st.updated_replicas or 0} updated | "
           f"{st.replicas or 0} total | {st.available_replicas or 0} available | "
           f"{st.unavailable_replicas or 0} unavailable")
    strategy = d.spec.strategy
    out.kv("StrategyType", strategy.type if strategy else "RollingUpdate")
    _template(out, d.spec.template)
    _conditions(out, st.conditions, with_reason=True)
    _replica_sets(out, apps, ns, d)
    _events(out, core, ns, "Deployment", name, d.metadata.uid)
    return out


_REVISION = "deployment.kubernetes.io/revision"


def _replica_sets(out: _Text, apps: client.AppsV1Api, ns: str, d: Any) -> None:
    """kubectl's OldReplicaSets/NewReplicaSet lines: which ReplicaSet the current pod
    template runs as (the Deployment's revision) and which older ones still hold pods —
    what a rollout in progress looks like."""
    owned = [rs for rs in apps.list_namespaced_replica_set(ns).items
             if any(o.uid == d.metadata.uid for o in rs.metadata.owner_references or [])]
    revision = (d.metadata.annotations or {}).get(_REVISION)
    new = [rs for rs in owned if revision and (rs.metadata.annotations or {}).get(_REVISION)
           == revision]

    def line(rs: Any) -> str:
        return (f"{rs.metadata.name} ({rs.status.replicas or 0}/{rs.spec.replicas or 0} "
                "replicas created)")

    old = [line(rs) for rs in owned if rs not in new and (rs.spec.replicas or rs.status.replicas)]
    out.kv("OldReplicaSets", ", ".join(old) or "<none>")
    out.kv("NewReplicaSet", line(new[0]) if new else "<none>")


def describe_statefulset(core: client.CoreV1Api, apps: client.AppsV1Api, ns: str,
                         name: str) -> _Text:
    s = apps.read_namespaced_stateful_set(name, ns)
    out = _Text()
    _header(out, s.metadata)
    out.kv("CreationTimestamp", _time(s.metadata.creation_timestamp))
    out.kv("Selector", _selector(s.spec.selector))
    out.mapping("Labels", s.metadata.labels)
    _annotations(out, s.metadata)
    desired = s.spec.replicas if s.spec.replicas is not None else 1
    out.kv("Replicas", f"{desired} desired | {s.status.replicas or 0} total")
    pods = core.list_namespaced_pod(ns, label_selector=_selector(s.spec.selector)).items
    phases = [p.status.phase for p in pods]
    out.kv("Pods Status", " / ".join(f"{phases.count(ph)} {ph}" for ph in
                                     ("Running", "Pending", "Succeeded", "Failed")))
    out.kv("Service", s.spec.service_name or "<none>")
    _template(out, s.spec.template)
    out.line("Volume Claims:")
    for t in s.spec.volume_claim_templates or []:
        out.kv("Name", t.metadata.name, 2)
        out.kv("StorageClass", t.spec.storage_class_name or "<default>", 2)
        out.kv("Capacity", (t.spec.resources.requests or {}).get("storage", ""), 2)
        out.kv("Access Modes", ",".join(t.spec.access_modes or []), 2)
    _events(out, core, ns, "StatefulSet", name, s.metadata.uid)
    return out


def describe_service(core: client.CoreV1Api, ns: str, name: str) -> _Text:
    s = core.read_namespaced_service(name, ns)
    out = _Text()
    _header(out, s.metadata)
    out.mapping("Labels", s.metadata.labels)
    _annotations(out, s.metadata)
    out.kv("Selector", _selector(s.spec.selector))
    out.kv("Type", s.spec.type)
    out.kv("IP", s.spec.cluster_ip or "<none>")
    try:
        ready, not_ready = endpoint_addresses(core.read_namespaced_endpoints(name, ns))
    except client.ApiException:
        ready, not_ready = [], []
    for p in s.spec.ports or []:
        out.kv("Port", f"{p.name or '<unset>'}  {p.port}/{p.protocol or 'TCP'}")
        out.kv("TargetPort", f"{p.target_port or p.port}/{p.protocol or 'TCP'}")
        if p.node_port:
            out.kv("NodePort", f"{p.name or '<unset>'}  {p.node_port}/{p.protocol or 'TCP'}")
    out.kv("Endpoints", ",".join(ready) or "<none>")
    if not_ready:
        out.kv("NotReady", ",".join(not_ready))
    out.kv("Session Affinity", s.spec.session_affinity or "None")
    _events(out, core, ns, "Service", name, s.metadata.uid)
    return out


def describe_pvc(core: client.CoreV1Api, ns: str, name: str) -> _Text:
    c = core.read_namespaced_persistent_volume_claim(name, ns)
    out = _Text()
    _header(out, c.metadata)
    out.kv("StorageClass", c.spec.storage_class_name or "<default>")
    out.kv("Status", c.status.phase if c.status else "Pending")
    out.kv("Volume", c.spec.volume_name or "")
    out.mapping("Labels", c.metadata.labels)
    _annotations(out, c.metadata)
    out.kv("Capacity", ((c.status.capacity or {}).get("storage", "") if c.status else ""))
    out.kv("Access Modes", ",".join(c.spec.access_modes or []))
    users = [p.metadata.name for p in core.list_namespaced_pod(ns).items
             if any(v.persistent_volume_claim and v.persistent_volume_claim.claim_name == name
                    for v in p.spec.volumes or [])]
    out.kv("Used By", ", ".join(sorted(users)) or "<none>")
    _events(out, core, ns, "PersistentVolumeClaim", name, c.metadata.uid)
    return out


def describe(core: client.CoreV1Api, apps: client.AppsV1Api, ns: str,
             target: str) -> Description:
    kind, name = parse_target(target)
    if kind == "Pod":
        text = describe_pod(core, ns, name)
    elif kind == "Deployment":
        text = describe_deployment(core, apps, ns, name)
    elif kind == "StatefulSet":
        text = describe_statefulset(core, apps, ns, name)
    elif kind == "Service":
        text = describe_service(core, ns, name)
    else:
        text = describe_pvc(core, ns, name)
    short = {"Pod": "pod", "Deployment": "deployment", "StatefulSet": "statefulset",
             "Service": "service", "PersistentVolumeClaim": "pvc"}[kind]
    return Description(kind, name, str(text), f"kubectl describe {short} {name} -n {ns}")
