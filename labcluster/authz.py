"""Who is asking and what they may do: the access-review APIs `kubectl auth can-i` and
`kubectl auth whoami` call.

Callers are the admin (the kubeconfig's token; cluster-admin, as kind's and kubeadm's
admin kubeconfig) or a ServiceAccount (satokens.py), and `kubectl --as` impersonates
when the caller may. The auth middleware (httpapi.py) stores the caller's `UserInfo` on
the request and asks the `Authorizer` (rbac.py) before any route runs; the reviews ask
the same one.

Served (create only, as on a real API server):
authorization.k8s.io/v1 SelfSubjectAccessReview, SubjectAccessReview,
LocalSubjectAccessReview, SelfSubjectRulesReview; authentication.k8s.io/v1
SelfSubjectReview.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

from labcluster import protobuf
from labcluster.errors import ApiError, FieldError, invalid
from labcluster.registry import AUTHN, AUTHZ


@dataclass(frozen=True)
class UserInfo:
    username: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: dict[str, list[str]] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {"username": self.username, "groups": list(self.groups)}
        if self.uid:
            out["uid"] = self.uid
        if self.extra:
            out["extra"] = self.extra
        return out


# where the auth middleware leaves the caller (a typed key where aiohttp has them, 3.12+)
USER_KEY: Any = (web.RequestKey("labcluster.user", UserInfo) if hasattr(web, "RequestKey")
                 else "labcluster.user")

# the identity kubeadm/kind give their admin kubeconfig
ADMIN = UserInfo("kubernetes-admin", ("kubeadm:cluster-admins", "system:authenticated"))
# the group the API server never authorizes (allowed everything, whatever RBAC holds)
SUPERUSER_GROUP = "system:masters"


def impersonated(headers: Mapping[str, str]) -> UserInfo | None:
    """`kubectl --as=USER [--as-group=G] [--as-uid=U]`: the Impersonate-* headers. The
    admin may impersonate anyone (cluster-admin has the `impersonate` verb), so the
    request then runs as that user, with system:authenticated added as the API server
    adds it. Only the reviews look at the user today (see README, known differences)."""
    user = headers.get("Impersonate-User", "")
    if not user:
        return None
    getall = getattr(headers, "getall", None)
    groups = list(getall("Impersonate-Group", [])) if getall else \
        [g for g in [headers.get("Impersonate-Group")] if g]
    if "system:authenticated" not in groups and not user.startswith("system:anonymous"):
        groups.append("system:authenticated")
    return UserInfo(user, tuple(groups), headers.get("Impersonate-Uid", ""))


@dataclass(frozen=True)
class Attributes:
    """What is being asked: a resource request (verb on group/resource[/subresource]
    [name] in namespace) or a non-resource one (verb on path)."""

    user: UserInfo
    verb: str
    resource_request: bool = True
    namespace: str = ""
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""


def impersonation_checks(real: UserInfo, as_user: UserInfo) -> list[Attributes]:
    """What ``real`` must be allowed to impersonate ``as_user`` (its user or
    ServiceAccount, each added group, its uid), as the impersonation filter asks."""
    prefix = "system:serviceaccount:"
    if as_user.username.startswith(prefix) and as_user.username.count(":") == 3:
        ns, name = as_user.username[len(prefix):].split(":")
        checks = [Attributes(real, "impersonate", True, ns, "", "v1", "serviceaccounts",
                             name=name)]
    else:
        checks = [Attributes(real, "impersonate", True, "", "", "v1", "users",
                             name=as_user.username)]
    checks += [Attributes(real, "impersonate", True, "", "", "v1", "groups", name=g)
               for g in as_user.groups if g != "system:authenticated"]
    if as_user.uid:
        checks.append(Attributes(real, "impersonate", True, "", "authentication.k8s.io",
                                 "v1", "uids", name=as_user.uid))
    return checks


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""
    denied: bool = False  # an explicit deny (RBAC never says this; webhooks may)
    evaluation_error: str = ""


class Authorizer(Protocol):
    def authorize(self, attrs: Attributes) -> Decision: ...

    def rules_for(self, user: UserInfo, namespace: str) -> dict[str, Any]:
        """SelfSubjectRulesReview's status: resourceRules, nonResourceRules,
        incomplete (the `kubectl auth can-i --list` table)."""
        ...


def _invalid(kind: str, field_path: str, message: str, value: Any = "") -> ApiError:
    return invalid(kind, AUTHZ, "", [FieldError("Invalid value", field_path, value, message)])


class ReviewRoutes:
    """POST handlers for the reviews; every other verb is 405 as the API server says."""

    def __init__(self, authorizer: Authorizer) -> None:
        self.authorizer = authorizer

    def routes(self) -> list[web.AbstractRouteDef]:
        base = f"/apis/{AUTHZ}/v1"
        return [
            web.route("*", f"{base}/selfsubjectaccessreviews", self.self_access),
            web.route("*", f"{base}/subjectaccessreviews", self.subject_access),
            web.route("*", f"{base}/namespaces/{{namespace}}/localsubjectaccessreviews",
                      self.local_access),
            web.route("*", f"{base}/selfsubjectrulesreviews", self.self_rules),
            web.route("*", f"/apis/{AUTHN}/v1/selfsubjectreviews", self.self_review),
        ]

    @staticmethod
    async def _body(request: web.Request, kind: str, group: str) -> dict[str, Any]:
        if request.method != "POST":
            raise ApiError(405, "MethodNotAllowed",
                           "the server does not allow this method on the requested resource")
        raw = await request.read()
        if request.content_type == "application/vnd.kubernetes.protobuf":
            body: Any = protobuf.decode(raw)  # kubectl's typed client posts protobuf
        else:
            try:
                body = json.loads(raw or b"{}")
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ApiError(400, "BadRequest", "the body of the request could not be "
                               f"decoded as JSON: {exc}") from None
        if not isinstance(body, dict) or body.get("kind", kind) != kind:
            raise ApiError(400, "BadRequest", f"the body of the request is not a {kind}")
        if body.get("apiVersion", f"{group}/v1") != f"{group}/v1":
            raise ApiError(400, "BadRequest", f"{kind} must be {group}/v1, got "
                           f"{body.get('apiVersion')}")
        return body

    def _review(self, body: dict[str, Any], kind: str, user: UserInfo,
                namespace: str | None = None) -> web.Response:
        spec = body.get("spec") or {}
        res, non = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
        if (res is None) == (non is None):
            raise _invalid(kind, "spec.resourceAttributes", "exactly one of "
                           "nonResourceAttributes or resourceAttributes must be specified",
                           res)
        if namespace is not None and (res or {}).get("namespace", "") != namespace:
            raise _invalid(kind, "spec.resourceAttributes.namespace",
                           "must match metadata.namespace", (res or {}).get("namespace", ""))
        if res is not None:
            attrs = Attributes(user, res.get("verb", ""), True, res.get("namespace", ""),
                               res.get("group", ""), res.get("version", ""),
                               res.get("resource", ""), res.get("subresource", ""),
                               res.get("name", ""))
        else:
            attrs = Attributes(user, non.get("verb", ""), False, path=non.get("path", ""))
        decision = self.authorizer.authorize(attrs)
        status: dict[str, Any] = {"allowed": decision.allowed}
        for key, value in (("denied", decision.denied), ("reason", decision.reason),
                           ("evaluationError", decision.evaluation_error)):
            if value:
                status[key] = value
        meta = {**(body.get("metadata") or {}), "creationTimestamp": None}
        if namespace is not None:
            meta["namespace"] = namespace
        return web.json_response({"kind": kind, "apiVersion": f"{AUTHZ}/v1", "metadata": meta,
                                  "spec": spec, "status": status}, status=201)

    async def self_access(self, request: web.Request) -> web.Response:
        body = await self._body(request, "SelfSubjectAccessReview", AUTHZ)
        return self._review(body, "SelfSubjectAccessReview", request[USER_KEY])

    async def subject_access(self, request: web.Request) -> web.Response:
        body = await self._body(request, "SubjectAccessReview", AUTHZ)
        return self._review(body, "SubjectAccessReview", self._subject(body,
                                                                        "SubjectAccessReview"))

    async def local_access(self, request: web.Request) -> web.Response:
        body = await self._body(request, "LocalSubjectAccessReview", AUTHZ)
        kind = "LocalSubjectAccessReview"
        return self._review(body, kind, self._subject(body, kind),
                            request.match_info["namespace"])

    @staticmethod
    def _subject(body: dict[str, Any], kind: str) -> UserInfo:
        spec = body.get("spec") or {}
        if not spec.get("user") and not spec.get("groups"):
            raise _invalid(kind, "spec.user", "at least one of user or group must be "
                           "specified")
        return UserInfo(spec.get("user", ""), tuple(spec.get("groups") or ()),
                        spec.get("uid", ""), spec.get("extra") or {})

    async def self_rules(self, request: web.Request) -> web.Response:
        body = await self._body(request, "SelfSubjectRulesReview", AUTHZ)
        spec = body.get("spec") or {}
        status = self.authorizer.rules_for(request[USER_KEY], spec.get("namespace", ""))
        return web.json_response({"kind": "SelfSubjectRulesReview", "apiVersion": f"{AUTHZ}/v1",
                                  "metadata": {"creationTimestamp": None}, "spec": spec,
                                  "status": status}, status=201)

    async def self_review(self, request: web.Request) -> web.Response:
        await self._body(request, "SelfSubjectReview", AUTHN)
        return web.json_response({"kind": "SelfSubjectReview", "apiVersion": f"{AUTHN}/v1",
                                  "metadata": {"creationTimestamp": None},
                                  "status": {"userInfo": request[USER_KEY].to_api()}},
                                 status=201)
