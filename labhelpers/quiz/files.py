"""Quiz files: loading and checking ``notebooks/quizzes/<section>.yaml``, and each
learner's own order of the choices."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from labhelpers import results
from labhelpers.quiz.kubectl import KubectlSpec
from labhelpers.quiz.model import (
    ALL_THAT_APPLY,
    QUIZ_DIR,
    TYPES,
    Question,
    Quiz,
    QuizError,
    normalise,
)


def quiz_dir(directory: str | Path | None = None) -> Path:
    if directory is not None:
        return Path(directory)
    env = os.environ.get("LAB_QUIZ_DIR")
    return Path(env) if env else QUIZ_DIR


def available(directory: str | Path | None = None) -> list[str]:
    folder = quiz_dir(directory)
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def _strings(value: Any, where: str, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return (str(value),)
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return tuple(str(v) for v in value)
    raise QuizError(f"{where}: '{name}' must be a string or a list of strings")


def _question(raw: Any, where: str) -> Question:
    if not isinstance(raw, dict):
        raise QuizError(f"{where}: a question must be a mapping")
    qid = raw.get("id")
    if not isinstance(qid, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", qid):
        raise QuizError(f"{where}: 'id' must be lower-case letters, digits, '-' or '_'")
    where = f"{where} ({qid})"
    qtype = raw.get("type")
    if qtype not in TYPES:
        raise QuizError(f"{where}: 'type' must be one of {', '.join(TYPES)}, not {qtype!r}")
    for key in ("prompt", "explain"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise QuizError(f"{where}: '{key}' is missing (every question explains its answer)")
    answer = _strings(raw.get("answer", raw.get("answers")), where, "answer")
    if not answer:
        raise QuizError(f"{where}: no 'answer'")
    choices = _strings(raw.get("choices"), where, "choices")
    if qtype in ("single", "multiple"):
        if len(choices) < 2 or len(set(choices)) != len(choices):
            raise QuizError(f"{where}: needs at least two distinct 'choices'")
        unknown = [a for a in answer if a not in choices]
        if unknown:
            raise QuizError(f"{where}: answer {unknown} is not one of the choices")
        if qtype == "single" and len(answer) != 1:
            raise QuizError(f"{where}: a single-choice question has exactly one answer")
    elif len(answer) != 1:
        raise QuizError(f"{where}: a short question has one canonical 'answer' (more in 'accept')")
    regex = _strings(raw.get("regex"), where, "regex")
    for pattern in regex:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise QuizError(f"{where}: bad regex {pattern!r}: {exc}") from exc
    if ALL_THAT_APPLY in normalise(raw["prompt"]):
        raise QuizError(f"{where}: the prompt says {ALL_THAT_APPLY!r}; leave it out, the quiz "
                        f"adds it to every multiple-choice question")
    kubectl = _strings(raw.get("kubectl"), where, "kubectl")
    if kubectl and qtype != "short":
        raise QuizError(f"{where}: 'kubectl' is for short questions")
    for spec in kubectl:
        try:
            KubectlSpec.parse(spec)
        except QuizError as exc:
            raise QuizError(f"{where}: kubectl {spec!r}: {exc}") from None
    if kubectl and not any(KubectlSpec.parse(k).matches(answer[0]) for k in kubectl):
        raise QuizError(f"{where}: the answer {answer[0]!r} matches none of its 'kubectl' forms")
    checks = raw.get("checks") or []
    if not isinstance(checks, list) or not all(isinstance(c, dict) for c in checks):
        raise QuizError(f"{where}: 'checks' must be a list of mappings")
    return Question(id=qid, type=qtype, prompt=raw["prompt"].strip(),
                    explain=raw["explain"].strip(), choices=choices, answer=answer,
                    accept=_strings(raw.get("accept"), where, "accept"), regex=regex,
                    kubectl=kubectl, checks=tuple(checks))


def load(section: str, directory: str | Path | None = None) -> Quiz:
    """The quiz of a section; an unknown section names the ones that exist."""
    folder = quiz_dir(directory)
    path = folder / f"{section}.yaml"
    if not re.fullmatch(r"[a-z0-9_-]+", section or "") or not path.is_file():
        names = ", ".join(available(folder)) or "none"
        raise QuizError(f"no quiz for section {section!r} in {folder}; available: {names}")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise QuizError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("questions"), list):
        raise QuizError(f"{path}: needs a 'questions' list")
    questions = tuple(_question(q, f"{path.name} question {i + 1}")
                      for i, q in enumerate(doc["questions"]))
    ids = [q.id for q in questions]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise QuizError(f"{path}: duplicate question ids {dupes}")
    if not questions:
        raise QuizError(f"{path}: no questions")
    return Quiz(section=section, title=str(doc.get("title") or section), questions=questions,
                path=path)


# ---------------------------------------------------------------- choice order

def choice_order(section: str, q: Question, learner: str) -> tuple[str, ...]:
    """``q``'s choices in the order ``learner`` sees them: sorted by a hash of (learner,
    section, question, choice). Stable for a learner (the same text on every run, so an
    answer by letter means the same on every run), different between learners, and
    unrelated to where the file puts the right answer."""
    def key(choice: str) -> str:
        text = "\0".join((learner, section, q.id, choice))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    return tuple(sorted(q.choices, key=key))


def for_learner(quiz: Quiz, learner: str | None = None) -> Quiz:
    """The quiz as ``learner`` (default: the hub's user, else the OS user, as results uses) sees it: the same
    questions with their choices in that learner's order. Grading this quiz reads letters
    in that order; texts are graded the same whatever the order."""
    who = results.check_learner(learner) if learner else results.default_learner()
    questions = tuple(replace(x, choices=choice_order(quiz.section, x, who)) if x.choices
                      else x for x in quiz.questions)
    return replace(quiz, questions=questions, learner=who)
