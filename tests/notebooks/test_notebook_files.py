"""What is committed: notebooks without outputs, runnable by papermill, in the course's shape
(parameters cell with the standard names, a quiz, a cleanup) — checked without a cluster."""

from __future__ import annotations

import ast
import ipaddress
import re

import nbformat
import pytest
from conftest import NOTEBOOKS

from labcourse import runner
from labhelpers import quiz

STANDARD_PARAMETERS = {"namespace": None, "cluster": "auto", "fast": False,
                       "show_kubectl": True, "quiz_answers": None, "learner": None,
                       "cleanup_at_end": False}
MINE = ["01-preflight", "02-deploy", "03-discovery-and-config", "04-persistence",
        "05-scaling", "06-observability"]
PATHS = runner.course_notebooks(NOTEBOOKS)


def tagged(nb: nbformat.NotebookNode, tag: str) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]


def test_the_first_six_notebooks_are_there():
    names = [p.stem for p in PATHS]
    assert [n for n in MINE if n not in names] == []
    assert names == sorted(names), "the course runs in file-name order"


@pytest.fixture(params=PATHS, ids=lambda p: p.stem)
def notebook(request):
    path = request.param
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    return path, nb


def test_no_outputs_committed(notebook):
    path, nb = notebook
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
             and (c.outputs or c.execution_count is not None)]
    assert dirty == [], (f"{path.name}: cells {dirty} carry outputs or an execution count; "
                         "clear them (Kernel → Restart & Clear Outputs, or nbstripout)")


def test_metadata_papermill_needs(notebook):
    path, nb = notebook
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", path.name
    assert nb.metadata.get("kernelspec", {}).get("language") == "python", path.name
    assert nb.metadata.get("language_info", {}).get("name") == "python", path.name


def test_parameters_cell_has_the_standard_names(notebook):
    path, nb = notebook
    cells = tagged(nb, "parameters")
    assert len(cells) == 1, f"{path.name}: {len(cells)} cells tagged 'parameters'"
    assert nb.cells.index(cells[0]) == 1, f"{path.name}: parameters must be the second cell"
    values: dict = {}
    for node in ast.parse(cells[0].source).body:
        assert isinstance(node, ast.Assign), f"{path.name}: parameters cell has only assignments"
        values[node.targets[0].id] = ast.literal_eval(node.value)
    assert {k: values.get(k) for k in STANDARD_PARAMETERS} == STANDARD_PARAMETERS
    assert list(values)[:len(STANDARD_PARAMETERS)] == list(STANDARD_PARAMETERS)


def test_starts_with_what_you_will_learn(notebook):
    path, nb = notebook
    first = nb.cells[0]
    number = int(path.stem.split("-")[0])
    assert first.cell_type == "markdown" and first.source.startswith(f"# {number}. "), path.name
    assert "what you will learn" in first.source.lower(), path.name


def test_ends_with_check_quiz_and_cleanup(notebook):
    path, nb = notebook
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    quizzes = [re.search(r'labhelpers\.quiz\.quiz\("([a-z]+)"', s) for s in code]
    sections = [m.group(1) for m in quizzes if m]
    assert len(sections) == 1, f"{path.name}: one quiz cell, found {len(sections)}"
    assert sections[0] in quiz.available(), f"{path.name}: no quiz file for {sections[0]}"
    assert "answers=quiz_answers" in code[[bool(m) for m in quizzes].index(True)]
    assert any("labhelpers.results.record(" in s for s in code), f"{path.name}: no record()"
    assert re.search(r"if cleanup_at_end:\s+lab\.cleanup\(\)", code[-1]), \
        f"{path.name}: the last cell must be the cleanup cell"


def test_learner_edit_cells_say_so(notebook):
    path, nb = notebook
    for cell in tagged(nb, "learner-edit"):
        assert cell.source.startswith("# ✏️ edit me:"), f"{path.name}: {cell.source[:40]!r}"


def test_labcluster_box_in_notebook_01_is_still_true():
    """Notebook 01's "labcluster vs a real cluster" box names kinds labcluster does not
    serve and what its nslookup prints; when labcluster grows, this fails until the box
    says so too."""
    from labcluster.registry import default_registry

    nb = nbformat.read(NOTEBOOKS / "01-preflight.ipynb", as_version=4)
    (box,) = [c.source for c in nb.cells if c.cell_type == "markdown"
              and c.source.startswith("### labcluster vs a real cluster")]
    not_served = next(line for line in box.splitlines() if line.startswith("| not served"))
    kinds = {r.kind for r in default_registry().resources}
    for kind in ("HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "Role"):
        said = kind in not_served if kind != "Role" else "RBAC is not enforced" in not_served
        assert said != (kind in kinds), (
            f"{kind}: labcluster {'serves' if kind in kinds else 'does not serve'} it, and "
            f"the box's 'not served' row {'says' if said else 'does not say'} so")
    from labcluster.api import SERVICE_CIDR
    from labcluster.node.clusterdns import conventional_ip
    dns_row = next(line for line in box.splitlines() if line.startswith("| DNS"))
    kube_dns = conventional_ip(ipaddress.ip_network(SERVICE_CIDR))  # what nslookup shows
    assert "`kube-dns`" in dns_row and f"`Server: {kube_dns}`" in dns_row
    toolbox = (NOTEBOOKS.parent / "labcluster" / "node" / "toolbox.py").read_text()
    assert 'print(f"Server:\\t\\t{server}\\nAddress:\\t{server}#53\\n")' in toolbox
