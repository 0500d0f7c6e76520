"""An ASGI origin for the HTTP cache tests: each response's caching headers come from the query.

``GET /c/<name>?cc=...&etag=...&lm=...&vary=...&size=N&gzip=1&fail_after=K`` answers with the
given Cache-Control, ETag, Last-Modified and Vary, a body of ``size`` bytes (default: the text
``<name>:<count>``) and ``X-Count``: how many requests ``<name>`` has had, so a test tells a
cache hit (the count did not move) from a trip to the server. A request whose If-None-Match
equals ``etag`` gets a 304 (with ``lie=<etag>``, any conditional request gets a 304 naming
``<etag>``). After ``fail_after`` requests, ``<name>`` answers 503. Any other
method on ``/c/<name>`` answers 200 and counts too. ``GET /seen/<name>`` returns the headers of
the last request to ``<name>`` as JSON, so a test sees the conditional headers sent.
"""

from __future__ import annotations

import gzip
import json
from typing import Any
from urllib.parse import parse_qsl

from tests.servers.app import pattern_bytes

Scope = dict[str, Any]
_counts: dict[str, int] = {}
_seen: dict[str, dict[str, str]] = {}


async def cache_app(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path: str = scope["path"]
    kind, _, name = path.strip("/").partition("/")
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    if kind == "seen":
        body = json.dumps(_seen.get(name, {})).encode()
        await _answer(send, 200, [(b"content-type", b"application/json")], body)
        return
    count = _counts[name] = _counts.get(name, 0) + 1
    _seen[name] = headers
    query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
    out = [(b"x-count", str(count).encode())]
    for param, field in (
        ("cc", b"cache-control"),
        ("etag", b"etag"),
        ("lm", b"last-modified"),
        ("vary", b"vary"),
        ("location", b"location"),
    ):
        if param in query:
            out.append((field, query[param].encode("latin-1")))
    fail_after = int(query.get("fail_after", "0"))
    if fail_after and count > fail_after:
        await _answer(send, 503, out, b"down")
        return
    if scope["method"] != "GET":
        await _answer(send, 200, out, b"done")
        return
    if "lie" in query and "if-none-match" in headers:
        # A 304 naming another representation than the one the client holds.
        await _answer(send, 304, [*out[:1], (b"etag", query["lie"].encode())], b"")
        return
    if "etag" in query and headers.get("if-none-match") == query["etag"]:
        await _answer(send, 304, out, b"")
        return
    size = int(query.get("size", "0"))
    body = pattern_bytes(size) if size else f"{name}:{count}".encode()
    if query.get("gzip"):
        body = gzip.compress(body)
        out.append((b"content-encoding", b"gzip"))
    await _answer(send, 200, out, body)


async def _answer(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    if status != 304:
        headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    # Larger bodies go out in 16 KiB pieces, so a streamed read sees several chunks.
    pieces = [body[i : i + 16384] for i in range(0, len(body), 16384)] or [b""]
    for index, piece in enumerate(pieces):
        more = index < len(pieces) - 1
        await send({"type": "http.response.body", "body": piece, "more_body": more})
