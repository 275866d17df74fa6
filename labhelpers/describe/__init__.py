"""``kubectl describe`` for the objects of the lab, as text a learner reads top to bottom:
what it is (labels, selector, replicas), what runs (containers: image, ports, env by name,
requests/limits, probes, state and last state), how it is doing (conditions, endpoints) and
the events at the bottom.

Environment values that come from a Secret are shown as the reference (``<set to the key
'password' in secret 'postgres-secret'>``), as kubectl does; a literal value whose name looks
secret (PASSWORD, TOKEN, ...) is redacted too, because a describe output ends up in saved
notebooks and CI logs.

``text`` holds the building blocks, ``kinds`` one function per kind; this module picks
one by the target.
"""

from __future__ import annotations

from kubernetes import client

from labhelpers.describe.kinds import (
    describe_deployment,
    describe_pod,
    describe_pvc,
    describe_service,
    describe_statefulset,
)
from labhelpers.describe.text import Description, env_line, parse_target

__all__ = ["Description", "describe", "describe_deployment", "describe_pod", "describe_pvc",
           "describe_service", "describe_statefulset", "env_line", "parse_target"]


def describe(core: client.CoreV1Api, apps: client.AppsV1Api, ns: str,
             target: str) -> Description:
    kind, name = parse_target(target)
    if kind == "Pod":
        text = describe_pod(core, ns, name)
    elif kind == "Deployment":
        text = describe_deployment(core, apps, ns, name)
    elif kind == "StatefulSet":
        text = describe_statefulset(core, apps, ns, name)
    elif kind == "Service":
        text = describe_service(core, ns, name)
    else:
        text = describe_pvc(core, ns, name)
    short = {"Pod": "pod", "Deployment": "deployment", "StatefulSet": "statefulset",
             "Service": "service", "PersistentVolumeClaim": "pvc"}[kind]
    return Description(kind, name, str(text), f"kubectl describe {short} {name} -n {ns}")
