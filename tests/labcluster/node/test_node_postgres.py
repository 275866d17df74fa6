"""The postgres image: official-image behaviour on a real PostgreSQL, reached by DNS name."""

from __future__ import annotations

import time

import psutil
import pytest
from node_helpers import wait_port, wait_text

from labcluster.node.exec import Exec
from labcluster.node.images import resolve
from labcluster.node.launch import ContainerPort, Mount

ENV = {"POSTGRES_USER": "ecomuser", "POSTGRES_DB": "ecomdb", "POSTGRES_PASSWORD": "s3cret",
       "PGDATA": "/var/lib/postgresql/data/pgdata"}


@pytest.fixture
def pvc(node_dir, request):
    path = node_dir / "pvcs" / request.node.name[:40]
    path.mkdir(parents=True)
    path.chmod(0o755)
    return path


def pg_ready(pg: Exec, timeout: float = 30):
    """pg_isready until it says yes: the port opens while the server is still starting,
    which is why the lab's StatefulSet has a startupProbe."""
    deadline = time.monotonic() + timeout
    while True:
        result = pg.run(["pg_isready", "-U", "ecomuser", "-d", "ecomdb"], timeout=20)
        if result.exit_code == 0 or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def start_postgres(make_launch, run_container, pvc, pod_ip=None, env=ENV):
    launch = make_launch("postgres:16.4-alpine", name="postgres-0", env=dict(env),
                         pod_ip=pod_ip, ports=[ContainerPort(5432)],
                         mounts=[Mount(pvc, "/var/lib/postgresql/data")])
    return launch, run_container(launch)


def test_postgres_image_initdb_once_dns_psql_and_restart(make_launch, run_container, node,
                                                         hosts, pvc):
    launch, proc = start_postgres(make_launch, run_container, pvc)
    wait_port(launch.pod_ip, 5432, timeout=60, proc=proc)
    log = launch.run_dir / "logs" / "current.log"
    assert "PostgreSQL init process complete" in log.read_text()
    assert (pvc / "pgdata" / "PG_VERSION").exists(), "PGDATA maps into the mounted volume"
    assert proc.spec.image_id.startswith("labcluster://postgres@16."), "the tag's major"
    server = psutil.Process(proc.pid)
    assert server.uids().real != 0 and "postgres" in server.name(), "exec'd, never as root"

    pg = Exec(resolve(launch.image, node), launch, proc.marker)
    ready = pg_ready(pg)
    assert ready.exit_code == 0 and "accepting connections" in ready.text

    hosts.write({"postgres.ecommerce-lab.svc.cluster.local": [launch.pod_ip],
                 "postgres-0.postgres.ecommerce-lab.svc.cluster.local": [launch.pod_ip]})
    client = make_launch("storefront:0.1.0", name="backend", env={"PGPASSWORD": "s3cret"})
    backend = Exec(resolve(client.image, node), client)
    sql = "CREATE TABLE orders (id int); INSERT INTO orders VALUES (42); SELECT count(*) FROM orders"
    made = backend.run(["psql", "-h", "postgres", "-U", "ecomuser", "-d", "ecomdb", "-XAtc", sql],
                       timeout=30)
    assert made.exit_code == 0, made.stderr
    assert made.text.strip().splitlines()[-1] == "1"
    wrong = backend.run(["psql", "-h", "postgres-db", "-U", "ecomuser", "-d", "ecomdb", "-c",
                         "SELECT 1"], timeout=30)
    assert wrong.exit_code == 2
    assert (b'could not translate host name "postgres-db" to address: Name or service not known'
            in wrong.stderr)
    bad_password = Exec(resolve(client.image, node), make_launch(
        "storefront:0.1.0", name="intruder", env={"PGPASSWORD": "nope"}))
    denied = bad_password.run(["psql", "-h", "postgres-0.postgres", "-U", "ecomuser", "-d",
                               "ecomdb", "-c", "SELECT 1"], timeout=30)
    assert denied.exit_code == 2 and b"password authentication failed" in denied.stderr

    ended = proc.stop(grace=30)
    assert ended is not None and ended.exit_code == 0, "SIGINT: PostgreSQL's fast shutdown"
    launch2, proc2 = start_postgres(make_launch, run_container, pvc, pod_ip=launch.pod_ip)
    wait_port(launch2.pod_ip, 5432, timeout=60, proc=proc2)
    assert pg_ready(Exec(resolve(launch2.image, node), launch2, proc2.marker)).exit_code == 0
    assert "Skipping initialization" in (launch2.run_dir / "logs" / "current.log").read_text()
    again = backend.run(["psql", "-h", "postgres", "-U", "ecomuser", "-d", "ecomdb", "-XAtc",
                         "SELECT id FROM orders"], timeout=30)
    assert again.text.strip() == "42", again.stderr


def test_postgres_without_password_on_empty_volume_fails_like_the_image(make_launch,
                                                                         run_container, pvc):
    env = {k: v for k, v in ENV.items() if k != "POSTGRES_PASSWORD"}
    launch, proc = start_postgres(make_launch, run_container, pvc, env=env)
    result = proc.wait(30)
    assert result is not None and result.exit_code == 1
    wait_text(launch.run_dir / "logs" / "current.log",
              "Database is uninitialized and superuser password is not specified")
