"""A plain ASGI application for client tests: fixed routes, no framework, no I/O of its own.

It runs under uvicorn (h11 and httptools) and hypercorn (HTTP/1.1 and h2), and can be called
in-process. It must stay deterministic: tests compare bodies byte for byte (`pattern_bytes`,
`CHARSET_TEXT`), so a route never depends on time, randomness or the server it runs under.
Sleeping routes use anyio so the app also runs on trio in-process.

Routes (HEAD gets the GET headers and no body):
  GET /                    200 "hello, world" (text/plain)
  GET /json                {"hello": "world", "n": 1}
  ANY /echo                JSON {method, path, query, headers: [[name, value]...], body: latin-1}
  ANY /echo/raw            the request body, with the request's content-type
  ANY /status/{code}       that status, small text body (none for 1xx/204/304), 3xx -> Location /
  GET /delay/{seconds}     sleeps (float seconds), then 200 "hello, world"
  GET /stream/{n}          n chunks of 1024 bytes (`stream_chunk(i)`), no Content-Length
  GET /bytes/{n}           `pattern_bytes(n)` with Content-Length
  GET /headers             the request headers as a JSON object (repeats joined by ", ")
  GET /charset/{name}      CHARSET_TEXT (or ?text=) encoded in {name}; 400 if not encodable
  GET /redirect/{n}        302 to /redirect/{n-1}, and /redirect/1 to /
  GET /set-cookie?a=1&b=2  one Set-Cookie per pair (Path=/)
  GET /drip?chunks=N&delay=S&size=B   N chunks of B bytes "*", S seconds apart
  GET /encoded/{enc}?size=N&zeros=1   pattern_bytes(N) (or zeros) with Content-Encoding enc
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import parse_qsl, unquote

import anyio

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

HELLO: Final = b"hello, world"
CHARSET_TEXT: Final = "caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00a3"
STREAM_CHUNK_SIZE: Final = 1024
# Large bodies go out in slices so a 64 MiB download never needs a second full copy.
_SEND_SLICE: Final = 1 << 20
_PATTERN_BLOCK: Final = bytes(range(256))
_MAX_REDIRECTS: Final = 1000


def pattern_bytes(n: int, offset: int = 0) -> bytes:
    """The deterministic body of /bytes/{n}: byte i is (offset + i) % 256."""
    if n <= 0:
        return b""
    start = offset % 256
    repeats = (start + n) // 256 + 1
    return (_PATTERN_BLOCK * repeats)[start : start + n]


def stream_chunk(index: int) -> bytes:
    """Chunk number `index` of /stream/{n}: 1024 bytes, all equal to `index % 256`."""
    return bytes((index % 256,)) * STREAM_CHUNK_SIZE


def _status_body(code: int) -> bytes:
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = "Unknown"
    return f"{code} {phrase}\n".encode("ascii")


def _has_no_body(status: int) -> bool:
    return status < 200 or status in (204, 304)


class _Exchange:
    """One request: parsed once, answered with `respond` or `start` + `chunk`."""

    __slots__ = ("head_only", "method", "path", "query", "receive", "scope", "send")

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query: str = scope["query_string"].decode("latin-1")
        self.head_only = self.method == "HEAD"

    def query_params(self) -> list[tuple[str, str]]:
        return parse_qsl(self.query, keep_blank_values=True)

    def query_value(self, name: str, default: str) -> str:
        for key, value in self.query_params():
            if key == name:
                return value
        return default

    def request_headers(self) -> list[tuple[str, str]]:
        return [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in self.scope["headers"]
        ]

    async def read_body(self) -> bytes:
        parts: list[bytes] = []
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                break
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        return b"".join(parts)

    async def start(
        self, status: int, headers: list[tuple[bytes, bytes]], content_length: int | None
    ) -> None:
        if content_length is not None:
            headers = [*headers, (b"content-length", str(content_length).encode("ascii"))]
        await self.send({"type": "http.response.start", "status": status, "headers": headers})

    async def chunk(self, data: bytes, *, more: bool) -> None:
        if self.head_only:
            data = b""
        await self.send({"type": "http.response.body", "body": data, "more_body": more})

    async def respond(
        self,
        status: int,
        body: bytes,
        content_type: bytes = b"text/plain; charset=utf-8",
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        headers = [(b"content-type", content_type), *(extra or [])]
        if _has_no_body(status):
            await self.start(status, headers[1:], None)
            await self.chunk(b"", more=False)
            return
        await self.start(status, headers, len(body))
        await self.chunk(body, more=False)

    async def respond_json(self, status: int, document: object) -> None:
        body = json.dumps(document, separators=(",", ":")).encode("utf-8")
        await self.respond(status, body, b"application/json")


def _int_segment(segment: str) -> int | None:
    return int(segment) if segment.isdigit() else None


async def _root(ex: _Exchange, rest: str) -> None:
    await ex.respond(200, HELLO)


async def _json(ex: _Exchange, rest: str) -> None:
    await ex.respond_json(200, {"hello": "world", "n": 1})


async def _echo(ex: _Exchange, rest: str) -> None:
    body = await ex.read_body()
    if rest == "raw":
        content_type = b"application/octet-stream"
        for name, value in ex.scope["headers"]:
            if name == b"content-type":
                content_type = value
        await ex.respond(200, body, content_type)
        return
    if rest:
        await ex.respond(404, b"not found\n")
        return
    await ex.respond_json(
        200,
        {
            "method": ex.method,
            "path": ex.path,
            "query": ex.query,
            "headers": [list(pair) for pair in ex.request_headers()],
            "body": body.decode("latin-1"),
        },
    )


async def _status(ex: _Exchange, rest: str) -> None:
    code = _int_segment(rest)
    if code is None or not 100 <= code <= 599:
        await ex.respond(400, b"status must be an integer in 100..599\n")
        return
    extra: list[tuple[bytes, bytes]] = []
    if 300 <= code < 400 and code != 304:
        extra.append((b"location", b"/"))
    await ex.respond(code, _status_body(code), extra=extra)


async def _delay(ex: _Exchange, rest: str) -> None:
    try:
        seconds = float(rest)
    except ValueError:
        await ex.respond(400, b"delay must be a number of seconds\n")
        return
    await anyio.sleep(max(seconds, 0.0))
    await ex.respond(200, HELLO)


async def _stream(ex: _Exchange, rest: str) -> None:
    n = _int_segment(rest)
    if n is None:
        await ex.respond(400, b"n must be an integer\n")
        return
    # No content-length: the server frames the body (chunked on HTTP/1.1, DATA frames on h2).
    await ex.start(200, [(b"content-type", b"application/octet-stream")], None)
    for index in range(n):
        await ex.chunk(stream_chunk(index), more=True)
    await ex.chunk(b"", more=False)


async def _bytes(ex: _Exchange, rest: str) -> None:
    n = _int_segment(rest)
    if n is None:
        await ex.respond(400, b"n must be an integer\n")
        return
    await ex.start(200, [(b"content-type", b"application/octet-stream")], n)
    sent = 0
    while True:
        size = min(_SEND_SLICE, n - sent)
        await ex.chunk(pattern_bytes(size, sent), more=sent + size < n)
        sent += size
        if sent >= n:
            break


async def _headers(ex: _Exchange, rest: str) -> None:
    merged: dict[str, str] = {}
    for name, value in ex.request_headers():
        merged[name] = f"{merged[name]}, {value}" if name in merged else value
    await ex.respond_json(200, merged)


async def _charset(ex: _Exchange, rest: str) -> None:
    name = unquote(rest)
    text = ex.query_value("text", CHARSET_TEXT)
    try:
        body = text.encode(name)
    except (LookupError, UnicodeEncodeError):
        await ex.respond(400, b"unknown charset, or text not encodable in it\n")
        return
    await ex.respond(200, body, f"text/plain; charset={name}".encode("latin-1"))


async def _redirect(ex: _Exchange, rest: str) -> None:
    n = _int_segment(rest)
    if n is None or n > _MAX_REDIRECTS:
        await ex.respond(400, b"n must be an integer <= 1000\n")
        return
    location = f"/redirect/{n - 1}" if n > 1 else "/"
    await ex.respond(302, b"redirecting\n", extra=[(b"location", location.encode("ascii"))])


async def _set_cookie(ex: _Exchange, rest: str) -> None:
    pairs = ex.query_params()
    extra = [(b"set-cookie", f"{name}={value}; Path=/".encode("latin-1")) for name, value in pairs]
    await ex.respond(200, b"cookies set\n", extra=extra)


async def _drip(ex: _Exchange, rest: str) -> None:
    try:
        chunks = int(ex.query_value("chunks", "10"))
        delay = float(ex.query_value("delay", "0.01"))
        size = int(ex.query_value("size", "1"))
    except ValueError:
        await ex.respond(400, b"chunks, size: integers; delay: seconds\n")
        return
    await ex.start(200, [(b"content-type", b"application/octet-stream")], None)
    for index in range(chunks):
        if index:
            await anyio.sleep(delay)
        await ex.chunk(b"*" * size, more=True)
    await ex.chunk(b"", more=False)


def encode_body(body: bytes, encoding: str) -> bytes:
    """``body`` compressed with one Content-Encoding (gzip, deflate, br, zstd)."""
    if encoding == "gzip":
        return gzip.compress(body, mtime=0)
    if encoding == "deflate":
        return zlib.compress(body)
    if encoding == "br":
        import brotli

        return bytes(brotli.compress(body))
    if encoding == "zstd":
        import zstandard

        return bytes(zstandard.ZstdCompressor().compress(body))
    raise ValueError(encoding)


async def _encoded(ex: _Exchange, rest: str) -> None:
    """``pattern_bytes(size)`` compressed with ``rest`` (a comma list is applied in order);
    ``?zeros=1`` sends zeros instead (a decompression bomb at large sizes)."""
    size = int(ex.query_value("size", "100000"))
    body = bytes(size) if ex.query_value("zeros", "0") == "1" else pattern_bytes(size)
    for encoding in rest.split(","):
        body = encode_body(body, encoding)
    await ex.respond(
        200, body, b"application/octet-stream", extra=[(b"content-encoding", rest.encode())]
    )


Route = Callable[[_Exchange, str], Awaitable[None]]

# First path segment -> handler; the handler gets the rest of the path (without the slash).
_ROUTES: Final[dict[str, Route]] = {
    "": _root,
    "json": _json,
    "echo": _echo,
    "status": _status,
    "delay": _delay,
    "stream": _stream,
    "bytes": _bytes,
    "headers": _headers,
    "charset": _charset,
    "redirect": _redirect,
    "set-cookie": _set_cookie,
    "drip": _drip,
    "encoded": _encoded,
}
# Routes whose bare form (no trailing segment) is the whole route.
_EXACT: Final = frozenset({"", "json", "echo", "headers", "set-cookie", "drip"})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI entry point (ASGI 3)."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        # WebSocket and other scopes are not served here: close at once.
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1000})
        return
    ex = _Exchange(scope, receive, send)
    first, _, rest = ex.path.lstrip("/").partition("/")
    route = _ROUTES.get(first)
    if route is None or (not rest and first not in _EXACT):
        await ex.respond(404, b"not found\n")
        return
    await route(ex, rest)
