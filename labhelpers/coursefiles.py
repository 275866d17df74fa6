"""Where the course's files are — the notebooks, their quizzes, the manifests — and the
course's version.

Why here and not in ``labcourse`` (the package that carries those files): labcourse's
tooling imports labhelpers, so labhelpers must not import labcourse back. The files are
found by the package's location (``importlib.util.find_spec`` runs none of labcourse's
code): in a checkout ``labcourse/notebooks`` and ``labcourse/manifests`` are links to the
top-level folders, and a built wheel (or sdist) carries the files under ``labcourse/``, so
both are found the same way, installed or not.
"""

from __future__ import annotations

from importlib import metadata
from importlib.util import find_spec
from pathlib import Path

#: The distribution that carries the course (and whose version is the course's).
DIST = "ecommerce-k8s-lab"
#: The package whose folder holds the course's files.
DATA_PACKAGE = "labcourse"


def _package_folder() -> Path:
    spec = find_spec(DATA_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"the course's files (package {DATA_PACKAGE}) are not "
                                  f"installed: pip install {DIST}")
    return Path(next(iter(spec.submodule_search_locations)))


def path(*parts: str) -> Path:
    """A course file or folder on the filesystem (a wheel installs as plain files); in a
    checkout the real path behind the link, so the repository's layout shows."""
    return _package_folder().joinpath(*parts).resolve()


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
