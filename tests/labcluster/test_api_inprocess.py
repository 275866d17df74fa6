"""ClusterApi in-process, as the controllers and the node's kubelet use it, and the
component interface (extra routes and discovery entries)."""

from __future__ import annotations

import asyncio
import json
import ssl

import aiohttp
import pytest
from aiohttp import web

from labcluster.api import ClusterApi
from labcluster.component import Component, ServerContext
from labcluster.errors import ApiError
from labcluster.kubeconfig import read_kubeconfig
from labcluster.registry import Resource, Subresource
from labcluster.server import Server
from labcluster.store import Store


@pytest.fixture
async def api(tmp_path):
    store = Store(tmp_path / "store.sqlite")
    a = ClusterApi(store, history=50)
    await a.bootstrap()
    yield a
    store.close()


def _pod(name: str, node: str | None = None) -> dict:
    spec = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": spec}


async def test_kubelet_flow_watch_status_and_graceful_delete(api):
    events = []

    async def watcher():
        async for etype, obj in api.watch("pods", "default", field_selector="spec.nodeName=n1"):
            events.append((etype, obj["metadata"]["name"], obj["status"].get("phase")))
            if len(events) == 3:
                return

    task = asyncio.create_task(watcher())
    await asyncio.sleep(0)
    await api.create(_pod("unbound"))
    pod = await api.create(_pod("bound", node="n1"))
    pod["status"] = {"phase": "Running", "podIP": "127.2.0.5"}
    await api.update_status(pod, field_manager="kubelet")
    # graceful: a scheduled pod only gets a deletionTimestamp; the kubelet finishes it
    doomed = await api.delete("pods", "default", "bound")
    assert doomed["metadata"]["deletionTimestamp"]
    assert doomed["metadata"]["deletionGracePeriodSeconds"] == 30
    await asyncio.wait_for(task, 5)
    assert events == [("ADDED", "bound", "Pending"), ("MODIFIED", "bound", "Running"),
                      ("MODIFIED", "bound", "Running")]
    await api.delete("pods", "default", "bound", grace_period_seconds=0)
    with pytest.raises(ApiError) as err:
        await api.get("pods", "default", "bound")
    assert err.value.code == 404


async def test_status_update_cannot_change_spec_and_main_update_keeps_status(api):
    pod = await api.create(_pod("p"))
    pod["status"] = {"phase": "Running"}
    pod["spec"]["containers"][0]["image"] = "other"
    after = await api.update_status(pod)
    assert after["status"]["phase"] == "Running"
    assert after["spec"]["containers"][0]["image"] == "busybox"
    after["status"] = {"phase": "Failed"}
    again = await api.update(after)
    assert again["status"]["phase"] == "Running"


