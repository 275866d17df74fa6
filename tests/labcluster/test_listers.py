"""labcluster/listers.py: the reads controllers and the node make, over a real Store (no
server needed): names resolved as callers write them, namespaces, label selectors in both
spellings, and the controller-reference claim the workload controllers rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from labcluster.listers import Listers
from labcluster.registry import default_registry
from labcluster.store import Store


def _pod(ns: str, name: str, labels: dict[str, str] | None = None,
         refs: list[dict] | None = None) -> dict:
    meta: dict = {"namespace": ns, "name": name, "labels": labels or {}}
    if refs:
        meta["ownerReferences"] = refs
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta}


@pytest.fixture
def listers(tmp_path: Path):
    store = Store(tmp_path / "store.sqlite")
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "u-rs"}
    for pod in (_pod("a", "web-1", {"app": "web", "tier": "front"}, [{**rs, "controller": True}]),
                _pod("a", "web-2", {"app": "web"}, [{**rs, "uid": "u-other", "controller": True}]),
                _pod("a", "loose", {"app": "db"}, [{**rs, "controller": False}]),
                _pod("b", "web-1", {"app": "web"}, [{**rs, "controller": True}])):
        store.put("/pods", pod["metadata"]["namespace"], pod["metadata"]["name"], pod)
    store.put("/nodes", "", "n1", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
    store.put("apps/deployments", "a", "web", {"apiVersion": "apps/v1", "kind": "Deployment",
                                              "metadata": {"namespace": "a", "name": "web"}})
    yield Listers(store, default_registry())
    store.close()


def _names(objs: list[dict]) -> list[tuple[str, str]]:
    return [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in objs]


def test_get_resolves_names_as_callers_write_them(listers):
    assert listers.get("pods", "a", "web-1")["metadata"]["labels"]["tier"] == "front"
    assert listers.get("po", "b", "web-1")["metadata"]["namespace"] == "b"
    assert listers.get("deployments.apps", "a", "web")["kind"] == "Deployment"
    assert listers.get("nodes", None, "n1")["metadata"]["name"] == "n1"
    assert listers.get("pods", "a", "absent") is None
    with pytest.raises(KeyError, match="unknown resource 'gadgets'"):
        listers.get("gadgets", "a", "x")


def test_list_by_namespace_and_selector(listers):
    assert _names(listers.list("pods")) == [("a", "loose"), ("a", "web-1"), ("a", "web-2"),
                                            ("b", "web-1")]
    assert _names(listers.list("pods", "b")) == [("b", "web-1")]
    assert _names(listers.list("pods", "a", "app=web,tier")) == [("a", "web-1")]
    assert _names(listers.list("pods", "a", {"matchLabels": {"app": "web"}})) == [
        ("a", "web-1"), ("a", "web-2")]
    assert _names(listers.list("pods", "a", {"matchExpressions": [
        {"key": "app", "operator": "NotIn", "values": ["web"]}]})) == [("a", "loose")]
    assert len(listers.list("pods", "a", {})) == 3  # an empty LabelSelector selects all


def test_controlled_by_is_the_controller_reference_in_that_namespace(listers):
    assert _names(listers.controlled_by("pods", "a", "u-rs")) == [("a", "web-1")]
    assert _names(listers.controlled_by("pods", "b", "u-rs")) == [("b", "web-1")]
    assert listers.controlled_by("pods", "a", "u-none") == []
