"""sanitize.cfg hides what varies between runs and nothing a learner relies on: checked on
examples, with nbval's own parser of the file (as --nbval-sanitize-with reads it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from nbval.plugin import get_sanitize_patterns

PATTERNS = get_sanitize_patterns((Path(__file__).with_name("sanitize.cfg")).read_text())


def sanitize(text: str) -> str:
    for regex, replace in PATTERNS:  # in file order, as nbval applies them
        text = re.sub(regex, replace, text)
    return text


def test_every_rule_is_read() -> None:
    assert len(PATTERNS) == 8


@pytest.mark.parametrize("text", [
    "the lab requests 850m CPU and 1088Mi memory for 7 pods",
    "needs 850m / 1088Mi; labcluster has 2000m / 23Gi",
    "What happens when a backend pod tries to use more CPU than its limit (1000m)?",
    "+            cpu: 500m",
    "limits: {'cpu': '1000m', 'memory': '256Mi'}, 'requests': {'cpu': '10m'}",
    "   c) 650m",
    "postgres         1              100                  128",
])
def test_quantities_stay(text: str) -> None:
    assert sanitize(text) == text


@pytest.mark.parametrize(("text", "want"), [
    ("cart-service-6d4f85c56-4zstm   1/1  Running   0  13s",
     "cart-service-HASH-XXXXX   1/1  Running   0  AGE"),
    ("postgres-0   1/1  Running   0  3m4s  127.98.175.2  labcluster",
     "postgres-0   1/1  Running   0  AGE  IP  labcluster"),
    ("web   1/1  Running   0  12m", "web   1/1  Running   0  AGE"),
    ("web   1/1  Running   0  12m  \nnext", "web   1/1  Running   0  AGE  \nnext"),
    ("data-db-0  Bound  ReadWriteOnce  standard  2d", "data-db-0  Bound  ReadWriteOnce  "
     "standard  AGE"),
    ("0       2m2s  Warning  Unhealthy  pod/postgres-0", "0       AGE  Warning  Unhealthy  "
     "pod/postgres-0"),
    ("combined fixed after 0m20s (time limit 20 min)",
     "combined fixed after AGE (time limit 20 min)"),
    ("Forwarding from 127.0.0.1:54321 -> 5000", "Forwarding from IP:PORT -> 5000"),
    ("created 2026-12-07T04:22:15Z uid 0f8fad5b-d9cb-469f-a165-70867728950e",
     "created TIMESTAMP uid UID"),
    ("took 1.25 s", "took DURATION"),
])
def test_what_varies_is_hidden(text: str, want: str) -> None:
    assert sanitize(text) == want
