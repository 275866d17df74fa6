"""labhelpers: what the notebooks' cells call. It talks to any cluster through the
official kubernetes client only, so the code a test runs on labcluster is the code a
learner runs on a real cluster."""

import labcourse
from labhelpers import _quickimport  # noqa: F401  (first: see its docstring)
from labhelpers.apply import ApplyError
from labhelpers.checks import CheckFailed
from labhelpers.cluster import Target, resolve, server_version
from labhelpers.describe import Description
from labhelpers.guard import ProductionRefused
from labhelpers.lab import TIERS, Lab
from labhelpers.metrics import MetricsUnavailable
from labhelpers.ownership import NotOurs
from labhelpers.podlife import DeletedPod
from labhelpers.styling import LabFrame
from labhelpers.waiting import TierNotReady

#: The course's version (pyproject.toml): also the storefront image's tag.
__version__ = labcourse.version()

__all__ = ["ApplyError", "CheckFailed", "DeletedPod", "Description", "Lab", "LabFrame",
           "MetricsUnavailable", "NotOurs", "ProductionRefused", "TIERS", "Target",
           "TierNotReady", "connect"]


def connect(namespace: str | None = None, cluster: str = "auto", context: str | None = None,
            kubeconfig: str | None = None, allow_production: bool = False,
            show_kubectl: bool = False, image_registry: str | None = None) -> Lab:
    """Reach a cluster (in-cluster → kubeconfig → labcluster) and say which, in one line.

    Plain sync calls, so it works inside Jupyter's running event loop. ``image_registry``
    (or ``$LAB_IMAGE_REGISTRY``) moves ``storefront:<v>`` to ``<registry>/storefront:<v>``.
    """
    target = resolve(namespace, cluster, context, kubeconfig, allow_production)
    version = server_version(target.api)
    print(f"connected: {target.kind} cluster, context {target.context or '-'}, "
          f"namespace {target.namespace}, Kubernetes {version}")
    return Lab(target, show_kubectl, image_registry=image_registry)
