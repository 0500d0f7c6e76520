"""The storage backend: a public ``FlextResult`` API written once over a few primitives.

:class:`AsyncStorageBackend` (``StorageBackend`` on the blocking side, generated) is what users
call: ``upload_file``, ``download_file``, ``open_download``, ``delete_file``, ``list_files``,
``list_page``, ``iter_files``, ``exists``, ``stat``, ``copy_file``, ``presigned_get_url``,
``presigned_put_url``, ``health_check``. Every one validates its arguments (portable keys,
metadata, content type: :mod:`flext_api.storage._validate`) before a backend is asked, and
turns what the backend raised into a ``Failure`` carrying a :class:`StorageError`.

Writing a backend
-----------------

A backend subclasses :class:`AsyncStorageBackend`, sets ``kind`` (``"s3"``...) and implements
these primitives. They **raise** (never return a Result): a :class:`StorageError` subclass
with ``backend=self.name`` and the ``key`` (map vendor answers with
:func:`flext_api.storage.storage_error_for_status`, keeping ``vendor_code`` and
``vendor_body``); any other :class:`FlextApiError` from the transport is turned into
``BACKEND_UNAVAILABLE`` (a ``TransportError``) or ``STORAGE_ERROR`` by the base class. Keys,
prefixes and metadata arrive validated; ``content_type`` arrives resolved (never ``None``).

``async def _put(key, body, *, size, content_type, metadata, overwrite) -> ObjectInfo``
    Store ``body`` (an :class:`AsyncUploadBody`: ``async for chunk in body``) under ``key``.
    ``size`` is the byte count when known before reading (bytes, files, a declared size),
    ``None`` for a stream of unknown length. Use a single request when
    ``size is not None and size <= self.multipart_threshold``, else the multipart/resumable/
    block upload, cutting parts with ``async_iter_parts(body, self.part_size)``
    (``iter_parts`` in the blocking twin); retry a part on its own. Never read the whole body
    into memory. **Atomic visibility**: if anything fails (the body raises
    ``UPLOAD_FAILED`` when its source breaks or misses its declared size, a part keeps
    failing, cancellation), abort the upload so nothing new is visible under ``key``, then let
    the exception propagate (a vendor failure as ``UPLOAD_FAILED`` or the code the vendor
    answer maps to). ``overwrite=False``: create only;
    an existing object is ``PRECONDITION_FAILED``. Return the stored object's info
    (``size``, ``etag``; ``last_modified`` when the answer has it).

``def _open(key, *, byte_range, if_match) -> AbstractAsyncContextManager[AsyncObjectStream]``
    Start a download (write it with ``@asynccontextmanager``): yield an
    :class:`AsyncObjectStream` whose ``info`` is the whole object's (``size`` from
    ``Content-Range`` on a ranged answer) and whose ``start``/``end`` are the bytes it
    carries; release the connection on exit. ``byte_range`` (a :class:`ByteRange`, already
    validated for shape) goes out as ``Range: {byte_range.header_value()}``; a range starting at
    or past the end is ``INVALID_RANGE`` (416, or ``byte_range.resolve(size)``). ``if_match``:
    an etag the object must still have, else ``PRECONDITION_FAILED``. Missing: ``NOT_FOUND``.
    The caller may stop reading early: the stream's chunk iterator is closed (its ``aclose``,
    when it has one) before the context manager exits.

``async def _head(key) -> ObjectInfo``
    The object's info, content type and metadata included; ``NOT_FOUND`` when missing.

``async def _delete(key) -> None``
    Remove the object. Idempotent: a missing key is not an error (S3 cannot tell).

``async def _list_page(prefix, page_token, page_size) -> ListPage``
    Up to ``page_size`` objects whose keys start with ``prefix`` (no delimiter: the whole
    subtree), in key order, with the token of the next page or ``None``. The token is the
    backend's own (continuation token, page token, marker); the caller passes it back as is.

Optional primitives (defaults given here): ``_copy(source, destination, *, content_type,
metadata, overwrite) -> ObjectInfo`` (default: streams the object through this process;
override with the server-side copy; ``None`` content type/metadata keep the source's);
``_presign(key, *, method, expires_in, content_type) -> PresignedURL`` (default:
``UNSUPPORTED``); ``_probe() -> None`` (the health check; default: list one object);
``_close() -> None`` (release the client; default: nothing).

Settings every backend takes: ``name`` (in errors and MultiBackend outcomes; default
``kind``), ``multipart_threshold`` and ``part_size`` (bytes; the multipart hook above), and
``chunk_size`` (bytes read from a source at a time).

This module must never import an event loop: the blocking twin is generated from it.
"""

from __future__ import annotations

import contextlib
import inspect  # unasync: remove
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, aclosing, asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Literal, Protocol, Self, TypeAlias, TypeVar, overload

