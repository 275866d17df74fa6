"""Node capacity and usage, measured on this machine, in the units metrics.k8s.io uses.

Capacity is what this machine really has (psutil): `kubectl describe node` and the
scheduler see the truth, so a pod that would not fit here stays Pending. Container usage
comes from supervisor.ContainerProcess.usage() (CPU from cpu_times deltas, memory as the
sum of RSS over the process tree).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import psutil

SYSTEM_RESERVED_MEMORY = 256 * 1024 * 1024  # kept back from allocatable, as kubelets do


@dataclass(frozen=True)
class NodeResources:
    cpu_millicores: int
    memory_bytes: int
    pods: int = 110

    def as_quantities(self) -> dict[str, str]:
        return {
            "cpu": f"{self.cpu_millicores // 1000}" if self.cpu_millicores % 1000 == 0
            else f"{self.cpu_millicores}m",
            "memory": memory_quantity(self.memory_bytes),
            "pods": str(self.pods),
        }


def capacity() -> NodeResources:
    """This machine's cores (the ones we may run on) and physical memory."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return NodeResources(cores * 1000, psutil.virtual_memory().total)


def allocatable() -> NodeResources:
    cap = capacity()
    return NodeResources(cap.cpu_millicores, max(0, cap.memory_bytes - SYSTEM_RESERVED_MEMORY))


def node_usage(interval: float | None = None) -> NodeResources:
    """Whole-machine usage for NodeMetrics (CPU since the last call unless interval is set)."""
    percent = psutil.cpu_percent(interval=interval)
    cap = capacity()
    memory = psutil.virtual_memory()
    return NodeResources(round(cap.cpu_millicores * percent / 100), memory.total - memory.available)


def cpu_quantity(millicores: int) -> str:
    """CPU as metrics-server prints it (nanocores, e.g. "12345678n") for usage."""
    return f"{int(millicores) * 1_000_000}n"


def memory_quantity(memory_bytes: int) -> str:
    """Memory in Ki, as metrics-server and the kubelet print it."""
    return f"{int(memory_bytes) // 1024}Ki"


def container_metrics(name: str, cpu_millicores: int, memory_bytes: int) -> dict[str, object]:
    """One `containers[]` entry of a metrics.k8s.io/v1beta1 PodMetrics object."""
    return {"name": name, "usage": {"cpu": cpu_quantity(cpu_millicores),
                                    "memory": memory_quantity(memory_bytes)}}
