"""The SPDY/3.1 session (labcluster/node/spdy.py) driven by a hand-made client: what
kubectl's library sends, byte for byte, and what it must get back. The real kubectl runs
over it in test_e2e_kubectl.py; these pin the edge cases kubectl does not provoke."""

from __future__ import annotations

import asyncio
import struct
import zlib

from labcluster.node.spdy import (
    CANCEL,
    DICTIONARY,
    FLAG_FIN,
    GOAWAY,
    GOAWAY_PROTOCOL_ERROR,
    PING,
    REFUSED_STREAM,
    RST_STREAM,
    SYN_REPLY,
    SYN_STREAM,
    Session,
    control_frame,
    data_frame,
    decode_headers,
    encode_headers,
)


def test_dictionary_is_the_spdy3_one() -> None:
    """Length and Adler-32 of the dictionary Go's spdy package (and so kubectl) uses:
    one wrong byte and no header block would decompress."""
    assert len(DICTIONARY) == 1423
    assert zlib.adler32(DICTIONARY) == 0xE3C6A7C2


class Client:
    """A SPDY client's half: its own compressor, frames parsed from the server's bytes."""

    def __init__(self) -> None:
        self.deflate = zlib.compressobj(9, zlib.DEFLATED, 15, zdict=DICTIONARY)
        self.inflate = zlib.decompressobj(zdict=DICTIONARY)
        self.out = bytearray()

    async def send(self, data: bytes) -> None:
        self.out += data

    def syn_stream(self, stream_id: int, headers: dict[str, str], fin: bool = False) -> bytes:
        block = self.deflate.compress(encode_headers(headers)) + \
            self.deflate.flush(zlib.Z_SYNC_FLUSH)
        return control_frame(SYN_STREAM, FLAG_FIN if fin else 0,
                             struct.pack(">IIH", stream_id, 0, 0) + block)

    def frames(self) -> list[tuple]:
        found, buf = [], bytes(self.out)
        while len(buf) >= 8:
            first, second, fl = struct.unpack_from(">HHI", buf)
            length = fl & 0xFFFFFF
            payload, buf = buf[8:8 + length], buf[8 + length:]
            if first & 0x8000:
                if second == SYN_REPLY:
                    found.append(("reply", struct.unpack_from(">I", payload)[0],
                                  decode_headers(self.inflate.decompress(payload[4:]))))
                else:
                    found.append((second, *struct.unpack(">" + "I" * (len(payload) // 4),
                                                         payload)))
            else:
                found.append(("data", (first << 16) | second, fl >> 24, payload))
        self.out.clear()
        return found


def run(scenario) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 10))


def test_streams_get_replies_data_and_resets() -> None:
    async def scenario() -> None:
        client = Client()
        seen = []

        def accept(stream) -> bool:
            seen.append(stream)
            return "port" in stream.headers

        session = Session(client.send, accept)
        # one feed holding a frame and a half: the rest arrives later (websocket messages
        # and TCP reads cut frames anywhere)
        first = client.syn_stream(1, {"streamType": "data", "port": "80", "requestID": "0"})
        second = client.syn_stream(3, {"streamType": "data"})
        session.feed(first + second[:5])
        session.feed(second[5:] + data_frame(1, b"hello") + data_frame(1, b"", fin=True))
        await asyncio.sleep(0.05)
        assert seen[0].headers == {"streamtype": "data", "port": "80", "requestid": "0"}
        frames = client.frames()
        assert frames[0] == ("reply", 1, {})
        assert frames[1] == (RST_STREAM, 3, REFUSED_STREAM)  # no port: refused
        assert [await seen[0].incoming.get(), await seen[0].incoming.get()] == [b"hello", None]
        seen[0].write(b"x" * 70000)  # split into frames of at most 32 KiB
        seen[0].close()
        await asyncio.sleep(0.05)
        data = client.frames()
        assert [len(f[3]) for f in data] == [32768, 32768, 4464, 0]
        assert data[-1][2] == FLAG_FIN and seen[0].id not in session.streams
        # ids must grow: an old id is a protocol error for that stream only
        session.feed(client.syn_stream(1, {"streamType": "data", "port": "80"}))
        session.feed(control_frame(PING, 0, struct.pack(">I", 7)))
        await asyncio.sleep(0.05)
        assert client.frames() == [(RST_STREAM, 1, 1), (PING, 7)]
        session.feed(client.syn_stream(5, {"streamType": "data", "port": "80"}))
        session.feed(control_frame(RST_STREAM, 0, struct.pack(">II", 5, CANCEL)))
        assert seen[-1].reset and await seen[-1].incoming.get() is None
        session.close()
        await session.wait_writer()

    run(scenario)


def test_wrong_version_is_goaway_protocol_error() -> None:
    async def scenario() -> None:
        client = Client()
        session = Session(client.send, lambda s: True)
        session.feed(struct.pack(">HHI", 0x8002, PING, 4) + struct.pack(">I", 1))
        await asyncio.wait_for(session.closed.wait(), 5)
        assert client.frames() == [(GOAWAY, 0, GOAWAY_PROTOCOL_ERROR)]
        assert "version 2" in (session.error or "")

    run(scenario)
