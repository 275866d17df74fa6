"""Which package may import which (issue 19): read from the sources' import statements,
so a function-level import that reaches the wrong way is caught as well."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(folder: str) -> dict[str, set[str]]:
    """Every module each file under `folder` imports (relative imports made absolute)."""
    found: dict[str, set[str]] = {}
    where = ROOT / folder
    for path in sorted(where.rglob("*.py") if where.is_dir() else [where]):
        package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    parts = parts[:len(parts) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                names.add(base)
                names.update(f"{base}.{a.name}" for a in node.names)
        found[str(path.relative_to(ROOT))] = names
    return found


def offenders(folder: str, forbidden: str) -> list[str]:
    return [f"{file} imports {name}"
            for file, names in imported_modules(folder).items()
            for name in sorted(names)
            if name == forbidden or name.startswith(forbidden + ".")]


def test_the_node_never_imports_a_controller():
    assert offenders("labcluster/node", "labcluster.controllers") == []


def test_labhelpers_does_not_import_the_application_it_deploys():
    assert offenders("labhelpers", "storefront") == []


def test_kustomize_builds_from_files_without_importing_manifests():
    """manifests imports kustomize (to build a folder); the way back would be a circle."""
    assert offenders("labhelpers/kustomize.py", "labhelpers.manifests") == []


def test_the_checker_sees_relative_and_function_level_imports(tmp_path, monkeypatch):
    pkg = tmp_path / "labcluster" / "node"
    pkg.mkdir(parents=True)
    (pkg / "x.py").write_text("def f():\n    from ..controllers import base\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert offenders("labcluster/node", "labcluster.controllers") == [
        "labcluster/node/x.py imports labcluster.controllers",
        "labcluster/node/x.py imports labcluster.controllers.base"]
