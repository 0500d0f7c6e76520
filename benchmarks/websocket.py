"""Client-side cost of WebSocket clients: flext-api against `websockets` and `trio-websocket`.

One echo server (the `websockets` library's asyncio server, compression off, pinned to CPU 1)
serves every client; each client runs in a fresh Python process pinned to CPU 0 and measures:

- ``small``: N sequential round trips of a 16-byte text message: CPU microseconds per message
  (``time.process_time`` of the client process) and round trips per second;
- ``big``: M sequential round trips of a 1 MiB binary message: CPU milliseconds per MiB and
  MiB/s echoed.

Every echo is checked, so a client that fails cannot look fast. Compression is off on both
sides (the server's CPU is not what is measured, and deflate would dominate the 1 MiB case).

    python benchmarks/websocket.py [--n 5000] [--m 40]

The table goes to stdout and to benchmarks/results-websocket.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

HERE: Final = Path(__file__).resolve().parent
RESULT: Final = "RESULT "
SMALL: Final = "0123456789abcdef"
BIG: Final = bytes(range(256)) * 4096  # 1 MiB
WARMUP: Final = 200
CLIENTS: Final = (
    "flext-sync",
    "flext-asyncio",
    "flext-trio",
    "websockets-asyncio",
    "trio-websocket",
)


def _pin(cpu: int) -> None:
    with contextlib.suppress(AttributeError, OSError):
        if (os.cpu_count() or 1) > 1:
            os.sched_setaffinity(0, {cpu})


# -- the server ------------------------------------------------------------------------------


async def _serve() -> None:
    from websockets.asyncio.server import ServerConnection, serve

    async def echo(connection: ServerConnection) -> None:
        async for message in connection:
            await connection.send(message)

    async with serve(echo, "127.0.0.1", 0, compression=None, max_size=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(port, flush=True)
        await asyncio.Future()


@contextlib.contextmanager
def echo_server() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"ws://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(5)
        if process.stdout is not None:
            process.stdout.close()


# -- the clients -----------------------------------------------------------------------------


def _flext_sync(url: str, count: int, message: str | bytes) -> None:
    from flext_api import FlextApiClient
    from flext_api.protocols.websocket import WebSocketOptions

    options = WebSocketOptions(compression=False, max_message_size=None)
    with FlextApiClient() as client, client.websocket(url, options=options) as opened:
        ws = opened.unwrap()
        for _ in range(count):
            ws.send(message)
            if ws.receive().unwrap() != message:
                raise AssertionError("wrong echo")


async def _flext_async(url: str, count: int, message: str | bytes) -> None:
    from flext_api import AsyncFlextApiClient
    from flext_api.protocols.websocket import WebSocketOptions

    options = WebSocketOptions(compression=False, max_message_size=None)
    async with AsyncFlextApiClient() as client, client.websocket(url, options=options) as o:
        ws = o.unwrap()
        for _ in range(count):
            await ws.send(message)
            if (await ws.receive()).unwrap() != message:
                raise AssertionError("wrong echo")


async def _websockets(url: str, count: int, message: str | bytes) -> None:
    from websockets.asyncio.client import connect

    async with connect(url, compression=None, max_size=None) as ws:
        for _ in range(count):
            await ws.send(message)
            if await ws.recv() != message:
                raise AssertionError("wrong echo")


async def _trio_websocket(url: str, count: int, message: str | bytes) -> None:
    from trio_websocket import open_websocket_url

    async with open_websocket_url(url, max_message_size=4 * len(BIG)) as ws:
        for _ in range(count):
            await ws.send_message(message)
            if await ws.get_message() != message:
                raise AssertionError("wrong echo")


def _run(client: str, url: str, count: int, message: str | bytes) -> None:
    if client == "flext-sync":
        _flext_sync(url, count, message)
    elif client == "flext-asyncio":
        asyncio.run(_flext_async(url, count, message))
    elif client == "websockets-asyncio":
        asyncio.run(_websockets(url, count, message))
    else:
        import trio

        trio.run(_flext_async if client == "flext-trio" else _trio_websocket, url, count, message)


def measure(client: str, url: str, scenario: str, count: int) -> dict[str, Any]:
    message: str | bytes = SMALL if scenario == "small" else BIG
    _run(client, url, WARMUP if scenario == "small" else 3, message)
    cpu, wall = time.process_time(), time.perf_counter()
    _run(client, url, count, message)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"client": client, "scenario": scenario, "count": count, "cpu": cpu, "wall": wall}


# -- the driver ------------------------------------------------------------------------------


def run_all(n: int, m: int) -> str:
    results: dict[tuple[str, str], dict[str, Any]] = {}
    with echo_server() as url:
        for scenario, count in (("small", n), ("big", m)):
            for client in CLIENTS:
                output = subprocess.run(
                    [sys.executable, __file__, "--client", client, "--scenario", scenario,
                     "--count", str(count), "--url", url],
                    capture_output=True, text=True, check=True, timeout=600,
                )  # fmt: skip
                line = next(x for x in output.stdout.splitlines() if x.startswith(RESULT))
                results[client, scenario] = json.loads(line[len(RESULT) :])
    return table(results, n, m)


def table(results: dict[tuple[str, str], dict[str, Any]], n: int, m: int) -> str:
    lines = [
        f"WebSocket echo, client side ({platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} CPUs; client on CPU 0, server on CPU 1)",
        "",
        "| client | small: CPU us/msg | small: msg/s | ratio to peer | "
        "1 MiB: CPU ms/MiB | 1 MiB: MiB/s | ratio to peer |",
        "|---|---|---|---|---|---|---|",
    ]
    peer = {"flext-sync": "websockets-asyncio", "flext-asyncio": "websockets-asyncio",
            "flext-trio": "trio-websocket"}  # fmt: skip
    for client in CLIENTS:
        small, big = results[client, "small"], results[client, "big"]
        us = small["cpu"] / small["count"] * 1e6
        ms = big["cpu"] / big["count"] * 1e3
        ratio_small = ratio_big = ""
        if client in peer:
            other_small, other_big = results[peer[client], "small"], results[peer[client], "big"]
            ratio_small = f"{us / (other_small['cpu'] / other_small['count'] * 1e6):.2f}x"
            ratio_big = f"{ms / (other_big['cpu'] / other_big['count'] * 1e3):.2f}x"
            ratio_small += f" {peer[client]}"
            ratio_big += f" {peer[client]}"
        lines.append(
            f"| {client} | {us:.1f} | {small['count'] / small['wall']:,.0f} | {ratio_small} | "
            f"{ms:.2f} | {big['count'] / big['wall']:,.0f} | {ratio_big} |"
        )
    lines += ["", f"small: {n} round trips of 16 bytes; 1 MiB: {m} round trips; deflate off."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--m", type=int, default=40)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--scenario", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--output", default=str(HERE / "results-websocket.md"))
    args = parser.parse_args()
    if args.serve:
        _pin(1)
        asyncio.run(_serve())
        return
    if args.client:
        _pin(0)
        result = measure(args.client, args.url, args.scenario, args.count)
        print(RESULT + json.dumps(result), flush=True)
        return
    report = run_all(args.n, args.m)
    print(report)
    Path(args.output).write_text(report)


if __name__ == "__main__":
    main()