async def test_noop_update_keeps_resource_version(api):
    cm = await api.create({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": "c", "namespace": "default"}, "data": {"a": "1"}})
    same = await api.update(cm)
    assert same["metadata"]["resourceVersion"] == cm["metadata"]["resourceVersion"]


async def test_events_are_aggregated(api):
    pod = await api.create(_pod("ev"))
    for _ in range(3):
        await api.record_event(pod, "BackOff", "Back-off restarting failed container",
                               "Warning", "kubelet")
    events = (await api.list("events", "default",
                             field_selector="involvedObject.name=ev"))["items"]
    assert len(events) == 1 and events[0]["count"] == 3 and events[0]["type"] == "Warning"
    assert events[0]["source"] == {"component": "kubelet"}


async def test_watch_history_expires(api):
    cm = await api.create({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": "h", "namespace": "default"}, "data": {}})
    for i in range(60):  # history holds 50 events here
        cm["data"] = {"i": str(i)}
        cm = await api.update(cm)
    stream = api.watch("configmaps", "default", resource_version="2")
    etype, status = await stream.__anext__()
    assert etype == "ERROR" and status["code"] == 410 and status["reason"] == "Expired"


class _Demo(Component):
    """What the node does: serve pods/log and add a metrics API to discovery."""

    name = "demo"

    def setup(self, ctx: ServerContext) -> None:
        async def log(request: web.Request) -> web.Response:
            return web.Response(text=f"log of {request.match_info['name']}\n")

        ctx.add_routes([web.get("/api/v1/namespaces/{ns}/pods/{name}/log", log)])
        ctx.registry.add(Resource("metrics.k8s.io", "v1beta1", "pods", "PodMetrics",
                                  verbs=("get", "list"), stored=False))
        ctx.registry.add_subresource("", "pods", Subresource("log", "Pod", ("get",)))
        self.started = False

    async def start(self, api: ClusterApi) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False


async def test_component_routes_and_discovery(tmp_path):
    demo = _Demo()
    server = Server(tmp_path / "home", components=[demo])
    await server.start()
    try:
        assert demo.started
        info = read_kubeconfig(tmp_path / "home" / "kubeconfig")
        ctx = ssl.create_default_context(cafile=str(tmp_path / "home" / "ca.crt"))
        headers = {"Authorization": f"Bearer {info.token}"}
        async with aiohttp.ClientSession(headers=headers) as s:
            async with s.get(info.server + "/api/v1/namespaces/default/pods/x/log",
                             ssl=ctx) as r:
                assert r.status == 200 and await r.text() == "log of x\n"
            async with s.get(info.server + "/apis/metrics.k8s.io/v1beta1", ssl=ctx) as r:
                doc = json.loads(await r.text())
                assert [e["name"] for e in doc["resources"]] == ["pods"]
            async with s.get(info.server + "/apis/metrics.k8s.io/v1beta1/pods", ssl=ctx) as r:
                assert r.status == 404  # not stored: only a component may serve it
        async with aiohttp.ClientSession() as s, s.get(
                info.server + "/api/v1/namespaces/default/pods/x/log", ssl=ctx) as r:
            assert r.status == 401  # component routes need the token too
    finally:
        await server.stop()
    assert not demo.started


async def test_bind_sets_node_once(api):
    await api.create(_pod("b"))
    bound = await api.bind("default", "b", "labnode")
    assert bound["spec"]["nodeName"] == "labnode"
    assert any(c["type"] == "PodScheduled" and c["status"] == "True"
               for c in bound["status"]["conditions"])
    with pytest.raises(ApiError) as err:
        await api.bind("default", "b", "other")
    assert err.value.code == 409
    assert err.value.message.endswith('pod b is already assigned to node "labnode"')


async def test_old_events_expire(api, monkeypatch):
    from labcluster.controllers import gc

    pod = await api.create(_pod("old-ev"))
    await api.record_event(pod, "Pulled", "pulled", component="kubelet")
    collector = gc.GarbageCollector()
    collector.api = api
    collector._last_expiry = 0.0
    monkeypatch.setattr(gc, "EVENT_TTL", -10.0)  # everything is older than the TTL
    await collector.expire_events()
    assert (await api.list("events", "default"))["items"] == []
    assert api.event_index == {}


def _pb_field(num: int, payload: bytes | str) -> bytes:
    """Length-delimited protobuf field (what gogo emits for strings and messages)."""
    data = payload.encode() if isinstance(payload, str) else payload
    out = bytes([num << 3 | 2])
    n = len(data)
    while n > 0x7F:
        out += bytes([n & 0x7F | 0x80])
        n >>= 7
    return out + bytes([n]) + data


def test_protobuf_configmap_decodes_and_unknown_fields_are_refused():
    from labcluster import protobuf

    meta = _pb_field(1, "cfg") + _pb_field(4, "")  # an empty selfLink, as gogo sends
    entry = _pb_field(1, "a") + _pb_field(2, "b")
    cm = _pb_field(1, meta) + _pb_field(2, entry)
    unknown = _pb_field(1, _pb_field(1, "v1") + _pb_field(2, "ConfigMap")) + _pb_field(2, cm)
    assert protobuf.decode(b"k8s\x00" + unknown) == {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"},
        "data": {"a": "b"}}
    bad = _pb_field(1, _pb_field(1, "v1") + _pb_field(2, "ConfigMap")) + _pb_field(
        2, cm + _pb_field(9, "surprise"))
    with pytest.raises(ApiError) as err:
        protobuf.decode(b"k8s\x00" + bad)
    assert err.value.code == 415 and "field 9 of ConfigMap" in err.value.message


async def test_a_watcher_that_falls_far_behind_is_cut_off(api, monkeypatch):
    import labcluster.api as api_mod

    monkeypatch.setattr(api_mod, "WATCH_QUEUE_LIMIT", 5)
    stream = api.watch("configmaps", "default", resource_version=str(api.store.rv))
    first = asyncio.ensure_future(stream.__anext__())
    await asyncio.sleep(0)
    for i in range(10):  # nobody reads meanwhile
        await api.create({"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": f"s{i}", "namespace": "default"}})
    seen = 0
    with pytest.raises(StopAsyncIteration):
        await first
        seen += 1
        while True:
            await stream.__anext__()
            seen += 1
    assert seen < 10 and not api.watchers  # cut off: the client must list again


def test_pod_table_row_reads_like_kubectl():
    from labcluster.registry import default_registry
    from labcluster.tables import to_table

    pod = {"metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:00Z"},
           "spec": {"containers": [{"name": "c"}], "nodeName": "labcluster"},
           "status": {"phase": "Running", "podIP": "127.2.0.9", "containerStatuses": [{
               "name": "c", "ready": False, "restartCount": 3,
               "state": {"waiting": {"reason": "CrashLoopBackOff"}},
               "lastState": {"terminated": {"finishedAt": "2026-01-01T00:01:00Z",
                                            "reason": "OOMKilled", "exitCode": 137}}}]}}
    table = to_table(default_registry().find("pods"), pod)
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name", "Ready", "Status", "Restarts", "Age", "IP", "Node"]
    name, ready, status, restarts, _age, ip, node = table["rows"][0]["cells"]
    assert (name, ready, status, ip, node) == ("p", "0/1", "CrashLoopBackOff", "127.2.0.9",
                                               "labcluster")
    assert restarts.startswith("3 (") and restarts.endswith(" ago)")
    pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:02:00Z"
    assert to_table(default_registry().find("pods"), pod)["rows"][0]["cells"][2] == "Terminating"
