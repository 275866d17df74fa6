"""The server side of SPDY/3.1 as kubectl speaks it for `kubectl port-forward`.

kubectl 1.32 multiplexes port-forward connections over one SPDY/3.1 session: either
tunnelled in websocket binary messages (subprotocol `SPDY/3.1+portforward.k8s.io`, its
first choice) or on a plain `Upgrade: SPDY/3.1` connection (its fallback). Either way the
bytes are the same SPDY frames, so this module only sees a byte stream in (`feed`) and
a byte sink out (the `send` callable): the transport is the caller's.

What is implemented is what kubectl's SPDY library (moby/spdystream) uses:
SYN_STREAM (a new stream with zlib-compressed headers), SYN_REPLY (our acceptance),
DATA (with FIN for a half-close), RST_STREAM, PING (echoed), GOAWAY, and SETTINGS /
WINDOW_UPDATE / HEADERS, which are read and ignored — spdystream does no flow control,
so neither do we. Frame layout: draft-mbelshe-httpbis-spdy-00 (SPDY/3), section 2.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import struct
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = (
    1, 2, 3, 4, 6, 7, 8, 9)
FLAG_FIN = 0x01
# RST_STREAM status codes (SPDY/3 2.6.3) and GOAWAY status codes (2.6.6)
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, CANCEL = 1, 2, 3, 5
GOAWAY_OK, GOAWAY_PROTOCOL_ERROR = 0, 1
MAX_FRAME = 1 << 24  # lengths are 24 bits
DATA_CHUNK = 32 * 1024  # what kubectl's own io.Copy writes per frame
HIGH_WATER = 1 << 20  # queued output above which data producers wait


def _dictionary() -> bytes:
    """The zlib dictionary SPDY/3 header blocks are compressed with (spec 2.6.10.1):
    length-prefixed header names and values, then a run of common strings."""
    names = ("options head post put delete trace accept accept-charset accept-encoding "
             "accept-language accept-ranges age allow authorization cache-control "
             "connection content-base content-encoding content-language content-length "
             "content-location content-md5 content-range content-type date etag expect "
             "expires from host if-match if-modified-since if-none-match if-range "
             "if-unmodified-since last-modified location max-forwards pragma "
             "proxy-authenticate proxy-authorization range referer retry-after server te "
             "trailer transfer-encoding upgrade user-agent vary via warning "
             "www-authenticate method get status")
    words = names.split()
    words += ["200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive",
              "origin"]
    tail = ("100101201202205206300302303304305306307402405406407408409410411412413414415416"
            "417502504505203 Non-Authoritative Information204 No Content301 Moved "
            "Permanently400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 "
            "Internal Server Error501 Not Implemented503 Service UnavailableJan Feb Mar Apr "
            "May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, "
            "GMTchunked,text/html,image/png,image/jpg,image/gif,application/xml,"
            "application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
            "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
    return b"".join(len(w).to_bytes(4, "big") + w.encode() for w in words) + tail.encode()


DICTIONARY = _dictionary()


class ProtocolError(Exception):
    """The peer sent something that is not SPDY/3 as we read it: the session ends with
    GOAWAY(PROTOCOL_ERROR)."""


def encode_headers(headers: dict[str, str]) -> bytes:
    """An uncompressed header block: count, then (name, value) pairs, each 32-bit
    length-prefixed; names lower case (SPDY/3 2.6.10)."""
    out = [struct.pack(">I", len(headers))]
    for name, value in headers.items():
        n, v = name.lower().encode(), value.encode()
        out.append(struct.pack(">I", len(n)) + n + struct.pack(">I", len(v)) + v)
    return b"".join(out)


def decode_headers(block: bytes) -> dict[str, str]:
    """Inverse of `encode_headers`; several values of one name (NUL-separated) are kept
    as the first, which is all port-forward's single-valued headers need."""
    try:
        (count,), pos = struct.unpack_from(">I", block), 4
        headers: dict[str, str] = {}
        for _ in range(count):
            (n,) = struct.unpack_from(">I", block, pos)
            name = block[pos + 4:pos + 4 + n].decode()
            pos += 4 + n
            (v,) = struct.unpack_from(">I", block, pos)
            value = block[pos + 4:pos + 4 + v].decode()
            pos += 4 + v
            if len(name) != n or len(value.encode()) != v:
                raise ProtocolError("header block is truncated")
            headers[name.lower()] = value.split("\x00", 1)[0]
    except (struct.error, UnicodeDecodeError) as exc:
        raise ProtocolError(f"malformed header block: {exc}") from exc
    return headers


