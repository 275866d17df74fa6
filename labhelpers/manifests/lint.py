"""Static checks that catch, before anything is applied, the faults the break/fix lab teaches.

``lint(objects)`` looks at a set of Kubernetes objects as a whole (a Service is checked
against the pods that the set's workloads would create, an env var against the set's
ConfigMaps), because the faults that hurt in a multi-service app live *between* objects.
Every :class:`Finding` names the objects involved and says how to fix them. Each rule is
one small function in :data:`RULES`; rule ids are stable (tests, scenario.yaml files and
the doctor refer to them).
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from kubernetes.utils import parse_quantity as k8s_quantity

from labhelpers.manifests import load, ref
from labhelpers.manifests.kustomize import POD_SPEC_PATHS

Obj = dict[str, Any]

ERROR, WARNING = "error", "warning"

#: Kinds whose ``spec.selector`` must match their pod template (the API server checks it).
SELECTOR_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"})

#: Paths each image serves, for probe checks; keyed by (image repository, role).
#: The storefront's role is its first arg (the image's default command is ``backend``).
#: Images not listed here are not checked.
SERVED_PATHS: dict[tuple[str, str], tuple[frozenset[str], tuple[str, ...]]] = {
    ("storefront", "backend"): (
        frozenset(
            {"/health", "/ready", "/api/health", "/api/products", "/api/categories",
             "/api/orders", "/metrics", "/openapi.json"}
        ),
        ("/api/products/", "/api/orders/"),
    ),
    ("storefront", "cart"): (
        frozenset({"/health", "/ready", "/metrics", "/openapi.json"}),
        ("/api/cart",),
    ),
    # Our conf.d: /health, the site root, the proxied API. Site files are added per pod
    # from the ConfigMap mounted at the html root.
    ("nginx", ""): (frozenset({"/", "/health"}), ("/api/",)),
}  # fmt: skip
NGINX_HTML_ROOT = "/usr/share/nginx/html"
#: What a probe of each kind should ask, per image role (used in the suggested fix).
PROBE_ADVICE = {
    ("storefront", "readinessProbe"): "/ready",
    ("storefront", "livenessProbe"): "/health",
    ("storefront", "startupProbe"): "/health",
    ("nginx", "readinessProbe"): "/health",
    ("nginx", "livenessProbe"): "/health",
    ("nginx", "startupProbe"): "/health",
}

#: Smallest memory limit each image can start with. The storefront value (both roles:
#: one Python process with uvicorn, asyncpg/redis loaded) is a provisional 96Mi until
#: the benchmark measures it; images not listed are not checked.
MEMORY_MINIMUM_BYTES = {"storefront": 96 * 2**20}

#: StorageClass names common clusters ship (kind, minikube, k3d/k3s, Docker Desktop,
#: EKS, GKE, AKS, DigitalOcean). A heuristic: a cluster may well have others.
COMMON_STORAGE_CLASSES = frozenset(
    {"standard", "default", "gp2", "gp3", "hostpath", "local-path", "standard-rwo",
     "premium-rwo", "managed", "managed-csi", "managed-premium", "do-block-storage"}
)  # fmt: skip

_CLUSTER_SUFFIXES = (".svc.cluster.local", ".svc")


@dataclass(frozen=True)
class Finding:
    """One problem: which rule, how bad, which objects (``Kind/name``, the one to edit first)."""

    rule: str
    severity: str
    objects: tuple[str, ...]
    message: str
    fix: str

    @property
    def object(self) -> str:
        """The object to change to fix it."""
        return self.objects[0]

    def __str__(self) -> str:
        return f"{self.severity}: [{self.rule}] {self.message} Fix: {self.fix}"


@dataclass
class Workload:
    """An object that creates pods, with the parts of it the rules look at."""

    obj: Obj
    namespace: str
    labels: dict[str, str]
    pod_spec: Obj

    @property
    def ref(self) -> str:
        return ref(self.obj)

    def containers(self) -> list[Obj]:
        return [*(self.pod_spec.get("initContainers") or []), *self.pod_spec.get("containers", [])]


@dataclass
class ObjectSet:
    """The objects under lint, indexed the way the rules ask for them."""

    objects: list[Obj]
    external: frozenset[str] = frozenset()
    storage_classes: frozenset[str] = frozenset()
    workloads: list[Workload] = field(init=False)
    services: dict[tuple[str, str], Obj] = field(init=False)
    configs: dict[tuple[str, str, str], Obj] = field(init=False)

    def __post_init__(self) -> None:
        self.workloads = [w for o in self.objects if (w := _workload(o))]
        self.services = {
            (_ns(o), o["metadata"]["name"]): o for o in self.objects if o["kind"] == "Service"
        }
        self.configs = {
            (o["kind"], _ns(o), o["metadata"]["name"]): o
            for o in self.objects
            if o["kind"] in ("ConfigMap", "Secret")
        }

    def selected(self, service: Obj) -> list[Workload]:
        selector = (service.get("spec") or {}).get("selector") or {}
        return [
            w for w in self.workloads if w.namespace == _ns(service) and _subset(selector, w.labels)
        ]

    def service_names(self, namespace: str) -> list[str]:
        return sorted(name for ns, name in self.services if ns == namespace)

    def namespaces(self) -> set[str]:
        return {_ns(o) for o in self.objects} | {
            o["metadata"]["name"] for o in self.objects if o["kind"] == "Namespace"
        }


def lint(
    objects: Iterable[Obj],
    *,
    external: Iterable[str] = (),
    cluster_storage_classes: Iterable[str] = (),
) -> list[Finding]:
    """Every finding for a set of objects, ordered by rule then object.

    ``external``: ``Kind/name`` of objects the set uses but that are created elsewhere on
    purpose (e.g. a production Secret). ``cluster_storage_classes``: the classes a live
    cluster really has (the doctor passes them), trusted on top of the common names.
    """
    subject = ObjectSet(
        list(objects),
        frozenset(external),
        frozenset(cluster_storage_classes),
    )
    return [finding for rule in RULES for finding in rule(subject)]


def lint_path(path: str | Path, **options: Any) -> list[Finding]:
    """Lint a file or folder (built when it has a kustomization).

    A folder's ``lint.yaml`` may list ``external:`` objects (see :func:`lint`).
    """
    path = Path(path)
    config_file = path / "lint.yaml" if path.is_dir() else None
    if config_file and config_file.is_file():
        config = yaml.safe_load(config_file.read_text()) or {}
        options.setdefault("external", config.get("external") or ())
    return lint(load(path), **options)


# ------------------------------------------------------------------------------ rules


def check_selector_matches_template(subject: ObjectSet) -> Iterator[Finding]:
    """selector-mismatch: a workload whose selector does not select its own pods."""
    for w in subject.workloads:
        if w.obj["kind"] not in SELECTOR_KINDS:
            continue
        selector = (w.obj.get("spec") or {}).get("selector") or {}
        if _selector_matches(selector, w.labels):
            continue
        wanted = selector.get("matchLabels") or {}
        suggestion = {k: w.labels[k] for k in wanted if k in w.labels} or dict(w.labels)
        yield Finding(
            "selector-mismatch",
            ERROR,
            (w.ref,),
            f"{w.ref}: spec.selector {_fmt(selector.get('matchLabels') or selector)} does not "
            f"match its pod template's labels {_fmt(w.labels)}. A real API server rejects it: "
            "spec.template.metadata.labels: Invalid value: ...: `selector` does not match "
            "template `labels`.",
            f"set spec.selector.matchLabels of {w.ref} to {_fmt(suggestion)} (labels its pod "
            "template really has); a live object's selector is immutable, so delete and "
            "re-create it.",
        )


def check_service_selects_pods(subject: ObjectSet) -> Iterator[Finding]:
    """service-no-match: a Service whose selector matches no pod template (no endpoints)."""
    for service in _services_with_selector(subject):
        if subject.selected(service):
            continue
        selector = service["spec"]["selector"]
        candidates = [w for w in subject.workloads if w.namespace == _ns(service)]
        closest = _closest_workload(selector, candidates)
        fix = f"change the selector of {ref(service)} to labels its pods carry"
        if closest:
            fix += f", e.g. {_fmt({k: closest.labels[k] for k in selector if k in closest.labels})}"
            fix += f" (the pods of {closest.ref})"
        yield Finding(
            "service-no-match",
            ERROR,
            (ref(service), *([closest.ref] if closest else [])),
            f"{ref(service)} selects {_fmt(selector)}, but no workload's pods carry those "
            "labels: the Service has no endpoints and every connection to it fails.",
            fix + ".",
        )


def check_target_ports(subject: ObjectSet) -> Iterator[Finding]:
    """target-port-mismatch: a Service port forwarding to a port the pods do not declare."""
    for service in _services_with_selector(subject):
        workloads = subject.selected(service)
        if not workloads:
            continue  # service-no-match already reports it
        ports = [p for w in workloads for c in w.pod_spec.get("containers", []) for p in _ports(c)]
        numbers = {p["containerPort"] for p in ports}
        names = {p["name"] for p in ports if p.get("name")}
        for port in service["spec"].get("ports") or []:
            target = port.get("targetPort", port.get("port"))
            if target in numbers or target in names:
                continue
            suggestion = port["port"] if port.get("port") in numbers else sorted(numbers or {0})[0]
            yield Finding(
                "target-port-mismatch",
                ERROR,
                (ref(service), *(w.ref for w in workloads)),
                f"{ref(service)} port {port.get('port')} forwards to targetPort {target!r}, but "
                f"its pods ({', '.join(w.ref for w in workloads)}) declare container ports "
                f"{sorted(numbers)} named {sorted(names)}: connections are refused.",
                f"set targetPort of port {port.get('port')} in {ref(service)} to {suggestion} "
                "(or that port's name).",
            )


def check_config_references(subject: ObjectSet) -> Iterator[Finding]:
    """missing-reference: env, envFrom or volumes naming a ConfigMap/Secret or key not defined."""
    for w in subject.workloads:
        seen: set[tuple[str, str, str | None]] = set()
        for where, kind, name, key in _config_refs(w):
            if (kind, name, key) in seen or f"{kind}/{name}" in subject.external:
                continue
            seen.add((kind, name, key))
            source = subject.configs.get((kind, w.namespace, name))
            if source is None:
                yield Finding(
                    "missing-reference",
                    ERROR,
                    (w.ref, f"{kind}/{name}"),
                    f"{w.ref} {where} refers to {kind}/{name}, which this set does not define: "
                    "the pod stays in CreateContainerConfigError (or ContainerCreating for a "
                    "volume).",
                    f"create {kind}/{name}, or correct the name in {w.ref}.",
                )
            elif key is not None and key not in _keys(source):
                keys = sorted(_keys(source))
                close = difflib.get_close_matches(key, keys, n=1, cutoff=0.3)
                yield Finding(
                    "missing-reference",
                    ERROR,
                    (w.ref, f"{kind}/{name}"),
                    f"{w.ref} {where} asks for key {key!r} of {kind}/{name}, which has only "
                    f"{keys}: the pod stays in CreateContainerConfigError.",
                    f"use key {(close or keys or ['?'])[0]!r} in {w.ref}, or add {key!r} to "
                    f"{kind}/{name}.",
                )


def check_env_hosts(subject: ObjectSet) -> Iterator[Finding]:
    """unknown-host: a *_HOST value or *_URL host that is not a Service of the set."""
    problems: dict[tuple[str, str, str], list[str]] = {}
    namespaces = subject.namespaces()
    for w in subject.workloads:
        for var, value, source in _resolved_env(subject, w):
            host = _host_of(var, value)
            if host is None:
                continue
            service, namespace = _cluster_service(host, w.namespace, subject, namespaces)
            if service is None or (namespace, service) in subject.services:
                continue
            consumers = problems.setdefault((source or w.ref, var, value), [])
            if w.ref not in consumers:
                consumers.append(w.ref)
    for (source, var, value), consumers in problems.items():
        host = _host_of(var, value) or ""
        namespace = next(w.namespace for w in subject.workloads if w.ref == consumers[0])
        names = subject.service_names(namespace)
        close = difflib.get_close_matches(host.split(".")[0], names, n=1, cutoff=0.5)
        used_by = [c for c in consumers if c != source]
        yield Finding(
            "unknown-host",
            ERROR,
            (source, *used_by),
            f"{var}={value} in {source}"
            + (f" (used by {', '.join(used_by)})" if used_by else "")
            + f" names host {host!r}, which is not a Service of this set ({', '.join(names)}): "
            "cluster DNS answers NXDOMAIN and connections fail.",
            f"set {var} in {source} to "
            + (f"{close[0]!r} (the closest Service name)" if close else "a Service's name")
            + ", then restart the pods that read it (env is read at container start).",
        )


def check_probe_paths(subject: ObjectSet) -> Iterator[Finding]:
    """probe-path-unknown: an httpGet probe on a path the image does not serve (404)."""
    for w in subject.workloads:
        for container in w.pod_spec.get("containers", []):
            repo, role = _image_role(container)
            if (repo, role) not in SERVED_PATHS:
                continue
            exact, prefixes = SERVED_PATHS[(repo, role)]
            if repo == "nginx":
                exact = exact | _nginx_site_paths(subject, w, container)
            for probe_name in ("startupProbe", "livenessProbe", "readinessProbe"):
                path = ((container.get(probe_name) or {}).get("httpGet") or {}).get("path")
                if path is None:
                    continue
                bare = path.split("?")[0] or "/"
                if bare in exact or bare.startswith(prefixes):
                    continue
                advice = PROBE_ADVICE.get((repo, probe_name))
                yield Finding(
                    "probe-path-unknown",
                    ERROR,
                    (w.ref,),
                    f"{w.ref} container {container['name']}: {probe_name} GETs {path}, which "
                    f"{repo}{' ' + role if role else ''} does not serve (it serves "
                    f"{', '.join(sorted(exact))}): the probe gets 404 and always fails.",
                    f"point {probe_name} at {advice or 'a path the image serves'} in {w.ref}.",
                )


def check_resources(subject: ObjectSet) -> Iterator[Finding]:
    """missing-resources: a container without CPU/memory requests and limits."""
    for w in subject.workloads:
        for container in w.containers():
            resources = container.get("resources") or {}
            missing = [
                f"{part}.{res}"
                for part in ("requests", "limits")
                for res in ("cpu", "memory")
                if res not in (resources.get(part) or {})
            ]
            if missing:
                yield Finding(
                    "missing-resources",
                    WARNING,
                    (w.ref,),
                    f"{w.ref} container {container['name']} has no {', '.join(missing)}: the "
                    "scheduler cannot plan for it and one pod can starve the node.",
                    f"set resources.{' and resources.'.join(missing)} in {w.ref}.",
                )


def check_image_tags(subject: ObjectSet) -> Iterator[Finding]:
    """image-tag-latest: an image without a tag or digest, or tagged ``latest``."""
    for w in subject.workloads:
        for container in w.containers():
            image = container.get("image", "")
            _, tag, digest = _split_image(image)
            if digest or (tag and tag != "latest"):
                continue
            yield Finding(
                "image-tag-latest",
                WARNING,
                (w.ref,),
                f"{w.ref} container {container['name']} runs {image!r}: "
                f"{'latest' if tag else 'no tag means latest'} changes under you, so two pods "
                "of one Deployment can run different code and a rollback rolls back nothing.",
                f"pin {image!r} to a version tag (or a digest) in {w.ref}.",
            )


def check_known_image_tags(subject: ObjectSet) -> Iterator[Finding]:
    """image-tag-unknown: an image of ours with a tag that was never built (ErrImagePull)."""
    known = _known_tags()
    for w in subject.workloads:
        for container in w.containers():
            repo, tag, digest = _split_image(container.get("image", ""))
            name = repo.rsplit("/", 1)[-1]
            if name not in known or digest or not tag or tag in known[name]:
                continue
            yield Finding(
                "image-tag-unknown",
                ERROR,
                (w.ref,),
                f"{w.ref} container {container['name']} runs {container['image']!r}, but "
                f"{name} is built only as {', '.join(sorted(known[name]))}: the pull fails "
                "(ErrImagePull, then ImagePullBackOff).",
                f"set the image in {w.ref} to {name}:{sorted(known[name])[0]}.",
            )


def check_storage_classes(subject: ObjectSet) -> Iterator[Finding]:
    """storageclass-unknown: a claim naming a StorageClass that is not a common one (heuristic)."""
    defined = {o["metadata"]["name"] for o in subject.objects if o["kind"] == "StorageClass"}
    allowed = COMMON_STORAGE_CLASSES | defined | subject.storage_classes
    for owner, claim in _claims(subject.objects):
        name = (claim.get("spec") or {}).get("storageClassName")
        if not name or name in allowed:
            continue
        yield Finding(
            "storageclass-unknown",
            WARNING,
            (ref(owner),),
            f"{ref(owner)} claim {claim.get('metadata', {}).get('name', '?')!r} asks for "
            f"StorageClass {name!r}, which is not a class common clusters have (a heuristic: "
            "check `kubectl get storageclass`). If the cluster lacks it, the claim stays "
            "Pending and so does the pod.",
            f"remove storageClassName (use the cluster's default) or name an existing class "
            f"in {ref(owner)}.",
        )


def check_memory_minimum(subject: ObjectSet) -> Iterator[Finding]:
    """memory-below-minimum: a memory limit below what the image needs to start (OOMKilled)."""
    for w in subject.workloads:
        for container in w.containers():
            repo, _ = _image_role(container)
            minimum = MEMORY_MINIMUM_BYTES.get(repo)
            limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
            if minimum is None or limit is None or parse_quantity(limit) >= minimum:
                continue
            yield Finding(
                "memory-below-minimum",
                ERROR,
                (w.ref,),
                f"{w.ref} container {container['name']} has a memory limit of {limit}, below "
                f"the ~{minimum // 2**20}Mi {repo} needs to start: it is OOMKilled (exit 137) "
                "and restarts in a loop.",
                f"raise resources.limits.memory in {w.ref} to at least {minimum // 2**20}Mi "
                "(the lab's table: request 256Mi, limit 1Gi).",
            )


RULES: list[Callable[[ObjectSet], Iterator[Finding]]] = [
    check_selector_matches_template,
    check_service_selects_pods,
    check_target_ports,
    check_config_references,
    check_env_hosts,
    check_probe_paths,
    check_resources,
    check_image_tags,
    check_known_image_tags,
    check_storage_classes,
    check_memory_minimum,
]


# ---------------------------------------------------------------------------- helpers


def parse_quantity(value: str | int | float) -> float:
    """A Kubernetes quantity (``512Mi``, ``1G``, ``100m``, ``1e3``) as a plain number: the
    official client's ``parse_quantity`` (resource.Quantity's suffixes), as a float because
    the rules compare it with float minimums."""
    try:
        number = k8s_quantity(value.strip() if isinstance(value, str) else value)
    except ValueError:
        number = None
    if number is None or not number.is_finite():
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    return float(number)


def _ns(obj: Obj) -> str:
    return (obj.get("metadata") or {}).get("namespace") or ""


def _workload(obj: Obj) -> Workload | None:
    path = POD_SPEC_PATHS.get(obj["kind"])
    if path is None:
        return None
    node: Any = obj
    for key in path[:-1]:
        node = (node or {}).get(key) or {}
    meta = obj.get("metadata") if obj["kind"] == "Pod" else node.get("metadata")
    return Workload(obj, _ns(obj), dict((meta or {}).get("labels") or {}), node.get("spec") or {})


def _subset(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _selector_matches(selector: Obj, labels: dict[str, str]) -> bool:
    if not selector:
        return False
    if not _subset(selector.get("matchLabels") or {}, labels):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        ok = {
            "In": labels.get(key) in values,
            "NotIn": labels.get(key) not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }.get(op, False)
        if not ok:
            return False
    return True


def _services_with_selector(subject: ObjectSet) -> list[Obj]:
    return [
        s
        for s in subject.services.values()
        if (s.get("spec") or {}).get("selector") and s["spec"].get("type") != "ExternalName"
    ]


def _closest_workload(selector: dict[str, str], workloads: list[Workload]) -> Workload | None:
    def score(w: Workload) -> float:
        wanted = " ".join(f"{k}={v}" for k, v in sorted(selector.items()))
        have = " ".join(f"{k}={w.labels.get(k, '')}" for k in sorted(selector))
        return difflib.SequenceMatcher(None, wanted, have).ratio()

    ranked = sorted(workloads, key=score, reverse=True)
    return ranked[0] if ranked and score(ranked[0]) >= 0.5 else None


def _ports(container: Obj) -> list[Obj]:
    return [p for p in container.get("ports") or [] if "containerPort" in p]


def _keys(source: Obj) -> set[str]:
    fields = ("data", "stringData") if source["kind"] == "Secret" else ("data", "binaryData")
    return {key for f in fields for key in (source.get(f) or {})}


def _config_refs(w: Workload) -> Iterator[tuple[str, str, str, str | None]]:
    """(where, kind, name, key or None) for every non-optional ConfigMap/Secret reference."""
    for c in w.containers():
        for env in c.get("env") or []:
            value_from = env.get("valueFrom") or {}
            for field_name, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                r = value_from.get(field_name)
                if r and not r.get("optional"):
                    yield f"container {c['name']} env {env['name']}", kind, r["name"], r["key"]
        for env_from in c.get("envFrom") or []:
            for field_name, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                r = env_from.get(field_name)
                if r and not r.get("optional"):
                    yield f"container {c['name']} envFrom", kind, r["name"], None
    for volume in w.pod_spec.get("volumes") or []:
        sources = [volume] + [s for s in ((volume.get("projected") or {}).get("sources") or [])]
        for source in sources:
            for field_name, kind, name_key in (
                ("configMap", "ConfigMap", "name"),
                ("secret", "Secret", "secretName"),
            ):
                r = source.get(field_name)
                if not r or r.get("optional"):
                    continue
                name = r.get(name_key) or r.get("name")
                yield f"volume {volume['name']}", kind, name, None
                for item in r.get("items") or []:
                    yield f"volume {volume['name']}", kind, name, item["key"]


def _resolved_env(subject: ObjectSet, w: Workload) -> Iterator[tuple[str, str, str | None]]:
    """(name, value, defining object or None for a literal) of each container's env."""
    for c in w.pod_spec.get("containers", []):
        for env_from in c.get("envFrom") or []:
            cm = env_from.get("configMapRef")
            source = cm and subject.configs.get(("ConfigMap", w.namespace, cm["name"]))
            for key, value in ((source or {}).get("data") or {}).items():
                yield env_from.get("prefix", "") + key, str(value), ref(source)
        for env in c.get("env") or []:
            if "value" in env:
                yield env["name"], str(env["value"]), None
                continue
            cm_ref = (env.get("valueFrom") or {}).get("configMapKeyRef")
            source = cm_ref and subject.configs.get(("ConfigMap", w.namespace, cm_ref["name"]))
            data = (source or {}).get("data") or {}
            if cm_ref and cm_ref["key"] in data:
                yield env["name"], str(data[cm_ref["key"]]), ref(source)