from flext_api._exceptions import FlextApiError, TransportError
from flext_api._result import Failure, Success
from flext_api.storage._async.streams import (
    DEFAULT_CHUNK_SIZE,
    AsyncObjectStream,
    AsyncUploadBody,
    AsyncUploadSource,
)
from flext_api.storage._errors import (
    StorageError,
    StorageNotFound,
    StorageUnavailable,
    StorageUnsupported,
)
from flext_api.storage._types import ByteRange, ListPage, ObjectInfo, PresignedURL
from flext_api.storage._validate import (
    guess_content_type,
    validate_content_type,
    validate_key,
    validate_metadata,
    validate_prefix,
)

__all__ = ["DEFAULT_MULTIPART_THRESHOLD", "DEFAULT_PART_SIZE", "AsyncStorageBackend", "Writable"]

T = TypeVar("T")
Result: TypeAlias = Success[T] | Failure[StorageError]

DEFAULT_MULTIPART_THRESHOLD = 16 * 1024 * 1024
DEFAULT_PART_SIZE = 8 * 1024 * 1024
DEFAULT_PAGE_SIZE = 1000


class Writable(Protocol):
    """A sink ``download_file`` can write to: anything with ``write(bytes)``."""

    def write(self, data: bytes, /) -> Any: ...


