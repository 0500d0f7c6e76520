"""Real redis-server processes and a hung TCP peer on loopback, for the cache tests.

Each is started by the test that needs it and stopped by its own PID (never by name).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

REDIS_INSTALL_HINT = (
    "redis-server is not installed; the cache tests need it: apt-get install -y redis-server"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


__all__ = ["RedisProcess", "free_port", "hung_server", "redis_process", "wait_for_port"]


@dataclass
class RedisProcess:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(5)

    def restart(self) -> None:
        """Start a fresh redis-server on the same port (the old one must be stopped)."""
        self.process = _spawn(self.port)
        wait_for_port(self.port)


def _spawn(port: int) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not shutil.which(binary):
        pytest.fail(REDIS_INSTALL_HINT, pytrace=False)
    return subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@contextmanager
def redis_process() -> Iterator[RedisProcess]:
    port = free_port()
    server = RedisProcess(port, _spawn(port))
    try:
        wait_for_port(port)
        yield server
    finally:
        server.process.terminate()
        server.process.wait(5)


@contextmanager
def hung_server() -> Iterator[int]:
    """A TCP server on loopback that accepts connections and never answers; yields its port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.1)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()
        for conn in accepted:
            conn.close()
