"""Container logs: CRI lines with timestamps, tail/since/follow, and the previous instance."""

from __future__ import annotations

import sys
import threading
import time
from datetime import UTC, datetime

from labcluster.node.launch import ProcessSpec
from labcluster.node.logs import LogRecord, follow, parse_timestamp, read_log, timestamp
from labcluster.node.supervisor import ContainerProcess

CHATTY = """
import sys, time
for i in range(5):
    print(f"out {i}", flush=True)
    print(f"err {i}", file=sys.stderr, flush=True)
    time.sleep(0.02)
print("x" * 40000, flush=True)
"""


def run(code: str, log_dir) -> ContainerProcess:
    spec = ProcessSpec([sys.executable, "-c", code], {}, log_dir.parent, image_id="test")
    proc = ContainerProcess(spec, log_dir)
    proc.start()
    return proc


def test_lines_carry_stream_and_rfc3339_timestamps(tmp_path):
    proc = run(CHATTY, tmp_path / "logs")
    assert proc.wait(10).exit_code == 0
    raw = (tmp_path / "logs" / "current.log").read_text().splitlines()
    records = [LogRecord.parse(line) for line in raw]
    assert {r.stream for r in records} == {"stdout", "stderr"}
    assert any(r.partial for r in records), "a 40 kB line is split into P records"
    stamps = [parse_timestamp(r.time) for r in records]
    assert all(abs((s - datetime.now(UTC)).total_seconds()) < 30 for s in stamps)
    text = read_log(tmp_path / "logs" / "current.log")
    # two pipes: order across streams is not defined (as with containerd), within one it is
    assert sorted(text.splitlines()[:2]) == ["err 0", "out 0"]
    assert [line for line in text.splitlines() if line.startswith("out")] == [
        f"out {i}" for i in range(5)]
    assert text.splitlines()[-1] == "x" * 40000  # partial records joined back


def test_tail_since_timestamps_and_limit(tmp_path):
    proc = run(CHATTY, tmp_path / "logs")
    proc.wait(10)
    path = tmp_path / "logs" / "current.log"
    assert read_log(path, tail=2).splitlines()[0] in ("out 4", "err 4")
    with_stamps = read_log(path, tail=1, timestamps=True)
    assert with_stamps.startswith("20") and with_stamps.split(" ", 1)[1].startswith("xxx")
    third = LogRecord.parse(path.read_text().splitlines()[4])
    since = read_log(path, since=parse_timestamp(third.time)).splitlines()
    assert since[0] == third.text and len(since) == 7
    assert read_log(path, limit_bytes=6) in ("out 0\n", "err 0\n")


def test_restart_keeps_previous_instance_log(tmp_path):
    first = run("print('first instance')", tmp_path / "logs")
    first.wait(10)
    second = run("print('second instance')", tmp_path / "logs")
    second.wait(10)
    assert read_log(tmp_path / "logs" / "previous.log") == "first instance\n"
    assert read_log(tmp_path / "logs" / "current.log") == "second instance\n"


def test_follow_streams_new_lines_until_the_process_ends(tmp_path):
    proc = run("import time\nfor i in range(4):\n print(i, flush=True)\n time.sleep(0.2)",
               tmp_path / "logs")
    seen: list[tuple[float, str]] = []

    def reader():
        for line in follow(tmp_path / "logs" / "current.log", proc.running, poll=0.02):
            seen.append((time.monotonic(), line))

    thread = threading.Thread(target=reader)
    thread.start()
    thread.join(15)
    assert not thread.is_alive()
    assert [line for _, line in seen] == ["0\n", "1\n", "2\n", "3\n"]
    assert seen[-1][0] - seen[0][0] > 0.3, "lines arrived as written, not all at the end"


def test_timestamp_format():
    assert timestamp(0) == "1970-01-01T00:00:00.000000000Z"
    assert parse_timestamp("2024-05-01T10:00:00.123456789Z").microsecond == 123456
