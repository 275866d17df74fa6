"""Expected outputs of the notebooks' stable cells, kept OUT of the notebooks.

Committed notebooks carry no outputs, yet nbval compares a cell tagged
``nbval-check-output`` with the outputs stored in the file it runs. So the test runs copies
into which the expected outputs (``expected_outputs.json``, keyed by notebook and cell id)
are put back. After changing a stable cell on purpose, refresh them from an executed course
run with the parameters nbval runs the committed notebooks with (fast=False, cluster=auto;
the runner's own default is fast=True), on a labcluster of its own:

    export LABCLUSTER_HOME=$(mktemp -d) && chmod 755 $LABCLUSTER_HOME
    python -m labcourse run --output /tmp/course -p fast false -p cluster auto
    python tests/notebooks/golden.py /tmp/course
    python -m labcluster down

(``--notebooks 01,02`` runs fewer; the others keep their entries.) What is tagged: every
output a learner relies on that is the same from run to run once sanitize.cfg has hidden
what varies — check() tables, quiz text, printed kubectl lines, ConfigMap/env/PVC tables,
DNS answers, hints. Left untagged, each for a reason: load-test numbers and charts (the
machine's speed), pod/Service/endpoint tables and events (pandas wraps a table by the
width of its pod names and IPs; counts and ages depend on timing), progress bars, uids and
cart/order ids, the node's size (notebook 1's node and preflight tables: another machine),
and cells ending in `;` (hint(); solution(); apply(...);): nbval runs them without
history, so IPython does not see the `;` and shows a result Jupyter and papermill hide.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
EXPECTED = HERE / "expected_outputs.json"
NOTEBOOKS = HERE.parents[1] / "notebooks"
TAG = "nbval-check-output"


def checked_cells(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    """Tagged cells by position (papermill's injected cell does not count): not every
    notebook has cell ids (nbformat 4.4), and positions shift only when cells are added —
    which ``stale`` then reports, because the expected entry keeps the cell's source."""
    cells = [c for c in nb.cells if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    return {str(i): c for i, c in enumerate(cells) if c.cell_type == "code"
            and TAG in c.get("metadata", {}).get("tags", [])}


def load_expected() -> dict[str, dict[str, dict]]:
    return json.loads(EXPECTED.read_text()) if EXPECTED.exists() else {}


def stale(notebooks: list[Path], expected: dict[str, dict[str, dict]]) -> list[str]:
    """``notebook:cell`` of tagged cells with no expected outputs, or another source."""
    out = []
    for path in notebooks:
        for key, cell in checked_cells(nbformat.read(path, as_version=4)).items():
            entry = expected.get(path.stem, {}).get(key)
            if entry is None or entry["source"] != cell.source:
                out.append(f"{path.stem}:cell {key}")
    return out


def with_expected(notebooks: list[Path], folder: Path,
                  expected: dict[str, dict[str, dict]]) -> list[Path]:
    """Copies of ``notebooks`` in ``folder`` with the expected outputs in tagged cells.

    A tagged cell with no current expected output loses its tag in the copy (it still runs,
    it is just not compared); ``stale`` reports it in a test of its own."""
    folder.mkdir(parents=True, exist_ok=True)
    copies = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        for n, (key, cell) in enumerate(checked_cells(nb).items(), 1):
            entry = expected.get(path.stem, {}).get(key)
            if entry is None or entry["source"] != cell.source:
                cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != TAG]
                continue
            cell.outputs = [nbformat.from_dict(o) for o in entry["outputs"]]
            cell.execution_count = n  # nbval refuses outputs with a null count
        copy = folder / path.name
        nbformat.write(nb, copy)
        copies.append(copy)
    return copies


def extract(executed: Path, notebooks: Path = NOTEBOOKS) -> dict[str, dict[str, dict]]:
    """The tagged cells' outputs from a folder of executed notebooks (matched by cell id)."""
    expected: dict[str, dict[str, dict]] = {}
    previous = load_expected()
    for source in sorted(notebooks.glob("[0-9][0-9]-*.ipynb")):
        tagged = checked_cells(nbformat.read(source, as_version=4))
        if not tagged:
            continue
        if not (executed / source.name).exists():  # not run this time: keep what we had
            if source.stem in previous:
                expected[source.stem] = previous[source.stem]
            print(f"note: {source.name} is not in {executed}; its entry is unchanged")
            continue
        run = nbformat.read(executed / source.name, as_version=4)
        ran = [c for c in run.cells
               if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
        if any(int(k) >= len(ran) or ran[int(k)].source != c.source for k, c in tagged.items()):
            raise SystemExit(f"{executed / source.name} was run from another version of "
                             f"{source.name}: run the course again")
        expected[source.stem] = {k: {"source": c.source,
                                     "outputs": [dict(o) for o in ran[int(k)].outputs]}
                                 for k, c in tagged.items()}
    return expected


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    found = extract(Path(sys.argv[1]))
    EXPECTED.write_text(json.dumps(found, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    print(f"wrote {EXPECTED}: " + ", ".join(f"{k} ({len(v)})" for k, v in found.items()))
