"""What the JupyterLab browser tests share with their fixtures (conftest.py): where things
are, a free port, temp folders other uids can traverse, the server's handle, and ending the
processes a server leaves."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
CHROMIUM = "/usr/bin/chromium"
SERVER_START_TIMEOUT = 90.0

#: JupyterLab user settings for the run: no "get Jupyter news?" toast over the notebook (and
#: no request to the internet it would make once answered).
SETTINGS = {"@jupyterlab/apputils-extension/notification.jupyterlab-settings":
            {"fetchNews": "false", "checkForUpdates": False}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def temp_dir(prefix: str, mode: int = 0o755, parent: str | None = None) -> Path:
    """Not pytest's tmp_path (0700, and rotated by other sessions on a shared machine)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    folder.chmod(mode)
    return folder


@dataclass
class JupyterServer:
    url: str
    token: str
    root: Path  # the copy of notebooks/ it serves
    results: Path  # LAB_RESULTS_DIR of its kernels
    log: Path

    def lab_url(self, path: str) -> str:
        """A notebook opened in JupyterLab, with a fresh (``reset``) workspace."""
        return f"{self.url}/lab/tree/{path}?reset&token={self.token}"


def wait_ready(proc: subprocess.Popen, url: str, token: str, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"JupyterLab exited with {proc.returncode}:\n"
                                 + log.read_text()[-3000:])
        try:
            req = urllib.request.Request(f"{url}/api/status",
                                         headers={"Authorization": f"token {token}"})
            with urllib.request.urlopen(req, timeout=5) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"JupyterLab did not answer within {SERVER_START_TIMEOUT:.0f}s:\n"
                         + log.read_text()[-3000:])


def children(pid: int) -> list[Any]:
    """The server's descendants (its kernels) as ``psutil.Process``es — which, unlike bare
    pids, cannot end an unrelated process that reused the number later."""
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def end(procs: list[Any], timeout: float = 5) -> None:
    """SIGTERM what is still running of ``procs``, SIGKILL what outlives ``timeout``."""
    import psutil

    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.terminate()
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
