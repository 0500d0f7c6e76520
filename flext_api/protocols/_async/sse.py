"""The Server-Sent Events client: one request, then events for as long as the server sends them.

``open_event_stream`` (what ``client.sse(...)`` returns) connects, checks the answer and yields
``FlextResult[AsyncEventStream]``: a failure when the first connection fails or the server
answers with something other than ``200 text/event-stream`` (the start of the body is kept on
the error). The stream then iterates :class:`ServerSentEvent` values across reconnections: when
the connection drops it waits the server's ``retry`` (or the caller's default), reconnects with
``Last-Event-ID`` and goes on; a ``204`` answer ends it. Like the body iterators of
``client.stream()``, iterating raises the typed ``FlextApiError`` when it must give up (an
iterator cannot return a result).

Parsing is the sans-IO :class:`flext_api._sansio.sse.SSEDecoder`; this module only moves bytes
and decides when to reconnect. It never holds more than one connection.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any, Final, TypedDict

from flext_api._async.building import NO_JSON, USE_CLIENT_DEFAULT, TimeoutTypes, UseClientDefault
from flext_api._async.middleware.chain import AsyncSleep
from flext_api._async.streaming import AsyncStreamingResponse
from flext_api._exceptions import FlextApiError
from flext_api._headers import Headers, HeaderTypes
from flext_api._result import Failure, Success
from flext_api._sansio.sse import (
    DEFAULT_MAX_EVENT_SIZE,
    ServerSentEvent,
    SSEDecoder,
    SSEError,
    is_event_stream,
    not_event_stream,
)
from flext_api._synchronization import async_sleep
from flext_api._urls import URL, QueryParamTypes

if TYPE_CHECKING:
    from flext_api._async.client import AsyncFlextApiClient

__all__ = ["AsyncEventStream", "EventStreamOptions", "SSEReconnectFailed", "open_event_stream"]

DEFAULT_RETRY_MS: Final = 3000
"""Milliseconds to wait before reconnecting until the server sends ``retry:``."""

_ERROR_BODY_LIMIT: Final = 64 * 1024


class EventStreamOptions(TypedDict, total=False):
    """The keyword arguments of ``client.sse(method, url, ...)``.

    ``params``, ``headers``, ``content``, ``json`` and ``timeout`` are those of
    ``client.stream`` (the body is sent again on each reconnection, so it is bytes or str).
    ``last_event_id`` is sent with the first request. A dropped connection is reopened after
    the server's ``retry`` (else ``retry`` milliseconds) with ``Last-Event-ID``, up to
    ``max_reconnects`` attempts in a row without an event (``reconnect=False``: the drop ends
    the stream); a ``204`` answer ends it. Iterating raises the typed ``FlextApiError`` when it
    must give up: ``SSE_RECONNECT_FAILED``, ``SSE_NOT_EVENT_STREAM``, or
    ``SSE_EVENT_TOO_LARGE`` past ``max_event_size`` bytes. ``sleep`` waits between attempts
    (injectable for tests).
    """

    params: QueryParamTypes | None
    headers: HeaderTypes | None
    content: bytes | str | None
    json: Any
    timeout: TimeoutTypes | UseClientDefault
    last_event_id: str
    reconnect: bool
    max_reconnects: int
    retry: int
    max_event_size: int
    sleep: AsyncSleep


class SSEReconnectFailed(SSEError):
    """The stream dropped and ``max_reconnects`` attempts in a row brought no event back; the
    last attempt's error, if any, is the ``__cause__``."""

    code = "SSE_RECONNECT_FAILED"


