"""The course as a package: its files and the tools that run it.

- **Data**: the notebooks (with their quizzes) and the Kubernetes manifests they deploy.
  A classroom installs the course into an image with ``pip install`` and a learner with
  ``pip install ecommerce-k8s-lab``; outside a git checkout there is no ``notebooks/`` or
  ``manifests/`` beside the code. In a checkout ``labcourse/notebooks`` and
  ``labcourse/manifests`` are links to the top-level folders, and a built wheel (or sdist)
  carries their files under ``labcourse/``. ``labhelpers.coursefiles`` finds them (so the
  notebooks' helpers need not import this package); the names below re-export it.
- **Course tooling** — what instructors and CI run, never a notebook cell: the ``labcourse``
  command (``cli``: run the course headlessly or in JupyterLab, ``init`` a learner's copy,
  ``link`` for nbgitpuller), one notebook runner (``runner``) behind it and behind the
  class ``batch`` report, ``images`` (build/load the storefront image), ``quickstart``
  (the lab in one command), ``release``/``workspace`` (learner copies), ``gitpull``.

Direction: labcourse imports labhelpers, never the reverse (tests/test_layering.py).
"""

from __future__ import annotations

import importlib

from labhelpers.coursefiles import DIST, MANIFESTS, NOTEBOOKS, QUIZZES, path, version
from labhelpers.errors import LabError

#: The course tooling's errors, each a ``labhelpers.LabError``: exported here, but their
#: modules load on first use of the name (PEP 562), so ``import labcourse`` stays light.
_LAZY_ERRORS = {
    "BatchError": "labcourse.batch", "CourseError": "labcourse.runner",
    "ImageError": "labcourse.images", "LinkError": "labcourse.gitpull",
    "ReleaseError": "labcourse.release", "WorkspaceError": "labcourse.workspace",
}

__all__ = ["DIST", "MANIFESTS", "NOTEBOOKS", "QUIZZES", "path", "version",
           *sorted(_LAZY_ERRORS)]


def __getattr__(name: str) -> type[LabError]:
    if name in _LAZY_ERRORS:
        return getattr(importlib.import_module(_LAZY_ERRORS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY_ERRORS})
