"""The learner's copy of a notebook: solutions stripped, as nbgrader's release step does.

The committed notebooks are the instructor's source. A ✏️ cell keeps its solution between
nbgrader's markers::

    ### BEGIN SOLUTION
    if apply_solution:
        redis["spec"]["selector"]["matchLabels"] = {"app": "redis"}
    ### END SOLUTION

``learner_copy`` replaces each marked region by a stub comment (at the region's
indentation) and clears outputs, like ``nbgrader generate_assignment`` with its
``ClearSolutions`` preprocessor, so a classroom can hand out notebooks whose ✏️ cells hold
no answer. It is written here rather than taken from nbgrader because nbgrader brings a
database, a course directory layout and JupyterHub services a plain course does not need
(docs/classroom.md says what of nbgrader fits and what does not); the markers are the same,
so the same source also works with nbgrader itself.

    python -m labcourse.release --out release/ [notebooks/08-break-and-fix.ipynb ...]
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

import nbformat

from labhelpers.errors import LabError

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = "# ✏️ your change here"
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
MAGIC = re.compile(r"^\s*[%!]")


class ReleaseError(LabError, ValueError):
    """A source whose markers do not pair up (the message names the line)."""


def strip_solutions(source: str, stub: str = STUB) -> str:
    """``source`` with every BEGIN/END SOLUTION region (markers included) replaced by
    ``stub`` at the BEGIN line's indentation. Unpaired or nested markers are an error: a
    half-stripped cell would hand out part of an answer."""
    out: list[str] = []
    inside: int | None = None
    for n, line in enumerate(source.splitlines(), 1):
        mark = line.strip()
        if mark == BEGIN:
            if inside is not None:
                raise ReleaseError(f"line {n}: {BEGIN} inside the region opened on line {inside}")
            inside = n
            indent = line[: len(line) - len(line.lstrip())]
            out += [indent + s for s in stub.splitlines()]
        elif mark == END:
            if inside is None:
                raise ReleaseError(f"line {n}: {END} without {BEGIN}")
            inside = None
        elif inside is None:
            out.append(line)
    if inside is not None:
        raise ReleaseError(f"line {inside}: {BEGIN} is never closed")
    return "\n".join(out)


def has_solution(source: str) -> bool:
    return any(line.strip() in (BEGIN, END) for line in source.splitlines())


def check_python(source: str, where: str) -> None:
    """The stripped cell must still be Python (IPython magics aside), or the learner's copy
    fails in a cell they did not touch."""
    code = "\n".join("pass" if MAGIC.match(line) else line for line in source.splitlines())
    try:
        ast.parse(code)
    except SyntaxError as exc:
        raise ReleaseError(f"{where}: the learner's copy is not valid Python: {exc}") from exc


def learner_copy(nb: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """A copy of ``nb`` with solutions stripped from code cells and every output cleared."""
    nb = nbformat.from_dict(nb)  # a deep copy: the source stays as it was
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        if has_solution(cell.source):
            try:
                cell.source = strip_solutions(cell.source)
            except ReleaseError as exc:
                raise ReleaseError(f"{name} cell {i}: {exc}") from None
            check_python(cell.source, f"{name} cell {i}")
    return nb


def release(notebooks: list[Path], out: Path) -> list[Path]:
    """Write the learner's copy of each notebook into ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        nb = learner_copy(nbformat.read(path, as_version=4), path.name)
        target = out / path.name
        if target.resolve() == path.resolve():
            raise ReleaseError(f"{path}: --out must not be the source folder (it would "
                               "overwrite the instructor's source)")
        nbformat.write(nb, target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m labcourse.release",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="*", type=Path,
                    help="default: every notebooks/NN-*.ipynb of this course")
    ap.add_argument("--out", type=Path, required=True, help="folder for the learner's copies")
    args = ap.parse_args(argv)
    books = args.notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
    missing = [str(p) for p in books if not p.is_file()]
    if missing:
        print(f"release: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        for path in release(books, args.out):
            print(path)
    except ReleaseError as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
