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

# unasync: begin-async-only
from collections.abc import AsyncIterator, Awaitable, Callable

# unasync: end-async-only
# unasync: sync-only: from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from flext_api._exceptions import FlextApiError, StreamError
from flext_api._headers import Headers
from flext_api._models import Request, charset_from_content_type
from flext_api._result import Failure, Success
from flext_api._sansio.decoding import Decoder, make_decoder

if TYPE_CHECKING:
    from flext_api._async.connection import ResponseHead
    from flext_api._async.pool import AsyncConnectionPool, Exchange

__all__ = ["AsyncStreamingResponse", "receive_decoded", "receive_decoded_body"]

# unasync: begin-async-only
Receive = Callable[[], Awaitable[bytes]]
# unasync: end-async-only
# unasync: sync-only: Receive = Callable[[], bytes]


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
        return _AsyncBodyChunks(self, self._take_connection(), None)

    def aiter_bytes(self) -> AsyncIterator[bytes]:
        """Body chunks as they arrive, with any Content-Encoding (gzip, deflate, br, zstd)
        undone incrementally.

        Raises :class:`FlextApiError` if the connection fails mid-body, ``DECODE_ERROR`` for a
        corrupt encoding and ``DECOMPRESSION_LIMIT`` for a body that inflates past the limit.
        """
        connection = self._take_connection()
        content_encoding = self.headers.get("content-encoding")
        decoder = None
        if content_encoding is not None:
            decoder = make_decoder(content_encoding, max_size=self._max_decoded_size)
        return _AsyncBodyChunks(self, connection, decoder)

    def _take_connection(self) -> Exchange:
        connection = self._connection
        if connection is None or self._consumed:
            raise StreamError(
                "this response body was already read or closed; "
                "read it once, inside the 'with client.stream(...)' block"
            )
        self._consumed = True
        return connection

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
    __slots__ = ("_connection", "_decoder", "_response")

    def __init__(
        self, response: AsyncStreamingResponse, connection: Exchange, decoder: Decoder | None
    ) -> None:
        self._response = response
        self._connection = connection
        self._decoder = decoder

    def __aiter__(self) -> _AsyncBodyChunks:
        return self

    async def __anext__(self) -> bytes:
        connection = self._connection
        try:
            if self._decoder is None:
                chunk = await connection.receive_body_chunk()
            else:
                chunk = await receive_decoded(connection.receive_body_chunk, self._decoder)
        except BaseException:
            # Cut mid-body (a network error, a cancelled read) or undecodable: whatever is
            # left of the body would corrupt the next exchange, so the connection goes.
            self._response._abandon()
            raise
        if not chunk:
            self._response.trailers = connection.trailers
            self._response._detach()
            raise StopAsyncIteration
        return chunk


async def receive_decoded(receive: Receive, decoder: Decoder) -> bytes:
    """The next decoded piece of a body whose raw pieces come from ``receive`` (``b""`` once
    the body is complete), or ``b""`` once the body is complete and ``decoder`` flushed.

    The one decode loop, for streamed bodies (chunk by chunk, as the caller iterates) and
    buffered ones (inside the exchange, :meth:`AsyncHTTP11Connection.round_trip` and
    :meth:`AsyncHTTP2Stream.round_trip`): reading stops as soon as the decoder refuses a chunk
    (``DECODE_ERROR``, ``DECOMPRESSION_LIMIT``), so a bomb is never read, let alone inflated,
    past its limit, and the error ends the exchange before the connection is given back.
    """
    while not decoder.finished:
        chunk = await receive()
        if not chunk:
            return decoder.flush()
        if data := decoder.decode(chunk):
            return data
    return b""


async def receive_decoded_body(receive: Receive, decoder: Decoder) -> bytes:
    """A whole body through :func:`receive_decoded`."""
    pieces: list[bytes] = []
    while piece := await receive_decoded(receive, decoder):
        pieces.append(piece)
    return b"".join(pieces)


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
