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
import html
import secrets
import shlex
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from kubernetes import client

from labhelpers.apply import ApplyError, request, status_message
from labhelpers.commands import kubectl
from labhelpers.manifests import MANIFESTS_DIR, load, ref, with_namespace
from labhelpers.manifests.kustomize import POD_SPEC_PATHS
from labhelpers.manifests.lint import lint_path
from labhelpers.ownership import BREAKFIX_SUFFIX, LABELS
from labhelpers.styling import GREEN, RED, LabFrame, lab_frame

Obj = dict[str, Any]
REDACTED = "<redacted>"
#: Variants a name can refer to (folders of ``manifests/``).
VARIANTS = ("lab", "staging", "production")
#: Kubernetes version of the schemas used when the server cannot check a kind.
OFFLINE_SCHEMA = "1.32"


@dataclass(frozen=True)
class Change:
    """One production change: which objects, which fields, and why it matters.

    ``targets``: ``Kind/name``, ``Kind/*`` (every object of that kind on either side) or
    ``*/*`` (every object). ``fields``: dotted paths; ``{pod}`` is the kind's pod spec;
    ``list[]`` keeps every item (by ``name``), ``list[x]`` only the item named ``x`` and
    ``list[!x]`` every item but ``x``; ``Kind:path`` applies to that kind only and
    ``Kind:`` is its whole object; no fields = the whole object (without its namespace,
    which the ``namespace`` change covers). ``lab_text``: the row of the lab text's "What
    changed & why" table, if any.
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
    Change("namespace", "A namespace of its own",
           "each environment's objects live in a namespace of their own (ecommerce-production): "
           "its own quotas and access rules, and deleting the lab's namespace never touches it",
           ("*/*",), ("Namespace:", "metadata.namespace")),
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
           (f"{_C}.securityContext.readOnlyRootFilesystem", f"{_C}.volumeMounts[!tuning]",
            "{pod}.volumes[!tuning]"), lab_text=4),
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
           ("ConfigMap:", f"{_C}.args", f"{_C}.volumeMounts[tuning]", "{pod}.volumes[tuning]"),
           lab_text=12),
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
                if (kind in ("*", obj["kind"]) and name in ("*", obj["metadata"]["name"])
                        and r not in found):
                    found.append(r)
    return found


def view(obj: Obj | None, fields: Iterable[str]) -> Obj:
    """The part of ``obj`` a change is about, as a copy of the object with only those fields.

    Only the scaffolding that leads to a picked field is built; a picked value is copied
    as it is, so an empty one (``emptyDir: {}``, which *is* the volume's whole definition)
    stays in the view. Lists keep the source's order."""
    if obj is None:
        return {}
    fields = tuple(fields)
    if not fields:
        whole = copy.deepcopy(obj)
        whole.get("metadata", {}).pop("namespace", None)
        return whole
    pod_path = ".".join(POD_SPEC_PATHS.get(obj["kind"], ("-",)))
    specs: list[list[str]] = []
    for path in fields:
        kind, sep, rest = path.partition(":")
        if sep:  # "Kind:path" applies to that kind only; "Kind:" is the whole object
            if kind != obj["kind"]:
                continue
            if not rest:
                return view(obj, ())
            path = rest
        if "{pod}" in path and obj["kind"] not in POD_SPEC_PATHS:
            continue
        specs.append(_tokens(path.replace("{pod}", pod_path)))
    picked = _select(obj, specs) if specs else _MISSING
    return {} if picked is _MISSING else picked


_MISSING: Any = object()


def _tokens(path: str) -> list[str]:
    """``a.list[x].b`` -> ``["a", "list", "[x]", "b"]`` (a list selector is a token)."""
    out = []
    for part in path.split("."):
        key, bracket, wanted = part.partition("[")
        out.append(key)
        if bracket:
            out.append("[" + wanted)
    return out


def _item_matches(selector: str, item: Any) -> bool:
    """``[]`` every item, ``[x]`` the item named x, ``[!x]`` every item but x."""
    wanted = selector[1:-1]
    if not wanted:
        return True
    name = item.get("name") if isinstance(item, dict) else None
    if wanted.startswith("!"):
        return name != wanted[1:]
    return name == wanted


def _select(node: Any, specs: list[list[str]]) -> Any:
    """The parts of ``node`` the token paths reach (``_MISSING`` if none), in source order;
    a list item keeps its ``name`` for context."""
    if any(not s for s in specs):
        return copy.deepcopy(node)
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            sub = [s[1:] for s in specs if s[0] == key]
            if sub:
                picked = _select(value, sub)
                if picked is not _MISSING:
                    out[key] = picked
        return out or _MISSING
    if isinstance(node, list):
        items = []
        for item in node:
            sub = [s[1:] for s in specs if s[0].startswith("[") and _item_matches(s[0], item)]
            if not sub:
                continue
            picked = _select(item, sub)
            if picked is _MISSING:
                continue
            if isinstance(item, dict) and "name" in item and isinstance(picked, dict):
                picked = {"name": item["name"], **picked}
            items.append(picked)
        return items or _MISSING
    return _MISSING


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (a ``postgresql.conf`` in a ConfigMap) as ``|`` blocks, as they
    are written in the manifests, not as quoted one-liners with doubled newlines."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value.rstrip("\n") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(obj: Obj) -> str:
    if not obj:
        return ""
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     width=100, allow_unicode=True)


