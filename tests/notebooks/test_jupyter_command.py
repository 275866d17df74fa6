"""`./scripts/lab --jupyter`: JupyterLab with the course, as root too, with the learner's
own options passed on; and no labcluster left behind when JupyterLab fails to start."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT

import labcluster


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab_home() -> Iterator[Path]:
    home = Path(tempfile.mkdtemp(prefix="jupyter-cmd-"))
    home.chmod(0o755)
    yield home
    labcluster.stop(home)
    shutil.rmtree(home, ignore_errors=True)


def lab_command(home: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "LAB_SKIP_APT": "1", "LABCLUSTER_NODE": "0"}
    return subprocess.Popen([str(ROOT / "scripts/lab"), "--jupyter", "--labcluster-home",
                             str(home), *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def wait_http(url: str, proc: subprocess.Popen[str], timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return -1
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.status
        except OSError:
            time.sleep(0.5)
    return 0


@pytest.mark.timeout(300)
def test_jupyter_starts_as_this_user_with_options_passed_on(lab_home):
    port, token = free_port(), secrets.token_hex(8)
    proc = lab_command(lab_home, "--port", str(port), f"--ServerApp.token={token}")
    try:
        status = wait_http(f"http://127.0.0.1:{port}/api/status?token={token}", proc)
        if status != 200:
            proc.kill()
        assert status == 200, f"JupyterLab did not answer ({status}):\n{proc.communicate()[0]}"
        with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/api/contents/notebooks/01-preflight.ipynb"
                f"?token={token}&content=0", timeout=10) as resp:
            assert resp.status == 200, "the course is JupyterLab's root"
        assert labcluster.status(lab_home).running
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=60)[0]
    assert "Running as root is not recommended" not in out
    assert "labcluster keeps running" in out, out[-2000:]


@pytest.mark.timeout(300)
def test_a_jupyter_that_fails_to_start_leaves_no_cluster_behind(lab_home):
    proc = lab_command(lab_home, "--ServerApp.port=not-a-port")
    out = proc.communicate(timeout=240)[0]
    assert proc.returncode not in (0, None), out[-2000:]
    assert "stopped the labcluster this command started" in out, out[-2000:]
    assert not labcluster.status(lab_home).running


def test_unknown_options_without_jupyter_are_an_error():
    proc = subprocess.run([str(ROOT / "scripts/lab"), "--no-such-option"], cwd=ROOT,
                          env={**os.environ, "LAB_SKIP_APT": "1"}, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    assert "unrecognized arguments: --no-such-option" in proc.stderr
