"""Container logs in the CRI format a real kubelet reads, so `pods/log` options map 1:1.

Each line is `<RFC3339Nano UTC> <stdout|stderr> <F|P> <text>` (F = full line, P = a
partial chunk of a very long line), exactly what containerd writes under
/var/log/pods. One file per container instance: `current.log`; on restart it becomes
`previous.log` (what `kubectl logs --previous` shows), as the kubelet keeps the last one.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

MAX_LINE = 16 * 1024  # longer lines are split into P(artial) records, like containerd


def timestamp(now: float | None = None) -> str:
    """RFC3339 with nanoseconds, as Kubernetes prints with `--timestamps`."""
    ns = time.time_ns() if now is None else int(now * 1e9)
    seconds, nanos = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


def parse_timestamp(text: str) -> datetime:
    """Parse our own (and Kubernetes') RFC3339 stamps; nanoseconds are cut to micro."""
    main, _, frac = text.rstrip("Z").partition(".")
    stamp = datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return stamp.replace(microsecond=int((frac + "000000")[:6])) if frac else stamp


@dataclass(frozen=True)
class LogRecord:
    time: str
    stream: str
    partial: bool
    text: str

    @classmethod
    def parse(cls, line: str) -> LogRecord | None:
        parts = line.rstrip("\n").split(" ", 3)
        if len(parts) < 3:
            return None
        return cls(parts[0], parts[1], parts[2] == "P", parts[3] if len(parts) > 3 else "")


class LogPump:
    """Copies a process's stdout and stderr into one CRI log file, line by line.

    One thread per stream, so a chatty stderr never blocks stdout; writes are serialised
    by a lock and flushed per line so `follow` sees lines as they come.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def attach(self, stream: IO[bytes], name: str) -> None:
        thread = threading.Thread(
            target=self._pump, args=(stream, name), name=f"log-{name}", daemon=True
        )
        thread.start()
        self._threads.append(thread)

    def write(self, name: str, text: str, partial: bool = False) -> None:
        with self._lock:
            if self._file.closed:
                return
            self._file.write(f"{timestamp()} {name} {'P' if partial else 'F'} {text}\n")
            self._file.flush()

    def _pump(self, stream: IO[bytes], name: str) -> None:
        try:
            while True:
                chunk = stream.readline(MAX_LINE)
                if not chunk:
                    break
                full = chunk.endswith(b"\n")
                text = chunk.rstrip(b"\n").rstrip(b"\r").decode("utf-8", "replace")
                self.write(name, text, partial=not full and len(chunk) >= MAX_LINE)
        finally:
            stream.close()

    def close(self, timeout: float = 2.0) -> None:
        """Wait for the pipes to drain (the process is gone), then close the file."""
        for thread in self._threads:
            thread.join(timeout)
        with self._lock:
            self._file.close()


def rotate(log_dir: Path) -> Path:
    """Start a new instance's log: current.log → previous.log. Returns the new path."""
    log_dir.mkdir(parents=True, exist_ok=True)
    current = log_dir / "current.log"
    if current.exists():
        os.replace(current, log_dir / "previous.log")
    current.touch()
    return current


def _format(record: LogRecord, timestamps: bool) -> str:
    return f"{record.time} {record.text}" if timestamps else record.text


def _records(path: Path) -> Iterator[LogRecord]:
    with open(path, encoding="utf-8", errors="replace") as f:
        pending = ""
        for line in f:
            record = LogRecord.parse(line)
            if record is None:
                continue
            if record.partial:  # join P chunks into one logical line, like the kubelet
                pending += record.text
                continue
            if pending:
                record = LogRecord(record.time, record.stream, False, pending + record.text)
                pending = ""
            yield record


def read_log(
    path: Path,
    *,
    tail: int | None = None,
    since: datetime | None = None,
    timestamps: bool = False,
    limit_bytes: int | None = None,
) -> str:
    """The text `kubectl logs` would print for these options."""
    if not path.exists():
        return ""
    records: Iterator[LogRecord] = _records(path)
    if since is not None:
        records = (r for r in records if parse_timestamp(r.time) >= since)
    selected = deque(records, maxlen=tail) if tail is not None and tail >= 0 else list(records)
    text = "".join(_format(r, timestamps) + "\n" for r in selected)
    if limit_bytes is not None:
        text = text.encode()[:limit_bytes].decode("utf-8", "ignore")
    return text


def follow(
    path: Path,
    alive: Callable[[], bool],
    *,
    tail: int | None = None,
    since: datetime | None = None,
    timestamps: bool = False,
    poll: float = 0.1,
) -> Iterator[str]:
    """Yield lines (with "\\n") as they are written, until `alive()` is False and drained.

    The backlog and the new lines come from one open file handle, so no line written
    between "read what is there" and "wait for more" is lost.
    """
    with open(path, encoding="utf-8", errors="replace") as f:
        backlog, _, buffer = f.read().rpartition("\n")
        records = (LogRecord.parse(line) for line in backlog.splitlines() if line)
        kept = (r for r in records if r is not None)
        if since is not None:
            kept = (r for r in kept if parse_timestamp(r.time) >= since)
        selected = deque(kept, maxlen=tail) if tail is not None and tail >= 0 else kept
        for record in selected:
            yield _format(record, timestamps) + "\n"
        while True:
            chunk = f.read()
            if chunk:
                buffer += chunk
                *lines, buffer = buffer.split("\n")
                for line in lines:
                    record = LogRecord.parse(line)
                    if record is not None:
                        yield _format(record, timestamps) + "\n"
                continue
            if not alive():
                return
            time.sleep(poll)


async def follow_async(
    path: Path,
    alive: Callable[[], bool],
    **options,
) -> AsyncIterator[str]:
    """`follow` for the API server's event loop: the blocking reads run in a thread."""
    iterator = follow(path, alive, **options)
    sentinel = object()
    while True:
        line = await asyncio.to_thread(next, iterator, sentinel)
        if line is sentinel:
            return
        yield line
