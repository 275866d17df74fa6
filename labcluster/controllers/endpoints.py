"""Service → Endpoints and EndpointSlices from the selector and the pods' readiness.

Ready pods are `addresses`, not-ready ones `notReadyAddresses` (slices: conditions.ready);
a pod without an IP yet is not listed, and a Service whose selector matches nothing has
no endpoints — the lab's "Service selector mismatch" lesson.
"""

from __future__ import annotations

import copy
from typing import Any

from ..errors import ApiError
from ..meta import labels_of, now, owner_ref
from .base import Controller, Key, is_pod_ready

SERVICE_NAME = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
SLICE_CONTROLLER = "endpointslice-controller.k8s.io"


def _target_port(svc_port: dict[str, Any], pod: dict[str, Any]) -> int | None:
    target = svc_port.get("targetPort", svc_port.get("port"))
    if isinstance(target, int):
        return target
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == target:
                return p.get("containerPort")
    return None


class EndpointsController(Controller):
    name = "endpoint-controller"
    primary = "services"
    watches = ("pods",)

    def keys_for(self, res: str, etype: str, obj: dict[str, Any]) -> list[Key]:
        if res == "pods":
            ns = obj["metadata"]["namespace"]
            # every Service of the namespace: the pod may have left a selector too
            return [(ns, s["metadata"]["name"]) for s in self.listers.list("services", ns)
                    if (s.get("spec") or {}).get("selector")]
        return super().keys_for(res, etype, obj)

    async def reconcile(self, namespace: str, name: str) -> None:
        svc = self.listers.get("services", namespace, name)
        if svc is None or svc["metadata"].get("deletionTimestamp"):
            await self._forget(namespace, name)
            return
        selector = (svc.get("spec") or {}).get("selector")
        if not selector:
            return  # user-managed endpoints
        publish_not_ready = svc["spec"].get("publishNotReadyAddresses", False)
        groups: dict[tuple[tuple[str, int, str], ...], dict[str, list[dict[str, Any]]]] = {}
        pods = self.listers.list("pods", namespace, {"matchLabels": selector})
        for pod in sorted(pods, key=lambda p: (p.get("status") or {}).get("podIP") or ""):
            status = pod.get("status") or {}
            ip = status.get("podIP")
            if not ip or status.get("phase") in ("Succeeded", "Failed"):
                continue
            terminating = bool(pod["metadata"].get("deletionTimestamp"))
            if terminating and not publish_not_ready:
                continue
            ports = []
            for sp in svc["spec"].get("ports") or []:
                tp = _target_port(sp, pod)
                if tp is not None:
                    ports.append((sp.get("name", ""), tp, sp.get("protocol", "TCP")))
            ready = (is_pod_ready(pod) or publish_not_ready) and not terminating
            addr: dict[str, Any] = {"ip": ip, "targetRef": {
                "kind": "Pod", "namespace": namespace, "name": pod["metadata"]["name"],
                "uid": pod["metadata"]["uid"]}}
            if pod["spec"].get("nodeName"):
                addr["nodeName"] = pod["spec"]["nodeName"]
            if pod["spec"].get("hostname") and pod["spec"].get("subdomain") == name:
                addr["hostname"] = pod["spec"]["hostname"]
            bucket = groups.setdefault(tuple(ports), {"ready": [], "notReady": [], "pods": []})
            bucket["ready" if ready else "notReady"].append(addr)
            bucket["pods"].append({**addr, "_ready": ready, "_terminating": terminating,
                                   "_serving": is_pod_ready(pod)})
        await self._write_endpoints(svc, groups)
        await self._write_slices(svc, groups)

    async def _write_endpoints(self, svc: dict[str, Any], groups: dict[Any, Any]) -> None:
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        subsets = []
        for ports, bucket in groups.items():
            subset: dict[str, Any] = {}
            if bucket["ready"]:
                subset["addresses"] = bucket["ready"]
            if bucket["notReady"]:
                subset["notReadyAddresses"] = bucket["notReady"]
            if not subset:
                continue
            subset["ports"] = [{**({"name": n} if n else {}), "port": p, "protocol": proto}
                               for n, p, proto in ports]
            subsets.append(subset)
        current = copy.deepcopy(self.listers.get("endpoints", ns, name))
        labels = dict(labels_of(svc))
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "Endpoints",
                                "metadata": {"name": name, "namespace": ns, "labels": labels}}
        if subsets:
            body["subsets"] = subsets
        if current is None:
            body["metadata"]["annotations"] = {
                "endpoints.kubernetes.io/last-change-trigger-time": now()}
            try:
                await self.api.create(body, ns, field_manager="kube-controller-manager")
            except ApiError as exc:
                if exc.reason != "AlreadyExists" and exc.code != 403:
                    raise
            return
        if current.get("subsets") == body.get("subsets") and labels_of(current) == labels:
            return
        current["subsets"] = body.get("subsets")
        if not subsets:
            current.pop("subsets", None)
        current["metadata"]["labels"] = labels
        current["metadata"].setdefault("annotations", {})[
            "endpoints.kubernetes.io/last-change-trigger-time"] = now()
        await self.api.update(current, field_manager="kube-controller-manager")

    async def _write_slices(self, svc: dict[str, Any], groups: dict[Any, Any]) -> None:
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        existing = self._slices(ns, name)
        wanted = []
        for ports, bucket in groups.items():
            endpoints = []
            for a in bucket["pods"]:
                ep: dict[str, Any] = {"addresses": [a["ip"]], "conditions": {
                    "ready": a["_ready"], "serving": a["_serving"],
                    "terminating": a["_terminating"]}, "targetRef": a["targetRef"]}
                if a.get("nodeName"):
                    ep["nodeName"] = a["nodeName"]
                if a.get("hostname"):
                    ep["hostname"] = a["hostname"]
                endpoints.append(ep)
            wanted.append({"endpoints": endpoints,
                           "ports": [{"name": n, "port": p, "protocol": proto}
                                     for n, p, proto in ports]})
        if not wanted:
            wanted.append({"endpoints": [], "ports": None})
        labels = {**labels_of(svc), SERVICE_NAME: name, MANAGED_BY: SLICE_CONTROLLER}
        for i, want in enumerate(wanted):
            if i < len(existing):
                cur = dict(existing[i])
                if (cur.get("endpoints") == want["endpoints"] and cur.get("ports") == want["ports"]
                        and labels_of(cur) == labels):
                    continue
                cur = copy.deepcopy(self.listers.get("endpointslices", ns,
                                                     cur["metadata"]["name"])) or cur
                cur["endpoints"], cur["ports"] = want["endpoints"], want["ports"]
                cur["metadata"]["labels"] = labels
                await self.api.update(cur, field_manager="endpointslice-controller")
            else:
                body = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                        "metadata": {"generateName": f"{name}-", "namespace": ns,
                                     "labels": labels, "ownerReferences": [owner_ref(svc)]},
                        "addressType": "IPv4", **want}
                try:
                    await self.api.create(body, ns, field_manager="endpointslice-controller")
                except ApiError as exc:
                    if exc.code != 403:
                        raise
        for extra in existing[len(wanted):]:
            await self._delete("endpointslices", ns, extra["metadata"]["name"])

    async def _forget(self, ns: str, name: str) -> None:
        await self._delete("endpoints", ns, name)
        for s in self._slices(ns, name):
            await self._delete("endpointslices", ns, s["metadata"]["name"])

    def _slices(self, ns: str, name: str) -> list[dict[str, Any]]:
        """The EndpointSlices this controller keeps for the Service `name`."""
        return self.listers.list("endpointslices", ns, {"matchLabels": {
            SERVICE_NAME: name, MANAGED_BY: SLICE_CONTROLLER}})

    async def _delete(self, res: str, ns: str, name: str) -> None:
        try:
            await self.api.delete(res, ns, name)
        except ApiError as exc:
            if exc.code != 404:
                raise
