"""The one table of resources: what is stored, how it is named, what discovery says.

Discovery documents, URL routing, short names for kubectl and the store's keys all
come from here, so a resource added by a component (the node's metrics) shows up
everywhere at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RBAC = "rbac.authorization.k8s.io"
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Subresource:
    """A `<resource>/<sub>` entry; `kind`/`group`/`version` are of what it returns."""

    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str = ""
    version: str = ""


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    categories: tuple[str, ...] = ()
    stored: bool = True  # False: served by a component's own routes (metrics.k8s.io)
    has_spec: bool = True
    # non-empty: another served version of an object stored as this version (autoscaling/v1
    # HPAs are stored as v2); ClusterApi converts at its edge, and loops over what is
    # stored (GC, namespace deletion) skip it so each object is seen once
    storage_version: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def qualified(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    def sub(self, name: str) -> Subresource | None:
        return next((s for s in self.subresources if s.name == name), None)


def _status(kind: str) -> Subresource:
    return Subresource("status", kind, ("get", "patch", "update"))


def _scale() -> Subresource:
    return Subresource("scale", "Scale", ("get", "patch", "update"), "autoscaling", "v1")


@dataclass
class Registry:
    resources: list[Resource] = field(default_factory=list)

    def add(self, res: Resource) -> None:
        self.resources = [r for r in self.resources
                          if (r.group, r.version, r.plural) != (res.group, res.version, res.plural)]
        self.resources.append(res)

    def add_subresource(self, group: str, plural: str, sub: Subresource) -> None:
        """Let a component declare a subresource it serves (pods/log is the node's)."""
        res = self.lookup(group, plural)
        if res is None:
            raise KeyError(f"{plural}.{group}")
        subs = tuple(s for s in res.subresources if s.name != sub.name) + (sub,)
        self.add(Resource(**{**res.__dict__, "subresources": subs}))

    def lookup(self, group: str, plural: str, version: str | None = None) -> Resource | None:
        for r in self.resources:
            if r.group == group and r.plural == plural and (version is None or r.version == version):
                return r
        return None

    def by_kind(self, api_version: str, kind: str) -> Resource | None:
        for r in self.resources:
            if r.api_version == api_version and r.kind == kind:
                return r
        return None

    def find(self, name: str) -> Resource:
        """Resolve what a Python caller writes: `pods`, `pod`, `po`, `deployments.apps`, `Deployment`."""
        plural, _, group = name.partition(".")
        for r in self.resources:
            if group and r.group != group:
                continue
            if plural in (r.plural, r.singular, r.kind) or plural in r.short_names:
                return r
        raise KeyError(f"unknown resource {name!r}")

    def groups(self) -> dict[str, list[str]]:
        """group → versions, in registration order (core group under "")."""
        out: dict[str, list[str]] = {}
        for r in self.resources:
            versions = out.setdefault(r.group, [])
            if r.version not in versions:
                versions.append(r.version)
        return out


def default_registry() -> Registry:
    reg = Registry()
    core = [
        Resource("", "v1", "namespaces", "Namespace", False, ("ns",),
                 (_status("Namespace"), Subresource("finalize", "Namespace", ("update",)))),
        Resource("", "v1", "pods", "Pod", True, ("po",), (
            _status("Pod"),
            Subresource("log", "Pod", ("get",)),
            Subresource("exec", "PodExecOptions", ("create", "get")),
            Subresource("attach", "PodAttachOptions", ("create", "get")),
            Subresource("portforward", "PodPortForwardOptions", ("create", "get")),
            Subresource("proxy", "PodProxyOptions",
                        ("create", "delete", "get", "patch", "update")),
            Subresource("binding", "Binding", ("create",)),
            Subresource("eviction", "Eviction", ("create",), "policy", "v1"),
        ), categories=("all",)),
        Resource("", "v1", "services", "Service", True, ("svc",), (
            _status("Service"),
            Subresource("proxy", "ServiceProxyOptions",
                        ("create", "delete", "get", "patch", "update")),
        ), categories=("all",)),
        Resource("", "v1", "endpoints", "Endpoints", True, ("ep",), has_spec=False),
        Resource("", "v1", "configmaps", "ConfigMap", True, ("cm",), has_spec=False),
        Resource("", "v1", "secrets", "Secret", True, (), has_spec=False),
        Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",),
                 (_status("PersistentVolumeClaim"),)),
        Resource("", "v1", "persistentvolumes", "PersistentVolume", False, ("pv",),
                 (_status("PersistentVolume"),)),
        Resource("", "v1", "events", "Event", True, ("ev",), has_spec=False),
        Resource("", "v1", "nodes", "Node", False, ("no",), (
            _status("Node"),
            Subresource("proxy", "NodeProxyOptions",
                        ("create", "delete", "get", "patch", "update")),
        )),
        Resource("", "v1", "resourcequotas", "ResourceQuota", True, ("quota",),
                 (_status("ResourceQuota"),)),
        Resource("", "v1", "limitranges", "LimitRange", True, ("limits",)),
        Resource("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",), (
            Subresource("token", "TokenRequest", ("create",), "authentication.k8s.io", "v1"),),
                 has_spec=False),
    ]
    apps = [
        Resource("apps", "v1", "deployments", "Deployment", True, ("deploy",),
                 (_status("Deployment"), _scale()), categories=("all",)),
        Resource("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",),
                 (_status("ReplicaSet"), _scale()), categories=("all",)),
        Resource("apps", "v1", "statefulsets", "StatefulSet", True, ("sts",),
                 (_status("StatefulSet"), _scale()), categories=("all",)),
    ]
    batch = [
        # no short name: kubectl has none for jobs
        Resource("batch", "v1", "jobs", "Job", True, (), (_status("Job"),),
                 categories=("all",)),
    ]
    # the production kinds (issue 16): stored as autoscaling/v2 and policy/v1, each with
    # its status subresource (the HPA and disruption controllers write it)
    production = [
        Resource("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler",
                 True, ("hpa",), (_status("HorizontalPodAutoscaler"),), categories=("all",)),
        Resource("autoscaling", "v1", "horizontalpodautoscalers", "HorizontalPodAutoscaler",
                 True, ("hpa",), (_status("HorizontalPodAutoscaler"),), categories=("all",),
                 storage_version="v2"),
        Resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True,
                 ("pdb",), (_status("PodDisruptionBudget"),)),
    ]
    other = [
        Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True,
                 has_spec=False),
        Resource("coordination.k8s.io", "v1", "leases", "Lease", True),  # node heartbeats
        # RBAC (rbac.py authorizes every request from these)
        Resource(RBAC, "v1", "roles", "Role", True, has_spec=False),
        Resource(RBAC, "v1", "rolebindings", "RoleBinding", True, has_spec=False),
        Resource(RBAC, "v1", "clusterroles", "ClusterRole", False, has_spec=False),
        Resource(RBAC, "v1", "clusterrolebindings", "ClusterRoleBinding", False,
                 has_spec=False),
    ]
    for r in core + apps + batch + production + other + REVIEWS + [NETWORK_POLICIES]:
        reg.add(r)
    return reg


AUTHZ, AUTHN = "authorization.k8s.io", "authentication.k8s.io"
# The reviews kubectl auth can-i / whoami post (authz.py answers them; never stored):
# in discovery because kubectl looks their kinds up before posting.
REVIEWS = [
    *(Resource(AUTHZ, "v1", plural, kind, namespaced, verbs=("create",), stored=False)
      for plural, kind, namespaced in (
          ("selfsubjectaccessreviews", "SelfSubjectAccessReview", False),
          ("subjectaccessreviews", "SubjectAccessReview", False),
          ("localsubjectaccessreviews", "LocalSubjectAccessReview", True),
          ("selfsubjectrulesreviews", "SelfSubjectRulesReview", False))),
    Resource(AUTHN, "v1", "selfsubjectreviews", "SelfSubjectReview", False,
             verbs=("create",), stored=False, has_spec=False),
]
# networking.k8s.io/v1 (networkpolicy.py defaults and validates it; the node enforces it)
NETWORK_POLICIES = Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy",
                            True, ("netpol",))
