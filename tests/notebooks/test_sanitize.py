"""sanitize.cfg hides what varies between runs and nothing a learner relies on: checked on
examples, with nbval's own parser of the file (as --nbval-sanitize-with reads it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from nbval.plugin import get_sanitize_patterns

PATTERNS = get_sanitize_patterns((Path(__file__).with_name("sanitize.cfg")).read_text())


def sanitize(text: str) -> str:
    for regex, replace in PATTERNS:  # in file order, as nbval applies them
        text = re.sub(regex, replace, text)
    return text


def one_space(text: str) -> str:
    return re.sub(" +", " ", text)


def test_every_rule_is_read() -> None:
    assert len(PATTERNS) == 9


@pytest.mark.parametrize("text", [
    "the lab requests 850m CPU and 1088Mi memory for 7 pods",
    "needs 850m / 1088Mi; labcluster has 2000m / 23Gi",
    "What happens when a backend pod tries to use more CPU than its limit (1000m)?",
    "+            cpu: 500m",
    "limits: {'cpu': '1000m', 'memory': '256Mi'}, 'requests': {'cpu': '10m'}",
    "   c) 650m",
    "postgres         1              100                  128",
    "$ kubectl rollout status -n ecommerce-lab sts/postgres --timeout=180s",
])
def test_quantities_stay(text: str) -> None:
    assert sanitize(text) == one_space(text)


@pytest.mark.parametrize(("text", "want"), [
    ("cart-service-6d4f85c56-4zstm   1/1  Running   0  13s",
     "cart-service-HASH-XXXXX   1/1  Running   0  AGE"),
    ("postgres-0   1/1  Running   0  3m4s  127.98.175.2  labcluster",
     "postgres-0   1/1  Running   0  AGE  IP  labcluster"),
    ("web   1/1  Running   0  12m", "web   1/1  Running   0  AGE"),
    ("web   1/1  Running   0  12m  \nnext", "web   1/1  Running   0  AGE  \nnext"),
    ("data-db-0  Bound  ReadWriteOnce  standard  2d", "data-db-0  Bound  ReadWriteOnce  "
     "standard  AGE"),
    ("0       2m2s  Warning  Unhealthy  pod/postgres-0", "0       AGE  Warning  Unhealthy  "
     "pod/postgres-0"),
    ("combined fixed after 0m20s (time limit 20 min)",
     "combined fixed after AGE (time limit 20 min)"),
    ("Forwarding from 127.0.0.1:54321 -> 5000", "Forwarding from IP:PORT -> 5000"),
    ("created 2026-12-07T04:22:15Z uid 0f8fad5b-d9cb-469f-a165-70867728950e",
     "created TIMESTAMP uid UID"),
    ("took 1.25 s", "took DURATION"),
    ("re-created: pod/postgres-0 Ready after 9.8s", "re-created: pod/postgres-0 Ready after "
     "DURATION"),
])
def test_what_varies_is_hidden(text: str, want: str) -> None:
    assert sanitize(text) == one_space(want)


def test_padding_that_follows_a_hidden_value_is_not_compared() -> None:
    """pandas pads each column to its widest value: a 2-digit age or a longer IP moves it."""
    one = ("    name  status  age           ip\n"
           "0  web-0  Running   9s  127.0.0.5\n")
    other = ("    name  status  age            ip\n"
             "0  web-0  Running  14s  127.0.0.13\n")
    assert sanitize(one) == sanitize(other)  == " name status age ip\n0 web-0 Running AGE IP\n"


def test_nbval_reports_a_wrong_cpu_total_and_a_wrong_check_row(tmp_path: Path) -> None:
    """The comparison the course's nbval run makes (golden.with_expected's copy, nbval with
    sanitize.cfg, the same options) fails a wrong quantity or check row, and passes a table
    that differs only in what varies (a pod's hash, its age, its IP, the padding)."""
    import subprocess
    import sys
    import xml.etree.ElementTree as ET

    import golden
    import nbformat
    import pandas as pd

    def table(rows: list[dict]) -> str:
        return f"import pandas as pd\npd.DataFrame({rows!r})"

    def shown(rows: list[dict]) -> dict:
        frame = pd.DataFrame(rows)
        return {"output_type": "execute_result", "execution_count": 1, "metadata": {},
                "data": {"text/html": frame._repr_html_(), "text/plain": repr(frame)}}

    def printed(text: str) -> dict:
        return {"output_type": "stream", "name": "stdout", "text": text + "\n"}

    pod = {"name": "cart-service-6d4f85c56-4zstm", "status": "Running", "age": "13s",
           "ip": "127.98.175.2"}
    cases = {  # cell: (source, what the golden file expects, should nbval pass it?)
        "cpu-line": ('print("the lab requests 850m CPU and 1088Mi memory for 7 pods")',
                     printed("the lab requests 800m CPU and 1088Mi memory for 7 pods"), False),
        "cpu-table": (table([{"workload": "backend", "cpu request (m)": 850}]),
                      shown([{"workload": "backend", "cpu request (m)": 800}]), False),
        "check-row": (table([{"criterion": "7 pods", "ok": "❌", "evidence": "6 pods"}]),
                      shown([{"criterion": "7 pods", "ok": "✅", "evidence": "7 pods"}]), False),
        "pod-row": (table([pod]),
                    shown([{**pod, "name": "cart-service-7b8c9d0e1f-abcde", "age": "2m5s",
                            "ip": "127.98.175.13"}]), True),
    }
    nb = nbformat.v4.new_notebook()
    for name, (source, _, _) in cases.items():
        nb.cells.append(nbformat.v4.new_code_cell(
            f"# {name}\n{source}", metadata={"tags": [golden.TAG]}))
    source_dir = tmp_path / "src"
    source_dir.mkdir()
    path = source_dir / "99-compare.ipynb"
    nbformat.write(nb, path)
    expected = {"99-compare": {str(i): {"source": cell.source, "outputs": [cases[name][1]]}
                               for i, (name, cell) in enumerate(zip(cases, nb.cells, strict=True))}}
    [copy] = golden.with_expected([path], tmp_path / "run", expected)
    report = tmp_path / "report.xml"
    subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env",
                    f"--nbval-sanitize-with={Path(__file__).with_name('sanitize.cfg')}",
                    "-p", "no:cacheprovider", "-q", "-o", "addopts=", f"--junitxml={report}",
                    str(copy)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    outcomes = {}
    for case in ET.parse(report).iter("testcase"):
        cell = int(case.get("name").split()[-1])
        outcomes[list(cases)[cell]] = case.find("failure") is None and case.find("error") is None
    assert outcomes == {name: passes for name, (_, _, passes) in cases.items()}
