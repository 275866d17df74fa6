"""``Lab``: one cluster + one namespace, and the few verbs a notebook cell needs.

Each method is a thin layer over the official client; the work is in small modules
(apply, waiting, tables, actions, checks, describe, metrics, charts, podlife, ensure,
styling) that a learner can open one at a time.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml
from kubernetes import client

from labhelpers import (
    actions,
    checks,
    commands,
    manifests,
    metrics,
    ownership,
    podlife,
    tables,
    timeline,
)
from labhelpers.apply import ApplyError, Resources, apply_one, delete_one, request
from labhelpers.cluster import Target
from labhelpers.describe import Description, describe
from labhelpers.ensure import ensure as ensure_tiers
from labhelpers.manifests import TIERS
from labhelpers.manifests.ordering import apply_order, delete_order
from labhelpers.waiting import wait_ready, wait_settled

if TYPE_CHECKING:  # matplotlib and httpx load only when a chart is drawn or a shop opens
    from labhelpers.charts import LabFigure  # (import time matters in every notebook's
    from labhelpers.shop import Shop  # first cell); neither module imports this one
    from labhelpers.shop.portforward import Relay

TIER_TIMEOUT = 180.0
#: What cleanup looks at in a namespace it did not create (pods go with their workloads).
CLEANUP_KINDS = [("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "PersistentVolumeClaim"),
                 ("v1", "Service"), ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet")]


def _objects(source: Any) -> list[dict[str, Any]]:
    """Objects from a path (file/folder/kustomization), a YAML string, a dict or a list."""
    if isinstance(source, dict):
        return [copy.deepcopy(source)]
    if isinstance(source, list):
        return [copy.deepcopy(o) for o in source]
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source
                                    and ":" not in source):
        return manifests.load(source)
    return [d for d in yaml.safe_load_all(source) if d]


class Lab:
    """What ``labhelpers.connect()`` returns. ``show_kubectl=True`` prints, before each
    table, the kubectl command it stands for. ``image_registry`` (default:
    ``$LAB_IMAGE_REGISTRY``) makes everything applied run ``<registry>/storefront:<v>``
    instead of ``storefront:<v>``, for clusters that pull from a registry."""

    def __init__(self, target: Target, show_kubectl: bool = False,
                 image_registry: str | None = None) -> None:
        registry = image_registry or os.environ.get(manifests.REGISTRY_ENV) or None
        #: Where the storefront image comes from (None: ``storefront:<v>`` as written).
        self.image_registry = manifests.check_registry(registry) if registry else None
        self.target = target
        self.api = target.api
        self.namespace = target.namespace
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.resources = Resources(self.api)
        self.show_kubectl = show_kubectl
        #: Pods this Lab deleted, as they were: the timeline keeps their moments.
        self.deleted_pods: list[podlife.DeletedPod] = []
        #: The last object the API server rejected (``err.ref`` is Kind/name), for the
        #: doctor; cleared by the next apply that succeeds.
        self.last_apply_error: ApplyError | None = None
        #: The port-forwards this Lab started (open_shop), stopped by cleanup().
        self.forwards: list[Relay] = []

    def __repr__(self) -> str:
        registry = f" registry={self.image_registry}" if self.image_registry else ""
        return (f"<Lab {self.target.kind} context={self.target.context} ns={self.namespace}"
                f"{registry}>")

    def in_namespace(self, namespace: str) -> Lab:
        """The same cluster, another namespace (e.g. a break/fix scenario beside the lab)."""
        other = copy.copy(self.target)
        other.namespace = namespace
        return Lab(other, self.show_kubectl, self.image_registry)

    # ------------------------------------------------------------------ apply/deploy
    def _namespace_object(self) -> client.V1Namespace | None:
        try:
            return self.core.read_namespace(self.namespace)
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def adopted(self) -> bool:
        """Whether this namespace counts as adopted without ``adopt=True``: in a learner pod,
        its service account's namespace and the break & fix one beside it."""
        return ownership.adopted_by_pod(self.namespace, self.target.service_account_namespace)

    def ensure_namespace(self, adopt: bool = False) -> None:
        """Create our namespace (labelled), or check an existing one is ours (or adopted)."""
        ns = self._namespace_object()
        if ns is None:
            apply_one(self.resources, ownership.stamp(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}}))
        elif not ownership.is_ours(ns.metadata.labels) and not (adopt or self.adopted()):
            raise ownership.NotOurs(
                f"namespace {self.namespace} exists and labhelpers did not create it (no "
                f"{ownership.SELECTOR} labels); pass adopt=True to deploy into it anyway, "
                "or connect(namespace=...) to another one")

    def apply(self, source: Any, adopt: bool = False) -> list[str]:
        """Server-side apply into this namespace, in dependency order; returns Kind/name.

        ``source``: a path (file, folder, kustomization), YAML text, a dict or a list.
        Storefront images move to ``image_registry`` when one is set.
        """
        objs = manifests.with_registry(manifests.with_namespace(_objects(source),
                                                                self.namespace),
                                       self.image_registry)
        try:
            self.ensure_namespace(adopt)
            namespace_ours = self._is_namespace_ours()
            done = []
            for obj in apply_order(objs):
                if obj["kind"] == "Namespace" and not namespace_ours:
                    continue  # adopted: leave its labels alone
                apply_one(self.resources, ownership.stamp(obj))
                done.append(manifests.ref(obj))
        except ApplyError as exc:
            self.last_apply_error = exc
            raise
        self.last_apply_error = None
        return done

    def _is_namespace_ours(self) -> bool:
        ns = self._namespace_object()
        return ns is not None and ownership.is_ours(ns.metadata.labels)

    def tier_objects(self, tier: str) -> list[dict[str, Any]]:
        files = manifests.lab_tiers()
        if tier not in TIERS:
            raise ValueError(f"unknown tier {tier!r}; tiers: {', '.join(TIERS)}, all")
        return [o for stem in TIERS[tier] for o in manifests.load_file(files[stem])]

    def deploy(self, tier: str = "all", timeout: float = TIER_TIMEOUT,
               adopt: bool = False) -> pd.DataFrame:
        """Apply a tier (or "all", tier by tier), wait until ready, return its pods."""
        names = list(TIERS) if tier == "all" else [tier]
        made: list[str] = []
        for name in names:
            objs = self.tier_objects(name)
            self.apply(objs, adopt=adopt)
            if self.show_kubectl:  # what waits, in kubectl, for what wait_ready waits for
                for obj in objs:
                    if obj["kind"] in ("Deployment", "StatefulSet"):
                        ref = ("deploy/" if obj["kind"] == "Deployment" else "sts/") + \
                            obj["metadata"]["name"]
                        print("$ " + commands.rollout_status(self.namespace, ref, timeout))
            wait_ready(self.core, self.apps, self.namespace,
                       manifests.with_namespace(objs, self.namespace), timeout,
                       f"{name} tier")
            made += [o["metadata"]["name"] for o in objs if o["kind"] in ("Deployment",
                                                                           "StatefulSet")]
        pods = self.pods()
        return pods[pods["name"].map(lambda p: any(p.startswith(m + "-") for m in made))] \
            .reset_index(drop=True)

    def ensure(self, tier: str = "all", timeout: float = TIER_TIMEOUT,
               adopt: bool = False) -> pd.DataFrame:
        """Deploy only what is missing or not ready (a notebook's setup cell); healthy
        objects are not written to, so a learner's changes survive. One row per object."""
        return ensure_tiers(self, tier, timeout, adopt)

    def cleanup(self) -> dict[str, list[str]]:
        """Delete what labhelpers made here: the namespace when it is ours, else only our
        labelled objects. Returns (and prints) what was deleted and what was left."""
        report: dict[str, list[str]] = {"deleted": [], "left": []}
        self.stop_forwards()
        ns = self._namespace_object()
        if ns is None:
            print(f"namespace {self.namespace}: not there, nothing to delete")
            return report
        if ownership.is_ours(ns.metadata.labels):
            self.core.delete_namespace(self.namespace)
            report["deleted"].append(f"Namespace/{self.namespace} (and everything in it)")
        else:
            contents = self._contents()
            ours = [o for o, mine in contents if mine]
            claims = set(ownership.template_claims(
                [o for o in ours if o["kind"] == "StatefulSet"],
                [o["metadata"]["name"] for o, mine in contents
                 if not mine and o["kind"] == "PersistentVolumeClaim"]))
            ours += [o for o, mine in contents if not mine and o["kind"] == "PersistentVolumeClaim"
                     and o["metadata"]["name"] in claims]
            for obj in delete_order(ours):
                if delete_one(self.resources, obj):
                    report["deleted"].append(manifests.ref(obj))
            report["left"].append(f"Namespace/{self.namespace} (not created by labhelpers)")
            report["left"] += [manifests.ref(o) for o, mine in contents if not mine
                               and o["metadata"]["name"] not in claims]
        print("deleted: " + (", ".join(report["deleted"]) or "nothing"))
        print("left: " + (", ".join(report["left"]) or "nothing"))
        return report

    def _contents(self) -> list[tuple[dict[str, Any], bool]]:
        """(object reference, made by labhelpers?) for the kinds the lab uses."""
        found = []
        for api_version, kind in CLEANUP_KINDS:
            path = self.resources.path({"apiVersion": api_version, "kind": kind,
                                        "metadata": {"namespace": self.namespace}},
                                       with_name=False)
            _, _, raw = request(self.api, "GET", path)
            for item in json.loads(raw)["items"]:
                meta = item["metadata"]
                if kind == "ConfigMap" and meta["name"] == "kube-root-ca.crt":
                    continue
                ref = {"apiVersion": api_version, "kind": kind,
                       "metadata": {"name": meta["name"], "namespace": self.namespace}}
                if kind == "StatefulSet":  # its claim templates say which claims it made
                    ref["spec"] = {"volumeClaimTemplates":
                                   item["spec"].get("volumeClaimTemplates") or []}
                found.append((ref, ownership.is_ours(meta.get("labels"))))
        return found

    # ------------------------------------------------------------------ look
    def _show(self, df: pd.DataFrame) -> pd.DataFrame:
        if self.show_kubectl:
            print(f"$ {df.attrs['kubectl']}")
        return df

    def pods(self) -> pd.DataFrame:
        items = self.core.list_namespaced_pod(self.namespace).items
        return self._show(tables.pods_table(items, self.namespace))

    def services(self) -> pd.DataFrame:
        items = self.core.list_namespaced_service(self.namespace).items
        return self._show(tables.services_table(items, self.namespace))

    def endpoints(self) -> pd.DataFrame:
        items = self.core.list_namespaced_endpoints(self.namespace).items
        return self._show(tables.endpoints_table(items, self.namespace))

    def events(self, warnings_only: bool = False) -> pd.DataFrame:
        items = self.core.list_namespaced_event(self.namespace).items
        return self._show(tables.events_table(items, self.namespace, warnings_only))

    def pvcs(self) -> pd.DataFrame:
        items = self.core.list_namespaced_persistent_volume_claim(self.namespace).items
        return self._show(tables.pvcs_table(items, self.namespace))

    def configmap(self, name: str) -> pd.DataFrame:
        cm = self.core.read_namespaced_config_map(name, self.namespace)
        return self._show(tables.data_table(name, cm.data or {},
                                            f"kubectl get configmap {name} -n {self.namespace} "
                                            "-o yaml"))

    def secret(self, name: str, reveal: bool = False) -> pd.DataFrame:
        """Keys with values redacted (their length only) unless ``reveal=True``."""
        sec = self.core.read_namespaced_secret(name, self.namespace)
        return self._show(tables.data_table(name, tables.redact(sec.data, reveal),
                                            f"kubectl get secret {name} -n {self.namespace} "
                                            "-o yaml"))

    def logs(self, target: str, tail: int = 50, previous: bool = False) -> str:
        pod = actions.workload_pods(self.core, self.apps, self.namespace, target)[0]
        if self.show_kubectl:
            print("$ " + commands.kubectl("logs", "-n", self.namespace, target, f"--tail={tail}",
                                          *(["--previous"] if previous else [])))
        return self.core.read_namespaced_pod_log(pod.metadata.name, self.namespace,
                                                 tail_lines=tail, previous=previous)

    def describe(self, target: str) -> Description:
        """``kubectl describe`` text for ``pod/x`` (or ``x``), ``deploy/x``, ``sts/x``,
        ``svc/x``, ``pvc/x``; Secret values appear only as references."""
        d = describe(self.core, self.apps, self.namespace, target)
        if self.show_kubectl:
            print(f"$ {d.kubectl}")
        return d

    def top(self) -> pd.DataFrame:
        """CPU (m) and memory (Mi) per container, each also as % of its request and of its
        limit; prints how to get metrics-server (and returns an empty table) when there is
        none."""
        return self._show(metrics.top(self))

    def plot_top(self, table: pd.DataFrame | None = None) -> LabFigure:
        """Use as % of request and of limit per pod, CPU and memory panels. Pass the table
        :meth:`top` returned to draw that same sample (else a new one is taken, whose
        numbers differ from a table shown a moment ago)."""
        from labhelpers.charts import plot_top

        return plot_top(self.top() if table is None else table)

    def timeline(self) -> pd.DataFrame:
        """Each pod's moments (created, scheduled, started, ready, terminated, kills,
        back-offs), deleted pods included as far as their events remember them."""
        pods = self.core.list_namespaced_pod(self.namespace).items
        events = self.core.list_namespaced_event(self.namespace).items
        return self._show(timeline.timeline_table(pods, events, self.namespace,
                                                  self.deleted_pods))

    def plot_timeline(self) -> LabFigure:
        """:meth:`timeline` as horizontal bars, one per pod (and per deleted pod)."""
        from labhelpers.charts import plot_timeline

        return plot_timeline(self.timeline())

    # ------------------------------------------------------------------ act
    def http(self, service: str, path: str = "/", port: int | str | None = None,
             method: str = "GET", body: Any = None) -> actions.HttpResult:
        """A request to a Service through the API server's proxy (works from anywhere)."""
        if self.show_kubectl:
            print("$ " + commands.raw_request(
                actions.proxy_path(self.namespace, service, path, port), method, body))
        return actions.http(self.api, self.namespace, service, path, port, method, body)

    def exec(self, target: str, command: list[str] | str, timeout: float = 30
             ) -> actions.ExecResult:
        """Run a command in a pod (``name`` or ``deploy/x``: its first ready pod)."""
        cmd = ["sh", "-c", command] if isinstance(command, str) else list(command)
        pod = actions.workload_pods(self.core, self.apps, self.namespace, target)[0]
        if self.show_kubectl:
            print("$ " + commands.exec_in(self.namespace, target, cmd))
        return actions.exec_in(self.core, self.namespace, pod.metadata.name, cmd, timeout)

    def resolve(self, name: str, from_: str = "deploy/ecommerce-backend"
                ) -> actions.ExecResult:
        """``nslookup name`` inside a pod: what cluster DNS answers there."""
        return self.exec(from_, ["nslookup", name])

    def scale(self, workload: str, replicas: int, wait: bool = True,
              timeout: float = 120) -> int:
        """``kubectl scale``; with ``wait``, until that many pods are Ready and the ones a
        scale-down removed are gone (the tables after it show only pods that stay)."""
        if self.show_kubectl:
            line = commands.kubectl("scale", "-n", self.namespace, workload,
                                    f"--replicas={replicas}")
            if wait:
                line += " && " + commands.rollout_status(self.namespace, workload, timeout)
            print(f"$ {line}")
        done = actions.scale(self.apps, self.core, self.namespace, workload, replicas,
                             wait, timeout)
        if wait:  # pods removed by a scale-down finish their shutdown first
            self._settle(workload, timeout)
        return done

    def _settle(self, workload: str, timeout: float) -> None:
        if "/" not in workload:
            workload = f"deploy/{workload}"
        wait_settled(self.core, self.namespace, timeout,
                     actions.workload_selector(self.apps, self.namespace, workload))

    def wait_settled(self, timeout: float = 90) -> None:
        """Wait until no pod in the namespace is Terminating (after deleting pods or a
        rollout), so the tables and checks that follow show only pods that stay."""
        if self.show_kubectl:
            print(f"$ kubectl get pods -n {self.namespace} -w   # until none is Terminating")
        wait_settled(self.core, self.namespace, timeout)

    def restart(self, workload: str, wait: bool = True, timeout: float = TIER_TIMEOUT) -> None:
        """``kubectl rollout restart``, then wait for the new pods to be ready and the old
        ones to be gone."""
        if self.show_kubectl:
            line = commands.kubectl("rollout", "restart", "-n", self.namespace, workload)
            if wait:
                line += " && " + commands.rollout_status(self.namespace, workload, timeout)
            print(f"$ {line}")
        obj = actions.restart(self.apps, self.namespace, workload)
        if wait:
            wait_ready(self.core, self.apps, self.namespace, [obj], timeout,
                       f"restart {workload}")
            self._settle(workload, timeout)

    def delete_pod(self, name: str) -> podlife.DeletedPod:
        """Delete one pod (its controller replaces it); refused when neither the namespace
        nor the pod's workload was made by labhelpers. Pass the result to wait_recreated."""
        if self.show_kubectl:
            print("$ " + commands.kubectl("delete", "pod", name, "-n", self.namespace))
        gone = podlife.delete_pod(self.core, self.apps, self.namespace, name,
                                  self._is_namespace_ours())
        self.deleted_pods.append(gone)
        return gone

    def wait_recreated(self, name_or_workload: str | podlife.DeletedPod,
                       old_uid: str | None = None, timeout: float = 120) -> client.V1Pod:
        """The Ready pod that replaced a deleted one (same name and a new UID for a
        StatefulSet's pod; a new name for a Deployment's)."""
        if self.show_kubectl:
            print("$ " + _wait_recreated_line(self.namespace, name_or_workload, timeout))
        return podlife.wait_recreated(self.core, self.apps, self.namespace, name_or_workload,
                                      old_uid, timeout)

    def open_shop(self, local_port: int = 0, timeout: float = 60) -> Shop:
        """The lab text's step 8: a port-forward to the frontend on 127.0.0.1 and a link
        the learner's browser opens (through JupyterLab's server when it has
        jupyter-server-proxy); ``shop.visit()`` shops through it. Opening it again stops
        the previous one. See ``labhelpers.shop``."""
        from labhelpers.shop import open_shop

        self.stop_forwards()
        shop = open_shop(self, local_port, timeout)
        self.forwards.append(shop.forward)
        return shop

    def stop_forwards(self) -> None:
        """Stop every port-forward this Lab started (no listener left behind)."""
        for forward in self.forwards:
            forward.stop()
        self.forwards.clear()

    # ------------------------------------------------------------------ check
    def check(self, strict: bool = False) -> pd.DataFrame:
        """The lab's success criteria: ✅/❌, evidence, a hint for each failure."""
        return checks.run(self, strict)

    # ------------------------------------------------------------------ delegations
    # Imported on first use, for import time only (matplotlib, httpx and the linter load
    # when a notebook uses them): none of these modules imports this one — they call back
    # through labhelpers.protocol.LabLike — so this is no import circle (test_layering).
    def loadtest(self, target: str = "ecommerce-backend", **kw: Any) -> Any:
        """A load test against a Service (see ``labhelpers.loadtest.run``)."""
        from labhelpers.loadtest import run

        return run(self, target, **kw)

    def doctor(self) -> Any:
        """What is wrong with the lab and what to do (see ``labhelpers.doctor``)."""
        from labhelpers.doctor import diagnose

        return diagnose(self)


def _wait_recreated_line(namespace: str, what: str | podlife.DeletedPod, timeout: float) -> str:
    """What waits for a deleted pod's replacement: the rollout status of its workload (a
    Deployment's replacement has a new name; a StatefulSet's keeps it), or the pod's Ready."""
    workload = what.workload if isinstance(what, podlife.DeletedPod) else (
        what if "/" in what else None)
    if workload:
        return commands.rollout_status(namespace, workload, timeout)
    name = what.name if isinstance(what, podlife.DeletedPod) else what
    return commands.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "-n", namespace,
                            f"--timeout={int(timeout)}s")
