"""Decode the protobuf bodies `kubectl create <thing>` sends, into the JSON the API takes.

kubectl's typed clients POST `application/vnd.kubernetes.protobuf` (magic `k8s\\0` + a
runtime.Unknown wrapping the object) and do not fall back to JSON on a 415. We decode the
kinds its generators make (namespace, configmap, secret, serviceaccount, service,
deployment, job, poddisruptionbudget, horizontalpodautoscaler) with a field table per
message (proto field numbers of k8s.io/api, which never change); a field we do not know is
a 415, never silently dropped.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from .errors import ApiError

MAGIC = b"k8s\x00"

# message -> {field number: (json name, type, repeated)}; types: str, int, bool, bytes,
# map (string->string), bmap (string->bytes), qmap (string->Quantity), time, ios
# (IntOrString), or another message name; a trailing * marks a pointer field in Go, whose
# zero value (replicas: 0) is kept.
S, INT, B = "str", "int", "bool"
MESSAGES: dict[str, dict[int, tuple[str, str, bool]]] = {
    "Unknown": {1: ("typeMeta", "TypeMeta", False), 2: ("raw", "bytes", False),
                3: ("contentEncoding", S, False), 4: ("contentType", S, False)},
    "TypeMeta": {1: ("apiVersion", S, False), 2: ("kind", S, False)},
    "ObjectMeta": {1: ("name", S, False), 2: ("generateName", S, False),
                   3: ("namespace", S, False), 5: ("uid", S, False),
                   6: ("resourceVersion", S, False), 7: ("generation", INT, False),
                   8: ("creationTimestamp", "time", False), 11: ("labels", "map", False),
                   12: ("annotations", "map", False), 14: ("finalizers", S, True)},
    "Namespace": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "NamespaceSpec", False),
                  3: ("status", "Empty", False)},
    "NamespaceSpec": {1: ("finalizers", S, True)},
    "ConfigMap": {1: ("metadata", "ObjectMeta", False), 2: ("data", "map", False),
                  3: ("binaryData", "bmap", False), 4: ("immutable", "bool*", False)},
    "Secret": {1: ("metadata", "ObjectMeta", False), 2: ("data", "bmap", False),
               3: ("type", S, False), 4: ("stringData", "map", False),
               5: ("immutable", "bool*", False)},
    "ServiceAccount": {1: ("metadata", "ObjectMeta", False),
                       3: ("imagePullSecrets", "LocalObjectReference", True),
                       4: ("automountServiceAccountToken", "bool*", False)},
    "LocalObjectReference": {1: ("name", S, False)},
    "Service": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "ServiceSpec", False),
                3: ("status", "Empty", False)},
    "ServiceSpec": {1: ("ports", "ServicePort", True), 2: ("selector", "map", False),
                    3: ("clusterIP", S, False), 4: ("type", S, False),
                    5: ("externalIPs", S, True), 7: ("sessionAffinity", S, False),
                    10: ("externalName", S, False)},
    "ServicePort": {1: ("name", S, False), 2: ("protocol", S, False), 3: ("port", INT, False),
                    4: ("targetPort", "ios", False), 5: ("nodePort", INT, False)},
    "Deployment": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "DeploymentSpec", False),
                   3: ("status", "Empty", False)},
    "DeploymentSpec": {1: ("replicas", "int*", False), 2: ("selector", "LabelSelector", False),
                       3: ("template", "PodTemplateSpec", False),
                       4: ("strategy", "Empty", False)},
    "Job": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "JobSpec", False),
            3: ("status", "Empty", False)},
    "JobSpec": {1: ("parallelism", "int*", False), 2: ("completions", "int*", False),
                3: ("activeDeadlineSeconds", "int*", False),
                4: ("selector", "LabelSelector", False), 5: ("manualSelector", "bool*", False),
                6: ("template", "PodTemplateSpec", False), 7: ("backoffLimit", "int*", False),
                8: ("ttlSecondsAfterFinished", "int*", False),
                9: ("completionMode", "str*", False), 10: ("suspend", "bool*", False)},
    "LabelSelector": {1: ("matchLabels", "map", False)},
    "PodTemplateSpec": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "PodSpec", False)},
    "PodSpec": {2: ("containers", "Container", True), 3: ("restartPolicy", S, False)},
    "Container": {1: ("name", S, False), 2: ("image", S, False), 3: ("command", S, True),
                  4: ("args", S, True), 6: ("ports", "ContainerPort", True),
                  8: ("resources", "ResourceRequirements", False)},
    "ContainerPort": {1: ("name", S, False), 3: ("containerPort", INT, False),
                      4: ("protocol", S, False)},
    "ResourceRequirements": {1: ("limits", "qmap", False), 2: ("requests", "qmap", False)},
    "Empty": {},
    # authorization.k8s.io/v1 and authentication.k8s.io/v1: what `kubectl auth` posts
    "SelfSubjectAccessReview": {1: ("metadata", "ObjectMeta", False),
                                2: ("spec", "SelfSubjectAccessReviewSpec", False),
                                3: ("status", "Empty", False)},
    "SelfSubjectAccessReviewSpec": {1: ("resourceAttributes", "ResourceAttributes", False),
                                    2: ("nonResourceAttributes", "NonResourceAttributes",
                                        False)},
    "ResourceAttributes": {1: ("namespace", S, False), 2: ("verb", S, False),
                           3: ("group", S, False), 4: ("version", S, False),
                           5: ("resource", S, False), 6: ("subresource", S, False),
                           7: ("name", S, False)},
    "NonResourceAttributes": {1: ("path", S, False), 2: ("verb", S, False)},
    "SubjectAccessReview": {1: ("metadata", "ObjectMeta", False),
                            2: ("spec", "SubjectAccessReviewSpec", False),
                            3: ("status", "Empty", False)},
    "SubjectAccessReviewSpec": {1: ("resourceAttributes", "ResourceAttributes", False),
                                2: ("nonResourceAttributes", "NonResourceAttributes", False),
                                3: ("user", S, False), 4: ("groups", S, True),
                                6: ("uid", S, False)},
    "SelfSubjectRulesReview": {1: ("metadata", "ObjectMeta", False),
                               2: ("spec", "SelfSubjectRulesReviewSpec", False),
                               3: ("status", "Empty", False)},
    "SelfSubjectRulesReviewSpec": {1: ("namespace", S, False)},
    # status is the server's to fill (and dropped): its empty UserInfo is not decoded
    "SelfSubjectReview": {1: ("metadata", "ObjectMeta", False), 2: ("status", "bytes", False)},
    # kubectl create poddisruptionbudget
    "PodDisruptionBudget": {1: ("metadata", "ObjectMeta", False),
                            2: ("spec", "PodDisruptionBudgetSpec", False),
                            3: ("status", "Empty", False)},
    "PodDisruptionBudgetSpec": {1: ("minAvailable", "ios", False),
                                2: ("selector", "LabelSelector", False),
                                3: ("maxUnavailable", "ios", False),
                                4: ("unhealthyPodEvictionPolicy", S, False)},
}
KINDS = {"Namespace", "PodDisruptionBudget", "ConfigMap", "Secret", "ServiceAccount", "Service", "Deployment", "Job",
         "SelfSubjectAccessReview", "SubjectAccessReview", "SelfSubjectRulesReview",
         "SelfSubjectReview"}
MESSAGES["LocalSubjectAccessReview"] = MESSAGES["SubjectAccessReview"]
KINDS.add("LocalSubjectAccessReview")
# `kubectl create token` (authentication/v1) and `kubectl create role|clusterrole|
# rolebinding|clusterrolebinding` (rbac/v1)
MESSAGES.update({
    "TokenRequest": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "TokenRequestSpec", False),
                     3: ("status", "Empty", False)},
    "TokenRequestSpec": {1: ("audiences", S, True), 3: ("boundObjectRef", "BoundObjectReference",
                                                        False),
                         4: ("expirationSeconds", "int*", False)},
    "BoundObjectReference": {1: ("kind", S, False), 2: ("apiVersion", S, False),
                             3: ("name", S, False), 4: ("uid", S, False)},
    "PolicyRule": {1: ("verbs", S, True), 2: ("apiGroups", S, True), 3: ("resources", S, True),
                   4: ("resourceNames", S, True), 5: ("nonResourceURLs", S, True)},
    "Role": {1: ("metadata", "ObjectMeta", False), 2: ("rules", "PolicyRule", True)},
    "ClusterRole": {1: ("metadata", "ObjectMeta", False), 2: ("rules", "PolicyRule", True),
                    3: ("aggregationRule", "AggregationRule", False)},
    "AggregationRule": {1: ("clusterRoleSelectors", "LabelSelector", True)},
    "RbacSubject": {1: ("kind", S, False), 2: ("apiGroup", S, False), 3: ("name", S, False),
                    4: ("namespace", S, False)},
    "RoleRef": {1: ("apiGroup", S, False), 2: ("kind", S, False), 3: ("name", S, False)},
    "RoleBinding": {1: ("metadata", "ObjectMeta", False), 2: ("subjects", "RbacSubject", True),
                    3: ("roleRef", "RoleRef", False)},
})
MESSAGES["ClusterRoleBinding"] = MESSAGES["RoleBinding"]
KINDS.update({"TokenRequest", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"})
# `kubectl autoscale` (autoscaling/v1; k8s.io/api/autoscaling/v1/generated.proto)
MESSAGES.update({
    "HorizontalPodAutoscaler": {1: ("metadata", "ObjectMeta", False),
                                2: ("spec", "HorizontalPodAutoscalerSpec", False),
                                3: ("status", "Empty", False)},
    "HorizontalPodAutoscalerSpec": {1: ("scaleTargetRef", "CrossVersionObjectReference", False),
                                    2: ("minReplicas", "int*", False),
                                    3: ("maxReplicas", INT, False),
                                    4: ("targetCPUUtilizationPercentage", "int*", False)},
    "CrossVersionObjectReference": {1: ("kind", S, False), 2: ("name", S, False),
                                    3: ("apiVersion", S, False)},
})
KINDS.add("HorizontalPodAutoscaler")


class _Unsupported(Exception):
    pass


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if i >= len(buf):
            raise _Unsupported("truncated varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int, Any]]:
    out = []
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i:i + n], i + n
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise _Unsupported(f"wire type {wire}")
        out.append((num, wire, value))
    return out


def _message(name: str, buf: bytes) -> dict[str, Any]:
    table = MESSAGES[name]
    out: dict[str, Any] = {}
    for num, _wire, value in _fields(buf):
        if num not in table:
            if value in (b"", 0):
                continue  # gogo encodes unset non-pointer fields: nothing is lost
            raise _Unsupported(f"field {num} of {name}")
        key, typ, repeated = table[num]
        decoded = _value(typ.rstrip("*"), value)
        if not repeated and not typ.endswith("*") and decoded in ("", 0, False, None):
            continue  # Go's zero value means unset, so defaulting still applies
        if typ in ("map", "bmap", "qmap"):
            out.setdefault(key, {}).update(decoded)
        elif repeated:
            out.setdefault(key, []).append(decoded)
        else:
            out[key] = decoded
    return out


def _value(typ: str, value: Any) -> Any:
    if typ == S:
        return value.decode()
    if typ == INT:
        return value - (1 << 64) if value >= 1 << 63 else value
    if typ == B:
        return bool(value)
    if typ == "bytes":
        return value
    if typ in ("map", "bmap", "qmap"):
        entry = {n: v for n, _w, v in _fields(value)}
        k = entry.get(1, b"").decode()
        v = entry.get(2, b"")
        if typ == "map":
            return {k: v.decode()}
        if typ == "bmap":
            return {k: base64.b64encode(v).decode()}
        return {k: {n: x for n, _w, x in _fields(v)}.get(1, b"").decode()}  # Quantity.string
    if typ == "time":
        parts = {n: v for n, _w, v in _fields(value)}
        if not parts.get(1):
            return None
        return datetime.fromtimestamp(parts[1], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if typ == "ios":
        parts = {n: v for n, _w, v in _fields(value)}
        return parts.get(3, b"").decode() if parts.get(1) == 1 else parts.get(2, 0)
    return _message(typ, value)


def decode(body: bytes) -> dict[str, Any]:
    """A kubectl protobuf body → the object as JSON; 415 for anything we cannot map."""
    try:
        if not body.startswith(MAGIC):
            raise _Unsupported("no k8s protobuf magic")
        unknown = _message("Unknown", body[len(MAGIC):])
        tm = unknown.get("typeMeta") or {}
        kind = tm.get("kind", "")
        if kind not in KINDS or unknown.get("contentEncoding"):
            raise _Unsupported(f"kind {kind or '?'}")
        obj = _message(kind, unknown.get("raw", b""))
    except (_Unsupported, UnicodeDecodeError, IndexError) as exc:
        raise ApiError(415, "UnsupportedMediaType",
                       "the body of the request was in an unknown format - accepted media types "
                       f"include: application/json, application/yaml (labcluster decodes protobuf "
                       f"only for what `kubectl create` makes; {exc}: use `kubectl apply -f`)"
                       ) from None
    obj.pop("status", None)
    return {"apiVersion": tm.get("apiVersion", ""), "kind": kind, **obj}
