"""Bounded and guarded: refused targets and sizes raise before any request is sent."""

from __future__ import annotations

import pytest

from labhelpers import loadtest
from labhelpers.loadtest import guard


@pytest.mark.parametrize("url", ["http://93.184.216.34/", "http://example.com/api",
                                 "http://10.96.0.1:443/", "http://192.168.1.10:5000/"])
def test_non_loopback_urls_are_refused(url: str) -> None:
    with pytest.raises(loadtest.LoadTargetRefused, match="only loopback and the lab's own"):
        loadtest.run(None, url, requests=1)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.4.2", "localhost", "::1", "[::1]"])
def test_loopback_hosts_are_allowed(host: str) -> None:
    guard.check_host(host)


def test_lab_hosts_and_allow_any() -> None:
    guard.check_host("ecommerce-backend", {"ecommerce-backend"})
    guard.check_host("203.0.113.9", allow_any=True)
    with pytest.raises(loadtest.LoadTargetRefused):
        guard.check_host("ecommerce-backend.other-ns", {"ecommerce-backend"})


@pytest.mark.parametrize("kwargs, message", [
    ({"requests": 0}, "requests must be"),
    ({"requests": 2_000_000}, "requests must be"),
    ({"concurrency": 0}, "concurrency must be"),
    ({"concurrency": 5000}, "concurrency must be"),
    ({"duration": 3600}, "duration must be"),
    ({"rate": 100}, "needs duration"),
    ({"rate": -1, "duration": 1}, "rate must be"),
    ({"timeout": 0}, "timeout must be"),
    ({"mode": "teleport"}, "mode must be"),
])
def test_bad_sizes_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        loadtest.run(None, "http://127.0.0.1:9/", **kwargs)


def test_other_schemes_and_service_without_lab_are_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"http\(s\)://host"):
        loadtest.run(None, "ftp://127.0.0.1/", requests=1)
    with pytest.raises(ValueError, match="needs the lab"):
        loadtest.run(None, "ecommerce-backend", requests=1)
