"""Azurite, the Azure Storage emulator from npm, as a blob service on 127.0.0.1 for the tests.

`make peers` installs the pinned version (tests/servers/azurite/package.json and its lock file,
`npm ci`); :func:`azurite_available` says why it cannot run otherwise. Azurite checks Shared
Key signatures and SAS tokens, so a wrong signature is refused as the service would. It runs
with telemetry off, persisting to a directory the caller owns (so a restart after a kill shows
what survived), and is stopped by its own process handle only.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from flext_api.storage.azure import AZURITE_ACCOUNT_KEY, AZURITE_ACCOUNT_NAME

AZURITE_DIR: Final = Path(__file__).parent / "azurite"
AZURITE_MAIN: Final = AZURITE_DIR / "node_modules" / "azurite" / "dist" / "src" / "blob" / "main.js"
_START_TIMEOUT: Final = 30.0


def azurite_available() -> str | None:
    """``None`` when Azurite can start here (installed from the lock file on first use, as
    `make peers` does), else what is missing."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node and npm are not installed (apt-get install nodejs npm)"
    if not AZURITE_MAIN.exists():
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--silent"],
            cwd=AZURITE_DIR,
            capture_output=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0 or not AZURITE_MAIN.exists():
            return (
                f"`npm ci` in {AZURITE_DIR} failed: {done.stderr.decode(errors='replace')[-500:]}"
            )
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Azurite:
    """One Azurite blob service: ``endpoint`` is its path-style blob URL for the dev account."""

    location: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT_NAME}"

    @property
    def connection_string(self) -> str:
        return (
            f"AccountName={AZURITE_ACCOUNT_NAME};AccountKey={AZURITE_ACCOUNT_KEY};"
            f"BlobEndpoint={self.endpoint}"
        )

    def start(self) -> None:
        self.location.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                "node",
                str(AZURITE_MAIN),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(self.port),
                "--location",
                str(self.location),
                "--disableTelemetry",
                "--silent",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = (
                    self.process.stderr.read().decode(errors="replace")
                    if self.process.stderr
                    else ""
                )
                raise RuntimeError(f"Azurite exited with {self.process.returncode}: {err[-2000:]}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"Azurite did not listen on 127.0.0.1:{self.port} in {_START_TIMEOUT} s")

    def kill(self, *, graceful: bool = False) -> None:
        """Stop it at once (SIGKILL to this process only), as a crash would; ``graceful``
        sends SIGTERM, on which Azurite saves its metadata before exiting (its store keeps
        metadata in memory between saves, so only then does a restart show what was there)."""
        if self.process is not None and self.process.poll() is None:
            if graceful:
                self.process.terminate()
            else:
                self.process.kill()
            self.process.wait(10)
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None


@contextlib.contextmanager
def running_azurite(location: Path, port: int | None = None) -> Iterator[Azurite]:
    server = Azurite(location=location, port=port or free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()
