"""Hostile bodies get the Status a real API server sends, never a 500 or a traceback.

Nesting past the decoders' limit (JSON, YAML; create, update, every patch type, apply),
ConfigMap/Secret values over 1 MiB (422 Invalid) and bodies over 3 MiB (413). Deep bodies
are sent as raw bytes: the client's own json.dumps would recurse on them.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from kube_helpers import status_body
from kubernetes import client

pytestmark = pytest.mark.cluster

# deeper than every decoder's limit: upstream's 10,000 and labcluster's decoding.MAX_DEPTH
VERY_DEEP = 20_000
MIB = 1024 * 1024


def _auth(kube_api: client.ApiClient) -> str:
    return kube_api.configuration.auth_settings()["BearerToken"]["value"]


def _raw(kube_api: client.ApiClient, method: str, path: str, body: bytes,
         content_type: str = "application/json") -> tuple[int, dict[str, Any]]:
    """Send `body` as is (urllib3 of the client, with its TLS and token)."""
    headers = {"Content-Type": content_type, "Accept": "application/json",
               "Authorization": _auth(kube_api)}
    resp = kube_api.rest_client.pool_manager.request(
        method, kube_api.configuration.host + path, body=body, headers=headers, timeout=60)
    return resp.status, json.loads(resp.data or b"{}")


def _nested_json(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def _server_log_has_no_traceback(kube_target) -> None:
    if kube_target.home is not None:
        log = Path(kube_target.home, "server.log").read_text(errors="replace")
        assert "Traceback" not in log and "maximum recursion depth" not in log


def _bad_request(code: int, body: dict[str, Any]) -> None:
    assert (code, body.get("kind"), body.get("reason")) == (400, "Status", "BadRequest"), body
    assert "exceeded max depth" in body["message"]


@pytest.fixture
def cm_path(kube_core, kube_ns) -> str:
    kube_core.create_namespaced_config_map(kube_ns, {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "base"},
        "data": {"a": "1"}})
    return f"/api/v1/namespaces/{kube_ns}/configmaps"


def test_deep_json_is_a_400_on_create_update_and_every_patch(kube_api, kube_core, kube_ns,
                                                             kube_target, cm_path):
    deep = _nested_json(VERY_DEEP)
    obj = ('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"%s"},"x":' + deep
           + "}")
    _bad_request(*_raw(kube_api, "POST", cm_path, (obj % "deep").encode()))
    _bad_request(*_raw(kube_api, "PUT", f"{cm_path}/base", (obj % "base").encode()))
    for ctype in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
        _bad_request(*_raw(kube_api, "PATCH", f"{cm_path}/base",
                           ('{"data":' + deep + "}").encode(), ctype))
    _bad_request(*_raw(kube_api, "PATCH", f"{cm_path}/base",
                       ('[{"op":"add","path":"/metadata/labels","value":' + deep + "}]")
                       .encode(), "application/json-patch+json"))
    # JSON is YAML: an apply body gets the same answer
    _bad_request(*_raw(kube_api, "PATCH", f"{cm_path}/deep?fieldManager=t",
                       (obj % "deep").encode(), "application/apply-patch+yaml"))
    names = [cm.metadata.name for cm in kube_core.list_namespaced_config_map(kube_ns).items]
    assert "deep" not in names
    assert kube_core.read_namespaced_config_map("base", kube_ns).data == {"a": "1"}
    _server_log_has_no_traceback(kube_target)


def test_deep_yaml_apply_is_a_400(kube_api, kube_core, kube_ns, kube_target, cm_path):
    flow = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\nx: "
            + "{a: " * VERY_DEEP + "1" + "}" * VERY_DEEP + "\n")
    _bad_request(*_raw(kube_api, "PATCH", f"{cm_path}/deep?fieldManager=t", flow.encode(),
                       "application/apply-patch+yaml"))
    if kube_target.home is not None:
        # block style, past Python's recursion limit (upstream's limit is 10,000 levels;
        # labcluster's is decoding.MAX_DEPTH)
        depth = 1200
        block = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\nx:\n"
                 + "".join(" " * (i + 1) + "a:\n" for i in range(depth))
                 + " " * (depth + 1) + "1\n")
        _bad_request(*_raw(kube_api, "PATCH", f"{cm_path}/deep?fieldManager=t",
                           block.encode(), "application/apply-patch+yaml"))
        # aliases nest without the text showing it: a 90-deep &n used 10 levels down
        alias = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\nx:\n"
                 "  a: &n " + "[" * 90 + "]" * 90 + "\n"
                 "  b: " + "[" * 10 + "*n" + "]" * 10 + "\n")
        _bad_request(*_raw(kube_api, "PATCH", f"{cm_path}/deep?fieldManager=t",
                           alias.encode(), "application/apply-patch+yaml"))
    names = [cm.metadata.name for cm in kube_core.list_namespaced_config_map(kube_ns).items]
    assert "deep" not in names
    _server_log_has_no_traceback(kube_target)


def test_json_patch_cannot_nest_a_document_past_the_limit(kube_api, kube_target, cm_path):
    """A `copy` puts a stored node under a path: each op must keep the document within
    the limit, or the next step would recurse into it."""
    if kube_target.home is None:
        pytest.skip("labcluster's depth limit (a real server's is 10,000 levels)")
    value = json.loads(_nested_json(60))
    ops = [{"op": "add", "path": "/metadata/annotations", "value": {}},
           {"op": "add", "path": "/metadata/annotations/m", "value": value},
           {"op": "copy", "from": "/metadata/annotations/m",
            "path": "/metadata/annotations/m" + "/a" * 50 + "/b"}]
    code, body = _raw(kube_api, "PATCH", f"{cm_path}/base", json.dumps(ops).encode(),
                      "application/json-patch+json")
    _bad_request(code, body)
    _server_log_has_no_traceback(kube_target)


def test_json_patch_copies_and_operations_are_bounded(kube_api, kube_core, kube_ns,
                                                     kube_target, cm_path):
    """A small patch can grow a document without bound (a `copy` of a node into its own
    parent doubles it): copies may add 3 MiB in all (JSONPatchMaxCopyBytes), and a patch
    may hold 10,000 operations. Here 40 copies of 100 KiB, linear, so that the previous
    code (which stored all 4 MB) is not asked for the doubling's gigabytes."""
    blob = "x" * (100 * 1024)
    ops = [{"op": "add", "path": "/metadata/annotations", "value": {"a": blob}}] + [
        {"op": "copy", "from": "/metadata/annotations/a", "path": f"/metadata/annotations/c{i}"}
        for i in range(40)]
    code, body = _raw(kube_api, "PATCH", f"{cm_path}/base", json.dumps(ops).encode(),
                      "application/json-patch+json")
    assert (code, body["reason"]) == (422, "Invalid"), body
    assert "accumulated size increase of copy" in body["message"]
    ops = [{"op": "test", "path": "/data/a", "value": "1"}] * 10001
    code, body = _raw(kube_api, "PATCH", f"{cm_path}/base", json.dumps(ops).encode(),
                      "application/json-patch+json")
    assert (code, body["reason"]) == (413, "RequestEntityTooLarge"), body
    assert body["message"] == ("Request entity too large: The allowed maximum operations in a "
                               "JSON patch is 10000, got 10001")
    cm = kube_core.read_namespaced_config_map("base", kube_ns)
    assert cm.data == {"a": "1"} and not cm.metadata.annotations
    _server_log_has_no_traceback(kube_target)


