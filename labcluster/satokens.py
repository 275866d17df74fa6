"""ServiceAccount tokens: issued by TokenRequest, checked on every request that carries one.

A classroom learner's kernel talks to the API as its ServiceAccount; RBAC can only judge
that identity if the server can tell it from the admin. Tokens are JWTs signed ES256 with
a key kept in the cluster's home (``sa.key``, 0600), with upstream's claims (``iss``,
``sub`` = ``system:serviceaccount:NS:NAME``, ``aud``, ``exp``, and the
``kubernetes.io`` claim naming the ServiceAccount and, for a bound token, its pod). A token
stops working when it expires or when its ServiceAccount (or bound pod) is deleted or
recreated (the uid in the token no longer matches), as on a real cluster.

Served: ``POST /api/v1/namespaces/NS/serviceaccounts/NAME/token`` (``kubectl create
token``), expirationSeconds defaulted to 3600 and at least 600, audiences defaulted to the
API server's.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from labcluster import protobuf
from labcluster.authz import UserInfo
from labcluster.errors import ApiError, FieldError, invalid, not_found

ISSUER = "https://kubernetes.default.svc.cluster.local"
AUDIENCE = ISSUER
DEFAULT_SECONDS, MIN_SECONDS = 3600, 600

#: (store key, namespace, name) → the stored object or None
Peek = Callable[[str, str, str], "dict[str, Any] | None"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    def __init__(self, home: Path) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        path = home / "sa.key"
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), None)
        else:
            key = ec.generate_private_key(ec.SECP256R1())
            pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600),
                           "wb") as f:
                f.write(pem)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        self._key = key

    # ---------------------------------------------------------------- signing
    def _sign(self, claims: dict[str, Any]) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        head = _b64(json.dumps({"alg": "ES256", "kid": "labcluster"}).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        der = self._key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{head}.{body}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def _claims(self, token: str) -> dict[str, Any] | None:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        try:
            head, body, sig = token.split(".")
            raw = _unb64(sig)
            if len(raw) != 64 or json.loads(_unb64(head)).get("alg") != "ES256":
                return None
            der = encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                       int.from_bytes(raw[32:], "big"))
            self._key.public_key().verify(der, f"{head}.{body}".encode(),
                                          ec.ECDSA(hashes.SHA256()))
            claims = json.loads(_unb64(body))
        except (ValueError, InvalidSignature, UnicodeDecodeError):
            return None
        return claims if isinstance(claims, dict) else None

    # ---------------------------------------------------------------- the API's side
    def issue(self, sa: dict[str, Any], seconds: int, audiences: list[str],
              pod: dict[str, Any] | None = None) -> tuple[str, int]:
        now = int(time.time())
        meta = sa["metadata"]
        k8s: dict[str, Any] = {"namespace": meta["namespace"],
                               "serviceaccount": {"name": meta["name"], "uid": meta["uid"]}}
        if pod is not None:
            k8s["pod"] = {"name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]}
        claims = {"iss": ISSUER, "aud": audiences, "iat": now, "nbf": now, "exp": now + seconds,
                  "sub": f"system:serviceaccount:{meta['namespace']}:{meta['name']}",
                  "kubernetes.io": k8s}
        return self._sign(claims), now + seconds

    def authenticate(self, token: str, peek: Peek) -> UserInfo | None:
        """The ServiceAccount a valid token names, or None (then the request is 401)."""
        claims = self._claims(token)
        if claims is None or claims.get("iss") != ISSUER:
            return None
        if not (claims.get("nbf", 0) - 60 <= time.time() < claims.get("exp", 0)):
            return None
        if AUDIENCE not in (claims.get("aud") or []):
            return None
        k8s = claims.get("kubernetes.io") or {}
        ns, sa_ref = k8s.get("namespace", ""), k8s.get("serviceaccount") or {}
        sa = peek("/serviceaccounts", ns, sa_ref.get("name", ""))
        if sa is None or sa["metadata"].get("uid") != sa_ref.get("uid"):
            return None
        extra: dict[str, list[str]] = {}
        if "pod" in k8s:
            pod = peek("/pods", ns, k8s["pod"].get("name", ""))
            if pod is None or pod["metadata"].get("uid") != k8s["pod"].get("uid"):
                return None
            extra = {"authentication.kubernetes.io/pod-name": [k8s["pod"]["name"]],
                     "authentication.kubernetes.io/pod-uid": [k8s["pod"]["uid"]]}
        name = sa_ref["name"]
        return UserInfo(f"system:serviceaccount:{ns}:{name}",
                        ("system:serviceaccounts", f"system:serviceaccounts:{ns}",
                         "system:authenticated"), sa["metadata"]["uid"], extra)


class TokenRoutes:
    """``serviceaccounts/token``: the TokenRequest subresource."""

    def __init__(self, issuer: TokenIssuer, peek: Peek) -> None:
        self.issuer, self.peek = issuer, peek

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.post("/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
                         self.token)]

    async def token(self, request: web.Request) -> web.Response:
        ns, name = request.match_info["namespace"], request.match_info["name"]
        raw = await request.read()
        try:
            body = (protobuf.decode(raw)
                    if request.content_type == "application/vnd.kubernetes.protobuf"
                    else json.loads(raw or b"{}"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, "BadRequest", "the body of the request could not be decoded "
                           f"as JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body of the request is not a TokenRequest")
        sa = self.peek("/serviceaccounts", ns, name)
        if sa is None:
            raise not_found("serviceaccounts", "", name)
        spec = body.get("spec") or {}
        seconds = spec.get("expirationSeconds", DEFAULT_SECONDS)
        if not isinstance(seconds, int) or seconds < MIN_SECONDS or seconds > 2**32:
            raise invalid("TokenRequest", "authentication.k8s.io", name, [FieldError(
                "Invalid value", "spec.expirationSeconds", seconds,
                "may not specify a duration less than 10 minutes")])
        audiences = spec.get("audiences") or [AUDIENCE]
        pod = None
        ref = spec.get("boundObjectRef")
        if ref:
            if ref.get("kind") != "Pod":
                raise ApiError(400, "BadRequest", "cannot bind token for object of kind "
                               f"{ref.get('kind')!r} (labcluster binds tokens to pods only)")
            pod = self.peek("/pods", ns, ref.get("name", ""))
            if pod is None:
                raise not_found("pods", "", ref.get("name", ""))
            if ref.get("uid") and ref["uid"] != pod["metadata"]["uid"]:
                raise ApiError(409, "Conflict", f'the UID in the bound object reference '
                               f'({ref["uid"]}) does not match the UID in record. The object '
                               "might have been deleted and then recreated")
        token, expires = self.issuer.issue(sa, seconds, audiences, pod)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires))
        meta = {"name": name, "namespace": ns,
                "creationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        out = {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
               "metadata": meta, "spec": {**spec, "audiences": audiences,
                                          "expirationSeconds": seconds,
                                          "boundObjectRef": ref or None},
               "status": {"token": token, "expirationTimestamp": stamp}}
        return web.json_response(out, status=201)
