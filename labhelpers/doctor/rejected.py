"""The object the API server refused at the last apply: it does not exist at all, so
nothing in the namespace shows it except the absence (and what depends on it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from labhelpers.doctor.finding import ERROR, Finding


def check(lab: Any) -> Iterator[Finding]:
    err = getattr(lab, "last_apply_error", None)
    if err is None:
        return
    message = getattr(err, "server_message", str(err))
    if "selector` does not match template `labels`" in message:
        fix = ("make spec.selector.matchLabels equal the pod template's labels (the Service "
               "selects the template's labels too) and apply again; a selector is immutable, "
               "so an existing object must be deleted and re-created")
    else:
        fix = "change the field the server names and apply again"
    yield Finding(ERROR, err.ref, "apply-rejected",
                  f"the API server refused {err.ref} at the last apply: it does not exist",
                  f"{getattr(err, 'code', '?')} {getattr(err, 'reason', '')}: {message}", fix)
