"""Bad input to the batch: a clear error, and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from labcourse import batch, runner

NB = ('{"cells": [], "metadata": {"kernelspec": {"name": "python3", "display_name": "P",'
      ' "language": "python"}, "language_info": {"name": "python"}}, "nbformat": 4,'
      ' "nbformat_minor": 5}')


@pytest.fixture()
def course(tmp_path: Path) -> Path:
    folder = tmp_path / "course"
    folder.mkdir()
    (folder / "01-a.ipynb").write_text(NB)
    (folder / "02-b.ipynb").write_text(NB)
    return folder


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def run(tmp_path: Path, course: Path, csv_text: str | None = "learner,namespace\nada,lab-ada\n",
        **kw: object) -> None:
    csv_path = tmp_path / "class.csv"
    if csv_text is not None:
        csv_path.write_text(csv_text)
    kw.setdefault("notebooks", None)
    batch.run_batch(csv_path, out=tmp_path / "out", notebooks_dir=course, check_cluster=False,
                    **kw)  # type: ignore[arg-type]


def nothing_written(tmp_path: Path) -> bool:
    return not (tmp_path / "out").exists() and not any(
        p.name.startswith(".out") for p in tmp_path.iterdir())


@pytest.mark.parametrize(("csv_text", "message"), [
    (None, "no such file"),
    ("", "empty"),
    ("name,ns\nada,lab\n", "header 'learner,namespace'"),
    ("learner,namespace\n", "no learners"),
    ("learner,namespace\nada\n", "line 2: 1 fields"),
    ("learner,namespace\n../x,lab-x\n", "line 2: learner id '../x'"),
    ("learner,namespace\nada,Lab_Ada\n", "namespace 'Lab_Ada' is not a valid"),
    ("learner,namespace\nada,lab-a\nada,lab-b\n", "learner 'ada' already on line 2"),
    ("learner,namespace\nada,lab\nbob,lab\n", "namespace 'lab' already used"),
])
def test_bad_class_list(tmp_path: Path, course: Path, csv_text: str | None,
                        message: str) -> None:
    with pytest.raises(batch.BatchError, match=message):
        run(tmp_path, course, csv_text)
    assert nothing_written(tmp_path)


def test_class_list_with_bom_and_extra_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "\ufefflearner,email,namespace\nada,a@x,lab-ada\n\n")
    assert batch.read_learners(path) == [batch.Learner("ada", "lab-ada")]


def test_unknown_notebook_names_the_available_ones(tmp_path: Path, course: Path) -> None:
    with pytest.raises(batch.BatchError, match=r"'09-nope': no notebook.*the course in .* has: 01-a, 02-b"):
        run(tmp_path, course, notebooks="09-nope")
    assert nothing_written(tmp_path)


def test_notebook_selection_by_name_glob_and_number(course: Path) -> None:
    """The batch selects as ``labcourse run`` does: one finder (labcourse.runner)."""
    assert [p.name for p in runner.find_notebooks("02-b", course)] == ["02-b.ipynb"]
    assert [p.name for p in runner.find_notebooks("02-b,01-a.ipynb", course)] == \
        ["01-a.ipynb", "02-b.ipynb"]
    assert [p.name for p in runner.find_notebooks(str(course / "*.ipynb"), course)] == \
        ["01-a.ipynb", "02-b.ipynb"]
    assert [p.name for p in runner.find_notebooks("2", course)] == ["02-b.ipynb"]


def test_notebook_without_kernelspec_or_not_json(tmp_path: Path, course: Path) -> None:
    write(course / "03-c.ipynb", NB.replace('"kernelspec"', '"x"'))
    with pytest.raises(batch.BatchError, match="no kernelspec"):
        run(tmp_path, course)
    write(course / "03-c.ipynb", "{not json")
    with pytest.raises(batch.BatchError, match="not a readable .ipynb"):
        run(tmp_path, course)
    assert nothing_written(tmp_path)


@pytest.mark.parametrize(("params", "message"), [
    ([["namespace", "x"]], "set per learner"),
    ([["quiz_answers", "{}"]], "set per learner"),
    ([["1bad", "x"]], "not a Python identifier"),
])
def test_bad_parameters(tmp_path: Path, course: Path, params: list[list[str]],
                        message: str) -> None:
    with pytest.raises(batch.BatchError, match=message):
        run(tmp_path, course, params=params)
    assert nothing_written(tmp_path)


def test_parameters_are_yaml_values() -> None:
    assert runner.parse_parameters([["fast", "False"], ["replicas", "3"], ["name", "x y"]]) == \
        {"fast": False, "replicas": 3, "name": "x y"}


@pytest.mark.parametrize(("files", "message"), [
    ({"ada.yaml": "deploy: [1, 2]"}, r"expected \{section"),
    ({"ada.yaml": "deploy: {pod-cuont: 7}"}, "has no question 'pod-cuont'"),
    ({"ada.yaml": "deplyo: {pod-count: 7}"}, "no quiz for section 'deplyo'"),
    ({"ada.yaml": "deploy: {pod-count: [7"}, "not valid YAML"),
    ({"ada.yaml": "deploy: {}", "ada.json": "{}"}, "several files"),
])
def test_bad_answers(tmp_path: Path, course: Path, files: dict[str, str], message: str) -> None:
    folder = tmp_path / "answers"
    folder.mkdir()
    for name, text in files.items():
        write(folder / name, text)
    with pytest.raises(batch.BatchError, match=message):
        run(tmp_path, course, answers=folder)
    assert nothing_written(tmp_path)


def test_missing_answers_folder_and_bad_parallel(tmp_path: Path, course: Path) -> None:
    with pytest.raises(batch.BatchError, match="no such folder"):
        run(tmp_path, course, answers=tmp_path / "nope")
    with pytest.raises(batch.BatchError, match="at least 1"):
        run(tmp_path, course, parallel=0)
    assert nothing_written(tmp_path)


def test_cli_reports_bad_input_with_exit_code_2(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code = batch.main(["--learners", str(tmp_path / "missing.csv"), "--out",
                       str(tmp_path / "out")])
    assert code == 2
    assert "error: --learners" in capsys.readouterr().err
    assert nothing_written(tmp_path)


def test_unreachable_cluster_fails_before_anything_runs(
        tmp_path: Path, course: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kubeconfig = write(tmp_path / "kubeconfig", """
apiVersion: v1
kind: Config
clusters: [{name: gone, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: class, context: {cluster: gone, user: u}}]
current-context: class
""")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    csv_path = write(tmp_path / "class.csv", "learner,namespace\nada,lab-ada\n")
    with pytest.raises(batch.BatchError, match="--cluster kubeconfig: cannot reach it"):
        batch.run_batch(csv_path, out=tmp_path / "out", notebooks_dir=course,
                        cluster="kubeconfig")
    assert nothing_written(tmp_path)


def test_answers_for_unknown_learners_are_reported(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "ada.yaml", "deploy: {pod-count: 7}")
    write(tmp_path / "adda.yaml", "deploy: {pod-count: 7}")
    got = batch.read_answers(tmp_path, [batch.Learner("ada", "lab-ada")])
    assert got == {"ada": {"deploy": {"pod-count": 7}}}
    assert "not in the class list: adda" in capsys.readouterr().err
