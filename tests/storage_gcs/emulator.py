"""gcp-storage-emulator in a child process on 127.0.0.1, for the GCS backend tests.

The emulator keeps its objects and its resumable sessions in ``data_dir``, so :meth:`restart`
brings back the same state on the same port (what a resumed upload needs). Only the process
started here is ever signalled.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

BUCKET = "flext-bucket"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def create_bucket(base_url: str, name: str) -> None:
    """Create bucket ``name`` on the emulator (or a proxy in front of it) at ``base_url``."""
    request = urllib.request.Request(
        base_url + "/storage/v1/b?project=flext-tests",
        data=json.dumps({"name": name}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200, answer.status


class Emulator:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gcp_storage_emulator",
                "-d",
                str(self.data_dir),
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--default-bucket",
                BUCKET,
                "-q",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gcp-storage-emulator exited with {self.process.returncode}")
            with suppress(OSError), urllib.request.urlopen(self.url + "/", timeout=1) as answer:
                if answer.status == 200:
                    return
            time.sleep(0.05)
        self.kill()
        raise RuntimeError("gcp-storage-emulator did not answer within 20 s")

    def create_bucket(self, name: str) -> None:
        create_bucket(self.url, name)

    def kill(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)

    def restart(self) -> None:
        self.kill()
        self.start()


@contextmanager
def run_emulator(data_dir: Path) -> Iterator[Emulator]:
    emulator = Emulator(data_dir)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.kill()
