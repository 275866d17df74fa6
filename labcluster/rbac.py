"""RBAC as the API server's authorizer does it: Roles, ClusterRoles and their bindings.

A classroom gives each learner a ServiceAccount bound to a few roles in their own
namespaces (manifests/classroom); that isolation is only real if the server refuses what the
roles do not allow. ``RBACAuthorizer`` answers every request and every access review from
the stored bindings with upstream's rule semantics (k8s.io/kubernetes/pkg/apis/rbac/v1
evaluation helpers and plugin/pkg/auth/authorizer/rbac):

- a rule matches a verb, an API group, a resource — ``pods``, ``pods/exec``, ``*``, or
  ``*/scale`` for any resource's subresource — and, when it lists any, a resource name;
  non-resource rules match a path exactly or by a trailing ``*``;
- ClusterRoleBindings grant everywhere; a RoleBinding grants in its own namespace, also
  when it refers to a ClusterRole;
- subjects are users, groups, and ServiceAccounts (``system:serviceaccount:NS:NAME``).

There is no deny: anything not granted is refused, with upstream's message (``forbidden``).
Aggregated ClusterRoles (admin/edit/view's ``aggregationRule``) are not computed: the
bootstrap roles below carry their rules written out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from labcluster.authz import AUTHN, AUTHZ, Attributes, Decision, UserInfo
from labcluster.errors import ApiError
from labcluster.registry import RBAC as GROUP

#: store reads the authorizer needs: (store key, namespace or None for all) → objects
Reader = Callable[[str, "str | None"], Iterable[dict[str, Any]]]


# ------------------------------------------------------------------ rule matching
def _verb(rule: dict[str, Any], verb: str) -> bool:
    verbs = rule.get("verbs") or []
    return "*" in verbs or verb in verbs


def _resource(rule: dict[str, Any], attrs: Attributes) -> bool:
    groups = rule.get("apiGroups") or []
    if "*" not in groups and attrs.group not in groups:
        return False
    wanted = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
    for res in rule.get("resources") or []:
        if res == "*" or res == wanted:
            break
        if attrs.subresource and res == f"*/{attrs.subresource}":
            break
    else:
        return False
    names = rule.get("resourceNames") or []
    return not names or attrs.name in names


def _path(rule: dict[str, Any], path: str) -> bool:
    for url in rule.get("nonResourceURLs") or []:
        if url == "*" or url == path or (url.endswith("*") and path.startswith(url[:-1])):
            return True
    return False


def rule_allows(rule: dict[str, Any], attrs: Attributes) -> bool:
    if not _verb(rule, attrs.verb):
        return False
    if attrs.resource_request:
        return _resource(rule, attrs)
    return _path(rule, attrs.path)


def _subject_matches(subject: dict[str, Any], user: UserInfo, binding_ns: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name", "")
    if kind == "User":
        return name == user.username
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_ns
        return user.username == f"system:serviceaccount:{ns}:{name}"
    return False


def _describe(subject: dict[str, Any], binding_ns: str) -> str:
    if subject.get("kind") == "ServiceAccount":
        return f'ServiceAccount "{subject.get("name")}/{subject.get("namespace") or binding_ns}"'
    return f'{subject.get("kind")} "{subject.get("name")}"'


class RBACAuthorizer:
    """Reads bindings and roles through ``read`` (the store's in-memory mirror), so a change
    to a binding counts from the next request, as with the API server's informers."""

    def __init__(self, read: Reader) -> None:
        self.read = read

    def _role_rules(self, ref: dict[str, Any], ns: str) -> list[dict[str, Any]]:
        kind, name = ref.get("kind"), ref.get("name", "")
        if kind == "ClusterRole":
            found = [r for r in self.read(f"{GROUP}/clusterroles", None)
                     if r["metadata"]["name"] == name]
        elif kind == "Role":
            found = [r for r in self.read(f"{GROUP}/roles", ns)
                     if r["metadata"]["name"] == name]
        else:
            found = []
        return list(found[0].get("rules") or []) if found else []

    def _bindings(self, user: UserInfo, ns: str) -> Iterator[tuple[dict[str, Any], str, str]]:
        """(binding, its namespace, the matched subject's description) that apply to
        ``user`` for a request in ``ns`` ("" = cluster scope): cluster bindings first."""
        for b in self.read(f"{GROUP}/clusterrolebindings", None):
            for s in b.get("subjects") or []:
                if _subject_matches(s, user, ""):
                    yield b, "", _describe(s, "")
                    break
        if not ns:
            return
        for b in self.read(f"{GROUP}/rolebindings", ns):
            for s in b.get("subjects") or []:
                if _subject_matches(s, user, ns):
                    yield b, ns, _describe(s, ns)
                    break

    def authorize(self, attrs: Attributes) -> Decision:
        ns = attrs.namespace if attrs.resource_request else ""
        for binding, bns, who in self._bindings(attrs.user, ns):
            ref = binding.get("roleRef") or {}
            if any(rule_allows(rule, attrs) for rule in self._role_rules(ref, bns)):
                name = binding["metadata"]["name"]
                what = (f'RoleBinding "{name}/{bns}"' if bns
                        else f'ClusterRoleBinding "{name}"')
                role = ref.get("name")
                role = f'{ref.get("kind")} "{role}"' if ref.get("kind") == "ClusterRole" \
                    else f'Role "{role}"'
                return Decision(True, f"RBAC: allowed by {what} of {role} to {who}")
        return Decision(False)

    def rules_for(self, user: UserInfo, namespace: str) -> dict[str, Any]:
        """SelfSubjectRulesReview: every rule bound to ``user`` in ``namespace``."""
        resource_rules: list[dict[str, Any]] = []
        non_resource: list[dict[str, Any]] = []
        for binding, bns, _ in self._bindings(user, namespace):
            for rule in self._role_rules(binding.get("roleRef") or {}, bns):
                if rule.get("nonResourceURLs"):
                    if not bns:  # a RoleBinding cannot grant non-resource URLs
                        non_resource.append({"verbs": rule.get("verbs") or [],
                                             "nonResourceURLs": rule["nonResourceURLs"]})
                else:
                    resource_rules.append({k: rule[k] for k in
                                           ("verbs", "apiGroups", "resources", "resourceNames")
                                           if rule.get(k)})
        return {"resourceRules": resource_rules, "nonResourceRules": non_resource,
                "incomplete": False}


def forbidden(attrs: Attributes) -> ApiError:
    """403 with the message the API server writes (responsewriters.forbiddenMessage wrapped
    by apierrors.NewForbidden), which kubectl prints after "Error from server (Forbidden)"."""
    user = attrs.user.username
    if not attrs.resource_request:
        return ApiError(403, "Forbidden",
                        f'forbidden: User "{user}" cannot {attrs.verb} path "{attrs.path}"')
    resource = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
    where = (f'in the namespace "{attrs.namespace}"' if attrs.namespace
             else "at the cluster scope")
    why = (f'User "{user}" cannot {attrs.verb} resource "{resource}" in API group '
           f'"{attrs.group}" {where}')
    qualified = f"{attrs.resource}.{attrs.group}" if attrs.group else attrs.resource
    message = (f'{qualified} "{attrs.name}" is forbidden: {why}' if attrs.name
               else f"{qualified} is forbidden: {why}")
    return ApiError(403, "Forbidden", message, name=attrs.name, group=attrs.group,
                    kind=attrs.resource)


# ------------------------------------------------------------------ bootstrap policy
_READ = ["get", "list", "watch"]
_WRITE = ["create", "delete", "deletecollection", "patch", "update"]
_VIEW_CORE = ["configmaps", "endpoints", "persistentvolumeclaims",
              "persistentvolumeclaims/status", "pods", "pods/log", "pods/status",
              "replicationcontrollers", "replicationcontrollers/scale",
              "replicationcontrollers/status", "resourcequotas", "resourcequotas/status",
              "services", "services/status", "serviceaccounts", "limitranges", "events",
              "namespaces", "namespaces/status", "bindings"]
_VIEW_APPS = ["controllerrevisions", "daemonsets", "daemonsets/status", "deployments",
              "deployments/scale", "deployments/status", "replicasets", "replicasets/scale",
              "replicasets/status", "statefulsets", "statefulsets/scale", "statefulsets/status"]


def _view_rules() -> list[dict[str, Any]]:
    return [
        {"apiGroups": [""], "resources": _VIEW_CORE, "verbs": _READ},
        {"apiGroups": ["apps"], "resources": _VIEW_APPS, "verbs": _READ},
        {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers",
                                                     "horizontalpodautoscalers/status"],
         "verbs": _READ},
        {"apiGroups": ["batch"], "resources": ["cronjobs", "cronjobs/status", "jobs",
                                               "jobs/status"], "verbs": _READ},
        {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets",
                                                "poddisruptionbudgets/status"], "verbs": _READ},
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses", "ingresses/status",
                                                           "networkpolicies"], "verbs": _READ},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": _READ},
    ]


