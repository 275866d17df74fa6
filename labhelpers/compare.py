"""Lab vs production (or staging): each production change as a real diff of the objects.

Notebook 9 teaches "what changes in real life". The diffs are computed here from the
rendered manifests (the offline kustomize subset), never written by hand, so the lesson
cannot drift from ``manifests/production``: a change the overlay stops making shows up
as "same as lab" in the summary, and the tests fail.

Each :class:`Change` names the objects and the fields it is about; its diff shows only
those fields (plus each container's ``name`` for context), as YAML, ``lab`` → ``other``.
Secret values are redacted before anything is rendered.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import secrets
import shlex
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from labhelpers.kustomize import POD_SPEC_PATHS
from labhelpers.manifests import MANIFESTS_DIR, load, ref

Obj = dict[str, Any]
REDACTED = "<redacted>"
#: Variants a name can refer to (folders of ``manifests/``).
VARIANTS = ("lab", "staging", "production")
#: Kubernetes version of the schemas used when the server cannot check a kind.
OFFLINE_SCHEMA = "1.32"


@dataclass(frozen=True)
class Change:
    """One production change: which objects, which fields, and why it matters.

    ``targets``: ``Kind/name`` or ``Kind/*`` (every object of that kind on either side).
    ``fields``: dotted paths; ``{pod}`` is the kind's pod spec; ``list[]`` keeps every
    item (by ``name``) and ``list[x]`` only the item named ``x``; no fields = the whole
    object. ``lab_text``: the row of the lab text's "What changed & why" table, if any.
    """

    key: str
    title: str
    why: str
    targets: tuple[str, ...]
    fields: tuple[str, ...] = ()
    lab_text: int | None = None


@dataclass(frozen=True)
class NotDone:
    """A lab-text production change this overlay deliberately does not make."""

    key: str
    title: str
    lab_text: int
    why: str


_WORKLOADS = ("Deployment/*", "StatefulSet/*")
_C = "{pod}.containers[]"

CHANGES: tuple[Change, ...] = (
    Change("secrets", "Database password out of git",
           "a Secret committed to git is a leaked password; production creates it out of "
           "band or syncs it from a secret manager under the same name",
           ("Secret/postgres-secret",), lab_text=11),
    Change("replicas", "More replicas for the stateless tiers",
           "one pod per tier is one crash or node drain away from an outage; the backend's "
           "count is left to the HPA so `kubectl apply` does not reset it",
           ("Deployment/*",), ("spec.replicas",)),
    Change("autoscaling", "HorizontalPodAutoscaler for the backend",
           "capacity follows load (3–10 pods at 70 % CPU) instead of a guess; needs "
           "metrics-server", ("HorizontalPodAutoscaler/*",)),
    Change("disruption-budgets", "PodDisruptionBudgets",
           "a node drain (upgrade, autoscaler) may evict pods only while enough replicas "
           "keep serving", ("PodDisruptionBudget/*",)),
    Change("placement", "Anti-affinity and zone spreading",
           "replicas on different nodes and zones: one node or zone down is not an outage",
           _WORKLOADS, ("{pod}.affinity", "{pod}.topologySpreadConstraints"), lab_text=2),
    Change("security-context", "Non-root, no privileges, default seccomp",
           "if a container is compromised the attacker is not root, cannot escalate, has no "
           "capabilities and fewer syscalls; nginx keeps port 80 as uid 101 through the "
           "safe sysctl ip_unprivileged_port_start",
           _WORKLOADS, ("{pod}.securityContext", f"{_C}.securityContext"), lab_text=4),
    Change("read-only-root", "Read-only root filesystem, emptyDirs where the app writes",
           "binaries and config cannot be modified at run time; the only writable paths are "
           "the ones listed here", _WORKLOADS,
           (f"{_C}.securityContext.readOnlyRootFilesystem", f"{_C}.volumeMounts",
            "{pod}.volumes"), lab_text=4),
    Change("startup-probes", "Startup probes",
           "a slow start is not mistaken for a hang: liveness waits until the app is up "
           "once, so it is not killed in a restart loop", _WORKLOADS,
           (f"{_C}.startupProbe",), lab_text=5),
    Change("liveness-probes", "Tuned liveness probes",
           "a hung process is restarted within seconds, with timeouts that tolerate a "
           "busy one", _WORKLOADS, (f"{_C}.livenessProbe",), lab_text=6),
    Change("readiness-probes", "Tuned readiness probes",
           "a pod that cannot serve leaves the Service's endpoints fast, so requests go "
           "to the ones that can", _WORKLOADS, (f"{_C}.readinessProbe",), lab_text=7),
    Change("rollout", "Zero-downtime rollouts",
           "maxUnavailable 0 keeps full capacity during an update, and the preStop pause "
           "lets the endpoint disappear before the process stops taking requests",
           ("Deployment/*",),
           ("spec.strategy", "{pod}.terminationGracePeriodSeconds", f"{_C}.lifecycle")),
    Change("disk", "A bigger database disk",
           "real order history outgrows a 1Gi test volume; a StorageClass with encryption "
           "at rest is the cluster's choice", ("StatefulSet/postgres",),
           ("spec.volumeClaimTemplates",), lab_text=8),
    Change("resources", "Database resources sized for real data",
           "requests reserve what PostgreSQL needs under load, limits stop it starving its "
           "neighbours (and the 2Gi limit matches shared_buffers)",
           ("StatefulSet/postgres",), (f"{_C}.resources",), lab_text=9),
    Change("images", "Pinned images",
           "the lab already pins every tag (with IfNotPresent); production adds one more "
           "pinned image, the exporter; a rollout is reproducible only with pinned tags",
           _WORKLOADS, (f"{_C}.image", f"{_C}.imagePullPolicy"), lab_text=10),
    Change("postgres-tuning", "PostgreSQL configuration from a ConfigMap",
           "the image's defaults are sized for a laptop; shared_buffers, work_mem and the "
           "slow-query log are set for the workload",
           ("ConfigMap/postgres-tuning", "StatefulSet/postgres"),
           ("data", f"{_C}.args", "{pod}.volumes[tuning]"), lab_text=12),
    Change("metrics", "postgres-exporter sidecar and scrape annotations",
           "Prometheus sees connections, cache hit ratio and saturation before users do",
           _WORKLOADS,
           ("spec.template.metadata.annotations", "{pod}.containers[postgres-exporter]"),
           lab_text=13),
    Change("network-policies", "NetworkPolicies: default deny, then the architecture's arrows",
           "a breach of one tier does not reach the data: only the backend talks to "
           "PostgreSQL (enforced only by a CNI that implements NetworkPolicy)",
           ("NetworkPolicy/*",)),
    Change("config", "Quieter logs, longer cache",
           "WARNING instead of INFO is less noise and cost; a 300 s product cache means "
           "fewer queries", ("ConfigMap/ecommerce-config",), ("data",)),
)

NOT_DONE: tuple[NotDone, ...] = (
    NotDone("database-ha", "3 database replicas (primary + read replicas)", 1,
            "a plain StatefulSet scaled to 3 is three unrelated databases; HA needs an "
            "operator (CloudNativePG, Patroni) or a managed database"),
    NotDone("wait-for-primary", "wait-for-primary init container", 3,
            "only needed with replicas that follow a primary (see row 1)"),
    NotDone("backups", "WAL archiving and volume snapshots", 14,
            "an operator or pgBackRest for WAL, Velero for snapshots; test restores"),
    NotDone("read-service", "Separate primary and replica Services", 15,
            "there are no read replicas to route SELECTs to (see row 1)"),
)


def render(variant: str | Path) -> list[Obj]:
    """Objects of ``lab``/``staging``/``production`` (or any folder), rendered offline."""
    path = MANIFESTS_DIR / variant if str(variant) in VARIANTS else Path(variant)
    return [redact(o) for o in load(path)]


def redact(obj: Obj) -> Obj:
    """A copy with every Secret value replaced: diffs and tables never show a password."""
    obj = copy.deepcopy(obj)
    if obj.get("kind") == "Secret":
        for key in ("data", "stringData"):
            if isinstance(obj.get(key), dict):
                obj[key] = {k: REDACTED for k in obj[key]}
    return obj


# -------------------------------------------------------------------------- views


def _index(objects: Iterable[Obj]) -> dict[str, Obj]:
    return {ref(o): o for o in objects}


def resolve_targets(targets: Iterable[str], *sides: dict[str, Obj]) -> list[str]:
    """``Kind/name`` refs a change covers on either side, in first-seen order."""
    found: list[str] = []
    for target in targets:
        kind, _, name = target.partition("/")
        for side in sides:
            for r, obj in side.items():
                if (obj["kind"] == kind and name in ("*", obj["metadata"]["name"])
                        and r not in found):
                    found.append(r)
    return found


def view(obj: Obj | None, fields: Iterable[str]) -> Obj:
    """The part of ``obj`` a change is about, as a pruned copy of the object."""
    if obj is None:
        return {}
    fields = tuple(fields)
    if not fields:
        whole = copy.deepcopy(obj)
        whole.get("metadata", {}).pop("namespace", None)
        return whole
    out: Obj = {}
    pod_path = ".".join(POD_SPEC_PATHS.get(obj["kind"], ("-",)))
    for path in fields:
        if "{pod}" in path and obj["kind"] not in POD_SPEC_PATHS:
            continue
        _pick(obj, path.replace("{pod}", pod_path).split("."), out)
    return _prune(out)


def _pick(src: Any, tokens: list[str], dst: Obj) -> None:
    token, rest = tokens[0], tokens[1:]
    if "[" in token:
        key, _, wanted = token[:-1].partition("[")
        items = src.get(key) if isinstance(src, dict) else None
        if not isinstance(items, list):
            return
        out = dst.setdefault(key, [])
        for item in items:
            if not isinstance(item, dict) or (wanted and item.get("name") != wanted):
                continue
            slot = next((o for o in out if o.get("name") == item.get("name")), None)
            if slot is None:
                slot = {"name": item.get("name")}
                out.append(slot)
            if rest:
                _pick(item, rest, slot)
            else:
                slot.update(copy.deepcopy(item))
        return
    if not isinstance(src, dict) or token not in src:
        return
    if not rest:
        dst[token] = copy.deepcopy(src[token])
        return
    _pick(src[token], rest, dst.setdefault(token, {}))


def _prune(value: Any) -> Any:
    """Drop dicts left empty by paths that were absent (keep named list items)."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v != {} and v != []}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def to_yaml(obj: Obj) -> str:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, width=100) if obj else ""


def unified(a: Obj, b: Obj, a_name: str, b_name: str) -> str:
    """A unified diff of two views (empty when equal)."""
    lines = difflib.unified_diff(to_yaml(a).splitlines(keepends=True),
                                 to_yaml(b).splitlines(keepends=True), a_name, b_name, n=3)
    return "".join(lines)


# ------------------------------------------------------------------------ compare


@dataclass
class ChangeDiff:
    """A change measured on two variants: the objects that differ and their diff."""

    change: Change
    objects: list[str]
    differing: list[str]
    diff: str

    @property
    def present(self) -> bool:
        return bool(self.differing)

    def counts(self) -> tuple[int, int]:
        """(+ lines, - lines) of the diff, headers excluded."""
        lines = [ln for ln in self.diff.splitlines() if not ln.startswith(("+++", "---"))]
        return (sum(ln.startswith("+") for ln in lines), sum(ln.startswith("-") for ln in lines))


@dataclass
class Comparison:
    """``compare()``'s result: the two rendered variants and every change's diff."""

    base_name: str
    other_name: str
    base: list[Obj]
    other: list[Obj]
    changes: list[ChangeDiff] = field(default_factory=list)

    def __getitem__(self, key: str) -> ChangeDiff:
        for c in self.changes:
            if c.change.key == key:
                return c
        raise KeyError(f"no change {key!r}; known: {', '.join(c.change.key for c in self.changes)}")

    def diff(self, key: str) -> str:
        """The unified diff of one change (empty when ``other`` does not make it)."""
        return self[key].diff

    def show(self, key: str) -> None:
        """Print one change: title, why, and its diff (what a notebook cell calls)."""
        c = self[key]
        print(f"## {c.change.title}\nWhy it matters: {c.change.why}\n")
        print(c.diff or f"(no difference: {self.other_name} is the same as {self.base_name})")

    def text(self) -> str:
        """Every change with its diff, as one text (for a file or a terminal)."""
        parts = []
        for c in self.changes:
            parts.append(f"### {c.change.title}  [{c.change.key}]\n# why: {c.change.why}\n")
            parts.append(c.diff or "(same)\n")
        return "\n".join(parts)

    def summary(self) -> pd.DataFrame:
        """One row per change (against production also the lab text's changes it does not
        make): status, objects, diff size, why it matters."""
        rows = []
        for c in self.changes:
            plus, minus = c.counts()
            rows.append({
                "change": c.change.title,
                "key": c.change.key,
                "lab text #": c.change.lab_text,
                "status": (f"changed in {len(c.differing)} object(s)" if c.present
                           else f"same as {self.base_name}"),
                "objects": ", ".join(c.differing),
                "+/-": f"+{plus} -{minus}",
                "why it matters": c.change.why,
            })
        for nd in NOT_DONE if self.other_name == "production" else ():
            rows.append({"change": nd.title, "key": nd.key, "lab text #": nd.lab_text,
                         "status": "not in manifests/production", "objects": "",
                         "+/-": "", "why it matters": nd.why})
        df = pd.DataFrame(rows)
        df["lab text #"] = df["lab text #"].astype("Int64")
        df.attrs["kubectl"] = (f"kubectl diff -k manifests/{self.other_name}  "
                               f"# against a cluster running manifests/{self.base_name}")
        return df

    def objects(self) -> pd.DataFrame:
        """Every object of either side: added, removed, changed or same (whole objects)."""
        a, b = _index(self.base), _index(self.other)
        rows = []
        for r in [*a, *(k for k in b if k not in a)]:
            va, vb = view(a.get(r), ()), view(b.get(r), ())
            state = ("added" if r not in a else "removed" if r not in b
                     else "same" if va == vb else "changed")
            rows.append({"object": r, self.base_name: r in a, self.other_name: r in b,
                         "state": state})
        return pd.DataFrame(rows)


def compare(base: str | Path = "lab", other: str | Path = "production",
            changes: Iterable[Change] = CHANGES) -> Comparison:
    """Render both variants offline and measure every change on them."""
    base_objs, other_objs = render(base), render(other)
    a, b = _index(base_objs), _index(other_objs)
    base_name, other_name = Path(str(base)).name, Path(str(other)).name
    result = Comparison(base_name, other_name, base_objs, other_objs)
    for change in changes:
        refs = resolve_targets(change.targets, a, b)
        diffs, differing = [], []
        for r in refs:
            va, vb = view(a.get(r), change.fields), view(b.get(r), change.fields)
            if va == vb:
                continue
            differing.append(r)
            diffs.append(unified(va, vb, f"{base_name}/{r}", f"{other_name}/{r}"))
        result.changes.append(ChangeDiff(change, refs, differing, "".join(diffs)))
    return result



# ---------------------------------------------------------------------- validate


def lint_table(variant: str | Path = "production") -> pd.DataFrame:
    """``labhelpers.lint`` findings of a variant (its ``lint.yaml`` honoured) as a table."""
    from labhelpers.lint import lint_path

    path = MANIFESTS_DIR / variant if str(variant) in VARIANTS else Path(variant)
    rows = [{"severity": f.severity, "rule": f.rule, "object": f.object,
             "message": f.message, "fix": f.fix} for f in lint_path(path)]
    df = pd.DataFrame(rows, columns=["severity", "rule", "object", "message", "fix"])
    df.attrs["kubectl"] = f"python -m labhelpers.lint manifests/{Path(str(variant)).name}"
    return df


def offline_validate(obj: Obj, version: str = OFFLINE_SCHEMA) -> str:
    """"valid" or the first error of the strict JSON schema of Kubernetes ``version``."""
    import kubernetes_validate

    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return f"invalid: {exc.message}"
    return "valid"


def _scratch_namespace(lab: Any, name: str, labels: dict[str, str],
                       timeout: float = 60) -> bool:
    """Create ``name`` (True) or use it as it is (False). One still Terminating from an
    earlier run is waited for first: a terminating namespace refuses even dry-run creates."""
    from kubernetes import client

    deadline = time.monotonic() + timeout
    while True:
        try:
            lab.core.create_namespace(client.V1Namespace(
                metadata=client.V1ObjectMeta(name=name, labels=dict(labels))))
            return True
        except client.ApiException as exc:
            if exc.status != 409:
                raise
        try:
            existing = lab.core.read_namespace(name)
        except client.ApiException as exc:
            if exc.status == 404:
                continue  # gone between the two calls: create it now
            raise
        if existing.metadata.deletion_timestamp is None:
            return False
        if time.monotonic() > deadline:
            raise TimeoutError(f"namespace {name} is still terminating after {timeout:.0f} s")
        time.sleep(0.5)


def dry_run_lines(variant: str, scratch: str, own_namespace: str | None,
                  created: bool) -> list[str]:
    """The kubectl lines (one per shell command) for what :func:`server_dry_run` did.

    ``kubectl apply -k … -n scratch`` is refused when the kustomization sets a namespace of
    its own (the objects' namespace and -n differ), so the rendered objects are moved to the
    scratch namespace on the way, as the helper moves them; the create/delete lines are there
    only when the helper made the scratch namespace itself."""
    from labhelpers.commands import kubectl

    folder = f"manifests/{variant}"
    if own_namespace:
        move = shlex.quote(f"s/namespace: {own_namespace}$/namespace: {scratch}/")
        apply = (f"{kubectl('kustomize', folder)} | sed {move} | "
                 f"{kubectl('apply', '--server-side', '--dry-run=server', '-f', '-')}")
    else:
        apply = kubectl("apply", "-k", folder, "--server-side", "--dry-run=server", "-n", scratch)
    if not created:
        return [apply]
    return [kubectl("create", "namespace", scratch), apply,
            kubectl("delete", "namespace", scratch)]


def server_dry_run(lab: Any, variant: str | Path = "production",
                   namespace: str | None = None) -> pd.DataFrame:
    """Server-side apply of a variant with ``dryRun=All`` into a scratch namespace.

    The API server runs defaulting, validation and admission but stores nothing, so this
    is the strongest check short of deploying. A kind the server does not serve (e.g.
    labcluster has no HPA, PDB or NetworkPolicy) is validated offline against the strict
    schema instead, and the row says so. The scratch namespace (which a dry run cannot
    create) is made and deleted here unless it already existed.
    """
    from kubernetes import client

    from labhelpers.apply import ApplyError, request, status_message
    from labhelpers.manifests import with_namespace
    from labhelpers.ownership import LABELS

    # a fresh name each call: re-running the cell never meets the last one still terminating
    scratch = namespace or f"dryrun-{Path(str(variant)).name}-{secrets.token_hex(3)}"
    objects = [o for o in render(variant) if o["kind"] != "Namespace"]
    created = _scratch_namespace(lab, scratch, LABELS)
    rows = []
    try:
        for obj in with_namespace(objects, scratch):
            try:
                path = lab.resources.path(obj)
            except ApplyError:
                rows.append({"object": ref(obj), "how": f"offline (schema {OFFLINE_SCHEMA})",
                             "result": offline_validate(obj),
                             "note": "kind not served by this API server"})
                continue
            code, _, raw = request(lab.api, "PATCH", path, yaml.safe_dump(obj),
                                   content_type="application/apply-patch+yaml",
                                   query=[("fieldManager", "labhelpers"), ("force", "true"),
                                          ("dryRun", "All"), ("fieldValidation", "Strict")])
            reason, message = status_message(raw) if code >= 400 else ("", "")
            rows.append({"object": ref(obj), "how": "server dry run",
                         "result": "accepted" if code < 400 else f"rejected ({code} {reason})",
                         "note": message})
    finally:
        if created:
            with contextlib.suppress(client.ApiException):  # already gone is fine
                lab.core.delete_namespace(scratch)
    df = pd.DataFrame(rows, columns=["object", "how", "result", "note"])
    own = {o["metadata"].get("namespace") for o in objects} - {None}
    df.attrs["kubectl"] = "\n".join(dry_run_lines(Path(str(variant)).name, scratch,
                                                  own.pop() if len(own) == 1 else None,
                                                  created))
    df.attrs["namespace"] = scratch
    return df
