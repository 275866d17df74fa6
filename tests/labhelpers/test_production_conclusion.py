"""production_live's words for an HPA run, from its samples (no cluster needed)."""

from __future__ import annotations

from typing import Any

from labhelpers.production_live import _conclusion


def sample(t: int, load: str, wanted: int) -> dict[str, Any]:
    return {"t (s)": t, "load": load, "replicas wanted": wanted, "replicas ready": 2,
            "cpu (of request)": "90%"}


def test_an_hpa_that_scales_only_after_the_load_stopped_is_told_not_crashed():
    """On a busy machine the metrics lag and the HPA may want more replicas only once the
    load has stopped (a classroom pod's course run met this as a StopIteration)."""
    # the HPA is read every POLL_SECONDS (1 s): the first loaded row comes 1 s in
    text = _conclusion([sample(0, "none", 3), sample(1, "on", 3), sample(6, "on", 3),
                        sample(11, "stopped", 5)], [], 3, 70)
    assert "11 s after the load began (after the load had stopped: the metrics lag) the " \
           "HPA wanted 5 replicas" in text


def test_an_hpa_that_scales_under_load_says_when():
    text = _conclusion([sample(0, "none", 3), sample(1, "on", 3), sample(5, "on", 4),
                        sample(10, "stopped", 5)], [], 3, 70)
    assert "5 s after the load began the HPA wanted 4 replicas, 5 at the most" in text
    assert "so this run does not show it" in text  # the 300 s window: said, not shown
