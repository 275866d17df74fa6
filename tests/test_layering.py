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


def module_name(file: str) -> str:
    name = file.removesuffix(".py").replace("/", ".")
    return name.removesuffix(".__init__")


def circles(folder: str) -> list[set[str]]:
    """Groups of modules under `folder` that import each other round (at any level)."""
    found = {module_name(f): names for f, names in imported_modules(folder).items()}
    graph = {m: {n for n in names if n in found and n != m} for m, names in found.items()}

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        return seen

    reached = {m: reach(m) for m in graph}
    groups = {frozenset({m} | {o for o in reached[m] if m in reached[o]}) for m in graph}
    return sorted((set(g) for g in groups if len(g) > 1), key=sorted)


def test_the_image_catalog_and_its_handlers_form_no_import_circle():
    """images.resolve needs the handlers and the handlers need the shared names: those
    live below both (imagebase.py), so neither imports the other inside a function."""
    image_modules = {"labcluster.node.images", "labcluster.node.imagebase",
                     "labcluster.node.security", "labcluster.node.launch"}
    assert [c for c in circles("labcluster/node") if c & image_modules or any(
        m.startswith("labcluster.node.handlers") for m in c)] == []


def test_strategies_know_clusterapi_only_by_the_protocol_they_use():
    assert offenders("labcluster/strategy.py", "labcluster.api") == []


def test_the_circle_finder_sees_a_function_level_circle(tmp_path, monkeypatch):
    pkg = tmp_path / "labcluster" / "node"
    pkg.mkdir(parents=True)
    (pkg / "a.py").write_text("from labcluster.node import b\n")
    (pkg / "b.py").write_text("def f():\n    from . import a\n")
    (pkg / "c.py").write_text("from labcluster.node import a\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert circles("labcluster/node") == [{"labcluster.node.a", "labcluster.node.b"}]


def test_the_node_package_has_no_import_circle():
    """routes.py knows the node component only by the protocol it uses (NodeView)."""
    assert circles("labcluster/node") == []
