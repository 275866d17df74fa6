"""What the labhelpers tests share besides fixtures (a module, not conftest: several test
folders have a conftest.py, so ``from conftest import`` would pick the wrong one)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import labhelpers

#: A cluster to test against instead of starting labcluster (its kubeconfig path).
TEST_KUBECONFIG = os.environ.get("LAB_TEST_KUBECONFIG") or None


class Connected:
    """The session's Lab and the one line connect() printed."""

    def __init__(self, lab: labhelpers.Lab, line: str) -> None:
        self.lab, self.line = lab, line


def wait_for(fn: Callable[[], Any], timeout: float = 60, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")
