"""ServiceAccount admission, the root CA publisher and the `kubernetes` Service: what lets
a pod reach the API server as its ServiceAccount (a classroom learner's notebook pod).

Admission is upstream's `ServiceAccount` plugin (plugin/pkg/admission/serviceaccount):
a pod without `serviceAccountName` gets `default` (defaults.py sets it, as the plugin
does before anything else reads it); the ServiceAccount must exist, else the pod is
refused with the plugin's words (`error looking up service account NS/NAME: serviceaccount
"NAME" not found`); unless `automountServiceAccountToken` is false (the pod's wins over the
ServiceAccount's), the pod gets the projected volume `kube-api-access-<5 random>` — a bound
token (expirationSeconds 3607, path `token`), `ca.crt` from the `kube-root-ca.crt`
ConfigMap and `namespace` from the downward API — mounted read-only at
/var/run/secrets/kubernetes.io/serviceaccount in each container and init container that
does not mount something there already. Mirror pods are left alone, as upstream.

`kube-root-ca.crt` is what kube-controller-manager's root-ca-cert-publisher puts in every
namespace: the CA that signs the API server's serving certificate (tls.py). The
`kubernetes` Service in `default` (port 443 `https`, the first address of the service range)
and its Endpoints (the API server's own address) are what kube-apiserver keeps itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from .errors import ApiError, forbidden
from .meta import random_suffix

if TYPE_CHECKING:
    from .listers import Listers

SA_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
VOLUME_PREFIX = "kube-api-access-"
TOKEN_SECONDS = 3607  # serviceaccount.WarnOnlyBoundTokenExpirationSeconds
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
DESCRIPTION_ANNOTATION = "kubernetes.io/description"
ROOT_CA_DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
    "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
    "guaranteed across distributions of Kubernetes clusters.")
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


def token_volume_source() -> dict[str, Any]:
    """Upstream's TokenVolumeSource(), with the defaultMode it sets explicitly (420)."""
    return {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": TOKEN_SECONDS, "path": "token"}},
        {"configMap": {"name": ROOT_CA_CONFIGMAP, "items": [{"key": "ca.crt",
                                                             "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
            "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}


def is_token_volume(volume: dict[str, Any]) -> bool:
    """A projected volume holding a serviceAccountToken (the kubelet issues its token)."""
    return any("serviceAccountToken" in s
               for s in (volume.get("projected") or {}).get("sources") or [])


def _automount(pod_spec: dict[str, Any], sa: dict[str, Any]) -> bool:
    if pod_spec.get("automountServiceAccountToken") is not None:
        return bool(pod_spec["automountServiceAccountToken"])
    if sa.get("automountServiceAccountToken") is not None:
        return bool(sa["automountServiceAccountToken"])
    return True


def admit_pod(pod: dict[str, Any], service_account: dict[str, Any] | None) -> None:
    """Mutate and check a new pod (in place); ApiError 403 when its ServiceAccount is missing.
    `service_account` is the stored ServiceAccount the pod names, or None."""
    meta, spec = pod["metadata"], pod.setdefault("spec", {})
    if MIRROR_ANNOTATION in (meta.get("annotations") or {}):
        return
    name = spec.get("serviceAccountName") or "default"
    spec["serviceAccountName"] = name
    spec.setdefault("serviceAccount", name)
    ns = meta.get("namespace", "")
    if service_account is None:
        raise forbidden("pods", "", meta.get("name", ""),
                        f"error looking up service account {ns}/{name}: "
                        f'serviceaccount "{name}" not found')
    if not _automount(spec, service_account):
        return
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    needing = [c for c in containers
               if not any(m.get("mountPath") == SA_MOUNT_PATH
                          for m in c.get("volumeMounts") or [])]
    if not needing:
        return
    volumes = spec.setdefault("volumes", [])
    taken = {v.get("name") for v in volumes}
    volume_name = VOLUME_PREFIX + random_suffix()
    while volume_name in taken:
        volume_name = VOLUME_PREFIX + random_suffix()
    volumes.append({"name": volume_name, "projected": token_volume_source()})
    for c in needing:
        c.setdefault("volumeMounts", []).append(
            {"name": volume_name, "readOnly": True, "mountPath": SA_MOUNT_PATH})


def root_ca_configmap(namespace: str, ca_pem: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": ROOT_CA_CONFIGMAP, "namespace": namespace,
                         "annotations": {DESCRIPTION_ANNOTATION: ROOT_CA_DESCRIPTION}},
            "data": {"ca.crt": ca_pem}}


class RootCaWriter(Protocol):
    """What the publisher uses of ClusterApi (which imports this module, so it is named by
    what it offers rather than imported)."""

    root_ca: str | None
    listers: Listers

    async def create(self, obj: dict[str, Any], namespace: str | None = None, *,
                     field_manager: str | None = None, _trusted: bool = False,
                     ) -> dict[str, Any]: ...

    async def update(self, obj: dict[str, Any], namespace: str | None = None,
                     name: str | None = None, *, field_manager: str | None = None,
                     ) -> dict[str, Any]: ...


async def publish_root_ca(api: RootCaWriter, namespace: str) -> None:
    """root-ca-cert-publisher's syncNamespace for one namespace: its kube-root-ca.crt holds
    exactly `{"ca.crt": <the CA>}` and the description annotation — created when missing,
    written back when its data or that annotation were changed (other annotations, labels
    and binaryData are left as they are, as upstream). Used when a namespace is created
    (ClusterApi), at each start (the CA may be new) and by the publisher controller
    (controllers/rootca.py) when the ConfigMap is deleted or edited. Nothing before the CA
    is known; a namespace that is gone or terminating is left alone, as upstream does not
    retry those creates."""
    ca = api.root_ca
    if ca is None:
        return
    wanted = root_ca_configmap(namespace, ca)
    current = api.listers.get("configmaps", namespace, ROOT_CA_CONFIGMAP)
    try:
        if current is None:
            await api.create(wanted, field_manager="kube-controller-manager", _trusted=True)
            return
        annotations = current["metadata"].get("annotations") or {}
        if current.get("data") == wanted["data"] and annotations.get(DESCRIPTION_ANNOTATION):
            return
        meta = {**current["metadata"],
                "annotations": {**annotations, DESCRIPTION_ANNOTATION: ROOT_CA_DESCRIPTION}}
        await api.update({**current, "metadata": meta, "data": wanted["data"]},
                         field_manager="kube-controller-manager")
    except ApiError as exc:
        # raced with another writer (its event brings the publisher back), or the
        # namespace is terminating (Forbidden) or gone
        if not is_conflict(exc) and exc.reason not in ("Forbidden", "NotFound"):
            raise


def kubernetes_service(cluster_ip: str | None) -> dict[str, Any]:
    """The Service kube-apiserver keeps in `default` (no selector: its Endpoints are the
    API server's own address)."""
    spec: dict[str, Any] = {"type": "ClusterIP", "sessionAffinity": "None", "ports": [
        {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 443}]}
    if cluster_ip:
        spec["clusterIP"] = cluster_ip
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": spec}


def kubernetes_endpoints(host: str, port: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": host}],
                         "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]}


def is_conflict(exc: ApiError) -> bool:
    return exc.reason in ("AlreadyExists", "Conflict")