def unified(a: Obj, b: Obj, a_name: str, b_name: str) -> str:
    """A unified diff of two views (empty when equal). Name a side that has no such object
    ``/dev/null``, as git names the other side of an added or deleted file."""
    lines = difflib.unified_diff(to_yaml(a).splitlines(keepends=True),
                                 to_yaml(b).splitlines(keepends=True), a_name, b_name, n=3)
    return "".join(lines)


#: Lists of a pod spec whose items get a diff item each (a sidecar is not interleaved with
#: the main container: difflib would pair their similar lines).
CONTAINER_LISTS = ("initContainers", "containers")


def parts(kind: str, a: Obj, b: Obj) -> list[tuple[str, Obj, Obj]]:
    """Two views of one object cut into the pieces a learner reads apart: one per container
    (by name, lab's order then the other side's new ones), then the rest of the object.
    Each piece keeps the object's nesting, so it is still a valid partial object."""
    pod_path = POD_SPEC_PATHS.get(kind)
    if not pod_path:
        return [("", a, b)]

    def pod_spec(v: Obj) -> Obj | None:
        for key in pod_path:
            v = v.get(key) if isinstance(v, dict) else None
        return v if isinstance(v, dict) else None

    def nest(value: Obj) -> Obj:
        for key in reversed(pod_path):
            value = {key: value}
        return value

    def without_containers(v: Obj) -> Obj:
        v = copy.deepcopy(v)
        chain = [v]
        for key in pod_path:
            nxt = chain[-1].get(key) if isinstance(chain[-1], dict) else None
            if not isinstance(nxt, dict):
                return v
            chain.append(nxt)
        for lst in CONTAINER_LISTS:
            chain[-1].pop(lst, None)
        for parent, key in zip(reversed(chain[:-1]), reversed(pod_path), strict=True):
            if parent[key] == {}:  # scaffolding left empty by the removal
                del parent[key]
        return v

    out: list[tuple[str, Obj, Obj]] = []
    for lst in CONTAINER_LISTS:
        lists = [(pod_spec(v) or {}).get(lst) or [] for v in (a, b)]
        names = [c.get("name") for c in lists[0]]
        names += [c.get("name") for c in lists[1] if c.get("name") not in names]
        for name in names:
            one = [next((c for c in items if c.get("name") == name), None) for items in lists]
            label = "init container" if lst == "initContainers" else "container"
            out.append((f"{label} {name}", *(nest({lst: [c]}) if c else {} for c in one)))
    out.append(("", without_containers(a), without_containers(b)))
    return out


# ------------------------------------------------------------------------ compare


@dataclass
class DiffItem:
    """One piece of a change's diff: an object, or one container of it (``part``)."""

    ref: str
    part: str
    diff: str


