"""A response whose body is read on demand, straight from its connection.

``aread()`` returns a ``FlextResult`` like every I/O call. The chunk iterators cannot return a
result per chunk, so they raise the typed :class:`flext_api.FlextApiError` when the connection
fails mid-body; this is the one documented place where flext-api raises on I/O.

The connection goes back to the pool when the body has been read to its end, and is closed
(not reused) when the caller stops early: an unread remainder would corrupt the next exchange.
On HTTP/2 the response reads one stream of a shared connection: stopping early resets that
stream only. ``trailers`` is filled in once the body has been read to its end.
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from flext_api._exceptions import FlextApiError, StreamError
from flext_api._headers import Headers
from flext_api._models import Request, charset_from_content_type
from flext_api._result import Failure, Success
from flext_api._sansio.decoding import Decoder, make_decoder

if TYPE_CHECKING:
    from flext_api._async.connection import ResponseHead
    from flext_api._async.pool import AsyncConnectionPool, Exchange

__all__ = ["AsyncStreamingResponse"]


class AsyncStreamingResponse:
    """A response whose body is still on the connection: ``status_code``, ``headers`` and
    ``request`` now, the body through ``aread()`` or the chunk iterators (see the module
    docstring for when the connection is reused)."""

    __slots__ = (
        "_connection",
        "_consumed",
        "_max_decoded_size",
        "_pool",
        "headers",
        "history",
        "http_version",
        "reason_phrase",
        "request",
        "status_code",
        "trailers",
    )

    def __init__(
        self,
        head: ResponseHead,
        *,
        request: Request,
        connection: Exchange,
        pool: AsyncConnectionPool,
        max_decoded_size: int | None = None,
    ) -> None:
        self.status_code = head.status_code
        self.headers: Headers = head.headers
        self.http_version = head.http_version
        self.reason_phrase = head.reason_phrase
        self.request = request
        self.trailers: Headers | None = None
        self.history: list[Any] = []
        self._connection: Exchange | None = connection
        self._pool = pool
        self._consumed = False
        self._max_decoded_size = max_decoded_size

    def __repr__(self) -> str:
        return f"<StreamingResponse [{self.status_code}]>"

    @property
    def is_closed(self) -> bool:
        return self._connection is None

    @property
    def encoding(self) -> str:
        return charset_from_content_type(self.headers.get("content-type")) or "utf-8"

    def aiter_raw(self) -> AsyncIterator[bytes]:
        """Body chunks exactly as they came off the wire (still Content-Encoded).

        Raises :class:`FlextApiError` (``READ_TIMEOUT``, ``REMOTE_PROTOCOL_ERROR``...) if the
        connection fails mid-body, and ``STREAM_ERROR`` if the body was already consumed.
        """
        connection = self._connection
        if connection is None or self._consumed:
            raise StreamError(
                "this response body was already read or closed; "
                "read it once, inside the 'with client.stream(...)' block"
            )
        self._consumed = True
        return _AsyncBodyChunks(self, connection)

    def aiter_bytes(self) -> AsyncIterator[bytes]:
        """Body chunks as they arrive, with any Content-Encoding (gzip, deflate, br, zstd)
        undone incrementally.

        Raises :class:`FlextApiError` if the connection fails mid-body, ``DECODE_ERROR`` for a
        corrupt encoding and ``DECOMPRESSION_LIMIT`` for a body that inflates past the limit.
        """
        raw = self.aiter_raw()
        content_encoding = self.headers.get("content-encoding")
        if content_encoding is None:
            return raw
        decoder = make_decoder(content_encoding, max_size=self._max_decoded_size)
        if decoder.is_identity:
            return raw
        return _AsyncDecodedChunks(self, raw, decoder)

    def aiter_text(self) -> AsyncIterator[str]:
        """Body decoded incrementally with :attr:`encoding` (a multi-byte character split
        across chunks is decoded whole)."""
        return _AsyncTextChunks(self.aiter_bytes(), self.encoding)

    def aiter_lines(self) -> AsyncIterator[str]:
        """Lines of the decoded body, without their line endings."""
        return _AsyncLines(self.aiter_text())

    async def aread(self) -> Success[bytes] | Failure[FlextApiError]:
        """Read the rest of the body into memory."""
        body = bytearray()
        try:
            async for chunk in self.aiter_bytes():
                body += chunk
        except FlextApiError as error:
            return Failure(error)
        return Success(bytes(body))

    async def aclose(self) -> None:
        """Stop reading; an unread body means the connection is closed, not reused."""
        connection = self._connection
        if connection is not None:
            if not connection.is_reusable():
                connection.close()
            self._detach()

    def _abandon(self) -> None:
        connection = self._connection
        if connection is not None:
            connection.close()
            self._detach()

    def _detach(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._pool.release(connection)


# Iterator classes rather than async generators: a caller may stop iterating at any point
# (``break``), and an abandoned generator is finalized later by the garbage collector, outside
# the task, where trio and asyncio report it as an error. A plain iterator has nothing to
# finalize; the response's ``aclose()`` (run by the ``stream()`` block) releases the connection.


class _AsyncBodyChunks:
    __slots__ = ("_connection", "_response")

    def __init__(self, response: AsyncStreamingResponse, connection: Exchange) -> None:
        self._response = response
        self._connection = connection

    def __aiter__(self) -> _AsyncBodyChunks:
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk = await self._connection.receive_body_chunk()
        except BaseException:
            self._response._detach()
            raise
        if not chunk:
            self._response.trailers = self._connection.trailers
            self._response._detach()
            raise StopAsyncIteration
        return chunk


class _AsyncDecodedChunks:
    __slots__ = ("_decoder", "_done", "_raw", "_response")

    def __init__(
        self, response: AsyncStreamingResponse, raw: AsyncIterator[bytes], decoder: Decoder
    ) -> None:
        self._response = response
        self._raw = raw
        self._decoder = decoder
        self._done = False

    def __aiter__(self) -> _AsyncDecodedChunks:
        return self

    async def __anext__(self) -> bytes:
        decoder = self._decoder
        while not self._done:
            try:
                chunk = await self._raw.__anext__()
            except StopAsyncIteration:
                self._done = True
                if tail := self._run(decoder.flush, None):
                    return tail
                break
            if data := self._run(decoder.decode, chunk):
                return data
        raise StopAsyncIteration

    def _run(self, step: Callable[..., bytes], chunk: bytes | None) -> bytes:
        try:
            return step() if chunk is None else step(chunk)
        except FlextApiError:
            # The rest of the body is unread garbage: the connection cannot be reused.
            self._response._abandon()
            raise


class _AsyncTextChunks:
    __slots__ = ("_chunks", "_decoder", "_done")

    def __init__(self, chunks: AsyncIterator[bytes], encoding: str) -> None:
        self._chunks = chunks
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        self._done = False

    def __aiter__(self) -> _AsyncTextChunks:
        return self

    async def __anext__(self) -> str:
        while not self._done:
            try:
                chunk = await self._chunks.__anext__()
            except StopAsyncIteration:
                self._done = True
                if tail := self._decoder.decode(b"", final=True):
                    return tail
                break
            if text := self._decoder.decode(chunk):
                return text
        raise StopAsyncIteration


class _AsyncLines:
    __slots__ = ("_lines", "_pending", "_texts")

    def __init__(self, texts: AsyncIterator[str]) -> None:
        self._texts = texts
        self._pending = ""
        self._lines: list[str] = []

    def __aiter__(self) -> _AsyncLines:
        return self

    async def __anext__(self) -> str:
        while not self._lines:
            try:
                text = await self._texts.__anext__()
            except StopAsyncIteration:
                if self._pending:
                    line, self._pending = self._pending, ""
                    return line.rstrip("\r\n")
                raise
            lines = (self._pending + text).splitlines(keepends=True)
            self._pending = ""
            # A line ending in "\r" waits: its "\n" may be the first byte of the next chunk.
            if lines and not lines[-1].endswith("\n"):
                self._pending = lines.pop()
            self._lines = [line.rstrip("\r\n") for line in reversed(lines)]
        return self._lines.pop()
