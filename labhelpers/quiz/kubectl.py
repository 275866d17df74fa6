"""Short kubectl answers compared by meaning: ``kubectl:`` forms in a quiz file (words
and resources in order, ``deploy/x`` = ``deployment x``, flags as a set, optional
parts in ``[ ]``)."""

from __future__ import annotations

import fnmatch
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from labhelpers.quiz.model import QuizError

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
