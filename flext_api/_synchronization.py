"""Hand-written sync/async twins of the few primitives the client stack needs.

The ``_async`` code names the ``Async*`` class; the generated ``_sync`` code names the twin
without the prefix. Each pair has the same methods, so the transform only renames.

* ``AsyncThreadLock`` / ``ThreadLock``: guards pool state changes. Those never await, so on an
  event loop there is nothing to guard against and the async twin is a no-op; in threads it is
  a real lock.
* ``AsyncEvent`` / ``Event``: a one-shot wake-up with a timeout, used for pool waiters.

This module must never be used to hold a lock across an await or a blocking read.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING

import sniffio

if TYPE_CHECKING:
    import asyncio

    import trio

__all__ = [
    "AsyncEvent",
    "AsyncLock",
    "AsyncThreadLock",
    "Event",
    "Lock",
    "ThreadLock",
    "async_sleep",
    "sleep",
]

ThreadLock = threading.Lock


class AsyncThreadLock:
    """No-op twin of ``threading.Lock``: on one event loop, code between awaits is atomic."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class AsyncEvent:
    """A one-shot event for asyncio or trio, picked when it is created.

    ``set()`` is synchronous, so pool code can wake a waiter without awaiting.
    """

    __slots__ = ("_future", "_trio_event")

    def __init__(self) -> None:
        self._future: asyncio.Future[None] | None = None
        self._trio_event: trio.Event | None = None
        if sniffio.current_async_library() == "trio":
            import trio

            self._trio_event = trio.Event()
        else:
            import asyncio

            self._future = asyncio.get_running_loop().create_future()

    def set(self) -> None:
        if self._trio_event is not None:
            self._trio_event.set()
        elif self._future is not None and not self._future.done():
            self._future.set_result(None)

    def is_set(self) -> bool:
        if self._trio_event is not None:
            return self._trio_event.is_set()
        return self._future is not None and self._future.done() and not self._future.cancelled()

    async def wait(self, timeout: float | None) -> bool:
        """Wait until set or until ``timeout`` seconds pass; return whether it was set."""
        if self._trio_event is not None:
            import trio

            with trio.move_on_after(float("inf") if timeout is None else max(timeout, 0.0)):
                await self._trio_event.wait()
            # Set and cancelled in the same tick: trio delivers the wake-up and would raise
            # the cancellation at the next checkpoint, after the caller used what it was
            # handed. Raise it here, where the caller can still give it back.
            await trio.lowlevel.checkpoint_if_cancelled()
            return self._trio_event.is_set()
        import asyncio

        future = self._future
        assert future is not None
        if future.done():
            return not future.cancelled()
        # Not asyncio.wait_for: on Python 3.11 it swallows a task.cancel() that arrives just as
        # the event is set (the pool handed this waiter a connection), and the cancelled task
        # would go on to send its request. Awaiting a plain future delivers that cancellation.
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()

        def wake(_: object = None) -> None:
            if not woken.done():
                woken.set_result(None)

        future.add_done_callback(wake)
        timer = None if timeout is None else loop.call_later(max(timeout, 0.0), wake)
        try:
            await woken
        finally:
            future.remove_done_callback(wake)
            if timer is not None:
                timer.cancel()
        return self.is_set()


class Event:
    """Blocking twin of :class:`AsyncEvent`."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None) -> bool:
        return self._event.wait(None if timeout is None else max(timeout, 0.0))


class AsyncLock:
    """A task lock for asyncio or trio, picked on first use (a client may be created outside
    any event loop). Used for single-flight work such as one token refresh for many tasks."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock: asyncio.Lock | trio.Lock | None = None

    def _get(self) -> asyncio.Lock | trio.Lock:
        if self._lock is None:
            if sniffio.current_async_library() == "trio":
                import trio

                self._lock = trio.Lock()
            else:
                import asyncio

                self._lock = asyncio.Lock()
        return self._lock

    async def __aenter__(self) -> None:
        await self._get().acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._get().release()


class Lock:
    """Blocking twin of :class:`AsyncLock`."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        self._lock.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._lock.release()


async def async_sleep(seconds: float) -> None:
    """Sleep on whichever event loop runs this task (retry backoff)."""
    if sniffio.current_async_library() == "trio":
        import trio

        await trio.sleep(seconds)
    else:
        import asyncio

        await asyncio.sleep(seconds)


def sleep(seconds: float) -> None:
    """Blocking twin of :func:`async_sleep`."""
    time.sleep(seconds)
