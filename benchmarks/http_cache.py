"""CPU per cache hit and per revalidation: flext-api's HTTP cache middleware against hishel.

Both clients are blocking, in one run, against one loopback origin in a child process (its CPU
is not counted). ``hit``: a response with ``max-age=3600`` asked for again and again (after the
first, never sent). ``revalidate``: a response with ``no-cache`` and an ETag, so every request is
a conditional one answered 304 and the stored body is served. Figures are process CPU
microseconds per request (``time.process_time``).

Stores: flext-api uses an in-memory dict behind the FlextApiCache get/set/delete contract
(the FlextApiCache memory backend, where installed, with ``--store memory``); hishel 2.0 has
no memory storage, so it uses its SqliteStorage on an in-memory database (``:memory:``).

    python benchmarks/http_cache.py [--hits 3000] [--revalidations 1000] [--store dict|memory]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, Final

from flext_api import FlextApiClient, FlextApiError
from flext_api._result import Failure, Success
from flext_api.cache.http import HTTPCacheMiddleware, HTTPCacheStore

_BODY: Final = b"x" * 512
_FRESH: Final = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: max-age=3600\r\n"
    b'ETag: "v1"\r\nContent-Length: 512\r\n\r\n' + _BODY
)
_NO_CACHE: Final = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: no-cache\r\n"
    b'ETag: "v1"\r\nContent-Length: 512\r\n\r\n' + _BODY
)
_NOT_MODIFIED: Final = b'HTTP/1.1 304 Not Modified\r\nCache-Control: no-cache\r\nETag: "v1"\r\n\r\n'


class _Origin(asyncio.Protocol):
    """Answers each request head: /fresh with max-age, /validate with no-cache (304 when the
    request is conditional)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.pending = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.pending += data
        while b"\r\n\r\n" in self.pending:
            head, self.pending = self.pending.split(b"\r\n\r\n", 1)
            lower = head.lower()
            if b" /fresh" in head:
                answer = _FRESH
            elif b"if-none-match:" in lower:
                answer = _NOT_MODIFIED
            else:
                answer = _NO_CACHE
            assert self.transport is not None
            self.transport.write(answer)


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Origin, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Future()


@contextlib.contextmanager
def origin() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        yield f"http://127.0.0.1:{int(process.stdout.readline())}"
    finally:
        process.terminate()
        process.wait(5)
        if process.stdout is not None:
            process.stdout.close()


class DictStore:
    """The FlextApiCache contract over a dict (TTLs ignored: nothing expires in a run)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> Success[bytes | None] | Failure[FlextApiError]:
        return Success(self.data.get(key))

    def set(
        self, key: str, value: bytes, *, ttl: float | None = None
    ) -> Success[None] | Failure[FlextApiError]:
        self.data[key] = value
        return Success(None)

    def delete(self, key: str) -> Success[bool] | Failure[FlextApiError]:
        return Success(self.data.pop(key, None) is not None)


def _store(kind: str) -> HTTPCacheStore:
    if kind == "dict":
        return DictStore()
    package: Any = importlib.import_module("flext_api.cache")  # FlextApiCache, once merged
    store: HTTPCacheStore = package.FlextApiCache("memory")
    return store


def flext(base: str, path: str, count: int, store: str) -> float:
    cache = HTTPCacheMiddleware(_store(store))
    with FlextApiClient(base_url=base, middleware=[cache]) as client:
        expected = "HIT" if path == "/fresh" else "REVALIDATED"
        client.get(path).unwrap()
        return _timed(count, lambda: _check(client.get(path).unwrap().headers["x-cache"], expected))


def hishel(base: str, path: str, count: int) -> float:
    import hishel as hishel_package
    import hishel.httpx

    connection = sqlite3.connect(":memory:", check_same_thread=False)
    storage = hishel_package.SqliteStorage(connection=connection)
    with hishel.httpx.CacheClient(base_url=base, storage=storage, rfc=True) as client:
        client.get(path).read()

        field = "from_cache" if path == "/fresh" else "revalidated"

        def one() -> None:
            response = client.get(path)
            response.read()
            _check(str(response.extensions["caching"][field]), "True")

        return _timed(count, one)


def _check(got: str, expected: str) -> None:
    if got != expected:
        raise AssertionError(f"expected {expected}, got {got}")


def _timed(count: int, one: Callable[[], None]) -> float:
    for _ in range(min(200, count)):
        one()
    started = time.process_time()
    for _ in range(count):
        one()
    return (time.process_time() - started) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--hits", type=int, default=3000)
    parser.add_argument("--revalidations", type=int, default=1000)
    parser.add_argument("--store", choices=("dict", "memory"), default="dict")
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve())
        return
    rows = []
    with origin() as base:
        for scenario, path, count in (
            ("hit", "/fresh", args.hits),
            ("revalidate (304)", "/validate", args.revalidations),
        ):
            ours = flext(base, path, count, args.store)
            theirs = hishel(base, path, count)
            rows.append((scenario, count, ours, theirs))
    print("| scenario | requests | flext-api CPU us/req | hishel 2.0 (httpx) CPU us/req | ratio |")
    print("|---|---|---|---|---|")
    for scenario, count, ours, theirs in rows:
        print(f"| {scenario} | {count} | {ours:.0f} | {theirs:.0f} | {ours / theirs:.2f}x |")


if __name__ == "__main__":
    main()
