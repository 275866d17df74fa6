"""The production guard: a course notebook must not deploy into a production cluster just
because someone's kubeconfig happened to point there."""

from __future__ import annotations

import re

from labhelpers.errors import LabError

_PROD = re.compile(r"(^|[^a-z0-9])prod(uction)?($|[^a-z0-9])", re.IGNORECASE)


class ProductionRefused(LabError, RuntimeError):
    """A production-looking context or cluster without ``allow_production=True``."""


def looks_like_production(name: str | None) -> bool:
    """``prod``/``production`` as a word of the name (``eks-prod-1`` yes, ``product`` no)."""
    return bool(name and _PROD.search(name))


def refuse_production(names: dict[str, str | None], allow_production: bool) -> None:
    """Raise naming the production-looking entry unless the caller allowed it."""
    for what, name in names.items():
        if looks_like_production(name) and not allow_production:
            raise ProductionRefused(
                f"{what} {name!r} looks like production; labhelpers refuses to touch it. "
                "Switch context (kubectl config use-context ...) or pass "
                "allow_production=True if you really mean it."
            )
