"""Run one container instance as a process tree: start, watch, measure, stop, leave nothing.

A container is the process the ProcessSpec names plus everything it starts. We find that
tree three ways, because any one alone misses something: its process group (the process
starts its own session), its descendants (psutil), and a marker variable
(`LABCLUSTER_CONTAINER`) every descendant inherits — which still finds a daemon that
called setsid() and was re-parented to init. Stopping signals all three.

Memory limits: without a writable cgroup v2 hierarchy (Binder has none, this machine
runs cgroup v1 read-mostly) the kernel cannot enforce them, so a watcher thread polls the
tree's memory (every `poll_interval`, default 0.1 s, near the limit; up to WATCH_MAX_GAP
far below it) and SIGKILLs the tree when it is over the limit, reporting `OOMKilled`/137
as the kernel OOM killer would. A process growing faster than GROWTH_ASSUMED can
overshoot by what it allocates in one gap before it is killed; that is the granularity. Memory is charged as a cgroup would
(`charged_memory`): each process's anonymous memory, and file-backed and shared pages
(PostgreSQL's shared_buffers) once.

CPU limits: a second thread holds the tree to `cpu_limit` millicores as CFS bandwidth
control does, a quota per 100 ms period, enforced by SIGSTOP when the quota is spent and
SIGCONT at the period's end (see `_limit_cpu`); approximate (the tree is sampled every few
ms near its quota, and the overshoot is paid from the next period), but real: a busy loop
with a 250m limit uses about 250m, and no pause outlasts a period.

CPU usage (`usage()`, what `kubectl top` and the HPA read) is the rate over the trailing
`METRICS_WINDOW` (10 s), as metrics-server reports a rate over its scrape window: the
watcher notes the tree's CPU time every tenth of a window. It is not "since the last
call": a learner's `kubectl top` must not shorten the window the HPA controller sees.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil

from labcluster.node import leftovers, readonly, security
from labcluster.node.launch import ProcessSpec
from labcluster.node.logs import LogPump, rotate

MARKER = "LABCLUSTER_CONTAINER"
CPU_PERIOD = 0.1  # seconds: CFS's default cfs_period_us, the window a CPU quota refills
CPU_REFRESH_PERIODS = 5  # the limiter lists the tree's processes every 5th period
CPU_MIN_TICK = 0.002  # seconds: the finest the limiter samples a tree near its quota
METRICS_WINDOW = 10.0  # seconds: PodMetrics' "window", the span a CPU rate is taken over
#: The watcher's longest gap between two looks at a tree's memory, and the growth it
#: assumes between looks: far below its limit a tree is looked at less often (a lab at
#: rest spent most of the node's CPU reading /proc ten times a second per container),
#: never so rarely that 1 GiB/s of growth could pass the limit unseen.
WATCH_MAX_GAP = 0.5
GROWTH_ASSUMED = 1 << 30  # bytes per second


@dataclass(frozen=True)
class Termination:
    """How an instance ended, in the terms of `containerStatuses[].state.terminated`."""

    exit_code: int
    reason: str  # Completed | Error | OOMKilled
    signal: int | None
    started_at: datetime
    finished_at: datetime
    message: str = ""


@dataclass(frozen=True)
class Usage:
    cpu_millicores: int  # average since the previous usage() call
    memory_bytes: int  # sum of RSS over the process tree
    processes: int


def _now() -> datetime:
    return datetime.now(UTC)


class _ProcessTable:
    """A parent→children map of the whole machine, shared by every watcher.

    Read straight from /proc/<pid>/stat (psutil.process_iter costs ~10 ms per scan here,
    this ~1 ms); one snapshot per poll interval serves all containers. psutil.Process
    objects are made only for descendants and reused while (pid, start time) matches.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._taken = 0.0
        self._children: dict[int, list[tuple[int, int]]] = {}
        self._objects: dict[tuple[int, int], psutil.Process] = {}

    @staticmethod
    def _scan() -> dict[int, list[tuple[int, int]]]:
        children: dict[int, list[tuple[int, int]]] = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rfind(b")") + 2 :].split()
            # fields[0] is state, [1] ppid, [19] starttime (stat fields 3, 4 and 22)
            children.setdefault(int(fields[1]), []).append((int(name), int(fields[19])))
        return children

    def descendants(self, pid: int, max_age: float = 0.0) -> list[psutil.Process]:
        with self._lock:
            if time.monotonic() - self._taken > max_age:
                self._children, self._taken = self._scan(), time.monotonic()
                alive = {key for kids in self._children.values() for key in kids}
                self._objects = {k: v for k, v in self._objects.items() if k in alive}
            found: list[psutil.Process] = []
            todo = [pid]
            while todo:
                for key in self._children.get(todo.pop(), []):
                    proc = self._objects.get(key)
                    if proc is None:
                        try:
                            proc = self._objects[key] = psutil.Process(key[0])
                        except psutil.Error:
                            continue
                    found.append(proc)
                    todo.append(key[0])
            return found


