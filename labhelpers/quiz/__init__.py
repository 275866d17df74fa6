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
        kubectl: [...]                # short: equivalent kubectl commands, compared by
                                      #   meaning (see kubectl_matches): optional parts in [ ]
        regex: [...]                  # short: full-match patterns on the normalised answer
        choices: [...]                # single/multiple: answers are choice texts
        explain: why the answer is right (shown after every check)
        checks:                       # tie the answer to manifests/ (see tests/quiz)
          - fqdn: Service/postgres
            value: postgres.ecommerce-lab.svc.cluster.local

Prompts say what they ask; "(choose all that apply)" is added by this module, never
written in a prompt (a prompt that has it is refused, so it cannot appear twice).

Choices are shown in an order of their own for each learner (a hash of the learner, the
section, the question and the choice: stable for that learner, so reruns and nbval see the
same text, and unrelated to the file's order, so "it's always a)" teaches nothing).
Headless answers (``quiz_answers``): ``{id: answer}`` where a choice is its text (the
robust way, the same for everyone) or the letter the learner SAW (a, b… in their order),
several choices a list (or "a, c"); or a whole learner file ``{section: {id: answer}}``.

The package, bottom up: ``model`` (constants, QuizError, the types, ``normalise``),
``kubectl`` (short kubectl answers by meaning), ``files`` (loading, each learner's choice
order), ``grading`` (and the text version), ``widgets`` (and ``quiz()``), ``answers``
(answer key and template, ``python -m labhelpers.quiz``). Every public name is here.
"""

from __future__ import annotations

from labhelpers.quiz.answers import answer_key, answers_template, main
from labhelpers.quiz.files import available, choice_order, for_learner, load, quiz_dir
from labhelpers.quiz.grading import (
    chosen_text,
    expected_text,
    grade,
    grade_question,
    prompt_text,
    render_text,
    section_answers,
)
from labhelpers.quiz.kubectl import (
    LOGS_SHORT_FLAGS,
    RESOURCE_TYPES,
    SHORT_FLAGS,
    SUBCOMMANDS,
    VALUE_FLAGS,
    KubectlCommand,
    KubectlSpec,
    kubectl_matches,
)
from labhelpers.quiz.model import (
    ALL_THAT_APPLY,
    KIND,
    LETTERS,
    QUIZ_DIR,
    SECTIONS,
    TYPES,
    Question,
    QuestionResult,
    Quiz,
    QuizError,
    QuizResult,
    normalise,
)
from labhelpers.quiz.widgets import QUIZ_CSS, QuizWidget, headless, markdown_html, quiz

__all__ = ["ALL_THAT_APPLY", "KIND", "KubectlCommand", "KubectlSpec", "LETTERS",
           "LOGS_SHORT_FLAGS", "QUIZ_CSS", "QUIZ_DIR", "Question", "QuestionResult", "Quiz",
           "QuizError", "QuizResult", "QuizWidget", "RESOURCE_TYPES", "SECTIONS",
           "SHORT_FLAGS", "SUBCOMMANDS", "TYPES", "VALUE_FLAGS", "answer_key",
           "answers_template", "available", "choice_order", "chosen_text", "expected_text",
           "for_learner", "grade", "grade_question", "headless", "kubectl_matches", "load",
           "main", "markdown_html", "normalise", "prompt_text", "quiz", "quiz_dir",
           "render_text", "section_answers"]
