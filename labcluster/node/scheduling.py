"""The node object, the scheduler and the PVC binder of a one-node cluster.

One machine is one node, so scheduling is admission: a pod binds when its PVCs are
Bound, its nodeSelector matches and its requests fit into allocatable minus what the
pods already bound ask for — the scheduler's NodeResourcesFit, with its messages.
"""

from __future__ import annotations

import contextlib
import copy
import platform
import shutil
import socket
from pathlib import Path
from typing import Any

from labcluster import home as homedir
from labcluster.api import ClusterApi
from labcluster.errors import ApiError
from labcluster.meta import now
from labcluster.node import metrics
from labcluster.node.podspec import requests_of

NODE_NAME = "labcluster"
DEFAULT_CLASS = "standard"
PROVISIONER = "labcluster.io/host-dir"
SCHEDULER = "default-scheduler"


def node_object(home: Path) -> dict[str, Any]:
    cap, alloc = metrics.capacity(), metrics.allocatable()
    stamp = now()
    conds = [("MemoryPressure", "False", "KubeletHasSufficientMemory"),
             ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
             ("PIDPressure", "False", "KubeletHasSufficientPID"),
             ("Ready", "True", "KubeletReady")]
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": NODE_NAME, "labels": {
            "kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux",
            "kubernetes.io/arch": {"x86_64": "amd64", "aarch64": "arm64"}.get(
                platform.machine(), platform.machine()),
            "node-role.kubernetes.io/control-plane": ""},
            "annotations": stand_in_annotations()},
        "spec": {},
        "status": {
            "capacity": {**cap.as_quantities(), "ephemeral-storage": _disk(home)},
            "allocatable": {**alloc.as_quantities(), "ephemeral-storage": _disk(home)},
            "conditions": [{"type": t, "status": s, "reason": r, "lastHeartbeatTime": stamp,
                            "lastTransitionTime": stamp,
                            "message": "kubelet is posting ready status" if t == "Ready"
                            else f"kubelet has {r[10:]}"} for t, s, r in conds],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                          {"type": "Hostname", "address": socket.gethostname()}],
            "nodeInfo": {"kubeletVersion": "v1.32.0+labcluster", "operatingSystem": "linux",
                         "architecture": platform.machine(), "osImage": platform.platform(),
                         "kernelVersion": platform.release(),
                         "containerRuntimeVersion": "labcluster://processes",
                         "kubeProxyVersion": "v1.32.0+labcluster", "machineID": "",
                         "systemUUID": "", "bootID": ""},
        },
    }


#: Node annotation naming what runs as a stand-in for an image here (read by preflight).
STAND_INS = "labcluster.io/stand-ins"


def stand_in_annotations() -> dict[str, str]:
    """``{STAND_INS: ...}`` when an image runs a stand-in (nginx without nginx), else {}."""
    from labcluster.node.handlers.nginx import STAND_IN_DIFFERS, nginx_binary

    if nginx_binary():
        return {}
    return {STAND_INS: f"nginx:* runs labcluster's built-in minginx: {STAND_IN_DIFFERS}"}


def _disk(home: Path) -> str:
    return f"{shutil.disk_usage(home).total // 1024}Ki"


async def register_node(api: ClusterApi, home: Path) -> None:
    """Create or refresh the Node (capacity may differ from the last run)."""
    body = node_object(home)
    try:
        current = await api.get("nodes", None, NODE_NAME)
    except ApiError:
        created = await api.create({k: v for k, v in body.items() if k != "status"},
                                   _trusted=True, field_manager="kubelet")
        created["status"] = body["status"]
        await api.update_status(created, field_manager="kubelet")
        return
    annotations = {k: v for k, v in (current["metadata"].get("annotations") or {}).items()
                   if k != STAND_INS}
    annotations.update(body["metadata"]["annotations"])
    if annotations != (current["metadata"].get("annotations") or {}):
        current["metadata"]["annotations"] = annotations
        current = await api.update(current, field_manager="kubelet")
    current["status"] = body["status"]
    await api.update_status(current, field_manager="kubelet")


async def ensure_default_class(api: ClusterApi) -> bool:
    """A default StorageClass object when the API serves the resource."""
    try:
        api.resource("storageclasses.storage.k8s.io")
    except ApiError:
        return False
    try:
        await api.create({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                          "metadata": {"name": DEFAULT_CLASS, "annotations": {
                              "storageclass.kubernetes.io/is-default-class": "true"}},
                          "provisioner": PROVISIONER, "reclaimPolicy": "Delete",
                          "volumeBindingMode": "Immediate"}, _trusted=True,
                         field_manager="kube-controller-manager")
    except ApiError as exc:
        if exc.reason != "AlreadyExists":
            raise
    return True