@dataclass
class ChangeDiff:
    """A change measured on two variants: the objects that differ and their diff, one
    :class:`DiffItem` per object or container."""

    change: Change
    objects: list[str]
    differing: list[str]
    items: list[DiffItem] = field(default_factory=list)

    @property
    def diff(self) -> str:
        return "".join(i.diff for i in self.items)

    @property
    def present(self) -> bool:
        return bool(self.differing)

    def counts(self) -> tuple[int, int]:
        """(+ lines, - lines) of the diff, headers excluded."""
        lines = [ln for ln in self.diff.splitlines() if not ln.startswith(("+++", "---"))]
        return (sum(ln.startswith("+") for ln in lines), sum(ln.startswith("-") for ln in lines))


def _line_css(line: str) -> str:
    """How one diff line looks in HTML: the colours of the course's tables (green added,
    red removed), hunk headers muted, file headers bold."""
    if line.startswith(("+++", "---")):
        return "font-weight: bold"
    if line.startswith("+"):
        return f"background-color: {GREEN}; color: #000"
    if line.startswith("-"):
        return f"background-color: {RED}; color: #000"
    if line.startswith("@@"):
        return "color: #6a737d"
    return ""


def diff_html(diff: str) -> str:
    """A unified diff as HTML: every line escaped, in its own block with its colour."""
    rows = []
    for line in diff.splitlines():
        css = _line_css(line)
        style = f' style="{css}"' if css else ""
        rows.append(f"<div{style}>{html.escape(line) or '&nbsp;'}</div>")
    return ('<pre style="font-family: var(--jp-code-font-family, monospace); font-size: 12px; '
            'line-height: 1.35; white-space: pre; overflow-x: auto; margin: 0.5em 0; '
            'padding: 4px 6px; background: #fafafa; border: 1px solid #e1e4e8">'
            + "".join(rows) + "</pre>")


@dataclass
class ChangeView:
    """What :meth:`Comparison.show` displays: one change's title, why, and diff items.

    Jupyter gets HTML (a coloured diff per item); ``print``, papermill logs and nbval's
    ``text/plain`` get the same diff as plain text."""

    title: str
    why: str
    items: list[DiffItem]
    same: str

    def __str__(self) -> str:
        body = "".join(i.diff for i in self.items) or self.same + "\n"
        return f"## {self.title}\nWhy it matters: {self.why}\n\n{body}"

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        out = [f"<h4 style=\"margin: 0.4em 0\">{html.escape(self.title)}</h4>",
               f"<p style=\"margin: 0.2em 0 0.5em\"><b>Why it matters:</b> "
               f"{html.escape(self.why)}</p>"]
        if not self.items:
            out.append(f"<p><i>{html.escape(self.same)}</i></p>")
        out += [diff_html(item.diff) for item in self.items]  # its header names the object
        return "".join(out)


