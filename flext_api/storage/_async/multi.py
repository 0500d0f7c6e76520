"""Several backends as one: priority failover or round-robin reads, writes to all or a quorum,
lazy health checks (``MultiBackend`` on the blocking side, generated).

Every call returns ``Success(MultiOutcome)`` -- the value, the backend that gave it and a
:class:`BackendOutcome` per backend that took part -- or a ``Failure`` whose
:class:`StorageError` carries the same ``outcomes``. Health is kept by a
:class:`~flext_api.storage._health.HealthBoard` on the injected clock: checks run on the next
call that finds them due, never in the background.

This module must never import an event loop: the blocking twin is generated from it.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,  # unasync: remove
    Callable,
    Mapping,
    Sequence,
)
from types import TracebackType
from typing import IO, Any, Literal, Self, TypeAlias, TypeVar

from flext_api._result import Failure, Success
from flext_api.storage._async.backend import AsyncStorageBackend, Writable
from flext_api.storage._async.streams import AsyncUploadBody, AsyncUploadSource
from flext_api.storage._errors import (
    StorageBackendsFailed,
    StorageError,
    StorageInvalidKey,
    StorageInvalidMetadata,
    StorageInvalidRange,
    StorageQuorumNotMet,
    StorageUploadFailed,
)
from flext_api.storage._health import BackendHealth, HealthBoard
from flext_api.storage._types import (
    BackendOutcome,
    ByteRange,
    ListPage,
    MultiOutcome,
    ObjectInfo,
    PresignedURL,
)

__all__ = ["AsyncMultiBackend"]

T = TypeVar("T")
Result: TypeAlias = Success[MultiOutcome[T]] | Failure[StorageError]
Single: TypeAlias = Success[T] | Failure[StorageError]
AsyncOp: TypeAlias = "Callable[[AsyncStorageBackend], Awaitable[Single[T]]]"  # unasync: remove
# unasync: sync-only: Op: TypeAlias = "Callable[[StorageBackend], Single[T]]"

# Answers about the call itself: every backend would give the same one, so stop at the first.
_CALLER_ERRORS = (StorageInvalidKey, StorageInvalidMetadata, StorageInvalidRange)
_SPOOL_IN_MEMORY = 8 * 1024 * 1024


class AsyncMultiBackend:
    """``backends`` in priority order (their names must differ).

    Reads (``download_file``, ``stat``, ``exists``, listings, presigned URLs) go to the first
    backend that is up (``read="failover"``) or to each up backend in turn
    (``read="round_robin"``), and fail over to the next on failure (``NOT_FOUND`` included: an
    object may be missing on a backend that was down when it was written). Writes
    (``upload_file``, ``copy_file``, ``delete_file``) go to every up backend and succeed when all
    of them took it (``write="all"``; a backend marked down counts as not written) or at least
    ``quorum`` did (``write="quorum"``; default: a majority). Nothing is rolled back.

    ``failure_threshold`` consecutive failures mark a backend down; it is skipped (unless all
    are) and probed every ``probe_interval`` seconds until it answers; up backends are checked
    every ``health_interval`` seconds (``None``: never, calls alone tell). All on ``clock``.
    """

    def __init__(
        self,
        backends: Sequence[AsyncStorageBackend],
        *,
        name: str = "multi",
        read: Literal["failover", "round_robin"] = "failover",
        write: Literal["all", "quorum"] = "all",
        quorum: int | None = None,
        failure_threshold: int = 3,
        health_interval: float | None = 30.0,
        probe_interval: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._backends = tuple(backends)
        names = [b.name for b in self._backends]
        if not names:
            raise ValueError("a MultiBackend needs at least one backend")
        if len(set(names)) != len(names):
            raise ValueError(f"backend names must differ (name=...), got {names}")
        if read not in ("failover", "round_robin") or write not in ("all", "quorum"):
            raise ValueError("read is 'failover' or 'round_robin'; write is 'all' or 'quorum'")
        if quorum is None:
            quorum = len(names) // 2 + 1 if write == "quorum" else len(names)
        elif write != "quorum":
            raise ValueError("quorum=... goes with write='quorum'")
        if not 1 <= quorum <= len(names):
            raise ValueError(f"quorum must be between 1 and {len(names)}, got {quorum}")
        self.name = name
        self.read = read
        self.write = write
        self.quorum = quorum
        self._board = HealthBoard(
            names,
            clock=clock,
            failure_threshold=failure_threshold,
            health_interval=health_interval,
            probe_interval=probe_interval,
        )
        self._turn = 0

    @property
    def backends(self) -> tuple[AsyncStorageBackend, ...]:
        return self._backends

    def health(self) -> tuple[BackendHealth, ...]:
        """Each backend's state as last seen (no I/O)."""
        return self._board.snapshot()

    async def check_health(self) -> tuple[BackendHealth, ...]:
        """Check every backend now, then their state."""
        for backend in self._backends:
            await self._check(backend)
        return self._board.snapshot()

    async def _check(self, backend: AsyncStorageBackend) -> None:
        result = await backend.health_check()
        if isinstance(result, Success):
            self._board.succeeded(backend.name)
        else:
            self._board.failed(backend.name, result.error)

    async def _maintain(self) -> None:
        """Run the health checks and probes the clock says are due (the lazy periodic work)."""
        due = set(self._board.due())
        for backend in self._backends:
            if backend.name in due:
                await self._check(backend)

    # -- routing ----------------------------------------------------------------------------

    def _read_order(self) -> tuple[list[AsyncStorageBackend], list[BackendOutcome]]:
        up = [b for b in self._backends if self._board.is_up(b.name)]
        if not up:
            return list(self._backends), []  # all down: try them anyway, in priority order
        skipped = [
            BackendOutcome(b.name, ok=False, skipped=True, note="marked down")
            for b in self._backends
            if not self._board.is_up(b.name)
        ]
        if self.read == "round_robin":
            turn = self._turn % len(up)
            self._turn += 1
            up = up[turn:] + up[:turn]
        return up, skipped

    async def _read(self, key: str | None, op: AsyncOp[T]) -> Result[T]:
        await self._maintain()
        order, outcomes = self._read_order()
        errors: list[StorageError] = []
        for backend in order:
            result = await op(backend)
            if isinstance(result, Success):
                self._board.succeeded(backend.name)
                outcomes.append(BackendOutcome(backend.name, ok=True))
                return Success(MultiOutcome(result.value, backend.name, tuple(outcomes)))
            error = result.error
            self._board.failed(backend.name, error)
            outcomes.append(BackendOutcome(backend.name, ok=False, error=error))
            errors.append(error)
            if isinstance(error, _CALLER_ERRORS):
                break
        return Failure(self._combine(key, errors, outcomes))

    def _combine(
        self, key: str | None, errors: list[StorageError], outcomes: list[BackendOutcome]
    ) -> StorageError:
        """One error for the failed call: the backends' own when they all agree on the code
        (``NOT_FOUND`` stays ``NOT_FOUND``), ``ALL_BACKENDS_FAILED`` otherwise."""
        if errors and all(e.code == errors[0].code for e in errors):
            error = errors[0]
        else:
            summary = ", ".join(
                f"{o.backend}: {o.error.code if o.error else o.note}" for o in outcomes
            )
            error = StorageBackendsFailed(
                f"{self.name}: no backend could serve {key!r} ({summary}); see outcomes",
                key=key,
            )
        error.outcomes = tuple(outcomes)
        return error

    async def _write(self, key: str, op: AsyncOp[T]) -> Result[T]:
        await self._maintain()
        up = [b for b in self._backends if self._board.is_up(b.name)] or list(self._backends)
        outcomes: list[BackendOutcome] = []
        first: tuple[str, T] | None = None
        for backend in self._backends:
            if backend not in up:
                outcomes.append(
                    BackendOutcome(backend.name, ok=False, skipped=True, note="marked down")
                )
                continue
            result = await op(backend)
            if isinstance(result, Success):
                self._board.succeeded(backend.name)
                outcomes.append(BackendOutcome(backend.name, ok=True))
                if first is None:
                    first = (backend.name, result.value)
                continue
            self._board.failed(backend.name, result.error)
            outcomes.append(BackendOutcome(backend.name, ok=False, error=result.error))
            if isinstance(result.error, _CALLER_ERRORS):
                result.error.outcomes = tuple(outcomes)
                return Failure(result.error)
        written = sum(o.ok for o in outcomes)
        if first is not None and written >= self.quorum:
            return Success(MultiOutcome(first[1], first[0], tuple(outcomes)))
        errors = [o.error for o in outcomes if o.error is not None]
        if written == 0 and errors:
            return Failure(self._combine(key, errors, outcomes))
        mode = "every backend" if self.write == "all" else f"a quorum of {self.quorum}"
        error = StorageQuorumNotMet(
            f"{self.name}: {written} of {len(outcomes)} backends took the write of {key!r}, "
            f"write={self.write!r} needs {mode}; the others are in outcomes (nothing was "
            "rolled back)",
            outcomes=outcomes,
            key=key,
        )
        return Failure(error)

    # -- the storage API --------------------------------------------------------------------

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
        """``upload_file`` on every backend; a stream that cannot be replayed (an iterator, an
        unseekable file) is spooled once to a temporary file (in memory up to 8 MiB)."""
        spool: IO[bytes] | None = None
        start = 0
        try:
            if isinstance(source, bytes | bytearray | memoryview | os.PathLike):
                replay: Any = source
            elif hasattr(source, "read") and _seekable(source):
                replay = source
                start = replay.tell()
            else:
                spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
                body = AsyncUploadBody(source, size=size)
                async for chunk in body:
                    spool.write(chunk)
                size = body.sent
                replay = spool
        except StorageError as exc:
            if spool is not None:
                spool.close()
            return Failure(exc)

        async def put(backend: AsyncStorageBackend) -> Success[ObjectInfo] | Failure[StorageError]:
            if hasattr(replay, "seek"):
                replay.seek(0 if replay is spool else start)
            return await backend.upload_file(
                key,
                replay,
                content_type=content_type,
                metadata=metadata,
                size=size,
                overwrite=overwrite,
            )

        try:
            return await self._write(key, put)
        finally:
            if spool is not None:
                spool.close()

    async def copy_file(
        self,
        source: str,
        destination: str,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        overwrite: bool = True,
    ) -> Result[ObjectInfo]:
        """``copy_file`` inside each backend."""

        async def copy(backend: AsyncStorageBackend) -> Success[ObjectInfo] | Failure[StorageError]:
            return await backend.copy_file(
                source,
                destination,
                content_type=content_type,
                metadata=metadata,
                overwrite=overwrite,
            )

        return await self._write(destination, copy)

    async def delete_file(self, key: str) -> Result[None]:
        """``delete_file`` on every backend."""

        async def delete(backend: AsyncStorageBackend) -> Success[None] | Failure[StorageError]:
            return await backend.delete_file(key)

        return await self._write(key, delete)

    async def download_file(
        self,
        key: str,
        destination: str | os.PathLike[str] | Writable | None = None,
        *,
        byte_range: ByteRange | None = None,
    ) -> Result[Any]:
        """``download_file`` from the first backend that can (bytes without ``destination``,
        else the object's info). A writable that already received bytes is not written again
        from another backend: that failure is returned."""
        sink = (
            None
            if destination is None or isinstance(destination, str | os.PathLike)
            else _CountingSink(destination)
        )

        async def download(backend: AsyncStorageBackend) -> Success[Any] | Failure[StorageError]:
            if sink is not None and sink.written:
                return Failure(
                    StorageUploadFailed(
                        f"{self.name}: {sink.written} bytes of {key!r} were already written to "
                        "the destination; not failing over to another backend",
                        backend=backend.name,
                        key=key,
                    )
                )
            target = sink if sink is not None else destination
            return await backend.download_file(key, target, byte_range=byte_range)

        return await self._read(key, download)

    async def stat(self, key: str) -> Result[ObjectInfo]:
        async def stat(backend: AsyncStorageBackend) -> Success[ObjectInfo] | Failure[StorageError]:
            return await backend.stat(key)

        return await self._read(key, stat)

    async def exists(self, key: str) -> Result[bool]:
        """Whether the first backend that answers holds ``key`` (``False`` only when every
        backend tried says it does not)."""
        result = await self.stat(key)
        if isinstance(result, Success):
            return Success(MultiOutcome(True, result.value.backend, result.value.outcomes))
        error = result.error
        if error.code == "NOT_FOUND":
            return Success(MultiOutcome(False, self.name, error.outcomes))
        return result

    async def list_page(
        self, prefix: str = "", *, page_token: str | None = None, page_size: int = 1000
    ) -> Result[ListPage]:
        """A page from one backend; its ``next_token`` names that backend, so the next page
        comes from the same one."""
        pinned: AsyncStorageBackend | None = None
        token: str | None = None
        if page_token is not None:
            index, _, token = page_token.partition(":")
            if not index.isdigit() or int(index) >= len(self._backends):
                raise ValueError(f"{page_token!r} is not a page token of this MultiBackend")
            pinned = self._backends[int(index)]

        async def page(backend: AsyncStorageBackend) -> Success[ListPage] | Failure[StorageError]:
            result = await backend.list_page(prefix, page_token=token, page_size=page_size)
            if isinstance(result, Failure) or result.value.next_token is None:
                return result
            index = self._backends.index(backend)
            return Success(ListPage(result.value.items, f"{index}:{result.value.next_token}"))

        if pinned is None:
            return await self._read(prefix or None, page)
        await self._maintain()
        result = await page(pinned)
        if isinstance(result, Failure):
            self._board.failed(pinned.name, result.error)
            result.error.outcomes = (BackendOutcome(pinned.name, ok=False, error=result.error),)
            return result
        outcome = (BackendOutcome(pinned.name, ok=True),)
        return Success(MultiOutcome(result.value, pinned.name, outcome))

    async def iter_files(
        self, prefix: str = "", *, page_size: int = 1000
    ) -> AsyncIterator[ObjectInfo]:
        """Every object under ``prefix`` from one backend, a page at a time (raises
        :class:`StorageError` when a page fails)."""
        token: str | None = None
        while True:
            result = await self.list_page(prefix, page_token=token, page_size=page_size)
            if isinstance(result, Failure):
                raise result.error
            for item in result.value.value.items:
                yield item
            token = result.value.value.next_token
            if token is None:
                return

    async def list_files(
        self, prefix: str = "", *, limit: int | None = None, page_size: int = 1000
    ) -> Result[list[ObjectInfo]]:
        """Every object under ``prefix`` (at most ``limit``), from one backend."""
        first = await self.list_page(prefix, page_size=page_size)
        if isinstance(first, Failure):
            return first
        items = list(first.value.value.items)
        token = first.value.value.next_token
        while token is not None and (limit is None or len(items) < limit):
            result = await self.list_page(prefix, page_token=token, page_size=page_size)
            if isinstance(result, Failure):
                return result
            items.extend(result.value.value.items)
            token = result.value.value.next_token
        if limit is not None:
            del items[limit:]
        return Success(MultiOutcome(items, first.value.backend, first.value.outcomes))

    async def presigned_get_url(
        self, key: str, *, expires_in: float = 3600
    ) -> Result[PresignedURL]:
        """A GET URL from the first backend that can presign."""

        async def presign(
            backend: AsyncStorageBackend,
        ) -> Success[PresignedURL] | Failure[StorageError]:
            return await backend.presigned_get_url(key, expires_in=expires_in)

        return await self._read(key, presign)

    async def presigned_put_url(
        self, key: str, *, expires_in: float = 3600, content_type: str | None = None
    ) -> Result[PresignedURL]:
        """A PUT URL from the first backend that can presign (the upload reaches that
        backend only)."""

        async def presign(
            backend: AsyncStorageBackend,
        ) -> Success[PresignedURL] | Failure[StorageError]:
            return await backend.presigned_put_url(
                key, expires_in=expires_in, content_type=content_type
            )

        return await self._read(key, presign)

    async def aclose(self) -> None:
        for backend in self._backends:
            await backend.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _seekable(file: object) -> bool:
    seekable = getattr(file, "seekable", None)
    try:
        return bool(seekable()) if callable(seekable) else False
    except (OSError, ValueError):
        return False


class _CountingSink:
    """A writable that counts what went through it (a failover must not write twice)."""

    __slots__ = ("_sink", "written")

    def __init__(self, sink: Writable) -> None:
        self._sink = sink
        self.written = 0

    def write(self, data: bytes, /) -> Any:
        result = self._sink.write(data)
        self.written += len(data)
        return result
