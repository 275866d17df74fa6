"""What a request asks for, in the authorizer's terms — read from the URL alone.

The API server authorizes before it routes, from the path and method
(k8s.io/apiserver/pkg/endpoints/request.RequestInfoFactory), so a request for a
resource that does not exist is still refused (403) before it could be told 404; an
authorizer cannot learn from the answer what exists. This is that factory's logic.
"""

from __future__ import annotations

from collections.abc import Mapping

from labcluster.authz import Attributes, UserInfo

_VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch",
          "DELETE": "delete"}
_NAMESPACE_SUBRESOURCES = ("status", "finalize")


def attributes(user: UserInfo, method: str, path: str, query: Mapping[str, str],
               ) -> Attributes:
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] not in ("api", "apis"):
        return Attributes(user, method.lower(), False, path=path)
    need = 2 if parts[0] == "api" else 3
    if len(parts) < need:  # /api, /apis, /apis/apps: discovery, not a resource
        return Attributes(user, method.lower(), False, path=path)
    group = "" if parts[0] == "api" else parts[1]
    version = parts[need - 1]
    rest = parts[need:]
    if not rest:  # /api/v1, /apis/apps/v1: a resource list (discovery)
        return Attributes(user, method.lower(), False, path=path)
    verb = _VERBS.get(method.upper(), method.lower())
    if rest[0] == "watch":  # the old /watch/ prefix
        verb, rest = "watch", rest[1:]
    namespace = ""
    if rest and rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0] if rest else ""
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if not name and verb == "get":
        verb = "list"
    if verb == "list" and query.get("watch") in ("true", "1"):
        verb = "watch"
    if verb in ("list", "watch") and not name:
        # a list or watch of one object by field selector is authorized as that object
        for term in (query.get("fieldSelector") or "").split(","):
            key, eq, value = term.partition("=")
            if eq and key.strip() == "metadata.name" and not value.startswith("="):
                name = value.strip()
    if verb == "delete" and not name:
        verb = "deletecollection"
    return Attributes(user, verb, True, namespace, group, version, resource, subresource, name)
