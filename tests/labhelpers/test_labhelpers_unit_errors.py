"""One error root (issue 19): every exception class labhelpers (and the course tooling,
labcourse) defines is a LabError, keeps the builtin base callers already catch, and is
exported from its package: ``labhelpers``, or ``labcourse`` for the tooling's."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import labcourse
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


#: Which package exports each error: the course tooling's live in labcourse.
LABCOURSE_ERRORS = {"BatchError", "CourseError", "ImageError", "LinkError", "ReleaseError",
                    "WorkspaceError"}


def defined_errors() -> dict[str, type[BaseException]]:
    """Every exception class (warnings aside) defined in a labhelpers or labcourse module."""
    found: dict[str, type[BaseException]] = {}
    infos = [*pkgutil.walk_packages(labhelpers.__path__, "labhelpers."),
             *pkgutil.walk_packages(labcourse.__path__, "labcourse.")]
    for info in infos:
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


def test_every_error_is_exported_from_its_package() -> None:
    for name, cls in defined_errors().items():
        package = labcourse if name in LABCOURSE_ERRORS else labhelpers
        assert cls.__module__.startswith(package.__name__ + "."), name
        assert name in package.__all__, name
        assert getattr(package, name) is cls, name


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchError'"):
        labhelpers.NoSuchError  # noqa: B018
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchError'"):
        labcourse.NoSuchError  # noqa: B018
