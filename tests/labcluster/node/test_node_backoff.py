"""The kubelet's CrashLoopBackOff sequence (node README: first restart at once, then 10 s
doubling to 5 min, reset after 10 min running), computed by the function the kubelet uses,
so the 5-minute cap is checked without waiting 5 minutes."""

from __future__ import annotations

import pytest

from labcluster.node.kubelet import BACKOFF_MAX, BACKOFF_RESET, restart_backoff


def waits(crashes: list[float]) -> list[float]:
    """The wait before each restart of a container whose runs lasted ``crashes`` seconds."""
    out, backoff = [], 0.0
    for ran in crashes:
        wait, backoff = restart_backoff(backoff, ran)
        out.append(wait)
    return out


def test_first_restart_at_once_then_doubling_to_five_minutes() -> None:
    assert waits([1.0] * 9) == [0, 10, 20, 40, 80, 160, 300, 300, 300]
    assert BACKOFF_MAX == 300


def test_a_long_run_starts_the_sequence_over() -> None:
    long = BACKOFF_RESET + 1
    assert BACKOFF_RESET == 600
    assert waits([1, 1, 1, 1, long, 1, 1]) == [0, 10, 20, 40, 0, 10, 20]
    # exactly 10 min is not longer than 10 min: no reset
    assert waits([1, 1, 1, BACKOFF_RESET]) == [0, 10, 20, 40]


@pytest.mark.parametrize("backoff", [10.0, 160.0, 300.0])
def test_a_start_failure_keeps_doubling(backoff: float) -> None:
    """A container that never ran (start error: ran_seconds 0) gets no reset."""
    assert restart_backoff(backoff) == (backoff, min(backoff * 2, 300))
