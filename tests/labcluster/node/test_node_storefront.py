"""The real storefront backend as a pod process, finding PostgreSQL and Redis by DNS name."""

from __future__ import annotations

import json
import time
import urllib.error

from node_helpers import get, wait_port, wait_text

from labcluster.node.exec import Exec
from labcluster.node.images import resolve
from labcluster.node.launch import ContainerPort, Mount

CONFIG = {"DATABASE_HOST": "postgres", "DATABASE_PORT": "5432", "DATABASE_NAME": "ecomdb",
          "DATABASE_USER": "ecomuser", "DATABASE_PASSWORD": "s3cret", "REDIS_HOST": "redis",
          "REDIS_PORT": "6379"}


def health(ip: str) -> dict:
    try:
        return json.loads(get(f"http://{ip}:5000/api/health"))
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())


def wait_health(ip: str, want: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            body = health(ip)
        except TimeoutError:  # listening, still in start-up (STARTUP_DB_WAIT_SECONDS)
            if time.monotonic() > deadline:
                raise
            continue
        if body.get("status") == want or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def test_backend_pods_reach_database_and_redis_by_service_name(make_launch, run_container,
                                                              hosts, node, node_dir):
    pvc = node_dir / "pvcs" / "storefront"
    pvc.mkdir(parents=True)
    pvc.chmod(0o755)
    db = make_launch("postgres:16.4-alpine", name="postgres-0", ports=[ContainerPort(5432)],
                     env={"POSTGRES_USER": "ecomuser", "POSTGRES_DB": "ecomdb",
                          "POSTGRES_PASSWORD": "s3cret", "PGDATA": "/var/lib/postgresql/data/pgdata"},
                     mounts=[Mount(pvc, "/var/lib/postgresql/data")])
    cache = make_launch("redis:6.2.14-alpine", name="redis-0",
                        args=["redis-server", "--save", "", "--appendonly", "no"])
    db_proc, cache_proc = run_container(db), run_container(cache)
    wait_port(db.pod_ip, 5432, timeout=60, proc=db_proc)
    wait_port(cache.pod_ip, 6379, proc=cache_proc)
    hosts.write({"postgres.ecommerce-lab.svc.cluster.local": [db.pod_ip],
                 "redis.ecommerce-lab.svc.cluster.local": [cache.pod_ip]})

    backends = []
    for name in ("ecommerce-backend-a", "ecommerce-backend-b"):
        launch = make_launch("storefront:0.1.0", name=name, args=["backend"],
                             env={**CONFIG, "POD_NAME": name}, ports=[ContainerPort(5000)])
        backends.append((launch, run_container(launch, memory_limit=1024 * 2**20)))
    for launch, proc in backends:
        wait_port(launch.pod_ip, 5000, timeout=60, proc=proc)
        body = wait_health(launch.pod_ip, "healthy")
        assert body["database"] == "connected" and body["redis"] == "connected", body
        assert body["pod"] == launch.pod_name
        assert proc.usage().memory_bytes > 10 * 2**20

    launch, proc = backends[0]
    shell = Exec(resolve(launch.image, node), launch, proc.marker)
    lookup = shell.run(["nslookup", "postgres"], timeout=20)
    assert lookup.exit_code == 0 and db.pod_ip in lookup.text
    psql = shell.run(["sh", "-c", 'PGPASSWORD="$DATABASE_PASSWORD" psql -h "$DATABASE_HOST" '
                      '-U ecomuser -d ecomdb -XAtc "SELECT 1"'], timeout=30)
    assert psql.text.strip() == "1", psql.stderr

    wrong = make_launch("storefront:0.1.0", name="ecommerce-backend-broken", args=["backend"],
                        env={**CONFIG, "DATABASE_HOST": "postgres-db"})
    broken = run_container(wrong)
    wait_port(wrong.pod_ip, 5000, timeout=60, proc=broken)
    # it waits STARTUP_DB_WAIT_SECONDS (5) for a database that never comes, then serves
    body = wait_health(wrong.pod_ip, "never", timeout=12)
    assert body["status"] == "degraded" and body["database"] != "connected", body
    log = wait_text(wrong.run_dir / "logs" / "current.log", "Cannot connect to Postgres")
    assert "getaddrinfo failed for postgres-db" in log, log
    assert "(pod ecommerce-backend-broken)" in log, "the pod name is the hostname"


def test_backend_under_the_oom_scenario_limit_is_oomkilled(make_launch, run_container):
    """manifests/broken/oom-backend: 32Mi is below what the backend needs to start."""
    launch = make_launch("storefront:0.1.0", name="ecommerce-backend-oom", args=["backend"],
                         env=dict(CONFIG))
    proc = run_container(launch, memory_limit=32 * 2**20)
    ended = proc.wait(60)
    assert ended is not None and (ended.reason, ended.exit_code) == ("OOMKilled", 137)
