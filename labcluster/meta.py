"""Small helpers for object metadata shared by the API and the controllers."""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime
from typing import Any

# Real generateName suffixes use this alphabet (no vowels, so no words) — 5 characters.
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def random_suffix(n: int = 5) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def random_hex(n: int = 16) -> str:
    return "".join(secrets.choice(string.hexdigits[:16]) for _ in range(n))


def meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.setdefault("metadata", {})


def name_of(obj: dict[str, Any]) -> str:
    return (obj.get("metadata") or {}).get("name", "")


def ns_of(obj: dict[str, Any]) -> str:
    return (obj.get("metadata") or {}).get("namespace", "")


def uid_of(obj: dict[str, Any]) -> str:
    return (obj.get("metadata") or {}).get("uid", "")


def labels_of(obj: dict[str, Any]) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def owner_ref(owner: dict[str, Any], controller: bool = True) -> dict[str, Any]:
    """The ownerReference a controller puts on what it creates."""
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": name_of(owner),
            "uid": uid_of(owner), "controller": controller, "blockOwnerDeletion": True}


def controller_of(obj: dict[str, Any]) -> dict[str, Any] | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def is_owned_by(obj: dict[str, Any], owner: dict[str, Any]) -> bool:
    ref = controller_of(obj)
    return ref is not None and ref.get("uid") == uid_of(owner)
