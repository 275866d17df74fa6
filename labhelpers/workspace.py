"""Put the course into a learner's folder — and update it later without losing an edit.

A learner who installed the package (``pip install ecommerce-k8s-lab``) has the course
inside site-packages, where edits would be lost on the next upgrade. ``labcourse init
FOLDER`` copies the notebooks (with their quizzes) and the manifests they name into
FOLDER and records what it copied (a hash per file in ``.labcourse.json``). Run again
(say, after an upgrade) it adds what is new, updates a file the learner never touched, and
keeps every file the learner changed, saying which.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import labcourse

STATE_FILE = ".labcourse.json"


class WorkspaceError(ValueError):
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


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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


def copy_course(folder: str | Path) -> CopyReport:
    """Copy or update the course in ``folder`` (made if missing); never overwrite an edit.

    A file that exists and differs from the course counts as the learner's unless it is
    exactly what this command copied last time (then it is updated)."""
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
        new = _digest(source)
        if target.is_dir():
            raise WorkspaceError(f"{target} is a folder where the course has a file")
        if not target.exists():
            bucket = report.copied
        else:
            have = _digest(target)
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
        shutil.copyfile(source, target)
        bucket.append(rel)
        state[rel] = new
    (folder / STATE_FILE).write_text(json.dumps(
        {"course_version": labcourse.version(), "files": state}, indent=1, sort_keys=True) + "\n")
    return report
