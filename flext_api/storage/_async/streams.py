"""The byte streams between the public storage API and a backend's primitives.

:class:`AsyncUploadBody` turns whatever ``upload_file`` was given (bytes, a path, a binary
file, an iterator of chunks) into one iterator of chunks with an optional known size, read a
chunk at a time: an upload never holds the whole source. The parts helper
(``async_iter_parts``; ``iter_parts`` on the blocking side) cuts such a body into fixed-size
parts for multipart, resumable and block uploads. :class:`AsyncObjectStream` is what a
backend's ``_open`` yields: the object's info and its chunks.

This module must never import an event loop: the blocking twin is generated from it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import IO, TYPE_CHECKING, Protocol, Self, TypeAlias, TypeVar, cast

from flext_api._exceptions import FlextApiError
from flext_api.storage._errors import StorageError, StorageUnavailable, StorageUploadFailed

if TYPE_CHECKING:
    from flext_api.storage._types import ObjectInfo

__all__ = ["DEFAULT_CHUNK_SIZE", "AsyncObjectStream", "AsyncUploadBody", "AsyncUploadSource"]
__all__ += ["async_iter_parts", "closable"]  # unasync: remove
# unasync: sync-only: __all__ += ["closable", "iter_parts"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

if TYPE_CHECKING:

    class Closable(AsyncIterator[T_co], Protocol):
        async def aclose(self) -> None: ...


def closable(items: AsyncIterator[T]) -> Closable[T]:
    """A generator, typed as the closable thing it is: closed on the way out so a failure
    never leaves it suspended for the garbage collector to finalise."""
    return cast("Closable[T]", items)


DEFAULT_CHUNK_SIZE = 1024 * 1024
"""Bytes read from a source (or handed to a sink) at a time."""

AsyncUploadSource: TypeAlias = (
    bytes
    | bytearray
    | memoryview
    | os.PathLike[str]
    | IO[bytes]
    | AsyncIterable[bytes]
    | Iterable[bytes]
)
"""What ``upload_file`` streams: bytes, a path (``pathlib.Path``; a ``str`` is refused as
ambiguous), a binary file open for reading, or an iterable of ``bytes`` chunks (async ones
too on the async side)."""


class AsyncUploadBody:
    """The chunks of an upload's source, each at most ``chunk_size`` bytes (iterators' chunks
    are passed through as they come), and ``size`` when it is known before reading.

    Reading past a declared ``size`` or stopping short of it, an ``OSError`` reading a file and
    any exception an iterator source raises (chained as the cause) raise
    :class:`StorageUploadFailed`. ``sent`` counts the bytes handed out so far. ``aclose()``
    closes a file this body opened (the backend need not: the public API does).
    """

    __slots__ = (
        "_chunk_size",
        "_chunks",
        "_file",
        "_iterator",
        "_memory",
        "_owned",
        "_position",
        "sent",
        "size",
    )

    def __init__(
        self,
        source: AsyncUploadSource,
        *,
        size: int | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be > 0")
        if size is not None and size < 0:
            raise ValueError("size must be >= 0")
        self._chunk_size = chunk_size
        self._memory: memoryview | None = None
        self._file: IO[bytes] | None = None
        self._iterator: AsyncIterator[bytes] | None = None
        self._chunks: Iterator[bytes] | None = None
        self._owned = False
        self._position = 0
        self.sent = 0
        self.size = size
        if isinstance(source, str):
            raise TypeError(
                "upload_file got a str: pass bytes (text.encode()) for data, or a pathlib.Path "
                "for a file"
            )
        if isinstance(source, bytes | bytearray | memoryview):
            self._memory = memoryview(source).cast("B")
            self.size = len(self._memory)
        elif isinstance(source, os.PathLike):
            try:
                self._file = open(os.fspath(source), "rb")  # noqa: SIM115 (closed by aclose)
                self.size = os.fstat(self._file.fileno()).st_size
            except OSError as exc:
                raise StorageUploadFailed(
                    f"cannot read the upload source {os.fspath(source)!r}: {exc.strerror or exc}"
                ) from exc
            self._owned = True
        elif isinstance(source, AsyncObjectStream):
            self._iterator = source  # another object's download (a copy through this process)
        elif hasattr(source, "read"):
            file: IO[bytes] = source  # type: ignore[assignment]
            self._file = file
            if self.size is None:
                self.size = _remaining(file)
        # unasync: begin-async-only
        elif isinstance(source, AsyncIterable):
            self._iterator = aiter(source)
        # unasync: end-async-only
        elif isinstance(source, Iterable):
            self._chunks = iter(source)
        else:
            raise TypeError(
                f"cannot upload a {type(source).__name__}: pass bytes, a pathlib.Path, a binary "
                "file or an iterable of bytes chunks"
            )

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self._next_chunk()
        if not chunk:
            if self.size is not None and self.sent != self.size:
                raise StorageUploadFailed(
                    f"the upload source ended after {self.sent} of the {self.size} bytes declared"
                )
            raise StopAsyncIteration
        self.sent += len(chunk)
        if self.size is not None and self.sent > self.size:
            raise StorageUploadFailed(
                f"the upload source gave more than the {self.size} bytes declared"
            )
        return chunk

    async def _next_chunk(self) -> bytes:
        if self._memory is not None:
            start = self._position
            self._position = min(start + self._chunk_size, len(self._memory))
            return bytes(self._memory[start : self._position])
        if self._file is not None:
            try:
                data = self._file.read(self._chunk_size)
            except OSError as exc:
                raise StorageUploadFailed(f"reading the upload source failed: {exc}") from exc
            if not isinstance(data, bytes | bytearray):
                raise TypeError("the upload file must be opened in binary mode ('rb')")
            return bytes(data)
        while True:
            chunk: object
            try:
                if self._chunks is not None:
                    chunk = next(self._chunks, None)
                else:
                    assert self._iterator is not None
                    try:
                        chunk = await self._iterator.__anext__()
                    except StopAsyncIteration:
                        chunk = None
            except StorageError:
                raise
            except Exception as exc:
                raise StorageUploadFailed(
                    f"the upload source raised {type(exc).__name__}: {exc}; nothing was stored"
                ) from exc
            if chunk is None:
                return b""
            if not isinstance(chunk, bytes | bytearray | memoryview):
                raise TypeError(f"upload chunks are bytes, got {type(chunk).__name__}")
            if chunk:
                return bytes(chunk)

    async def read_all(self) -> bytes:
        """Every remaining byte (for a backend that must have the body in memory: small
        objects only; the others stream)."""
        data = bytearray()
        async for chunk in self:
            data += chunk
        return bytes(data)

    async def aclose(self) -> None:
        if self._owned and self._file is not None:
            self._file.close()
        self._file = None
        self._memory = None


def _remaining(file: IO[bytes]) -> int | None:
    """How many bytes a seekable file holds from its position on (``None``: not seekable)."""
    try:
        if not file.seekable():
            return None
        here = file.tell()
        end = file.seek(0, os.SEEK_END)
        file.seek(here)
    except (OSError, ValueError):
        return None
    return end - here


async def async_iter_parts(chunks: AsyncIterable[bytes], part_size: int) -> AsyncIterator[bytes]:
    """The chunks regrouped into parts of exactly ``part_size`` bytes (the last one shorter,
    never empty unless the body is): what multipart, resumable and block uploads send. At most
    one part plus one chunk is held at a time."""
    if part_size <= 0:
        raise ValueError("part_size must be > 0")
    buffer = bytearray()
    async for chunk in chunks:
        buffer += chunk
        while len(buffer) >= part_size:
            yield bytes(buffer[:part_size])
            del buffer[:part_size]
    if buffer:
        yield bytes(buffer)


class AsyncObjectStream:
    """An object being downloaded: ``info`` (the whole object's, ``size`` included), the
    ``start``/``end`` offsets of the bytes this stream carries (``end`` exclusive), and the
    chunks themselves (``async for chunk in stream``, or ``await stream.read()``).

    Iteration raises :class:`StorageError` when the backend fails mid-body (an iterator
    cannot return a Result); a transport error is turned into ``BACKEND_UNAVAILABLE``.
    """

    __slots__ = ("_backend", "_chunks", "end", "info", "start")

    def __init__(
        self,
        info: ObjectInfo,
        chunks: AsyncIterator[bytes],
        *,
        start: int = 0,
        end: int | None = None,
        backend: str | None = None,
    ) -> None:
        self.info = info
        self.start = start
        self.end = info.size if end is None else end
        self._chunks = chunks
        self._backend = backend

    @property
    def length(self) -> int:
        """How many bytes this stream carries."""
        return self.end - self.start

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._chunks.__anext__()
        except StorageError:
            raise
        except FlextApiError as exc:
            raise StorageUnavailable(
                f"{self._backend or 'storage'}: reading {self.info.key!r} failed mid-body "
                f"({exc.code}: {exc}); download it again",
                backend=self._backend,
                key=self.info.key,
            ) from exc

    async def aclose(self) -> None:
        """Stop the chunks early (a generator's ``finally`` runs now, not at garbage
        collection); ``open_download`` does it when its block ends."""
        closer = getattr(self._chunks, "aclose", None)  # unasync: remove
        # unasync: sync-only: closer = getattr(self._chunks, "close", None)
        if closer is not None:
            await closer()

    async def read(self) -> bytes:
        """The remaining bytes, in memory."""
        data = bytearray()
        async for chunk in self:
            data += chunk
        return bytes(data)
