"""Fixtures for the load-test tests: a tiny local aiohttp server (behaviours per query
string, see lt_server.py) and, for the cluster tests, one labcluster session with the
backend's tiers deployed, in a temp home only this session uses."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from procs import stop_process
from servers import free_port

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def lt_server() -> Iterator[str]:
    """Base URL of the test server (http://127.0.0.1:<random>)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(HERE / "lt_server.py"), str(port)])
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(base + "/close", timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline or proc.poll() is not None:
                stop_process(proc)
                raise RuntimeError("lt_server did not start") from None
            time.sleep(0.05)
    try:
        yield base
    finally:
        stop_process(proc)


@pytest.fixture(scope="session")
def lab_backend():
    """A labcluster with config, database, cache and backend deployed (the frontend is not
    needed for load tests); stopped, and its home removed, at the end of the session."""
    import labcluster
    import labhelpers

    home = Path(tempfile.mkdtemp(prefix="loadtest-test-"))
    home.chmod(0o755)  # PostgreSQL runs as another user and must traverse it
    try:
        # By its kubeconfig, not by LABCLUSTER_HOME: other folders' session clusters may be
        # up in the same pytest session, and os.environ is shared.
        kubeconfig = labcluster.ensure_running(home)
        with contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            lab = labhelpers.connect(cluster="kubeconfig", kubeconfig=str(kubeconfig))
            for tier in ("config", "database", "cache", "backend"):
                lab.deploy(tier)
        yield lab
    finally:
        labcluster.stop(home)
        shutil.rmtree(home, ignore_errors=True)