class AsyncEventStream:
    """The events of one server-sent event stream, across reconnections.

    ``last_event_id`` is what a reconnection sends as ``Last-Event-ID``; ``retry`` the wait
    before one, in milliseconds; ``reconnects`` how many reconnections succeeded so far.
    """

    __slots__ = (
        "_attempts",
        "_chunks",
        "_client",
        "_content",
        "_decoder",
        "_finished",
        "_headers",
        "_json",
        "_last_error",
        "_max_reconnects",
        "_method",
        "_params",
        "_pending",
        "_reconnect",
        "_sleep",
        "_stack",
        "_timeout",
        "_url",
        "default_retry",
        "reconnects",
    )

    def __init__(
        self,
        client: AsyncFlextApiClient,
        method: str,
        url: str | URL,
        *,
        params: QueryParamTypes | None,
        headers: HeaderTypes | None,
        content: bytes | str | None,
        json: Any,
        timeout: TimeoutTypes | UseClientDefault,
        last_event_id: str,
        reconnect: bool,
        max_reconnects: int,
        retry: int,
        max_event_size: int,
        sleep: AsyncSleep,
    ) -> None:
        if max_reconnects < 0 or retry < 0:
            raise ValueError("max_reconnects and retry (milliseconds) must not be negative")
        self._client = client
        self._method = method
        self._url = url
        self._params = params
        self._headers = Headers(headers)
        self._content = content
        self._json = json
        self._timeout = timeout
        self._reconnect = reconnect
        self._max_reconnects = max_reconnects
        self._sleep = sleep
        self._decoder = SSEDecoder(max_event_size=max_event_size, last_event_id=last_event_id)
        self._pending: deque[ServerSentEvent] = deque()
        self._stack: AsyncExitStack | None = None
        self._chunks: AsyncIterator[bytes] | None = None
        self._finished = False
        self._attempts = 0
        self._last_error: FlextApiError | None = None
        self.default_retry = retry
        self.reconnects = 0

    @property
    def last_event_id(self) -> str:
        return self._decoder.last_event_id

    @property
    def retry(self) -> int:
        server = self._decoder.retry
        return self.default_retry if server is None else server

    def __aiter__(self) -> AsyncEventStream:
        return self

    async def __anext__(self) -> ServerSentEvent:
        pending = self._pending
        while not pending:
            if self._finished:
                raise StopAsyncIteration
            chunks = self._chunks
            if chunks is None:
                await self._reconnect_once()
                continue
            try:
                chunk = await chunks.__anext__()
            except StopAsyncIteration:
                await self._dropped(None)
                continue
            except FlextApiError as error:
                await self._dropped(error)
                continue
            try:
                pending.extend(self._decoder.feed(chunk))
            except SSEError as error:
                # The server would send the same oversized event again: no reconnection.
                await self.aclose()
                error.url = str(self._url)
                raise
            if pending:
                self._attempts = 0
        return pending.popleft()

    async def aclose(self) -> None:
        """Close the connection; the iteration ends."""
        self._finished = True
        await self._close_connection()

    async def _close_connection(self) -> None:
        stack, self._stack, self._chunks = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def _dropped(self, error: FlextApiError | None) -> None:
        await self._close_connection()
        if not self._reconnect:
            self._finished = True
            if error is not None:
                raise error
        self._last_error = error

    async def _reconnect_once(self) -> None:
        if self._attempts >= self._max_reconnects:
            self._finished = True
            last = self._last_error
            raise SSEReconnectFailed(
                f"the event stream from {self._url} dropped and {self._attempts} reconnection "
                "attempt(s) in a row brought no event"
                + (f" (last: {last.code}: {last})" if last is not None else "")
                + "; check the server, or raise max_reconnects",
                url=str(self._url),
            ) from last
        self._attempts += 1
        await self._sleep(self.retry / 1000)
        result = await self.connect()
        if isinstance(result, Failure):
            error = result.error
            if isinstance(error, SSEError):
                # The server answered, but not with events: reconnecting cannot help.
                self._finished = True
                raise error
            self._last_error = error
        elif not self._finished:
            self.reconnects += 1

    async def connect(self) -> Success[None] | Failure[FlextApiError]:
        """Open one connection and check its answer (used once by ``open_event_stream``,
        then by reconnections)."""
        headers = self._headers.copy()
        headers.setdefault("accept", "text/event-stream")
        headers.setdefault("cache-control", "no-store")
        if self._decoder.last_event_id:
            headers["last-event-id"] = self._decoder.last_event_id
        stack = AsyncExitStack()
        result = await stack.enter_async_context(
            self._client.stream(
                self._method,
                self._url,
                params=self._params,
                headers=headers,
                content=self._content,
                json=self._json,
                timeout=self._timeout,
            )
        )
        if isinstance(result, Failure):
            await stack.aclose()
            return result
        response = result.value
        if response.status_code == 204:
            # "Stop reconnecting": the standard's way for a server to end a stream.
            await stack.aclose()
            self._finished = True
            return Success(None)
        content_type = response.headers.get("content-type")
        if response.status_code != 200 or not is_event_stream(content_type):
            body = await _start_of_body(response)
            await stack.aclose()
            return Failure(
                not_event_stream(
                    response.status_code, content_type, body, str(response.request.url)
                )
            )
        self._stack = stack
        self._chunks = response.aiter_bytes()
        return Success(None)


async def _start_of_body(response: AsyncStreamingResponse) -> bytes:
    """Up to 64 KiB of an unexpected answer's body, for the error (never the whole of it)."""
    body = bytearray()
    try:
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) >= _ERROR_BODY_LIMIT:
                break
    except FlextApiError:
        pass  # what arrived before the failure is still worth showing
    return bytes(body[:_ERROR_BODY_LIMIT])


@asynccontextmanager
async def open_event_stream(
    client: AsyncFlextApiClient,
    method: str,
    url: str | URL,
    *,
    params: QueryParamTypes | None = None,
    headers: HeaderTypes | None = None,
    content: bytes | str | None = None,
    json: Any = NO_JSON,
    timeout: TimeoutTypes | UseClientDefault = USE_CLIENT_DEFAULT,
    last_event_id: str = "",
    reconnect: bool = True,
    max_reconnects: int = 5,
    retry: int = DEFAULT_RETRY_MS,
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
    sleep: AsyncSleep = async_sleep,
) -> AsyncIterator[Success[AsyncEventStream] | Failure[FlextApiError]]:
    """See :meth:`AsyncFlextApiClient.sse`."""
    stream = AsyncEventStream(
        client,
        method,
        url,
        params=params,
        headers=headers,
        content=content,
        json=json,
        timeout=timeout,
        last_event_id=last_event_id,
        reconnect=reconnect,
        max_reconnects=max_reconnects,
        retry=retry,
        max_event_size=max_event_size,
        sleep=sleep,
    )
    try:
        result = await stream.connect()
        if isinstance(result, Failure):
            yield result
        else:
            yield Success(stream)
    finally:
        await stream.aclose()
