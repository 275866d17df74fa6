"""The interactive quiz (ipywidgets) and ``quiz()``, what a notebook cell calls."""

from __future__ import annotations

import html
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labhelpers import results
from labhelpers.quiz.files import for_learner, load
from labhelpers.quiz.grading import grade, render_text
from labhelpers.quiz.model import ALL_THAT_APPLY, Question, Quiz, QuizResult, _cell_number

_CODE = re.compile(r"`([^`\n]+)`")
_STRONG = re.compile(r"\*\*(?=\S)([^*\n]+?)(?<=\S)\*\*")
_EM = re.compile(r"(?<![\w*])\*(?=[^\s*])([^*\n]+?)(?<=[^\s*])\*(?![\w*])")


def _emphasis(escaped: str) -> str:
    return _EM.sub(r"<em>\1</em>", _STRONG.sub(r"<strong>\1</strong>", escaped))


def markdown_html(text: str) -> str:
    """The inline markdown the quiz files use (`code`, **strong**, *em*) as HTML; every
    other character is escaped, so ``<service>`` or ``a < b`` show as written."""
    out: list[str] = []
    pos = 0
    for m in _CODE.finditer(text):
        out.append(_emphasis(html.escape(text[pos:m.start()])))
        out.append(f"<code>{html.escape(m.group(1))}</code>")
        pos = m.end()
    out.append(_emphasis(html.escape(text[pos:])))
    return "".join(out)


def _block(inner: str, padding: str) -> str:
    """HTML widgets set a one-line line-height (the widget row height): wrapped text in
    them is double-spaced. Text lines get the usual spacing, in a plain div."""
    return f'<div style="line-height:1.45;padding:{padding}">{inner}</div>'


#: The choice rows' layout. ipywidgets' Checkbox label is one clipped line (``white-space:
#: nowrap; overflow: hidden``, a 28 px line height); a choice must wrap and stay readable.
#: Inline styles cannot do it: the label element is ipywidgets' own, and a styled <span> in
#: the description would show its markup in the hover tooltip (ipywidgets sets the raw
#: description as ``title``). Scoped to the quiz's classes, so nothing else changes.
QUIZ_CSS = """<style>
.lab-quiz .lab-quiz-choice { height: auto; line-height: normal; }
.lab-quiz .lab-quiz-choice > label.widget-label-basic,
.lab-quiz .lab-quiz-choice > label.jupyter-widget-label-basic {
  display: flex; align-items: flex-start; flex: 1 1 auto; min-width: 0;
  white-space: normal; overflow: visible; line-height: 1.45; padding: 3px 0;
  cursor: pointer; }
.lab-quiz .lab-quiz-choice input[type=checkbox] {
  flex: 0 0 auto; align-self: flex-start; margin: 3px 8px 0 0; cursor: pointer; }
</style>"""


