"""The object the API server refused at the last apply: it does not exist at all, so
nothing in the namespace shows it except the absence (and what depends on it).

This is the one finding that does not come from the cluster alone: the refusal is what
``lab.apply`` remembered (``lab.last_apply_error``, this Python session only). So the
finding says where it came from, and it is checked against the cluster now: an object
that exists by the time the doctor looks (fixed since, e.g. with kubectl) is no longer
reported, and one that is still absent is reported with that absence as live evidence.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from labhelpers.apply import request
from labhelpers.doctor.finding import ERROR, Finding

#: apiVersion of the kinds the lab applies, to look the refused object up by Kind/name.
API_VERSION = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1",
               "ReplicaSet": "apps/v1", "Job": "batch/v1", "CronJob": "batch/v1"}
SOURCE = "known from the last rejected apply, which labhelpers remembers in this session: " \
         "the cluster keeps no trace of an object it never created"


def exists_now(lab: Any, ref: str) -> bool | None:
    """Whether ``Kind/name`` exists in the lab's namespace now (None: cannot tell)."""
    kind, _, name = ref.partition("/")
    obj = {"apiVersion": API_VERSION.get(kind, "v1"), "kind": kind,
           "metadata": {"name": name, "namespace": lab.namespace}}
    try:
        code = request(lab.api, "GET", lab.resources.path(obj))[0]
    except Exception:  # an unknown kind, a dropped connection: say nothing either way
        return None
    if code == 404:
        return False
    return True if code < 400 else None


def findings(lab: Any) -> Iterator[Finding]:
    err = getattr(lab, "last_apply_error", None)
    if err is None:
        return
    present = exists_now(lab, err.ref)
    if present:
        return  # created since (kubectl, another apply): the refusal is history
    message = getattr(err, "server_message", str(err))
    if "selector` does not match template `labels`" in message:
        fix = ("make spec.selector.matchLabels equal the pod template's labels (the Service "
               "selects the template's labels too) and apply again; a selector is immutable, "
               "so an existing object must be deleted and re-created")
    else:
        fix = "change the field the server names and apply again"
    live = (f"; in the cluster now: no {err.ref} in namespace {lab.namespace}"
            if present is False else "")
    yield Finding(ERROR, err.ref, "apply-rejected",
                  f"the API server refused {err.ref} at the last apply, so it does not exist "
                  f"({SOURCE})",
                  f"{getattr(err, 'code', '?')} {getattr(err, 'reason', '')}: {message}{live}",
                  fix)
