"""The controllers (kube-controller-manager's part), as components of the server."""

from __future__ import annotations

from ..component import Component
from .deployment import DeploymentController
from .disruption import DisruptionController
from .endpoints import EndpointsController
from .gc import GarbageCollector, NamespaceController
from .hpa import HorizontalController
from .job import JobController
from .nodelifecycle import NodeLifecycleController
from .replicaset import ReplicaSetController
from .resourcequota import ResourceQuotaController
from .rootca import RootCACertPublisher
from .statefulset import StatefulSetController


def controller_components() -> list[Component]:
    return [DeploymentController(), ReplicaSetController(), StatefulSetController(),
            JobController(), EndpointsController(), GarbageCollector(), NamespaceController(),
            NodeLifecycleController(), ResourceQuotaController(), HorizontalController(),
            DisruptionController(), RootCACertPublisher()]