PROCESS_TABLE = _ProcessTable()


def processes_with_marker(marker: str) -> list[psutil.Process]:
    """Every live process whose environment carries this container's marker."""
    found = []
    needle = f"{MARKER}={marker}".encode()
    for proc in psutil.process_iter():
        try:
            with open(f"/proc/{proc.pid}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.append(proc)
        except (OSError, psutil.Error):
            continue
    return found


class ContainerProcess:
    """One instance of a container. Create, `start()`, then `wait()`/`stop()`.

    `on_exit(termination)` is called once, from a watcher thread, when the instance has
    ended and its whole tree is gone — the kubelet's hook for restart policy and events.
    """

    def __init__(
        self,
        spec: ProcessSpec,
        log_dir: Path,
        *,
        memory_limit: int | None = None,
        cpu_limit: int | None = None,
        poll_interval: float = 0.1,
        on_exit: Callable[[Termination], None] | None = None,
        record_dir: Path | None = None,
        metrics_window: float = METRICS_WINDOW,
    ) -> None:
        """`record_dir`: where the running instance's session is noted on disk, so that
        `labcluster.stop` in another process finds what the server left (leftovers.py)."""
        self.spec = spec
        self.record_dir = record_dir
        self.log_dir = Path(log_dir)
        self.memory_limit = memory_limit
        self.cpu_limit = cpu_limit
        self.poll_interval = poll_interval
        self.throttled_seconds = 0.0
        #: the longest pause the CPU limiter planned (at most one CPU_PERIOD: a longer
        #: one is a stall a CFS throttle never makes)
        self.longest_pause = 0.0
        self.on_exit = on_exit
        self.marker = uuid.uuid4().hex
        self.popen: subprocess.Popen[bytes] | None = None
        self.started_at: datetime | None = None
        self.termination: Termination | None = None
        self._oom = False
        self._stopping = False
        self._done = threading.Event()
        self._known: dict[int, psutil.Process] = {}
        self.metrics_window = metrics_window
        #: (monotonic time, the tree's CPU seconds) every tenth of the window, the oldest
        #: first: (start, 0.0) until the window has passed once
        self._cpu_history: deque[tuple[float, float]] = deque(maxlen=12)
        self._cpu_lock = threading.Lock()
        self._pump: LogPump | None = None

    # ----- lifecycle -----

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def running(self) -> bool:
        return self.popen is not None and not self._done.is_set()

    def start(self) -> int:
        if self.popen is not None:
            raise RuntimeError("a ContainerProcess starts once; make a new one to restart")
        log_path = rotate(self.log_dir)
        self._pump = LogPump(log_path)
        env = {**self.spec.env, MARKER: self.marker}
        try:
            self.popen = subprocess.Popen(
                self.spec.argv,
                env=env,
                cwd=self.spec.cwd,
                stdin=subprocess.PIPE if self.spec.stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                close_fds=True,
                **security.popen_options(self.spec, readonly.preexec(self.spec)),
            )
        except OSError as exc:
            self._pump.write("stderr", f"labcluster: cannot start {self.spec.argv[0]}: {exc}")
            self._pump.close()
            raise
        self.started_at = _now()
        self._cpu_history.append((time.monotonic(), 0.0))
        self._known[self.popen.pid] = psutil.Process(self.popen.pid)
        if self.record_dir is not None:
            leftovers.record(self.record_dir, self.marker, self.popen.pid)
        assert self.popen.stdout and self.popen.stderr
        self._pump.attach(self.popen.stdout, "stdout")
        self._pump.attach(self.popen.stderr, "stderr")
        threading.Thread(target=self._watch, name=f"watch-{self.popen.pid}", daemon=True).start()
        if self.cpu_limit:
            threading.Thread(target=self._limit_cpu, name=f"cpu-limit-{self.popen.pid}",
                             daemon=True).start()
        return self.popen.pid

    def wait(self, timeout: float | None = None) -> Termination | None:
        """The termination once the instance and its tree are gone; None on timeout."""
        self._done.wait(timeout)
        return self.termination

    def stop(self, grace: float = 30.0) -> Termination | None:
        """The image's stop signal (SIGTERM by default) to the tree, up to `grace` seconds,
        then SIGKILL (terminationGracePeriodSeconds)."""
        if self.popen is None:
            return None
        self._stopping = True
        if not self._done.is_set():
            self._signal_tree(self.spec.stop_signal)
            self._signal_tree(signal.SIGCONT)  # a throttled (stopped) tree must see it now
            if not self._done.wait(grace):
                self._signal_tree(signal.SIGKILL)
        self._done.wait(10)
        return self.termination

    # ----- measurement -----

    def tree(self, max_age: float = 0.0) -> list[psutil.Process]:
        """The live processes of this container (see module docstring).

        `max_age` lets the watcher reuse a process-table snapshot that young; callers
        that need the truth now (usage, stop) get a fresh one.
        """
        procs: dict[int, psutil.Process] = {}
        main = self._known.get(self.popen.pid) if self.popen else None
        roots = [main] if main is not None else []
        for proc in roots:
            try:
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    procs[proc.pid] = proc
                for child in PROCESS_TABLE.descendants(proc.pid, max_age):
                    procs[child.pid] = child
            except psutil.Error:
                continue
        for pid, proc in list(self._known.items()):
            if pid not in procs:
                try:
                    if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                        procs[pid] = proc
                except psutil.Error:
                    pass
        self._known.update(procs)
        return list(procs.values())

    def memory_bytes(self, max_age: float = 0.0) -> int:
        return charged_memory(p.pid for p in self.tree(max_age))

    def _cpu_seconds(self, max_age: float = 0.0) -> float:
        total = 0.0
        for proc in self.tree(max_age):
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
                if self.popen and proc.pid == self.popen.pid:
                    total += times.children_user + times.children_system
        return total

    def usage(self) -> Usage:
        """CPU over the trailing metrics window (millicores) and current memory of the tree.

        Until a window has passed, the rate is since the start, so a first `kubectl top`
        is not 0m."""
        now, cpu = time.monotonic(), self._cpu_seconds()
        with self._cpu_lock:
            history = list(self._cpu_history)
        since = history[0] if history else None
        for sample in history:  # the newest sample at least a window old
            if now - sample[0] >= self.metrics_window:
                since = sample
        millicores = 0
        if since is not None and now > since[0]:
            millicores = max(0, round((cpu - since[1]) / (now - since[0]) * 1000))
        tree = self.tree()
        return Usage(millicores, charged_memory(p.pid for p in tree), len(tree))

    def _note_cpu(self) -> None:
        """Every tenth of the metrics window, the tree's CPU time (for `usage`)."""
        now = time.monotonic()
        with self._cpu_lock:
            due = not self._cpu_history or \
                now - self._cpu_history[-1][0] >= self.metrics_window / 10
        if due:
            cpu = self._cpu_seconds(self.poll_interval)
            with self._cpu_lock:
                self._cpu_history.append((now, cpu))

    # ----- internals -----

    def _signal_tree(self, sig: int) -> None:
        if self.popen is None:
            return
        group_signalled = False
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)
            group_signalled = True
        targets = {p.pid: p for p in self.tree()}
        for proc in processes_with_marker(self.marker):
            targets.setdefault(proc.pid, proc)
        for proc in targets.values():
            # the group got it already: a second SIGTERM would run a handler twice (a
            # runtime signals a container's process once); the rest (setsid daemons) now
            with contextlib.suppress(psutil.Error, OSError):
                if group_signalled and os.getpgid(proc.pid) == self.popen.pid:
                    continue
                proc.send_signal(sig)

    def _watch(self) -> None:
        assert self.popen is not None
        exited = _exit_waiter(self.popen.pid)
        try:
            while self.popen.poll() is None:
                gap = self.poll_interval
                if self.memory_limit and not self._oom:
                    used = self.memory_bytes(self.poll_interval)
                    if used > self.memory_limit:
                        self._oom = True
                        self._pump and self._pump.write(
                            "stderr",
                            f"labcluster: memory {used} bytes over limit {self.memory_limit}:"
                            " OOMKilled",
                        )
                        self._signal_tree(signal.SIGKILL)
                    else:
                        headroom = (self.memory_limit - used) / GROWTH_ASSUMED
                        gap = min(WATCH_MAX_GAP, max(self.poll_interval, headroom))
                else:
                    self.tree(self.poll_interval)  # keep learning descendants (setsid daemons)
                self._note_cpu()
                exited(gap)
        finally:
            exited(None)
        code = self.popen.returncode
        # The main process is gone: as when a container's init dies, nothing else stays.
        deadline = time.monotonic() + 5
        while True:
            self._signal_tree(signal.SIGKILL)
            if not any(p.is_running() and _alive(p) for p in self._known.values()):
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        if self._pump:
            self._pump.close()
        if self.record_dir is not None and not any(_alive(p) for p in self._known.values()):
            leftovers.forget(self.record_dir, self.marker)
        self.termination = self._termination(code)
        self._done.set()
        if self.on_exit:
            self.on_exit(self.termination)

    def _limit_cpu(self) -> None:
        """Hold the tree to `cpu_limit` as CFS bandwidth control does: a quota per period.

        In each `CPU_PERIOD` (100 ms, the kernel's default `cfs_period_us`) the tree may
        use limit × period CPU seconds. The thread samples the tree's CPU no later than
        the earliest moment the quota could be spent (every core busy), so it sees the
        quota run out within `CPU_MIN_TICK`; then it SIGSTOPs the tree for the rest of the
        period and SIGCONTs it at the period's end. What it ran past the quota (that tick,
        and until the stop lands) is paid from the next period's quota, so the average
        stays the limit; a pause lasts the rest of one period, as a CFS throttle does
        (a debt above a whole quota costs whole periods).

        Why not the old way (pay back each 0.1 s poll's excess with a pause of excess /
        limit, up to 1 s): a busy 2-process tree at 250m ran 100 ms and then stopped up
        to 900 ms, a stall that shows as a p99 cliff, and a tree right at its limit got a
        few-millisecond stop/continue every poll from sampling jitter alone.
        """
        assert self.cpu_limit
        quota = self.cpu_limit / 1000 * CPU_PERIOD
        cores = os.cpu_count() or 1
        reader = _CpuReader(self)
        reader.advance(refresh=True)
        debt = 0.0
        busy = False  # the tree used at least half its quota in the previous period
        start = time.monotonic() - CPU_PERIOD  # the loop's first step makes it now
        period = 0
        while not self._done.is_set() and not self._stopping:
            # periods on a fixed grid: a late wake-up shortens the next run, not the limit
            now = time.monotonic()
            start = start + CPU_PERIOD if now - start < 2 * CPU_PERIOD else now
            period += 1
            # What the first read finds was run before this period began (until the last
            # stop landed), or by a process the tree started meanwhile (the tree is listed
            # anew every 5th period; a new process counts whole then): it is a debt, not
            # this period's use, so a period never begins with a pause. A debt is paid at
            # most half a quota a period, so no period is all pause: no stall is longer
            # than one period.
            debt += reader.advance(refresh=period % CPU_REFRESH_PERIODS == 0)
            budget = quota - min(debt, quota / 2)
            used = 0.0
            while not self._done.is_set() and not self._stopping:
                elapsed = time.monotonic() - start
                if used >= budget:
                    pause = CPU_PERIOD - elapsed
                    if pause > 0:
                        reader.signal(signal.SIGSTOP)
                        try:
                            time.sleep(pause)
                        finally:
                            reader.signal(signal.SIGCONT)
                        self.throttled_seconds += pause
                        self.longest_pause = max(self.longest_pause, pause)
                    break
                if elapsed >= CPU_PERIOD:
                    break
                # the quota cannot run out sooner than this, even with every core busy;
                # a tree idle last period is looked at twice a period (what an idle
                # container costs), and a burst from idle is paid as a debt. (time.sleep:
                # an Event.wait per tick costs more; stop() ends the loop within a tick)
                floor = CPU_MIN_TICK if busy else CPU_PERIOD / 2
                time.sleep(min(CPU_PERIOD - elapsed, max(floor, (budget - used) / cores)))
                used += reader.advance()
            busy = used >= quota / 2
            debt = min(max(0.0, debt + used - quota), quota * 10)

    def _termination(self, code: int) -> Termination:
        assert self.started_at is not None
        sig = -code if code < 0 else None
        exit_code = 128 + sig if sig else code
        if self._oom:
            reason, exit_code = "OOMKilled", 137
        elif exit_code == 0:
            reason = "Completed"
        else:
            reason = "Error"
        return Termination(exit_code, reason, sig, self.started_at, _now())


