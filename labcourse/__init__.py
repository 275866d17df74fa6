"""The course as package data: the notebooks (with their quizzes) and the Kubernetes
manifests they deploy.

Why a package: a classroom installs the course into an image with ``pip install`` and a
learner with ``pip install ecommerce-k8s-lab``; outside a git checkout there is no
``notebooks/`` or ``manifests/`` beside the code. In a checkout ``labcourse/notebooks``
and ``labcourse/manifests`` are links to the top-level folders, and a built wheel (or
sdist) carries their files under ``labcourse/`` — so everything finds them the same way,
through ``importlib.resources``, installed or not.

This package holds data only and imports nothing of the project.
"""

from __future__ import annotations

from importlib import metadata
from importlib.resources import files
from pathlib import Path

#: The distribution that carries the course (and whose version is the course's).
DIST = "ecommerce-k8s-lab"


def path(*parts: str) -> Path:
    """A course file or folder on the filesystem (a wheel installs as plain files); in a
    checkout the real path behind the link, so the repository's layout shows."""
    return Path(str(files(__name__))).joinpath(*parts).resolve()


NOTEBOOKS = path("notebooks")
MANIFESTS = path("manifests")
QUIZZES = NOTEBOOKS / "quizzes"


def version() -> str:
    """The one version of the course, the storefront image tag and the package: the
    ``[project] version`` in pyproject.toml, as the installed metadata says it."""
    try:
        return metadata.version(DIST)
    except metadata.PackageNotFoundError:  # a source tree used without installing it
        return "0+unknown"
