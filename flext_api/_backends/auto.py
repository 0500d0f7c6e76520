"""The async client's default backend: asyncio or trio, whichever runs the calling task.

Job: on each connect, ask sniffio which event loop is running and delegate to the matching
backend (created once, then reused). Streams come straight from that backend, so reads and
writes never pass through here.

Never: import trio or asyncio's backend before a task of that loop asks for a connection
(asyncio users do not pay for trio, blocking-client users for neither), or support a loop it
cannot serve: anything but asyncio and trio fails loudly.
"""

from __future__ import annotations

import ssl
import sys
from typing import TYPE_CHECKING

import sniffio

if TYPE_CHECKING:
    from flext_api._backends.asyncio import AsyncioBackend
    from flext_api._backends.base import AsyncNetworkBackend, AsyncNetworkStream
    from flext_api._backends.trio import TrioBackend
    from flext_api._resolver import Resolver

__all__ = ["AutoBackend", "current_event_loop", "default_async_backend"]


class AutoBackend:
    """Delegates each connect to :class:`AsyncioBackend` or :class:`TrioBackend`."""

    __slots__ = ("_asyncio", "_resolver", "_trio")

    def __init__(self, *, resolver: Resolver | None = None) -> None:
        # Both made on first use: a blocking-client program imports neither event loop.
        self._asyncio: AsyncioBackend | None = None
        self._trio: TrioBackend | None = None
        self._resolver = resolver

    def _current(self) -> AsyncNetworkBackend:
        library = sniffio.current_async_library()
        if library == "asyncio":
            if self._asyncio is None:
                from flext_api._backends.asyncio import AsyncioBackend

                self._asyncio = AsyncioBackend(resolver=self._resolver)
            return self._asyncio
        if library == "trio":
            if self._trio is None:
                from flext_api._backends.trio import TrioBackend

                self._trio = TrioBackend(resolver=self._resolver)
            return self._trio
        msg = f"flext-api runs on asyncio or trio, not on {library!r}"
        raise RuntimeError(msg)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        *,
        timeout: float | None,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> AsyncNetworkStream:
        return await self._current().connect_tcp(
            host, port, timeout=timeout, ssl_context=ssl_context, server_hostname=server_hostname
        )

    async def connect_unix(
        self,
        path: str,
        *,
        timeout: float | None,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> AsyncNetworkStream:
        return await self._current().connect_unix(
            path, timeout=timeout, ssl_context=ssl_context, server_hostname=server_hostname
        )


_default_backend = AutoBackend()


def default_async_backend(resolver: Resolver | None = None) -> AsyncNetworkBackend:
    """The backend the async client uses unless given another: the shared one, or one of its
    own when the client names a ``resolver``."""
    return _default_backend if resolver is None else AutoBackend(resolver=resolver)


def current_event_loop() -> object:
    """The running asyncio loop, or the running trio run's token: what an async client's
    connections belong to. Cheap (no import, no sniffio): it runs on every request."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None:
        loop = asyncio._get_running_loop()
        if loop is not None:
            return loop
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            return trio.lowlevel.current_trio_token()
        except RuntimeError:
            pass
    msg = "flext-api's async client runs inside an asyncio or trio event loop"
    raise RuntimeError(msg)
