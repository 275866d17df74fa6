"""The HPA controller's arithmetic (labcluster/controllers/hpa.py) against the cases
upstream's replica_calculator_test.go and horizontal_test.go pin down: the tolerance,
pods without metrics, not-yet-ready pods, min/max and the scale-up limit, and the
scale-down stabilization window (with a clock the test moves)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from labcluster.controllers.hpa import Normalizer, PodSample, resource_replicas

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LONG_AGO = NOW - timedelta(minutes=10)  # past the cpu initialization period


def pod(name: str, usage: int | None, request: int = 1000, phase: str = "Running",
        ready: str | None = "True", started: datetime = LONG_AGO) -> PodSample:
    return PodSample(name=name, phase=phase, ready=ready, ready_since=started, started=started,
                     deleted=False, request=request, metric=usage, metric_time=NOW, window=10.0)


def test_desired_is_ceil_of_current_times_usage_over_target() -> None:
    # 3 pods at 90% of request, target 50% → ceil(3 × 1.8) = 6
    pods = [pod(f"p{i}", 900) for i in range(3)]
    assert resource_replicas(3, 50, "cpu", pods, NOW) == (6, 90, 900)


def test_within_tolerance_nothing_changes() -> None:
    # 54% against 50%: ratio 1.08, inside 0.1 → stays at 3; 56% (1.12) scales to 4
    assert resource_replicas(3, 50, "cpu", [pod(f"p{i}", 540) for i in range(3)], NOW)[0] == 3
    assert resource_replicas(3, 50, "cpu", [pod(f"p{i}", 560) for i in range(3)], NOW)[0] == 4
    # below target too: 46% stays, 40% scales down to ceil(3 × 0.8) = 3, 20% to 2
    assert resource_replicas(3, 50, "cpu", [pod(f"p{i}", 460) for i in range(3)], NOW)[0] == 3
    assert resource_replicas(3, 50, "cpu", [pod(f"p{i}", 200) for i in range(3)], NOW)[0] == 2


def test_pods_without_metrics_count_as_zero_going_up_and_full_going_down() -> None:
    # scale-up: two pods at 100% of request, one without metrics (as 0%) →
    # (100+100+0)/3 = 66% vs 50% → ceil(1.33 × 3) = 4 (not ceil(2 × 2) = 4 by luck: check 30%)
    up = [pod("a", 1000), pod("b", 1000), pod("c", None)]
    assert resource_replicas(3, 50, "cpu", up, NOW)[0] == 4
    # scale-down: two pods at 10%, the missing one taken as 100% of its request →
    # (10+10+100)/3 = 40% vs 50% → ceil(0.8 × 3) = 3, where ignoring it would give 1
    down = [pod("a", 100), pod("b", 100), pod("c", None)]
    assert resource_replicas(3, 50, "cpu", down, NOW)[0] == 3


def test_unready_and_pending_pods_count_as_zero_on_a_scale_up_only() -> None:
    young = NOW - timedelta(seconds=5)  # ready 5 s ago: inside its first 10 s window
    pods = [pod("a", 1000), pod("b", 2000, started=young),
            pod("c", None, phase="Pending", ready=None)]
    # only `a` counts as ready (200% vs 50%: ratio 2); b and c are 0 → 1000/3000 = 33%...
    # which would flip the direction, so the rebalanced proposal is dropped
    assert resource_replicas(3, 50, "cpu", pods, NOW)[0] == 3
    # with a's usage higher, the rebalanced ratio stays above 1: ceil(1.66 × 3) = 5
    pods[0] = pod("a", 2500)
    assert resource_replicas(3, 50, "cpu", pods, NOW)[0] == 5


def test_missing_request_is_an_error_with_upstreams_words() -> None:
    broken = pod("a", 500)
    broken.request, broken.missing_request = None, "app"
    try:
        resource_replicas(1, 50, "cpu", [broken], NOW)
    except Exception as exc:
        assert str(exc) == "missing request for cpu in container app of Pod a"
    else:
        raise AssertionError("a pod without a cpu request must fail the metric")


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_scale_down_waits_for_the_stabilization_window_without_behavior() -> None:
    clock = Clock()
    norm = Normalizer(downscale_window=300, clock=clock)
    key = ("ns", "hpa")
    norm.record_initial(key, 5)
    conds: list[tuple[str, str, str, str]] = []
    # the load is gone: the metric proposes 1, the window still holds the initial 5
    assert norm.legacy(key, 5, 1, 1, 10, conds) == 5
    assert conds[0][2] == "ScaleDownStabilized"
    clock.t += 299
    assert norm.legacy(key, 5, 1, 1, 10, []) == 5
    clock.t += 2  # the 5 is now older than 300 s; every later recommendation was 1
    conds = []
    assert norm.legacy(key, 5, 1, 1, 10, conds) == 1
    assert [c[2] for c in conds] == ["ReadyForNewScale", "DesiredWithinRange"]


def test_limits_without_behavior_max_and_scale_up_rate() -> None:
    norm = Normalizer(clock=Clock())
    conds: list[tuple[str, str, str, str]] = []
    # from 1, at most max(2 × 1, 4) = 4 at once
    assert norm.legacy(("n", "a"), 1, 15, 1, 10, conds) == 4
    assert conds[-1] == ("ScalingLimited", "True", "ScaleUpLimit",
                         "the desired replica count is increasing faster than the maximum "
                         "scale rate")
    conds = []
    assert norm.legacy(("n", "b"), 1, 15, 1, 3, conds) == 3
    assert conds[-1] == ("ScalingLimited", "True", "TooManyReplicas",
                         "the desired replica count is more than the maximum replica count")


def test_behavior_window_and_default_scale_up_policies() -> None:
    clock = Clock()
    norm = Normalizer(clock=clock)
    behavior = {"scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15}]},
        "scaleDown": {"stabilizationWindowSeconds": 30, "selectPolicy": "Max", "policies": [
            {"type": "Percent", "value": 100, "periodSeconds": 15}]}}
    key = ("n", "h")
    norm.record_initial(key, 2)
    # up: the larger of +4 pods and +100% → 6 of the wanted 20
    assert norm.with_behavior(key, behavior, 2, 20, 1, 50, []) == 6
    norm.store_scale_event(key, behavior, 2, 6)
    clock.t += 5  # 4 added within the 15 s period already: 6 - 4 + max(4, 2) = 6 → no more
    assert norm.with_behavior(key, behavior, 6, 20, 1, 50, []) == 6
    clock.t += 11
    assert norm.with_behavior(key, behavior, 6, 20, 1, 50, []) == 12
    # down: a recommendation of 12 in the last 30 s holds it at 12
    clock.t += 31
    assert norm.with_behavior(key, behavior, 12, 12, 1, 50, []) == 12
    clock.t += 1
    conds: list[tuple[str, str, str, str]] = []
    assert norm.with_behavior(key, behavior, 12, 1, 1, 50, conds) == 12
    assert conds[0][2] == "ScaleDownStabilized"
    clock.t += 28
    assert norm.with_behavior(key, behavior, 12, 1, 1, 50, []) == 12
    clock.t += 3  # the 12 is 32 s old: only 1s are recent
    assert norm.with_behavior(key, behavior, 12, 1, 1, 50, []) == 1
