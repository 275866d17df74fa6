"""`labcluster.stop(home)` from another process ends every container process of the home,
even those the server left (found by the sessions recorded on disk): one that ignores
SIGTERM, and a PostgreSQL whose data directory was deleted under it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from node_helpers import wait_port

from labcluster.node import leftovers
from labcluster.node.launch import ContainerPort, Mount
from labcluster.node.supervisor import processes_with_marker

PG_ENV = {"POSTGRES_USER": "u", "POSTGRES_DB": "d", "POSTGRES_PASSWORD": "p",
          "PGDATA": "/var/lib/postgresql/data/pgdata"}


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # ours, not reaped yet
    except psutil.NoSuchProcess:
        return True


def test_stop_from_another_process_ends_every_container(make_launch, run_container, node_dir):
    home = Path(tempfile.mkdtemp(prefix="labcluster-stop-"))
    home.chmod(0o755)
    records = home / "node" / leftovers.RECORDS
    pvc = node_dir / "pvcs" / f"stop-{home.name}"
    pvc.mkdir(parents=True)
    pvc.chmod(0o755)
    try:
        stubborn = run_container(make_launch(
            "busybox:1.36", name="stubborn",
            args=["sh", "-c", "trap '' TERM; sleep 600 & sleep 600; wait"]),
            record_dir=records)
        launch = make_launch("postgres:16.4-alpine", name="postgres-0", env=dict(PG_ENV),
                             ports=[ContainerPort(5432)],
                             mounts=[Mount(pvc, "/var/lib/postgresql/data")])
        pg = run_container(launch, record_dir=records)
        wait_port(launch.pod_ip, 5432, timeout=60, proc=pg)
        time.sleep(0.5)
        pg_pids = {p.pid for p in pg.tree()} | {p.pid for p in processes_with_marker(pg.marker)}
        assert any("postgres" in psutil.Process(pid).name() for pid in pg_pids), pg_pids
        for _ in range(20):  # as a namespace deletion removes the claim's dir (postgres
            shutil.rmtree(pvc / "pgdata", ignore_errors=True)  # keeps writing meanwhile)
            if not (pvc / "pgdata").exists():
                break
        time.sleep(0.3)
        pids = {p.pid for c in (stubborn, pg) for p in c.tree()}
        pids |= {p.pid for c in (stubborn, pg) for p in processes_with_marker(c.marker)}
        pids |= pg_pids
        assert len({p.pid for p in stubborn.tree()}) == 3  # sh + 2 sleeps
        assert pg.running(), "postgres keeps running without its data dir"
        assert {p.name for p in records.iterdir()} == {stubborn.marker, pg.marker}

        done = subprocess.run([sys.executable, "-c",
                               "import labcluster, sys; print(labcluster.stop(sys.argv[1]))",
                               str(home)], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "False"  # no server was running: still ended them
        left = sorted(pid for pid in pids if not _gone(pid))
        assert left == [], f"processes outlived stop: {left}"
        assert list(records.iterdir()) == []
        assert stubborn.wait(10) is not None and pg.wait(10) is not None
    finally:
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(pvc, ignore_errors=True)


def test_a_node_helper_named_by_its_path_is_ended_too(tmp_path):
    """kube-proxy is no container: it is found by the node-dir path on its command line
    (it ends by PR_SET_PDEATHSIG when a SIGKILLed server goes, but not at once)."""
    state = tmp_path / "node"
    state.mkdir()
    script = ("import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
              "print('up', flush=True); time.sleep(600)")
    helper = subprocess.Popen([sys.executable, "-c", script, str(state / "proxy.json")],
                              cwd="/", stdout=subprocess.PIPE, text=True)
    try:
        assert helper.stdout is not None and helper.stdout.readline() == "up\n"
        assert helper.pid in [p.pid for p in leftovers.find(state)]
        assert leftovers.end_all(state, term_grace=0.5, int_grace=0.5) == 1
        assert _gone(helper.pid)  # it ignored SIGTERM: ended by SIGKILL (end_all reaped it)
        assert leftovers.find(state) == []
    finally:
        if helper.poll() is None:
            helper.kill()
            helper.wait()
