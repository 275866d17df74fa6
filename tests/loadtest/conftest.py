"""Fixtures for the load-test tests: a tiny local aiohttp server (behaviours per query
string, see lt_server.py) and, for the cluster tests, one labcluster session with the
backend's tiers deployed, in a temp home only this session uses."""

from __future__ import annotations

import contextlib
import io
import shutil
import ssl
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


def _start_lt_server(cert_dir: Path | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    extra = [str(cert_dir)] if cert_dir else []
    proc = subprocess.Popen([sys.executable, str(HERE / "lt_server.py"), str(port), *extra])
    base = f"{'https' if cert_dir else 'http'}://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(base + "/close", timeout=1, verify=ssl.create_default_context(
                cafile=str(cert_dir / "ca.crt")) if cert_dir else True)
            return proc, base
        except httpx.HTTPError:
            if time.monotonic() > deadline or proc.poll() is not None:
                stop_process(proc)
                raise RuntimeError("lt_server did not start") from None
            time.sleep(0.05)


@pytest.fixture(scope="session")
def lt_server() -> Iterator[str]:
    """Base URL of the test server (http://127.0.0.1:<random>)."""
    proc, base = _start_lt_server()
    try:
        yield base
    finally:
        stop_process(proc)


@pytest.fixture(scope="session")
def lt_tls_server() -> Iterator[tuple[str, str]]:
    """(https://127.0.0.1:<random>, the CA file that signed its certificate)."""
    from labcluster.tls import ensure_certs

    cert_dir = Path(tempfile.mkdtemp(prefix="lt-tls-"))
    ensure_certs(cert_dir)  # before the server starts, so the client can load the CA
    proc, base = _start_lt_server(cert_dir)
    try:
        yield base, str(cert_dir / "ca.crt")
    finally:
        stop_process(proc)
        shutil.rmtree(cert_dir, ignore_errors=True)


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
