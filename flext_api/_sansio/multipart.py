"""Request bodies for forms: ``multipart/form-data`` (RFC 7578) and urlencoded fields.

``MultipartEncoder`` describes the body (``content_type``, ``content_length``) without reading
any file, and ``iter_chunks`` produces it lazily, reading files chunk by chunk: the I/O shell
sends each chunk as it comes. ``encode_form`` builds an ``application/x-www-form-urlencoded``
body.

What must never happen:

* A file read whole into memory: files are opened when their part is reached and read
  ``chunk_size`` bytes at a time; ``content_length`` comes from ``os.stat`` / ``fstat``.
* A body whose length differs from the ``Content-Length`` announced: a file that shrank or grew
  between ``content_length`` and sending raises ``StreamError`` before the mismatch reaches the
  wire.
* A field name or filename that breaks out of its header: ``"``, CR and LF are
  percent-encoded (RFC 7578 section 4.2, as browsers do); non-ASCII is sent as UTF-8.
  ``filename*`` is deliberately not emitted: RFC 7578 section 4.2 says it MUST NOT be used.
* Socket or clock use: this module only opens the files it was given.
"""

from __future__ import annotations

import mimetypes
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import IO, Any, Final, TypeAlias
from urllib.parse import quote_plus

import msgspec

from flext_api._exceptions import StreamError

__all__ = [
    "FormFile",
    "MultipartEncoder",
    "Progress",
    "encode_form",
    "json_part",
]

FormValue: TypeAlias = "str | bytes | int | float | FormFile"
FileSpec: TypeAlias = "FormFile | str | os.PathLike[str] | IO[bytes]"
FormScalar: TypeAlias = str | bytes | int | float | bool | None
Progress: TypeAlias = Callable[[int, int | None], None]
"""Called after each chunk with (bytes produced so far, total or None when unknown)."""

_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE_BAD = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_DEFAULT_CHUNK: Final = 64 * 1024


def _form_text(value: FormScalar) -> str | bytes:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    if isinstance(value, str | bytes):
        return value
    if isinstance(value, int | float):
        return str(value)
    raise TypeError(f"form values must be str, bytes, int, float, bool or None, not {value!r}")


def encode_form(
    fields: Mapping[str, FormScalar | list[FormScalar] | tuple[FormScalar, ...]]
    | Sequence[tuple[str, FormScalar]],
) -> bytes:
    """An ``application/x-www-form-urlencoded`` body (spaces as ``+``, UTF-8 escapes)."""
    pairs: list[str] = []
    items = fields.items() if isinstance(fields, Mapping) else fields
    for key, value in items:
        values = value if isinstance(value, list | tuple) else (value,)
        pairs.extend(f"{quote_plus(key)}={quote_plus(_form_text(v))}" for v in values)
    return "&".join(pairs).encode("ascii")


def _escape_param(text: str) -> bytes:
    return text.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A").encode("utf-8")


