"""``LabLike``: the part of :class:`labhelpers.lab.Lab` that the helpers it delegates to —
checks, ensure, shop, doctor — call back.

Why a Protocol and not ``from labhelpers.lab import Lab``: ``lab.py`` imports those
helpers (``lab.check()``, ``lab.ensure()``, ``lab.open_shop()``, ``lab.doctor()``), so
their importing ``lab`` back would be an import circle, only hidden behind
``TYPE_CHECKING`` or a function-level import. They depend on this interface instead,
which sits below both; ``Lab`` has every member (tests/test_layering.py checks the
names and signatures).
"""

from __future__ import annotations

from typing import Any, Protocol

import pandas as pd
from kubernetes import client

from labhelpers.actions import ExecResult, HttpResult
from labhelpers.apply import ApplyError, Resources
from labhelpers.describe import Description


class LabLike(Protocol):
    """One namespace on one cluster, with the verbs the delegated helpers use."""

    api: client.ApiClient
    core: client.CoreV1Api
    apps: client.AppsV1Api
    resources: Resources
    namespace: str
    show_kubectl: bool
    last_apply_error: ApplyError | None

    def apply(self, source: Any, adopt: bool = False) -> list[str]: ...

    def tier_objects(self, tier: str) -> list[dict[str, Any]]: ...

    def pods(self) -> pd.DataFrame: ...

    def services(self) -> pd.DataFrame: ...

    def events(self, warnings_only: bool = False) -> pd.DataFrame: ...

    def logs(self, target: str, tail: int = 50, previous: bool = False) -> str: ...

    def describe(self, target: str) -> Description: ...

    def http(self, service: str, path: str = "/", port: int | str | None = None,
             method: str = "GET", body: Any = None) -> HttpResult: ...

    def exec(self, target: str, command: list[str] | str, timeout: float = 30
             ) -> ExecResult: ...

    def resolve(self, name: str, from_: str = "deploy/ecommerce-backend") -> ExecResult: ...
