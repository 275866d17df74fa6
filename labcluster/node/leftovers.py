"""Find and end every container process of a node's state dir, from any process.

`labcluster.stop(home)` must return only when no container of that home is left, even
when the server could not stop them (it was killed, or a pod's stop was still under way),
and it runs in another process than the server. So each container's session is recorded
on disk (`<home>/node/containers/<marker>`: pid, session id, start time) while it runs,
and found again here, together with what `reap_leftovers` always matched: the container
marker with this node's hosts table in the environment, or a cwd under the node dir.

Ending escalates as a kubelet and `docker stop` would: SIGTERM (+SIGCONT for a throttled
tree), then SIGINT to PostgreSQL (its fast shutdown: a smart-shutdown postgres whose data
dir was deleted ignores SIGTERM for good), then SIGKILL, and waits until none is left.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from pathlib import Path

import psutil

log = logging.getLogger("labcluster.node.leftovers")
RECORDS = "containers"
MARKER = "LABCLUSTER_CONTAINER"


def record(record_dir: Path, marker: str, pid: int) -> None:
    """Note a started container's session (its pid is its session and group id)."""
    with contextlib.suppress(OSError, psutil.Error):
        record_dir.mkdir(parents=True, exist_ok=True)
        created = psutil.Process(pid).create_time()
        tmp = record_dir / f".{marker}.tmp"
        tmp.write_text(f"{pid} {os.getsid(pid)} {created}\n")
        tmp.replace(record_dir / marker)


def forget(record_dir: Path, marker: str) -> None:
    with contextlib.suppress(OSError):
        (record_dir / marker).unlink()


def _records(state: Path) -> list[tuple[str, int, float]]:
    out = []
    for path in (state / RECORDS).glob("[!.]*"):
        with contextlib.suppress(OSError, ValueError):
            _pid, sid, created = path.read_text().split()
            out.append((path.name, int(sid), float(created)))
    return out


def find(state: Path) -> list[psutil.Process]:
    """Live processes that belong to a container of this node dir, or that the node
    started with a path in it (kube-proxy); never the caller."""
    records = _records(state)
    markers = {m for m, _, _ in records}
    sessions = {sid: created for _, sid, created in records if _same_session(sid, created)}
    hosts, prefix = str(state / "hosts"), f"{state}/"
    me = {os.getpid(), os.getppid()}
    found = []
    for proc in psutil.process_iter():
        if proc.pid in me:
            continue
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            sid = os.getsid(proc.pid)
            if sid in sessions and proc.create_time() >= sessions[sid] - 0.5:
                found.append(proc)
                continue
            env = proc.environ()
            if env.get(MARKER) in markers or (
                    MARKER in env and env.get("LABCLUSTER_HOSTS") == hosts):
                found.append(proc)
                continue
            # the node's own helpers too: kube-proxy (its table is under the node dir)
            # ends by PR_SET_PDEATHSIG when the server dies, but not at once
            if proc.cwd().startswith(prefix) or any(a.startswith(prefix)
                                                    for a in proc.cmdline()):
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def _same_session(sid: int, created: float) -> bool:
    """A record still names its session: the leader is gone (Linux does not reuse a pid
    still in use as a session id) or is the very process that was recorded."""
    try:
        return abs(psutil.Process(sid).create_time() - created) < 0.5
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


def _is_postgres(proc: psutil.Process) -> bool:
    with contextlib.suppress(psutil.Error):
        return "postgres" in proc.name() or "postgres" in " ".join(proc.cmdline()[:1])
    return False


def _send(procs: list[psutil.Process], sig: int) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)


def end_all(state: Path, term_grace: float = 5.0, int_grace: float = 5.0,
            kill_wait: float = 10.0) -> int:
    """TERM → (postgres) INT → KILL every container process of `state`; wait for them.

    Returns how many processes were found. Raises RuntimeError if any is still there
    after SIGKILL and `kill_wait` (a process in uninterruptible sleep), so a caller never
    believes a stop that did not happen.
    """
    procs = find(state)
    total = len(procs)
    if procs:
        log.info("ending %d container processes of %s", total, state)
        _send(procs, signal.SIGTERM)
        _send(procs, signal.SIGCONT)
        _, procs = psutil.wait_procs(procs, timeout=term_grace)
        procs += [p for p in find(state) if p not in procs]  # forks while stopping
    pg = [p for p in procs if _is_postgres(p)]
    if pg:
        _send(pg, signal.SIGINT)
        _, procs_left = psutil.wait_procs(procs, timeout=int_grace)
        procs = procs_left
    deadline = time.monotonic() + kill_wait
    while True:
        procs = [p for p in procs if p.is_running()] + [p for p in find(state)
                                                         if p not in procs]
        procs = [p for p in procs if _alive(p)]
        if not procs:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes of {state} survived SIGKILL: "
                               f"{sorted(p.pid for p in procs)}")
        _send(procs, signal.SIGKILL)
        psutil.wait_procs(procs, timeout=1)
    for marker, _, _ in _records(state):
        forget(state / RECORDS, marker)
    return total


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
