"""What the create_fastapi_app stack costs: req/s of a trivial route, bare FastAPI vs full stack.

Starts uvicorn (one process, ``--http httptools``, log level warning) once per app, pinned to
CPU 0, and drives it from CPU 1 with a load client: ``wrk`` when it is on PATH
(``apt-get install -y wrk``), else the small asyncio HTTP/1.1 keep-alive client below (no extra
packages). Prints req/s for each app and the overhead ratio ``bare / full - 1``.

    .venv/bin/python benchmarks/server_overhead.py [--seconds 10] [--connections 50]
        [--client auto|wrk|asyncio]

The full stack is ``create_fastapi_app()`` with its defaults, access log included (its lines
go to /dev/null here); a third run without the access log shows what the log line costs.
This script must never bind anything but 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from fastapi import FastAPI

ROOT = Path(__file__).resolve().parents[1]


def bare_app() -> FastAPI:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    return app


def full_app() -> FastAPI:
    from flext_api.server import create_fastapi_app

    app = create_fastapi_app()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    return app


def full_app_without_access_log() -> FastAPI:
    from flext_api.server import create_fastapi_app

    app = create_fastapi_app(access_log=False)

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    return app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _pin(cpu: int, pid: int = 0) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(pid, {cpu})


async def _connection_loop(port: int, deadline: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    done = 0
    try:
        while time.monotonic() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            match = re.search(rb"(?i)content-length:\s*(\d+)", head)
            if match is None or not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"unexpected response: {head!r}")
            await reader.readexactly(int(match.group(1)))
            done += 1
    finally:
        counts.append(done)
        writer.close()
        await writer.wait_closed()


async def _asyncio_load(port: int, seconds: float, connections: int) -> float:
    counts: list[int] = []
    start = time.monotonic()
    deadline = start + seconds
    await asyncio.gather(*(_connection_loop(port, deadline, counts) for _ in range(connections)))
    return sum(counts) / (time.monotonic() - start)


def _wrk_load(wrk: str, port: int, seconds: float, connections: int) -> float:
    output = subprocess.run(
        [
            wrk,
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            f"http://127.0.0.1:{port}/ping",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = re.search(r"Requests/sec:\s*([\d.]+)", output)
    if match is None or "Non-2xx" in output:
        raise RuntimeError(f"wrk failed:\n{output}")
    return float(match.group(1))


def measure(factory: str, seconds: float, connections: int, client: str) -> float:
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", f"benchmarks.server_overhead:{factory}"]
    options = ["--factory", "--host", "127.0.0.1", "--port", str(port), "--http", "httptools"]
    server = subprocess.Popen(
        [*command, *options, "--log-level", "warning", "--no-access-log"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _pin(0, server.pid)
    try:
        _wait_for(port)
        _pin(1)
        warmup = min(2.0, seconds / 4)
        wrk = shutil.which("wrk")
        if client == "wrk" or (client == "auto" and wrk):
            if wrk is None:
                raise SystemExit("wrk is not installed: apt-get install -y wrk")
            _wrk_load(wrk, port, warmup, connections)
            return _wrk_load(wrk, port, seconds, connections)
        asyncio.run(_asyncio_load(port, warmup, connections))
        return asyncio.run(_asyncio_load(port, seconds, connections))
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--client", choices=("auto", "wrk", "asyncio"), default="auto")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternate the apps this many times; keep the best"
    )
    args = parser.parse_args()
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "asyncio"
    print(f"load client: {client}, {args.connections} connections, {args.seconds:g} s per app")
    # Alternating rounds and keeping each app's best run filters out other load on the
    # machine, which only ever slows a run down.
    results: dict[str, float] = {}
    for _ in range(args.rounds):
        for name in ("bare_app", "full_app", "full_app_without_access_log"):
            rate = measure(name, args.seconds, args.connections, client)
            results[name] = max(results.get(name, 0.0), rate)
    for name, rate in results.items():
        print(f"{name:30s} {rate:10.0f} req/s (best of {args.rounds})")
    bare = results["bare_app"]
    for name in ("full_app", "full_app_without_access_log"):
        overhead = bare / results[name] - 1.0
        per_request = (1 / results[name] - 1 / bare) * 1e6
        print(f"overhead of {name}: {overhead:+.1%} ({per_request:.0f} us per request)")


if __name__ == "__main__":
    main()
