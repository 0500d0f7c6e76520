"""Request bodies: turn ``content=`` / ``data=`` / ``json=`` into bytes or a chunk stream.

Returns the framing headers to add (Content-Type, Content-Length or Transfer-Encoding) and
either the bytes or an iterator. Files are streamed in chunks and never read whole; their size,
when the OS knows it, becomes Content-Length so the server can refuse an oversized upload early.

Passing two kinds of body at once is a programming error and raises ``TypeError`` at the call.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Iterable, Iterator, Mapping
from typing import IO, Any, Final, cast

import msgspec

from flext_api._urls import QueryParamTypes, encode_params

__all__ = ["CHUNK_SIZE", "RequestContent", "encode_request", "reject_async_body", "sync_body"]

CHUNK_SIZE: Final = 64 * 1024

RequestContent = bytes | str | IO[bytes] | Iterable[bytes] | AsyncIterable[bytes]

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


def encode_request(
    *,
    content: RequestContent | None,
    data: Mapping[str, Any] | None,
    json: Any,
    has_json: bool,
) -> _EncodedBody:
    """Encode one body. ``has_json`` distinguishes ``json=None`` (send ``null``) from no json."""
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
        return framing, None, _file_chunks(file)
    if isinstance(content, Iterable | AsyncIterable):
        chunks = cast(Iterable[bytes] | AsyncIterable[bytes], content)
        return [(b"Transfer-Encoding", b"chunked")], None, chunks
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
