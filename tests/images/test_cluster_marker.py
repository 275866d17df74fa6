"""`pytest -m cluster`: the hook in tests/conftest.py marks the integration folders' tests
and nothing else, and pyproject registers the marker (so `--strict-markers` accepts it)."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def root_conftest():
    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "tests" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Item:
    """Just what the hook reads and writes on a pytest.Item."""

    def __init__(self, path: Path) -> None:
        self.path, self.markers = path, []

    def add_marker(self, marker) -> None:
        self.markers.append(marker.name if hasattr(marker, "name") else marker.mark.name)


@pytest.mark.parametrize(("relpath", "marked"), [
    ("labhelpers/test_labhelpers_lab.py", True),
    ("labhelpers/test_labhelpers_unit.py", True),
    ("labcluster/node/test_x.py", True),
    ("breakfix/test_breakfix.py", True),
    ("notebooks/test_course_runs.py", True),
    ("loadtest/test_loadtest_cluster.py", True),
    ("images/test_images.py", False),
    ("classroom/test_classroom_rbac.py", False),
    ("storefront/test_cart.py", False),
    ("test_project.py", False),
])
def test_hook_marks_the_integration_folders(relpath, marked):
    item = Item(ROOT / "tests" / relpath)
    root_conftest().pytest_collection_modifyitems([item])
    assert item.markers == (["cluster"] if marked else [])


def test_items_outside_tests_are_left_alone(tmp_path):
    item = Item(tmp_path / "labhelpers" / "test_x.py")
    root_conftest().pytest_collection_modifyitems([item])
    assert item.markers == []


def test_marker_is_registered():
    ini = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert any(m.startswith("cluster:") for m in ini["markers"])
