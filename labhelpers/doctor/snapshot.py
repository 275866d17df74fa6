"""Everything the doctor looks at, read once through the official client.

Rules get one consistent picture of the namespace instead of each asking the API server
again; logs are the exception (read only for the pods a rule is about).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from labhelpers.actions import http
from labhelpers.podstatus import is_ready
from labhelpers.protocol import LabLike

#: Kinds handed to the manifests linter, as (apiVersion, kind, list method name).
LINTED = [("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "Service"),
          ("v1", "PersistentVolumeClaim"), ("apps/v1", "Deployment"),
          ("apps/v1", "StatefulSet")]
_DROP_META = ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation",
              "selfLink", "annotations")


@dataclass
class Snapshot:
    lab: Any
    namespace: str
    pods: list[Any] = field(default_factory=list)
    services: list[Any] = field(default_factory=list)
    endpoints: dict[str, Any] = field(default_factory=dict)
    events: list[Any] = field(default_factory=list)
    deployments: list[Any] = field(default_factory=list)
    statefulsets: list[Any] = field(default_factory=list)
    configmaps: list[Any] = field(default_factory=list)
    secrets: list[Any] = field(default_factory=list)
    pvcs: list[Any] = field(default_factory=list)
    storage_classes: list[str] = field(default_factory=list)
    usage: dict[tuple[str, str], str] = field(default_factory=dict)  # (pod, container) → mem

    # ---------------------------------------------------------------- lookups
    def owner(self, pod: Any) -> str:
        """``Deployment/x`` or ``StatefulSet/x`` that made the pod (else ``Pod/name``)."""
        for ref in pod.metadata.owner_references or []:
            if ref.kind == "ReplicaSet":
                return f"Deployment/{ref.name.rsplit('-', 1)[0]}"
            return f"{ref.kind}/{ref.name}"
        return f"Pod/{pod.metadata.name}"

    def pod_events(self, pod: Any, reason: str | None = None) -> list[Any]:
        """This pod's events, oldest first (the last one is what is happening now).

        Matched by uid, not only name: a StatefulSet's or a restarted scenario's pod reuses
        the name, and an earlier pod's events must not be blamed on the new one.
        """
        uid = pod.metadata.uid
        return [e for e in self.events
                if e.involved_object.kind == "Pod" and e.involved_object.name == pod.metadata.name
                and (not uid or not e.involved_object.uid or e.involved_object.uid == uid)
                and (reason is None or e.reason == reason)]

    def container_spec(self, pod: Any, name: str) -> Any:
        for c in (pod.spec.containers or []) + (pod.spec.init_containers or []):
            if c.name == name:
                return c
        return None

    def logs(self, pod: str, container: str | None = None, previous: bool = False,
             tail: int = 5) -> list[str]:
        try:
            text = self.lab.core.read_namespaced_pod_log(
                pod, self.namespace, container=container, previous=previous,
                tail_lines=tail)
        except client.ApiException:
            return []
        return [line for line in (text or "").splitlines() if line.strip()]

    def live_pods(self) -> list[Any]:
        return [p for p in self.pods if not p.metadata.deletion_timestamp]

    def lab_http(self, service: str, port: int) -> str:
        """What a request to the Service answers (through the API server's proxy)."""
        try:
            r = http(self.lab.api, self.namespace, service, "/", port, timeout=10)
        except Exception as exc:  # the evidence is the failure itself
            return f"GET {service}:{port}/ failed: {type(exc).__name__}"
        return f"GET {service}:{port}/ through the proxy → HTTP {r.status} {r.text[:80]!r}"

    def ready(self, pod: Any) -> bool:
        return is_ready(pod)

    def objects(self) -> list[dict[str, Any]]:
        """The namespace's objects as manifests (no status, no server bookkeeping, Secret
        values blanked: the linter only needs their keys)."""
        san = self.lab.api.sanitize_for_serialization
        found = []
        sources = {"ConfigMap": self.configmaps, "Secret": self.secrets,
                   "Service": self.services, "PersistentVolumeClaim": self.pvcs,
                   "Deployment": self.deployments, "StatefulSet": self.statefulsets}
        for api_version, kind in LINTED:
            for item in sources[kind]:
                obj = san(item)
                obj["apiVersion"], obj["kind"] = api_version, kind
                obj.pop("status", None)
                for key in _DROP_META:
                    obj["metadata"].pop(key, None)
                if kind == "ConfigMap" and obj["metadata"]["name"] == "kube-root-ca.crt":
                    continue
                if kind == "Secret":
                    obj["data"] = {k: "" for k in obj.get("data") or {}}
                found.append(obj)
        return found


def _event_time(e: Any) -> dt.datetime:
    t = e.last_timestamp or e.event_time or e.first_timestamp or e.metadata.creation_timestamp
    return t or dt.datetime.min.replace(tzinfo=dt.UTC)


def take(lab: LabLike) -> Snapshot:
    ns, core, apps = lab.namespace, lab.core, lab.apps
    snap = Snapshot(lab, ns)
    snap.pods = core.list_namespaced_pod(ns).items
    snap.services = core.list_namespaced_service(ns).items
    snap.endpoints = {e.metadata.name: e for e in core.list_namespaced_endpoints(ns).items}
    snap.events = sorted(core.list_namespaced_event(ns).items, key=_event_time)
    snap.deployments = apps.list_namespaced_deployment(ns).items
    snap.statefulsets = apps.list_namespaced_stateful_set(ns).items
    snap.configmaps = core.list_namespaced_config_map(ns).items
    snap.secrets = core.list_namespaced_secret(ns).items
    snap.pvcs = core.list_namespaced_persistent_volume_claim(ns).items
    try:
        snap.storage_classes = [sc.metadata.name for sc in
                                client.StorageV1Api(lab.api).list_storage_class().items]
    except client.ApiException:
        snap.storage_classes = []  # no RBAC to list classes: the linter's list is used
    snap.usage = _memory_usage(lab)
    return snap


def _memory_usage(lab: LabLike) -> dict[tuple[str, str], str]:
    """Measured memory per container from metrics.k8s.io, if the cluster serves it."""
    try:
        data = client.CustomObjectsApi(lab.api).list_namespaced_custom_object(
            "metrics.k8s.io", "v1beta1", lab.namespace, "pods")
    except (client.ApiException, ValueError):
        return {}
    return {(item["metadata"]["name"], c["name"]): c["usage"].get("memory", "?")
            for item in data.get("items", []) for c in item.get("containers", [])}
