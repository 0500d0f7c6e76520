"""Server-Sent Events from a FastAPI route: ``return EventSource(events())``.

``EventSource`` is a pure ASGI response. It sends each item of an async iterable as one event
(:class:`ServerSentEvent`, or a ``str`` as a ``message`` event's data), a comment line when
nothing was sent for ``keepalive`` seconds (so proxies and load balancers keep an idle stream
open), and stops as soon as the client disconnects: the ``http.disconnect`` message ends the
response, the event iterator is closed (its ``finally`` blocks run, which is where a producer
releases what it held) and ``disconnected`` becomes ``True``.

It must never keep iterating the producer after the client left, and never let a client's
disconnect surface as a server error.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterable, AsyncIterator, Mapping

import anyio
from anyio.streams.memory import MemoryObjectSendStream
from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from flext_api._sansio.sse import ServerSentEvent, encode_event

__all__ = ["EventSource"]

_KEEPALIVE = b": keep-alive\n\n"


def _encode(item: ServerSentEvent | str) -> bytes:
    if isinstance(item, str):
        return encode_event(item)
    return encode_event(
        item.data,
        event=None if item.event == "message" else item.event,
        id=item.id or None,
        retry=item.retry,
    )


class EventSource(Response):
    """A ``text/event-stream`` response fed by an async iterable of events.

    ``keepalive`` (seconds; ``None`` for never) is the longest silence before a ``:``
    comment is sent; ``retry`` (milliseconds) is sent first, as the reconnection time clients
    should use. ``disconnected`` tells, after the response, whether the client left first.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        events: AsyncIterable[ServerSentEvent | str],
        *,
        keepalive: float | None = 15.0,
        retry: int | None = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        if keepalive is not None and keepalive <= 0:
            raise ValueError("keepalive is a positive number of seconds, or None")
        self.events = events
        self.keepalive = keepalive
        self.retry = retry
        self.disconnected = False
        self.status_code = status_code
        self.background = background
        self.init_headers(
            {
                # Proxies must pass each event on as it is written.
                "cache-control": "no-store",
                "x-accel-buffering": "no",
                **(headers or {}),
            }
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        sender, receiver = anyio.create_memory_object_stream[bytes](0)
        timeout = math.inf if self.keepalive is None else self.keepalive
        async with anyio.create_task_group() as group:
            group.start_soon(self._watch_disconnect, receive, group.cancel_scope)
            # The producer runs in a task of its own so that a keep-alive never interrupts it
            # (cancelling a generator's ``__anext__`` for a timeout would break it).
            group.start_soon(self._produce, sender)
            with receiver:
                if self.retry is not None:
                    await self._send(send, encode_event(retry=self.retry), group.cancel_scope)
                while not self.disconnected:
                    chunk = _KEEPALIVE
                    with anyio.move_on_after(timeout):
                        try:
                            chunk = await receiver.receive()
                        except anyio.EndOfStream:
                            break
                    await self._send(send, chunk, group.cancel_scope)
            group.cancel_scope.cancel()
        if self.disconnected:
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        if self.background is not None:
            await self.background()

    async def _watch_disconnect(self, receive: Receive, scope: anyio.CancelScope) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
                scope.cancel()
                return

    async def _produce(self, sender: MemoryObjectSendStream[bytes]) -> None:
        iterator: AsyncIterator[ServerSentEvent | str] = aiter(self.events)
        try:
            with sender:
                async for item in iterator:
                    await sender.send(_encode(item))
        finally:
            # Cancelled while parked at a ``yield``: close the generator so its ``finally``
            # blocks run now, not whenever the garbage collector gets to it.
            close = getattr(iterator, "aclose", None)
            if close is not None:
                with anyio.CancelScope(shield=True):
                    await close()

    async def _send(self, send: Send, chunk: bytes, scope: anyio.CancelScope) -> None:
        try:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except OSError:
            # The connection broke before the server told us about the disconnect.
            self.disconnected = True
            scope.cancel()
