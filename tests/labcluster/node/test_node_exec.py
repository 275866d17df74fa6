"""Exec: streaming stdin/stdout for the websocket channel, and exec sessions die with the pod."""

from __future__ import annotations

import asyncio

from labcluster.node.exec import Exec
from labcluster.node.images import resolve
from labcluster.node.supervisor import processes_with_marker


async def test_streaming_shell_session(make_launch, run_container, node):
    launch = make_launch("busybox:1.36", name="shell", command=["sleep", "3600"],
                         env={"GREETING": "hello"})
    proc = run_container(launch)
    runner = Exec(resolve(launch.image, node), launch, proc.marker)
    shell = await runner.start(["sh"], stdin=True)
    shell.stdin.write(b'echo "$GREETING from $(hostname)"\necho oops >&2\nexit 3\n')
    await shell.stdin.drain()
    shell.stdin.close()
    out, err = await asyncio.wait_for(shell.communicate(), 20)
    assert (out, err, shell.returncode) == (b"hello from shell\n", b"oops\n", 3)


async def test_exec_sessions_end_when_the_container_stops(make_launch, run_container, node):
    launch = make_launch("busybox:1.36", name="stopper", command=["sleep", "3600"])
    proc = run_container(launch)
    runner = Exec(resolve(launch.image, node), launch, proc.marker)
    session = await runner.start(["sleep", "3600"])
    await asyncio.sleep(0.3)
    assert session.pid in {p.pid for p in processes_with_marker(proc.marker)}
    await asyncio.to_thread(proc.stop, 5)
    await asyncio.wait_for(session.wait(), 10)
    assert processes_with_marker(proc.marker) == []


async def test_unknown_command_is_127_with_the_runtime_message(make_launch, run_container, node):
    launch = make_launch("redis:6.2", name="r", command=["sleep", "3600"])
    runner = Exec(resolve(launch.image, node), launch)
    result = await runner.run_async(["nslookup", "redis"])
    assert result.exit_code == 127
    assert result.stderr == b'exec: "nslookup": executable file not found in $PATH\n'
