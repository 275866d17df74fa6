"""labhelpers: what the notebooks' cells call. It talks to any cluster through the
official kubernetes client only, so the code a test runs on labcluster is the code a
learner runs on a real cluster."""

import importlib

from labhelpers import _quickimport  # noqa: F401  (first: see its docstring)
from labhelpers.apply import ApplyError
from labhelpers.checks import CheckFailed
from labhelpers.cluster import Target, find_target, server_version
from labhelpers.coursefiles import version as _course_version
from labhelpers.describe import Description
from labhelpers.errors import LabError
from labhelpers.guard import ProductionRefused
from labhelpers.lab import TIERS, Lab
from labhelpers.manifests import ManifestError
from labhelpers.metrics import MetricsUnavailable
from labhelpers.ownership import NotOurs
from labhelpers.podlife import DeletedPod
from labhelpers.styling import LabFrame
from labhelpers.waiting import TierNotReady

#: The course's version (pyproject.toml): also the storefront image's tag.
__version__ = _course_version()

#: Errors of the parts a notebook imports on its own (kustomize, quiz, results, a load
#: test's target): exported here too, but their modules are imported on first use of the
#: name, so ``import labhelpers`` in a learner's kernel stays as fast as before (PEP 562).
#: The course tooling's errors live in ``labcourse`` (which imports labhelpers, never back).
_LAZY_ERRORS = {
    "KustomizeError": "labhelpers.manifests.kustomize", "LoadTargetRefused": "labhelpers.loadtest.guard",
    "QuizError": "labhelpers.quiz", "ResultsError": "labhelpers.results",
}

__all__ = ["ApplyError", "CheckFailed", "DeletedPod", "Description", "LabError", "Lab",
           "LabFrame", "ManifestError", "MetricsUnavailable", "NotOurs",
           "ProductionRefused", "TIERS", "Target", "TierNotReady", "connect",
           *sorted(_LAZY_ERRORS)]


def __getattr__(name: str) -> type[LabError]:
    if name in _LAZY_ERRORS:
        return getattr(importlib.import_module(_LAZY_ERRORS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY_ERRORS})


def connect(namespace: str | None = None, cluster: str = "auto", context: str | None = None,
            kubeconfig: str | None = None, allow_production: bool = False,
            show_kubectl: bool = False, image_registry: str | None = None) -> Lab:
    """Reach a cluster (in-cluster → kubeconfig → labcluster) and say which, in one line.

    Plain sync calls, so it works inside Jupyter's running event loop. ``image_registry``
    (or ``$LAB_IMAGE_REGISTRY``) moves ``storefront:<v>`` to ``<registry>/storefront:<v>``.
    """
    target = find_target(namespace, cluster, context, kubeconfig, allow_production)
    version = server_version(target.api)
    print(f"connected: {target.kind} cluster, context {target.context or '-'}, "
          f"namespace {target.namespace}, Kubernetes {version}")
    return Lab(target, show_kubectl, image_registry=image_registry)
