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


def test_groups_keep_a_folder_together_and_long_modules_apart_and_first():
    """A folder's tests share session fixtures (a cluster each): under xdist they stay on one
    worker; the minutes-long modules are groups of their own and are handed out first."""
    paths = ["batch/test_batch_input.py", "labcluster/test_api_crud.py",
             "labcluster/node/test_node_dns.py", "labcluster/test_rbac.py",
             "notebooks/test_course_runner.py", "notebooks/test_course_runs.py",
             "newcomer/test_fresh_clone.py", "notebooks/test_installed_package.py"]
    items = [Item(ROOT / "tests" / p) for p in paths]
    conftest = root_conftest()
    conftest.pytest_collection_modifyitems(items)
    order = [(i.path.relative_to(ROOT / "tests").as_posix(),
              conftest.group_of_nodeid(f"tests/{i.path.relative_to(ROOT / 'tests').as_posix()}"
                                       "::test_x[a/b]")) for i in items]
    assert order == [
        ("notebooks/test_installed_package.py", "notebooks/test_installed_package.py"),
        ("newcomer/test_fresh_clone.py", "newcomer"),
        ("notebooks/test_course_runs.py", "notebooks/test_course_runs.py"),
        ("labcluster/node/test_node_dns.py", "labcluster/node"),
        ("batch/test_batch_input.py", "batch"),
        ("labcluster/test_api_crud.py", "labcluster"),
        ("labcluster/test_rbac.py", "labcluster"),
        ("notebooks/test_course_runner.py", "notebooks"),
    ]


def test_marker_is_registered():
    ini = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert any(m.startswith("cluster:") for m in ini["markers"])
