"""Two production layers tried on the running lab: its NetworkPolicies and its autoscaler.

Notebook 9 reads production as a diff; these two layers only mean something when a cluster
acts on them, so they are applied to the lab's namespace for a moment, observed, and
removed. Both are measured from the cluster — a pod's connection attempt, the HPA's status and
events — so on a cluster whose network plugin ignores NetworkPolicy, or with no metrics
API, the tables say what did (not) happen instead of what should.
"""

from __future__ import annotations

import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from labhelpers import commands
from labhelpers.manifests import compare
from labhelpers.styling import LabFrame

#: a TCP connect to PostgreSQL from a pod, told apart by curl's exit status: 28 = the
#: connect timed out (a dropped SYN: what a denying policy does), 7 = refused, 52 = connected
#: (PostgreSQL does not speak HTTP: "Empty reply"), 0 = an HTTP answer
CONNECT = ["curl", "-sS", "-o", "/dev/null", "--connect-timeout", "3"]
CURL_OUTCOME = {0: "connected", 52: "connected", 7: "refused", 28: "timed out (dropped)"}
PROBES = (  # (from, to, URL): the architecture's arrows and the one it forbids
    ("deploy/ecommerce-frontend", "PostgreSQL :5432", "http://postgres:5432/"),
    ("deploy/ecommerce-frontend", "backend :5000", "http://ecommerce-backend:5000/health"),
    ("deploy/ecommerce-backend", "PostgreSQL :5432", "http://postgres:5432/"),
)


def _production(kind: str, namespace: str) -> list[dict[str, Any]]:
    """Production's objects of ``kind``, moved into ``namespace`` (the overlay names its own)."""
    out = []
    for obj in compare.render("production"):
        if obj["kind"] == kind:
            obj = {**obj, "metadata": {**obj["metadata"], "namespace": namespace}}
            out.append(obj)
    return out


def _probe(lab: Any, source: str, url: str) -> str:
    result = lab.exec(source, [*CONNECT, url], timeout=20)
    return CURL_OUTCOME.get(result.returncode, f"curl exit {result.returncode}")


def network_policies(lab: Any, settle: float = 10) -> LabFrame:
    """Each arrow probed with production's NetworkPolicies in force, then without them.

    The policies are applied with the lab's own apply (labelled as the lab's, so
    ``lab.cleanup()`` would remove a leftover) and deleted before this returns."""
    policies = _production("NetworkPolicy", lab.namespace)
    net = client.NetworkingV1Api(lab.api)
    if lab.show_kubectl:
        print("$ " + commands.kubectl("apply", "-n", lab.namespace, "-f",
                                    "manifests/production/network-policies.yaml"))
    shown, lab.show_kubectl = lab.show_kubectl, False  # one line for the probes, below
    try:
        lab.apply(policies)
        time.sleep(min(settle, 1.0))  # the node recompiles its table on the store's change
        with_policies = [_probe(lab, src, url) for src, _, url in PROBES]
    finally:
        for p in policies:
            try:
                net.delete_namespaced_network_policy(p["metadata"]["name"], lab.namespace)
            except client.ApiException as exc:
                if exc.status != 404:
                    raise
    try:
        time.sleep(min(settle, 1.0))
        without = [_probe(lab, src, url) for src, _, url in PROBES]
    finally:
        lab.show_kubectl = shown
    if shown:  # what to paste: the forbidden arrow, tried while the policies are in force
        print("$ " + commands.exec_in(lab.namespace, PROBES[0][0], [*CONNECT, PROBES[0][2]]))
        print("$ " + commands.kubectl("delete", "-n", lab.namespace, "-f",
                                    "manifests/production/network-policies.yaml"))
    rows = [{"from": src.removeprefix("deploy/"), "to": to, "with production's policies": a,
             "without them": b} for (src, to, _), a, b in zip(PROBES, with_policies, without,
                                                            strict=True)]
    return LabFrame(rows)


@dataclass(repr=False)
class AutoscalerRun:
    """What production's HPA did on the lab: its status sampled over time (``timeline``),
    its events and conditions at the end, and ``conclusion``, written from them."""

    timeline: LabFrame
    events: LabFrame
    conditions: LabFrame
    conclusion: str
    min_replicas: int
    highest_desired: int

    def _repr_html_(self) -> str | None:  # the timeline is the picture; the rest is printed
        return self.timeline._repr_html_()

    def __repr__(self) -> str:  # a notebook's text/plain: the same picture
        return repr(self.timeline)


def _cpu(status: Any) -> str:
    for m in (status.current_metrics or []) if status else []:
        if m.type == "Resource" and m.resource and m.resource.name == "cpu":
            util = m.resource.current.average_utilization if m.resource.current else None
            return "<unknown>" if util is None else f"{util}%"
    return "<unknown>"


