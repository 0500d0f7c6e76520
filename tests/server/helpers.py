"""Helpers for the server tests: an in-process ASGI call, uvicorn in a thread, raw HTTP.

Everything binds 127.0.0.1 on a port the kernel picks; nothing here signals a process.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import msgspec
import uvicorn
from starlette.types import ASGIApp, Message


@dataclass
class Reply:
    """A response as a user sees it: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes
    raw_headers: list[tuple[str, str]] = field(default_factory=list)

    def json(self) -> Any:
        return msgspec.json.decode(self.body)


async def asgi_call(
    app: ASGIApp,
    method: str = "GET",
    path: str = "/",
    *,
    headers: Sequence[tuple[str, str]] = (),
    body_chunks: Sequence[bytes] = (),
    scheme: str = "http",
    client: tuple[str, int] = ("127.0.0.1", 50000),
) -> Reply:
    """Call ``app`` in process with one HTTP request and collect the response."""
    chunks = list(body_chunks)
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": path.split("?", 1)[0],
        "raw_path": path.split("?", 1)[0].encode(),
        "query_string": path.split("?", 1)[1].encode() if "?" in path else b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
        "client": client,
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent: list[Message] = []
    index = 0

    async def receive() -> Message:
        nonlocal index
        if index < len(chunks):
            index += 1
            return {
                "type": "http.request",
                "body": chunks[index - 1],
                "more_body": index < len(chunks),
            }
        if index == len(chunks) and not chunks:
            index += 1
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in start.get("headers", [])]
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return Reply(start["status"], {k.lower(): v for k, v in raw}, body, raw)


@contextmanager
def serve(app: ASGIApp, *, http: str = "h11") -> Iterator[int]:
    """Run ``app`` under uvicorn in a thread on 127.0.0.1; yield the port."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        http=http,
        ws="none",
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 5.0
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.002)
    port: int = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(5.0)


def http_call(
    port: int,
    method: str = "GET",
    path: str = "/",
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> Reply:
    """One request over a fresh stdlib connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        raw = response.getheaders()
        return Reply(response.status, {k.lower(): v for k, v in raw}, data, raw)
    finally:
        connection.close()


def read_raw_response(sock: socket.socket) -> Reply:
    """Read one response (headers and a Content-Length body) from a raw socket."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before the response headers: {buffer!r}")
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    raw = [(k.strip(), v.strip()) for k, v in (line.split(":", 1) for line in lines[1:])]
    headers = {k.lower(): v for k, v in raw}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return Reply(status, headers, rest[:length], raw)
