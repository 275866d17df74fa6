"""What can be seen before deploy, seen on the live objects: the manifests linter run on
the namespace as it is now (the cluster's own StorageClasses trusted), with the log line
that shows a bad host name hurting."""

from __future__ import annotations

from collections.abc import Iterator

from labhelpers.doctor.finding import Finding
from labhelpers.doctor.snapshot import Snapshot
from labhelpers.manifests import lint


def findings(snap: Snapshot) -> Iterator[Finding]:
    for f in lint.lint(snap.objects(), cluster_storage_classes=snap.storage_classes):
        evidence = "manifest: " + ", ".join(f.objects)
        if f.rule == "unknown-host":
            evidence += _host_log(snap, f.message)
        yield Finding(f.severity, f.object, f.rule, f.message, evidence, f.fix)


def _host_log(snap: Snapshot, message: str) -> str:
    """The first log line of a pod that names the bad host (the symptom a learner sees)."""
    host = message.split("names host '", 1)[-1].split("'", 1)[0]
    for pod in snap.live_pods():
        if pod.status.phase != "Running":
            continue
        for line in snap.logs(pod.metadata.name, tail=40):
            if host in line:
                return f"; log of {pod.metadata.name}: {line.strip()[:200]}"
    return ""
