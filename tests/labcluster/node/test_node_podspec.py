"""The kubelet's resolving rules (env, service links, volumes, quantities), without a cluster."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from labcluster.node.podspec import (
    ConfigError,
    expand,
    memory_bytes,
    millicores,
    mounts_for,
    requests_of,
    resolve_env,
    service_links,
    sync_api_volumes,
    volume_dirs,
)

NS = "shop"
STORE: dict[tuple[str, str, str], dict[str, Any]] = {
    ("/configmaps", NS, "cfg"): {"data": {"HOST": "postgres", "PORT": "5432",
                                          "site.conf": "server {}"}},
    ("/secrets", NS, "sec"): {"data": {"password": base64.b64encode(b"s3cret").decode()}},
}


def get(res: str, ns: str, name: str) -> dict[str, Any] | None:
    return STORE.get((res, ns, name))


def pod(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web-0", "namespace": NS, "uid": "u1",
                         "labels": {"app": "web"}},
            "spec": {"nodeName": "labcluster", **spec}, "status": {"podIP": "127.9.0.2"}}


def test_quantities() -> None:
    assert memory_bytes("256Mi") == 256 * 2**20 and memory_bytes("1G") == 10**9
    assert memory_bytes(1024) == 1024
    assert millicores("200m") == 200 and millicores("1") == 1000 and millicores(0.5) == 500
    p = pod(containers=[{"resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}},
                        {"resources": {"requests": {"cpu": "1"}}}])
    assert requests_of(p) == (1100, 64 * 2**20)
    with pytest.raises(ValueError):
        memory_bytes("lots")


@pytest.mark.parametrize(("q", "milli", "whole"), [
    ("0.5", 500, 0), ("500m", 500, 0), ("1Gi", 2**30 * 1000, 2**30), ("1e3", 10**6, 1000),
    ("1.5m", 1, 0), ("2k", 2 * 10**6, 2000), (" 64Mi ", 64 * 2**20 * 1000, 64 * 2**20)])
def test_quantity_edges_follow_the_client_parser(q: str, milli: int, whole: int) -> None:
    assert millicores(q) == milli and memory_bytes(q) == whole


@pytest.mark.parametrize("bad", ["", "1.2.3", "12 apples", "1mi", "NaN", "Infinity", "Mi"])
def test_what_is_not_a_quantity_is_refused_naming_it(bad: str) -> None:
    with pytest.raises(ValueError, match=f"quantity {bad!r} is not valid"):
        millicores(bad)


def test_expansion_follows_kubernetes() -> None:
    env = {"A": "x"}
    assert expand("$(A)-$(B)-$$(A)-$$", env) == "x-$(B)-$(A)-$"


def test_env_order_valuefrom_and_expansion() -> None:
    c = {"envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
         "env": [{"name": "DB", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "HOST"}}},
                 {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "password"}}},
                 {"name": "URL", "value": "postgres://$(DB):$(CFG_PORT)/x"},
                 {"name": "ME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                 {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                 {"name": "APP", "valueFrom": {"fieldRef": {
                     "fieldPath": "metadata.labels['app']"}}},
                 {"name": "OPT", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k",
                                                                 "optional": True}}}]}
    svc = {"metadata": {"name": "redis-cache"}, "spec": {"clusterIP": "127.1.0.9", "ports": [
        {"name": "redis", "port": 6379, "protocol": "TCP"}]}}
    env = resolve_env(pod(), c, get, [svc])
    assert env["DB"] == "postgres" and env["PW"] == "s3cret"
    assert env["URL"] == "postgres://postgres:5432/x"
    assert (env["ME"], env["IP"], env["APP"]) == ("web-0", "127.9.0.2", "web")
    assert "OPT" not in env
    assert env["REDIS_CACHE_SERVICE_HOST"] == "127.1.0.9"
    assert env["REDIS_CACHE_PORT"] == "tcp://127.1.0.9:6379"
    assert env["REDIS_CACHE_PORT_6379_TCP_ADDR"] == "127.1.0.9"
    no_links = resolve_env(pod(enableServiceLinks=False), {}, get, [svc])
    assert no_links == {}


@pytest.mark.parametrize(("ref", "message"), [
    ({"secretKeyRef": {"name": "sec", "key": "postgres-password"}},
     f"couldn't find key postgres-password in Secret {NS}/sec"),
    ({"configMapKeyRef": {"name": "missing", "key": "x"}}, 'configmap "missing" not found'),
    ({"secretKeyRef": {"name": "missing", "key": "x"}}, 'secret "missing" not found'),
])
def test_missing_references_are_config_errors(ref: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        resolve_env(pod(), {"env": [{"name": "X", "valueFrom": ref}]}, get, [])
    assert str(err.value) == message


def test_headless_and_externalname_services_give_no_links() -> None:
    headless = {"metadata": {"name": "pg"}, "spec": {"clusterIP": "None", "ports": [
        {"port": 5432}]}}
    assert service_links([headless]) == {}


def test_volumes_and_subpath(tmp_path: Path) -> None:
    p = pod(volumes=[{"name": "conf", "configMap": {"name": "cfg", "defaultMode": 0o644,
                                                    "items": [{"key": "site.conf",
                                                               "path": "default.conf"}]}},
                     {"name": "pw", "secret": {"secretName": "sec", "defaultMode": 0o400}},
                     {"name": "scratch", "emptyDir": {}},
                     {"name": "data", "persistentVolumeClaim": {"claimName": "data"}}])
    claims = {"data": tmp_path / "pv"}
    (tmp_path / "pv").mkdir()
    vols = volume_dirs(p, tmp_path / "pod", get, lambda ns, name: claims.get(name))
    assert (vols["conf"] / "default.conf").read_text() == "server {}"
    assert not (vols["conf"] / "HOST").exists()
    assert (vols["pw"] / "password").read_bytes() == b"s3cret"
    assert (vols["pw"] / "password").stat().st_mode & 0o777 == 0o400
    mounts = mounts_for({"volumeMounts": [
        {"name": "data", "mountPath": "/var/lib/postgresql/data", "subPath": "pgdata"},
        {"name": "conf", "mountPath": "/etc/nginx/conf.d", "readOnly": True}]}, vols, {})
    assert mounts[0].host_path == tmp_path / "pv" / "pgdata" and mounts[0].host_path.is_dir()
    assert mounts[1].read_only
    with pytest.raises(ConfigError, match="relative path"):
        mounts_for({"volumeMounts": [{"name": "data", "mountPath": "/x", "subPath": "../up"}]},
                   vols, {})
    unbound = pod(volumes=[{"name": "d", "persistentVolumeClaim": {"claimName": "other"}}])
    with pytest.raises(ConfigError, match="not bound"):
        volume_dirs(unbound, tmp_path / "pod2", get, lambda ns, name: claims.get(name))
    missing = pod(volumes=[{"name": "c", "configMap": {"name": "nope"}}])
    with pytest.raises(ConfigError, match='configmap "nope" not found'):
        volume_dirs(missing, tmp_path / "pod3", get, lambda ns, name: None)


def test_periodic_sync_updates_a_volume_and_keeps_it_when_the_source_vanishes(
        tmp_path: Path) -> None:
    """Node README: the kubelet's sync rewrites a configMap volume whose ConfigMap changed;
    a ConfigMap that disappears keeps the old files (as the kubelet does)."""
    store: dict[tuple[str, str, str], dict[str, Any]] = {
        ("/configmaps", NS, "site"): {"data": {"index.html": "v1"}}}

    def lookup(res: str, ns: str, name: str) -> dict[str, Any] | None:
        return store.get((res, ns, name))

    p = pod(volumes=[{"name": "html", "configMap": {"name": "site"}}])
    vols = volume_dirs(p, tmp_path / "pod", lookup, lambda ns, name: None)
    page = vols["html"] / "index.html"
    assert page.read_text() == "v1"
    assert sync_api_volumes(p, tmp_path / "pod", lookup) == []  # unchanged: no rewrite
    store[("/configmaps", NS, "site")] = {"data": {"index.html": "v2"}}
    assert sync_api_volumes(p, tmp_path / "pod", lookup) == ["html"]
    assert page.read_text() == "v2"
    del store[("/configmaps", NS, "site")]
    assert sync_api_volumes(p, tmp_path / "pod", lookup) == []
    assert page.read_text() == "v2"  # the vanished ConfigMap's last files stay


def test_the_kubernetes_service_variables_are_always_there() -> None:
    """getServiceEnvVarMap: default/kubernetes's link variables even with service links
    off; the namespace's own Services only with them on."""
    master = {"metadata": {"name": "kubernetes", "namespace": "default"},
              "spec": {"clusterIP": "127.1.0.1",
                       "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}}
    mine = {"metadata": {"name": "web", "namespace": NS},
            "spec": {"clusterIP": "127.1.0.20", "ports": [{"port": 80}]}}
    env = resolve_env(pod(enableServiceLinks=False), {}, get, [mine], master)
    assert env["KUBERNETES_SERVICE_HOST"] == "127.1.0.1"
    assert env["KUBERNETES_SERVICE_PORT"] == env["KUBERNETES_SERVICE_PORT_HTTPS"] == "443"
    assert env["KUBERNETES_PORT_443_TCP_ADDR"] == "127.1.0.1"
    assert "WEB_SERVICE_HOST" not in env
    assert resolve_env(pod(), {}, get, [mine], master)["WEB_SERVICE_HOST"] == "127.1.0.20"


def test_projected_volume_token_configmap_and_namespace(tmp_path: Path) -> None:
    """The kube-api-access volume as the kubelet writes it: the token it fetched, ca.crt
    from the ConfigMap, the namespace from the downward API."""
    from labcluster.serviceaccount import token_volume_source

    STORE[("/configmaps", NS, "kube-root-ca.crt")] = {"data": {"ca.crt": "PEM"}}
    asked: list[dict[str, Any]] = []

    def token(projection: dict[str, Any]) -> str:
        asked.append(projection)
        return "tok"

    p = pod(volumes=[{"name": "kube-api-access-x", "projected": token_volume_source()},
                     {"name": "info", "downwardAPI": {"items": [
                         {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}}])
    dirs = volume_dirs(p, tmp_path, get, lambda ns, c: None, token)
    sa = dirs["kube-api-access-x"]
    assert (sa / "token").read_text() == "tok"
    assert (sa / "ca.crt").read_text() == "PEM"
    assert (sa / "namespace").read_text() == NS
    # defaultMode 420 (0644) less the write bits, as every sealed API volume (README)
    assert oct((sa / "token").stat().st_mode & 0o777) == oct(0o444)
    assert asked == [{"expirationSeconds": 3607, "path": "token"}]
    assert (dirs["info"] / "labels").read_text() == 'app="web"'
