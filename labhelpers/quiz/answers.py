"""Answer files for a batch: the key and a blank template; ``python -m labhelpers.quiz
template [--learner id] | key``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from labhelpers import results
from labhelpers.quiz.files import available, for_learner, load
from labhelpers.quiz.grading import prompt_text
from labhelpers.quiz.model import LETTERS, SECTIONS, QuizError


def answer_key(sections: list[str] | None = None,
               directory: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """The right answers as ``{section: {id: answer}}`` — the format of a batch's
    ``--answers`` file, so an instructor (or a test) can check a full-marks run. Choices
    are given by their text, which is right for every learner (letters are per learner)."""
    out: dict[str, dict[str, Any]] = {}
    for section in sections or available(directory):
        q = load(section, directory)
        out[section] = {x.id: list(x.answer) if x.type == "multiple" else x.answer[0]
                        for x in q.questions}
    return out


def answers_template(sections: list[str] | None = None,
                     directory: str | Path | None = None, learner: str | None = None) -> str:
    """A blank ``--answers`` file: every question id, its prompt and choices as comments.

    With ``learner``, the choices carry the letters that learner sees in their notebooks;
    without, they are listed unlettered (answer with the text: letters differ per learner).
    """
    lines = ["# Quiz answers for labcourse.batch --answers: a choice's text"
             + (f", or its letter as {learner} sees it;" if learner else ";"),
             "# a list for 'choose all'. Unanswered (null) counts as wrong."]
    for section in sections or available(directory):
        q = load(section, directory)
        if learner:
            q = for_learner(q, learner)
        lines.append(f"{section}:")
        for n, x in enumerate(q.questions, 1):
            lines.append(f"  # {n}. {' '.join(prompt_text(x).split())}")
            lines += [f"  #    {LETTERS[i] + ')' if learner else '-'} {c}"
                      for i, c in enumerate(x.choices)]
            lines.append(f"  {x.id}: {'[]' if x.type == 'multiple' else 'null'}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m labhelpers.quiz",
                                 description="Print a blank answers file or the answer key.")
    ap.add_argument("what", choices=["template", "key"])
    ap.add_argument("sections", nargs="*", help=f"default: all ({', '.join(SECTIONS)})")
    ap.add_argument("--learner", default=None,
                    help="template: letter the choices in this learner's order")
    args = ap.parse_args(argv)
    try:
        if args.what == "template":
            print(answers_template(args.sections or None, learner=args.learner), end="")
        else:
            print(yaml.safe_dump(answer_key(args.sections or None), sort_keys=False,
                                 allow_unicode=True), end="")
    except (QuizError, results.ResultsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
