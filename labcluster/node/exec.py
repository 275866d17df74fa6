"""`kubectl exec`: run a command inside a container — its image's commands, env, cwd, DNS.

The command resolves through the image handler (so `psql` means the image's psql and
`foo` fails with the runtime's "executable file not found in $PATH", exit 127). The
exec'd process carries the container's marker, so stopping the container also ends
its exec sessions, as when a real container's cgroup goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass

from labcluster.node import readonly, security
from labcluster.node.imagebase import CommandNotFound, ImageHandler
from labcluster.node.launch import ContainerLaunch, ProcessSpec
from labcluster.node.supervisor import MARKER


@dataclass(frozen=True)
class ExecResult:
    stdout: bytes
    stderr: bytes
    exit_code: int
    timed_out: bool = False

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")


class Exec:
    """Exec into one running container (what `pods/exec` and exec probes call)."""

    def __init__(self, handler: ImageHandler, launch: ContainerLaunch, marker: str = "") -> None:
        self.handler = handler
        self.launch = launch
        self.marker = marker

    def spec(self, argv: list[str]) -> ProcessSpec:
        spec = self.handler.exec_spec(self.launch, argv)
        if self.marker:
            spec.env[MARKER] = self.marker
        return spec

    async def start(self, argv: list[str], stdin: bool = False) -> asyncio.subprocess.Process:
        """A running exec process with pipes, for streaming (the websocket channel protocol).

        Raises CommandNotFound before anything runs; the caller reports it on the error
        channel with exit code 127, as the runtime does.
        """
        spec = self.spec(argv)
        return await asyncio.create_subprocess_exec(
            *spec.argv,
            env=spec.env,
            cwd=spec.cwd,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            **security.popen_options(spec, readonly.preexec(spec)),
        )

    async def run_async(
        self, argv: list[str], *, stdin: bytes | None = None, timeout: float | None = None
    ) -> ExecResult:
        try:
            proc = await self.start(argv, stdin=stdin is not None)
        except CommandNotFound as exc:
            return ExecResult(b"", (str(exc) + "\n").encode(), 127)
        except OSError as exc:
            return ExecResult(b"", f"exec failed: {exc}\n".encode(), 126)
        try:
            out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            out, err = await proc.communicate()
            return ExecResult(out, err, 137, timed_out=True)
        return ExecResult(out, err, proc.returncode if proc.returncode is not None else 1)

    def run(
        self, argv: list[str], *, stdin: bytes | None = None, timeout: float | None = None
    ) -> ExecResult:
        """Blocking form, for code that is not in an event loop."""
        return asyncio.run(self.run_async(argv, stdin=stdin, timeout=timeout))
