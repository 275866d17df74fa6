"""What PostgreSQL and Redis share: a command to run, a process to start, wait for and stop.

Stdlib only, so labcluster can import it without pulling the application's dependencies.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


class ServerError(RuntimeError):
    """A server that would not start or stop; the message carries its log tail."""


@dataclass
class Command:
    """A process to run, as data: the node runs it under its supervisor, tests run it here.

    `user` is a (uid, gid) to switch to before exec (PostgreSQL refuses to run as root),
    or None to keep ours.
    """

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    user: tuple[int, int] | None = None

    def run(self, *, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run to completion (initdb, single-user SQL); a failure raises with its output."""
        result = subprocess.run(
            self.argv, env=self.full_env(), cwd=self.cwd, input=input, text=True,
            capture_output=True, timeout=timeout, **self.user_kwargs(),
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            raise ServerError(f"{Path(self.argv[0]).name} failed ({result.returncode}): {output}")
        return result

    def full_env(self) -> dict[str, str]:
        keep = ("PATH", "LANG", "LC_ALL", "TZ")
        if "LABCLUSTER_USER_NAME" in os.environ:  # a uid without passwd entry: the shim
            keep += ("LABCLUSTER_USER_NAME", "LD_PRELOAD")  # names it (node/security.py)
        base = {k: v for k, v in os.environ.items() if k in keep}
        return {**base, **self.env}

    def user_kwargs(self) -> dict:
        if self.user is None:
            return {}
        uid, gid = self.user
        return {"user": uid, "group": gid, "extra_groups": []}


def log_tail(path: Path | None, lines: int = 20) -> str:
    if path is None or not path.exists():
        return "(no log)"
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:]) or "(empty log)"


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) from /proc, or None when the process is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[19])


def descendants(pid: int) -> list[tuple[int, int]]:
    """Every process below `pid`, as (pid, start time) so a reused pid is never signalled."""
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))):
            children.setdefault(stat[0], []).append((int(entry.name), stat[1]))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child[0])
    return found


def kill_all(processes: list[tuple[int, int]], timeout: float = 5) -> None:
    """SIGKILL the listed processes that are still the same processes, and wait for them."""
    for pid, started in processes:
        stat = _stat(pid)
        if stat and stat[1] == started:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [pid for pid, started in processes
                 if (stat := _stat(pid)) and stat[1] == started and not _zombie(pid)]
        if not alive:
            return
        time.sleep(0.01)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


class ServerProcess:
    """One server process started from a `Command`, in its own process group.

    The process group makes `stop()` reach every child (PostgreSQL forks backends), so
    nothing outlives the server even when it is SIGKILLed.
    """

    name = "server"
    stop_signal = signal.SIGTERM

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    # Subclasses provide these two.
    def command(self) -> Command:
        raise NotImplementedError

    def is_ready(self) -> bool:
        raise NotImplementedError

    def prepare(self) -> None:
        """Work to do once before the first start (initdb); a no-op by default."""

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 30) -> ServerProcess:
        """Start and wait until the server accepts connections, or raise with its log tail."""
        if self.running:
            return self
        self.prepare()
        cmd = self.command()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                cmd.argv, env=cmd.full_env(), cwd=cmd.cwd, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                **cmd.user_kwargs(),
            )
        self._wait(self.is_ready, timeout, "accept connections")
        return self

    def _wait(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                code = self.process.returncode
                raise ServerError(
                    f"{self.name} exited ({code}) before it could {what}; "
                    f"log {self.log_path}:\n{log_tail(self.log_path)}"
                )
            if condition():
                return
            if time.monotonic() > deadline:
                self.stop(grace=2)
                raise ServerError(
                    f"{self.name} did not {what} within {timeout:g} s; "
                    f"log {self.log_path}:\n{log_tail(self.log_path)}"
                )
            time.sleep(0.02)

    def stop(self, grace: float = 10) -> int | None:
        """Ask the server to stop (its clean-shutdown signal), SIGKILL the group after `grace`."""
        proc = self.process
        if proc is None:
            return None
        family = descendants(proc.pid)
        if proc.poll() is None:
            self._signal_group(proc.pid, self.stop_signal)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                self._signal_group(proc.pid, signal.SIGKILL)
                proc.wait(5)
        # Children that outlived their parent go too (PostgreSQL's call setsid(), so the
        # process group alone does not reach them).
        self._signal_group(proc.pid, signal.SIGKILL)
        kill_all(family)
        self.process = None
        return proc.returncode

    def kill(self) -> None:
        """Crash it (SIGKILL to the group): for fault tests."""
        if self.process is not None:
            family = descendants(self.process.pid)
            self._signal_group(self.process.pid, signal.SIGKILL)
            kill_all(family)
            self.process.wait(5)
            self.process = None

    @staticmethod
    def _signal_group(pgid: int, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
