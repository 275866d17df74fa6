"""The course's quiz files: valid, covering every section, and right for OUR manifests.

Each question may carry ``checks:`` that tie its answer to manifests/ (a field's value,
a computed total, a Service's FQDN). This test evaluates them: when someone changes a
port or a replica count, the quiz answer that teaches it fails here instead of teaching
a wrong fact.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from labhelpers import quiz as q
from labhelpers.manifests import MANIFESTS_DIR
from labhelpers.manifests import load as load_manifests

#: Names the lab text's own quiz or repository got wrong (seed/README.md): a correct
#: answer of ours must never teach them.
WRONG_FACTS = ("ecommerce-app", "backend-service", "mongodb", "27017", ":3001", ":8000")


@pytest.fixture(scope="module")
def objects() -> dict[str, list[dict[str, Any]]]:
    return {"lab": load_manifests(MANIFESTS_DIR / "lab"),
            "production": load_manifests(MANIFESTS_DIR / "production")}


def find(objs: list[dict[str, Any]], ref: str) -> dict[str, Any]:
    kind, name = ref.split("/", 1)
    for obj in objs:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise AssertionError(f"{ref} is not in the manifests")


def walk(obj: Any, path: str) -> Any:
    """Dotted path; a list step is an index or ``key=value`` (containers.name=backend)."""
    for step in path.split("."):
        if isinstance(obj, list):
            if "=" in step:
                key, value = step.split("=", 1)
                obj = next(x for x in obj if str(x.get(key)) == value)
            else:
                obj = obj[int(step)]
        else:
            obj = obj[step]
    return obj


def quantity(text: Any) -> float:
    """CPU in millicores, memory in MiB, plain numbers as they are."""
    s = str(text).strip()
    units = {"m": 1, "Mi": 1, "Gi": 1024, "Ki": 1 / 1024}
    for unit, factor in units.items():
        if s.endswith(unit) and re.fullmatch(r"[\d.]+", s[:-len(unit)]):
            return float(s[:-len(unit)]) * factor
    return float(s)


def cpu(text: Any) -> float:
    s = str(text)
    return float(s[:-1]) if s.endswith("m") else float(s) * 1000


def total(objs: list[dict[str, Any]], what: str) -> float:
    out = 0.0
    for obj in objs:
        if obj["kind"] not in ("Deployment", "StatefulSet"):
            continue
        replicas = obj["spec"].get("replicas", 1)
        if what == "replicas":
            out += replicas
            continue
        kind, field = what.split("_")  # cpu_requests → ("cpu", "requests")
        for c in obj["spec"]["template"]["spec"]["containers"]:
            value = c.get("resources", {}).get(field, {}).get(kind)
            if value is not None:
                out += replicas * (cpu(value) if kind == "cpu" else quantity(value))
    return out


def answer_text(question: q.Question) -> str:
    return q.normalise(" ".join(question.answer))


def all_quizzes() -> list[q.Quiz]:
    return [q.load(section) for section in q.available()]


def test_every_section_has_a_quiz() -> None:
    assert set(q.SECTIONS) <= set(q.available())


@pytest.mark.parametrize("section", q.SECTIONS)
def test_quiz_loads_and_has_enough_questions(section: str) -> None:
    quiz = q.load(section)  # validates ids, types, choices, answers, regexes
    assert len(quiz.questions) >= 4, f"{section}: only {len(quiz.questions)} questions"


@pytest.mark.parametrize("section", q.SECTIONS)
def test_answers_do_not_teach_the_lab_texts_wrong_facts(section: str) -> None:
    for question in q.load(section).questions:
        text = answer_text(question)
        bad = [w for w in WRONG_FACTS if w in text]
        assert not bad, f"{section}/{question.id}: the answer says {bad}"


@pytest.mark.parametrize("section", q.SECTIONS)
def test_each_answer_checks_against_the_manifests(
        section: str, objects: dict[str, list[dict[str, Any]]]) -> None:
    quiz = q.load(section)
    checked = 0
    for question in quiz.questions:
        for check in question.checks:
            where = f"{section}/{question.id}: {check}"
            objs = objects[check.get("manifests", "lab")]
            expected = check["value"]
            if "total" in check:
                actual = total(objs, check["total"])
                want = (cpu(expected) if check["total"].startswith("cpu") else
                        quantity(expected))
                assert actual == want, f"{where}: the manifests total {actual}"
            elif "fqdn" in check:
                svc = find(objs, check["fqdn"])
                ns = svc["metadata"].get("namespace")
                actual = f"{svc['metadata']['name']}.{ns}.svc.cluster.local"
                assert actual == expected, f"{where}: the manifests give {actual}"
            else:
                obj = find(objs, check["object"])
                if "path" in check:
                    actual = walk(obj, check["path"])
                    assert str(actual) == str(expected), f"{where}: the manifests say {actual}"
            if check.get("in_answer", True):
                assert q.normalise(expected) in answer_text(question), \
                    f"{where}: the answer does not say {expected}"
            checked += 1
    assert checked >= 2, f"{section}: fewer than two answers are checked against the manifests"


@pytest.mark.parametrize("section", q.SECTIONS)
def test_the_right_answers_score_full_marks(section: str) -> None:
    quiz = q.load(section)
    key = q.answer_key([section])
    result = q.grade(quiz, key)  # the whole {section: {...}} file, as a batch passes it
    assert result.score == result.total
    for x in quiz.questions:  # a distractor is never graded right
        for wrong in (c for c in x.choices if c not in x.answer):
            given = [wrong] if x.type == "multiple" else wrong
            assert not q.grade_question(x, given), f"{section}/{x.id}: {wrong!r} graded right"


#: The lab text's Quick Check and self-assessment questions → where each is asked here.
LAB_TEXT_QUESTIONS = {
    "How can you confirm the backend is reading from the ConfigMap?":
        ("discovery", "confirm-configmap"),
    "How do services discover each other inside the cluster?": ("discovery", "discover"),
    "What resource persists database storage across pod restarts?": ("persistence", "pvc"),
    "How can a Deployment consume a ConfigMap as environment variables?":
        ("deploy", "configmap-env"),
    "What command shows service endpoints?": ("scaling", "endpoints-command"),
    "Self-assessment: the database's full DNS name": ("discovery", "fqdn"),
    "Self-assessment: the backend Service's name": ("deploy", "backend-service"),
    "Self-assessment: how many pods": ("deploy", "pod-count"),
}


@pytest.mark.parametrize("text", LAB_TEXT_QUESTIONS)
def test_lab_text_questions_are_covered(text: str) -> None:
    section, qid = LAB_TEXT_QUESTIONS[text]
    assert qid in {x.id for x in q.load(section).questions}, f"{text!r} is not asked"


def test_answers_template_is_a_valid_blank_answers_file(tmp_path) -> None:
    import yaml

    from labcourse import batch

    text = q.answers_template()
    doc = yaml.safe_load(text)
    assert set(doc) == set(q.SECTIONS)
    for section, answers in doc.items():
        quiz = q.load(section)
        assert list(answers) == [x.id for x in quiz.questions]
        assert q.grade(quiz, doc).score == 0  # blanks count as wrong
    (tmp_path / "ada.yaml").write_text(text)
    learners = [batch.Learner("ada", "lab-ada")]
    assert batch.read_answers(tmp_path, learners)["ada"] == doc


def test_quiz_cli(capsys) -> None:
    import yaml

    assert q.main(["key", "discovery"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["discovery"]["fqdn"] == \
        "postgres.ecommerce-lab.svc.cluster.local"
    assert q.main(["template", "nope"]) == 2
    assert "available: breakfix, deploy" in capsys.readouterr().err
