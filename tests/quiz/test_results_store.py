"""labhelpers.results: one JSON file per learner, atomic, readable back by a batch."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pandas as pd
import pytest

from labhelpers import results


def test_round_trip_of_a_check_table_a_dict_and_a_number(tmp_path: Path) -> None:
    table = pd.DataFrame([
        {"criterion": "7 pods", "ok": "✅", "evidence": "7 pods", "hint": ""},
        {"criterion": "PVC Bound", "ok": "❌", "evidence": float("nan"), "hint": "lab.pvcs()"},
    ])
    path = results.record("deploy", "checks", table, learner="ada", directory=tmp_path)
    results.record("deploy", "quiz", {"score": 5, "total": 7}, learner="ada", directory=tmp_path)
    results.record("performance", "rps", pd.Series([812.5]).iloc[0], learner="ada",
                   directory=tmp_path)
    assert path == tmp_path / "ada.json"
    doc = results.load(tmp_path)["ada"]
    assert doc["learner"] == "ada"
    checks = doc["sections"]["deploy"]["checks"]
    assert (checks["passed"], checks["total"]) == (1, 2)
    assert checks["rows"][1] == {"criterion": "PVC Bound", "ok": "❌", "evidence": None,
                                 "hint": "lab.pvcs()"}
    assert doc["sections"]["deploy"]["quiz"]["score"] == 5
    assert doc["sections"]["performance"]["rps"]["value"] == 812.5
    assert doc["sections"]["deploy"]["quiz"]["at"].endswith("+00:00")


def test_boolean_ok_column_counts(tmp_path: Path) -> None:
    table = pd.DataFrame({"criterion": ["a", "b", "c"], "ok": [True, False, True],
                          "evidence": ["", "", ""], "hint": ["", "", ""]})
    results.record("s", "checks", table, learner="x", directory=tmp_path)
    assert results.load(tmp_path)["x"]["sections"]["s"]["checks"]["passed"] == 2


def test_update_replaces_and_counts_attempts(tmp_path: Path) -> None:
    results.record("deploy", "quiz", {"score": 1}, learner="ada", directory=tmp_path)
    results.record("deploy", "quiz", {"score": 6}, learner="ada", directory=tmp_path)
    entry = results.load(tmp_path)["ada"]["sections"]["deploy"]["quiz"]
    assert (entry["score"], entry["attempts"]) == (6, 2)


def test_env_dir_and_default_learner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_RESULTS_DIR", str(tmp_path / "env"))
    path = results.record("preflight", "checks", {"ok": True})
    assert path.parent == tmp_path / "env" and path.stem == results.default_learner()


@pytest.mark.parametrize("learner", ["../evil", "a/b", ".hidden", "x" * 200])
def test_bad_learner_ids_are_refused(tmp_path: Path, learner: str) -> None:
    with pytest.raises(results.ResultsError, match="not usable as a file name"):
        results.record("s", "quiz", 1, learner=learner, directory=tmp_path)
    assert not list(tmp_path.glob("*.json"))


def test_unsupported_data_is_refused_before_writing(tmp_path: Path) -> None:
    with pytest.raises(results.ResultsError, match="not str"):
        results.record("s", "quiz", "7/9", learner="ada", directory=tmp_path)
    assert not (tmp_path / "ada.json").exists()


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results.record("deploy", "quiz", {"score": 3}, learner="ada", directory=tmp_path)
    before = (tmp_path / "ada.json").read_bytes()

    def crash(*_a: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        results.record("scaling", "quiz", {"score": 9}, learner="ada", directory=tmp_path)
    assert (tmp_path / "ada.json").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_corrupt_file_is_an_error_and_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "ada.json").write_text('{"learner": "ada", "sections": {')
    with pytest.raises(results.ResultsError, match="ada.json: not valid JSON"):
        results.record("deploy", "quiz", 1, learner="ada", directory=tmp_path)
    with pytest.raises(results.ResultsError, match="ada.json"):
        results.load(tmp_path)
    assert (tmp_path / "ada.json").read_text() == '{"learner": "ada", "sections": {'


def test_load_of_a_missing_folder_is_an_empty_class(tmp_path: Path) -> None:
    assert results.load(tmp_path / "nobody") == {}


def _record_many(args: tuple[str, int]) -> None:
    folder, worker = args
    for i in range(15):
        results.record(f"s{worker}-{i}", "quiz", {"score": i}, learner="ada", directory=folder)


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    with multiprocessing.get_context("fork").Pool(4) as pool:
        pool.map(_record_many, [(str(tmp_path), w) for w in range(4)])
    doc = json.loads((tmp_path / "ada.json").read_text())
    assert len(doc["sections"]) == 60


def test_odd_os_user_names_still_give_a_file(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    import getpass

    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    monkeypatch.setattr(getpass, "getuser", lambda: "_ada lovelace/x")
    assert results.default_learner() == "ada-lovelace-x"
    path = results.record("s", "quiz", 1, directory=tmp_path)
    assert path.name == "ada-lovelace-x.json"


def test_on_a_jupyterhub_the_hubs_user_name_is_the_learner(monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    """Every learner's server runs as jovyan (Docker Stacks): the hub's name tells them
    apart, so two learners' results never land in one jovyan.json."""
    import getpass

    monkeypatch.setattr(getpass, "getuser", lambda: "jovyan")
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    assert results.record("s", "quiz", 1, directory=tmp_path).name == "alice.json"


def test_numpy_and_timestamps_in_a_table_are_stored(tmp_path: Path) -> None:
    table = pd.DataFrame({"criterion": ["x"], "ok": [True], "evidence": [pd.Timestamp(0)],
                          "hint": [pd.Series([3]).iloc[0]]})
    results.record("s", "checks", table, learner="ada", directory=tmp_path)
    row = results.load(tmp_path)["ada"]["sections"]["s"]["checks"]["rows"][0]
    assert row == {"criterion": "x", "ok": True, "evidence": "1970-01-01T00:00:00",
                   "hint": 3}
