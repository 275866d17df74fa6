"""Put the course into a learner's folder — and update it later without losing an edit.

A learner who installed the package (``pip install ecommerce-k8s-lab``) has the course
inside site-packages, where edits would be lost on the next upgrade. ``labcourse init
FOLDER`` copies the notebooks (with their quizzes) and the manifests they name into
FOLDER and records what it copied (a hash per file in ``.labcourse.json``). Run again
(say, after an upgrade) it adds what is new, updates a file the learner never touched, and
keeps every file the learner changed, saying which.

The notebooks it writes are the learner's copies (solutions stripped, as
``labcourse.release`` writes them for a classroom): a learner who installed the course
gets a break & fix challenge whose ✏️ cells hold no answer. An instructor asks for the
source with ``--solutions``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

import labcourse
from labcourse.release import has_solution, learner_copy
from labhelpers.errors import LabError

STATE_FILE = ".labcourse.json"


class WorkspaceError(LabError, ValueError):
    """A folder we cannot put the course in (the message says why); nothing was written."""


@dataclass
class CopyReport:
    folder: Path
    copied: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"course {labcourse.version()} in {self.folder}: {len(self.copied)} copied, "
                 f"{len(self.updated)} updated, {len(self.unchanged)} already current, "
                 f"{len(self.kept)} kept as you edited them"]
        lines += [f"  kept your edited {name} (the course's version differs)"
                  for name in self.kept]
        return "\n".join(lines)


def course_files() -> dict[str, Path]:
    """{relative path in the learner's folder: the package's file}."""
    out: dict[str, Path] = {}
    for top, root in (("notebooks", labcourse.NOTEBOOKS), ("manifests", labcourse.MANIFESTS)):
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root)
            if path.is_file() and not any(p.startswith(".") or p == "runs" for p in rel.parts):
                out[f"{top}/{rel.as_posix()}"] = path
    return out


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _content(source: Path, solutions: bool) -> bytes:
    """What goes into the learner's folder for ``source``: a notebook with solutions
    becomes its learner's copy unless ``solutions``; every other file as it is."""
    data = source.read_bytes()
    if solutions or source.suffix != ".ipynb":
        return data
    nb = nbformat.reads(data.decode("utf-8"), as_version=4)
    if not any(has_solution(c.source) for c in nb.cells if c.cell_type == "code"):
        return data
    return nbformat.writes(learner_copy(nb, source.name)).encode("utf-8") + b"\n"


def _read_state(folder: Path) -> dict[str, str]:
    try:
        doc = json.loads((folder / STATE_FILE).read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise WorkspaceError(f"{folder / STATE_FILE} is unreadable ({exc}); remove it to "
                             "treat every existing file as your own edit") from None
    files = doc.get("files") if isinstance(doc, dict) else None
    return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}


def copy_course(folder: str | Path, solutions: bool = False) -> CopyReport:
    """Copy or update the course in ``folder`` (made if missing); never overwrite an edit.

    A file that exists and differs from the course counts as the learner's unless it is
    exactly what this command copied last time (then it is updated). ``solutions`` keeps
    the instructor's notebooks (the ✏️ cells' solutions) instead of the learner's copies."""
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise WorkspaceError(f"{folder} exists and is not a folder")
    sources = course_files()
    if not sources:
        raise WorkspaceError(f"no course files found under {labcourse.NOTEBOOKS.parent}: "
                             "is the package installed completely?")
    recorded = _read_state(folder)
    report = CopyReport(folder)
    state: dict[str, str] = {}
    for rel, source in sources.items():
        target = folder / rel
        data = _content(source, solutions)
        new = _digest(data)
        if target.is_dir():
            raise WorkspaceError(f"{target} is a folder where the course has a file")
        if not target.exists():
            bucket = report.copied
        else:
            have = _digest(target.read_bytes())
            if have == new:
                report.unchanged.append(rel)
                state[rel] = new
                continue
            if recorded.get(rel) != have:
                report.kept.append(rel)
                state[rel] = recorded.get(rel, "")
                continue
            bucket = report.updated
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        bucket.append(rel)
        state[rel] = new
    (folder / STATE_FILE).write_text(json.dumps(
        {"course_version": labcourse.version(), "solutions": solutions, "files": state}, indent=1, sort_keys=True) + "\n")
    return report