class Binder:
    """PVCs → a host directory each (dynamic provisioning by the `standard` class)."""

    def __init__(self, api: ClusterApi, root: Path) -> None:
        self.api = api
        self.root = root

    def known_classes(self) -> set[str]:
        classes = {DEFAULT_CLASS}
        with contextlib.suppress(Exception):  # the resource may not be served
            classes |= {o["metadata"]["name"] for o in
                        self.api.listers.list("storageclasses")}
        return classes

    def path(self, ns: str, name: str, pv_name: str) -> Path:
        """A directory per volume, not per claim name: a claim deleted and created again
        under its name (a namespace torn down and re-made, as break & fix does) gets a new
        volume while the old one is still being stopped and reclaimed, as
        local-path-provisioner's ``pvc-<uid>_<ns>_<name>``."""
        return self.root / ns / f"{name}_{pv_name}"

    def bound_path(self, ns: str, name: str) -> Path | None:
        """The bound volume's directory, as its PersistentVolume records it."""
        pvc = self.api.listers.get("persistentvolumeclaims", ns, name)
        if pvc is None or (pvc.get("status") or {}).get("phase") != "Bound":
            return None
        pv = self.api.listers.get("persistentvolumes", None,
                                  (pvc.get("spec") or {}).get("volumeName") or "")
        host = ((pv or {}).get("spec") or {}).get("hostPath") or {}
        return Path(host["path"]) if host.get("path") else None

    async def reconcile(self, ns: str, name: str) -> bool:
        """True when the claim became Bound now."""
        await self._reclaim(ns, name)  # earlier claims of this name (none usually)
        pvc = copy.deepcopy(self.api.listers.get("persistentvolumeclaims", ns, name))
        if pvc is None:
            return False
        status = pvc.get("status") or {}
        if status.get("phase") == "Bound" or pvc["metadata"].get("deletionTimestamp"):
            return False
        cls = (pvc.get("spec") or {}).get("storageClassName")
        if cls and cls not in self.known_classes():
            if status.get("phase") != "Pending":
                pvc["status"] = {"phase": "Pending"}
                await self.api.update_status(pvc, field_manager="persistentvolume-controller")
            await self.api.record_event(pvc, "ProvisioningFailed",
                                        f'storageclass.storage.k8s.io "{cls}" not found',
                                        "Warning", "persistentvolume-controller")
            return False
        pv_name = f"pvc-{pvc['metadata']['uid']}"
        path = self.path(ns, name, pv_name)
        path.mkdir(parents=True, exist_ok=True)
        for p in (path.parent, self.root):
            p.chmod(homedir.dir_mode())  # as root pods (never root) traverse to their data
        path.chmod(0o777)  # as local-path/hostpath provisioners make it: any pod uid writes
        spec = pvc.get("spec") or {}
        size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        await self._create_pv(pvc, pv_name, path, cls or DEFAULT_CLASS, size)
        pvc["spec"]["volumeName"] = pv_name
        pvc["metadata"].setdefault("annotations", {}).update({
            "pv.kubernetes.io/bind-completed": "yes",
            "pv.kubernetes.io/bound-by-controller": "yes",
            "volume.kubernetes.io/storage-provisioner": PROVISIONER})
        pvc["metadata"].pop("resourceVersion", None)
        pvc = await self.api.update(pvc, field_manager="persistentvolume-controller")
        pvc["status"] = {"phase": "Bound", "accessModes": spec.get("accessModes", []),
                         "capacity": {"storage": size}}
        await self.api.update_status(pvc, field_manager="persistentvolume-controller")
        await self.api.record_event(pvc, "ProvisioningSucceeded",
                                    f"Successfully provisioned volume {pv_name}", "Normal",
                                    "persistentvolume-controller")
        return True

    async def _create_pv(self, pvc: dict[str, Any], pv_name: str, path: Path, cls: str,
                         size: str) -> None:
        meta = pvc["metadata"]
        body = {"apiVersion": "v1", "kind": "PersistentVolume",
                "metadata": {"name": pv_name, "annotations": {
                    "pv.kubernetes.io/provisioned-by": PROVISIONER}},
                "spec": {"capacity": {"storage": size},
                         "accessModes": (pvc.get("spec") or {}).get("accessModes", []),
                         "persistentVolumeReclaimPolicy": "Delete",
                         "storageClassName": cls, "volumeMode": "Filesystem",
                         "hostPath": {"path": str(path), "type": ""},
                         "claimRef": {"kind": "PersistentVolumeClaim", "apiVersion": "v1",
                                      "namespace": meta["namespace"], "name": meta["name"],
                                      "uid": meta["uid"]}}}
        try:
            pv = await self.api.create(body, _trusted=True,
                                       field_manager="persistentvolume-controller")
        except ApiError as exc:
            if exc.reason != "AlreadyExists":
                raise
            return
        pv["status"] = {"phase": "Bound"}
        await self.api.update_status(pv, field_manager="persistentvolume-controller")

    async def _reclaim(self, ns: str, name: str) -> None:
        """reclaimPolicy Delete: the claim is gone, so are its volumes and directories —
        only those of claims of that name that are gone (by uid: a new claim of the same
        name may already be bound and in use), and only directories under our root."""
        live = self.api.listers.get("persistentvolumeclaims", ns, name)
        live_uid = live["metadata"]["uid"] if live else None
        for pv in self.api.listers.list("persistentvolumes"):
            spec = pv.get("spec") or {}
            ref = spec.get("claimRef") or {}
            if (ref.get("namespace"), ref.get("name")) != (ns, name) or \
                    ref.get("uid") == live_uid:
                continue
            with contextlib.suppress(ApiError):
                await self.api.delete("persistentvolumes", None, pv["metadata"]["name"])
            folder = Path((spec.get("hostPath") or {}).get("path") or "")
            if folder.is_relative_to(self.root) and folder != self.root:
                shutil.rmtree(folder, ignore_errors=True)


