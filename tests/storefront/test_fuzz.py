"""schemathesis fuzzes both services' own OpenAPI documents against the real processes.

The check is "no 5xx" (plus schemathesis' response-schema conformance for valid input):
bad input must always be a 4xx that says why. Bounded to a few examples per operation
so the whole file stays well under a minute.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import response_schema_conformance

MAX_EXAMPLES = 25


def operations(url: str):
    spec = httpx.get(f"{url}/openapi.json").json()
    schema = schemathesis.openapi.from_dict(spec)
    ops = [result.ok() for result in schema.get_all_operations()]
    return [op for op in ops if op.path != "/metrics"]


def fuzz(url: str, *, negative: bool) -> list[str]:
    """Run every operation's strategy; returns failures as readable lines."""
    failures: list[str] = []
    for op in operations(url):
        strategy = op.as_strategy() if not negative else st.one_of(
            op.as_strategy(), op.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE))

        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def run(case) -> None:
            response = case.call(base_url=url, timeout=10)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: "
                                f"{response.text[:200]}")
            elif 200 <= response.status_code < 300:
                try:
                    response_schema_conformance(_Ctx(), response, case)
                except Exception as exc:  # collected, not raised: see every failure at once
                    failures.append(f"{case.method} {case.formatted_path}: {exc}")

        run()
    return failures


class _Ctx:
    """The minimal check context schemathesis' conformance check reads."""

    config = None


@pytest.mark.parametrize("service", ["backend", "cart"])
def test_fuzz_never_gets_a_5xx(processes, service):
    backend, cart = processes
    proc = backend if service == "backend" else cart
    failures = fuzz(proc.url, negative=True)
    assert failures == [], "\n".join(failures[:20])