def _edit_rules() -> list[dict[str, Any]]:
    writable = [
        {"apiGroups": [""], "resources": ["pods/attach", "pods/exec", "pods/portforward",
                                          "pods/proxy", "secrets", "services/proxy"],
         "verbs": _READ},
        {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]},
        {"apiGroups": [""], "resources": ["pods", "pods/attach", "pods/exec",
                                          "pods/portforward", "pods/proxy"],
         "verbs": _WRITE},
        {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
        {"apiGroups": [""], "resources": ["configmaps", "endpoints", "events",
                                          "persistentvolumeclaims", "replicationcontrollers",
                                          "replicationcontrollers/scale", "secrets",
                                          "serviceaccounts", "services", "services/proxy"],
         "verbs": _WRITE},
        {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]},
        {"apiGroups": ["apps"], "resources": [r for r in _VIEW_APPS
                                              if not r.endswith("/status")],
         "verbs": _WRITE},
        {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"],
         "verbs": _WRITE},
        {"apiGroups": ["batch"], "resources": ["cronjobs", "jobs"], "verbs": _WRITE},
        {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": _WRITE},
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses", "networkpolicies"],
         "verbs": _WRITE},
    ]
    return _view_rules() + writable


def _admin_rules() -> list[dict[str, Any]]:
    return _edit_rules() + [
        {"apiGroups": [AUTHZ], "resources": ["localsubjectaccessreviews"], "verbs": ["create"]},
        {"apiGroups": [GROUP], "resources": ["rolebindings", "roles"], "verbs": _READ + _WRITE},
    ]


