"""Stopping a child process the tests started: one place for terminate → wait → kill.

Every server a test starts (nginx, Chromium, the storefront, PostgreSQL/Redis wrappers)
must be gone when its fixture ends, even when it ignores SIGTERM, or the next test finds
its port taken; and the returncode must be read so no zombie is left behind.
"""

from __future__ import annotations

import subprocess


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