@dataclass
class Comparison:
    """``compare()``'s result: the two rendered variants and every change's diff."""

    base_name: str
    other_name: str
    base: list[Obj]
    other: list[Obj]
    changes: list[ChangeDiff] = field(default_factory=list)
    #: Where the base variant's files are (to read its committed Secret raw, never shown).
    base_path: Path | None = None

    def __getitem__(self, key: str) -> ChangeDiff:
        for c in self.changes:
            if c.change.key == key:
                return c
        raise KeyError(f"no change {key!r}; known: {', '.join(c.change.key for c in self.changes)}")

    def diff(self, key: str) -> str:
        """The unified diff of one change (empty when ``other`` does not make it)."""
        return self[key].diff

    def view(self, key: str) -> ChangeView:
        """One change as a displayable object (coloured HTML in Jupyter, text elsewhere)."""
        c = self[key]
        return ChangeView(c.change.title, c.change.why, c.items,
                          f"(no difference: {self.other_name} is the same as {self.base_name})")

    def show(self, key: str) -> None:
        """Show one change: title, why, and its diff, coloured in Jupyter (what a notebook
        cell calls); printed as text outside IPython."""
        shown = self.view(key)
        if _in_ipython():
            from IPython.display import display

            display(shown)
        else:
            print(shown)

    def text(self) -> str:
        """Every change with its diff, as one text (for a file or a terminal)."""
        out = []
        for c in self.changes:
            out.append(f"### {c.change.title}  [{c.change.key}]\n# why: {c.change.why}\n")
            out.append(c.diff or "(same)\n")
        return "\n".join(out)

    def summary(self) -> LabFrame:
        """One row per change (against production also the lab text's changes it does not
        make): status, objects, diff size, why it matters."""
        rows = []
        for c in self.changes:
            plus, minus = c.counts()
            shown = c.differing if len(c.differing) <= 8 else [
                *c.differing[:3], f"… and {len(c.differing) - 3} more"]
            rows.append({
                "change": c.change.title,
                "key": c.change.key,
                "lab text #": c.change.lab_text,
                "status": (f"changed in {len(c.differing)} object(s)" if c.present
                           else f"same as {self.base_name}"),
                "objects": ", ".join(shown),
                "+/-": f"+{plus} -{minus}",
                "why it matters": c.change.why,
            })
        for nd in NOT_DONE if self.other_name == "production" else ():
            rows.append({"change": nd.title, "key": nd.key, "lab text #": nd.lab_text,
                         "status": "not in manifests/production", "objects": "",
                         "+/-": "", "why it matters": nd.why})
        df = lab_frame(pd.DataFrame(rows))
        df["lab text #"] = df["lab text #"].astype("Int64")
        df.attrs["kubectl"] = (f"kubectl diff -k manifests/{self.other_name}  "
                               f"# against a cluster running manifests/{self.base_name}")
        df.attrs["nowrap"] = ["key", "+/-"]
        return df

    def objects(self) -> LabFrame:
        """Every object of either side: added, removed, changed or same (whole objects)."""
        a, b = _index(self.base), _index(self.other)
        rows = []
        for r in [*a, *(k for k in b if k not in a)]:
            va, vb = view(a.get(r), ()), view(b.get(r), ())
            state = ("added" if r not in a else "removed" if r not in b
                     else "same" if va == vb else "changed")
            rows.append({"object": r, self.base_name: r in a, self.other_name: r in b,
                         "state": state})
        return lab_frame(pd.DataFrame(rows))

    def unexplained(self) -> list[str]:
        """Every field that differs between the two variants and that no listed change
        covers, as ``Kind/name: path`` — measured on the rendered objects themselves, so a
        difference the overlay makes and the course does not explain cannot hide."""
        a, b = _index(self.base), _index(self.other)
        out = []
        for r in [*a, *(k for k in b if k not in a)]:
            differing = _differing_paths(a.get(r) or {}, b.get(r) or {})
            if not differing:
                continue
            covered: set[str] = set()
            for c in self.changes:
                if r in c.objects:
                    covered |= set(flatten(view(a.get(r), c.change.fields)))
                    covered |= set(flatten(view(b.get(r), c.change.fields)))
            out += [f"{r}: {p}" for p in differing if p not in covered]
        return out


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf paths of an object: ``spec.template.spec.containers[postgres].image``. Named
    list items are keyed by name (their order is not a difference); other lists, scalars
    and empty mappings are leaves."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if (isinstance(value, list) and value
            and all(isinstance(i, dict) and "name" in i for i in value)
            and len({i["name"] for i in value}) == len(value)):
        out = {}
        for item in value:
            rest = {k: v for k, v in item.items() if k != "name"}
            out[f"{prefix}[{item['name']}].name"] = item["name"]
            if rest:
                out.update(flatten(rest, f"{prefix}[{item['name']}]"))
        return out
    return {prefix: value}


def _in_ipython() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with Jupyter
        return False
    return get_ipython() is not None


