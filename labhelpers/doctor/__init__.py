"""The lab doctor: what is wrong in a namespace, the evidence, and the fix.

``diagnose(lab)`` reads the namespace once (:mod:`.snapshot`), then asks each family of
rules: what the API refused (:mod:`.rejected`), what pods say (:mod:`.pods`), what
Services say (:mod:`.services`) and what the manifests linter sees in the live objects
(:mod:`.manifests`). Official client only, so it works on any cluster.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from labhelpers.doctor import manifests, pods, rejected, services
from labhelpers.doctor.finding import COLUMNS, ERROR, WARNING, Finding, table
from labhelpers.doctor.snapshot import Snapshot, take

if TYPE_CHECKING:
    from labhelpers.lab import Lab

__all__ = ["COLUMNS", "ERROR", "WARNING", "Finding", "Snapshot", "diagnose", "findings"]


def findings(lab: Lab) -> list[Finding]:
    """Every finding, live evidence first (the table keeps the first of a rule/object)."""
    snap = take(lab)
    return [*rejected.check(lab), *pods.check(snap), *services.check(snap),
            *manifests.check(snap)]


def diagnose(lab: Lab, quiet: bool = False) -> pd.DataFrame:
    """The findings table (columns :data:`COLUMNS`); says so when there is nothing."""
    df = table(findings(lab), lab.namespace)
    if not quiet:
        if getattr(lab, "show_kubectl", False):
            print(f"$ {df.attrs['kubectl']}")
        if df.empty:
            print(f"✅ namespace {lab.namespace}: no problems found")
        else:
            errors = int((df["severity"] == ERROR).sum())
            print(f"🩺 namespace {lab.namespace}: {errors} error(s), "
                  f"{len(df) - errors} warning(s)")
    return df
