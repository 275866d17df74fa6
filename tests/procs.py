"""Stopping a child process the tests started: one place for terminate → wait → kill.

Every server a test starts (nginx, Chromium, the storefront, PostgreSQL/Redis wrappers)
must be gone when its fixture ends, even when it ignores SIGTERM, or the next test finds
its port taken; and the returncode must be read so no zombie is left behind.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psutil


def stop_process(proc: subprocess.Popen | None, timeout: float = 10) -> int | None:
    """SIGTERM, wait up to ``timeout`` s, then SIGKILL; the exit code (None: no process)."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def cluster_leftovers(home: Path) -> list[str]:
    """The cluster's processes still alive after ``labcluster.stop(home)``: those working in
    its home (server, pods: postgres, redis, the storefront) or naming it on their command
    line. Not those that merely inherited ``LABCLUSTER_HOME`` from the test process (a
    JupyterLab or papermill the tests started): they are the starting test's to stop, and
    counting them here blamed the cluster for another folder's process.

    Each entry says what the process is (pid, parent, command line, cwd) so a failure can
    be traced without rerunning.
    """
    me, found = os.getpid(), []
    for p in psutil.process_iter(["pid", "ppid", "name"]):
        if p.pid == me:
            continue
        try:
            cwd, cmdline = p.cwd(), " ".join(p.cmdline())
            if p.status() == psutil.STATUS_ZOMBIE:
                continue
        except (psutil.Error, OSError):
            continue
        if cwd.startswith(str(home)) or str(home) in cmdline:
            found.append(f"{p.info['pid']} (parent {p.info['ppid']}) {cmdline[:200]!r} "
                         f"in {cwd}")
    return found
