"""The classroom manifests as an instructor applies them (a uniquely named module:
several test folders have a conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

import labcourse

ROOT = Path(__file__).resolve().parents[2]
CLASSROOM = ROOT / "manifests" / "classroom"
PLACEHOLDER = "lab-learner"
LEARNER_NS = "lab-alice"
BREAKFIX_NS = "lab-alice-breakfix"


def load(name: str, text: str | None = None) -> list[dict[str, Any]]:
    text = text if text is not None else (CLASSROOM / name).read_text()
    return [d for d in yaml.safe_load_all(text) if d]


def render(learner: str) -> list[dict[str, Any]]:
    """learner.yaml for one learner, exactly as the documented `sed` renders it."""
    text = (CLASSROOM / "learner.yaml").read_text().replace(PLACEHOLDER, f"lab-{learner}")
    return load("learner.yaml", text)


def rbac_objects(learner: str = "alice") -> list[dict[str, Any]]:
    return load("cluster.yaml") + render(learner)


def course_notebook_names() -> list[str]:
    """The course's notebooks (NN-title.ipynb), from the package the pod's image carries."""
    return sorted(p.name for p in labcourse.NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
