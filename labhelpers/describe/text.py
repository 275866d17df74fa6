"""The text of a ``kubectl describe``: what a target names, the ``Description`` it
becomes, and the blocks every kind is made of (header, containers, volumes, conditions,
events)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from labhelpers.podstatus import age

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
