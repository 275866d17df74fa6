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
"""

from __future__ import annotations

import fnmatch
import hashlib
import html
import os
import re
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

import labcourse
from labhelpers import results
from labhelpers.errors import LabError

#: Where the quiz files live: beside the notebooks, in the ``labcourse`` package data.
QUIZ_DIR = labcourse.QUIZZES
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
    """The quiz as ``learner`` (default: the hub's user, else the OS user, as results
    uses) sees it: the same questions with their choices in that learner's order. Grading
    this quiz reads letters in that order; texts are graded the same whatever the order."""
    who = results.check_learner(learner) if learner else results.default_learner()
    questions = tuple(replace(x, choices=choice_order(quiz.section, x, who)) if x.choices
                      else x for x in quiz.questions)
    return replace(quiz, questions=questions, learner=who)


# ---------------------------------------------------------------- kubectl answers

#: Resource type spellings kubectl accepts → one name (``deploy/x`` = ``deployments x``).
RESOURCE_TYPES = {
    **dict.fromkeys(("deploy", "deployment", "deployments", "deployment.apps",
                     "deployments.apps"), "deployment"),
    **dict.fromkeys(("svc", "service", "services"), "service"),
    **dict.fromkeys(("po", "pod", "pods"), "pod"),
    **dict.fromkeys(("ep", "endpoints"), "endpoints"),
    **dict.fromkeys(("endpointslice", "endpointslices", "endpointslices.discovery.k8s.io"),
                    "endpointslice"),
    **dict.fromkeys(("ev", "event", "events"), "event"),
    **dict.fromkeys(("sts", "statefulset", "statefulsets", "statefulset.apps"), "statefulset"),
    **dict.fromkeys(("cm", "configmap", "configmaps"), "configmap"),
    **dict.fromkeys(("secret", "secrets"), "secret"),
    **dict.fromkeys(("pvc", "persistentvolumeclaim", "persistentvolumeclaims"),
                    "persistentvolumeclaim"),
    **dict.fromkeys(("rs", "replicaset", "replicasets"), "replicaset"),
    **dict.fromkeys(("ns", "namespace", "namespaces"), "namespace"),
    **dict.fromkeys(("no", "node", "nodes"), "node"),
    **dict.fromkeys(("job", "jobs"), "job"),
}
#: Verbs whose next word is a sub-command, not a resource (kubectl rollout restart …).
SUBCOMMANDS = ("rollout", "set", "top", "create", "auth", "config")
#: Long flags that take a value, so ``--tail 20`` is read like ``--tail=20``.
VALUE_FLAGS = frozenset((
    "namespace", "selector", "output", "tail", "replicas", "field-selector", "types",
    "sort-by", "container", "since", "filename", "kubeconfig", "context", "timeout",
    "for", "template", "requests", "limits", "limit-bytes"))
#: Short flags (lower-case: answers are compared case-insensitively).
SHORT_FLAGS = {"n": "namespace", "l": "selector", "o": "output", "c": "container",
               "a": "all-namespaces", "w": "watch", "i": "stdin", "t": "tty",
               "r": "recursive"}
#: Short flags that mean something else for `kubectl logs`.
LOGS_SHORT_FLAGS = {"f": "follow", "p": "previous"}


@dataclass(frozen=True)
class KubectlCommand:
    """A kubectl command line reduced to what it means: the command words and resources
    in order (``deploy/x``, ``deployment x`` → ``deployment/x``), the flags as a set
    (``-n ns`` = ``--namespace=ns``, anywhere on the line), the command after ``--``
    (``kubectl exec``), and any later pipeline stages. Everything is lower case."""

    args: tuple[str, ...]
    flags: Mapping[str, str | None]
    command: tuple[str, ...] = ()
    pipe: tuple[tuple[str, ...], ...] = ()

    @classmethod
    def parse(cls, text: str) -> KubectlCommand:
        """Raises QuizError when ``text`` is not one kubectl command (pipes allowed)."""
        try:
            lexer = shlex.shlex(str(text).strip().strip("`").casefold(), posix=True,
                                punctuation_chars="|")
            lexer.whitespace_split = True
            tokens = list(lexer)
        except ValueError as exc:  # unbalanced quotes
            raise QuizError(f"cannot read it as a command line: {exc}") from None
        stages: list[list[str]] = [[]]
        for tok in tokens:
            if tok == "|":
                stages.append([])
            elif set(tok) == {"|"}:  # "||": not a pipeline we grade
                raise QuizError("'||' is not a pipe")
            else:
                stages[-1].append(tok)
        if not stages[0] or stages[0][0] != "kubectl" or not all(stages):
            raise QuizError("not a kubectl command")
        positional: list[str] = []
        flags: dict[str, str | None] = {}
        shorts: list[tuple[str, str | None]] = []
        command: tuple[str, ...] = ()
        words = stages[0][1:]
        i = 0
        while i < len(words):
            tok = words[i]
            i += 1
            if tok == "--":
                command = tuple(words[i:])
                break
            if tok.startswith("--"):
                name, eq, value = tok[2:].partition("=")
                if not eq and name in VALUE_FLAGS and i < len(words):
                    value, i = words[i], i + 1
                flags[name] = value if (eq or name in VALUE_FLAGS) else None
            elif tok.startswith("-") and len(tok) > 1:
                letters = tok[1:]
                if SHORT_FLAGS.get(letters[0]) in VALUE_FLAGS:
                    value = letters[1:].lstrip("=")
                    if not value and i < len(words):
                        value, i = words[i], i + 1
                    shorts.append((letters[0], value))
                else:  # -it: two switches
                    shorts += [(letter, None) for letter in letters]
            else:
                positional.append(tok)
        verb = positional[0] if positional else ""
        for letter, value in shorts:
            name = (LOGS_SHORT_FLAGS.get(letter) if verb == "logs" else None) \
                or SHORT_FLAGS.get(letter) or ("filename" if letter == "f" else letter)
            flags[name] = value
        return cls(args=cls._resources(positional), flags=flags, command=command,
                   pipe=tuple(cls._stage(s) for s in stages[1:]))

    @staticmethod
    def _resources(positional: list[str]) -> tuple[str, ...]:
        out = positional[:1]
        rest = positional[1:]
        if out and out[0] in SUBCOMMANDS and rest:
            out, rest = out + rest[:1], rest[1:]
        kind: str | None = None
        for tok in rest:
            if "/" in tok:
                head, _, name = tok.partition("/")
                out.append(f"{RESOURCE_TYPES.get(head, head)}/{name}")
            elif tok in RESOURCE_TYPES and kind is None:
                kind = RESOURCE_TYPES[tok]
                out.append(kind)
            elif kind is not None and out[-1] == kind:
                out[-1] = f"{kind}/{tok}"  # "deployment x" → deployment/x
            elif kind is not None:
                out.append(f"{kind}/{tok}")  # "get pods a b"
            else:
                out.append(tok)
        return tuple(out)

    @staticmethod
    def _stage(tokens: list[str]) -> tuple[str, ...]:
        """A later pipeline stage as words; grep's -i says nothing here (all lower case)."""
        if tokens[0] in ("grep", "egrep"):
            return tuple(t for t in tokens if t != "-i")
        return tuple(tokens)


