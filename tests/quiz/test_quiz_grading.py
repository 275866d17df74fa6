"""Grading, the text version and the widget version of labhelpers.quiz, on a small quiz
written to a temp folder (so these tests do not depend on the course's wording)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labhelpers import quiz as q
from labhelpers import results

SAMPLE = """
section: sample
title: A sample
questions:
  - id: one
    type: single
    prompt: Which Service fronts the backend?
    choices: [backend-service, ecommerce-backend, api]
    answer: ecommerce-backend
    explain: The Service is ecommerce-backend.
  - id: many
    type: multiple
    prompt: Which are stateful here?
    choices: [postgres, redis, nginx]
    answers: [postgres, redis]
    explain: The database and the cache hold state.
  - id: fqdn
    type: short
    prompt: Full name of the postgres Service?
    answer: postgres.ecommerce-lab.svc.cluster.local
    accept: [postgres.ecommerce-lab]
    regex: ["postgres\\\\.ecommerce-lab\\\\.svc(\\\\.cluster\\\\.local)?"]
    explain: service.namespace.svc.cluster.local
"""


@pytest.fixture()
def quiz_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "quizzes"
    folder.mkdir()
    (folder / "sample.yaml").write_text(SAMPLE)
    return folder


@pytest.fixture()
def sample(quiz_dir: Path) -> q.Quiz:
    return q.load("sample", quiz_dir)


@pytest.fixture(autouse=True)
def results_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "results"
    monkeypatch.setenv("LAB_RESULTS_DIR", str(folder))
    return folder


def question(quiz: q.Quiz, qid: str) -> q.Question:
    return next(x for x in quiz.questions if x.id == qid)


@pytest.mark.parametrize(("given", "ok"), [
    ("ecommerce-backend", True), ("  ECOMMERCE-Backend ", True), ("b", True), ("B)", True),
    ("`ecommerce-backend`", True), ("a", False), ("backend-service", False), (None, False),
    ("", False), (1, False), (True, False),
])
def test_single_choice(sample: q.Quiz, given: object, ok: bool) -> None:
    assert q.grade_question(question(sample, "one"), given) is ok


@pytest.mark.parametrize(("given", "ok"), [
    (["postgres", "redis"], True), (["redis", "postgres"], True), (["a", "b"], True),
    ("a, b", True), (["postgres"], False), (["postgres", "redis", "nginx"], False),
    (["postgres", "redis", "mongodb"], False), ([], False), ("postgres", False),
])
def test_multiple_choice_needs_exactly_the_set(sample: q.Quiz, given: object, ok: bool) -> None:
    assert q.grade_question(question(sample, "many"), given) is ok


@pytest.mark.parametrize(("given", "ok"), [
    ("postgres.ecommerce-lab.svc.cluster.local", True),
    ("Postgres.Ecommerce-Lab.svc.cluster.local.", True),   # case, final dot
    ("  'postgres.ecommerce-lab'  ", True),                 # accepted alternative, quotes
    ("postgres.ecommerce-lab.svc", True),                   # regex
    ("postgres.ecommerce-app.svc.cluster.local", False),    # the lab text's wrong namespace
    ("postgres.ecommerce-lab.svcXcluster.local", False),    # regex dots are literal
    ("xpostgres.ecommerce-lab.svc", False),                 # regex is a full match
    ("postgres", False),
])
def test_short_answer_normalised(sample: q.Quiz, given: str, ok: bool) -> None:
    assert q.grade_question(question(sample, "fqdn"), given) is ok


def test_grade_counts_unanswered_as_wrong(sample: q.Quiz) -> None:
    result = q.grade(sample, {"one": "b"})
    assert (result.score, result.total) == (1, 3)
    assert result.per_question == {"one": True, "many": False, "fqdn": False}


def test_grade_accepts_a_whole_learner_file(sample: q.Quiz) -> None:
    nested = {"sample": {"one": "b", "many": ["a", "b"]}, "deploy": {"x": 1}}
    assert q.grade(sample, nested).score == 2
    assert q.grade(sample, {"deploy": {"pod-count": "7"}}).score == 0  # other sections only


def test_unknown_question_id_is_a_clear_error(sample: q.Quiz) -> None:
    with pytest.raises(q.QuizError, match=r"no question 'onee'.*one, many, fqdn"):
        q.grade(sample, {"onee": "b"})
    with pytest.raises(q.QuizError, match="must be a dict"):
        q.grade(sample, ["b"])  # type: ignore[arg-type]


def test_unknown_section_names_the_available_ones(quiz_dir: Path) -> None:
    with pytest.raises(q.QuizError, match="available: sample"):
        q.load("deplyo", quiz_dir)
    with pytest.raises(q.QuizError, match="available: sample"):
        q.load("../sample", quiz_dir)


@pytest.mark.parametrize(("bad", "message"), [
    ("questions: [{id: a, type: single, prompt: p, explain: e, choices: [x, y], answer: z}]",
     "not one of the choices"),
    ("questions: [{id: a, type: essay, prompt: p, explain: e, answer: z}]", "'type' must be"),
    ("questions: [{id: a, type: short, prompt: p, answer: z}]", "'explain' is missing"),
    ("questions: [{id: a, type: short, prompt: p, explain: e, answer: z},"
     " {id: a, type: short, prompt: p, explain: e, answer: z}]", "duplicate question ids"),
    ("questions: [{id: a, type: short, prompt: p, explain: e, answer: z, regex: '('}]",
     "bad regex"),
    ("title: no questions", "needs a 'questions' list"),
    ("questions: [", "not valid YAML"),
])
def test_bad_quiz_files_are_refused_with_the_reason(tmp_path: Path, bad: str,
                                                    message: str) -> None:
    (tmp_path / "bad.yaml").write_text(bad)
    with pytest.raises(q.QuizError, match=message):
        q.load("bad", tmp_path)


def test_headless_without_answers_prints_text_and_records_nothing(
        quiz_dir: Path, results_env: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LAB_HEADLESS", "1")
    import IPython.display

    def no_widgets(*_a: object, **_k: object) -> None:
        raise AssertionError("headless quiz displayed something")

    monkeypatch.setattr(IPython.display, "display", no_widgets)
    result = q.quiz("sample", directory=quiz_dir)
    out = capsys.readouterr().out
    assert "1. [one] Which Service fronts the backend? (choose one)" in out
    assert "   b) ecommerce-backend" in out and "(choose all that apply)" in out
    assert "Score" not in out and "why:" not in out  # nothing graded, no answers leaked
    assert not result.graded and result.total == 3
    assert not results_env.exists()


def test_answers_are_graded_explained_and_recorded(
        quiz_dir: Path, results_env: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("LAB_HEADLESS", raising=False)  # answers alone mean headless
    result = q.quiz("sample", answers={"one": "a", "fqdn": "postgres.ecommerce-lab"},
                    learner="ada", directory=quiz_dir)
    out = capsys.readouterr().out
    assert (result.score, result.total) == (1, 3)
    assert "your answer: a → ❌ wrong\n   answer: ecommerce-backend\n   why: The Service is" in out
    assert "your answer: (no answer) → ❌ wrong" in out
    assert "your answer: postgres.ecommerce-lab → ✅ right" in out
    assert out.rstrip().endswith("Score: 1/3")
    assert repr(result) == "QuizResult(sample: 1/3)"
    stored = json.loads((results_env / "ada.json").read_text())["sections"]["sample"]["quiz"]
    assert (stored["score"], stored["total"]) == (1, 3)
    assert stored["per_question"] == {"one": False, "many": False, "fqdn": True}


def test_text_rendering_is_stable(sample: q.Quiz) -> None:
    answers = {"one": "b", "many": ["a"], "fqdn": "x"}
    assert q.render_text(sample, q.grade(sample, answers)) == \
        q.render_text(sample, q.grade(sample, answers))


def test_widgets_built_and_checked_by_their_handler(
        quiz_dir: Path, results_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ipywidgets as w

    monkeypatch.delenv("LAB_HEADLESS", raising=False)
    shown: list[object] = []
    import IPython.display

    monkeypatch.setattr(IPython.display, "display", lambda *objs, **_k: shown.extend(objs))
    result = q.quiz("sample", learner="grace", directory=quiz_dir)
    ui = result.ui
    assert shown == [ui.box] and not result.graded
    assert isinstance(ui.inputs["one"], w.RadioButtons)
    assert ui.inputs["one"].value is None  # nothing pre-selected
    assert [type(c) for c in ui.inputs["many"].children] == [w.Checkbox] * 3
    assert isinstance(ui.inputs["fqdn"], w.Text)
    assert ui.check_button in ui.box.children[-1].children

    ui.inputs["one"].value = "backend-service"
    ui.inputs["many"].children[0].value = True
    ui.inputs["many"].children[1].value = True
    ui.inputs["fqdn"].value = " Postgres.ecommerce-lab.svc.cluster.local "
    ui.check_button.click()  # the real button path: on_click → on_check
    assert (result.score, result.total, result.graded) == (2, 3, True)
    assert "❌" in ui.feedback["one"].value and "ecommerce-backend" in ui.feedback["one"].value
    assert "The Service is ecommerce-backend." in ui.feedback["one"].value
    assert "✅" in ui.feedback["many"].value and "✅" in ui.feedback["fqdn"].value
    assert "2/3" in ui.score.value
    doc = results.load(results_env)["grace"]["sections"]["sample"]["quiz"]
    assert (doc["score"], doc["attempts"]) == (2, 1)

    ui.inputs["one"].value = "ecommerce-backend"
    assert ui.on_check().score == 3  # each check re-grades and re-records
    doc = results.load(results_env)["grace"]["sections"]["sample"]["quiz"]
    assert (doc["score"], doc["attempts"]) == (3, 2)