def _load(lab: Any, stop: threading.Event, errors: list[BaseException],
          concurrency: int) -> None:
    """Short load tests against the backend, one after another, until ``stop``: the HPA
    sees CPU only while requests keep coming."""
    try:
        with warnings.catch_warnings():  # a saturated generator is expected here
            warnings.simplefilter("ignore")
            while not stop.is_set():
                lab.loadtest("ecommerce-backend", duration=LOAD_STEP_SECONDS,
                             concurrency=concurrency, show_kubectl=False)
    except BaseException as exc:  # shown by autoscaler(), not lost in a thread
        errors.append(exc)


#: one load test's length: the thread notices ``stop`` within this
LOAD_STEP_SECONDS = 2
#: how often the timeline gets a row while nothing changes (the HPA syncs every 15 s)
SAMPLE_SECONDS = 5
#: how often the HPA's status is read: a change (a sync's new figure, a pod Ready) gets
#: its own row at once, and the load stops within this of the scale-up being ready
POLL_SECONDS = 1
#: the HPA controller's tolerance (kube-controller-manager's
#: --horizontal-pod-autoscaler-tolerance): no scaling while usage/target is within 10 %
TOLERANCE = 0.1


def autoscaler(lab: Any, load_seconds: float = 120, concurrency: int = 20,
               generators: int = 2, settle_timeout: float = 90) -> AutoscalerRun:
    """Production's HPA (3–10 replicas at 70 % CPU) on the lab's backend, first idle, then
    under load until it scales past its minimum (or ``load_seconds`` pass), then idle again.
    The load is ``generators`` load tests at a time (each its own process, ``concurrency``
    connections): on a shared machine one generator gets too little CPU to keep three
    backends busy.

    The lab runs 2 backend replicas, below the minimum: the first sync scales to 3; once
    they are ready the load starts (``lab.loadtest`` against the backend's Service, in a
    thread), and every ``POLL_SECONDS`` the HPA's status is read (a timeline row every
    ``SAMPLE_SECONDS`` and at each change). The HPA is deleted and
    the backend put back to 2 replicas before this returns."""
    (hpa,) = _production("HorizontalPodAutoscaler", lab.namespace)
    name = hpa["metadata"]["name"]
    low = int(hpa["spec"].get("minReplicas", 1))
    target = hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"]
    scaling = client.AutoscalingV2Api(lab.api)
    if lab.show_kubectl:
        print("$ " + commands.kubectl("apply", "-n", lab.namespace, "-f",
                                    "manifests/production/autoscaling.yaml"))
    shown, lab.show_kubectl = lab.show_kubectl, False
    samples: list[dict[str, Any]] = []
    started = time.monotonic()
    stop = threading.Event()
    load_errors: list[BaseException] = []
    loaders: list[threading.Thread] = []

    last_row = float("-inf")

    def sample(phase: str) -> tuple[Any, int]:
        """The HPA's status and the ready replicas now; a timeline row when they changed,
        the phase changed, or SAMPLE_SECONDS passed since the last row."""
        nonlocal last_row
        current = scaling.read_namespaced_horizontal_pod_autoscaler(name, lab.namespace)
        st = current.status
        dep = lab.apps.read_namespaced_deployment("ecommerce-backend", lab.namespace)
        now = time.monotonic()
        row = {"t (s)": round(now - started), "load": phase,
               "cpu (of request)": _cpu(st), "target": f"{target}%",
               "replicas wanted": st.desired_replicas if st else None,
               "replicas ready": dep.status.ready_replicas or 0}
        changed = not samples or any(samples[-1][k] != row[k] for k in row if k != "t (s)")
        if changed or now - last_row >= SAMPLE_SECONDS - POLL_SECONDS / 2:
            samples.append(row)
            last_row = now
        return st, row["replicas ready"]

    try:
        lab.apply([hpa])
        deadline = time.monotonic() + settle_timeout
        while time.monotonic() < deadline:  # idle: the minimum, and its pods ready
            st, ready = sample("none")
            if st and (st.desired_replicas or 0) >= low and ready >= low:
                break
            time.sleep(POLL_SECONDS)
        loaders = [threading.Thread(target=_load, args=(lab, stop, load_errors, concurrency),
                                    name=f"hpa-load-{i}", daemon=True)
                   for i in range(generators)]
        for loader in loaders:
            loader.start()
        deadline = time.monotonic() + load_seconds
        while time.monotonic() < deadline and not load_errors:
            time.sleep(POLL_SECONDS)
            st, ready = sample("on")
            if (st.desired_replicas or 0) > low and ready > low:
                break
        stop.set()
        for loader in loaders:
            loader.join(timeout=LOAD_STEP_SECONDS + 30)
        if not any((s["replicas wanted"] or 0) > low for s in samples):
            time.sleep(SAMPLE_SECONDS)  # a busy machine's late metrics may still scale it
        st, _ = sample("stopped")
        uid = scaling.read_namespaced_horizontal_pod_autoscaler(name, lab.namespace
                                                               ).metadata.uid
        events = sorted((e for e in lab.core.list_namespaced_event(  # this HPA's, not an
            lab.namespace, field_selector=f"involvedObject.uid={uid}").items  # earlier one's
            if e.involved_object.kind == "HorizontalPodAutoscaler"),
            key=lambda e: e.first_timestamp or e.event_time or e.metadata.creation_timestamp)
        conditions = [{"type": c.type, "status": c.status, "reason": c.reason,
                       "message": c.message} for c in (st.conditions or [])] if st else []
    finally:
        stop.set()
        try:
            scaling.delete_namespaced_horizontal_pod_autoscaler(name, lab.namespace)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
        lab.show_kubectl = shown
    if load_errors:
        raise RuntimeError(f"the load test failed: {load_errors[0]}") from load_errors[0]
    if shown:
        print("$ " + commands.kubectl("get", "hpa", name, "-n", lab.namespace, "--watch"))
        print("$ " + commands.kubectl("describe", "hpa", name, "-n", lab.namespace))
        print("$ " + commands.kubectl("delete", "hpa", name, "-n", lab.namespace))
    lab.scale("deploy/ecommerce-backend", 2)
    highest = max((s["replicas wanted"] or 0) for s in samples)
    event_rows = [{"reason": e.reason, "message": e.message, "count": e.count or 1}
                  for e in events]
    return AutoscalerRun(LabFrame(samples), LabFrame(event_rows), LabFrame(conditions),
                         _conclusion(samples, conditions, low, target), low, highest)


