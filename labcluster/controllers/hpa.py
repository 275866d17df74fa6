"""HorizontalPodAutoscaler (autoscaling/v2): upstream's pkg/controller/podautoscaler.

Every sync period (`--horizontal-pod-autoscaler-sync-period`, 15 s; here
LABCLUSTER_HPA_SYNC_SECONDS) after its own last sync (a new or re-specified HPA at once,
where upstream queues it with the same delay: a known difference, README.md) each HPA reads its target's scale subresource and the
pods' metrics.k8s.io PodMetrics (the node's, in-process: ClusterApi.pod_metrics), and
proposes `ceil(readyPods * utilization / target)` replicas for a resource metric:

- utilization is the pods' summed usage over their summed requests, in whole percent;
- within the tolerance (0.1) of the target nothing changes;
- Pending pods, and (for cpu) pods not Ready or within their first metric window after
  becoming Ready during the cpu initialization period, are left out, and on a scale-up
  count as using 0%; pods without metrics count as 0% on a scale-up and 100% of their
  request on a scale-down; a proposal that flips direction because of them is dropped;
- then min/max, the scale-up limit (no `behavior`: at most max(2×, 4); with `behavior`,
  its policies over their periods) and the stabilization window (scale-down picks the
  highest recommendation of the last `stabilizationWindowSeconds`, default 300 s;
  LABCLUSTER_HPA_DOWNSCALE_STABILIZATION_SECONDS sets that default as
  `--horizontal-pod-autoscaler-downscale-stabilization` does).

Conditions AbleToScale / ScalingActive / ScalingLimited and the events
(SuccessfulRescale, FailedGetScale, FailedGetResourceMetric,
FailedComputeMetricsReplicas...) carry upstream's reasons and messages.
"""

from __future__ import annotations

import asyncio
import copy
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import ApiError
from ..meta import now, parse_time
from ..selectors import labels_match, parse_label_selector
from ..validation import parse_quantity
from .base import Controller, Key

COMPONENT = "horizontal-pod-autoscaler"
TOLERANCE = 0.1
CPU_INITIALIZATION_PERIOD = 300.0      # --horizontal-pod-autoscaler-cpu-initialization-period
INITIAL_READINESS_DELAY = 30.0         # --horizontal-pod-autoscaler-initial-readiness-delay
SCALE_UP_LIMIT_FACTOR, SCALE_UP_LIMIT_MINIMUM = 2.0, 4.0


def _env_seconds(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r}: not a number of seconds") from None
    if value < 0:
        raise SystemExit(f"{name}={raw!r}: must be ≥ 0")
    return value


class MetricError(Exception):
    """A metric that could not be turned into a replica count (upstream's error text)."""


# ------------------------------------------------------------------ the replica calculator
@dataclass
class PodSample:
    """One pod as the calculator sees it: its metric (milli-units) if any, its request."""

    name: str
    phase: str
    ready: str | None              # the Ready condition's status, None when absent
    ready_since: datetime | None   # its lastTransitionTime
    started: datetime | None       # status.startTime
    deleted: bool
    request: int | None            # summed request (milli), None when a container has none
    missing_request: str = ""      # the container without one
    metric: int | None = None
    metric_time: datetime | None = None
    window: float = 0.0


def group_pods(pods: list[PodSample], cpu: bool, clock: datetime,
               ) -> tuple[int, set[str], set[str], set[str]]:
    """groupPods: (ready count, unready, missing, ignored) pod names."""
    ready, unready, missing, ignored = 0, set(), set(), set()
    for p in pods:
        if p.deleted or p.phase == "Failed":
            ignored.add(p.name)
            continue
        if p.phase == "Pending":
            unready.add(p.name)
            continue
        if p.metric is None:
            missing.add(p.name)
            continue
        if cpu:
            if p.ready is None or p.started is None:
                skip = True
            elif p.started + timedelta(seconds=CPU_INITIALIZATION_PERIOD) > clock:
                since = p.ready_since or p.started
                skip = p.ready == "False" or (p.metric_time or clock) < since + timedelta(
                    seconds=p.window)
            else:
                since = p.ready_since or p.started
                skip = p.ready == "False" and p.started + timedelta(
                    seconds=INITIAL_READINESS_DELAY) > since
            if skip:
                unready.add(p.name)
                continue
        ready += 1
    return ready, unready, missing, ignored