class FormFile:
    """One part's body from a file path, an open binary file, or bytes, with its metadata.

    A path is opened only while its part is produced. An open file is read from its current
    position; when seekable it is rewound there on every ``iter_chunks``, so a body can be sent
    again (a 307 redirect, a retry). ``filename`` defaults to the path's base name.
    """

    __slots__ = ("content_type", "filename", "headers", "source")

    def __init__(
        self,
        source: str | os.PathLike[str] | IO[bytes] | bytes,
        *,
        filename: str | None = None,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if isinstance(source, str | os.PathLike):
            filename = filename if filename is not None else os.path.basename(os.fspath(source))
        elif not isinstance(source, bytes | bytearray | memoryview) and not hasattr(source, "read"):
            raise TypeError(
                f"a FormFile source is a path, an open binary file or bytes, not {source!r}"
            )
        self.source = source
        self.filename = filename
        self.content_type = content_type
        self.headers = dict(headers) if headers else {}
        for name, value in self.headers.items():
            if not _HEADER_NAME.fullmatch(name) or _HEADER_VALUE_BAD.search(value):
                raise ValueError(f"part header {name!r} is not a valid header field")
            if name.lower() in ("content-disposition", "content-type"):
                raise ValueError(
                    f"set {name} through FormFile's own arguments, not headers=, so it is "
                    "encoded safely"
                )

    def __repr__(self) -> str:
        return f"FormFile(filename={self.filename!r}, content_type={self.content_type!r})"


def json_part(value: Any, *, filename: str | None = None) -> FormFile:
    """A part holding ``value`` as JSON (msgspec-encoded, ``application/json``)."""
    return FormFile(msgspec.json.encode(value), filename=filename, content_type="application/json")


class _Part:
    __slots__ = ("body", "head", "size", "start")

    def __init__(self, head: bytes, body: Any, size: int | None, start: int = 0) -> None:
        self.head = head  # boundary line + headers + blank line
        self.body = body  # bytes | path (str) | IO[bytes]
        self.size = size  # body size, None when unknown
        self.start = start  # file objects: the position to read from


def _file_size(stream: IO[bytes]) -> tuple[int | None, int]:
    """(bytes left from the current position or None, that position) without reading."""
    try:
        if not stream.seekable():
            return None, 0
        position = stream.tell()
        try:
            size = os.fstat(stream.fileno()).st_size
        except (OSError, AttributeError, ValueError):  # BytesIO and friends have no fileno
            size = stream.seek(0, os.SEEK_END)
            stream.seek(position)
        return max(0, size - position), position
    except OSError:
        return None, 0


def _items(
    mapping: Mapping[str, Any] | Sequence[tuple[str, Any]] | None,
) -> list[tuple[str, Any]]:
    if not mapping:
        return []
    items = mapping.items() if isinstance(mapping, Mapping) else mapping
    result: list[tuple[str, Any]] = []
    for name, value in items:
        if isinstance(value, list | tuple):
            result.extend((name, v) for v in value)
        else:
            result.append((name, value))
    return result


class MultipartEncoder:
    """A ``multipart/form-data`` body: fields first, then files, in the order given.

    ``fields`` values are text (str, int, float), bytes, or a :class:`FormFile` (such as
    :func:`json_part`); ``files`` values are a path, an open binary file or a ``FormFile``. A list
    under one name gives several parts of that name. ``boundary`` defaults to 32 random hex
    digits from ``random_bytes``.
    """

    __slots__ = ("_parts", "_started", "boundary", "content_length")

    def __init__(
        self,
        fields: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        files: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        boundary: str | None = None,
        *,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        if boundary is None:
            boundary = random_bytes(16).hex()
        elif not _BOUNDARY.fullmatch(boundary):
            raise ValueError(
                f"multipart boundary {boundary!r} is not valid: 1-70 characters from RFC 2046's "
                "bchars, not ending in a space"
            )
        self.boundary = boundary
        self._started = False
        self._parts: list[_Part] = []
        for name, value in _items(fields):
            if isinstance(value, FormFile):
                self._add(name, value)
            elif isinstance(value, bytes):
                self._add(name, FormFile(value))
            elif isinstance(value, str | int | float) and not isinstance(value, bool):
                self._add_text(name, str(value))
            else:
                raise TypeError(
                    f"form field {name!r} has a value of type {type(value).__name__}; use str, "
                    "int, float, bytes or FormFile (files go in files=)"
                )
        for name, value in _items(files):
            self._add(name, value if isinstance(value, FormFile) else FormFile(value))
        total: int | None = len(self._closing)
        for part in self._parts:
            if part.size is None or total is None:
                total = None
            else:
                total += len(part.head) + part.size + 2
        self.content_length = total

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def _closing(self) -> bytes:
        return b"--" + self.boundary.encode("ascii") + b"--\r\n"

    def _head(self, name: str, filename: str | None, extra: list[tuple[str, str]]) -> bytes:
        disposition = b'Content-Disposition: form-data; name="' + _escape_param(name) + b'"'
        if filename is not None:
            disposition += b'; filename="' + _escape_param(filename) + b'"'
        lines = [b"--" + self.boundary.encode("ascii"), disposition]
        lines += [f"{k}: {v}".encode() for k, v in extra]
        return b"\r\n".join(lines) + b"\r\n\r\n"

    def _add_text(self, name: str, value: str) -> None:
        body = value.encode("utf-8")
        self._parts.append(_Part(self._head(name, None, []), body, len(body)))

    def _add(self, name: str, file: FormFile) -> None:
        content_type = file.content_type
        if content_type is None and file.filename is not None:
            content_type = mimetypes.guess_type(file.filename)[0] or "application/octet-stream"
        extra = [("Content-Type", content_type)] if content_type else []
        extra += list(file.headers.items())
        if content_type and _HEADER_VALUE_BAD.search(content_type):
            raise ValueError(f"content type {content_type!r} holds a control character")
        head = self._head(name, file.filename, extra)
        source = file.source
        if isinstance(source, bytes | bytearray | memoryview):
            body = bytes(source)
            self._parts.append(_Part(head, body, len(body)))
        elif isinstance(source, str | os.PathLike):
            path = os.fspath(source)
            self._parts.append(_Part(head, path, os.stat(path).st_size))
        else:
            size, start = _file_size(source)
            self._parts.append(_Part(head, source, size, start))

    @property
    def replayable(self) -> bool:
        """Whether ``iter_chunks`` can run again (every file a path, bytes or seekable)."""
        return self.content_length is not None

    def iter_chunks(
        self, chunk_size: int = _DEFAULT_CHUNK, progress: Progress | None = None
    ) -> Iterator[bytes]:
        """The body, lazily, in chunks of ``chunk_size`` bytes (the last one may be shorter).

        Small pieces (part headers, short fields) are merged into one chunk; file data is read
        at most ``chunk_size`` at a time and never held whole. Raises ``StreamError`` when a
        file's size no longer matches ``content_length``, or when a body with an unseekable
        file is produced a second time.
        """
        if chunk_size < 1:
            raise ValueError("chunk_size must be >= 1")
        if not self.replayable:
            if self._started:
                raise StreamError(
                    "this multipart body reads an unseekable file, so it can be sent only once"
                )
            self._started = True
        sent = 0
        for chunk in self._produce(chunk_size):
            sent += len(chunk)
            yield chunk
            if progress is not None:
                progress(sent, self.content_length)

    def _produce(self, chunk_size: int) -> Iterator[bytes]:
        # Invariant: at the top of each loop `buffer` holds less than chunk_size bytes, so a
        # file read of `chunk_size - len(buffer)` completes exactly one chunk.
        buffer = bytearray()
        for part in self._parts:
            buffer += part.head
            if isinstance(part.body, bytes):
                buffer += part.body
            else:
                while len(buffer) >= chunk_size:  # a long part header fills chunks alone
                    yield bytes(buffer[:chunk_size])
                    del buffer[:chunk_size]
                for data in self._file_data(part, chunk_size, buffer):
                    if buffer or len(data) < chunk_size:
                        buffer += data
                        if len(buffer) >= chunk_size:
                            yield bytes(buffer)
                            buffer.clear()
                    else:
                        yield data  # a full chunk straight from the file: no copy
            buffer += b"\r\n"
            while len(buffer) >= chunk_size:
                yield bytes(buffer[:chunk_size])
                del buffer[:chunk_size]
        buffer += self._closing
        while buffer:
            yield bytes(buffer[:chunk_size])
            del buffer[:chunk_size]

    def _file_data(self, part: _Part, chunk_size: int, buffer: bytearray) -> Iterator[bytes]:
        """A file's bytes, each read sized to complete the pending chunk in ``buffer``."""
        if isinstance(part.body, str):
            with open(part.body, "rb") as stream:
                yield from self._read_checked(stream, part.size, chunk_size, buffer)
        else:
            if part.size is not None:
                part.body.seek(part.start)
            yield from self._read_checked(part.body, part.size, chunk_size, buffer)

    def _read_checked(
        self, stream: IO[bytes], expected: int | None, chunk_size: int, buffer: bytearray
    ) -> Iterator[bytes]:
        read = 0
        while True:
            data = stream.read(chunk_size - len(buffer))
            if not data:
                break
            read += len(data)
            if expected is not None and read > expected:
                raise StreamError(
                    f"a file in the multipart body grew while being sent (over {expected} "
                    "bytes announced in Content-Length); do not change files being uploaded"
                )
            yield data
        if expected is not None and read != expected:
            raise StreamError(
                f"a file in the multipart body shrank while being sent ({read} of {expected} "
                "bytes announced in Content-Length); do not change files being uploaded"
            )
