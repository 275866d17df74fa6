"""The course's quizzes cannot be answered without knowing the material: the right answer's
position (in the file and in what learners see) and its length give nothing away, and no
prompt says "(choose all that apply)" twice.

Before these tests, 32 of 35 single-choice answers were option a), every multi-select
answer was the first two or three options, and the right answer was the strictly longest
option in 31 of 35 questions. The thresholds leave room for chance, not for a habit.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import nbformat
import pytest

from labcourse.release import has_solution
from labhelpers import quiz as q

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"

#: A few learner ids, as a class list would give them; the order is a hash of the id.
LEARNERS = ("ada", "grace", "kim", "batch-1", "lab-alice", "jovyan")


def quizzes(learner: str | None = None) -> list[q.Quiz]:
    loaded = [q.load(section) for section in q.available()]
    return [q.for_learner(x, learner) for x in loaded] if learner else loaded


def singles(qs: list[q.Quiz]) -> list[q.Question]:
    return [x for quiz in qs for x in quiz.questions if x.type == "single"]


def multiples(qs: list[q.Quiz]) -> list[q.Question]:
    return [x for quiz in qs for x in quiz.questions if x.type == "multiple"]


def position_share(qs: list[q.Quiz]) -> tuple[float, Counter[str]]:
    """The largest share of single-choice answers that one letter holds."""
    letters = Counter(q.LETTERS[x.choices.index(x.answer[0])] for x in singles(qs))
    return max(letters.values()) / sum(letters.values()), letters


def first_choices(qs: list[q.Quiz]) -> int:
    """Multi-select questions whose answers are exactly the first options."""
    return sum(sorted(x.choices.index(a) for a in x.answer) == list(range(len(x.answer)))
               for x in multiples(qs))


def test_there_is_something_to_measure() -> None:
    assert len(singles(quizzes())) >= 30 and len(multiples(quizzes())) >= 5


def test_right_answers_are_spread_over_the_letters_in_the_files() -> None:
    share, letters = position_share(quizzes())
    assert share <= 0.40, f"one letter holds {share:.0%} of the right answers: {letters}"
    assert len(letters) >= 4, f"right answers only at {sorted(letters)}"


@pytest.mark.parametrize("learner", LEARNERS)
def test_right_answers_are_spread_over_the_letters_a_learner_sees(learner: str) -> None:
    share, letters = position_share(quizzes(learner))
    assert share <= 0.50, f"{learner}: one letter holds {share:.0%}: {letters}"


def test_multi_select_answers_are_not_the_first_options() -> None:
    n = len(multiples(quizzes()))
    assert first_choices(quizzes()) <= n // 3, "multi-select answers sit at the top in the files"
    for learner in LEARNERS:
        assert first_choices(quizzes(learner)) < n, f"{learner}: always the first options"


def test_the_right_answer_is_rarely_the_longest() -> None:
    questions = singles(quizzes())
    longest = [f"{x.id}" for x in questions
               if all(len(x.answer[0]) > len(c) for c in x.choices if c != x.answer[0])]
    assert len(longest) <= 0.40 * len(questions), \
        f"the right answer is the strictly longest option in {len(longest)}/{len(questions)}"
    multi = [x.id for x in multiples(quizzes())
             if min(map(len, x.answer)) > max(len(c) for c in x.choices if c not in x.answer)]
    assert len(multi) <= 0.40 * len(multiples(quizzes())), f"right options all longest: {multi}"


def test_no_length_rank_gives_the_answer_away() -> None:
    """Shortening every right answer would only move the tell: 'pick the second longest'
    must not work either."""
    questions = singles(quizzes())
    ranks = Counter(sorted(x.choices, key=len).index(x.answer[0]) for x in questions)
    assert max(ranks.values()) <= 0.45 * len(questions), f"length ranks: {ranks}"


def test_no_prompt_says_choose_all_that_apply_twice() -> None:
    for quiz in quizzes("ada"):
        text = q.render_text(quiz)
        template = q.answers_template([quiz.section])
        for x in quiz.questions:
            want = 1 if x.type == "multiple" else 0
            line = next(ln for ln in text.splitlines() if f"[{x.id}]" in ln)
            assert line.count(q.ALL_THAT_APPLY) == want, line
            assert q.prompt_text(x).count(q.ALL_THAT_APPLY) == want
            assert x.prompt.count(q.ALL_THAT_APPLY) == 0, f"{x.id}: the YAML says it"
        assert template.count(q.ALL_THAT_APPLY) == len(multiples([quiz]))


def test_a_prompt_that_says_it_is_refused(tmp_path) -> None:
    (tmp_path / "x.yaml").write_text(
        "questions: [{id: a, type: multiple, prompt: 'Which? (Choose all that apply)',"
        " explain: e, choices: [p, r], answers: [p]}]")
    with pytest.raises(q.QuizError, match="leave it out"):
        q.load("x", tmp_path)


def _solution_answers(notebook: Path) -> set[str]:
    """What the challenge's ✏️ cells set, as a learner would write it: ``key: value`` for each
    string assigned (``config["data"]["DATABASE_HOST"] = "postgres"``) or put in a dict
    (``{"app": "redis"}``), and each value with a digit in it on its own (``256Mi``)."""
    nb = nbformat.read(notebook, as_version=4)
    out: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type != "code" or not has_solution(cell.source):
            continue
        for node in ast.walk(ast.parse(cell.source)):
            pairs: list[tuple[object, object]] = []
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript):
                pairs.append((node.targets[0].slice, node.value))
            elif isinstance(node, ast.Dict):
                pairs += zip(node.keys, node.values, strict=True)
            for key, value in pairs:
                if isinstance(key, ast.Constant) and isinstance(value, ast.Constant) \
                        and isinstance(value.value, str):
                    out.add(f"{key.value}: {value.value}")
                    if any(ch.isdigit() for ch in value.value):
                        out.add(value.value)
    return out


def test_the_challenges_quiz_does_not_give_its_answers_away() -> None:
    """Notebook 8's quiz is one widget away from the challenge: what it shows before it is
    answered (prompts and choices) must not contain what the ✏️ cells' solutions set."""
    answers = _solution_answers(NOTEBOOKS / "08-break-and-fix.ipynb")
    assert {"app: redis", "memory: 256Mi", "256Mi", "1Gi", "DATABASE_HOST: postgres"} <= answers
    shown = " ".join(x.prompt + " " + " ".join(x.choices) for x in q.load("breakfix").questions)
    given = sorted(a for a in answers if a in shown)
    assert not given, f"the breakfix quiz shows the challenge's answers: {given}"
