"""Discovery documents (/version, /api, /apis, resource lists) built from the registry.

The dynamic client and kubectl read these to map kinds to URLs, so the shapes follow
the real server's legacy (non-aggregated) discovery exactly.
"""

from __future__ import annotations

import platform
import sys
from typing import Any

from .registry import Registry

GIT_VERSION = "v1.32.0+labcluster"


def version() -> dict[str, str]:
    return {
        "major": "1", "minor": "32", "gitVersion": GIT_VERSION,
        "gitCommit": "labcluster", "gitTreeState": "clean", "buildDate": "2024-12-11T00:00:00Z",
        "goVersion": f"python{sys.version_info.major}.{sys.version_info.minor}",
        "compiler": "cpython", "platform": f"{platform.system().lower()}/{platform.machine()}",
    }


def api_versions(server_address: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
        {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list(reg: Registry) -> dict[str, Any]:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(g, vs) for g, vs in reg.groups().items() if g]}


def api_group(reg: Registry, group: str) -> dict[str, Any] | None:
    versions = reg.groups().get(group)
    if not versions or not group:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(group, versions)}


def resource_list(reg: Registry, group: str, version: str) -> dict[str, Any] | None:
    entries: list[dict[str, Any]] = []
    for r in reg.resources:
        if r.group != group or r.version != version:
            continue
        entry: dict[str, Any] = {"name": r.plural, "singularName": r.singular,
                                 "namespaced": r.namespaced, "kind": r.kind,
                                 "verbs": list(r.verbs)}
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        entries.append(entry)
        for s in r.subresources:
            sub: dict[str, Any] = {"name": f"{r.plural}/{s.name}", "singularName": "",
                                   "namespaced": r.namespaced, "kind": s.kind,
                                   "verbs": list(s.verbs)}
            if s.group:
                sub["group"], sub["version"] = s.group, s.version
            entries.append(sub)
    if not entries:
        return None
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": entries}
