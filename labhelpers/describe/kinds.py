"""One ``describe_<kind>`` per kind the lab has: pod, deployment, statefulset, service,
pvc."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from labhelpers.describe.text import (
    _annotations,
    _conditions,
    _containers,
    _events,
    _header,
    _selector,
    _Text,
    _time,
    _volumes,
)
from labhelpers.podstatus import pod_status
from labhelpers.tables import endpoint_addresses


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
