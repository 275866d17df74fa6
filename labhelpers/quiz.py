"""Section quizzes: questions in YAML (notebooks/quizzes/<section>.yaml), widgets for a
learner, a text version for headless runs, and grading in Python in both cases.

Grading lives here and not in the widgets because a batch run (papermill, no one
clicks) must grade exactly as the Check button does. Headless runs emit no widgets at
all: a widget's ``text/plain`` repr carries its state, which would make nbval flaky.

Quiz file format (one per section; tests/quiz checks every answer's ``checks``)::

    section: discovery
    title: Service discovery and configuration
    questions:
      - id: fqdn                      # lower-case; the key of quiz_answers
        type: short                   # single | multiple | short
        prompt: What is the full DNS name of the PostgreSQL Service?
        answer: postgres.ecommerce-lab.svc.cluster.local   # multiple: `answers: [..]`
        accept: [...]                 # short: more accepted answers (normalised match)
        regex: [...]                  # short: full-match patterns on the normalised answer
        choices: [...]                # single/multiple: answers are choice texts
        explain: why the answer is right (shown after every check)
        checks:                       # tie the answer to manifests/ (see tests/quiz)
          - fqdn: Service/postgres
            value: postgres.ecommerce-lab.svc.cluster.local

Headless answers (``quiz_answers``): ``{id: answer}`` where a choice is its letter (a, b…)
or its text, several choices a list (or "a, c"); or a whole learner file
``{section: {id: answer}}``.
"""

from __future__ import annotations

import html
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from labhelpers import results

#: Where the quiz files live in a checkout (the notebooks' folder, beside the package).
QUIZ_DIR = Path(__file__).resolve().parent.parent / "notebooks" / "quizzes"
SECTIONS = ("preflight", "deploy", "discovery", "persistence", "scaling", "observability",
            "performance", "breakfix", "production")
TYPES = ("single", "multiple", "short")
LETTERS = "abcdefghijklmnopqrstuvwxyz"


class QuizError(ValueError):
    """A quiz file or an answers dict we cannot use (the message says what and where)."""


@dataclass(frozen=True)
class Question:
    id: str
    type: str
    prompt: str
    explain: str
    choices: tuple[str, ...] = ()
    answer: tuple[str, ...] = ()  # single: one choice; multiple: the set; short: canonical
    accept: tuple[str, ...] = ()  # short: more accepted answers (normalised match)
    regex: tuple[str, ...] = ()  # short: patterns, full match on the normalised answer
    checks: tuple[dict[str, Any], ...] = ()  # what a test verifies against the manifests


@dataclass(frozen=True)
class Quiz:
    section: str
    title: str
    questions: tuple[Question, ...]
    path: Path | None = None


@dataclass
class QuestionResult:
    id: str
    correct: bool
    given: Any
    expected: str
    explain: str


@dataclass
class QuizResult:
    """What a quiz call returns; in the widget version it is updated on every Check."""

    section: str
    score: int = 0
    total: int = 0
    questions: list[QuestionResult] = field(default_factory=list)
    graded: bool = False
    ui: Any = field(default=None, repr=False, compare=False)  # the QuizWidget, if any

    @property
    def per_question(self) -> dict[str, bool]:
        return {q.id: q.correct for q in self.questions}

    def as_record(self) -> dict[str, Any]:
        return {"score": self.score, "total": self.total, "per_question": self.per_question,
                "answers": {q.id: q.given for q in self.questions}}

    def __repr__(self) -> str:  # stable: no addresses, no times (nbval compares text/plain)
        state = f"{self.score}/{self.total}" if self.graded else f"not graded, {self.total} questions"
        return f"QuizResult({self.section}: {state})"


# ---------------------------------------------------------------- loading

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
    checks = raw.get("checks") or []
    if not isinstance(checks, list) or not all(isinstance(c, dict) for c in checks):
        raise QuizError(f"{where}: 'checks' must be a list of mappings")
    return Question(id=qid, type=qtype, prompt=raw["prompt"].strip(),
                    explain=raw["explain"].strip(), choices=choices, answer=answer,
                    accept=_strings(raw.get("accept"), where, "accept"), regex=regex,
                    checks=tuple(checks))


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


# ---------------------------------------------------------------- grading

def normalise(text: Any) -> str:
    """Case, spacing, quotes and a final full stop do not make a short answer wrong."""
    s = str(text).strip().casefold()
    s = s.strip("`'\"“”‘’ ")
    s = re.sub(r"\s+", " ", s)
    return s.rstrip(".").strip()


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
    return any(re.fullmatch(p, g, flags=re.IGNORECASE) for p in q.regex)


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
    """Grade every question; an unanswered one counts as wrong."""
    answers = section_answers(quiz, answers)
    rows = [QuestionResult(id=q.id, correct=grade_question(q, answers.get(q.id)),
                           given=answers.get(q.id), expected=expected_text(q), explain=q.explain)
            for q in quiz.questions]
    return QuizResult(section=quiz.section, score=sum(r.correct for r in rows),
                      total=len(rows), questions=rows, graded=True)


# ---------------------------------------------------------------- text version

def render_text(quiz: Quiz, result: QuizResult | None = None) -> str:
    """The quiz as plain text; with a result, each answer is marked and explained."""
    lines = [f"Quiz: {quiz.title} ({len(quiz.questions)} questions)"]
    by_id = {r.id: r for r in result.questions} if result else {}
    for n, q in enumerate(quiz.questions, 1):
        kind = {"single": "choose one", "multiple": "choose all that apply",
                "short": "short answer"}[q.type]
        lines += ["", f"{n}. [{q.id}] {q.prompt} ({kind})"]
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
                     "(a choice's letter or text; a list for 'choose all').")
    return "\n".join(lines)


