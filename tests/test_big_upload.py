"""A 1 GiB multipart upload streams from disk: the client process stays under 100 MB RSS.

The upload runs in a fresh interpreter so its peak RSS is its own (the test process holds
servers and earlier tests' objects). The server counts the bytes it receives and discards
them.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.servers.raw import RawServerFactory

GIB = 1 << 30


def test_one_gib_multipart_upload_keeps_rss_under_100_mb(
    raw_server: RawServerFactory, tmp_path: Path
) -> None:
    received: list[int] = []

    def sink(conn: socket.socket) -> None:
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            buffer += conn.recv(65536)
        head, _, rest = buffer.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
        got = len(rest)
        while got < length:
            data = conn.recv(1 << 20)
            if not data:
                return
            got += len(data)
        received.append(got)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    server = raw_server(sink)
    big = tmp_path / "big.bin"
    with big.open("wb") as file:  # sparse: costs no disk, reads as zeros
        file.truncate(GIB)
    script = textwrap.dedent(
        f"""
        from flext_api import FlextApiClient, Timeout
        with FlextApiClient(timeout=Timeout(60)) as client:
            result = client.post({server.url + "/upload"!r}, files={{"blob": {str(big)!r}}})
        assert result.unwrap().content == b"ok", result
        # VmHWM: this process's own peak. getrusage's ru_maxrss would also count the forked
        # copy of the parent (the test process) from before exec.
        status = open("/proc/self/status").read()
        print(status.split("VmHWM:", 1)[1].split()[0])
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stderr
    peak_kib = int(done.stdout.strip().splitlines()[-1])
    assert received and received[0] > GIB
    assert peak_kib < 100 * 1024, f"peak RSS {peak_kib / 1024:.0f} MB"
