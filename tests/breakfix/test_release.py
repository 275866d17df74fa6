"""The learner's copy of notebook 8 (nbgrader's BEGIN/END SOLUTION convention) and the
solutions' kubectl commands — checked without a cluster."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import nbformat
import pytest

from labcourse import release
from labhelpers import breakfix

ROOT = Path(__file__).resolve().parents[2]
NB8 = ROOT / "notebooks" / "08-break-and-fix.ipynb"
#: The answers the instructor's source holds; none may reach the learner's copy.
ANSWERS = ['{"app": "redis"}', '"256Mi"', '"1Gi"', '= "postgres"']


def edit_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if "learner-edit" in c.get("metadata", {}).get("tags", [])]


def test_source_keeps_each_fix_between_markers_behind_the_parameter() -> None:
    nb = nbformat.read(NB8, as_version=4)
    cells = edit_cells(nb)
    assert len(cells) == 3
    for cell in cells:
        src = cell.source
        assert src.count(release.BEGIN) == 1 and src.count(release.END) == 1, src
        region = src.split(release.BEGIN)[1].split(release.END)[0]
        assert region.strip().startswith("if apply_solution:"), region  # never by default
        assert any(a in region for a in ANSWERS), region
    params = nb.cells[1].source
    assert re.search(r"^apply_solution = False\b", params, re.M), params


def test_learner_copy_has_no_answer_and_stays_python() -> None:
    source = nbformat.read(NB8, as_version=4)
    copy = release.learner_copy(source, NB8.name)
    for cell in edit_cells(copy):
        assert release.STUB in cell.source, cell.source
        assert not release.has_solution(cell.source)
        assert not any(a in cell.source for a in ANSWERS), cell.source
        assert cell.source.startswith("# ✏️ edit me:")
    code = [c.source for c in copy.cells if c.cell_type == "code"]
    for i, src in enumerate(code):
        release.check_python(src, f"code cell {i}")  # raises on a syntax error
    assert len(copy.cells) == len(source.cells)  # same cells: a stub, not a deletion
    assert release.BEGIN in edit_cells(source)[0].source  # the source is not modified


def test_strip_keeps_indentation_and_refuses_unpaired_markers() -> None:
    src = "x = 1\nif True:\n    ### BEGIN SOLUTION\n    x = 2\n    ### END SOLUTION\n    pass"
    assert release.strip_solutions(src) == \
        "x = 1\nif True:\n    # ✏️ your change here\n    pass"
    for bad, message in [("### BEGIN SOLUTION\nx = 1", "never closed"),
                         ("x = 1\n### END SOLUTION", "without"),
                         ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION",
                          "inside the region")]:
        with pytest.raises(release.ReleaseError, match=message):
            release.strip_solutions(bad)
    with pytest.raises(release.ReleaseError, match="not valid Python"):
        release.check_python("if x:\n    # only a comment", "cell")


def test_release_cli_writes_copies_and_refuses_the_source_folder(tmp_path: Path) -> None:
    assert release.main(["--out", str(tmp_path), str(NB8)]) == 0
    text = (tmp_path / NB8.name).read_text()
    assert release.BEGIN not in text and "your change here" in text
    assert release.main(["--out", str(NB8.parent), str(NB8)]) == 1  # would overwrite it
    assert release.BEGIN in NB8.read_text()
    assert release.main(["--out", str(tmp_path), str(tmp_path / "nope.ipynb")]) == 2


def _named_paths(command: str) -> list[str]:
    """The files a kubectl command reads (``-f``/``--filename``, ``-k``/``--kustomize``)."""
    words = shlex.split(command, comments=True)
    return [words[i + 1] for i, w in enumerate(words[:-1])
            if w in ("-f", "--filename", "-k", "--kustomize")]


@pytest.mark.parametrize("name", breakfix.names())
def test_every_file_a_solution_names_exists(name: str) -> None:
    meta = breakfix._meta(name)
    commands = list(meta.get("solution_kubectl") or [])
    commands += [c for st in meta.get("steps") or [] for c in st["kubectl"]]
    assert commands, f"{name}: no kubectl commands in its solution"
    for cmd in commands:
        assert cmd.startswith("kubectl "), cmd
        assert "{namespace}" in cmd, f"{name}: {cmd!r} does not name the challenge's namespace"
        for path in _named_paths(cmd):
            assert (ROOT / path).exists(), f"{name}: {cmd!r} names {path}, which does not exist"
    texts = [meta["solution"], *(st["fix"] for st in meta.get("steps") or [])]
    for text in texts:
        for path in re.findall(r"[\w./-]+\.ya?ml\b", text):
            assert (ROOT / path).exists() or (ROOT / "manifests" / path).exists(), \
                f"{name}: the solution names {path}, which does not exist"


def test_the_challenge_has_a_step_per_bug_each_with_kubectl() -> None:
    steps = breakfix._meta("combined")["steps"]
    assert len(steps) == 3 and all(st["kubectl"] and st["fix"] for st in steps)
    joined = " ".join(c for st in steps for c in st["kubectl"])
    for needle in ("manifests/lab/cache.yaml", "--limits=memory=1Gi", "DATABASE_HOST",
                   "rollout restart deployment ecommerce-backend"):
        assert needle in joined, needle