# ---------------------------------------------------------------- widgets

class QuizWidget:
    """The interactive quiz: one input per question, a Check button, explained feedback.

    ``on_check`` is the button's handler and can be called directly (tests, or a learner
    who prefers ``ui.on_check()``): it grades the current values, shows why each answer
    is right or wrong, and records the score.
    """

    def __init__(self, quiz: Quiz, learner: str | None = None,
                 results_dir: str | Path | None = None) -> None:
        import ipywidgets as w

        self.quiz = quiz
        self.learner = learner
        self.results_dir = results_dir
        self.result = QuizResult(section=quiz.section, total=len(quiz.questions))
        self.inputs: dict[str, Any] = {}
        self.feedback: dict[str, Any] = {}
        rows = [w.HTML(f"<h3>Quiz: {html.escape(quiz.title)}</h3>")]
        layout = w.Layout(width="auto")
        for n, q in enumerate(quiz.questions, 1):
            prompt = w.HTML(f"<b>{n}. {html.escape(q.prompt)}</b>")
            if q.type == "single":
                box = w.RadioButtons(options=list(q.choices), value=None, layout=layout)
            elif q.type == "multiple":
                box = w.VBox([w.Checkbox(value=False, description=c, indent=False,
                                         layout=layout) for c in q.choices])
            else:
                box = w.Text(placeholder="your answer", layout=w.Layout(width="60%"))
            self.inputs[q.id] = box
            self.feedback[q.id] = w.HTML("")
            rows += [prompt, box, self.feedback[q.id]]
        self.check_button = w.Button(description="Check", button_style="primary", icon="check")
        self.check_button.on_click(self.on_check)
        self.score = w.HTML("")
        rows += [w.HBox([self.check_button, self.score])]
        self.box = w.VBox(rows)

    def answers(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for q in self.quiz.questions:
            box = self.inputs[q.id]
            if q.type == "multiple":
                out[q.id] = [c.description for c in box.children if c.value]
            else:
                out[q.id] = box.value
        return out

    def on_check(self, _button: Any = None) -> QuizResult:
        graded = grade(self.quiz, self.answers())
        for r, q in zip(graded.questions, self.quiz.questions, strict=True):
            head = ("<span style='color:green'>✅ Right.</span>" if r.correct else
                    f"<span style='color:#b00'>❌ Not quite</span> — answer: "
                    f"<code>{html.escape(r.expected)}</code>.")
            self.feedback[q.id].value = f"{head} {html.escape(q.explain)}"
        self.result.score, self.result.questions, self.result.graded = \
            graded.score, graded.questions, True
        self.score.value = f"<b>Score: {graded.score}/{graded.total}</b>"
        results.record(self.quiz.section, "quiz", graded.as_record(), learner=self.learner,
                       directory=self.results_dir)
        return self.result


def headless() -> bool:
    return os.environ.get("LAB_HEADLESS", "").strip().lower() not in ("", "0", "false", "no")


def quiz(section: str, answers: Mapping[str, Any] | None = None, learner: str | None = None,
         directory: str | Path | None = None) -> QuizResult:
    """Show a section's quiz: widgets for a learner, text (graded when answers are given)
    when headless or answered from a parameter. Graded scores go to ``results``."""
    q = load(section, directory)
    if answers is None and not headless():
        from IPython.display import display

        ui = QuizWidget(q, learner=learner)
        display(ui.box)
        ui.result.ui = ui  # reachable: result.ui.on_check()
        return ui.result
    if answers is None:
        print(render_text(q))
        return QuizResult(section=section, total=len(q.questions))
    result = grade(q, answers)
    print(render_text(q, result))
    results.record(section, "quiz", result.as_record(), learner=learner)
    return result


# ---------------------------------------------------------------- answer files

def answer_key(sections: list[str] | None = None,
               directory: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """The right answers as ``{section: {id: answer}}`` — the format of a batch's
    ``--answers`` file, so an instructor (or a test) can check a full-marks run."""
    out: dict[str, dict[str, Any]] = {}
    for section in sections or available(directory):
        q = load(section, directory)
        out[section] = {x.id: list(x.answer) if x.type == "multiple" else x.answer[0]
                        for x in q.questions}
    return out


def answers_template(sections: list[str] | None = None,
                     directory: str | Path | None = None) -> str:
    """A blank ``--answers`` file for a learner: every question id, its prompt as a comment."""
    lines = ["# Quiz answers for labhelpers.batch --answers: a choice's letter or text;",
             "# a list for 'choose all'. Unanswered (null) counts as wrong."]
    for section in sections or available(directory):
        q = load(section, directory)
        lines.append(f"{section}:")
        for n, x in enumerate(q.questions, 1):
            lines.append(f"  # {n}. {' '.join(x.prompt.split())}")
            lines += [f"  #    {LETTERS[i]}) {c}" for i, c in enumerate(x.choices)]
            lines.append(f"  {x.id}: {'[]' if x.type == 'multiple' else 'null'}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m labhelpers.quiz",
                                 description="Print a blank answers file or the answer key.")
    ap.add_argument("what", choices=["template", "key"])
    ap.add_argument("sections", nargs="*", help=f"default: all ({', '.join(SECTIONS)})")
    args = ap.parse_args(argv)
    try:
        if args.what == "template":
            print(answers_template(args.sections or None), end="")
        else:
            print(yaml.safe_dump(answer_key(args.sections or None), sort_keys=False,
                                 allow_unicode=True), end="")
    except QuizError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