def compare(base: str | Path = "lab", other: str | Path = "production",
            changes: Iterable[Change] = CHANGES) -> Comparison:
    """Render both variants offline and measure every change on them."""
    base_objs, other_objs = render(base), render(other)
    a, b = _index(base_objs), _index(other_objs)
    base_name, other_name = Path(str(base)).name, Path(str(other)).name
    result = Comparison(base_name, other_name, base_objs, other_objs,
                        base_path=_folder(base))
    for change in changes:
        refs = resolve_targets(change.targets, a, b)
        items, differing = [], []
        for r in refs:
            va, vb = view(a.get(r), change.fields), view(b.get(r), change.fields)
            if va == vb:
                continue
            differing.append(r)
            kind = r.partition("/")[0]
            for part, pa, pb in parts(kind, va, vb):
                if pa == pb:
                    continue
                suffix = f" ({part})" if part else ""
                items.append(DiffItem(r, part, unified(
                    pa, pb, f"{base_name}/{r}{suffix}" if r in a else "/dev/null",
                    f"{other_name}/{r}{suffix}" if r in b else "/dev/null")))
        result.changes.append(ChangeDiff(change, refs, differing, items))
    return result


def _folder(variant: str | Path) -> Path:
    return MANIFESTS_DIR / variant if str(variant) in VARIANTS else Path(variant)


def production_checks(result: Comparison, findings: pd.DataFrame | None = None,
                      dry: pd.DataFrame | None = None, shown: str = "") -> LabFrame:
    """Notebook 9's check table: ✅/❌, the evidence, and a hint on failing rows only.

    Every row is measured on the rendered manifests (``result``), not on the course's own
    list: the listed changes must each be made by the other variant, and every field that
    differs must be one of them. ``findings`` is :func:`lint_table`'s result, ``dry``
    :func:`server_dry_run`'s (None: not run), ``shown`` any other text the notebook
    displayed (searched for the committed password with the diffs)."""
    missing = [c.change.key for c in result.changes if not c.present]
    unexplained = result.unexplained()
    fields = sum(len(_differing_paths(a, b)) for a, b in _pairs(result))
    other = f"manifests/{result.other_name}"
    secrets_left = [ref(o) for o in result.other if o["kind"] == "Secret"]
    committed = [str(v) for o in load(result.base_path) if o["kind"] == "Secret"
                 for v in (o.get("stringData") or o.get("data") or {}).values()] \
        if result.base_path else []
    text = (result.text() + result.summary().to_string() + shown
            + "".join(result.view(c.change.key)._repr_html_() for c in result.changes))
    leaked = [v for v in committed if v in text]
    rows = [
        (f"every listed change is made by {other}", not missing,
         f"{len(result.changes) - len(missing)}/{len(result.changes)} changes differ from "
         f"{result.base_name}",
         f"{other} no longer makes: {', '.join(missing)} (see its kustomization and patches/)"),
        (f"every difference from {result.base_name} is one of the listed changes",
         not unexplained,
         f"{fields} differing field(s), {len(unexplained)} not explained",
         "not explained: " + "; ".join(unexplained[:5])
         + (f"; … and {len(unexplained) - 5} more" if len(unexplained) > 5 else "")),
        (f"the committed Secret is not in {other}", not secrets_left,
         f"Secret objects: {len(secrets_left)}",
         f"{', '.join(secrets_left)}: create it out of band (manifests/production/README.md)"),
        ("no secret value in any diff", bool(committed) and not leaked,
         f"{len(committed)} committed value(s), {len(leaked)} shown",
         "report this: a diff leaked it" if committed else
         f"no committed Secret value found in {result.base_path} to look for"),
    ]
    if findings is not None:
        rows.append((f"labhelpers.manifests.lint: {result.other_name} is clean", findings.empty,
                     f"{len(findings)} finding(s)", "see the findings table above"))
    if dry is not None:
        bad = dry[~dry["result"].isin(["accepted", "valid"])]
        rows.append((f"the API server (or the offline schema) accepts {result.other_name}",
                     bad.empty,  # the split server/offline is the dry-run table's `how`
                     f"{len(dry) - len(bad)}/{len(dry)} objects accepted",
                     "; ".join(f"{r.object}: {r.note}" for r in bad.itertuples())))
    return LabFrame([{"criterion": c, "ok": "✅" if ok else "❌", "evidence": e,
                      "hint": "" if ok else h} for c, ok, e, h in rows],
                    columns=["criterion", "ok", "evidence", "hint"])


