"""The lab doctor: what is wrong in a namespace, the evidence, and the fix.

``diagnose(lab)`` reads the namespace once (:mod:`.snapshot`), then asks each family of
rules: what the API refused (:mod:`.rejected`), what pods say (:mod:`.pods`), what
Services say (:mod:`.services`) and what the manifests linter sees in the live objects
(:mod:`.manifests`). Official client only, so it works on any cluster.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from labhelpers.doctor import manifests, pods, rejected, services
from labhelpers.doctor.finding import COLUMNS, ERROR, WARNING, Finding, table
from labhelpers.doctor.snapshot import Snapshot, take
from labhelpers.protocol import LabLike

__all__ = ["COLUMNS", "ERROR", "WARNING", "Finding", "Snapshot", "diagnose", "findings",
           "report"]


#: Linter rules whose finding is the cause of a live one: folded into its evidence.
CAUSES = {"image-tag-unknown": ("image-pull",), "missing-reference": ("config-error",),
          "probe-path-unknown": ("readiness-failing", "liveness-failing"),
          "memory-below-minimum": ("oom-killed",), "storageclass-unknown": ("pvc-unbound",),
          "selector-mismatch": ("apply-rejected",)}


def findings(lab: LabLike) -> list[Finding]:
    """Every finding, live evidence first (the table keeps the first of a rule/object)."""
    snap = take(lab)
    live = [*rejected.findings(lab), *pods.findings(snap), *services.findings(snap)]
    rest = []
    for f in manifests.findings(snap):
        related = [i for i, g in enumerate(live) if g.rule in CAUSES.get(f.rule, ())
                   and (g.object == f.object or f.rule == "storageclass-unknown")]
        if not related:
            rest.append(f)
        for i in related:
            if "the manifest shows it too" not in live[i].evidence:
                live[i] = replace(live[i], evidence=f"{live[i].evidence}; the manifest shows "
                                  f"it too: {f.problem}")
    return live + rest


def diagnose(lab: LabLike, quiet: bool = False) -> pd.DataFrame:
    """The findings table (columns :data:`COLUMNS`); unless ``quiet``, also printed in full
    (a table cell truncates the evidence, which is the part worth reading)."""
    df = table(findings(lab), lab.namespace)
    if not quiet:
        if getattr(lab, "show_kubectl", False):
            print(f"$ {df.attrs['kubectl']}")
        print(report(df))
    return df


def report(df: pd.DataFrame) -> str:
    """The findings as text: one block per finding, nothing cut off."""
    ns = df.attrs.get("namespace", "?")
    if df.empty:
        return f"✅ namespace {ns}: no problems found"
    errors = int((df["severity"] == ERROR).sum())
    lines = [f"🩺 namespace {ns}: {errors} error(s), {len(df) - errors} warning(s)"]
    for r in df.itertuples():
        mark = "❌" if r.severity == ERROR else "⚠️"
        lines += [f"\n{mark} {r.object} [{r.rule}]: {r.problem}",
                  f"   evidence: {r.evidence}", f"   fix: {r.fix}"]
    return "\n".join(lines)