class QuizWidget:
    """The interactive quiz: one input per question, a Check button, explained feedback.

    Each choice is one Checkbox whose description is the choice (HTML allowed, so its
    `code` renders): ipywidgets puts the box and the text in one <label>, so clicking the
    text ticks the box, as a learner expects. ipywidgets styles that label as one fixed
    line (nowrap, clipped, 28 px high) — RadioButtons too, where a long choice overprinted
    the next one — so ``QUIZ_CSS`` (a <style> in the title, scoped to ``.lab-quiz``) lets
    it wrap with the box beside its first line. A single-choice question unticks the other
    boxes when one is ticked (radio behaviour). Prompts, choices and explanations render
    their inline markdown (`code`). DOM classes for a browser test: ``lab-quiz`` (the whole
    quiz), ``lab-quiz-prompt`` / ``-answer`` / ``-feedback`` plus ``lab-quiz-q-<id>`` per
    question, ``lab-quiz-choice`` per choice (the Checkbox), ``lab-quiz-score``.

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
        self.cell = _cell_number()  # the cell whose display these widgets are
        self.inputs: dict[str, Any] = {}
        self.choices: dict[str, list[tuple[str, Any]]] = {}  # id → [(text, Checkbox)]
        self.feedback: dict[str, Any] = {}
        rows = [w.HTML(f"{QUIZ_CSS}<h3>Quiz: {html.escape(quiz.title)}</h3>")]
        for n, q in enumerate(quiz.questions, 1):
            hint = f" <i>{ALL_THAT_APPLY}</i>" if q.type == "multiple" else ""
            prompt = w.HTML(_block(f"<b>{n}. {markdown_html(q.prompt)}</b>{hint}", "8px 0 2px"),
                            layout=w.Layout(width="auto"))
            if q.choices:
                box = self._choice_rows(w, q)
            else:
                box = w.Text(placeholder="your answer", layout=w.Layout(width="60%"))
            self.inputs[q.id] = box
            self.feedback[q.id] = w.HTML("", layout=w.Layout(width="auto"))
            for widget, role in ((prompt, "prompt"), (box, "answer"),
                                 (self.feedback[q.id], "feedback")):
                widget.add_class(f"lab-quiz-{role}")
                widget.add_class(f"lab-quiz-q-{q.id}")
            rows += [prompt, box, self.feedback[q.id]]
        self.check_button = w.Button(description="Check", button_style="primary", icon="check")
        self.check_button.on_click(self.on_check)
        self.score = w.HTML("")
        self.score.add_class("lab-quiz-score")
        rows += [w.HBox([self.check_button, self.score])]
        self.box = w.VBox(rows, layout=w.Layout(width="auto"))
        self.box.add_class("lab-quiz")

    def _choice_rows(self, w: Any, q: Question) -> Any:
        pairs = []
        rows = []
        for c in q.choices:
            # the choice is the Checkbox's own description: ipywidgets puts the box and the
            # text in one <label>, so a click on the text ticks the box (QUIZ_CSS wraps it)
            tick = w.Checkbox(value=False, indent=False, description=markdown_html(c),
                              description_allow_html=True,
                              layout=w.Layout(width="auto", height="auto"))
            tick.add_class("lab-quiz-choice")
            pairs.append((c, tick))
            rows.append(tick)
        self.choices[q.id] = pairs
        if q.type == "single":
            def only_one(change: dict[str, Any]) -> None:
                if change["new"]:
                    for _, other in pairs:
                        if other is not change["owner"] and other.value:
                            other.value = False

            for _, tick in pairs:
                tick.observe(only_one, names="value")
        return w.VBox(rows, layout=w.Layout(width="auto"))

    def select(self, qid: str, *choices: str) -> None:
        """Tick these choices (by text) of question ``qid`` — what clicking does."""
        for text, tick in self.choices[qid]:
            tick.value = text in choices

    def answers(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for q in self.quiz.questions:
            if q.type == "short":
                out[q.id] = self.inputs[q.id].value
                continue
            ticked = [text for text, tick in self.choices[q.id] if tick.value]
            out[q.id] = ticked if q.type == "multiple" else (ticked[0] if ticked else None)
        return out

    def on_check(self, _button: Any = None) -> QuizResult:
        graded = grade(self.quiz, self.answers())
        for r, q in zip(graded.questions, self.quiz.questions, strict=True):
            head = ("<span style='color:green'>✅ Right.</span>" if r.correct else
                    f"<span style='color:#b00'>❌ Not quite</span> — answer: "
                    f"{markdown_html(r.expected)}.")
            self.feedback[q.id].value = _block(f"{head} {markdown_html(q.explain)}", "2px 0 6px")
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
    when headless or answered from a parameter. Graded scores go to ``results``.

    Choices appear in ``learner``'s order (default: the hub's user, else the OS user); answers by letter mean
    that order, answers by text work for everyone. In the widget version the returned
    result is updated on every Check and shows nothing in the quiz's own cell."""
    q = for_learner(load(section, directory), learner)
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
