"""Request bodies as the API server reads them: bounded in size and in nesting depth.

Why a module of its own: every later step (schema validation, deepcopy, the patch
algorithms, apply's field sets, the store's JSON) walks objects recursively, and Python
recursion ends near 1,000 frames with a `RecursionError` — a 500 and a traceback for a
request a real API server answers with a 400. So the depth is checked *before* anything
recursive sees the body, on the raw bytes (JSON) or on the parser's event stream (YAML),
both iterative, and the limit is one explicit number.

Upstream: kube-apiserver reads at most `--max-request-body-bytes` (3 MiB) and answers
413 `Request entity too large: limit is 3145728`; its JSON decoders stop at 10,000 levels
("exceeded max depth"). labcluster's depth limit is lower (`MAX_DEPTH`): no built-in kind
nests deeper than ~20 levels, and a patch can at most add one body's depth to a stored
object's, which must stay far from Python's recursion limit.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

MAX_REQUEST_BODY_BYTES = 3 * 1024 * 1024  # kube-apiserver's --max-request-body-bytes
MAX_DEPTH = 100

# a JSON string (escapes included), removed before counting brackets
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class TooDeep(ValueError):
    """The body nests deeper than MAX_DEPTH; the caller words the Status."""

    def __init__(self, limit: int = MAX_DEPTH):
        super().__init__(f"exceeded max depth of {limit}")
        self.limit = limit


def json_too_deep(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON text opens more than `limit` containers at once, without parsing it.

    Brackets inside strings do not count. Cost: two C-level passes over the bytes, and
    nothing at all for the usual body (fewer brackets than the limit)."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return any(d > limit for d in accumulate(map(_STEP.__getitem__, brackets)))


def yaml_too_deep(raw: bytes | str, limit: int = MAX_DEPTH) -> bool:
    """Whether a YAML stream opens more than `limit` collections at once.

    Reads the parser's events (iterative, libyaml's when present) and stops at the first
    collection past the limit, so a hostile document costs no more than `limit` levels."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    depth = 0
    try:
        for event in yaml.parse(raw, Loader=loader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > limit:
                    return True
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError as exc:
        # libyaml refuses 1,000+ levels itself ("exceeded maximum nesting depth")
        return "nesting depth" in str(exc)
    return False


def object_too_deep(obj: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether a decoded object nests more than `limit` containers, walked without recursion.

    Needed after YAML (aliases can nest a node inside another without the text showing
    it, or inside itself) and after a patch (which puts a value under a path). Level by
    level, each node once per level: a tree costs its size, aliases cost at most `limit`
    times their distinct nodes, never their expansion."""
    level = [obj] if isinstance(obj, dict | list) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        seen: set[int] = set()
        below = []
        for node in level:
            for kid in node.values() if type(node) is dict else node:
                if isinstance(kid, dict | list) and id(kid) not in seen:
                    seen.add(id(kid))
                    below.append(kid)
        level = below
    return False


def decode(raw: bytes, yaml_ok: bool = False) -> Any:
    """JSON (or YAML when `yaml_ok`) → Python, refusing bodies deeper than MAX_DEPTH.

    Raises TooDeep, ValueError (not JSON, and YAML not allowed) or yaml.YAMLError."""
    deep_json = json_too_deep(raw)
    if deep_json and not yaml_ok:
        raise TooDeep()
    if not deep_json:
        try:
            return json.loads(raw)
        except ValueError:
            if not yaml_ok:
                raise
    import yaml

    if yaml_too_deep(raw):
        raise TooDeep()
    obj = yaml.safe_load(raw)
    if object_too_deep(obj):
        raise TooDeep()
    return obj
