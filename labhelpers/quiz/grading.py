"""Grading in Python, the same for the widgets' Check button, a headless run and a
batch; and the text version of a quiz (headless runs show no widgets)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from labhelpers.quiz.kubectl import kubectl_matches
from labhelpers.quiz.model import (
    ALL_THAT_APPLY,
    KIND,
    LETTERS,
    SECTIONS,
    Question,
    QuestionResult,
    Quiz,
    QuizError,
    QuizResult,
    normalise,
)


def _choice(q: Question, given: Any) -> str | None:
    """A given choice as its text: accepts the text (normalised) or its letter (a, b, …)."""
    if isinstance(given, bool) or given is None:
        return None
    g = normalise(given)
    for i, choice in enumerate(q.choices):
        if g == normalise(choice) or g in (LETTERS[i], f"{LETTERS[i]})"):
            return choice
    return None


def grade_question(q: Question, given: Any) -> bool:
    if given is None or given == "" or given == []:
        return False
    if q.type == "single":
        return _choice(q, given) == q.answer[0]
    if q.type == "multiple":
        items = given
        if isinstance(given, str):
            items = [p for p in re.split(r"[,;\n]", given) if p.strip()]
        if not isinstance(items, (list, tuple, set)):
            return False
        picked = {_choice(q, g) for g in items}
        return None not in picked and picked == set(q.answer)
    g = normalise(given)
    if g in {normalise(a) for a in (*q.answer, *q.accept)}:
        return True
    if q.kubectl and kubectl_matches(q.kubectl, given):
        return True
    return any(re.fullmatch(p, g, flags=re.IGNORECASE) for p in q.regex)


def chosen_text(q: Question, given: Any) -> Any:
    """A choice answer as the text(s) it picked (letters resolved in ``q``'s order), so a
    stored result means the same whoever's letters it used; other answers as given."""
    if q.type == "single":
        return _choice(q, given) or given
    if q.type == "multiple":
        items = [p for p in re.split(r"[,;\n]", given) if p.strip()] \
            if isinstance(given, str) else given
        if isinstance(items, (list, tuple, set)):
            return [_choice(q, g) or g for g in items]
    return given


def expected_text(q: Question) -> str:
    if q.type == "multiple":
        return "; ".join(q.answer)
    return q.answer[0]


def section_answers(quiz: Quiz, answers: Mapping[str, Any] | None) -> dict[str, Any]:
    """The answers meant for this quiz.

    Accepts ``{question-id: answer}`` or a whole learner's file ``{section: {id: answer}}``
    (so a batch can pass one file to every notebook). Unknown ids are an error: a typo
    would otherwise silently cost the learner a point.
    """
    if answers is None:
        return {}
    if not isinstance(answers, Mapping):
        raise QuizError(f"answers must be a dict of question id → answer, not "
                        f"{type(answers).__name__}")
    ids = {q.id for q in quiz.questions}
    if quiz.section in answers and isinstance(answers[quiz.section], Mapping) \
            and quiz.section not in ids:
        answers = answers[quiz.section]
    elif answers and all(k in SECTIONS for k in answers) and not ids & set(answers):
        return {}  # a learner file without this section: everything unanswered
    unknown = sorted(set(answers) - ids)
    if unknown:
        raise QuizError(f"quiz {quiz.section!r} has no question {', '.join(map(repr, unknown))}; "
                        f"its questions: {', '.join(q.id for q in quiz.questions)}")
    return dict(answers)


def grade(quiz: Quiz, answers: Mapping[str, Any] | None) -> QuizResult:
    """Grade every question; an unanswered one counts as wrong. Letters are read in
    ``quiz``'s order: pass ``for_learner(quiz, who)`` to grade what that learner saw."""
    answers = section_answers(quiz, answers)
    rows = [QuestionResult(id=q.id, correct=grade_question(q, answers.get(q.id)),
                           given=answers.get(q.id), expected=expected_text(q), explain=q.explain,
                           chosen=chosen_text(q, answers.get(q.id)) if q.choices else None)
            for q in quiz.questions]
    return QuizResult(section=quiz.section, score=sum(r.correct for r in rows),
                      total=len(rows), questions=rows, graded=True)


# ---------------------------------------------------------------- text version

def prompt_text(q: Question) -> str:
    """The prompt as shown: a multiple-choice one says so, once."""
    return f"{q.prompt} {ALL_THAT_APPLY}" if q.type == "multiple" else q.prompt


def render_text(quiz: Quiz, result: QuizResult | None = None) -> str:
    """The quiz as plain text, choices in ``quiz``'s order (``for_learner``'s for a
    learner); with a result, each answer is marked and explained."""
    lines = [f"Quiz: {quiz.title} ({len(quiz.questions)} questions)"]
    by_id = {r.id: r for r in result.questions} if result else {}
    for n, q in enumerate(quiz.questions, 1):
        kind = "" if q.type == "multiple" else f" ({KIND[q.type]})"
        lines += ["", f"{n}. [{q.id}] {prompt_text(q)}{kind}"]
        lines += [f"   {LETTERS[i]}) {c}" for i, c in enumerate(q.choices)]
        r = by_id.get(q.id)
        if r is not None:
            given = "(no answer)" if r.given in (None, "", []) else r.given
            mark = "✅ right" if r.correct else "❌ wrong"
            lines.append(f"   your answer: {given} → {mark}")
            if not r.correct:
                lines.append(f"   answer: {r.expected}")
            lines.append(f"   why: {q.explain}")
    lines.append("")
    if result is not None:
        lines.append(f"Score: {result.score}/{result.total}")
    else:
        lines.append("Answer headlessly with quiz_answers={'<question id>': <answer>, ...} "
                     "(a choice's text, or its letter above; a list for 'choose all').")
    return "\n".join(lines)
