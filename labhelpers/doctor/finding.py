"""One row of the doctor's table, and the table itself.

A finding names the object to change (``Kind/name``), the rule that fired (stable ids the
tests and notebooks refer to), the evidence the cluster gave, and the fix, so a learner
can check the diagnosis with their own eyes before acting on it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

ERROR, WARNING = "error", "warning"
COLUMNS = ["severity", "object", "rule", "problem", "evidence", "fix"]


@dataclass(frozen=True)
class Finding:
    severity: str
    object: str
    rule: str
    problem: str
    evidence: str
    fix: str


def table(findings: list[Finding], namespace: str) -> pd.DataFrame:
    """Errors first, one row per (rule, object); the first finding of a pair wins (live
    evidence is gathered before the manifest linter's, so it is the one kept)."""
    seen: set[tuple[str, str]] = set()
    rows = []
    for f in findings:
        if (f.rule, f.object) in seen:
            continue
        seen.add((f.rule, f.object))
        rows.append(asdict(f))
    df = pd.DataFrame(rows, columns=COLUMNS)
    if not df.empty:
        df = df.sort_values("severity", key=lambda s: s.map({ERROR: 0, WARNING: 1}),
                            kind="stable").reset_index(drop=True)
    df.attrs["kubectl"] = (f"kubectl get pods,svc,endpoints,events -n {namespace}"
                           "  # then kubectl describe pod NAME; kubectl logs NAME")
    df.attrs["namespace"] = namespace
    return df