def _matches_node(pod: dict[str, Any], labels: dict[str, str]) -> bool:
    sel = (pod.get("spec") or {}).get("nodeSelector") or {}
    return all(labels.get(k) == v for k, v in sel.items())


def _tolerates_unschedulable(pod: dict[str, Any]) -> bool:
    """A toleration of node.kubernetes.io/unschedulable:NoSchedule (DaemonSets carry it)."""
    for t in (pod.get("spec") or {}).get("tolerations") or []:
        key_ok = t.get("key") in (None, "", "node.kubernetes.io/unschedulable") and (
            t.get("key") or t.get("operator") == "Exists")
        if key_ok and t.get("effect") in (None, "", "NoSchedule"):
            return True
    return False


async def schedule(api: ClusterApi, pod: dict[str, Any]) -> str | None:
    """Bind `pod` to the node, or record why not; returns the failure message or None."""
    ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    spec = pod.get("spec") or {}
    reason = None
    for v in spec.get("volumes") or []:
        claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
        if not claim:
            continue
        pvc = api.listers.get("persistentvolumeclaims", ns, claim)
        if pvc is None:
            reason = f'0/1 nodes are available: persistentvolumeclaim "{claim}" not found.'
            break
        if (pvc.get("status") or {}).get("phase") != "Bound":
            reason = ("0/1 nodes are available: pod has unbound immediate "
                      "PersistentVolumeClaims. preemption: 0/1 nodes are available: "
                      "1 Preemption is not helpful for scheduling.")
            break
    node = api.listers.get("nodes", "", NODE_NAME)
    if reason is None and node is not None and not _matches_node(
            pod, node["metadata"].get("labels") or {}):
        reason = ("0/1 nodes are available: 1 node(s) didn't match Pod's node "
                  "affinity/selector.")
    if reason is None and node is not None and (node.get("spec") or {}).get(
            "unschedulable") and not _tolerates_unschedulable(pod):
        # `kubectl cordon` (the NodeUnschedulable plugin)
        reason = ("0/1 nodes are available: 1 node(s) were unschedulable. preemption: 0/1 "
                  "nodes are available: 1 Preemption is not helpful for scheduling.")
    if reason is None:
        cpu, mem = requests_of(pod)
        used_cpu = used_mem = 0
        for other in api.listers.list("pods"):
            ospec = other.get("spec") or {}
            if ospec.get("nodeName") == NODE_NAME and (other.get("status") or {}).get(
                    "phase") not in ("Succeeded", "Failed"):
                c, m = requests_of(other)
                used_cpu, used_mem = used_cpu + c, used_mem + m
        alloc = metrics.allocatable()
        short = []
        if used_cpu + cpu > alloc.cpu_millicores:
            short.append("1 Insufficient cpu")
        if used_mem + mem > alloc.memory_bytes:
            short.append("1 Insufficient memory")
        if short:
            reason = (f"0/1 nodes are available: {', '.join(short)}. preemption: 0/1 nodes are "
                      "available: 1 No preemption victims found for incoming pod.")
    if reason is not None:
        conds = (pod.get("status") or {}).get("conditions") or []
        if not any(c.get("type") == "PodScheduled" and c.get("message") == reason
                   for c in conds):
            pod.setdefault("status", {})["phase"] = "Pending"
            pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "False",
                                            "reason": "Unschedulable", "message": reason,
                                            "lastProbeTime": None,
                                            "lastTransitionTime": now()}]
            pod["metadata"].pop("resourceVersion", None)
            await api.update_status(pod, field_manager=SCHEDULER)
            await api.record_event(pod, "FailedScheduling", reason, "Warning", SCHEDULER)
        return reason
    pod["spec"]["nodeName"] = NODE_NAME
    pod["metadata"].pop("resourceVersion", None)
    bound = await api.update(pod, ns, name, resource="pods", field_manager=SCHEDULER)
    await api.record_event(bound, "Scheduled", f"Successfully assigned {ns}/{name} to "
                           f"{NODE_NAME}", "Normal", SCHEDULER)
    return None
