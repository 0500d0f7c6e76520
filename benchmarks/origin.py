"""A minimal loopback HTTP/1.1 origin for benchmarks when nginx is not installed.

It answers every request head with the same 13-byte keep-alive response, and nothing else: no
routing, no body parsing (benchmark requests are GETs without bodies). Request boundaries are
found by splitting on the blank line, so pipelined and keep-alive requests get exactly one
response each. It binds 127.0.0.1 only and prints "PORT <n>" once it listens.

    python benchmarks/origin.py [--port 0] [--cpu 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from typing import Final

RESPONSE: Final = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/plain\r\n"
    b"Content-Length: 13\r\n"
    b"Connection: keep-alive\r\n"
    b"\r\n"
    b"hello, world\n"
)
_HEAD_END: Final = b"\r\n\r\n"
_MAX_PENDING: Final = 64 * 1024


class FixedResponseProtocol(asyncio.Protocol):
    """One connection: one RESPONSE per complete request head received."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.pending = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        assert transport is not None
        buffer = self.pending + data if self.pending else data
        count = buffer.count(_HEAD_END)
        if count:
            # Keep whatever follows the last complete head: the start of the next request.
            self.pending = buffer[buffer.rindex(_HEAD_END) + len(_HEAD_END) :]
            transport.write(RESPONSE * count)
        else:
            self.pending = buffer
        if len(self.pending) > _MAX_PENDING:
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        loop.add_signal_handler(signum, stop.set)
    server = await loop.create_server(
        FixedResponseProtocol, host="127.0.0.1", port=port, backlog=1024, reuse_address=True
    )
    async with server:
        bound = server.sockets[0].getsockname()[1]
        print(f"PORT {bound}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cpu", type=int, default=None, help="pin this process to one CPU")
    args = parser.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
