"""A learner's results (check tables, quiz scores) in one small JSON file per learner.

One file per learner so an instructor's batch run can collect a class by listing a
folder, and so two learners never write the same file. Writes are atomic (temp file +
rename, under a lock) because a notebook may be interrupted mid-write and a batch may
run several notebooks of one learner at once: a half-written file would lose every
earlier section.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import math
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from labhelpers import coursefiles
from labhelpers.errors import LabError

#: A learner id becomes a file name: keep it to characters that are safe everywhere.
LEARNER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
CHECK_COLUMNS = ("criterion", "ok", "evidence", "hint")
PASS_MARKS = frozenset({"✅", "true", "ok", "pass", "passed", "yes", "1"})


class ResultsError(LabError, ValueError):
    """A results file or argument we refuse to read or write (the message says which)."""


def results_dir(directory: str | Path | None = None) -> Path:
    """Where results live: the argument, else env LAB_RESULTS_DIR, else ~/.ecommerce-lab/results."""
    if directory is not None:
        return Path(directory)
    env = os.environ.get("LAB_RESULTS_DIR")
    return Path(env) if env else Path.home() / ".ecommerce-lab" / "results"


def default_learner() -> str:
    """The hub's user name (``$JUPYTERHUB_USER``), else the OS user. On a JupyterHub every
    learner's server runs as the same OS user (jovyan in the Docker Stacks images), so only
    the hub's name tells learners apart."""
    name = os.environ.get("JUPYTERHUB_USER", "")
    if not name:
        try:
            name = getpass.getuser()
        except Exception:  # no passwd entry (some containers): still a usable id
            return "learner"
    # a learner passed explicitly must be valid; the OS's own name is made valid instead
    name = re.sub(r"[^A-Za-z0-9._@-]", "-", name).lstrip("._@-")[:128]
    return name or "learner"


def check_learner(learner: str) -> str:
    if not isinstance(learner, str) or not LEARNER_RE.match(learner):
        raise ResultsError(
            f"learner id {learner!r} is not usable as a file name: use letters, digits, "
            "'.', '_', '-', '@' (max 128, starting with a letter or digit)")
    return learner


def is_pass(value: Any) -> bool:
    """A check table's ``ok`` cell: labhelpers writes ✅/❌, others may write booleans."""
    if isinstance(value, bool):
        return value
    if hasattr(value, "item"):  # numpy bool/int
        value = value.item()
        if isinstance(value, bool):
            return value
    return str(value).strip().lower() in PASS_MARKS


def _jsonable(value: Any) -> Any:
    """JSON fallback for what DataFrames and notebooks hand us (numpy scalars, dates, NaN)."""
    if hasattr(value, "item") and not isinstance(value, (list, dict)):
        with contextlib.suppress(Exception):
            return value.item()
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def _clean(value: Any) -> Any:
    """NaN is not JSON: a missing evidence cell becomes null rather than an invalid file."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def to_payload(data: Any) -> dict[str, Any]:
    """What one (section, kind) entry stores for a DataFrame, a dict or a number."""
    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # a DataFrame
        rows = [_clean(r) for r in data.to_dict("records")]
        payload: dict[str, Any] = {"rows": json.loads(json.dumps(rows, default=_jsonable))}
        if "ok" in data.columns:
            payload["passed"] = sum(1 for r in rows if is_pass(r.get("ok")))
            payload["total"] = len(rows)
        return payload
    if isinstance(data, Mapping):
        return json.loads(json.dumps(_clean(dict(data)), default=_jsonable))
    if isinstance(data, bool):
        return {"value": data}
    if isinstance(data, (int, float)) or hasattr(data, "item"):
        value = _jsonable(data) if hasattr(data, "item") else data
        if isinstance(value, (int, float)):
            return {"value": _clean(value)}
    raise ResultsError(
        f"results.record takes a DataFrame, a dict or a number, not {type(data).__name__}")


@contextlib.contextmanager
def _locked(directory: Path, learner: str) -> Iterator[None]:
    """One writer per learner file at a time (two notebooks of one learner in parallel)."""
    lock_path = directory / f".{learner}.lock"
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc}); not overwriting it") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("sections", {}), dict):
        raise ResultsError(f"{path}: not a results file (no 'sections' mapping)")
    return doc


def write_atomic(path: Path, text: str) -> None:
    """Temp file in the same folder + rename: readers see the old or the new file, never half."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def record(section: str, kind: str, data: Any, learner: str | None = None,
           directory: str | Path | None = None) -> Path:
    """Store ``data`` as ``sections[section][kind]`` of the learner's file; returns its path.

    A later record of the same (section, kind) replaces the earlier one (a learner who
    re-runs a check wants the latest state) and counts ``attempts``.
    """
    if not section or not isinstance(section, str) or not kind or not isinstance(kind, str):
        raise ResultsError("section and kind must be non-empty strings")
    learner = check_learner(learner or default_learner())
    payload = to_payload(data)
    folder = results_dir(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{learner}.json"
    with _locked(folder, learner):
        doc = _read(path) if path.exists() else {"learner": learner, "sections": {}}
        doc["learner"] = learner
        doc["course_version"] = coursefiles.version()  # which course the answers are for
        entry = doc.setdefault("sections", {}).setdefault(section, {})
        previous = entry.get(kind) or {}
        payload["attempts"] = int(previous.get("attempts", 0)) + 1
        payload["at"] = datetime.now(UTC).isoformat(timespec="seconds")
        entry[kind] = payload
        write_atomic(path, json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    return path


#: Who made a recorded challenge pass (labhelpers.breakfix): the learner, or the solution
#: (a run with ``apply_solution``, or ``Challenge.fix()``), which is never the learner's.
SOLVED_BY = ("learner", "solution")


def challenge_status(entry: Mapping[str, Any] | None) -> str:
    """One word for a recorded challenge (``sections[s]["challenge"]``): ``learner``
    (solved by the learner), ``solution`` (passed only because the solution was applied),
    ``unsolved``, or ``""`` when none was recorded. A pass without a valid ``solved_by``
    counts as unsolved: an instructor's report must never credit a learner by default."""
    if not entry:
        return ""
    if not entry.get("solved"):
        return "unsolved"
    by = entry.get("solved_by")
    return by if by in SOLVED_BY else "unsolved"


def load(directory: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Every learner's results in a folder: {learner: {"learner":…, "sections": {…}}}.

    A missing folder is an empty class (nobody recorded anything yet); a corrupt file is
    an error naming it, because silently dropping a learner would misreport the class.
    """
    folder = results_dir(directory)
    if not folder.is_dir():
        return {}
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")):
        doc = _read(path)
        out[str(doc.get("learner") or path.stem)] = doc
    return out