def test_deep_but_legal_objects_below_the_limit_work(kube_api, kube_core, kube_ns, kube_target,
                                                    cm_path):
    """At exactly the limit a body is accepted (here: an unknown field, dropped with a
    warning as fieldValidation=Warn does); one level more is refused."""
    if kube_target.home is None:
        pytest.skip("labcluster's depth limit (a real server's is 10,000 levels)")
    from labcluster.decoding import MAX_DEPTH

    def body(name: str, depth: int) -> bytes:
        # the object itself is level 1
        return ('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"' + name + '"},'
                '"data":{"k":"v"},"x":' + _nested_json(depth - 1) + "}").encode()

    code, created = _raw(kube_api, "POST", cm_path, body("at-limit", MAX_DEPTH))
    assert code == 201, created
    assert created["data"] == {"k": "v"} and "x" not in created
    _bad_request(*_raw(kube_api, "POST", cm_path, body("past-limit", MAX_DEPTH + 1)))
    yaml_body = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\n"
                 "data:\n  k: v\nx:\n"
                 + "".join(" " * (i + 1) + "a:\n" for i in range(MAX_DEPTH - 2))
                 + " " * MAX_DEPTH + "1\n")
    code, applied = _raw(kube_api, "PATCH", f"{cm_path}/applied?fieldManager=t",
                         yaml_body.encode(), "application/apply-patch+yaml")
    assert code == 201, applied
    merge = '{"metadata":{"labels":{"b":"2"}},"x":' + _nested_json(MAX_DEPTH - 1) + "}"
    code, patched = _raw(kube_api, "PATCH", f"{cm_path}/base", merge.encode(),
                         "application/merge-patch+json")
    assert code == 200 and patched["metadata"]["labels"] == {"b": "2"}, patched
    _server_log_has_no_traceback(kube_target)


