"""A minimal S3 look-alike for benchmarks: it discards uploads and serves downloads, so a
client's figure is not a storage server's.

It speaks just enough of S3 for flext-api, boto3 and obstore: ``PUT`` of an object (plain or
``aws-chunked``, ``Content-Length`` or chunked framing, ``Expect: 100-continue``), the
multipart calls (start, part, complete, abort), ``HEAD`` and ``GET`` (ranges too) of any key
as an object of the size last uploaded under it (or ``DEFAULT_SIZE``), and ``ListObjectsV2``
(empty). No signature is checked: the clients still sign, the sink just does not look.
One thread per connection; bodies are read into one reused buffer and dropped.

    python benchmarks/s3_sink.py PORT
"""

from __future__ import annotations

import re
import socket
import socketserver
import sys
import threading
import uuid
from typing import Final

DEFAULT_SIZE: Final = 1 << 30
_PATTERN: Final = memoryview(bytes(range(256)) * 4096)  # 1 MiB
_SIZES: dict[str, int] = {}
_LOCK = threading.Lock()
_RANGE: Final = re.compile(r"bytes=(\d*)-(\d*)")


class _Handler(socketserver.StreamRequestHandler):
    rbufsize = 1 << 20
    disable_nagle_algorithm = True

    def handle(self) -> None:
        buffer = bytearray(1 << 20)
        self._view = memoryview(buffer)
        while True:
            line = self.rfile.readline(65537)
            if not line:
                return
            if line in (b"\r\n", b"\n"):
                continue
            method, target, _ = line.decode("latin-1").split(" ", 2)
            headers: dict[str, str] = {}
            while True:
                field = self.rfile.readline(65537)
                if field in (b"\r\n", b"\n", b""):
                    break
                name, _, value = field.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            if headers.get("expect", "").lower() == "100-continue":
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                self.wfile.flush()
            received = self._drain(headers)
            path, _, query = target.partition("?")
            self._answer(method, path, query, headers, received)
            if headers.get("connection", "").lower() == "close":
                return

    def _drain(self, headers: dict[str, str]) -> int:
        total = 0
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return total
                self._skip(size)
                self.rfile.readline()
                total += size
        length = int(headers.get("content-length", "0") or 0)
        self._skip(length)
        return length

    def _skip(self, length: int) -> None:
        view = self._view
        while length:
            got = self.rfile.readinto(view[: min(length, len(view))])
            if not got:
                raise ConnectionError("body cut short")
            length -= got

    def _send(self, status: str, headers: dict[str, str], body: bytes = b"") -> None:
        head = [f"HTTP/1.1 {status}"]
        headers.setdefault("content-length", str(len(body)))
        head += [f"{name}: {value}" for name, value in headers.items()]
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        self.wfile.flush()

    def _answer(
        self, method: str, path: str, query: str, headers: dict[str, str], received: int
    ) -> None:
        etag = '"0123456789abcdef0123456789abcdef"'
        if method == "POST" and "uploads" in query:
            with _LOCK:
                _SIZES[path] = 0
            xml = (
                "<InitiateMultipartUploadResult><UploadId>"
                f"{uuid.uuid4().hex}</UploadId></InitiateMultipartUploadResult>"
            )
            self._send("200 OK", {"content-type": "application/xml"}, xml.encode())
        elif method == "POST" and "uploadId" in query:
            xml = (
                "<CompleteMultipartUploadResult><ETag>&quot;x-1&quot;</ETag>"
                "</CompleteMultipartUploadResult>"
            )
            self._send("200 OK", {"content-type": "application/xml"}, xml.encode())
        elif method == "PUT":
            if "partNumber" in query:
                with _LOCK:
                    _SIZES[path] = _SIZES.get(path, 0) + received
            else:
                decoded = headers.get("x-amz-decoded-content-length")
                with _LOCK:
                    _SIZES[path] = int(decoded) if decoded else received
            self._send("200 OK", {"etag": etag})
        elif method == "DELETE":
            self._send("204 No Content", {})
        elif method == "GET" and path.count("/") <= 1 and "list-type" in query:
            xml = "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>"
            self._send("200 OK", {"content-type": "application/xml"}, xml.encode())
        elif method in ("GET", "HEAD"):
            self._object(method, path, headers, etag)
        else:
            self._send("400 Bad Request", {})

    def _object(self, method: str, path: str, headers: dict[str, str], etag: str) -> None:
        size = _SIZES.get(path, DEFAULT_SIZE)
        start, end = 0, size
        status = "200 OK"
        fields = {
            "etag": etag,
            "content-type": "application/octet-stream",
            "last-modified": "Sat, 05 Dec 2026 00:00:00 GMT",
            "accept-ranges": "bytes",
        }
        match = _RANGE.fullmatch(headers.get("range", ""))
        if match is not None:
            first, last = match.groups()
            if first:
                start = int(first)
                end = min(size, int(last) + 1) if last else size
            else:
                start = max(0, size - int(last))
            status = "206 Partial Content"
            fields["content-range"] = f"bytes {start}-{end - 1}/{size}"
        fields["content-length"] = str(end - start)
        self._send(status, fields)
        if method == "HEAD":
            return
        remaining = end - start
        sock: socket.socket = self.connection
        while remaining:
            step = min(remaining, len(_PATTERN))
            sock.sendall(_PATTERN[:step])
            remaining -= step


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    with _Server(("127.0.0.1", port), _Handler) as server:
        print(server.server_address[1], flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