def control_frame(kind: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload


def data_frame(stream_id: int, data: bytes, fin: bool = False) -> bytes:
    return struct.pack(">II", stream_id & 0x7FFFFFFF,
                       ((FLAG_FIN if fin else 0) << 24) | len(data)) + data


@dataclass
class Stream:
    """One SPDY stream the client opened. `incoming` yields its DATA payloads, then
    None once the client half-closed (FIN) or reset it (`reset` says which)."""

    id: int
    headers: dict[str, str]
    session: Session
    incoming: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    reset: bool = False
    local_closed: bool = False
    remote_closed: bool = False

    def write(self, data: bytes) -> None:
        if self.local_closed or self.reset:
            return
        for i in range(0, len(data), DATA_CHUNK):
            self.session.send(data_frame(self.id, data[i:i + DATA_CHUNK]))

    def close(self) -> None:
        """Half-close our side: an empty DATA frame with FIN."""
        if not self.local_closed and not self.reset:
            self.local_closed = True
            self.session.send(data_frame(self.id, b"", fin=True))
        self.session.forget_if_done(self)

    def cancel(self, status: int = CANCEL) -> None:
        if not self.reset:
            self.reset = True
            self.session.send(control_frame(RST_STREAM, 0,
                                            struct.pack(">II", self.id, status)))
            self.incoming.put_nowait(None)
        self.session.streams.pop(self.id, None)


class Session:
    """A server-side SPDY/3.1 session over any byte transport.

    `feed(bytes)` with what arrives; frames go out through `send(bytes)` in order
    (header compression state depends on it) via one writer task. `on_stream(stream)`
    is called for each SYN_STREAM and returns whether to accept it: accepted streams
    get a SYN_REPLY, refused ones a RST_STREAM — kubelet's rule for a bad stream.
    """

    def __init__(self, send: Callable[[bytes], Awaitable[None]],
                 on_stream: Callable[[Stream], bool]) -> None:
        self._send_bytes = send
        self._on_stream = on_stream
        self._buffer = bytearray()
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zlib.DEFLATED, 15,
                                         zdict=DICTIONARY)
        self._out: collections.deque[bytes] = collections.deque()
        self._queued = 0
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self.streams: dict[int, Stream] = {}
        self.last_stream_id = 0
        self.closed = asyncio.Event()
        self.error: str | None = None
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    # ------------------------------------------------------------------ output
    def send(self, frame: bytes) -> None:
        if self.closed.is_set():
            return
        self._out.append(frame)
        self._queued += len(frame)
        if self._queued > HIGH_WATER:
            self._room.clear()
        self._wake.set()

    async def drain(self) -> None:
        """Wait until the output queue is below its high-water mark (back-pressure for
        whoever produces DATA, e.g. a pod's socket)."""
        while not self._room.is_set() and not self.closed.is_set():
            waiter = asyncio.ensure_future(self._room.wait())
            closed = asyncio.ensure_future(self.closed.wait())
            await asyncio.wait({waiter, closed}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            closed.cancel()

    async def _write_loop(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._out:
                    frame = self._out.popleft()
                    self._queued -= len(frame)
                    await self._send_bytes(frame)
                    if self._queued <= HIGH_WATER // 2:
                        self._room.set()
        except (ConnectionError, RuntimeError, OSError) as exc:
            self.close(f"transport failed: {exc}")

    def _compressed(self, headers: dict[str, str]) -> bytes:
        return self._deflate.compress(encode_headers(headers)) + \
            self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def goaway(self, status: int = GOAWAY_OK) -> None:
        self.send(control_frame(GOAWAY, 0, struct.pack(">II", self.last_stream_id, status)))

    def forget_if_done(self, stream: Stream) -> None:
        if stream.local_closed and (stream.remote_closed or stream.reset):
            self.streams.pop(stream.id, None)

    async def flush_and_stop(self) -> None:
        """Send what is queued, then stop the writer."""
        while self._out and not self._writer.done():
            self._wake.set()
            await asyncio.sleep(0.01)
        self.close()

    def close(self, error: str | None = None) -> None:
        if self.closed.is_set():
            return
        self.error = self.error or error
        self.closed.set()
        self._room.set()
        for stream in list(self.streams.values()):
            if not stream.remote_closed:
                stream.remote_closed = True
                stream.incoming.put_nowait(None)
        self.streams.clear()
        if asyncio.current_task() is not self._writer:
            self._writer.cancel()

    async def wait_writer(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer

    # ------------------------------------------------------------------ input
    def feed(self, data: bytes) -> None:
        """Parse every complete frame in what arrived so far. A protocol error sends
        GOAWAY(PROTOCOL_ERROR) and closes the session."""
        self._buffer += data
        try:
            while len(self._buffer) >= 8:
                (length,) = struct.unpack_from(">I", self._buffer, 4)
                length &= 0xFFFFFF
                if len(self._buffer) < 8 + length:
                    return
                head = bytes(self._buffer[:8])
                payload = bytes(self._buffer[8:8 + length])
                del self._buffer[:8 + length]
                self._frame(head, payload)
        except ProtocolError as exc:
            self.goaway(GOAWAY_PROTOCOL_ERROR)
            self.error = str(exc)
            asyncio.get_running_loop().create_task(self.flush_and_stop())

    def _frame(self, head: bytes, payload: bytes) -> None:
        first, second, flags_length = struct.unpack(">HHI", head)
        flags = flags_length >> 24
        if not first & 0x8000:  # a DATA frame: first 31 bits are the stream id
            self._data(((first & 0x7FFF) << 16) | second, flags, payload)
            return
        version, kind = first & 0x7FFF, second
        if version != VERSION:
            raise ProtocolError(f"unsupported SPDY version {version}")
        if kind == SYN_STREAM:
            self._syn_stream(flags, payload)
        elif kind == RST_STREAM:
            stream_id, _status = _ints(payload, 2)
            stream = self.streams.pop(stream_id & 0x7FFFFFFF, None)
            if stream is not None and not stream.reset:
                stream.reset = True
                stream.incoming.put_nowait(None)
        elif kind == PING:
            self.send(control_frame(PING, 0, payload[:4]))  # kubectl's keep-alive: echo
        elif kind == GOAWAY:
            self.close()
        elif kind == HEADERS:
            # the decompressor must see every header block to stay in step
            if len(payload) > 4:
                self._inflate.decompress(payload[4:])
        elif kind in (SETTINGS, WINDOW_UPDATE, SYN_REPLY):
            pass  # no flow control (spdystream has none); we never open streams
        # unknown control frames are ignored, as the spec says

    def _syn_stream(self, flags: int, payload: bytes) -> None:
        if len(payload) < 10:
            raise ProtocolError("SYN_STREAM shorter than 10 bytes")
        stream_id = struct.unpack_from(">I", payload)[0] & 0x7FFFFFFF
        try:
            block = self._inflate.decompress(payload[10:])
        except zlib.error as exc:
            raise ProtocolError(f"header block does not decompress: {exc}") from exc
        headers = decode_headers(block)
        if stream_id % 2 == 0 or stream_id <= self.last_stream_id:
            # a client opens odd, increasing ids (2.3.2)
            self.send(control_frame(RST_STREAM, 0, struct.pack(">II", stream_id,
                                                               PROTOCOL_ERROR)))
            return
        self.last_stream_id = stream_id
        stream = Stream(stream_id, headers, self)
        if flags & FLAG_FIN:
            stream.remote_closed = True
            stream.incoming.put_nowait(None)
        self.streams[stream_id] = stream
        if not self._on_stream(stream):
            stream.cancel(REFUSED_STREAM)
            return
        self.send(control_frame(SYN_REPLY, 0, struct.pack(">I", stream_id) +
                                self._compressed({})))

    def _data(self, stream_id: int, flags: int, payload: bytes) -> None:
        stream = self.streams.get(stream_id)
        if stream is None or stream.remote_closed:
            return  # a stream already gone (reset or finished): drop, as spdystream does
        if payload:
            stream.incoming.put_nowait(payload)
        if flags & FLAG_FIN:
            stream.remote_closed = True
            stream.incoming.put_nowait(None)
            self.forget_if_done(stream)


def _ints(payload: bytes, n: int) -> tuple[int, ...]:
    if len(payload) < 4 * n:
        raise ProtocolError(f"control frame shorter than {4 * n} bytes")
    return struct.unpack_from(">" + "I" * n, payload)
