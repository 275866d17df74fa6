"""The kubectl lines labhelpers prints beside each step (``show_kubectl=True``).

A learner copies them into a terminal opened in the course folder, so each is one line of
valid shell that does what the step did, with the namespace and names this run used. Every
argument goes through :func:`shlex.join`: a ``sh -c`` script, a query string with ``?`` or a
JSON body reaches kubectl as one argument, exactly as the helper sent it.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

#: kubectl's verb for a raw request with each HTTP method (``kubectl get --raw`` only GETs).
RAW_VERBS = {"GET": "get", "POST": "create", "PUT": "replace", "DELETE": "delete"}


def kubectl(*args: Any) -> str:
    """``kubectl`` with these arguments, each quoted for the shell as needed."""
    return shlex.join(["kubectl", *(str(a) for a in args)])


def raw_request(path: str, method: str = "GET", body: Any = None) -> str:
    """The kubectl line for one request to an API path (a Service proxy path, say).

    POST/PUT send the body on stdin (``-f -``), as JSON when it is not already text;
    kubectl has no raw PATCH, so that method is refused rather than printed wrongly."""
    verb = RAW_VERBS.get(method.upper())
    if verb is None:
        raise ValueError(f"kubectl has no raw {method} request (it has: {', '.join(RAW_VERBS)})")
    if verb in ("get", "delete"):
        return kubectl(verb, "--raw", path)
    if body is None:
        return kubectl(verb, "--raw", path, "-f", "/dev/null")
    text = body if isinstance(body, str) else json.dumps(body)
    return f"echo {shlex.quote(text)} | {kubectl(verb, '--raw', path, '-f', '-')}"


def exec_in(namespace: str, target: str, command: list[str]) -> str:
    """``kubectl exec`` of ``command`` (argv; a script is ``["sh", "-c", script]``)."""
    return kubectl("exec", "-n", namespace, target, "--", *command)


def rollout_status(namespace: str, workload: str, timeout: float) -> str:
    """Wait, as the helper did, until a workload's pods are updated and ready."""
    if "/" not in workload:
        workload = f"deploy/{workload}"
    return kubectl("rollout", "status", "-n", namespace, workload, f"--timeout={int(timeout)}s")
