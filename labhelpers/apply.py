"""Server-side apply through the official client's ``ApiClient.call_api`` — the same
request ``kubectl apply --server-side`` sends, on any cluster."""

from __future__ import annotations

import json
from typing import Any

from kubernetes import client

from labhelpers.errors import LabError

FIELD_MANAGER = "labhelpers"


class ApplyError(LabError, RuntimeError):
    """The API server rejected an object; the message is the server's own."""

    def __init__(self, ref: str, code: int, reason: str, message: str) -> None:
        super().__init__(f"{ref} rejected by the API server ({code} {reason}): {message}")
        self.ref, self.code, self.reason, self.server_message = ref, code, reason, message


def request(api: client.ApiClient, method: str, path: str, body: Any = None,
            content_type: str = "application/json", query: list | None = None,
            timeout: float | None = 30) -> tuple[int, dict[str, str], bytes]:
    """One raw request (the generated methods cannot send apply patches or proxy bodies)."""
    serialized = api.param_serialize(
        method, path, query_params=query or [], body=body, auth_settings=["BearerToken"],
        header_params={"Content-Type": content_type, "Accept": "application/json, */*"},
    )
    resp = api.call_api(*serialized, _request_timeout=timeout)
    return resp.status, dict(resp.getheaders()), resp.read()


def status_message(raw: bytes) -> tuple[str, str]:
    """(reason, message) of a Kubernetes Status body, or the raw text."""
    try:
        st = json.loads(raw)
        return st.get("reason", ""), st.get("message", raw.decode(errors="replace"))
    except ValueError:
        return "", raw.decode(errors="replace")


class Resources:
    """kind → URL path pieces, from the server's discovery (cached per apiVersion)."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self._cache: dict[str, dict[str, tuple[str, bool]]] = {}

    def lookup(self, api_version: str, kind: str) -> tuple[str, str, bool]:
        """(base path, plural, namespaced) for a kind."""
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        if api_version not in self._cache:
            code, _, raw = request(self.api, "GET", base)
            if code != 200:
                raise ApplyError(f"{api_version}", code, "NotFound", "API version not served")
            self._cache[api_version] = {
                r["kind"]: (r["name"], r["namespaced"])
                for r in json.loads(raw)["resources"] if "/" not in r["name"]
            }
        if kind not in self._cache[api_version]:
            raise ApplyError(kind, 404, "NotFound", f"kind {kind} is not served in {api_version}")
        plural, namespaced = self._cache[api_version][kind]
        return base, plural, namespaced

    def path(self, obj: dict[str, Any], with_name: bool = True) -> str:
        base, plural, namespaced = self.lookup(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        ns = f"/namespaces/{meta['namespace']}" if namespaced and meta.get("namespace") else ""
        return f"{base}{ns}/{plural}" + (f"/{meta['name']}" if with_name else "")


def apply_one(resources: Resources, obj: dict[str, Any]) -> dict[str, Any]:
    """PATCH with ``application/apply-patch+yaml`` (JSON is YAML), forced, as labhelpers."""
    query = [("fieldManager", FIELD_MANAGER), ("force", "true")]
    code, _, raw = request(resources.api, "PATCH", resources.path(obj), json.dumps(obj),
                           content_type="application/apply-patch+yaml", query=query)
    if code >= 400:
        reason, message = status_message(raw)
        raise ApplyError(f"{obj['kind']}/{obj['metadata']['name']}", code, reason, message)
    return json.loads(raw)


def delete_one(resources: Resources, obj: dict[str, Any]) -> bool:
    """Delete (background propagation); False when it was already gone."""
    code, _, raw = request(resources.api, "DELETE", resources.path(obj),
                           {"propagationPolicy": "Background"})
    if code == 404:
        return False
    if code >= 400:
        reason, message = status_message(raw)
        raise ApplyError(f"{obj['kind']}/{obj['metadata']['name']}", code, reason, message)
    return True
