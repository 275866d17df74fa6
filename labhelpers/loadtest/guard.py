"""Which hosts a load test may hit: loopback and the lab's own Services, nothing else
unless the caller says ``allow_any=True``. A notebook cell is easy to point at the wrong
URL, and a load test against someone else's server is an attack, not an exercise."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from labhelpers.errors import LabError

#: Hard bounds a single run may not exceed (the caller gets a clear error, not a clamp).
MAX_REQUESTS = 1_000_000
MAX_DURATION_S = 600.0
MAX_CONCURRENCY = 1_000
MAX_RATE = 100_000.0


class LoadTargetRefused(LabError, ValueError):
    """The target is neither loopback nor one of the lab's Services."""


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(host: str, lab_hosts: Iterable[str] = (), allow_any: bool = False) -> None:
    """Raise ``LoadTargetRefused`` unless ``host`` is loopback or a lab Service's name/IP."""
    if allow_any or is_loopback(host):
        return
    allowed = {h.lower() for h in lab_hosts}
    if host.lower() in allowed:
        return
    raise LoadTargetRefused(
        f"refusing to load-test {host!r}: only loopback and the lab's own Services are "
        "allowed (pass allow_any=True if this server is yours and you mean it)")


def check_bounds(requests: int | None, duration: float | None, concurrency: int,
                 rate: float | None, timeout: float) -> None:
    """Every run stops by itself: count and time are bounded, and both must be sane."""
    if concurrency < 1 or concurrency > MAX_CONCURRENCY:
        raise ValueError(f"concurrency must be 1..{MAX_CONCURRENCY}, got {concurrency}")
    if requests is not None and not 1 <= requests <= MAX_REQUESTS:
        raise ValueError(f"requests must be 1..{MAX_REQUESTS:,}, got {requests}")
    if duration is not None and not 0 < duration <= MAX_DURATION_S:
        raise ValueError(f"duration must be in (0, {MAX_DURATION_S:g}] s, got {duration}")
    if rate is not None and not 0 < rate <= MAX_RATE:
        raise ValueError(f"rate must be in (0, {MAX_RATE:g}] req/s, got {rate}")
    if rate is not None and requests is None and duration is None:
        raise ValueError("the open model (rate=...) needs duration=... or requests=...")
    if not 0 < timeout <= 120:
        raise ValueError(f"timeout must be in (0, 120] s per request, got {timeout}")