def bootstrap_objects() -> list[dict[str, Any]]:
    """The default ClusterRoles and ClusterRoleBindings every cluster starts with (the
    ones the course and the classroom manifests name), labelled as upstream labels them."""
    meta = {"labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}}

    def role(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
        return {"apiVersion": f"{GROUP}/v1", "kind": "ClusterRole",
                "metadata": {"name": name, **meta}, "rules": rules}

    def binding(name: str, role_name: str, *groups: str) -> dict[str, Any]:
        return {"apiVersion": f"{GROUP}/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": name, **meta},
                "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": role_name},
                "subjects": [{"apiGroup": GROUP, "kind": "Group", "name": g} for g in groups]}

    discovery_paths = ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez",
                       "/openapi", "/openapi/*", "/readyz", "/version", "/version/"]
    return [
        role("cluster-admin", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                               {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
        role("admin", _admin_rules()),
        role("edit", _edit_rules()),
        role("view", _view_rules()),
        role("system:basic-user", [
            {"apiGroups": [AUTHN], "resources": ["selfsubjectreviews"], "verbs": ["create"]},
            {"apiGroups": [AUTHZ], "resources": ["selfsubjectaccessreviews",
                                                 "selfsubjectrulesreviews"],
             "verbs": ["create"]}]),
        role("system:discovery", [{"nonResourceURLs": discovery_paths, "verbs": ["get"]}]),
        role("system:public-info-viewer", [{"nonResourceURLs": [
            "/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}]),
        binding("cluster-admin", "cluster-admin", "system:masters"),
        binding("kubeadm:cluster-admins", "cluster-admin", "kubeadm:cluster-admins"),
        binding("system:basic-user", "system:basic-user", "system:authenticated"),
        binding("system:discovery", "system:discovery", "system:authenticated"),
        binding("system:public-info-viewer", "system:public-info-viewer",
                "system:authenticated", "system:unauthenticated"),
    ]


async def ensure_bootstrap(api: Any) -> None:
    """Create the bootstrap roles and bindings that are missing, at every start: the API
    server reconciles them too, so deleting one by mistake is healed by a restart."""
    for obj in bootstrap_objects():
        plural = "clusterroles" if obj["kind"] == "ClusterRole" else "clusterrolebindings"
        if api.store.peek(f"{GROUP}/{plural}", "", obj["metadata"]["name"]) is None:
            await api.create(obj, field_manager="kube-apiserver", _trusted=True)