def charged_memory(pids: Iterable[int]) -> int:
    """Bytes a memory cgroup would charge these processes: each one's anonymous memory,
    plus file-backed and shared memory once (the most any one of them has resident).

    A cgroup charges a page once, however many processes map it. The processes of one
    container map the same binary and libraries, and PostgreSQL's backends the same
    shared_buffers segment; summing their RSS counted that segment once per backend, so
    a busy PostgreSQL (30 connections, ~100 MiB really used) reached its 512Mi limit and
    was OOMKilled by this node where a kubelet would not. Read from /proc/<pid>/status
    (RssAnon, RssFile, RssShmem): as cheap as RSS, unlike smaps' PSS.
    """
    anon = file = shmem = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue  # gone meanwhile
        kib = {"RssAnon": 0, "RssFile": 0, "RssShmem": 0}  # only these three lines parsed:
        for line in text.splitlines():  # the watcher asks 10 times a second
            key, _, value = line.partition(":")
            if key in kib:
                kib[key] = int(value.split()[0])
        anon += kib["RssAnon"]
        file = max(file, kib["RssFile"])
        shmem = max(shmem, kib["RssShmem"])
    return (anon + file + shmem) * 1024


class _CpuReader:
    """CPU a container's tree used since the previous read, cheaply enough to ask every
    few ms, and finer than /proc/<pid>/stat's 10 ms clock ticks.

    Each thread's run time in ns is the first field of /proc/<pid>/task/<tid>/schedstat;
    the reader keeps each thread's last figure and adds up what grew. A thread new in a
    known process, or a process new to the tree, counts whole (it started since the last
    read: a fork, a worker thread); what a thread ran between its last read and its exit
    is lost (a few ms at most). The tree and its threads are listed again only on
    `refresh` (every `CPU_REFRESH_PERIODS`); in between only the known threads' files
    are read.
    """

    def __init__(self, container: ContainerProcess) -> None:
        self.container = container
        self.pids: list[int] = []
        self.files: list[tuple[int, str]] = []  # (tid, its schedstat), listed on refresh
        self.last: dict[int, int] = {}  # tid -> ns run so far
        self.first = True

    def advance(self, refresh: bool = False) -> float:
        """CPU seconds used since the previous call (the first call: 0, a baseline)."""
        if refresh or not self.pids:
            self.pids = [p.pid for p in self.container.tree(CPU_PERIOD)]
            self.files = []
            for pid in self.pids:
                with contextlib.suppress(OSError):
                    self.files += [(int(tid), f"/proc/{pid}/task/{tid}/schedstat")
                                   for tid in os.listdir(f"/proc/{pid}/task")]
        grew = 0
        seen: dict[int, int] = {}
        for tid, path in self.files:
            try:
                with open(path, "rb") as f:
                    ns = int(f.read().split(maxsplit=1)[0])
            except (OSError, ValueError, IndexError):
                continue  # the thread ended: what it ran since the last read is lost
            seen[tid] = ns
            grew += max(0, ns - self.last.get(tid, ns if self.first else 0))
        self.last, self.first = seen, False
        return grew / 1e9

    def signal(self, sig: int) -> None:
        """The process group, then the tree's processes outside it (setsid daemons):
        plain kill(2)s, no psutil, as this runs twice a period for a throttled tree."""
        main = self.container.pid
        if main is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(main, sig)
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if os.getpgid(pid) != main:
                    os.kill(pid, sig)


def _exit_waiter(pid: int) -> Callable[[float | None], None]:
    """``wait(seconds)``: sleep that long, or less if `pid` exits meanwhile (a pidfd, on
    Linux); ``wait(None)`` releases it. The watcher looks at a tree as rarely as every
    WATCH_MAX_GAP, but notices the container's end at once (restarts, pod status)."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux 5.3+: plain sleeps, the end seen late
        return lambda seconds: time.sleep(seconds) if seconds else None

    def wait(seconds: float | None) -> None:
        nonlocal fd
        if seconds is None:
            if fd >= 0:
                os.close(fd)
                fd = -1
            return
        select.select([fd], [], [], seconds)

    return wait


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
