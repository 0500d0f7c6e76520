"""A loopback proxy in front of gcp-storage-emulator that adds the two JSON API behaviours the
emulator lacks, so the storage contract suite runs whole on the gcs backend:

* ``objects.list`` pages: ``maxResults`` items at a time (in name order) with a
  ``nextPageToken`` (here, the offset of the next item); the emulator returns every item;
* ``ifGenerationMatch=0`` on an upload (multipart or resumable start) or a rewrite: 412
  ``conditionNotMet`` when the destination object exists; the emulator ignores preconditions.

Everything else is forwarded as it came (the ``Host`` header included, so the emulator's
resumable session URIs point back through the proxy). The existence check and the write are
two requests, not one atomic step: enough for tests that do one thing at a time.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

_LIST = re.compile(r"^/storage/v1/b/(?P<bucket>[^/]+)/o$")
_UPLOAD = re.compile(r"^/upload/storage/v1/b/(?P<bucket>[^/]+)/o$")
_REWRITE = re.compile(r"/rewriteTo/b/(?P<bucket>[^/]+)/o/(?P<name>[^/?]+)$")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}
_CONDITION_NOT_MET = {
    "error": {
        "code": 412,
        "message": "At least one of the pre-conditions you specified did not hold.",
        "errors": [{"reason": "conditionNotMet", "location": "If-Match"}],
    }
}


def _multipart_name(content_type: str, body: bytes) -> str | None:
    message = BytesParser().parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    parts = message.get_payload()
    if not isinstance(parts, list) or not parts or isinstance(parts[0], str):
        return None
    name = json.loads(str(parts[0].get_payload())).get("name")
    return name if isinstance(name, str) else None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream: tuple[str, int] = ("127.0.0.1", 0)

    def log_message(self, format: str, *args: object) -> None:
        return

    def _upstream(
        self, method: str, target: str, body: bytes | None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def _reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: dict[str, Any]) -> None:
        self._reply(status, [("Content-Type", "application/json")], json.dumps(data).encode())

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length else None
        if body is not None and len(body) < length:
            # The client stopped mid-body (its source failed): like any server, drop the
            # truncated request instead of passing it on as a whole one.
            self.close_connection = True
            return
        split = urlsplit(self.path)
        query = dict(parse_qsl(split.query))
        if self.command == "GET" and (listing := _LIST.match(split.path)) and "maxResults" in query:
            self._page(split.path, query, listing.group("bucket"))
            return
        if self.command == "POST" and query.get("ifGenerationMatch") == "0":
            target = self._destination(split.path, query, body or b"")
            if target is not None and self._exists(*target):
                self._json(412, _CONDITION_NOT_MET)
                return
        self._forward(body)

    def _forward(self, body: bytes | None) -> None:
        """Pass the request on and stream the answer back."""
        connection = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            self.send_response(response.status)
            for name, value in response.getheaders():
                if name.lower() not in _HOP_BY_HOP:
                    self.send_header(name, value)
            length = response.getheader("Content-Length")
            if length is None:  # read to the end: the emulator always sends a length
                data = response.read()
                length = str(len(data))
                chunks: Iterator[bytes] = iter([data])
            else:
                chunks = iter(lambda: response.read(64 * 1024), b"")
            self.send_header("Content-Length", length)
            self.end_headers()
            for chunk in chunks:
                self.wfile.write(chunk)
        finally:
            connection.close()

    def _destination(self, path: str, query: dict[str, str], body: bytes) -> tuple[str, str] | None:
        if rewrite := _REWRITE.search(path):
            return rewrite.group("bucket"), unquote(rewrite.group("name"))
        upload = _UPLOAD.match(path)
        if upload is None:
            return None
        name = query.get("name")
        if name is None and query.get("uploadType") == "multipart":
            name = _multipart_name(self.headers.get("Content-Type", ""), body)
        return None if name is None else (upload.group("bucket"), name)

    def _exists(self, bucket: str, name: str) -> bool:
        status, _, _ = self._upstream(
            "GET", f"/storage/v1/b/{bucket}/o/{quote(name, safe='')}", None
        )
        return status == 200

    def _page(self, path: str, query: dict[str, str], bucket: str) -> None:
        size = int(query.pop("maxResults"))
        start = int(query.pop("pageToken", "0"))
        query.pop("fields", None)
        status, headers, body = self._upstream("GET", f"{path}?{urlencode(query)}", None)
        if status != 200:
            self._reply(status, headers, body)
            return
        items = sorted(json.loads(body).get("items") or [], key=lambda item: item["name"])
        answer: dict[str, Any] = {"kind": "storage#objects", "items": items[start : start + size]}
        if start + size < len(items):
            answer["nextPageToken"] = str(start + size)
        self._json(200, answer)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


@contextmanager
def run_conformance_proxy(upstream_url: str) -> Iterator[str]:
    """Serve the proxy for ``upstream_url`` (``http://127.0.0.1:PORT``) in a child process;
    yields its URL. Not a thread of the test process: the contract's memory tests measure that
    process, and the proxy holds each request body whole."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.storage_gcs.conformance_proxy", upstream_url],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().decode().strip()
        if not port.isdigit():
            raise RuntimeError(f"the GCS conformance proxy did not start (it said {port!r})")
        yield f"http://127.0.0.1:{port}"
    finally:
        if process.stdout is not None:
            process.stdout.close()
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _serve(upstream_url: str) -> None:
    split = urlsplit(upstream_url)
    handler = type("Handler", (_Handler,), {"upstream": (split.hostname, split.port)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    _serve(sys.argv[1])
