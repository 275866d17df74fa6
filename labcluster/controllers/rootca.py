"""root-ca-cert-publisher: every namespace's `kube-root-ca.crt` ConfigMap stays there and
stays true.

Pods read the API server's CA from it (the projected `kube-api-access-*` volume,
serviceaccount.py), so a learner who deletes or edits it would break every new pod of the
namespace. As kube-controller-manager's publisher (pkg/controller/certificates/
rootcacertpublisher), the key is a namespace: it is queued when a namespace is added or
updated while Active, and when a ConfigMap named kube-root-ca.crt is updated or deleted;
the sync (serviceaccount.publish_root_ca, the same function that publishes it when a
namespace is created and at each start) creates it again, or writes back its data and
description annotation.
"""

from __future__ import annotations

from typing import Any

from ..serviceaccount import ROOT_CA_CONFIGMAP, publish_root_ca
from .base import Controller, Key


class RootCACertPublisher(Controller):
    name = "root-ca-cert-publisher"
    primary = "namespaces"
    watches = ("configmaps",)

    def keys_for(self, res: str, etype: str, obj: dict[str, Any]) -> list[Key]:
        meta = obj["metadata"]
        if res == "configmaps":
            if meta["name"] == ROOT_CA_CONFIGMAP and etype in ("MODIFIED", "DELETED"):
                return [("", meta["namespace"])]
            return []
        if etype == "ADDED" or (etype == "MODIFIED" and (obj.get("status") or {}).get(
                "phase") == "Active"):
            return [("", meta["name"])]
        return []

    async def reconcile(self, namespace: str, name: str) -> None:
        ns = self.listers.get("namespaces", "", name)
        if ns is None or (ns.get("status") or {}).get("phase") == "Terminating":
            return  # its ConfigMaps are going too: nothing to publish into
        await publish_root_ca(self.api, name)