def _pairs(result: Comparison) -> list[tuple[Obj, Obj]]:
    a, b = _index(result.base), _index(result.other)
    return [(a.get(r) or {}, b.get(r) or {}) for r in [*a, *(k for k in b if k not in a)]]


def _differing_paths(a: Obj, b: Obj) -> list[str]:
    fa, fb = flatten(a), flatten(b)
    return [p for p in {**fa, **fb} if fa.get(p, _MISSING) != fb.get(p, _MISSING)]


# ---------------------------------------------------------------------- validate


def lint_table(variant: str | Path = "production") -> LabFrame:
    """``labhelpers.manifests.lint`` findings of a variant (its ``lint.yaml`` honoured) as a table."""
    path = MANIFESTS_DIR / variant if str(variant) in VARIANTS else Path(variant)
    rows = [{"severity": f.severity, "rule": f.rule, "object": f.object,
             "message": f.message, "fix": f.fix} for f in lint_path(path)]
    df = LabFrame(rows, columns=["severity", "rule", "object", "message", "fix"])
    df.attrs["kubectl"] = f"python -m labhelpers.manifests.lint manifests/{Path(str(variant)).name}"
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
    deadline = time.monotonic() + timeout
    while True:
        try:
            lab.core.create_namespace(client.V1Namespace(
                metadata=client.V1ObjectMeta(name=name, labels=dict(labels))))
            return True
        except client.ApiException as exc:
            # 403: a classroom learner may not create namespaces, but may use one that
            # the instructor made (read below; still refused if it is not there)
            if exc.status not in (403, 409):
                raise
            refused = exc if exc.status == 403 else None
        try:
            existing = lab.core.read_namespace(name)
        except client.ApiException as exc:
            if refused is not None:
                raise refused from exc
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


def _wait_namespace_gone(lab: Any, name: str, timeout: float = 30) -> None:
    """Until the scratch namespace is really gone, so the printed lines (create, dry run,
    delete the same name) can be pasted at once: pasted while it was still Terminating,
    `kubectl create namespace` said AlreadyExists and the dry run NotFound."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            lab.core.read_namespace(name)
        except client.ApiException as exc:
            if exc.status == 404:
                return
        time.sleep(0.1)


def scratch_namespace(lab: Any, variant: str | Path) -> str:
    """Where a dry run goes by default: a fresh ``dryrun-<variant>-<hex>`` (re-running the
    cell never meets the last one still terminating) — but in a learner's pod, which may
    not create namespaces, the classroom's break & fix namespace
    (``<service-account namespace>-breakfix``, as :mod:`labhelpers.breakfix` picks it):
    the learner may write there, and break & fix leaves it empty."""
    target = getattr(lab, "target", None)
    if target is not None and target.kind == "in-cluster" and target.service_account_namespace:
        return target.service_account_namespace + BREAKFIX_SUFFIX
    return f"dryrun-{Path(str(variant)).name}-{secrets.token_hex(3)}"


def server_dry_run(lab: Any, variant: str | Path = "production",
                   namespace: str | None = None) -> LabFrame:
    """Server-side apply of a variant with ``dryRun=All`` into a scratch namespace.

    The API server runs defaulting, validation and admission but stores nothing, so this
    is the strongest check short of deploying. A kind the server does not serve (e.g. a
    cluster without the policy/v1 API) is validated offline against the strict
    schema instead, and the row says so. The scratch namespace (which a dry run cannot
    create; :func:`scratch_namespace`) is made and deleted here unless it already existed.
    """

    scratch = namespace or scratch_namespace(lab, variant)
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
            _wait_namespace_gone(lab, scratch)
    df = LabFrame(rows, columns=["object", "how", "result", "note"])
    own = {o["metadata"].get("namespace") for o in objects} - {None}
    df.attrs["kubectl"] = "\n".join(dry_run_lines(Path(str(variant)).name, scratch,
                                                  own.pop() if len(own) == 1 else None,
                                                  created))
    df.attrs["namespace"] = scratch
    return df
