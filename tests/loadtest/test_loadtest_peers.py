"""Our generator against hey and wrk on the same target (the local test server).

The target answers every request after 20 ms (an asyncio sleep, so it is not CPU-bound):
then the server, not the client, sets the pace. What this asserts is what does not depend
on the machine's speed: both tools and ours send the requests asked for, see no error, and
no latency below the server's 20 ms (a client that miscounts or mis-times would).

How close our req/s and p50 come to hey's and wrk's is a measurement, printed as ratios by
bench/loadtest_generator_bench.py (the same 20 ms target) and bench/loadtest_bench.py (the
lab's backend): on this shared 2-core machine a band around 1.0 would be a timed assertion.
"""

from __future__ import annotations

import pytest
from tools import require_tool

from labhelpers import loadtest
from labhelpers.loadtest import peers

SERVER_MS = 20
CONCURRENCY = 20


@pytest.mark.parametrize("tool", ["hey", "wrk"])
def test_same_counts_as_established_tools(lt_server: str, tool: str) -> None:
    require_tool(tool, tool in peers.available(), f"apt-get install {tool}")
    url = f"{lt_server}/delay?key=peer-{tool}&every=1&ms={SERVER_MS}"
    if tool == "hey":
        theirs = peers.run_hey(url, 300, CONCURRENCY)
        ours = loadtest.run(None, url, requests=300, concurrency=CONCURRENCY)
        assert theirs.requests == ours.count == 300
    else:
        theirs = peers.run_wrk(url, CONCURRENCY, 1)
        ours = loadtest.run(None, url, duration=1, concurrency=CONCURRENCY)
        assert theirs.requests > 0 and ours.count > 0
    detail = (f"ours {ours.count} requests p50 {ours.percentile(50):.1f} ms; {tool} "
              f"{theirs.requests} p50 {theirs.p50_ms:.1f} ms")
    assert theirs.non_2xx == 0 and ours.errors == 0, detail
    assert ours.status_counts() == {200: ours.count}, detail
    # every answer waited the server's 20 ms: no latency below it, for them or for us
    assert float(ours.latency_ms.min()) >= SERVER_MS, detail
    assert theirs.p50_ms >= SERVER_MS, detail
