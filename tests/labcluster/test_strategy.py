"""Per-resource strategies (strategy.py) through ClusterApi in-process: each kind's rule
holds on every path that reaches it (create, update, patch, server-side apply, delete)."""

from __future__ import annotations

import pytest

from labcluster import podsecurity
from labcluster.api import ClusterApi
from labcluster.errors import ApiError
from labcluster.registry import Resource
from labcluster.store import Store
from labcluster.strategy import DEFAULT, STRATEGIES, WorkloadStrategy, strategy_for


@pytest.fixture
async def api(tmp_path):
    store = Store(tmp_path / "store.sqlite")
    a = ClusterApi(store, history=50)
    a.root_ca = "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"
    await a.bootstrap()
    yield a
    store.close()


def _secret(name: str, **body: object) -> dict:
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": "default"}, **body}


async def test_secret_string_data_is_folded_on_create_update_and_patch(api):
    created = await api.create(_secret("s", stringData={"a": "x"}))
    assert created["data"] == {"a": "eA=="} and "stringData" not in created
    updated = await api.update({**created, "stringData": {"b": "y"}})
    assert updated["data"] == {"a": "eA==", "b": "eQ=="} and "stringData" not in updated
    patched = await api.patch("secrets", "default", "s", {"stringData": {"a": "z"}}, "merge")
    assert patched["data"] == {"a": "eg==", "b": "eQ=="} and "stringData" not in patched


async def test_namespace_subresources_keep_what_they_do_not_own(api):
    ns = await api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n1"}})
    assert ns["status"] == {"phase": "Active"}
    ns["status"] = {"phase": "Terminating", "conditions": []}
    after = await api.update(ns, name="n1", resource="namespaces", subresource="status")
    assert after["status"] == {"phase": "Active", "conditions": []}
    after["spec"] = {"finalizers": []}
    after["metadata"]["labels"] = {"changed": "yes"}
    final = await api.update(after, name="n1", resource="namespaces", subresource="finalize")
    assert final["spec"] == {"finalizers": []}
    assert "changed" not in final["metadata"]["labels"]


async def test_a_new_namespace_gets_its_account_and_ca_by_post_and_by_apply(api):
    await api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "posted"}})
    await api.patch("namespaces", None, "applied",
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "applied"}},
                    "apply", field_manager="me")
    for ns in ("posted", "applied"):
        assert (await api.get("serviceaccounts", ns, "default"))["metadata"]["name"]
        ca = await api.get("configmaps", ns, "kube-root-ca.crt")
        assert ca["data"]["ca.crt"] == api.root_ca


async def test_namespace_delete_marks_it_terminating_and_only_events_get_in(api):
    await api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gone"}})
    marked = await api.delete("namespaces", None, "gone")
    assert marked["status"] == {"phase": "Terminating"}
    assert marked["metadata"]["deletionTimestamp"]
    again = await api.delete("namespaces", None, "gone")
    assert again["metadata"]["resourceVersion"] == marked["metadata"]["resourceVersion"]
    with pytest.raises(ApiError) as refused:
        await api.create({"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": "c", "namespace": "gone"}})
    assert refused.value.reason == "Forbidden"
    about = {"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": "p", "namespace": "gone", "uid": "u1"}}
    event = await api.record_event(about, "Killing", "Stopping container c")
    assert event is not None and event["metadata"]["namespace"] == "gone"
    with pytest.raises(ApiError) as system:
        await api.delete("namespaces", None, "kube-system")
    assert system.value.status()["message"] == (
        'namespaces "kube-system" is forbidden: this namespace may not be deleted')


def test_every_kind_with_a_pod_template_gets_podsecurity_warnings():
    with_template = {key.split("/")[1] for key, s in STRATEGIES.items()
                     if isinstance(s, WorkloadStrategy)}
    assert with_template == set(podsecurity.TEMPLATES)


def test_a_kind_without_rules_gets_the_generic_store():
    r = Resource("example.com", "v1", "widgets", "Widget")
    assert strategy_for(r) is DEFAULT
    with pytest.raises(ApiError) as exc:
        DEFAULT.prepare_subresource_update("finalize", {}, {"metadata": {}})
    assert exc.value.code == 404
