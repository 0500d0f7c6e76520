"""What the create_fastapi_app stack costs: req/s of a trivial route, bare FastAPI vs full stack.

Two modes. By default it starts uvicorn (one process, ``--http httptools``, log level warning)
once per app, pinned to CPU 0, and drives it from CPU 1 with a load client: ``wrk`` when it is
on PATH (``apt-get install -y wrk``), else the small asyncio HTTP/1.1 keep-alive client below
(no extra packages). Prints req/s for each app and the overhead ratio ``bare / full - 1``, and
the server process's CPU time per request (steadier when other load shares the machine).

    .venv/bin/python benchmarks/server_overhead.py [--seconds 10] [--connections 50]
        [--client auto|wrk|asyncio] [--rounds 3]

``--in-process`` instead calls each ASGI app directly with a fake ``receive``/``send``, in
alternating batches of ``--batch`` requests for ``--seconds`` per app, and keeps each app's
fastest batch: no sockets, no server, no load client, so it is much steadier on a busy
machine. It measures only what the application costs per request (the server's own share
is left out), so its percentages are larger than the uvicorn ones for the same microseconds.

    .venv/bin/python benchmarks/server_overhead.py --in-process [--seconds 5] [--batch 200]

The full stack is ``create_fastapi_app()`` with its defaults, access log included (its lines
go to /dev/null here); a third run without the access log shows what the log line costs.
This script must never bind anything but 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.types import Message

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


async def _asyncio_load(port: int, seconds: float, connections: int) -> tuple[float, int]:
    counts: list[int] = []
    start = time.monotonic()
    deadline = start + seconds
    await asyncio.gather(*(_connection_loop(port, deadline, counts) for _ in range(connections)))
    return sum(counts) / (time.monotonic() - start), sum(counts)


def _wrk_load(wrk: str, port: int, seconds: float, connections: int) -> tuple[float, int]:
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
    done = re.search(r"(\d+) requests in", output)
    if match is None or done is None or "Non-2xx" in output:
        raise RuntimeError(f"wrk failed:\n{output}")
    return float(match.group(1)), int(done.group(1))


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` so far (Linux only)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    factory: str, seconds: float, connections: int, client: str
) -> tuple[float, float | None]:
    """Requests per second, and the server's CPU seconds per request (None off Linux)."""
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
            before = _cpu_seconds(server.pid)
            rate, done = _wrk_load(wrk, port, seconds, connections)
        else:
            asyncio.run(_asyncio_load(port, warmup, connections))
            before = _cpu_seconds(server.pid)
            rate, done = asyncio.run(_asyncio_load(port, seconds, connections))
        after = _cpu_seconds(server.pid)
        cpu = None if before is None or after is None else (after - before) / done
        return rate, cpu
    finally:
        server.terminate()
        server.wait(10)


APPS: dict[str, Callable[[], FastAPI]] = {
    "bare_app": bare_app,
    "full_app": full_app,
    "full_app_without_access_log": full_app_without_access_log,
}

# What uvicorn hands the application for `GET /ping` from wrk.
_PING_SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.4"},
    "http_version": "1.1",
    "server": ("127.0.0.1", 8000),
    "client": ("127.0.0.1", 50000),
    "scheme": "http",
    "method": "GET",
    "root_path": "",
    "path": "/ping",
    "raw_path": b"/ping",
    "query_string": b"",
    "headers": [(b"host", b"127.0.0.1:8000")],
    "state": {},
}


async def _in_process_batch(app: FastAPI, requests: int) -> float:
    """Seconds per request over ``requests`` sequential calls of ``app``."""
    request: Message = {"type": "http.request", "body": b"", "more_body": False}
    statuses: list[int] = []

    async def receive() -> Message:
        return request

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    start = time.perf_counter()
    for _ in range(requests):
        scope = dict(_PING_SCOPE, headers=list(_PING_SCOPE["headers"]), state={})
        await app(scope, receive, send)
    elapsed = time.perf_counter() - start
    if statuses != [200] * requests:
        raise RuntimeError(f"unexpected statuses: {sorted(set(statuses))}")
    return elapsed / requests


async def _in_process(seconds: float, batch: int) -> dict[str, float]:
    # The uvicorn runs write access lines to a stderr that is /dev/null: do the same here,
    # through the handler create_fastapi_app attaches.
    from flext_api.server import configure_access_logging

    configure_access_logging()
    devnull = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    for handler in logging.getLogger("flext_api.server.access").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(devnull)
    apps = {name: factory() for name, factory in APPS.items()}
    for app in apps.values():
        await _in_process_batch(app, batch)  # builds the middleware stack, warms caches
    # Alternating short batches and keeping each app's fastest one filters out other load
    # on the machine, which only ever slows a batch down.
    best = dict.fromkeys(apps, float("inf"))
    deadline = time.monotonic() + seconds * len(apps)
    while time.monotonic() < deadline:
        for name, app in apps.items():
            best[name] = min(best[name], await _in_process_batch(app, batch))
    return best


def _report_in_process(seconds: float, batch: int) -> None:
    print(f"in process: fastest batch of {batch} requests, {seconds:g} s per app")
    best = asyncio.run(_in_process(seconds, batch))
    for name, per_request in best.items():
        print(f"{name:30s} {per_request * 1e6:8.1f} us per request ({1 / per_request:8.0f}/s)")
    bare = best["bare_app"]
    for name in ("full_app", "full_app_without_access_log"):
        overhead = best[name] / bare - 1.0
        print(
            f"overhead of {name}: {overhead:+.1%} ({(best[name] - bare) * 1e6:.1f} us per request)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--client", choices=("auto", "wrk", "asyncio"), default="auto")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternate the apps this many times; keep the best"
    )
    parser.add_argument(
        "--in-process", action="store_true", help="call the ASGI apps directly, no server"
    )
    parser.add_argument("--batch", type=int, default=200, help="requests per in-process batch")
    args = parser.parse_args()
    if args.in_process:
        _report_in_process(args.seconds, args.batch)
        return
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "asyncio"
    print(f"load client: {client}, {args.connections} connections, {args.seconds:g} s per app")
    # Alternating rounds and keeping each app's best run filters out other load on the
    # machine, which only ever slows a run down.
    # The server's CPU time per request is reported too: unlike req/s it does not move when
    # the load client or another process takes the CPU away, so it is the steadier figure.
    results: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for _ in range(args.rounds):
        for name in APPS:
            rate, cpu_per_request = measure(name, args.seconds, args.connections, client)
            results[name] = max(results.get(name, 0.0), rate)
            if cpu_per_request is not None:
                cpu[name] = min(cpu.get(name, float("inf")), cpu_per_request)
    for name, rate in results.items():
        server_cpu = f", server CPU {cpu[name] * 1e6:6.1f} us/request" if name in cpu else ""
        print(f"{name:30s} {rate:10.0f} req/s{server_cpu} (best of {args.rounds})")
    bare = results["bare_app"]
    for name in ("full_app", "full_app_without_access_log"):
        overhead = bare / results[name] - 1.0
        per_request = (1 / results[name] - 1 / bare) * 1e6
        line = f"overhead of {name}: {overhead:+.1%} req/s ({per_request:.0f} us per request)"
        if name in cpu and "bare_app" in cpu:
            line += f", {cpu[name] / cpu['bare_app'] - 1.0:+.1%} server CPU per request"
        print(line)


if __name__ == "__main__":
    main()