def _utilization(metrics: dict[str, int], requests: dict[str, int], target: int,
                 ) -> tuple[float, int, int]:
    """GetResourceUtilizationRatio: (ratio, utilization %, average raw value)."""
    total = req = n = 0
    for name, value in metrics.items():
        if name not in requests:
            continue
        total, req, n = total + value, req + requests[name], n + 1
    if req == 0:
        raise MetricError("no metrics returned matched known pods")
    util = int(total * 100 // req)
    return util / target, util, total // n


def _usable_metrics(pods: list[PodSample], resource: str, clock: datetime):
    """The metrics the replica calculation may use (unready and ignored pods' dropped) and
    the pods grouped as upstream's groupPods does; the errors both calculations share."""
    if not pods:
        raise MetricError("no pods returned by selector while calculating replica count")
    metrics = {p.name: p.metric for p in pods if p.metric is not None}
    if not metrics:
        raise MetricError(f"unable to get metrics for resource {resource}: no metrics "
                          "returned from resource metrics API")
    ready, unready, missing, ignored = group_pods(pods, resource == "cpu", clock)
    for name in unready | ignored:
        metrics.pop(name, None)
    return metrics, ready, unready, missing, ignored


def resource_replicas(current: int, target: int, resource: str, pods: list[PodSample],
                      clock: datetime, tolerance: float = TOLERANCE,
                      ) -> tuple[int, int, int]:
    """GetResourceReplicas for a Utilization target: (replicas, utilization %, raw avg)."""
    metrics, ready, unready, missing, ignored = _usable_metrics(pods, resource, clock)
    requests: dict[str, int] = {}
    for p in pods:
        if p.request is None:
            raise MetricError(f"missing request for {resource} in container "
                              f"{p.missing_request} of Pod {p.name}")
        requests[p.name] = p.request
    if not metrics:
        raise MetricError("did not receive metrics for any ready pods")
    ratio, util, raw = _utilization(metrics, requests, target)
    rebalance = bool(unready) and ratio > 1.0
    if not rebalance and not missing:
        if abs(1.0 - ratio) <= tolerance:
            return current, util, raw
        return math.ceil(ratio * ready), util, raw
    if missing:
        for name in missing:  # scale-down: as if at 100% of request; scale-up: at 0%
            metrics[name] = requests[name] if ratio < 1.0 else 0
    if rebalance:
        for name in unready:
            metrics[name] = 0
    new_ratio, _, _ = _utilization(metrics, requests, target)
    if (abs(1.0 - new_ratio) <= tolerance or (ratio < 1.0 < new_ratio)
            or (ratio > 1.0 > new_ratio)):
        return current, util, raw
    proposed = math.ceil(new_ratio * len(metrics))
    if (new_ratio < 1.0 and proposed > current) or (new_ratio > 1.0 and proposed < current):
        return current, util, raw
    return proposed, util, raw


def raw_replicas(current: int, target_milli: int, pods: list[PodSample], clock: datetime,
                 resource: str, tolerance: float = TOLERANCE) -> tuple[int, int]:
    """GetRawResourceReplicas (an AverageValue target): (replicas, average milli-value)."""
    metrics, ready, unready, missing, ignored = _usable_metrics(pods, resource, clock)
    if not metrics:
        raise MetricError("did not receive metrics for any ready pods")

    def ratio_of(values: dict[str, int]) -> tuple[float, int]:
        avg = sum(values.values()) // len(values)
        return sum(values.values()) / len(values) / target_milli, avg

    ratio, avg = ratio_of(metrics)
    rebalance = bool(unready) and ratio > 1.0
    if not rebalance and not missing:
        if abs(1.0 - ratio) <= tolerance:
            return current, avg
        return math.ceil(ratio * ready), avg
    for name in missing:
        metrics[name] = target_milli if ratio < 1.0 else 0
    if rebalance:
        for name in unready:
            metrics[name] = 0
    new_ratio, _ = ratio_of(metrics)
    if (abs(1.0 - new_ratio) <= tolerance or (ratio < 1.0 < new_ratio)
            or (ratio > 1.0 > new_ratio)):
        return current, avg
    return math.ceil(new_ratio * len(metrics)), avg


# ------------------------------------------------------------------ normalization
@dataclass
class _Event:
    change: int
    at: float
    outdated: bool = False


@dataclass
class Normalizer:
    """The controller's memory per HPA (recommendations, scale events) and the rules that
    turn a proposal into the replicas to set. `clock` is seconds (time.time)."""

    downscale_window: float = 300.0
    clock: Callable[[], float] = time.time
    recommendations: dict[Key, list[tuple[int, float]]] = field(default_factory=dict)
    up_events: dict[Key, list[_Event]] = field(default_factory=dict)
    down_events: dict[Key, list[_Event]] = field(default_factory=dict)

    def forget(self, key: Key) -> None:
        for d in (self.recommendations, self.up_events, self.down_events):
            d.pop(key, None)

    def record_initial(self, key: Key, current: int) -> None:
        if not self.recommendations.get(key):
            self.recommendations[key] = [(current, self.clock())]

    # -- without `behavior` (normalizeDesiredReplicas)
    def legacy(self, key: Key, current: int, proposed: int, low: int, high: int,
               conds: list[tuple[str, str, str, str]]) -> int:
        stabilized = self._stabilize_legacy(key, proposed)
        if stabilized != proposed:
            conds.append(("AbleToScale", "True", "ScaleDownStabilized",
                          "recent recommendations were higher than current one, applying the "
                          "highest recent recommendation"))
        else:
            conds.append(("AbleToScale", "True", "ReadyForNewScale",
                          "recommended size matches current size"))
        limit = int(max(SCALE_UP_LIMIT_FACTOR * current, SCALE_UP_LIMIT_MINIMUM))
        if high > limit:
            top, reason, msg = limit, "ScaleUpLimit", ("the desired replica count is increasing "
                                                       "faster than the maximum scale rate")
        else:
            top, reason, msg = high, "TooManyReplicas", ("the desired replica count is more "
                                                         "than the maximum replica count")
        if stabilized < low:
            desired, reason, msg = low, "TooFewReplicas", ("the desired replica count is less "
                                                           "than the minimum replica count")
        elif stabilized > top:
            desired = top
        else:
            desired, reason, msg = stabilized, "DesiredWithinRange", ("the desired count is "
                                                                      "within the acceptable "
                                                                      "range")
        conds.append(("ScalingLimited", "False" if desired == stabilized else "True", reason, msg))
        return desired

    def _stabilize_legacy(self, key: Key, proposed: int) -> int:
        best, recs, t = proposed, self.recommendations.setdefault(key, []), self.clock()
        cutoff = t - self.downscale_window
        old = None
        for i, (value, at) in enumerate(recs):
            if at < cutoff:
                old = i
            elif value > best:
                best = value
        if old is not None:
            recs[old] = (proposed, t)
        else:
            recs.append((proposed, t))
        return best

    # -- with `behavior` (normalizeDesiredReplicasWithBehaviors)
    def with_behavior(self, key: Key, behavior: dict[str, Any], current: int, proposed: int,
                      low: int, high: int, conds: list[tuple[str, str, str, str]]) -> int:
        up = behavior.get("scaleUp") or {}
        down = dict(behavior.get("scaleDown") or {})
        if down.get("stabilizationWindowSeconds") is None:
            down["stabilizationWindowSeconds"] = int(self.downscale_window)
        stabilized, reason, msg = self._stabilize(key, up, down, current, proposed)
        if stabilized != proposed:
            conds.append(("AbleToScale", "True", reason, msg))
        else:
            conds.append(("AbleToScale", "True", "ReadyForNewScale",
                          "recommended size matches current size"))
        desired, reason, msg = self._rate_limited(key, up, down, current, stabilized, low, high)
        conds.append(("ScalingLimited", "False" if desired == stabilized else "True", reason, msg))
        return desired

    def _stabilize(self, key: Key, up: dict[str, Any], down: dict[str, Any], current: int,
                   proposed: int) -> tuple[int, str, str]:
        up_w, down_w = up.get("stabilizationWindowSeconds", 0), down["stabilizationWindowSeconds"]
        if proposed >= current:
            window, pick = up_w, min
            reason, msg = "ScaleUpStabilized", ("recent recommendations were lower than current "
                                                "one, applying the lowest recent recommendation")
        else:
            window, pick = down_w, max
            reason, msg = "ScaleDownStabilized", ("recent recommendations were higher than "
                                                  "current one, applying the highest recent "
                                                  "recommendation")
        t = self.clock()
        obsolete, cutoff = t - max(up_w, down_w), t - window
        recs = self.recommendations.setdefault(key, [])
        best, old = proposed, None
        for i, (value, at) in enumerate(recs):
            if at > cutoff:
                best = pick(value, best)
            if at < obsolete:
                old = i
        if old is not None:
            recs[old] = (proposed, t)
        else:
            recs.append((proposed, t))
        return best, reason, msg

    def _changes(self, events: list[_Event], period: int) -> int:
        cutoff = self.clock() - period
        return sum(e.change for e in events if e.at > cutoff)

    def _rate_limited(self, key: Key, up: dict[str, Any], down: dict[str, Any], current: int,
                      desired: int, low: int, high: int) -> tuple[int, str, str]:
        if desired > current:
            limit = self._up_limit(current, self.up_events.get(key, []), up)
            limit = max(limit, current)
            if high > limit:
                top, reason, msg = limit, "ScaleUpLimit", (
                    "the desired replica count is increasing faster than the maximum scale rate")
            else:
                top, reason, msg = high, "TooManyReplicas", (
                    "the desired replica count is more than the maximum replica count")
            if desired > top:
                return top, reason, msg
        elif desired < current:
            limit = self._down_limit(current, self.down_events.get(key, []), down)
            limit = min(limit, current)
            if low < limit:
                bottom, reason, msg = limit, "ScaleDownLimit", (
                    "the desired replica count is decreasing faster than the maximum scale rate")
            else:
                bottom, reason, msg = low, "TooFewReplicas", (
                    "the desired replica count is less than the minimum replica count")
            if desired < bottom:
                return bottom, reason, msg
        return desired, "DesiredWithinRange", "the desired count is within the acceptable range"

    def _up_limit(self, current: int, events: list[_Event], rules: dict[str, Any]) -> int:
        policy = rules.get("selectPolicy", "Max")
        if policy == "Disabled":
            return current
        pick, result = (min, 2**31 - 1) if policy == "Min" else (max, 0)
        for p in rules.get("policies") or []:
            start = current - self._changes(events, p.get("periodSeconds", 15))
            if p.get("type") == "Pods":
                proposed = start + p.get("value", 0)
            else:
                proposed = math.ceil(start * (1 + p.get("value", 0) / 100))
            result = pick(result, proposed)
        return result

    def _down_limit(self, current: int, events: list[_Event], rules: dict[str, Any]) -> int:
        policy = rules.get("selectPolicy", "Max")
        if policy == "Disabled":
            return current
        pick, result = (max, 0) if policy == "Min" else (min, 2**31 - 1)
        for p in rules.get("policies") or []:
            start = current + self._changes(events, p.get("periodSeconds", 15))
            if p.get("type") == "Pods":
                proposed = start - p.get("value", 0)
            else:
                proposed = int(start * (1 - p.get("value", 0) / 100))
            result = pick(result, proposed)
        return result

    def store_scale_event(self, key: Key, behavior: dict[str, Any] | None, before: int,
                          after: int) -> None:
        if behavior is None:
            return
        up = after > before
        rules = (behavior.get("scaleUp") if up else behavior.get("scaleDown")) or {}
        longest = max((p.get("periodSeconds", 0) for p in rules.get("policies") or []),
                      default=0)
        events = (self.up_events if up else self.down_events).setdefault(key, [])
        t = self.clock()
        for e in events:
            if e.at < t - longest:
                e.outdated = True
        new = _Event(abs(after - before), t)
        slot = next((i for i, e in enumerate(events) if e.outdated), None)
        if slot is None:
            events.append(new)
        else:
            events[slot] = new


# ------------------------------------------------------------------ the controller
def _milli(quantity: Any) -> int:
    """Quantity.MilliValue() (rounded up, as upstream); metrics-server's cpu comes in
    nanocores ("12345678n")."""
    text = str(quantity)
    if text[-1:] in ("n", "u") and text[:-1].isdigit():
        return math.ceil(int(text[:-1]) / (1_000_000 if text[-1] == "n" else 1_000))
    value = parse_quantity(quantity)
    return 0 if value is None else math.ceil(round(value * 1000, 6))


def _milli_quantity(milli: int) -> str:
    """resource.NewMilliQuantity(v, DecimalSI).String()."""
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def _set_condition(status: dict[str, Any], ctype: str, state: str, reason: str,
                   message: str) -> None:
    conds = status.setdefault("conditions", [])
    cond = next((c for c in conds if c.get("type") == ctype), None)
    if cond is None:
        cond = {"type": ctype}
        conds.append(cond)
    if cond.get("status") != state:
        cond["lastTransitionTime"] = now()
    cond.update(status=state, reason=reason, message=message)


class HorizontalController(Controller):
    name = "horizontal-pod-autoscaler"
    primary = "horizontalpodautoscalers"

    def __init__(self, sync_period: float | None = None,
                 downscale_window: float | None = None) -> None:
        super().__init__()
        self.resync = sync_period if sync_period is not None else _env_seconds(
            "LABCLUSTER_HPA_SYNC_SECONDS", 15.0)
        self.norm = Normalizer(downscale_window if downscale_window is not None else
                               _env_seconds("LABCLUSTER_HPA_DOWNSCALE_STABILIZATION_SECONDS",
                                            300.0))
        self.generations: dict[Key, int] = {}
        self._next_sync: dict[Key, asyncio.TimerHandle] = {}

    async def _resync_loop(self) -> None:
        """No shared tick: each HPA is synced a sync period after its own last sync
        (upstream requeues every processed HPA with that delay), so where in the period
        a sync falls does not depend on when the controller started."""

    def _schedule_next(self, key: Key) -> None:
        previous = self._next_sync.pop(key, None)
        if previous is not None:
            previous.cancel()
        self._next_sync[key] = asyncio.get_running_loop().call_later(
            self.resync, self.enqueue, key)

    def _forget(self, key: Key) -> None:
        self.norm.forget(key)
        self.generations.pop(key, None)
        handle = self._next_sync.pop(key, None)
        if handle is not None:
            handle.cancel()

    def keys_for(self, res: str, etype: str, obj: dict[str, Any]) -> list[Key]:
        """New or re-specified HPAs at once; their own status writes wait for the resync
        (upstream queues every HPA once per sync period)."""
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        if etype == "DELETED":
            self._forget(key)
            return []
        gen = meta.get("generation", 1)
        if self.generations.get(key) == gen:
            return []
        self.generations[key] = gen
        return [key]

    async def _event(self, hpa: dict[str, Any], reason: str, message: str,
                     kind: str = "Warning") -> None:
        await self.api.record_event(hpa, reason, message, kind, COMPONENT)

    async def reconcile(self, namespace: str, name: str) -> None:
        key = (namespace, name)
        try:
            await self._sync(key)
        finally:
            if self.listers.get(self.primary, namespace, name) is not None:
                self._schedule_next(key)

    async def _sync(self, key: Key) -> None:
        namespace, name = key
        hpa = self.current(namespace, name)
        if hpa is None:
            self._forget(key)
            return
        original = copy.deepcopy(hpa.get("status") or {})
        status = hpa.setdefault("status", {})
        spec = hpa.get("spec") or {}
        ref = spec.get("scaleTargetRef") or {}
        try:
            res, scale = await self._get_scale(namespace, ref)
        except ApiError as exc:
            await self._event(hpa, "FailedGetScale", exc.message)
            _set_condition(status, "AbleToScale", "False", "FailedGetScale",
                           f"the HPA controller was unable to get the target's current scale: "
                           f"{exc.message}")
            await self._write_status(hpa, original)
            return
        _set_condition(status, "AbleToScale", "True", "SucceededGetScale",
                       "the HPA controller was able to get the target's current scale")
        current = scale["spec"].get("replicas", 0)
        self.norm.record_initial(key, current)
        low, high = spec.get("minReplicas", 1), spec.get("maxReplicas", 1)
        metric_statuses = status.get("currentMetrics")
        desired, rescale, reason = 0, True, ""
        if current == 0 and low != 0:
            rescale = False
            _set_condition(status, "ScalingActive", "False", "ScalingDisabled",
                           "scaling is disabled since the replica count of the target is zero")
        elif current > high:
            reason, desired = "Current number of replicas above Spec.MaxReplicas", high
        elif current < low:
            reason, desired = "Current number of replicas below Spec.MinReplicas", low
        else:
            try:
                proposed, metric, metric_statuses = await self._compute(hpa, scale, status)
            except MetricError as exc:
                status["currentReplicas"] = current
                await self._write_status(hpa, original)
                await self._event(hpa, "FailedComputeMetricsReplicas", str(exc))
                return
            desired = proposed
            if desired > current:
                reason = f"{metric} above target"
            if desired < current:
                reason = "All metrics below target"
            conds: list[tuple[str, str, str, str]] = []
            behavior = spec.get("behavior")
            if behavior is None:
                desired = self.norm.legacy(key, current, desired, low, high, conds)
            else:
                desired = self.norm.with_behavior(key, behavior, current, desired, low, high,
                                                  conds)
            for cond in conds:
                _set_condition(status, *cond)
            rescale = desired != current
        if rescale:
            try:
                scale["spec"]["replicas"] = desired
                await self.api.update(scale, namespace, ref["name"], resource=res,
                                      subresource="scale", field_manager=COMPONENT)
            except ApiError as exc:
                await self._event(hpa, "FailedRescale",
                                  f"New size: {desired}; reason: {reason}; error: {exc.message}")
                _set_condition(status, "AbleToScale", "False", "FailedUpdateScale",
                               f"the HPA controller was unable to update the target scale: "
                               f"{exc.message}")
                status["currentReplicas"] = current
                await self._write_status(hpa, original)
                return
            _set_condition(status, "AbleToScale", "True", "SucceededRescale",
                           f"the HPA controller was able to update the target scale to {desired}")
            await self._event(hpa, "SuccessfulRescale", f"New size: {desired}; reason: {reason}",
                              "Normal")
            self.norm.store_scale_event(key, spec.get("behavior"), current, desired)
            status["lastScaleTime"] = now()
        else:
            desired = current
        status["currentReplicas"] = current
        status["desiredReplicas"] = desired
        if metric_statuses:
            status["currentMetrics"] = metric_statuses
        else:
            status.pop("currentMetrics", None)
        await self._write_status(hpa, original)

    async def _write_status(self, hpa: dict[str, Any], original: dict[str, Any]) -> None:
        if hpa.get("status") != original:
            hpa["metadata"].pop("resourceVersion", None)
            await self.api.update_status(hpa, field_manager=COMPONENT)

    async def _get_scale(self, namespace: str, ref: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        api_version, kind = ref.get("apiVersion", ""), ref.get("kind", "")
        group = api_version.split("/", 1)[0] if "/" in api_version else ""
        res = next((r for r in self.api.registry.resources
                    if r.group == group and r.kind == kind and r.sub("scale")), None)
        if res is None:
            raise ApiError(404, "NotFound", f'no matches for kind "{kind}" in group "{group}"')
        return res, await self.api.get_scale(res, namespace, ref.get("name", ""))

    async def _compute(self, hpa: dict[str, Any], scale: dict[str, Any],
                       status: dict[str, Any]) -> tuple[int, str, list[dict[str, Any]]]:
        """computeReplicasForMetrics: the largest proposal over the metrics."""
        selector = scale["status"].get("selector") or ""
        if not selector:
            await self._event(hpa, "SelectorRequired", "selector is required")
            _set_condition(status, "ScalingActive", "False", "InvalidSelector",
                           "the HPA target's scale is missing a selector")
            raise MetricError("selector is required")
        specs = (hpa.get("spec") or {}).get("metrics") or []
        statuses: list[dict[str, Any]] = []
        best, best_metric = 0, ""
        invalid, first_error, first_cond = 0, "", ("", "", "", "")
        for spec in specs:
            try:
                replicas, metric, mstatus = await self._one(hpa, spec, scale, selector)
            except MetricError as exc:
                text = str(exc)
                outer, cond = text, ("ScalingActive", "False", "FailedGetResourceMetric", "")
                if isinstance(exc.args[-1], tuple):
                    outer, cond = exc.args[0], exc.args[-1]
                if invalid == 0:
                    first_error, first_cond = outer, cond
                invalid += 1
                statuses.append({"type": ""})
                continue
            statuses.append(mstatus)
            if best == 0 or replicas > best:
                best, best_metric = replicas, metric
        if invalid >= len(specs):
            _set_condition(status, *first_cond)
            raise MetricError(f"invalid metrics ({invalid} invalid out of {len(specs)}), first "
                              f"error is: {first_error}")
        _set_condition(status, "ScalingActive", "True", "ValidMetricFound",
                       f"the HPA was able to successfully calculate a replica count from "
                       f"{best_metric}")
        return best, best_metric, statuses

    async def _one(self, hpa: dict[str, Any], spec: dict[str, Any], scale: dict[str, Any],
                   selector: str) -> tuple[int, str, dict[str, Any]]:
        mtype = spec.get("type")
        if mtype != "Resource":
            reason = {"Pods": "FailedGetPodsMetric", "Object": "FailedGetObjectMetric",
                      "External": "FailedGetExternalMetric",
                      "ContainerResource": "FailedGetContainerResourceMetric"}.get(
                mtype or "", "InvalidMetricSourceType")
            text = (f"unable to fetch metrics from custom metrics API: labcluster serves "
                    f"resource metrics only (metrics.k8s.io), not {mtype} metrics")
            await self._event(hpa, reason, text)
            raise MetricError(text, ("ScalingActive", "False", reason,
                                     f"the HPA was unable to compute the replica count: {text}"))
        src = spec.get("resource") or {}
        resource, target = src.get("name", ""), src.get("target") or {}
        current = scale["spec"].get("replicas", 0)
        try:
            pods = await self._samples(hpa["metadata"]["namespace"], selector, resource)
            if target.get("averageValue") is not None:
                replicas, avg = raw_replicas(current, _milli(target["averageValue"]), pods,
                                             datetime.now(UTC), resource)
                return replicas, f"{resource} resource", {
                    "type": "Resource", "resource": {"name": resource, "current": {
                        "averageValue": _milli_quantity(avg)}}}
            util_target = target.get("averageUtilization")
            if util_target is None:
                raise MetricError("invalid resource metric source: neither a utilization "
                                  "target nor a value target was set")
            replicas, util, raw = resource_replicas(current, util_target, resource, pods,
                                                    datetime.now(UTC))
        except MetricError as exc:
            await self._event(hpa, "FailedGetResourceMetric", str(exc))
            raise MetricError(f"failed to get {resource} utilization: {exc}", (
                "ScalingActive", "False", "FailedGetResourceMetric",
                f"the HPA was unable to compute the replica count: {exc}")) from None
        return replicas, f"{resource} resource utilization (percentage of request)", {
            "type": "Resource", "resource": {"name": resource, "current": {
                "averageUtilization": util, "averageValue": _milli_quantity(raw)}}}

    async def _samples(self, namespace: str, selector: str, resource: str) -> list[PodSample]:
        try:
            reqs = parse_label_selector(selector)
        except ApiError as exc:
            raise MetricError(f"couldn't convert selector into a corresponding internal "
                              f"selector object: {exc.message}") from None
        try:
            items = await self.api.pod_metrics(namespace, selector)
        except ApiError as exc:
            raise MetricError(f"unable to get metrics for resource {resource}: unable to fetch "
                              f"metrics from resource metrics API: {exc.message}") from None
        metrics: dict[str, tuple[int, datetime | None, float]] = {}
        for item in items:
            containers = item.get("containers") or []
            if not containers or any(resource not in (c.get("usage") or {}) for c in containers):
                continue  # upstream skips a pod missing the resource in any container
            total = sum(_milli(c["usage"][resource]) for c in containers)
            window = parse_quantity(str(item.get("window", "0s")).rstrip("s")) or 0.0
            metrics[item["metadata"]["name"]] = (total, parse_time(item.get("timestamp")),
                                                 window)
        out = []
        for pod in self.listers.list("pods", namespace):
            if not labels_match(reqs, pod["metadata"].get("labels")):
                continue
            st = pod.get("status") or {}
            cond = next((c for c in st.get("conditions") or [] if c.get("type") == "Ready"), None)
            request, missing = 0, ""
            containers = list((pod.get("spec") or {}).get("containers") or [])
            containers += [c for c in (pod.get("spec") or {}).get("initContainers") or []
                           if c.get("restartPolicy") == "Always"]
            for c in containers:
                value = ((c.get("resources") or {}).get("requests") or {}).get(resource)
                if value is None:
                    missing = c.get("name", "")
                    break
                request += _milli(value)
            name = pod["metadata"]["name"]
            sample = metrics.get(name)
            out.append(PodSample(
                name=name, phase=st.get("phase", "Pending"),
                ready=cond.get("status") if cond else None,
                ready_since=parse_time(cond.get("lastTransitionTime")) if cond else None,
                started=parse_time(st.get("startTime")),
                deleted=bool(pod["metadata"].get("deletionTimestamp")),
                request=None if missing else request, missing_request=missing,
                metric=sample[0] if sample else None,
                metric_time=sample[1] if sample else None,
                window=sample[2] if sample else 0.0))
        return out