def _host_of(var: str, value: str) -> str | None:
    value = value.strip()
    if var.upper().endswith("_HOST"):
        host = value.split(":")[0] if value.count(":") == 1 else value
    elif var.upper().endswith("_URL"):
        host = urlsplit(value).hostname if "://" in value else None
    else:
        return None
    return host.lower().rstrip(".") if host else None


def _cluster_service(
    host: str, namespace: str, subject: ObjectSet, namespaces: set[str]
) -> tuple[str | None, str]:
    """(Service name, namespace) a cluster DNS name points at; (None, _) if not ours to judge."""
    try:
        ipaddress.ip_address(host)
        return None, namespace
    except ValueError:
        pass
    if host == "localhost":
        return None, namespace
    labels, explicit = host.split("."), False
    for suffix in _CLUSTER_SUFFIXES:
        if host.endswith(suffix):
            labels, explicit = host[: -len(suffix)].split("."), True
            break
    if len(labels) == 1 and not explicit:
        return labels[0], namespace
    if len(labels) == 2 and (explicit or labels[1] in namespaces):
        return (labels[0], labels[1]) if labels[1] in namespaces else (None, namespace)
    if len(labels) == 2 and (namespace, labels[1]) in subject.services:
        return labels[1], namespace  # pod-0.postgres: a pod behind a headless Service
    if len(labels) == 3 and explicit and labels[2] in namespaces:
        return labels[1], labels[2]
    return None, namespace  # an outside name (db.example.com): not ours to judge


