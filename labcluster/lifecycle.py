"""Start, find, check and stop the background server of a state dir.

`ensure_running` is idempotent: a second `up` finds the first through its pid file and an
authenticated /readyz, so two notebooks share one cluster per state dir.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import home as homedir
from .kubeconfig import read_kubeconfig

START_TIMEOUT = 30.0
STOP_TIMEOUT = 40.0


def home_dir(home: str | Path | None = None) -> Path:
    """`home`, else the default state dir (`labcluster.home`: $LABCLUSTER_HOME,
    ~/.labcluster, or /var/lib/labcluster as root); HomeError says why not."""
    if home is not None:
        return Path(home).expanduser()
    return homedir.default_home()


@dataclass
class Status:
    running: bool
    home: Path
    pid: int | None = None
    server: str | None = None
    kubeconfig: Path | None = None
    detail: str = ""

    def __str__(self) -> str:
        if self.running:
            return (f"labcluster is running (pid {self.pid}) at {self.server}\n"
                    f"kubeconfig: {self.kubeconfig}")
        return f"labcluster is not running ({self.detail or 'stopped'}); state dir {self.home}"


def _pid(home: Path) -> int | None:
    try:
        return int((home / "server.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _is_our_server(pid: int, home: Path) -> bool:
    """Only a `labcluster serve --home <this dir>` process counts (pids get reused)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc (macOS): trust the pid file
    text = [a.decode(errors="replace") for a in args]
    return "serve" in text and "labcluster" in " ".join(text) and str(home) in text


def _ready(home: Path, server: str, token: str, timeout: float = 2.0) -> bool:
    req = urllib.request.Request(server + "/readyz", headers={"Authorization": f"Bearer {token}"})
    try:
        ctx = ssl.create_default_context(cafile=str(home / "ca.crt"))
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False


def status(home: str | Path | None = None) -> Status:
    h = home_dir(home)
    pid = _pid(h)
    if pid is None or not _is_our_server(pid, h):
        return Status(False, h, detail="no server process")
    info = read_kubeconfig(h / "kubeconfig")
    if info is None:
        return Status(False, h, pid, detail="no kubeconfig yet")
    if not _ready(h, info.server, info.token):
        return Status(False, h, pid, info.server, h / "kubeconfig", detail="not ready")
    return Status(True, h, pid, info.server, h / "kubeconfig")


def ensure_running(home: str | Path | None = None, env: dict[str, str] | None = None) -> Path:
    """Start the cluster of `home` unless it runs; return its kubeconfig path.

    Safe when several processes call it at once (two kernels opened together): the start
    decision is taken under an exclusive lock on `start.lock`, so one starts the server and
    the others, once they get the lock, find it running (or wait for it to become ready).
    """
    h = home_dir(home)
    st = status(h)
    if st.running:
        assert st.kubeconfig is not None
        return st.kubeconfig
    homedir.check_reachable(h)
    homedir.make_private(h)
    with _start_lock(h, 2 * START_TIMEOUT):
        return _ensure_running_locked(h, env)


@contextlib.contextmanager
def _start_lock(h: Path, timeout: float) -> Iterator[None]:
    """flock, polled so a stuck holder turns into a clear error instead of a hang."""
    fd = os.open(h / "start.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"another process has been starting labcluster in {h} "
                                       f"for more than {timeout:.0f} s") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock


def _ensure_running_locked(h: Path, env: dict[str, str] | None) -> Path:
    st = status(h)
    if st.running:
        assert st.kubeconfig is not None
        return st.kubeconfig
    # starting up right now (an `up` of an older version, without the lock)? wait for it
    if (st.pid is not None and _is_our_server(st.pid, h)
            and _wait_ready(h, st.pid, START_TIMEOUT)):
        return h / "kubeconfig"
    homedir.create_private_file(h / "server.log")
    with open(h / "server.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "labcluster", "serve", "--home", str(h)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env={**os.environ, **(env or {})}, cwd=str(h))
    if not _wait_ready(h, proc.pid, START_TIMEOUT, proc):
        tail = (h / "server.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"labcluster did not become ready; server.log ends with:\n{tail}")
    return h / "kubeconfig"


def _wait_ready(h: Path, pid: int, timeout: float,
                proc: subprocess.Popen[bytes] | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            # lost the race to another `up`? then that one is ours to use
            return status(h).running
        if _pid(h) == pid:
            info = read_kubeconfig(h / "kubeconfig")
            if info and _ready(h, info.server, info.token, 0.5):
                return True
        time.sleep(0.02)
    return False


def stop(home: str | Path | None = None, timeout: float = STOP_TIMEOUT) -> bool:
    """SIGTERM the server (it stops its components) and wait; True if one was running.

    Returns only when no container process of the home is left either: whatever the
    server could not stop (killed after `timeout`, a pod stop still under way, a postgres
    ignoring SIGTERM) is ended here, TERM → INT (postgres) → KILL (`node/leftovers.py`).
    """
    h = home_dir(home)
    pid = _pid(h)
    running = pid is not None and _is_our_server(pid, h)
    if running:
        assert pid is not None
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
    _end_containers(h)
    return running


def _end_containers(h: Path) -> None:
    if not (h / "node").is_dir():
        return  # never ran a node (or a control-plane-only cluster)
    try:
        from .node import leftovers
    except ImportError:  # psutil (extra `lab`) absent: then no node could have run
        return
    leftovers.end_all(h / "node")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie child of ours (tests) counts as gone
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        return state != "Z"
    except OSError:
        return True
