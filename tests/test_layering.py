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


def test_kustomize_builds_from_files_without_importing_the_manifests_package():
    """labhelpers.manifests (files, folders, the lab's tiers) imports kustomize to build a
    folder; kustomize reads files through labhelpers.manifests.files, below both."""
    graph = import_graph("labhelpers")
    assert "labhelpers.manifests" not in graph["labhelpers.manifests.kustomize"]
    assert "labhelpers.manifests.files" in graph["labhelpers.manifests.kustomize"]


def test_the_checker_sees_relative_and_function_level_imports(tmp_path, monkeypatch):
    pkg = tmp_path / "labcluster" / "node"
    pkg.mkdir(parents=True)
    (pkg / "x.py").write_text("def f():\n    from ..controllers import base\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert offenders("labcluster/node", "labcluster.controllers") == [
        "labcluster/node/x.py imports labcluster.controllers",
        "labcluster/node/x.py imports labcluster.controllers.base"]


# ---------------------------------------------------------------- the module graph

#: labhelpers' subpackages, lowest first: a module may import a subpackage only from a
#: subpackage later in this list (or from a top-level module that is not below it).
SUBPACKAGES = ("describe", "manifests", "shop", "loadtest", "doctor", "quiz", "breakfix")


def module_files(package: str) -> dict[str, Path]:
    """Module name → file, for every module of a package (``pkg/sub/__init__.py`` is
    ``pkg.sub``)."""
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph(*packages: str) -> dict[str, set[str]]:
    """Module → the modules of ``packages`` it imports: at the top, in a function or under
    ``TYPE_CHECKING`` alike. ``from pkg import name`` counts as importing ``pkg.name`` when
    that is a module, else ``pkg`` itself; a parent package run implicitly does not count
    (it imports its own submodules, which would make every package a circle)."""
    known = {name: path for pkg in packages for name, path in module_files(pkg).items()}
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    parts = alias.name.split(".")
                    heads = [".".join(parts[:i]) for i in range(len(parts), 0, -1)]
                    targets.update(next(([h] for h in heads if h in known), []))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                for alias in node.names:
                    if f"{base}.{alias.name}" in known:
                        targets.add(f"{base}.{alias.name}")
                    elif base in known:
                        targets.add(base)
        graph[name] = targets - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: each strongly connected group of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def unit(module: str) -> str:
    """What layering is judged by: a subpackage as a whole, a top-level module alone."""
    parts = module.split(".")
    return ".".join(parts[:2])


def unit_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    units: dict[str, set[str]] = {}
    for module, targets in graph.items():
        units.setdefault(unit(module), set()).update(unit(t) for t in targets)
    return {u: targets - {u} for u, targets in units.items()}


def upward(graph: dict[str, set[str]]) -> list[str]:
    """Imports from a labhelpers subpackage into one listed before it in SUBPACKAGES."""
    rank = {f"labhelpers.{name}": i for i, name in enumerate(SUBPACKAGES)}
    return [f"{module} imports {target}"
            for module, targets in sorted(graph.items()) for target in sorted(targets)
            if unit(module) in rank and unit(target) in rank
            and rank[unit(target)] > rank[unit(module)]]


def test_no_import_circle_in_labhelpers_or_labcourse():
    """Not between modules (a function-level or TYPE_CHECKING import included), and not
    between labhelpers' parts: its subpackages each counted as one."""
    graph = import_graph("labhelpers", "labcourse")
    assert cycles(graph) == []
    assert cycles(unit_graph(import_graph("labhelpers"))) == []


def test_labhelpers_subpackages_import_only_downward():
    assert upward(import_graph("labhelpers")) == []


def test_labhelpers_never_imports_the_course_tooling():
    """labcourse (the course runner, batch, images, …) imports labhelpers, never back;
    labhelpers finds the course's files by location (labhelpers/coursefiles.py)."""
    assert offenders("labhelpers", "labcourse") == []


def test_the_graph_sees_circles_and_upward_imports(tmp_path, monkeypatch):
    """The checks above can fail: a circle hidden in a function, a TYPE_CHECKING import,
    an import from a lower subpackage into a higher one."""
    pkg = tmp_path / "labhelpers"
    for sub in ("manifests", "doctor"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "lab.py").write_text("from labhelpers import checks\n")
    (pkg / "checks.py").write_text("from typing import TYPE_CHECKING\n"
                                   "if TYPE_CHECKING:\n    from labhelpers.lab import Lab\n")
    (pkg / "manifests" / "files.py").write_text("def f():\n    from ..doctor import x\n")
    (pkg / "doctor" / "x.py").write_text("from labhelpers.manifests import files\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    graph = import_graph("labhelpers")
    assert cycles(graph) == [["labhelpers.checks", "labhelpers.lab"],
                             ["labhelpers.doctor.x", "labhelpers.manifests.files"]]
    assert upward(graph) == ["labhelpers.manifests.files imports labhelpers.doctor.x"]
    assert cycles(unit_graph(graph)) == [["labhelpers.checks", "labhelpers.lab"],
                                         ["labhelpers.doctor", "labhelpers.manifests"]]


def test_lab_has_every_member_the_delegated_helpers_call_back():
    """checks, ensure, shop and doctor take a LabLike (labhelpers/protocol.py) instead of
    importing Lab: Lab must keep each of its members, with the same signature."""
    import inspect

    from labhelpers.lab import Lab
    from labhelpers.protocol import LabLike

    for name, member in vars(LabLike).items():
        if callable(member) and not name.startswith("_"):
            assert inspect.signature(getattr(Lab, name), eval_str=True) == \
                inspect.signature(member, eval_str=True), name
    fields = set(LabLike.__annotations__)
    init = inspect.getsource(Lab.__init__)
    assert {f for f in fields if f"self.{f} = " not in init and f"self.{f}: " not in init} == set()


def circles(folder: str) -> list[set[str]]:
    """The import circles among the modules under `folder` (any level of import)."""
    return [set(c) for c in cycles(import_graph(folder))]


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


def test_labcluster_has_no_import_circle():
    """Kinds' definitions live in the registry, apimachinery's name rules in namerules.py,
    the NetworkPolicy printer in tables.py, and modules that ClusterApi imports name what
    they use of it as a Protocol: so no module imports another inside a function or under
    TYPE_CHECKING to dodge a circle."""
    assert cycles(import_graph("labcluster")) == []
