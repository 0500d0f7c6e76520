"""WebSocket conformance by the Autobahn TestSuite's categories, against a hostile server.

The Autobahn suite itself does not run here (Python 2 only), so each case below is a
server script of raw frames (tests/servers/websocket.py) plus what a user must observe: the
messages delivered before the end, the failure code that ends receiving, and the close code the
client sent back (the server records it). Categories: framing, pings/pongs, reserved bits,
opcodes, fragmentation, UTF-8 handling, limits, close codes and reasons, compression.

Written once as async tests; ``tests/hostile/_sync/test_websocket_conformance.py`` is generated
from it, so every case runs on the blocking client, on asyncio and on trio.
"""

from __future__ import annotations

import socket
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from flext_api import AsyncFlextApiClient, Failure
from flext_api._synchronization import async_sleep
from flext_api.protocols.websocket import Message, WebSocketError, WebSocketOptions
from tests.servers.raw import RawServerFactory
from tests.servers.websocket import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    ClientLog,
    close_frame,
    deflate,
    drop,
    frame,
    hostile,
    send,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]  # unasync: remove
# unasync: sync-only: pytestmark = pytest.mark.timeout(60)


async def finished(log: ClientLog) -> bool:
    """Wait (without blocking an event loop: the client's socket closes on its next turn)
    until the server saw the client hang up, or 30 s passed."""
    for _ in range(3000):
        if log.done.is_set():
            return True
        await async_sleep(0.01)
    return False


PROTOCOL = "WEBSOCKET_PROTOCOL_ERROR"
CLOSED = "WEBSOCKET_CLOSED"
TOO_BIG = "WEBSOCKET_MESSAGE_TOO_BIG"
DEFLATE = "permessage-deflate"
BYE = close_frame(1000)


@dataclass(frozen=True)
class Case:
    """``frames`` from the server; the client must deliver ``received``, then fail with
    ``error`` (its ``close_code`` equal to ``code``), having sent ``sent_close`` (``None``:
    no close frame at all). ``pongs``: the payloads of the pongs it must have answered with."""

    frames: tuple[bytes, ...]
    received: tuple[Message, ...] = ()
    error: str = CLOSED
    code: int | None = 1000
    sent_close: int | None = 1000
    pongs: tuple[bytes, ...] = ()
    extension: str | None = None
    options: WebSocketOptions = field(default_factory=WebSocketOptions)
    script: Callable[[socket.socket], None] | None = None


def violation(*frames: bytes, code: int = 1002, received: tuple[Message, ...] = ()) -> Case:
    error = TOO_BIG if code == 1009 else PROTOCOL
    return Case(frames, received, error=error, code=code, sent_close=code)


def drip(data: bytes) -> Callable[[socket.socket], None]:
    """A script that sends ``data`` one byte per write."""

    def script(conn: socket.socket) -> None:
        for byte in data:
            conn.sendall(bytes([byte]))

    return script


def compressed(data: bytes, opcode: int = TEXT) -> bytes:
    return frame(opcode, deflate(data), rsv1=True)


