"""Request bodies: turn ``content=`` / ``data=`` / ``json=`` into bytes or a chunk stream.

Returns the framing headers to add (Content-Type, Content-Length or Transfer-Encoding) and
either the bytes or an iterator. Files are streamed in chunks and never read whole; their size,
when the OS knows it, becomes Content-Length so the server can refuse an oversized upload early.

Passing two kinds of body at once is a programming error and raises ``TypeError`` at the call.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Callable, Iterable, Iterator, Mapping, Sequence
from typing import IO, Any, Final, cast

import msgspec

from flext_api._sansio.multipart import MultipartEncoder, Progress
from flext_api._urls import QueryParamTypes, encode_params

__all__ = [
    "CHUNK_SIZE",
    "FilesTypes",
    "ReplayableStream",
    "RequestContent",
    "encode_request",
    "reject_async_body",
    "sync_body",
]

CHUNK_SIZE: Final = 64 * 1024

RequestContent = bytes | str | IO[bytes] | Iterable[bytes] | AsyncIterable[bytes]

FilesTypes = Mapping[str, Any] | Sequence[tuple[str, Any]]
"""``files=``: name -> a path, an open binary file, bytes or a ``FormFile`` (a list for several
files under one name)."""

_JSON_ENCODER: Final = msgspec.json.Encoder()

_EncodedBody = tuple[
    list[tuple[bytes, bytes]], bytes | None, Iterable[bytes] | AsyncIterable[bytes] | None
]


def _file_chunks(file: IO[bytes]) -> Iterator[bytes]:
    while chunk := file.read(CHUNK_SIZE):
        if not isinstance(chunk, bytes):
            raise TypeError("a file body must be opened in binary mode ('rb')")
        yield chunk


def _file_size(file: IO[bytes]) -> int | None:
    try:
        size = os.fstat(file.fileno()).st_size
        return size - file.tell()
    except (AttributeError, OSError, ValueError):
        return None


class ReplayableStream:
    """A streamed body that can be produced again (a multipart body of files on disk): each
    iteration starts from the beginning, so a retry or a 307 redirect can resend it."""

    __slots__ = ("_factory",)

    def __init__(self, factory: Callable[[], Iterator[bytes]]) -> None:
        self._factory = factory

    def __iter__(self) -> Iterator[bytes]:
        return self._factory()


def _reporting(chunks: Iterable[bytes], progress: Progress) -> Iterator[bytes]:
    sent = 0
    for chunk in chunks:
        sent += len(chunk)
        yield chunk
        progress(sent, None)


def encode_request(
    *,
    content: RequestContent | None,
    data: Mapping[str, Any] | None,
    json: Any,
    has_json: bool,
    files: FilesTypes | None = None,
    upload_progress: Progress | None = None,
) -> _EncodedBody:
    """Encode one body. ``has_json`` distinguishes ``json=None`` (send ``null``) from no json.

    ``files`` makes a ``multipart/form-data`` body of ``data`` (the text fields) and the files,
    streamed from disk. ``upload_progress(sent, total)`` is called as each chunk of a streamed
    body is handed to the connection (``total`` is None when the length is unknown).
    """
    if files is not None:
        if content is not None or has_json:
            raise TypeError(
                "files= builds a multipart body: pass form fields in data=, not content= or json="
            )
        encoder = MultipartEncoder(fields=data, files=files)
        framing = [(b"Content-Type", encoder.content_type.encode("ascii"))]
        framing.append(
            (b"Content-Length", b"%d" % encoder.content_length)
            if encoder.content_length is not None
            else (b"Transfer-Encoding", b"chunked")
        )
        stream: Iterable[bytes] = (
            ReplayableStream(lambda: encoder.iter_chunks(progress=upload_progress))
            if encoder.replayable
            else encoder.iter_chunks(progress=upload_progress)
        )
        return framing, None, stream
    given = (content is not None) + (data is not None) + has_json
    if given > 1:
        raise TypeError("pass only one of content=, data= or json= for a request body")
    if has_json:
        body = _JSON_ENCODER.encode(json)
        return (
            [(b"Content-Type", b"application/json"), (b"Content-Length", b"%d" % len(body))],
            body,
            None,
        )
    if data is not None:
        if not isinstance(data, Mapping):
            raise TypeError("data= takes a mapping of form fields; use content= for raw bytes")
        params: QueryParamTypes = data
        body = encode_params(params).encode("ascii")
        return (
            [
                (b"Content-Type", b"application/x-www-form-urlencoded"),
                (b"Content-Length", b"%d" % len(body)),
            ],
            body,
            None,
        )
    if content is None:
        return [], None, None
    if isinstance(content, bytes | bytearray | memoryview):
        body = bytes(content)
        return [(b"Content-Length", b"%d" % len(body))], body, None
    if isinstance(content, str):
        body = content.encode("utf-8")
        return (
            [
                (b"Content-Type", b"text/plain; charset=utf-8"),
                (b"Content-Length", b"%d" % len(body)),
            ],
            body,
            None,
        )
    if hasattr(content, "read"):
        file: IO[bytes] = content  # type: ignore[assignment]
        size = _file_size(file)
        framing = (
            [(b"Content-Length", b"%d" % size)]
            if size is not None
            else [(b"Transfer-Encoding", b"chunked")]
        )
        chunks = _file_chunks(file)
        return framing, None, _reporting(chunks, upload_progress) if upload_progress else chunks
    if isinstance(content, Iterable | AsyncIterable):
        given_chunks = cast(Iterable[bytes] | AsyncIterable[bytes], content)
        if upload_progress is not None and isinstance(given_chunks, Iterable):
            given_chunks = _reporting(given_chunks, upload_progress)
        return [(b"Transfer-Encoding", b"chunked")], None, given_chunks
    raise TypeError(
        f"content= takes bytes, str, a binary file or an iterator of bytes, "
        f"not {type(content).__name__}"
    )


def reject_async_body(stream: object) -> None:
    """The blocking client cannot iterate an async body: say so before anything is sent."""
    if stream is not None:
        sync_body(stream)


def sync_body(stream: object) -> Iterable[bytes]:
    """``stream`` as a plain iterable, or ``TypeError`` for an async one."""
    if not isinstance(stream, Iterable):
        raise TypeError(
            "the blocking FlextApiClient cannot send an async iterator as a body; "
            "pass bytes, a file or a plain iterator, or use AsyncFlextApiClient"
        )
    return cast(Iterable[bytes], stream)
