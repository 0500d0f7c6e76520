"""pproxy as the SOCKS5 peer of the proxy tests: an implementation that is not ours.

Two listeners in one process on 127.0.0.1: one without authentication, one requiring the
username/password ``alice``/``s3cret`` (``--auth 0``: pproxy would otherwise remember an
address that authenticated once and let it in without credentials for 30 days).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

USER, PASSWORD = "alice", "s3cret"


@dataclass(frozen=True)
class SocksProxies:
    open_url: str
    auth_url: str

    @property
    def auth_port(self) -> int:
        return int(self.auth_url.rsplit(":", 1)[1])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("pproxy exited at start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("pproxy did not start listening")


@contextmanager
def run_pproxy() -> Iterator[SocksProxies]:
    open_port, auth_port = _free_port(), _free_port()
    pproxy = Path(sys.executable).parent / "pproxy"
    process = subprocess.Popen(
        [
            str(pproxy),
            "-l",
            f"socks5://127.0.0.1:{open_port}",
            "-l",
            f"socks5://127.0.0.1:{auth_port}#{USER}:{PASSWORD}",
            "--auth",
            "0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(open_port, process)
        _wait_listening(auth_port, process)
        yield SocksProxies(f"socks5://127.0.0.1:{open_port}", f"socks5://127.0.0.1:{auth_port}")
    finally:
        process.terminate()
        process.wait(timeout=10)