def _fails(fn, *args) -> tuple[int, dict[str, Any]]:
    with pytest.raises(client.ApiException) as err:
        fn(*args)
    return err.value.status, status_body(err.value)


def test_configmap_over_1mib_is_invalid_and_not_stored(kube_core, kube_ns):
    too_big = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
               "data": {"blob": "x" * (2 * MIB)}}
    code, body = _fails(kube_core.create_namespaced_config_map, kube_ns, too_big)
    assert (code, body["reason"]) == (422, "Invalid")
    assert body["message"] == ('ConfigMap "big" is invalid: []: Too long: must have at most '
                               "1048576 bytes")
    assert body["details"]["causes"] == [{"reason": "FieldValueTooLong", "field": "[]",
                                          "message": "Too long: must have at most 1048576 bytes"}]
    # data and binaryData count together (binaryData decoded)
    half = 600 * 1024
    mixed = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
             "data": {"a": "x" * half},
             "binaryData": {"b": base64.b64encode(b"\0" * half).decode()}}
    assert _fails(kube_core.create_namespaced_config_map, kube_ns, mixed)[0] == 422
    assert kube_core.list_namespaced_config_map(
        kube_ns, field_selector="metadata.name=big").items == []
    # exactly 1 MiB is allowed; growing it by update or patch is not
    kube_core.create_namespaced_config_map(kube_ns, {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
        "data": {"blob": "x" * MIB}})
    code, body = _fails(kube_core.patch_namespaced_config_map, "big", kube_ns,
                        {"data": {"more": "y"}})
    assert (code, body["reason"]) == (422, "Invalid")
    code, _ = _fails(kube_core.replace_namespaced_config_map, "big", kube_ns, too_big)
    assert code == 422
    assert kube_core.read_namespaced_config_map("big", kube_ns).data == {"blob": "x" * MIB}


def test_secret_over_1mib_is_invalid_and_not_stored(kube_core, kube_ns):
    code, body = _fails(kube_core.create_namespaced_secret, kube_ns, {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "big"},
        "data": {"blob": base64.b64encode(b"s" * (2 * MIB)).decode()}})
    assert (code, body["reason"]) == (422, "Invalid")
    assert body["message"] == ('Secret "big" is invalid: data: Too long: must have at most '
                               "1048576 bytes")
    # stringData is merged into data before validation
    code, _ = _fails(kube_core.create_namespaced_secret, kube_ns, {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "big"},
        "data": {"a": base64.b64encode(b"s" * (MIB // 2 + 1)).decode()},
        "stringData": {"b": "s" * (MIB // 2)}})
    assert code == 422
    assert kube_core.list_namespaced_secret(
        kube_ns, field_selector="metadata.name=big").items == []


def test_body_over_3mib_is_request_entity_too_large(kube_api, kube_core, kube_ns, kube_target):
    code, body = _fails(kube_core.create_namespaced_config_map, kube_ns, {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "huge"},
        "data": {"blob": "x" * (4 * MIB)}})
    assert (code, body["reason"]) == (413, "RequestEntityTooLarge")
    assert body["message"] == "Request entity too large: limit is 3145728"
    # the same without a Content-Length (chunked): counted while read
    path = f"/api/v1/namespaces/{kube_ns}/configmaps"
    chunks = iter([b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"huge"},'
                   b'"data":{"blob":"'] + [b"x" * MIB] * 4 + [b'"}}'])
    cfg = kube_api.configuration
    resp = kube_api.rest_client.pool_manager.request(
        "POST", cfg.host + path, body=chunks, chunked=True, timeout=60,
        headers={"Content-Type": "application/json",
                 "Authorization": _auth(kube_api)})
    assert resp.status == 413 and json.loads(resp.data)["reason"] == "RequestEntityTooLarge"
    assert kube_core.list_namespaced_config_map(
        kube_ns, field_selector="metadata.name=huge").items == []
    _server_log_has_no_traceback(kube_target)
