"""Bounded concurrency for the parts of an upload: at most ``limit`` jobs in flight.

:class:`AsyncPartPool` runs jobs as tasks of the running event loop (a trio nursery or an
asyncio ``TaskGroup``, whichever is running); :class:`PartPool`, its blocking twin, on a pool
of threads. Both have one shape (enter, ``submit`` a job, leave: every job done) so the
generated blocking backend uses the one where the async backend uses the other.

``submit`` waits while ``limit`` jobs run, so a producer never gets more than ``limit`` parts
ahead of the network. The first failure stops the pool: jobs not started are dropped, the
others are cancelled (async) or finish (threads), and leaving the block raises that failure
itself, never an exception group (a caller maps it to a storage error).
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any, Self, TypeVar

__all__ = ["AsyncPartPool", "PartPool", "off_loop"]

T = TypeVar("T")


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first error in a (nested) group, preferring a real one to a cancellation."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        error = pending.pop(0)
        if isinstance(error, BaseExceptionGroup):
            pending[:0] = list(error.exceptions)
        else:
            leaves.append(error)
    for error in leaves:
        if isinstance(error, Exception):
            return error
    return leaves[0]


class AsyncPartPool:
    """``async with AsyncPartPool(4) as pool: await pool.submit(job)`` (``job`` an async
    callable taking no argument)."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self._limit = limit
        self._group: Any = None
        self._semaphore: Any = None
        self._spawn: Callable[[Callable[[], Awaitable[None]]], None] | None = None

    async def __aenter__(self) -> Self:
        import sniffio

        if sniffio.current_async_library() == "trio":
            import trio

            self._group = trio.open_nursery()
            nursery = await self._group.__aenter__()
            self._semaphore = trio.Semaphore(self._limit)
            self._spawn = nursery.start_soon
        else:
            import asyncio

            self._group = asyncio.TaskGroup()
            tasks = await self._group.__aenter__()
            self._semaphore = asyncio.Semaphore(self._limit)
            self._spawn = lambda job: _discard(tasks.create_task(job()))
        return self

    async def submit(self, job: Callable[[], Awaitable[None]]) -> None:
        """Start ``job`` once fewer than ``limit`` jobs run."""
        assert self._spawn is not None, "use AsyncPartPool in 'async with'"
        await self._semaphore.acquire()

        async def run() -> None:
            try:
                await job()
            finally:
                self._semaphore.release()

        self._spawn(run)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._group.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:
            error = _first(group)
            # Keep the error's own cause (the source's OSError...), not the group.
            raise error from error.__cause__


async def off_loop(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` on a worker thread while the event loop goes on: for CPU work that
    releases the GIL (hashing a part), so the parts in flight hash on several cores instead of
    taking turns on the loop's. Cancelling the caller abandons the result, not the work."""
    import sniffio

    if sniffio.current_async_library() == "trio":
        import trio

        return await trio.to_thread.run_sync(function, *args)
    import asyncio

    return await asyncio.get_running_loop().run_in_executor(None, function, *args)


def _discard(_: object) -> None:
    return None


class PartPool:
    """``with PartPool(4) as pool: pool.submit(job)`` (``job`` a callable taking no
    argument), on ``limit`` threads."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self._slots = threading.BoundedSemaphore(limit)
        self._executor = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="flext-part")
        self._futures: list[Future[None]] = []
        self._failed = threading.Event()

    def __enter__(self) -> Self:
        return self

    def submit(self, job: Callable[[], None]) -> None:
        """Start ``job`` once fewer than ``limit`` jobs run; raises a job's failure as soon
        as one is seen, so a failed upload stops reading its source."""
        self._slots.acquire()
        if self._failed.is_set():
            self._slots.release()
            self._raise_first()

        def run() -> None:
            try:
                job()
            except BaseException:
                self._failed.set()
                raise
            finally:
                self._slots.release()

        self._futures.append(self._executor.submit(run))

    def _raise_first(self) -> None:
        for future in self._futures:
            if future.done() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            for future in self._futures:
                future.cancel()
        self._executor.shutdown(wait=True)
        if exc is None:
            for future in self._futures:
                error = future.exception()
                if error is not None:
                    raise error