def _context_takeover_pair() -> tuple[bytes, bytes]:
    """Two messages from one compressor: the second refers back into the first's window."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = compressor.compress(b"repeat repeat repeat") + compressor.flush(zlib.Z_SYNC_FLUSH)
    second = compressor.compress(b"repeat repeat repeat") + compressor.flush(zlib.Z_SYNC_FLUSH)
    return first[:-4], second[:-4]


def _window_bits_10(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -10)
    return (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


FIRST, SECOND = _context_takeover_pair()
SMALL = WebSocketOptions(max_message_size=1000)
BOMB = deflate(b"\x00" * (64 * 1024 * 1024))  # 64 MiB of zeros in ~64 KiB

CASES: dict[str, dict[str, Case]] = {
    "framing": {
        "7-bit length": Case((frame(TEXT, b"a" * 125), BYE), ("a" * 125,)),
        "16-bit length": Case((frame(TEXT, b"b" * 126), BYE), ("b" * 126,)),
        "16-bit length max": Case((frame(BINARY, b"c" * 65535), BYE), (b"c" * 65535,)),
        "64-bit length": Case((frame(BINARY, b"d" * 65536), BYE), (b"d" * 65536,)),
        "empty text and binary": Case((frame(TEXT), frame(BINARY), BYE), ("", b"")),
        "a frame split in every byte": Case(
            (), ("split",), script=drip(frame(TEXT, b"split") + BYE)
        ),
        "a masked frame from the server": violation(
            bytes([0x81, 0x85]) + b"\x01\x02\x03\x04" + bytes(b ^ 1 for b in b"hello")
        ),
    },
    "pings and pongs": {
        "ping answered with its payload": Case((frame(PING, b"hey"), BYE), pongs=(b"hey",)),
        "empty ping": Case((frame(PING), BYE), pongs=(b"",)),
        "125-byte ping": Case((frame(PING, b"p" * 125), BYE), pongs=(b"p" * 125,)),
        "126-byte ping": violation(frame(PING, b"p" * 126)),
        "unsolicited pong ignored": Case(
            (frame(PONG, b"x"), frame(TEXT, b"after"), BYE), ("after",)
        ),
        "fragmented ping": violation(frame(PING, b"a", fin=False)),
        "ten pings in a row": Case((frame(PING, b"n") * 10, BYE), pongs=(b"n",) * 10),
    },
    "reserved bits": {
        "rsv1 without an extension": violation(frame(TEXT, b"x", rsv1=True)),
        "rsv2": violation(frame(TEXT, b"x", rsv2=True)),
        "rsv3": violation(frame(TEXT, b"x", rsv3=True)),
        "rsv on a ping": violation(frame(PING, b"x", rsv2=True)),
        "rsv after a good message": violation(
            frame(TEXT, b"ok"), frame(BINARY, b"x", rsv3=True), received=("ok",)
        ),
    },
    "opcodes": {
        "reserved data opcode 3": violation(frame(0x3)),
        "reserved data opcode 7": violation(frame(0x7, b"x")),
        "reserved control opcode 0xB": violation(frame(0xB)),
        "reserved control opcode 0xF": violation(frame(0xF, b"x")),
        "reserved opcode after a message": violation(
            frame(TEXT, b"ok"), frame(0x5), received=("ok",)
        ),
    },
    "fragmentation": {
        "three fragments": Case(
            (
                frame(TEXT, b"one ", fin=False),
                frame(CONTINUATION, b"two ", fin=False),
                frame(CONTINUATION, b"three"),
                BYE,
            ),
            ("one two three",),
        ),
        "one-byte fragments": Case(
            (
                *(frame(BINARY if i == 0 else CONTINUATION, b"z", fin=False) for i in range(99)),
                frame(CONTINUATION, b"z"),
                BYE,
            ),
            (b"z" * 100,),
        ),
        "ping between fragments": Case(
            (
                frame(TEXT, b"a", fin=False),
                frame(PING, b"mid"),
                frame(CONTINUATION, b"b"),
                BYE,
            ),
            ("ab",),
            pongs=(b"mid",),
        ),
        "empty fragments": Case(
            (frame(TEXT, fin=False), frame(CONTINUATION, fin=False), frame(CONTINUATION), BYE),
            ("",),
        ),
        "continuation without a start": violation(frame(CONTINUATION, b"x")),
        "a new message inside a fragmented one": violation(
            frame(TEXT, b"a", fin=False), frame(TEXT, b"b")
        ),
        "fragmented close": violation(frame(CLOSE, struct.pack("!H", 1000), fin=False)),
    },
    "utf-8": {
        "multi-byte characters": Case((frame(TEXT, "κόσμε 𝄞".encode()), BYE), ("κόσμε 𝄞",)),
        "a character split across fragments": Case(
            (frame(TEXT, b"\xf0\x9d", fin=False), frame(CONTINUATION, b"\x84\x9e"), BYE),
            ("𝄞",),
        ),
        "invalid byte": violation(frame(TEXT, b"ok \xff"), code=1007),
        "invalid in a later fragment": violation(
            frame(TEXT, b"fine", fin=False), frame(CONTINUATION, b"\xc0\xaf"), code=1007
        ),
        "surrogate": violation(frame(TEXT, b"\xed\xa0\x80"), code=1007),
        "truncated at the end": violation(frame(TEXT, b"\xe2\x82"), code=1007),
        "invalid close reason": violation(close_frame(1000, b"\xff"), code=1007),
        "binary is not checked": Case((frame(BINARY, b"\xff\xfe"), BYE), (b"\xff\xfe",)),
    },
    "limits": {
        "one frame over the limit": Case(
            (frame(BINARY, b"x" * 1001),),
            error=TOO_BIG,
            code=1009,
            sent_close=1009,
            options=SMALL,
        ),
        "fragments adding up over the limit": Case(
            tuple(
                frame(TEXT if i == 0 else CONTINUATION, b"y" * 100, fin=False) for i in range(11)
            ),
            error=TOO_BIG,
            code=1009,
            sent_close=1009,
            options=SMALL,
        ),
        "exactly the limit": Case((frame(BINARY, b"x" * 1000), BYE), (b"x" * 1000,), options=SMALL),
        "a decompression bomb": Case(
            (frame(BINARY, BOMB, rsv1=True),),
            error=TOO_BIG,
            code=1009,
            sent_close=1009,
            extension=DEFLATE,
        ),
    },
    "close codes and reasons": {
        "normal close": Case((BYE,)),
        "going away": Case((close_frame(1001),), code=1001, sent_close=1001),
        "no status code": Case((frame(CLOSE),), code=1005, sent_close=1000),
        "application code with a reason": Case(
            (close_frame(3000, b"see you"),), code=3000, sent_close=3000
        ),
        "private code": Case((close_frame(4999),), code=4999, sent_close=4999),
        "123-byte reason": Case((close_frame(1000, b"r" * 123),)),
        "one-byte payload": violation(frame(CLOSE, b"\x03")),
        "code 999": violation(close_frame(999)),
        "reserved code 1004": violation(close_frame(1004)),
        "code 1005 on the wire": violation(close_frame(1005)),
        "code 1015 on the wire": violation(close_frame(1015)),
        "code 5000": violation(close_frame(5000)),
        "data after the close is ignored": Case((BYE, frame(TEXT, b"late"))),
        "the connection dropped": Case((), code=1006, sent_close=None, script=drop),
    },
    "compression": {
        "a compressed message": Case(
            (compressed(b"squeeze me" * 50), BYE), ("squeeze me" * 50,), extension=DEFLATE
        ),
        "compressed binary": Case(
            (compressed(bytes(range(256)) * 4, BINARY), BYE),
            (bytes(range(256)) * 4,),
            extension=DEFLATE,
        ),
        "a compressed message in fragments": Case(
            (
                frame(TEXT, deflate(b"fragments " * 20)[:5], fin=False, rsv1=True),
                frame(CONTINUATION, deflate(b"fragments " * 20)[5:]),
                BYE,
            ),
            ("fragments " * 20,),
            extension=DEFLATE,
        ),
        "uncompressed beside compressed": Case(
            (frame(TEXT, b"plain"), compressed(b"packed"), BYE),
            ("plain", "packed"),
            extension=DEFLATE,
        ),
        "context takeover": Case(
            (frame(TEXT, FIRST, rsv1=True), frame(TEXT, SECOND, rsv1=True), BYE),
            ("repeat repeat repeat", "repeat repeat repeat"),
            extension=DEFLATE,
        ),
        "server no context takeover": Case(
            (compressed(b"again"), compressed(b"again"), BYE),
            ("again", "again"),
            extension=f"{DEFLATE}; server_no_context_takeover",
        ),
        "server window bits 10": Case(
            (frame(TEXT, _window_bits_10(b"windowed " * 30), rsv1=True), BYE),
            ("windowed " * 30,),
            extension=f"{DEFLATE}; server_max_window_bits=10",
        ),
        "rsv1 on a continuation": Case(
            (
                frame(TEXT, deflate(b"ab"), fin=False, rsv1=True),
                frame(CONTINUATION, b"", rsv1=True),
            ),
            error=PROTOCOL,
            code=1002,
            sent_close=1002,
            extension=DEFLATE,
        ),
        "rsv1 on a ping": Case(
            (frame(PING, b"x", rsv1=True),),
            error=PROTOCOL,
            code=1002,
            sent_close=1002,
            extension=DEFLATE,
        ),
        "corrupt deflate data": Case(
            (frame(TEXT, b"\xff\xff\xff\xff", rsv1=True),),
            error=PROTOCOL,
            code=1007,
            sent_close=1007,
            extension=DEFLATE,
        ),
    },
}

PARAMS = [
    pytest.param(case, id=f"{category}: {name}")
    for category, cases in CASES.items()
    for name, case in cases.items()
]


@pytest.mark.parametrize("case", PARAMS)
async def test_conformance(raw_server: RawServerFactory, case: Case) -> None:
    log = ClientLog()
    script = case.script if case.script is not None else send(*case.frames)
    server = raw_server(hostile(script, log, deflate_response=case.extension))
    url = f"ws://127.0.0.1:{server.address[1]}/"
    received: list[Message] = []
    async with (
        AsyncFlextApiClient() as client,
        client.websocket(url, options=case.options) as opened,
    ):
        ws = opened.unwrap()
        while True:
            result = await ws.receive(timeout=20)
            if isinstance(result, Failure):
                break
            received.append(result.value)
    assert received == list(case.received)
    error = result.error
    assert error.code == case.error, error
    assert isinstance(error, WebSocketError)
    assert error.close_code == case.code
    assert await finished(log)
    assert log.hung_up
    assert log.close_codes == ([] if case.sent_close is None else [case.sent_close])
    assert log.pongs == list(case.pongs)
