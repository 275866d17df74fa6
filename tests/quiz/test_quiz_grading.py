"""Grading, the text version and the widget version of labhelpers.quiz, on a small quiz
written to a temp folder (so these tests do not depend on the course's wording)."""

from __future__ import annotations

import json
import re
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


def letter(quiz: q.Quiz, qid: str, text: str) -> str:
    """The letter ``text`` has in ``quiz``'s order (a learner's, after for_learner)."""
    return q.LETTERS[question(quiz, qid).choices.index(text)]


def test_headless_without_answers_prints_text_and_records_nothing(
        quiz_dir: Path, results_env: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LAB_HEADLESS", "1")
    import IPython.display

    def no_widgets(*_a: object, **_k: object) -> None:
        raise AssertionError("headless quiz displayed something")

    monkeypatch.setattr(IPython.display, "display", no_widgets)
    result = q.quiz("sample", learner="ada", directory=quiz_dir)
    out = capsys.readouterr().out
    seen = q.for_learner(q.load("sample", quiz_dir), "ada")
    assert "1. [one] Which Service fronts the backend? (choose one)" in out
    assert f"   {letter(seen, 'one', 'ecommerce-backend')}) ecommerce-backend" in out
    assert "2. [many] Which are stateful here? (choose all that apply)\n" in out
    assert "Score" not in out and "why:" not in out  # nothing graded, no answers leaked
    assert not result.graded and result.total == 3
    assert not results_env.exists()


def test_answers_are_graded_explained_and_recorded(
        quiz_dir: Path, results_env: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("LAB_HEADLESS", raising=False)  # answers alone mean headless
    seen = q.for_learner(q.load("sample", quiz_dir), "ada")
    wrong = letter(seen, "one", "api")
    result = q.quiz("sample", answers={"one": wrong, "fqdn": "postgres.ecommerce-lab"},
                    learner="ada", directory=quiz_dir)
    out = capsys.readouterr().out
    assert (result.score, result.total) == (1, 3)
    assert (f"your answer: {wrong} → ❌ wrong\n   answer: ecommerce-backend\n"
            "   why: The Service is") in out
    assert "your answer: (no answer) → ❌ wrong" in out
    assert "your answer: postgres.ecommerce-lab → ✅ right" in out
    assert out.rstrip().endswith("Score: 1/3")
    assert repr(result) == "QuizResult(sample: 1/3)"
    stored = json.loads((results_env / "ada.json").read_text())["sections"]["sample"]["quiz"]
    assert (stored["score"], stored["total"]) == (1, 3)
    assert stored["per_question"] == {"one": False, "many": False, "fqdn": True}
    assert stored["answers"]["one"] == "api"  # the text: letters mean nothing to others


def test_text_rendering_is_stable(sample: q.Quiz) -> None:
    answers = {"one": "b", "many": ["a"], "fqdn": "x"}
    assert q.render_text(sample, q.grade(sample, answers)) == \
        q.render_text(sample, q.grade(sample, answers))


# ---------------------------------------------------------------- per-learner order

def test_choice_order_is_per_learner_and_stable(sample: q.Quiz) -> None:
    orders = {who: question(q.for_learner(sample, who), "one").choices
              for who in ("ada", "grace", "kim", "lin", "max", "noa")}
    assert all(sorted(o) == sorted(question(sample, "one").choices) for o in orders.values())
    assert orders["ada"] == question(q.for_learner(sample, "ada"), "one").choices  # stable
    assert len(set(orders.values())) > 1, "every learner sees the same order"
    assert q.for_learner(sample, "ada").learner == "ada"
    with pytest.raises(results.ResultsError):
        q.for_learner(sample, "../etc")


def test_letters_mean_what_that_learner_saw(
        quiz_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LAB_HEADLESS", "1")
    base = q.load("sample", quiz_dir)
    # a learner whose order moves the right answer away from its file letter (b)
    who = next(w for w in (f"learner{i}" for i in range(50))
               if letter(q.for_learner(base, w), "one", "ecommerce-backend") != "b")
    seen = q.for_learner(base, who)
    right = letter(seen, "one", "ecommerce-backend")
    many = [letter(seen, "many", t) for t in ("postgres", "redis")]
    result = q.quiz("sample", answers={"one": right, "many": ", ".join(many)}, learner=who,
                    directory=quiz_dir)
    assert result.per_question == {"one": True, "many": True, "fqdn": False}
    text = capsys.readouterr().out
    assert f"   {right}) ecommerce-backend" in text  # the text version shows the same order
    assert not q.quiz("sample", answers={"one": "b"}, learner=who,
                      directory=quiz_dir).per_question["one"]  # the file's letter is not it
    for w in ("ada", "grace", who):  # texts are right for everyone
        assert q.quiz("sample", answers={"one": "ecommerce-backend",
                                         "many": ["redis", "postgres"]},
                      learner=w, directory=quiz_dir).score == 2


def test_answers_template_letters_match_the_learners_notebook(
        quiz_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    monkeypatch.setenv("LAB_QUIZ_DIR", str(quiz_dir))
    seen = q.for_learner(q.load("sample"), "ada")
    text = q.answers_template(["sample"], learner="ada")
    for i, c in enumerate(question(seen, "one").choices):
        assert f"  #    {q.LETTERS[i]}) {c}\n" in text
    blank = q.answers_template(["sample"])
    assert "  #    - ecommerce-backend\n" in blank and "a)" not in blank  # unlettered
    # filled in by letter from ada's template, a batch run for ada grades it right
    doc = yaml.safe_load(text)
    doc["sample"]["one"] = letter(seen, "one", "ecommerce-backend")
    assert q.grade(seen, doc).per_question["one"]
    assert q.main(["template", "sample", "--learner", "../x"]) == 2


# ---------------------------------------------------------------- kubectl answers

@pytest.mark.parametrize(("answer", "ok"), [
    ("kubectl logs -n ecommerce-lab deploy/ecommerce-backend --tail=20", True),
    ("kubectl logs deployment/ecommerce-backend", True),               # optional flags left out
    ("kubectl --namespace=ecommerce-lab logs deployments/ecommerce-backend --tail 20", True),
    ("`kubectl logs deploy/ecommerce-backend --namespace ecommerce-lab`", True),
    ("KUBECTL LOGS DEPLOY/ECOMMERCE-BACKEND", True),
    ("kubectl logs deploy/ecommerce-backend -n default", False),     # another namespace
    ("kubectl logs deploy/ecommerce-backend --tail=5", False),       # not what was asked
    ("kubectl logs deploy/ecommerce-backend -f", False),             # a flag nobody listed
    ("kubectl logs deploy/redis", False),
    ("kubectl logs", False),
    ("kubectl logs deploy/ecommerce-backend extra", False),
    ("logs deploy/ecommerce-backend", False),
    ("kubectl logs 'deploy/ecommerce-backend", False),               # unbalanced quote
])
def test_kubectl_spec_compares_meaning(answer: str, ok: bool) -> None:
    spec = q.KubectlSpec.parse("kubectl logs deploy/ecommerce-backend [-n ecommerce-lab] "
                               "[--tail=20]")
    assert spec.matches(answer) is ok


def test_kubectl_resources_pipes_and_wildcards() -> None:
    parse = q.KubectlCommand.parse
    assert parse("kubectl get deployment x").args == parse("kubectl get deploy/x").args \
        == ("get", "deployment/x")
    assert parse("kubectl rollout restart deploy x").args == ("rollout", "restart",
                                                              "deployment/x")
    assert parse("kubectl exec -it po/p -- printenv a").flags == {"stdin": None, "tty": None}
    assert parse("kubectl logs -f -p x").flags == {"follow": None, "previous": None}
    spec = q.KubectlSpec.parse("kubectl exec deploy/b [-n ns] -- env | grep host")
    assert spec.matches("kubectl exec -n ns deployment/b -- env | grep -i HOST")
    assert not spec.matches("kubectl exec deploy/b -- env")  # the pipe is required here
    assert not spec.matches("kubectl exec deploy/b -- env | grep port")
    optional = q.KubectlSpec.parse("kubectl describe deploy/b [| grep host]")
    assert optional.matches("kubectl describe deploy b") \
        and optional.matches("kubectl describe deploy b | grep host")
    assert not optional.matches("kubectl describe deploy b | grep port")
    star = q.KubectlSpec.parse("kubectl get endpoints/* [-o wide] [-o yaml]")
    assert star.matches("kubectl get ep anything -o yaml") and star.matches("kubectl get ep x")
    assert not star.matches("kubectl get ep x -o json")
    for bad in ("get pods", "kubectl get [pods]", "kubectl get x || true"):
        with pytest.raises(q.QuizError):
            q.KubectlSpec.parse(bad)


def test_a_kubectl_form_that_misses_its_own_answer_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text(
        "questions: [{id: a, type: short, prompt: p, explain: e,"
        " answer: kubectl get pods -n lab, kubectl: ['kubectl get pods']}]")
    with pytest.raises(q.QuizError, match="matches none of its 'kubectl' forms"):
        q.load("x", tmp_path)


# ---------------------------------------------------------------- widgets

def test_markdown_html_renders_code_and_escapes() -> None:
    assert q.markdown_html("run `kubectl get <x>` now") == \
        "run <code>kubectl get &lt;x&gt;</code> now"
    assert q.markdown_html("the *target* port, **not** <b>") == \
        "the <em>target</em> port, <strong>not</strong> &lt;b&gt;"
    assert q.markdown_html("*_SERVICE_HOST variables & a * b") == \
        "*_SERVICE_HOST variables &amp; a * b"  # a lone star stays a star


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
    seen = q.for_learner(q.load("sample", quiz_dir), "grace")
    for qid in ("one", "many"):  # a Checkbox per choice, the choice its HTML description
        rows = ui.inputs[qid].children
        assert [type(r) for r in rows] == [w.Checkbox] * 3
        assert [re.sub(r"<[^>]+>", "", r.description) for r in rows] == \
            list(question(seen, qid).choices)
        assert all(r.description_allow_html and not r.indent for r in rows)
        assert not any(r.value for r in rows)  # nothing pre-selected
    assert q.QUIZ_CSS in ui.box.children[0].value  # what lets a long choice wrap
    assert isinstance(ui.inputs["fqdn"], w.Text)
    assert ui.check_button in ui.box.children[-1].children
    assert not any(isinstance(x, w.RadioButtons) for x in ui.box.children)
    assert "lab-quiz" in ui.box._dom_classes and "lab-quiz-score" in ui.score._dom_classes
    assert {"lab-quiz-answer", "lab-quiz-q-one"} <= set(ui.inputs["one"]._dom_classes)
    assert all("lab-quiz-choice" in r._dom_classes for r in ui.inputs["one"].children)

    ui.select("one", "backend-service")
    ui.select("many", "postgres", "redis")
    ui.inputs["fqdn"].value = " Postgres.ecommerce-lab.svc.cluster.local "
    ui.check_button.click()  # the real button path: on_click → on_check
    assert (result.score, result.total, result.graded) == (2, 3, True)
    assert "❌" in ui.feedback["one"].value and "ecommerce-backend" in ui.feedback["one"].value
    assert "The Service is ecommerce-backend." in ui.feedback["one"].value
    assert "✅" in ui.feedback["many"].value and "✅" in ui.feedback["fqdn"].value
    assert "2/3" in ui.score.value
    doc = results.load(results_env)["grace"]["sections"]["sample"]["quiz"]
    assert (doc["score"], doc["attempts"]) == (2, 1)

    # single choice behaves as radio buttons: ticking one unticks the other
    ticks = dict(ui.choices["one"])
    ticks["ecommerce-backend"].value = True
    assert not ticks["backend-service"].value
    assert ui.answers()["one"] == "ecommerce-backend"
    assert ui.on_check().score == 3  # each check re-grades and re-records
    doc = results.load(results_env)["grace"]["sections"]["sample"]["quiz"]
    assert (doc["score"], doc["attempts"]) == (3, 2)


def test_widget_prompts_render_markdown_and_say_choose_all_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "md.yaml").write_text(
        "questions:\n"
        "  - {id: a, type: multiple, prompt: 'Which does `kubectl top` need?',"
        " explain: 'It reads `metrics.k8s.io`.', choices: ['`metrics-server`', 'a <PVC>'],"
        " answers: ['`metrics-server`']}\n")
    ui = q.QuizWidget(q.load("md", tmp_path), results_dir=tmp_path / "r")
    html_values = [x.value for x in ui.box.children if hasattr(x, "value")]
    prompt = next(v for v in html_values if "kubectl top" in v)
    assert "<code>kubectl top</code>" in prompt and "`" not in prompt
    assert prompt.count(q.ALL_THAT_APPLY) == 1
    labels = [r.description for r in ui.inputs["a"].children]
    assert labels == ["<code>metrics-server</code>", "a &lt;PVC&gt;"]
    ui.select("a", "`metrics-server`")
    assert ui.on_check().score == 1
    assert "<code>metrics.k8s.io</code>" in ui.feedback["a"].value


def test_result_shows_nothing_beside_its_widgets_outside_a_kernel_it_prints(
        quiz_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython.display

    published: list[dict] = []
    monkeypatch.setattr(IPython.display, "publish_display_data",
                        lambda data, **_k: published.append(data))
    result = q.grade(q.load("sample", quiz_dir), {"one": "b"})
    result._ipython_display_()  # no widgets: the repr, as it is now
    assert published == [{"text/plain": "QuizResult(sample: 1/3)"}]
