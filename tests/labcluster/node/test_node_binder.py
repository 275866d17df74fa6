"""Dynamic provisioning by the node's Binder, on the API server's own store: a claim
deleted and created again under its name (a namespace torn down and made again, as
break & fix does) gets a new, empty volume, and reclaiming the old claim's volume never
touches the new one's files. It did: both lived in <ns>/<claim>, and a second
PostgreSQL's initdb lost files to the first claim's rmtree, then crash-looped on "not
empty and holds no PostgreSQL cluster"."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from labcluster.api import ClusterApi
from labcluster.node.scheduling import Binder
from labcluster.store import Store

NS = "breakfix-combined"
CLAIM = "data-postgres-0"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ClusterApi]:
    store = Store(tmp_path / "store.sqlite")
    a = ClusterApi(store, history=50)
    await a.bootstrap()
    await a.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
                   None)
    yield a
    store.close()


async def claim(api: ClusterApi) -> dict:
    return await api.create({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                             "metadata": {"name": CLAIM, "namespace": NS},
                             "spec": {"accessModes": ["ReadWriteOnce"],
                                      "resources": {"requests": {"storage": "1Gi"}}}}, NS)


async def test_a_claim_made_again_gets_its_own_volume_and_keeps_it(api: ClusterApi,
                                                                   tmp_path: Path) -> None:
    binder = Binder(api, tmp_path / "volumes")
    first = await claim(api)
    assert await binder.reconcile(NS, CLAIM)
    old_dir = binder.bound_path(NS, CLAIM)
    assert old_dir is not None and old_dir.is_dir()
    (old_dir / "PG_VERSION").write_text("16")

    await api.delete("persistentvolumeclaims", NS, CLAIM)
    second = await claim(api)  # made again before the node saw the delete
    assert second["metadata"]["uid"] != first["metadata"]["uid"]
    assert await binder.reconcile(NS, CLAIM)
    new_dir = binder.bound_path(NS, CLAIM)
    assert new_dir is not None and new_dir != old_dir
    assert list(new_dir.iterdir()) == []  # a new volume is empty
    (new_dir / "PG_VERSION").write_text("16")

    await binder.reconcile(NS, CLAIM)  # the old claim's delete, seen late
    assert not old_dir.exists()
    assert (new_dir / "PG_VERSION").read_text() == "16"
    pvs = [pv["metadata"]["name"] for pv in api.listers.list("persistentvolumes")]
    assert pvs == [f"pvc-{second['metadata']['uid']}"]

    await api.delete("persistentvolumeclaims", NS, CLAIM)
    await binder.reconcile(NS, CLAIM)
    assert not new_dir.exists() and api.listers.list("persistentvolumes") == []
    assert (tmp_path / "volumes").is_dir()  # the root stays