def _fits(pattern: str | None, value: str | None) -> bool:
    if pattern is None or value is None:
        return pattern is value
    return fnmatch.fnmatchcase(value, pattern)


@dataclass(frozen=True)
class KubectlSpec:
    """One accepted form of a kubectl answer, written as the command with its optional
    parts in brackets, e.g. ``kubectl logs deploy/x [-n ecommerce-lab] [--tail=20]`` or
    ``kubectl describe deploy/x [| grep database_host]``. Values and names may use ``*``.
    An answer matches when it has the same words and resources in the same order, every
    required flag, no flag the spec does not list, and the same pipeline (or none when it
    is optional)."""

    required: KubectlCommand
    optional: Mapping[str, tuple[str | None, ...]]  # a flag → the values it may have
    optional_pipe: tuple[tuple[str, ...], ...] | None

    @classmethod
    def parse(cls, spec: str) -> KubectlSpec:
        groups = re.findall(r"\[([^\]]*)\]", spec)
        base = re.sub(r"\s*\[[^\]]*\]", "", spec)
        required = KubectlCommand.parse(base)
        optional: dict[str, tuple[str | None, ...]] = {}
        optional_pipe = None
        for group in groups:
            if group.strip().startswith("|"):
                if required.pipe or optional_pipe is not None:
                    raise QuizError("at most one pipeline, required or optional")
                optional_pipe = KubectlCommand.parse("kubectl " + group).pipe
                continue
            extra = KubectlCommand.parse("kubectl " + group)
            if extra.args or extra.command or extra.pipe:
                raise QuizError(f"[{group}]: only flags or a pipe can be optional")
            for name, value in extra.flags.items():  # [-o wide] [-o yaml]: either
                optional[name] = (*optional.get(name, ()), value)
        return cls(required, optional, optional_pipe)

    def matches(self, answer: str) -> bool:
        try:
            got = KubectlCommand.parse(answer)
        except QuizError:
            return False
        want = self.required
        if len(got.args) != len(want.args) or len(got.command) != len(want.command):
            return False
        if not all(_fits(p, v) for p, v in zip(want.args + want.command,
                                                got.args + got.command, strict=True)):
            return False
        for name, value in got.flags.items():
            patterns = (want.flags[name],) if name in want.flags else self.optional.get(name, ())
            if not any(_fits(p, value) for p in patterns):  # none: a flag nobody asked for
                return False
        if any(name not in got.flags for name in want.flags):
            return False
        return got.pipe == want.pipe or (self.optional_pipe is not None
                                         and got.pipe in ((), self.optional_pipe))


def kubectl_matches(specs: tuple[str, ...] | list[str], answer: Any) -> bool:
    """Whether ``answer`` is one of the kubectl commands ``specs`` describe (by meaning:
    flag order, ``-n`` or ``--namespace=``, ``deploy/x`` or ``deployment x``)."""
    return any(KubectlSpec.parse(spec).matches(str(answer)) for spec in specs)


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


# ---------------------------------------------------------------- widgets

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

    Choices appear in ``learner``'s order (default: the hub's user, else the OS user);
    answers by letter mean that order, answers by text work for everyone. In the widget version the returned
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


# ---------------------------------------------------------------- answer files

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
    lines = ["# Quiz answers for labhelpers.batch --answers: a choice's text"
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


if __name__ == "__main__":
    raise SystemExit(main())
