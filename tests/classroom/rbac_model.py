"""Kubernetes RBAC, evaluated statically: request paths → request attributes (what the
API server's RequestInfoFactory derives), and the RBAC authorizer's rule matching.

Why a model: labcluster enforces no RBAC, so the classroom Role is checked by evaluating
its rules against the requests the lab really makes (recorded on labcluster). The parts
follow k8s.io/apiserver's request info and the rbac authorizer's `RuleAllows`:
- `/api/v1/namespaces/{ns}` is the Namespace object *in* namespace ns (so a Role there can
  grant `get` on its own namespace);
- verbs: GET → get / list (no name) / watch (`watch=true`), POST → create, PUT → update,
  PATCH → patch, DELETE → delete / deletecollection (no name);
- websocket GETs on pods/exec, pods/attach, pods/portforward also need `create` (Kubernetes
  1.31+ authorizes the upgrade as create);
- non-resource URLs (/version, /api, /apis, discovery) are granted to every authenticated
  user by the default `system:discovery` / `system:public-info-viewer` roles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

#: Subresources a websocket GET reaches; the API server also requires `create` on them.
WEBSOCKET_SUBRESOURCES = frozenset({"exec", "attach", "portforward"})


@dataclass(frozen=True)
class Request:
    """The attributes the RBAC authorizer sees for one request."""

    verb: str
    api_group: str
    resource: str
    subresource: str
    name: str
    namespace: str  # "" for cluster-scoped
    path: str
    non_resource: bool = False

    @property
    def resource_ref(self) -> str:
        return self.resource + (f"/{self.subresource}" if self.subresource else "")

    def elsewhere(self, namespace: str) -> Request:
        """The same request aimed at another namespace (cluster-scoped ones unchanged)."""
        if not self.namespace:
            return self
        name = namespace if self.resource == "namespaces" else self.name
        path = self.path.replace(f"/namespaces/{self.namespace}", f"/namespaces/{namespace}", 1)
        return Request(self.verb, self.api_group, self.resource, self.subresource, name,
                       namespace, path)


def parse(method: str, url: str) -> Request:
    """Request attributes from an HTTP method and URL (absolute or a path)."""
    split = urlsplit(url)
    path, query = split.path, parse_qs(split.query)
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] not in ("api", "apis"):
        return Request(method.lower(), "", "", "", "", "", path, non_resource=True)
    if parts[0] == "api":
        group, rest = "", parts[2:]
    else:
        if len(parts) < 3:
            return Request(method.lower(), "", "", "", "", "", path, non_resource=True)
        group, rest = parts[1], parts[3:]
    if not rest:  # /api/v1, /apis/apps/v1: discovery
        return Request(method.lower(), "", "", "", "", "", path, non_resource=True)
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in ("status", "finalize"):
            rest = rest[2:]
        # else: the Namespace object itself, resource "namespaces", name = namespace
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    verb = _verb(method.upper(), bool(name), query)
    return Request(verb, group, resource, subresource, name, namespace, path)


def _verb(method: str, named: bool, query: dict[str, list[str]]) -> str:
    if method == "GET":
        if query.get("watch", ["false"])[0] in ("true", "1"):
            return "watch"
        return "get" if named else "list"
    return {"POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete" if named else "deletecollection"}.get(method, method.lower())


def required_verbs(req: Request) -> set[str]:
    """Every verb the API server checks for this request."""
    verbs = {req.verb}
    if req.resource == "pods" and req.subresource in WEBSOCKET_SUBRESOURCES:
        verbs.add("create")
    return verbs


def _matches(values: list[str], value: str) -> bool:
    return "*" in values or value in values


def rule_allows(rule: dict[str, Any], req: Request, verb: str) -> bool:
    """RBAC's RuleAllows for one verb (resourceNames honoured; `*` wildcards)."""
    if not _matches(rule.get("verbs") or [], verb):
        return False
    if req.non_resource:
        return any(u == req.path or (u.endswith("*") and req.path.startswith(u[:-1]))
                   for u in rule.get("nonResourceURLs") or [])
    if not _matches(rule.get("apiGroups") or [], req.api_group):
        return False
    if not _matches(rule.get("resources") or [], req.resource_ref):
        return False
    names = rule.get("resourceNames") or []
    return not names or req.name in names


def allowed_by(rules: list[dict[str, Any]], req: Request) -> bool:
    return all(any(rule_allows(r, req, v) for r in rules) for v in required_verbs(req))


@dataclass
class Grants:
    """What one subject holds: Roles per namespace (through RoleBindings) and ClusterRoles
    bound cluster-wide (through ClusterRoleBindings)."""

    namespaced: dict[str, list[dict[str, Any]]]
    cluster: list[dict[str, Any]]

    def allows(self, req: Request) -> bool:
        if req.non_resource:
            return True  # system:discovery / system:public-info-viewer
        if allowed_by(self.cluster, req):
            return True
        return bool(req.namespace) and allowed_by(self.namespaced.get(req.namespace, []), req)

    def allows_only_by_cluster_role(self, req: Request) -> bool:
        return allowed_by(self.cluster, req)


def grants_for(objects: list[dict[str, Any]], sa_namespace: str, sa_name: str) -> Grants:
    """Resolve bindings to a ServiceAccount in a set of RBAC objects (as applied)."""
    roles = {(o["metadata"]["namespace"], o["metadata"]["name"]): o.get("rules") or []
             for o in objects if o["kind"] == "Role"}
    cluster_roles = {o["metadata"]["name"]: o.get("rules") or []
                     for o in objects if o["kind"] == "ClusterRole"}

    def binds_us(binding: dict[str, Any]) -> bool:
        return any(s.get("kind") == "ServiceAccount" and s.get("name") == sa_name
                   and s.get("namespace", binding["metadata"].get("namespace")) == sa_namespace
                   for s in binding.get("subjects") or [])

    namespaced: dict[str, list[dict[str, Any]]] = {}
    cluster: list[dict[str, Any]] = []
    for b in objects:
        if b["kind"] not in ("RoleBinding", "ClusterRoleBinding") or not binds_us(b):
            continue
        ref = b["roleRef"]
        rules = (roles.get((b["metadata"].get("namespace"), ref["name"]), [])
                 if ref["kind"] == "Role" else cluster_roles.get(ref["name"], []))
        if b["kind"] == "ClusterRoleBinding":
            cluster += rules
        else:
            namespaced.setdefault(b["metadata"]["namespace"], []).extend(rules)
    return Grants(namespaced, cluster)