class AsyncStorageBackend(ABC):
    """Object storage behind one API, whatever the backend; every call returns a ``FlextResult``
    whose failure is a :class:`StorageError` with a stable ``code``."""

    kind: ClassVar[str] = "storage"

    def __init__(
        self,
        *,
        name: str | None = None,
        multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
        part_size: int = DEFAULT_PART_SIZE,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        if multipart_threshold < 0 or part_size <= 0 or chunk_size <= 0:
            raise ValueError("multipart_threshold must be >= 0, part_size and chunk_size > 0")
        self.name = name or self.kind
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        self.chunk_size = chunk_size

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    # -- primitives: what a backend implements (see the module docstring) -------------------

    @abstractmethod
    async def _put(
        self,
        key: str,
        body: AsyncUploadBody,
        *,
        size: int | None,
        content_type: str,
        metadata: Mapping[str, str],
        overwrite: bool,
    ) -> ObjectInfo: ...

    @abstractmethod
    def _open(
        self, key: str, *, byte_range: ByteRange | None, if_match: str | None
    ) -> AbstractAsyncContextManager[AsyncObjectStream]: ...

    @abstractmethod
    async def _head(self, key: str) -> ObjectInfo: ...

    @abstractmethod
    async def _delete(self, key: str) -> None: ...

    @abstractmethod
    async def _list_page(self, prefix: str, page_token: str | None, page_size: int) -> ListPage: ...

    async def _copy(
        self,
        source: str,
        destination: str,
        *,
        content_type: str | None,
        metadata: Mapping[str, str] | None,
        overwrite: bool,
    ) -> ObjectInfo:
        async with self._open(source, byte_range=None, if_match=None) as stream, aclosing(stream):
            info = stream.info
            body = AsyncUploadBody(stream, size=info.size, chunk_size=self.chunk_size)
            return await self._put(
                destination,
                body,
                size=info.size,
                content_type=content_type or info.content_type or guess_content_type(destination),
                metadata=dict(info.metadata) if metadata is None else metadata,
                overwrite=overwrite,
            )

    async def _presign(
        self,
        key: str,
        *,
        method: Literal["GET", "PUT"],
        expires_in: float,
        content_type: str | None,
    ) -> PresignedURL:
        raise StorageUnsupported(
            f"{self.name}: the {self.kind} backend cannot presign URLs; serve the object "
            "through your application, or use a cloud backend (s3, gcs, azure)",
            backend=self.name,
            key=key,
        )

    async def _probe(self) -> None:
        await self._list_page("", None, 1)

    async def _close(self) -> None:
        return None

    # -- the public API ---------------------------------------------------------------------

    async def upload_file(
        self,
        key: str,
        source: AsyncUploadSource,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        size: int | None = None,
        overwrite: bool = True,
    ) -> Result[ObjectInfo]:
        """Store ``source`` under ``key``, streamed a chunk at a time (bytes, a
        ``pathlib.Path``, a binary file, or an iterable of bytes chunks: give ``size`` when you
        know it, so the backend can skip a multipart upload). ``content_type`` defaults to what
        the key's extension suggests; ``metadata`` maps ``[a-z][a-z0-9_]*`` names to ASCII
        values. ``overwrite=False`` refuses an existing key (``PRECONDITION_FAILED``). On
        failure nothing new is visible under ``key``."""
        try:
            validate_key(key, backend=self.name)
            checked = validate_metadata(metadata, backend=self.name, key=key)
            resolved = validate_content_type(
                content_type or guess_content_type(key), backend=self.name, key=key
            )
            body = AsyncUploadBody(source, size=size, chunk_size=self.chunk_size)
        except StorageError as exc:
            return Failure(self._own(exc, key))
        try:
            info = await self._put(
                key,
                body,
                size=body.size,
                content_type=resolved,
                metadata=checked,
                overwrite=overwrite,
            )
        except FlextApiError as exc:
            return Failure(self._convert(exc, key, "upload"))
        finally:
            await body.aclose()
        return Success(info)

    @overload
    async def download_file(
        self,
        key: str,
        destination: None = None,
        *,
        byte_range: ByteRange | None = None,
        if_match: str | None = None,
    ) -> Result[bytes]: ...

    @overload
    async def download_file(
        self,
        key: str,
        destination: str | os.PathLike[str] | Writable,
        *,
        byte_range: ByteRange | None = None,
        if_match: str | None = None,
    ) -> Result[ObjectInfo]: ...

    async def download_file(
        self,
        key: str,
        destination: str | os.PathLike[str] | Writable | None = None,
        *,
        byte_range: ByteRange | None = None,
        if_match: str | None = None,
    ) -> Result[bytes] | Result[ObjectInfo]:
        """The object (or ``byte_range`` of it): as ``bytes`` without a ``destination``; else
        written to a path (a temporary file beside it, renamed over it once complete: a
        failure leaves the path as it was) or to a writable (``write(bytes)``, awaited when it
        returns an awaitable), and the value is the object's info. ``if_match``: an etag the
        object must still have (``PRECONDITION_FAILED`` otherwise)."""
        async with self.open_download(key, byte_range=byte_range, if_match=if_match) as opened:
            if isinstance(opened, Failure):
                return opened
            stream = opened.value
            try:
                if destination is None:
                    return Success(await stream.read())
                if isinstance(destination, str | os.PathLike):
                    await self._to_path(stream, Path(destination))
                else:
                    await self._to_writable(stream, destination)
            except FlextApiError as exc:
                return Failure(self._convert(exc, key, "download"))
            except OSError as exc:
                return Failure(
                    StorageError(
                        f"{self.name}: writing {key!r} to {destination!r} failed: {exc}",
                        backend=self.name,
                        key=key,
                    )
                )
            return Success(stream.info)

    async def _to_path(self, stream: AsyncObjectStream, path: Path) -> None:
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        try:
            with os.fdopen(handle, "wb") as file:
                async for chunk in stream:
                    file.write(chunk)
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise

    async def _to_writable(self, stream: AsyncObjectStream, sink: Writable) -> None:
        async for chunk in stream:
            written = sink.write(chunk)
            # unasync: begin-async-only
            if inspect.isawaitable(written):
                await written
            # unasync: end-async-only
            del written

    @asynccontextmanager
    async def open_download(
        self, key: str, *, byte_range: ByteRange | None = None, if_match: str | None = None
    ) -> AsyncIterator[Result[AsyncObjectStream]]:
        """``async with backend.open_download(key) as result:`` -- on success
        ``result.value`` is an :class:`AsyncObjectStream` (``info``, then ``async for chunk``);
        the connection is released when the block ends. A failure mid-body raises
        :class:`StorageError` from the iteration."""
        async with AsyncExitStack() as stack:
            failure: Failure[StorageError] | None = None
            try:
                validate_key(key, backend=self.name)
                cm = self._open(key, byte_range=byte_range, if_match=if_match)
                stream = await stack.enter_async_context(cm)
                stack.push_async_callback(stream.aclose)
            except FlextApiError as exc:
                failure = Failure(self._convert(exc, key, "download"))
            if failure is not None:
                yield failure
            else:
                yield Success(stream)

    async def delete_file(self, key: str) -> Result[None]:
        """Remove ``key``; a key that is not there is not an error (deleting is idempotent)."""
        try:
            validate_key(key, backend=self.name)
            await self._delete(key)
        except FlextApiError as exc:
            return Failure(self._convert(exc, key, "delete"))
        return Success(None)

    async def stat(self, key: str) -> Result[ObjectInfo]:
        """The object's info (size, etag, last modified, content type, metadata)."""
        try:
            validate_key(key, backend=self.name)
            return Success(await self._head(key))
        except FlextApiError as exc:
            return Failure(self._convert(exc, key, "stat"))

    async def exists(self, key: str) -> Result[bool]:
        """Whether ``key`` holds an object (other failures stay failures)."""
        result = await self.stat(key)
        if isinstance(result, Success):
            return Success(True)
        if isinstance(result.error, StorageNotFound):
            return Success(False)
        return result

    async def list_page(
        self, prefix: str = "", *, page_token: str | None = None, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Result[ListPage]:
        """One page of the objects under ``prefix``; pass ``next_token`` back for the next."""
        if page_size <= 0:
            raise ValueError("page_size must be > 0")
        try:
            validate_prefix(prefix, backend=self.name)
            return Success(await self._list_page(prefix, page_token, page_size))
        except FlextApiError as exc:
            return Failure(self._convert(exc, prefix or None, "list"))

    async def iter_files(
        self, prefix: str = "", *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[ObjectInfo]:
        """Every object under ``prefix`` in key order, fetching a page only when the previous
        one is used up. A failure raises :class:`StorageError` from the iteration. Leaving the
        loop early: close the iterator (trio warns about one left open)."""
        token: str | None = None
        while True:
            page = await self.list_page(prefix, page_token=token, page_size=page_size)
            if isinstance(page, Failure):
                raise page.error
            for item in page.value.items:
                yield item
            token = page.value.next_token
            if token is None:
                return

    async def list_files(
        self, prefix: str = "", *, limit: int | None = None, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Result[list[ObjectInfo]]:
        """The objects under ``prefix`` (at most ``limit``), every page fetched; for a large
        bucket iterate with :meth:`iter_files` instead."""
        items: list[ObjectInfo] = []
        token: str | None = None
        while limit is None or len(items) < limit:
            page = await self.list_page(prefix, page_token=token, page_size=page_size)
            if isinstance(page, Failure):
                return page
            items.extend(page.value.items)
            token = page.value.next_token
            if token is None:
                break
        if limit is not None:
            del items[limit:]
        return Success(items)

    async def copy_file(
        self,
        source: str,
        destination: str,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        overwrite: bool = True,
    ) -> Result[ObjectInfo]:
        """Copy ``source`` to ``destination`` in this backend (server-side where it can);
        ``content_type``/``metadata`` replace the source's when given."""
        try:
            validate_key(source, backend=self.name)
            validate_key(destination, backend=self.name)
            checked = None if metadata is None else validate_metadata(metadata, backend=self.name)
            if content_type is not None:
                validate_content_type(content_type, backend=self.name, key=destination)
            info = await self._copy(
                source,
                destination,
                content_type=content_type,
                metadata=checked,
                overwrite=overwrite,
            )
        except FlextApiError as exc:
            return Failure(self._convert(exc, source, "copy"))
        return Success(info)

    async def presigned_get_url(
        self, key: str, *, expires_in: float = 3600
    ) -> Result[PresignedURL]:
        """A URL anyone holding it can GET ``key`` with, for ``expires_in`` seconds."""
        return await self._presigned(key, "GET", expires_in, None)

    async def presigned_put_url(
        self, key: str, *, expires_in: float = 3600, content_type: str | None = None
    ) -> Result[PresignedURL]:
        """A URL anyone holding it can PUT ``key`` with, for ``expires_in`` seconds; when
        ``content_type`` is given the uploader must send it (it is signed)."""
        return await self._presigned(key, "PUT", expires_in, content_type)

    async def _presigned(
        self, key: str, method: Literal["GET", "PUT"], expires_in: float, content_type: str | None
    ) -> Result[PresignedURL]:
        if not 0 < expires_in <= 7 * 24 * 3600:
            raise ValueError("expires_in is in seconds, > 0 and at most 7 days (604800)")
        try:
            validate_key(key, backend=self.name)
            if content_type is not None:
                validate_content_type(content_type, backend=self.name, key=key)
            url = await self._presign(
                key, method=method, expires_in=expires_in, content_type=content_type
            )
        except FlextApiError as exc:
            return Failure(self._convert(exc, key, "presign"))
        return Success(url)

    async def health_check(self) -> Result[None]:
        """Whether the backend answers (a one-object listing unless the backend knows better)."""
        try:
            await self._probe()
        except FlextApiError as exc:
            return Failure(self._convert(exc, None, "health check"))
        return Success(None)

    async def aclose(self) -> None:
        """Release the backend's connections (the backend cannot be used afterwards)."""
        await self._close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- errors -----------------------------------------------------------------------------

    def _own(self, error: StorageError, key: str | None) -> StorageError:
        if error.backend is None:
            error.backend = self.name
        if error.key is None:
            error.key = key
        return error

    def _convert(self, error: FlextApiError, key: str | None, operation: str) -> StorageError:
        """A primitive's exception as the :class:`StorageError` the Result carries."""
        if isinstance(error, StorageError):
            return self._own(error, key)
        where = f"{operation} {key!r}" if key is not None else operation
        cls = StorageUnavailable if isinstance(error, TransportError) else StorageError
        advice = "retry later" if cls is StorageUnavailable else "see the chained cause"
        converted = cls(
            f"{self.name}: {where} failed ({error.code}: {error}); {advice}",
            backend=self.name,
            key=key,
            url=error.url,
        )
        converted.__cause__ = error
        return converted
