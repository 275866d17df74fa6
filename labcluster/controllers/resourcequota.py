"""ResourceQuota status: `used` recounted from the namespace's pods, Services and claims
whenever one of them changes, so `kubectl describe quota` shows what admission counts
(admission itself counts live objects, quota.py)."""

from __future__ import annotations

from typing import Any

from .. import quota
from .base import Controller, Key


class ResourceQuotaController(Controller):
    name = "resourcequota-controller"
    primary = "resourcequotas"
    watches = ("pods", "services", "persistentvolumeclaims")

    def keys_for(self, res: str, etype: str, obj: dict[str, Any]) -> list[Key]:
        if res == self.primary:
            return super().keys_for(res, etype, obj)
        ns = obj["metadata"].get("namespace", "")
        return [(ns, q["metadata"]["name"]) for q in self.listers.list("resourcequotas", ns)]

    async def reconcile(self, namespace: str, name: str) -> None:
        current = self.current(namespace, name)
        if current is None:
            return
        status = quota.quota_status(self.api.store, current)
        if current.get("status") != status:
            current["status"] = status
            await self.api.update_status(current, field_manager="resourcequota-controller")
