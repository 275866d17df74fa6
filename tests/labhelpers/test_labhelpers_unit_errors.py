"""One error root (issue 19): every exception class labhelpers defines is a LabError,
keeps the builtin base callers already catch, and is exported from ``labhelpers``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import labhelpers
from labhelpers import LabError

#: The builtin base each error had before LabError: ``except ValueError`` etc. keep working.
BUILTIN_BASE = {
    "ApplyError": RuntimeError, "BatchError": ValueError, "CheckFailed": AssertionError,
    "CourseError": Exception, "ImageError": RuntimeError, "KustomizeError": ValueError,
    "LinkError": ValueError, "LoadTargetRefused": ValueError, "ManifestError": ValueError,
    "MetricsUnavailable": RuntimeError, "NotOurs": RuntimeError,
    "ProductionRefused": RuntimeError, "QuizError": ValueError, "ReleaseError": ValueError,
    "ResultsError": ValueError, "TierNotReady": RuntimeError, "WorkspaceError": ValueError,
}


def defined_errors() -> dict[str, type[BaseException]]:
    """Every exception class (warnings aside) defined in a labhelpers module."""
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(labhelpers.__path__, "labhelpers."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and issubclass(obj, BaseException)
                    and not issubclass(obj, Warning) and obj.__module__ == module.__name__):
                found[name] = obj
    return found


def test_every_labhelpers_error_is_a_laberror_with_its_builtin_base() -> None:
    errors = defined_errors()
    errors.pop("LabError")
    assert sorted(errors) == sorted(BUILTIN_BASE), "a new error: add its builtin base here"
    for name, cls in errors.items():
        assert issubclass(cls, LabError), name
        assert issubclass(cls, BUILTIN_BASE[name]), name


def test_every_error_is_exported_from_labhelpers() -> None:
    for name, cls in defined_errors().items():
        assert name in labhelpers.__all__, name
        assert getattr(labhelpers, name) is cls, name


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchError'"):
        labhelpers.NoSuchError  # noqa: B018
