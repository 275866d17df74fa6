"""labcluster: an embedded single-node cluster that speaks the Kubernetes API.

It exists so that the course runs where no real cluster can (a laptop without Docker,
Binder, CI); the notebooks talk to it with the official client exactly as to EKS.

Public entry points (cheap to import: the server's modules load only when needed):
`ensure_running(home=None) -> Path` (the kubeconfig), `stop(home=None)`, `status(home=None)`.
"""

from __future__ import annotations

from . import _quickimport  # noqa: F401  (first: see its docstring)
from .lifecycle import Status, ensure_running, status, stop

__all__ = ["Status", "ensure_running", "status", "stop"]
