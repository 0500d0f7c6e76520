"""Hostile HTTP/1.1 scripts for `RawServer`: one attack per request path, a sane answer to `/ok`.

Each script serves a connection like this: requests whose path is `/ok` get the 13-byte
`hello, world\\n` (keep-alive), so a test can prove the same origin still works; any other path
runs that path's attack, after which the connection is closed by the server. The attacks are
bounded (a drip stops after a few seconds, a flood after a fixed count), so a client that falls
for one ends in a wrong result the test reports, never in a hang.

The echo script (`echo_ids`) serves the cancellation storms: `/echo/<id>?delay=<ms>` answers
`<id>` after the delay, keep-alive; `/stall/<id>` stops reading (its request body blocks the
client's writes) until the client hangs up or the server stops.

Large bodies (the gzip bombs) are built once per process with `functools.cache`: the deflate
stream of zeros is one full-flushed 1 MiB block repeated, so building a 1 GiB bomb costs a
CRC over zeros, not a compression of 1 GiB.
"""

from __future__ import annotations

import functools
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable
from typing import Final

from tests.servers.raw import (
    HELLO_RESPONSE,
    Handler,
    RequestReader,
    idle_until_closed,
    wait_stopped,
)

Attack = Callable[[socket.socket], None]

MIB: Final = 1024 * 1024


def request_path(head: bytes) -> str:
    """The path of a request head (without the query)."""
    target = head.split(b"\r\n", 1)[0].split(b" ")[1].decode("ascii")
    return target.split("?", 1)[0]


def query_value(head: bytes, name: str, default: str) -> str:
    target = head.split(b"\r\n", 1)[0].split(b" ")[1].decode("ascii")
    _, _, query = target.partition("?")
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if key == name:
            return value
    return default


def serve(attacks: dict[str, Attack]) -> Handler:
    """A RawServer script: `/ok` answers hello (keep-alive); a path in `attacks` runs it and the
    connection ends; anything else is a test bug (404 and close)."""

    def script(conn: socket.socket) -> None:
        reader = RequestReader(conn)
        while (head := reader.next_request()) is not None:
            path = request_path(head)
            if path == "/ok":
                conn.sendall(HELLO_RESPONSE)
                continue
            attack = attacks.get(path)
            if attack is None:
                conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                return
            attack(conn)
            return

    return script


def send(data: bytes) -> Attack:
    """Send `data` as is, then close (FIN)."""

    def attack(conn: socket.socket) -> None:
        conn.sendall(data)

    return attack


def send_then_reset(data: bytes) -> Attack:
    """Send `data`, then close with SO_LINGER 0: the client gets a TCP reset (RST), not a FIN."""

    def attack(conn: socket.socket) -> None:
        conn.sendall(data)
        # Let the bytes leave before the reset; the reset then hits the client mid-head.
        time.sleep(0.05)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    return attack


def send_then_idle(data: bytes) -> Attack:
    """Send `data` and keep the connection open until the client closes it."""

    def attack(conn: socket.socket) -> None:
        conn.sendall(data)
        idle_until_closed(conn)

    return attack


def drip(data: bytes, interval: float) -> Attack:
    """Send `data` one byte every `interval` seconds (each byte well inside a read timeout
    larger than `interval`), stopping early when the client hangs up."""

    def attack(conn: socket.socket) -> None:
        for index in range(len(data)):
            if wait_stopped(interval):
                return
            conn.sendall(data[index : index + 1])
        idle_until_closed(conn)

    return attack


def endless_continue(seconds: float, final: bytes) -> Attack:
    """Send `HTTP/1.1 100 Continue` interim responses for `seconds` (batches of 100, 100 times
    a second), then `final`: a client that accepts them all gets `final` late, not an error."""
    batch = b"HTTP/1.1 100 Continue\r\n\r\n" * 100

    def attack(conn: socket.socket) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            conn.sendall(batch)
            if wait_stopped(0.01):
                return
        conn.sendall(final)
        idle_until_closed(conn)

    return attack


def oversized_head(size: int) -> Attack:
    """A status line then `size` bytes of headers (lines of 1 KiB), never ending the head."""
    line = b"X-Filler: " + b"a" * 1012 + b"\r\n"

    def attack(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        for _ in range(size // len(line)):
            conn.sendall(line)

    return attack


def one_header_line(size: int) -> Attack:
    """A status line then one header whose value is `size` bytes long."""

    def attack(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Big: ")
        chunk = b"b" * (64 * 1024)
        for _ in range(size // len(chunk)):
            conn.sendall(chunk)
        conn.sendall(b"\r\nContent-Length: 0\r\n\r\n")

    return attack


def encoded_response(body: bytes, encoding: str) -> Attack:
    """A 200 whose body is `body`, labelled with Content-Encoding `encoding`."""
    head = (
        f"HTTP/1.1 200 OK\r\nContent-Encoding: {encoding}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode("ascii")

    def attack(conn: socket.socket) -> None:
        conn.sendall(head)
        conn.sendall(body)
        idle_until_closed(conn)

    return attack


# --- gzip bombs ---------------------------------------------------------------------------------


@functools.cache
def _zero_block() -> tuple[bytes, bytes]:
    """One full-flushed raw-deflate block of 1 MiB of zeros, and the final empty block."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = compressor.compress(bytes(MIB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(bytes(MIB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    # A full flush resets the dictionary, so every block of zeros compresses alike.
    assert block == again
    return block, compressor.flush()


def gzip_of_zeros(mebibytes: int) -> bytes:
    """A valid gzip member of `mebibytes` MiB of zeros (about 1 KiB per MiB)."""
    block, end = _zero_block()
    crc = 0
    zeros = bytes(16 * MIB)
    for _ in range(mebibytes // 16):
        crc = zlib.crc32(zeros, crc)
    crc = zlib.crc32(bytes(MIB * (mebibytes % 16)), crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc, (mebibytes * MIB) & 0xFFFFFFFF)
    return header + block * mebibytes + end + trailer


@functools.cache
def gzip_bomb_1mb() -> bytes:
    """About 1 MB of gzip that expands to 1 GiB of zeros."""
    return gzip_of_zeros(1024)


@functools.cache
def double_gzip_bomb() -> bytes:
    """`Content-Encoding: gzip, gzip`: about 2.3 KB that expands to about 2.3 MB of gzip, which
    expands to 2.2 GiB of zeros."""
    return zlib.compress(gzip_of_zeros(2200), 9, wbits=31)


# --- the cancellation storm's echo server ------------------------------------------------------


class StallLog:
    """Counts `/stall/` requests whose head the server has read (it then stops reading)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def add(self) -> None:
        with self._lock:
            self.count += 1


def echo_ids(stalls: StallLog) -> Handler:
    """`/echo/<id>?delay=<ms>`: `<id>` after the delay, keep-alive. `/stall/<id>`: stop reading
    (the request body fills the socket buffers) until the client or the server goes away."""

    def script(conn: socket.socket) -> None:
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                data = conn.recv(65536)
                if not data:
                    return
                buffer += data
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            path = request_path(head)
            if path.startswith("/stall/"):
                stalls.add()
                wait_stopped()
                return
            if path.startswith("/echo/"):
                ident = path.removeprefix("/echo/").encode("ascii")
                if wait_stopped(int(query_value(head, "delay", "0")) / 1000):
                    return
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(ident), ident)
                )
                continue
            if path == "/ok":
                conn.sendall(HELLO_RESPONSE)
                continue
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            return

    return script
