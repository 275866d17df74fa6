"""The generator against a real local HTTP server: counts, percentiles, status codes,
transport errors, the open model's coordinated-omission correction, and its bounds."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid

import numpy as np
import pytest

from labhelpers import loadtest
from labhelpers.loadtest import generator


def key() -> str:
    return uuid.uuid4().hex[:8]


def test_closed_model_counts_every_request(lt_server: str) -> None:
    r = loadtest.run(None, f"{lt_server}/delay?key={key()}", requests=400, concurrency=8)
    assert r.model == "closed" and r.mode == "url"
    assert r.count == 400 and r.errors == 0 and r.status_counts() == {200: 400}
    assert r.stopped_by == "requests"
    assert r.rps > 0 and r.wall_s > 0 and r.cpu_s > 0
    ps = [r.percentile(q) for q in (50, 90, 95, 99)]
    assert ps == sorted(ps) and 0 < ps[0] <= float(r.latency_ms.max())
    # closed model: the latency is the service time (no intended-time correction)
    assert np.allclose(r.latency_ms, r.service_ms)


def test_a_slow_nth_request_shows_in_p99_not_p50(lt_server: str) -> None:
    # every 25th request waits 300 ms: 4 % of requests, so p99 sees it and p50 does not
    r = loadtest.run(None, f"{lt_server}/delay?key={key()}&every=25&ms=300", requests=500,
                     concurrency=4)
    slow = int(np.count_nonzero(r.latency_ms >= 300))
    assert slow == 500 // 25, f"{slow} requests ≥ 300 ms, expected exactly every 25th"
    assert r.percentile(99) >= 300
    # the median request is not one of the slow ones: below the server's 300 ms (how far
    # below is the machine's speed, measured in bench/, not asserted)
    assert r.percentile(50) < 300


def test_open_model_counts_the_wait_behind_a_stall(lt_server: str) -> None:
    """One connection, 100 req/s due, every 40th answer takes 500 ms: the requests due during
    a stall wait for the connection. hey-style (service) latency hides that; latency from the
    intended send time (wrk2's correction) shows it."""
    with pytest.warns(loadtest.LoadTestWarning, match="asked for 100 req/s, sent"):
        r = loadtest.run(None, f"{lt_server}/delay?key={key()}&every=40&ms=500", rate=100,
                         duration=2, concurrency=1)
    assert r.model == "open" and r.count == 200 and r.errors == 0
    uncorrected, corrected = r.percentile(75, corrected=False), r.percentile(75)
    # p75's service time is an ordinary request's, below the 500 ms stall (how far below is
    # the machine's speed); from the intended send time it includes the wait behind a stall
    assert uncorrected < 500, f"service time p75 {uncorrected:.1f} ms"
    assert corrected > 200, f"corrected p75 {corrected:.1f} ms: the stalls are hidden"
    # requests were due on a fixed schedule, whatever the server did
    assert np.allclose(np.diff(np.sort(r.intended_s)), 0.01, atol=1e-5)
    assert "p99 ms (uncorrected)" in r.summary().columns


def test_open_model_keeps_its_rate_on_a_fast_server(lt_server: str) -> None:
    r = loadtest.run(None, f"{lt_server}/delay?key={key()}", rate=200, duration=1.5,
                     concurrency=10)
    assert r.count == 300 and r.stopped_by == "duration" and r.errors == 0
    # due every 5 ms from the start, and none sent before it was due; how late they leave
    # is a measurement (bench/loadtest_generator_bench.py), not a timed assertion
    assert np.allclose(np.diff(np.sort(r.intended_s)), 1 / 200, atol=1e-5)
    assert np.all(r.sent_s >= r.intended_s)


def test_status_codes_and_error_rate(lt_server: str) -> None:
    with pytest.warns(loadtest.LoadTestWarning, match=r"25.0% of requests failed: 503 ×50"):
        r = loadtest.run(None, f"{lt_server}/status?key={key()}&every=4&code=503",
                         requests=200, concurrency=5)
    assert r.status_counts() == {200: 150, 503: 50}
    assert r.errors == 50 and r.error_rate == pytest.approx(0.25)
    assert r.row()["status codes"] == "200×150, 503×50"


def test_transport_errors_are_counted_not_raised() -> None:
    from servers import free_port

    with pytest.warns(loadtest.LoadTestWarning, match="connection refused"):
        r = loadtest.run(None, f"http://127.0.0.1:{free_port()}/", requests=30, concurrency=3)
    assert r.count == 30 and r.errors == 30
    assert r.status_counts() == {"connection refused": 30}
    assert r.latency_ms.size == 0 and np.isnan(r.percentile(50))


@pytest.mark.parametrize("path", ["/chunked", "/close"])
def test_chunked_bodies_and_connection_close(lt_server: str, path: str) -> None:
    r = loadtest.run(None, lt_server + path, requests=60, concurrency=3)
    assert r.status_counts() == {200: 60}


def test_header_values_split_latency(lt_server: str) -> None:
    k = key()
    paths = [f"/cache?key={k}-{i % 10}" for i in range(10)]
    r = loadtest.run(None, lt_server, paths=paths, requests=100, concurrency=1)
    table = r.by_header()
    assert table.index.name == "X-Cache"
    assert table.loc["MISS", "requests"] == 10 and table.loc["HIT", "requests"] == 90


def test_duration_stops_a_closed_run(lt_server: str) -> None:
    r = loadtest.run(None, f"{lt_server}/delay?key={key()}&every=1&ms=50", duration=1,
                     concurrency=2)
    assert r.stopped_by == "duration" and r.errors == 0
    # nothing is sent at or after 1 s, and each connection waits ≥ 50 ms per answer, so
    # its k-th request leaves at ≥ (k-1) × 50 ms: k ≤ 20. (How long the stop took and how
    # many fit is the bench's business.)
    assert float(r.sent_s.max()) < 1.0
    assert 0 < r.count <= 2 * 20


def test_time_limit_stops_a_hung_server(lt_server: str) -> None:
    with pytest.warns(loadtest.LoadTestWarning) as caught:
        r = loadtest.run(None, f"{lt_server}/hang", requests=10, concurrency=2,
                         time_limit=1.5)
    texts = [str(w.message) for w in caught]
    # one line each, naming the run (never a file path: notebooks show it on stderr)
    assert all(t.startswith("load test '") for t in texts), texts
    assert all(w.filename == "labhelpers.loadtest" for w in caught), [w.filename for w in caught]
    assert any(re.search(r"': stopped by the time limit after \d+ s with 2 requests of the 10 "
                         "asked for", t) for t in texts), texts
    assert any(t.endswith("': 100.0% of requests failed: timeout ×2") for t in texts), texts
    assert r.status_counts() == {"timeout": 2}  # the two in flight; no new one after the limit
    assert r.stopped_by == "deadline"


def test_timeout_per_request(lt_server: str) -> None:
    with pytest.warns(loadtest.LoadTestWarning, match="timeout ×4"):
        r = loadtest.run(None, f"{lt_server}/hang", requests=4, concurrency=2, timeout=0.3)
    assert r.status_counts() == {"timeout": 4}


def test_generator_needs_only_the_standard_library(lt_server: str) -> None:
    """The in-cluster pod runs generator.py with no site-packages: prove it can."""
    cfg = json.dumps({"urls": [f"{lt_server}/delay"], "concurrency": 2, "requests": 20,
                      "deadline": 20})
    out = subprocess.run([sys.executable, "-I", "-S", generator.__file__, cfg, "--chunks"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    record = generator.from_chunks("2026-01-01T00:00:00Z stdout F noise\n" + out)
    assert record["status"] == [200] * 20


def test_chunks_round_trip_and_detect_a_missing_part() -> None:
    record = {"status": list(range(5000)), "errors": ["x"]}
    lines = generator.to_chunks(record)
    assert len(lines) > 1 and all(len(line) < 6100 for line in lines)
    assert generator.from_chunks("\n".join(lines)) == record
    with pytest.raises(ValueError, match="incomplete"):
        generator.from_chunks("\n".join(lines[:-1]))


def test_https_is_verified_like_any_client(lt_tls_server: tuple[str, str]) -> None:
    """HTTPS targets: verified against ca_file (or the system's CAs — which do not know a
    lab's own CA, so every request fails with the reason), or not at all on request."""
    base, ca_file = lt_tls_server
    url = f"{base}/delay?key={key()}"
    ok = loadtest.run(None, url, requests=40, concurrency=4, ca_file=ca_file)
    assert ok.count == 40 and ok.errors == 0 and ok.status_counts() == {200: 40}
    with pytest.warns(loadtest.LoadTestWarning, match="failed"):
        refused = loadtest.run(None, url, requests=8, concurrency=2)
    assert refused.errors == 8
    (reason,) = refused.status_counts()
    assert "CERTIFICATE_VERIFY_FAILED" in str(reason), reason
    unverified = loadtest.run(None, url, requests=20, concurrency=2, verify_tls=False)
    assert unverified.errors == 0 and unverified.status_counts() == {200: 20}


class ClosingServer:
    """A real HTTP/1.1 server (asyncio, in a thread) that answers ``answers`` requests per
    connection with keep-alive headers, then closes the connection while it is idle — what
    a pod's graceful shutdown does to idle keep-alive connections. Counts connections."""

    def __init__(self, answers: int) -> None:
        import asyncio
        import threading

        self.answers, self.connections = answers, 0
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                for _ in range(self.answers):
                    await reader.readuntil(b"\r\n\r\n")
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            writer.close()

        async def start() -> None:
            self.server = await asyncio.start_server(serve, "127.0.0.1", 0)
            self.port = self.server.sockets[0].getsockname()[1]
            ready.set()

        self.thread = threading.Thread(target=lambda: (self.loop.run_until_complete(start()),
                                                       self.loop.run_forever()), daemon=True)
        self.thread.start()
        ready.wait(10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def test_a_get_on_an_idle_connection_the_server_closed_is_sent_again() -> None:
    """As Go's net/http (hey), curl and browsers: a request that fails on a *reused*
    keep-alive connection before any answer is retried once on a new connection."""
    server = ClosingServer(answers=1)
    try:
        r = loadtest.run(None, f"http://127.0.0.1:{server.port}/", requests=20, concurrency=1)
    finally:
        server.stop()
    assert r.status_counts() == {200: 20}
    assert server.connections == 20  # one new connection per answer, none wasted


def test_a_fresh_connection_closed_without_an_answer_is_an_error_not_retried() -> None:
    server = ClosingServer(answers=0)
    try:
        with pytest.warns(loadtest.LoadTestWarning, match="of requests failed"):
            r = loadtest.run(None, f"http://127.0.0.1:{server.port}/", requests=10,
                             concurrency=1)
    finally:
        server.stop()
    # closed with the request unread: a FIN or an RST, as the kernel decides
    assert r.count == 10 and r.errors == 10
    assert set(r.status_counts()) <= {"connection closed by server", "connection reset"}
    assert server.connections == 10  # one attempt per request