def _conclusion(samples: list[dict[str, Any]], conditions: list[dict[str, Any]], low: int,
                target: int) -> str:
    """What happened, in words, from the samples and the HPA's own conditions."""
    idle = [s for s in samples if s["load"] == "none"]
    loaded = [s for s in samples if s["load"] == "on"]
    highest = max((s["replicas wanted"] or 0) for s in samples)
    peak = max((int(s["cpu (of request)"].rstrip("%")) for s in loaded
                if s["cpu (of request)"] != "<unknown>"), default=None)
    lines = []
    start = idle[0]["replicas ready"] if idle else None
    lines.append(f"Idle, the HPA raised the backend from {start} to its minimum of {low} "
                 f"replicas." if idle and (idle[-1]["replicas wanted"] or 0) >= low
                 else f"Idle, the HPA did not reach its minimum of {low} replicas.")
    if highest > low:
        # on a busy machine the metrics lag: the HPA may act only once the load has stopped
        first = next(s for s in loaded + [s for s in samples if s["load"] == "stopped"]
                     + samples if (s["replicas wanted"] or 0) > low)
        began = loaded[0]["t (s)"] if loaded else first["t (s)"]
        late = " (after the load had stopped: the metrics lag)" if first["load"] != "on" else ""
        lines.append(f"Under load the backend's CPU reached {peak}% of its request (target "
                     f"{target}%), and {first['t (s)'] - began + POLL_SECONDS}"
                     f" s after the load began{late} the HPA wanted {first['replicas wanted']} "
                     f"replicas" + (f", {highest} at the most" if highest > first["replicas wanted"]
                                    else "") + ": it scaled up past its minimum.")
        lines.append("Without load the replicas would stay for a while: scale-down waits for "
                     "its stabilization window (300 s in production's behavior), and the HPA "
                     "is deleted before then, so this run does not show it.")
    else:
        why = "; ".join(f"{c['type']}={c['status']} ({c['reason']}: {c['message']})"
                        for c in conditions) or "none"
        if peak is None:
            cause = "it never received CPU metrics for the backend's pods"
        elif peak <= target * (1 + TOLERANCE):
            cause = (f"the backend's CPU peaked at {peak}% of its request, not above the "
                     f"target {target}% by more than the controller's tolerance of "
                     f"{round(TOLERANCE * 100)}% (the load did not get enough CPU: a busy "
                     f"or small machine)")
        else:
            cause = (f"the backend's CPU reached {peak}% of its request, above the target "
                     f"{target}%, but the HPA had not acted on it when the load stopped")
        lines.append(f"Under load the HPA did NOT scale past its minimum of {low}: {cause}. "
                     f"Its conditions: {why}.")
    return "\n".join(lines)
