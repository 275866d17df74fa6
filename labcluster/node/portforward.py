"""`kubectl port-forward`'s protocol on top of a SPDY session (spdy.py).

Per local connection kubectl opens two streams carrying the same `port` and `requestID`
headers: `streamType: error` (which it half-closes at once and reads to the end) and
`streamType: data` (the bytes). When both have arrived we dial the pod's IP and port and
copy both ways, as the kubelet does (pkg/kubelet/cri/streaming/portforward): the pod's
EOF becomes a FIN on the data stream, kubectl's FIN a half-close of the socket, a reset
closes it; then the error stream is finished, empty when all went well or holding the
kubelet's message when the dial failed — which makes kubectl print it and stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from labcluster.node.spdy import Session, Stream

STREAM_CREATION_TIMEOUT = 30.0  # the kubelet's default for the second stream of a pair
Dial = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


@dataclass
class _Pair:
    request_id: str
    error: Stream | None = None
    data: Stream | None = None
    timer: asyncio.TimerHandle | None = None


@dataclass
class PortForwarder:
    """Accepts kubectl's streams on `session` and bridges each pair to `dial(port)`.

    `describe` names the pod in error messages the way the kubelet does
    (`pod <name>, uid <uid>`); `target` names where a dial went (`<ip>:<port>`)."""

    session: Session
    dial: Dial
    pod: str
    uid: str
    target: Callable[[int], str]
    pairs: dict[str, _Pair] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def on_stream(self, stream: Stream) -> bool:
        """The kubelet's checks (a port 1..65535, a known stream type); a stream that
        fails them is refused (RST_STREAM)."""
        port = stream.headers.get("port", "")
        kind = stream.headers.get("streamtype", "")
        if not port.isdigit() or not 0 < int(port) < 65536 or kind not in ("error", "data"):
            return False
        # old clients send no requestID: the kubelet derives one from the stream ids
        request_id = stream.headers.get("requestid") or str(
            stream.id if kind == "error" else stream.id - 2)
        pair = self.pairs.get(request_id)
        if pair is None:
            pair = self.pairs[request_id] = _Pair(request_id)
            pair.timer = asyncio.get_running_loop().call_later(
                STREAM_CREATION_TIMEOUT, self._timed_out, request_id)
        if getattr(pair, kind) is not None:
            self._fail(pair, f"error processing stream for request {request_id}: "
                             f"{kind} stream already assigned")
            return False
        setattr(pair, kind, stream)
        if pair.error is not None and pair.data is not None:
            del self.pairs[request_id]
            if pair.timer is not None:
                pair.timer.cancel()
            task = asyncio.get_running_loop().create_task(self._forward(pair.error, pair.data))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return True

    def _timed_out(self, request_id: str) -> None:
        pair = self.pairs.pop(request_id, None)
        if pair is not None:
            self._fail(pair, f"(request={request_id}) timed out waiting for streams")

    @staticmethod
    def _fail(pair: _Pair, message: str) -> None:
        if pair.error is not None:
            pair.error.write(message.encode())
            pair.error.close()

    async def _forward(self, error: Stream, data: Stream) -> None:
        port = int(data.headers["port"])
        try:
            reader, writer = await self.dial(port)
        except OSError as exc:
            reason = "i/o timeout" if isinstance(exc, TimeoutError) else (
                os.strerror(exc.errno) if exc.errno else str(exc)).lower()
            error.write(f"error forwarding port {port} to pod {self.pod}, uid {self.uid}: "
                        f"failed to connect to {self.target(port)}: dial tcp4 "
                        f"{self.target(port)}: connect: {reason}".encode())
            error.close()
            data.close()
            return

        async def upstream() -> bool:
            """kubectl → pod; a FIN half-closes the socket. True: end the forward now
            (kubectl reset the stream, or the pod's socket broke)."""
            try:
                while (chunk := await data.incoming.get()) is not None:
                    writer.write(chunk)
                    await writer.drain()
                if not data.reset and writer.can_write_eof():
                    writer.write_eof()
            except (OSError, ConnectionError):
                return True
            return data.reset

        async def downstream() -> None:
            """pod → kubectl, with back-pressure from the session's output queue."""
            with contextlib.suppress(OSError, ConnectionError):
                while chunk := await reader.read(65536):
                    data.write(chunk)
                    await self.session.drain()
                    if data.reset or self.session.closed.is_set():
                        return

        loop = asyncio.get_running_loop()
        up, down = loop.create_task(upstream()), loop.create_task(downstream())
        try:
            waiting: set[asyncio.Task] = {up, down}
            while down in waiting:
                done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if up in done and up.result():
                    break
        finally:
            for task in (up, down):
                task.cancel()
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()
            data.close()
            error.close()

    async def close(self) -> None:
        for pair in self.pairs.values():
            if pair.timer is not None:
                pair.timer.cancel()
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
