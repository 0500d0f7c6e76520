"""Fixtures for the hostile-input tests: real uvicorn processes, a real or hanging Redis.

Every server here is a separate ``python -m uvicorn`` process on 127.0.0.1 (a port the kernel
picked), configured only through ``FLEXT_API_*`` variables, with its stderr in a file the test
reads: access lines, error records and tracebacks are what an operator would see. Processes
are stopped by their own PID; nothing else is ever signalled.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import REDIS_INSTALL_HINT, _find_redis_server, free_port, wait_for_port
from tests.server.helpers import Reply

ROOT = Path(__file__).resolve().parents[2]
APP_FACTORY = "tests.hostile_server.app_factory:create_app"


@dataclass
class UvicornWorker:
    """One uvicorn process: its port, its process and the file its stderr goes to."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def stderr(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def access_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stderr().splitlines() if line.startswith("{")]

    def access_line(self, request_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """The one access line of ``request_id``, waiting for the server to finish with it."""
        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in self.access_lines() if line["request_id"] == request_id]
            if found or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert len(found) == 1, f"expected one access line for {request_id!r}, got {found}"
        return found[0]

    def call(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 10.0,
    ) -> Reply:
        """One request on a fresh connection; ``timeout`` bounds every socket operation."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=dict(headers or {}))
            response = connection.getresponse()
            data = response.read()
            raw = response.getheaders()
            return Reply(response.status, {k.lower(): v for k, v in raw}, data, raw)
        finally:
            connection.close()

    def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """The /metrics samples: (name, labels) -> value."""
        reply = self.call("GET", "/metrics")
        assert reply.status == 200
        return parse_metrics(reply.body.decode())

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS in /proc status")


def parse_metrics(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        name, _, label_text = series.partition("{")
        labels: list[tuple[str, str]] = []
        for part in label_text.rstrip("}").split('",'):
            if "=" in part:
                key, _, raw = part.partition("=")
                labels.append((key.strip(","), raw.strip('"')))
        samples[(name, frozenset(labels))] = float(value)
    return samples


def requests_total(
    samples: Mapping[tuple[str, frozenset[tuple[str, str]]], float],
    method: str,
    route: str,
    status: int | str,
) -> float:
    labels = frozenset({("method", method), ("route", route), ("status", str(status))})
    return samples.get(("flext_api_requests_total", labels), 0.0)


@contextmanager
def uvicorn_workers(
    tmp_path: Path,
    env: Mapping[str, str],
    *,
    count: int = 1,
    http: str = "h11",
) -> Iterator[list[UvicornWorker]]:
    """``count`` uvicorn processes of the hostile app, each on its own port.

    With ``count > 1`` they share a Prometheus multiprocess directory (``/metrics`` of either
    sums both), as workers of one deployment do; ``env`` holds the ``FLEXT_API_*`` settings.
    """
    base = {k: v for k, v in os.environ.items() if not k.startswith("FLEXT_API_")}
    base.pop("PROMETHEUS_MULTIPROC_DIR", None)
    base["PYTHONPATH"] = str(ROOT)
    if count > 1:
        multiproc = tmp_path / "prometheus"
        multiproc.mkdir(exist_ok=True)
        base["PROMETHEUS_MULTIPROC_DIR"] = str(multiproc)
    base.update(env)
    workers: list[UvicornWorker] = []
    try:
        for index in range(count):
            port = free_port()
            log_path = tmp_path / f"worker-{index}.stderr"
            command = [sys.executable, "-m", "uvicorn", APP_FACTORY, "--factory",
                       "--host", "127.0.0.1", "--port", str(port), "--http", http,
                       "--log-level", "warning", "--no-access-log"]  # fmt: skip
            with log_path.open("wb") as log:
                process = subprocess.Popen(
                    command,
                    cwd=ROOT,
                    env=base,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                )
            workers.append(UvicornWorker(port, process, log_path))
        for worker in workers:
            try:
                wait_for_port(worker.port, timeout=30)
            except OSError:
                raise AssertionError(f"uvicorn did not start:\n{worker.stderr()}") from None
        yield workers
    finally:
        for worker in workers:
            worker.process.terminate()
        for worker in workers:
            worker.process.wait(15)


@dataclass
class PrivateRedis:
    """A redis-server this test started; ``pause``/``resume`` SIGSTOP/SIGCONT it by PID."""

    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    binary = _find_redis_server()
    if binary is None:
        pytest.fail(REDIS_INSTALL_HINT, pytrace=False)
    port = free_port()
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield PrivateRedis(port, process)
    finally:
        process.send_signal(signal.SIGCONT)  # a stopped process would not act on SIGTERM
        process.terminate()
        process.wait(5)


@pytest.fixture
def hanging_tcp_server() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that accepts connections and never answers a byte."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept_forever() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(connection)  # held open, never read from or written to

    thread = threading.Thread(target=accept_forever, name="hanging-redis", daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()
        for connection in accepted:
            connection.close()
