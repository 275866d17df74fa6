"""Kubernetes `Status` errors, shaped and worded as a real API server sends them.

Clients (the official Python client, kubectl, labhelpers' error tables) key on `reason`,
`code` and the message text, so these builders reproduce apimachinery's wording exactly.
Also labcluster's one `ConfigError` (a configuration it cannot use).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class ConfigError(ValueError):
    """A configuration labcluster cannot use, worded as the real program words it: a
    container's (the kubelet's CreateContainerConfigError message, node/podspec.py) or a
    stand-in's config file (nginx's `[emerg]` message, node/minginx.py). One class so the
    package has one name for one thing; minginx runs in its own process, so the kubelet
    never catches a config-file error as a container's."""


@dataclass
class Cause:
    """One `details.causes[]` entry (a field error or an apply conflict)."""

    reason: str
    message: str
    field: str = ""

    def to_dict(self) -> dict[str, str]:
        out = {"reason": self.reason, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


@dataclass
class ApiError(Exception):
    """An API failure that the HTTP layer renders as a `Status` object."""

    code: int
    reason: str
    message: str
    name: str = ""
    group: str = ""
    kind: str = ""
    causes: list[Cause] = field(default_factory=list)
    retry_after: int | None = None

    def __str__(self) -> str:
        return f"{self.code} {self.reason}: {self.message}"

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [c.to_dict() for c in self.causes]
        if self.retry_after is not None:
            details["retryAfterSeconds"] = self.retry_after
        if details:
            body["details"] = details
        return body


def qualified(plural: str, group: str) -> str:
    """`deployments.apps` for grouped resources, `pods` for the core group."""
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, group: str, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{qualified(plural, group)} "{name}" not found',
                    name=name, group=group, kind=plural)


def already_exists(plural: str, group: str, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{qualified(plural, group)} "{name}" already exists',
                    name=name, group=group, kind=plural)


def conflict(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        409, "Conflict",
        f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": the object '
        "has been modified; please apply your changes to the latest version and try again",
        name=name, group=group, kind=plural)


def uid_precondition(plural: str, group: str, name: str, want: str, have: str) -> ApiError:
    return ApiError(
        409, "Conflict",
        f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": Precondition '
        f"failed: UID in precondition: {want}, UID in object meta: {have}",
        name=name, group=group, kind=plural)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed() -> ApiError:
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def forbidden(plural: str, group: str, name: str, why: str, cause: Cause | None = None) -> ApiError:
    return ApiError(403, "Forbidden", f'{qualified(plural, group)} "{name}" is forbidden: {why}',
                    name=name, group=group, kind=plural, causes=[cause] if cause else [])


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", f'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got "{content_type}")')


@dataclass
class FieldError:
    """apimachinery's field.Error: renders `<path>: <Type>: <value>: <detail>`."""

    type: str  # "Invalid value", "Required value", "Duplicate value", "Unsupported value", "Forbidden"
    field: str
    value: Any = None
    detail: str = ""
    show_value: bool = True

    @property
    def reason(self) -> str:
        return {
            "Invalid value": "FieldValueInvalid",
            "Required value": "FieldValueRequired",
            "Duplicate value": "FieldValueDuplicate",
            "Unsupported value": "FieldValueNotSupported",
            "Not found": "FieldValueNotFound",
            "Forbidden": "FieldValueForbidden",
            "Too long": "FieldValueTooLong",
        }.get(self.type, "FieldValueInvalid")

    def body(self) -> str:
        """ErrorBody(): Required/Forbidden print no value; others print it Go-style."""
        if self.type in ("Required value", "Forbidden", "Too long") or not self.show_value:
            text = self.type
        else:
            text = f"{self.type}: {go_repr(self.value)}"
        if self.detail:
            text += f": {self.detail}"
        return text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"


def invalid(kind: str, group: str, name: str, errors: list[FieldError]) -> ApiError:
    """422 Invalid: `Deployment.apps "x" is invalid: a` or `...: [a, b]` like NewInvalid."""
    qkind = f"{kind}.{group}" if group else kind
    texts = [str(e) for e in errors]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    return ApiError(
        422, "Invalid", f'{qkind} "{name}" is invalid: {joined}', name=name, group=group,
        kind=kind, causes=[Cause(e.reason, e.body(), e.field) for e in errors])


class GoType:
    """A value rendered with Go's %#v of a named type, e.g. v1.LabelSelector{...}."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def go_repr(value: Any) -> str:
    """Render a bad value as Kubernetes 1.32's field errors do (%q, %v or %#v)."""
    if isinstance(value, GoType):
        return value.text
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, dict):
        if all(isinstance(v, str) for v in value.values()):
            inner = ", ".join(f"{go_quote(k)}:{go_quote(v)}" for k, v in sorted(value.items()))
            return "map[string]string{" + inner + "}"
        return "map[string]interface {}{" + ", ".join(
            f"{go_quote(k)}:{go_repr(v)}" for k, v in sorted(value.items())) + "}"
    if isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            return "[]string{" + ", ".join(go_quote(v) for v in value) + "}"
        return "[]interface {}{" + ", ".join(go_repr(v) for v in value) + "}"
    return str(value)


def go_quote(text: str) -> str:
    """Go's %q for the printable strings that appear in manifests."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def go_label_selector(sel: dict[str, Any] | None) -> GoType:
    """%#v of a v1.LabelSelector, as in `spec.selector: Invalid value: ...: field is immutable`."""
    sel = sel or {}
    labels = sel.get("matchLabels")
    ml = go_repr(labels) if labels else "map[string]string(nil)"
    exprs = sel.get("matchExpressions")
    if exprs:
        items = ", ".join(
            "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}".format(
                go_quote(e.get("key", "")), go_quote(e.get("operator", "")),
                go_repr(e.get("values")) if e.get("values") else "[]string(nil)")
            for e in exprs)
        me = "[]v1.LabelSelectorRequirement{" + items + "}"
    else:
        me = "[]v1.LabelSelectorRequirement(nil)"
    return GoType(f"v1.LabelSelector{{MatchLabels:{ml}, MatchExpressions:{me}}}")
