"""The quiz's vocabulary: constants, ``QuizError``, the question/quiz/result types,
and ``normalise`` (how a short answer is compared), below every other quiz module."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labhelpers import coursefiles
from labhelpers.errors import LabError

#: Where the quiz files live: beside the notebooks, in the ``labcourse`` package data.
QUIZ_DIR = coursefiles.QUIZZES
SECTIONS = ("preflight", "deploy", "discovery", "persistence", "scaling", "observability",
            "performance", "breakfix", "production")
TYPES = ("single", "multiple", "short")
LETTERS = "abcdefghijklmnopqrstuvwxyz"
#: Added to a multiple-choice prompt wherever it is shown (text and widgets).
ALL_THAT_APPLY = "(choose all that apply)"
KIND = {"single": "choose one", "multiple": "choose all that apply", "short": "short answer"}


class QuizError(LabError, ValueError):
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
    kubectl: tuple[str, ...] = ()  # short: equivalent commands (kubectl_matches specs)
    checks: tuple[dict[str, Any], ...] = ()  # what a test verifies against the manifests


@dataclass(frozen=True)
class Quiz:
    section: str
    title: str
    questions: tuple[Question, ...]
    path: Path | None = None
    learner: str | None = None  # whose choice order this is (None: the file's order)


@dataclass
class QuestionResult:
    id: str
    correct: bool
    given: Any
    expected: str
    explain: str
    chosen: Any = None  # a choice question's answer as choice text(s): letters are per learner


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
                "answers": {q.id: q.given if q.chosen is None else q.chosen
                            for q in self.questions}}

    def __repr__(self) -> str:  # stable: no addresses, no times (nbval compares text/plain)
        state = f"{self.score}/{self.total}" if self.graded else f"not graded, {self.total} questions"
        return f"QuizResult({self.section}: {state})"

    def _ipython_display_(self) -> None:
        """In the cell that built the widgets, show nothing: the widgets (with their live
        score) are that cell's display, and a repr printed now would stay "not graded"
        under them after Check. Anywhere else, the repr as it is at that moment."""
        if self.ui is not None and self.ui.cell is not None and self.ui.cell == _cell_number():
            return
        from IPython.display import publish_display_data

        publish_display_data({"text/plain": repr(self)})


def _cell_number() -> int | None:
    """The running cell's execution count (None outside IPython)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return None
    shell = get_ipython()
    return getattr(shell, "execution_count", None) if shell is not None else None


def normalise(text: Any) -> str:
    """Case, spacing, quotes and a final full stop do not make a short answer wrong."""
    s = str(text).strip().casefold()
    s = s.strip("`'\"“”‘’ ")
    s = re.sub(r"\s+", " ", s)
    return s.rstrip(".").strip()