def _split_image(image: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) of an image reference."""
    image, _, digest = image.partition("@")
    repo, _, tag = image.rpartition(":")
    if not repo or "/" in tag:  # no tag, or the colon belonged to a registry port
        return image, None, digest or None
    return repo, tag, digest or None


def _image_role(container: Obj) -> tuple[str, str]:
    """(repository name without registry, role) — role only for the storefront image."""
    repo = _split_image(container.get("image", ""))[0].rsplit("/", 1)[-1]
    if repo != "storefront":
        return repo, ""
    if container.get("command"):
        return repo, "?"  # an overridden entrypoint: we do not know what it serves
    return repo, (container.get("args") or ["backend"])[0]


def _nginx_site_paths(subject: ObjectSet, w: Workload, container: Obj) -> frozenset[str]:
    mounted = {
        m["name"] for m in container.get("volumeMounts") or [] if m["mountPath"] == NGINX_HTML_ROOT
    }
    paths: set[str] = set()
    for volume in w.pod_spec.get("volumes") or []:
        cm = volume.get("configMap")
        if volume["name"] in mounted and cm:
            source = subject.configs.get(("ConfigMap", w.namespace, cm["name"])) or {}
            paths |= {"/" + key for key in _keys(source)} if source else set()
    return frozenset(paths)


def _known_tags() -> dict[str, set[str]]:
    """Tags of the images this project builds: the storefront is tagged with its version."""
    try:
        return {"storefront": {metadata.version("ecommerce-k8s-lab")}}
    except metadata.PackageNotFoundError:
        return {}


def _claims(objects: list[Obj]) -> Iterator[tuple[Obj, Obj]]:
    for obj in objects:
        if obj["kind"] == "PersistentVolumeClaim":
            yield obj, obj
        elif obj["kind"] == "StatefulSet":
            for claim in (obj.get("spec") or {}).get("volumeClaimTemplates") or []:
                yield obj, claim


def _fmt(labels: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in labels.items()) + "}"


def main(argv: list[str] | None = None) -> int:
    """``python -m labhelpers.manifests.lint PATH...``: print findings; exit 1 when any is an error."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m labhelpers.manifests.lint", description=__doc__)
    parser.add_argument("paths", nargs="+", help="manifest files or folders (kustomizations)")
    args = parser.parse_args(argv)
    errors = 0
    for path in args.paths:
        findings = lint_path(path)
        print(f"{path}: {len(findings) or 'no'} finding{'s' if len(findings) != 1 else ''}")
        for finding in findings:
            print(f"  {finding}")
        errors += sum(f.severity == ERROR for f in findings)
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
