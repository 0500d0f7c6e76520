"""An open WebSocket connection: messages, limits, a lazy heartbeat, the close handshake.

Frames are wsproto's; this module adds message reassembly and limits, timeouts, a lazy
heartbeat and a close handshake with a deadline (opening is websocket_handshake.py's job).

Periodic work (pings, the pong deadline) is done lazily, per DESIGN.md: every ``send`` and
``receive`` checks whether a ping is due, and a ``receive`` never waits past the next ping or
the pong deadline. Nothing runs in the background, so nothing can outlive the connection.

Errors are values at the public methods (``send``, ``receive``, ``ping``, ``aclose``);
iteration raises the typed error, as the streaming iterators do. Cancellation propagates and
leaves the socket closed (``close()`` of a stream is synchronous).
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Final, TypeAlias

from wsproto.connection import ConnectionState
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    TextMessage,
)
from wsproto.frame_protocol import CloseReason

from flext_api._backends.base import AsyncNetworkStream
from flext_api._exceptions import (
    FlextApiError,
    ReadTimeout,
    TimeoutException,
    TransportError,
)
from flext_api._models import Response
from flext_api._result import Failure, Success
from flext_api._synchronization import AsyncThreadLock, async_sleep
from flext_api.protocols._websocket_common import (
    RECONNECT_CODES,
    Message,
    WebSocketClosed,
    WebSocketError,
    WebSocketMessageTooBig,
    WebSocketOptions,
    WebSocketPongTimeout,
    WebSocketProtocolError,
    normal_close,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable  # unasync: remove

    from wsproto.connection import Connection

__all__ = ["READ_SIZE", "AsyncWebSocket"]

READ_SIZE: Final = 64 * 1024

Result = Success[Message] | Failure[FlextApiError]
Opened: TypeAlias = "Success[AsyncWebSocket] | Failure[FlextApiError]"
# Spelled as strings: ``Awaitable`` exists only for type checkers (the sync twin has none).
Reopen: TypeAlias = "Callable[[], Awaitable[Opened]]"  # unasync: remove
# unasync: sync-only: Reopen: TypeAlias = "Callable[[], Opened]"
Done = Success[None] | Failure[FlextApiError]


class AsyncWebSocket:
    """An open WebSocket connection.

    ``send(message)`` sends a text (``str``) or binary (``bytes``) message; ``receive()``
    returns the next whole message (fragments reassembled); both return a FlextResult.
    ``for message in ws`` (async: ``async for``) yields messages until the peer closes
    normally (1000/1001) and raises the typed :class:`WebSocketError` otherwise. Close with
    ``close()``/``aclose()`` (the context manager that opened it does so on exit).

    ``response`` is the handshake's 101 response; ``subprotocol`` the one the server chose;
    ``extensions`` what was negotiated (``"permessage-deflate; ..."`` or empty).

    One task (or thread) receives at a time; sends may come from another task meanwhile.
    """

    def __init__(
        self,
        stream: AsyncNetworkStream,
        connection: Connection,
        *,
        response: Response,
        options: WebSocketOptions,
        subprotocol: str | None,
        extensions: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._ws = connection
        self.response = response
        self.subprotocol = subprotocol
        self.extensions = extensions
        self._options = options
        self._url = str(response.request.url)
        self._host = response.request.url.host
        self._clock = clock
        self._lock = AsyncThreadLock()
        self._outbox: list[bytes] = []
        self._writing = False
        self._receiving = False
        self._messages: deque[Message] = deque()
        self._parts: list[str] | list[bytes] = []
        self._size = 0
        self._last_ping = clock()
        self._pong_deadline: float | None = None
        self._ping_payload = b""
        self._pings = 0
        self._failure: WebSocketError | None = None
        # Frames that arrived with the 101 response are in wsproto already: parse them first.
        self._parse_first = True
        self.close_code: int | None = None
        self.close_reason = ""
        # Set by the opener when ``options.reconnect`` is on: runs the handshake again.
        self._reopen: Reopen | None = None
        self._random: Callable[[], float] = random.random
        self._closing = False
        self.reconnects = 0

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<AsyncWebSocket {self._url} {state}>"

    @property
    def closed(self) -> bool:
        return self._failure is not None

    # -- sending ---------------------------------------------------------------------------

    async def send(self, message: Message) -> Done:
        """Send one text (``str``) or binary (``bytes``) message."""
        if isinstance(message, str):
            event: TextMessage | BytesMessage = TextMessage(data=message)
        elif isinstance(message, bytes | bytearray | memoryview):
            event = BytesMessage(data=bytes(message))
        else:
            raise TypeError(f"send() takes str or bytes, not {type(message).__name__}")
        while True:
            try:
                self._check_open()
                await self._heartbeat()
                self._check_open()
                await self._write(self._ws.send(event))
            except WebSocketError as error:
                lost: WebSocketError = error
            except TransportError as error:
                lost = self._lost(error)
            else:
                return Success(None)
            failure = await self._recover(lost)
            if failure is not None:
                return Failure(failure)

    async def ping(self, payload: bytes = b"") -> Done:
        """Send a ping now (the heartbeat sends its own at ``ping_interval``)."""
        try:
            self._check_open()
            await self._write(self._ws.send(Ping(payload=payload)))
        except WebSocketError as error:
            return Failure(error)
        except TransportError as error:
            return Failure(self._lost(error))
        return Success(None)

    async def _write(self, data: bytes) -> None:
        """Write ``data`` after anything queued; writes never overlap (a receive that answers a
        ping while another task sends queues its bytes for the writer in progress)."""
        with self._lock:
            self._outbox.append(data)
            if self._writing:
                return
            self._writing = True
        try:
            while True:
                with self._lock:
                    if not self._outbox:
                        self._writing = False
                        return
                    pending = b"".join(self._outbox)
                    self._outbox.clear()
                await self._stream.write(pending, self.response.request.timeout.write)
        except BaseException:
            with self._lock:
                self._writing = False
            raise

    # -- receiving -------------------------------------------------------------------------

    async def receive(self, timeout: float | None = None) -> Result:
        """The next whole message; ``timeout`` seconds at most (``None``: the client's read
        timeout). A timeout is a ``READ_TIMEOUT`` failure and leaves the connection open."""
        if self._receiving:
            raise RuntimeError("another task is already receiving on this WebSocket")
        self._receiving = True
        try:
            wait = self.response.request.timeout.read if timeout is None else timeout
            deadline = None if wait is None else self._clock() + wait
            while True:
                try:
                    return Success(await self._receive(deadline, wait))
                except ReadTimeout as error:
                    return Failure(error)
                except WebSocketError as error:
                    lost: WebSocketError = error
                except TransportError as error:
                    lost = self._lost(error)
                failure = await self._recover(lost)
                if failure is not None:
                    return Failure(failure)
        finally:
            self._receiving = False

    def __aiter__(self) -> AsyncIterator[Message]:
        return self

    async def __anext__(self) -> Message:
        """The next message; stops at a normal close, raises the typed error otherwise."""
        result = await self.receive()
        if isinstance(result, Success):
            return result.value
        error = result.error
        if isinstance(error, WebSocketClosed) and normal_close(error.close_code):
            raise StopAsyncIteration
        raise error

    async def _receive(self, deadline: float | None, wait: float | None) -> Message:
        messages = self._messages
        if self._parse_first:
            self._parse_first = False
            await self._handle_events()
        while not messages:
            self._check_open()
            await self._heartbeat()
            self._check_open()
            now = self._clock()
            limit = self._next_heartbeat(now)
            if deadline is not None:
                limit = deadline if limit is None else min(limit, deadline)
            try:
                data = await self._stream.read(
                    READ_SIZE, None if limit is None else max(limit - now, 0.001)
                )
            except ReadTimeout:
                if deadline is not None and self._clock() >= deadline:
                    raise ReadTimeout(
                        f"no WebSocket message from {self._host} within {wait:g} s; the "
                        "connection stays open: receive again, or raise the timeout",
                        url=self._url,
                    ) from None
                continue  # a heartbeat is due: the loop's check does it
            self._ws.receive_data(data or None)
            await self._handle_events()
        return messages.popleft()

    async def _handle_events(self) -> None:
        options = self._options
        limit = options.max_message_size
        for event in self._ws.events():
            if isinstance(event, TextMessage | BytesMessage):
                self._size += len(event.data)
                if limit is not None and self._size > limit:
                    await self._fail(
                        WebSocketMessageTooBig,
                        CloseReason.MESSAGE_TOO_BIG,
                        f"{self._host} sent a message larger than max_message_size "
                        f"({limit} bytes); raise it in WebSocketOptions if such messages "
                        "are expected",
                    )
                    return
                self._parts.append(event.data)  # type: ignore[arg-type]
                if event.message_finished:
                    parts, self._parts, self._size = self._parts, [], 0
                    empty: Message = "" if isinstance(event, TextMessage) else b""
                    self._messages.append(parts[0] if len(parts) == 1 else empty.join(parts))  # type: ignore[arg-type]
            elif isinstance(event, Ping):
                await self._write(self._ws.send(event.response()))
            elif isinstance(event, Pong):
                if event.payload == self._ping_payload:
                    self._pong_deadline = None
            elif isinstance(event, CloseConnection):
                await self._closed_by_peer(event)

    async def _closed_by_peer(self, event: CloseConnection) -> None:
        state = self._ws.state
        code, reason = event.code, event.reason or ""
        if state is ConnectionState.REMOTE_CLOSING:
            # The peer started the close: answer it (echoing its code), then drop the socket.
            answer = 1000 if code in (1005, 1006) else code
            try:
                await self._write(self._ws.send(CloseConnection(code=answer)))
            finally:
                self._stream.close()
            self._set_closed(code, reason, f"{self._host} closed the WebSocket")
        elif state is ConnectionState.CLOSED:
            self._stream.close()
            if code == CloseReason.ABNORMAL_CLOSURE:
                self._set_closed(
                    code,
                    reason,
                    f"the connection to {self._host} dropped without a WebSocket close frame",
                )
            else:
                self._set_closed(code, reason, f"{self._host} answered the close")
        else:
            # wsproto found a protocol violation (its close code says which): fail the
            # connection, as RFC 6455 section 7.1.7 asks.
            kind = WebSocketMessageTooBig if code == 1009 else WebSocketProtocolError
            await self._fail(kind, code, f"{self._host} broke the WebSocket protocol: {reason}")

    async def _fail(self, kind: type[WebSocketError], code: int, message: str) -> None:
        """Send a close frame with ``code`` (best effort) and drop the socket; the error is
        what every later call reports (messages received before it are delivered first)."""
        error = kind(message, close_code=code, close_reason="", url=self._url)
        self._failure = error
        self.close_code = code
        try:
            if self._ws.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
                await self._write(self._ws.send(CloseConnection(code=code)))
        except TransportError:
            pass  # the peer is gone: the error already says what went wrong
        finally:
            self._stream.close()

    def _set_closed(self, code: int | None, reason: str, what: str) -> None:
        self.close_code, self.close_reason = code, reason
        detail = f" with code {code}" + (f" ({reason})" if reason else "") if code else ""
        self._failure = WebSocketClosed(
            f"{what}{detail}; open a new connection to go on",
            close_code=code,
            close_reason=reason,
            url=self._url,
        )

    def _check_open(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _lost(self, error: TransportError) -> WebSocketError:
        """The network failed under the WebSocket: the connection is over."""
        self._stream.close()
        if self._failure is None:
            self._failure = WebSocketClosed(
                f"the connection to {self._host} failed: {error}",
                close_code=CloseReason.ABNORMAL_CLOSURE,
                url=self._url,
            )
            self._failure.__cause__ = error
            self.close_code = CloseReason.ABNORMAL_CLOSURE
        return self._failure

    # -- reconnection ----------------------------------------------------------------------

    async def _recover(self, lost: WebSocketError) -> FlextApiError | None:
        """Open a new connection in place of a lost one, if ``reconnect`` allows: ``None``
        when it worked (the caller goes on), else the error to report."""
        backoff, reopen = self._options.reconnect, self._reopen
        if backoff is None or reopen is None or lost.close_code not in RECONNECT_CODES:
            return lost
        if self._closing:
            return lost  # closed by this side: never come back
        failure: FlextApiError = lost
        for attempt in range(1, backoff.max_attempts + 1):
            await async_sleep(backoff.delay(attempt, self._random))
            result = await reopen()
            if isinstance(result, Success):
                self._adopt(result.value)
                return None
            failure = result.error
        failure.__cause__ = lost
        return failure

    def _adopt(self, fresh: AsyncWebSocket) -> None:
        """Take over a new connection's state (this object stays the one the caller holds)."""
        self._stream.close()
        self._stream, self._ws = fresh._stream, fresh._ws
        self.response, self.subprotocol = fresh.response, fresh.subprotocol
        self.extensions = fresh.extensions
        self._outbox, self._writing = [], False
        self._messages.clear()
        self._parts, self._size = [], 0
        self._last_ping, self._pong_deadline = self._clock(), None
        self._failure, self._parse_first = None, True
        self.close_code, self.close_reason = None, ""
        self.reconnects += 1

    # -- heartbeat -------------------------------------------------------------------------

    def _next_heartbeat(self, now: float) -> float | None:
        if self._pong_deadline is not None:
            return self._pong_deadline
        interval = self._options.ping_interval
        return None if interval is None else self._last_ping + interval

    async def _heartbeat(self) -> None:
        """Send the ping that is due, or fail the connection whose pong is overdue."""
        now = self._clock()
        deadline = self._pong_deadline
        if deadline is not None:
            if now >= deadline:
                await self._fail(
                    WebSocketPongTimeout,
                    CloseReason.INTERNAL_ERROR,
                    f"{self._host} did not answer a ping within "
                    f"{self._options.ping_timeout:g} s; the peer or the network path is "
                    "down: reconnect",
                )
            return
        interval = self._options.ping_interval
        if interval is None or now < self._last_ping + interval:
            return
        self._pings += 1
        self._ping_payload = self._pings.to_bytes(4, "big")
        self._last_ping = now
        timeout = self._options.ping_timeout
        self._pong_deadline = None if timeout is None else now + timeout
        await self._write(self._ws.send(Ping(payload=self._ping_payload)))

    # -- closing ---------------------------------------------------------------------------

    async def aclose(self, code: int = 1000, reason: str = "") -> Done:
        """Close the connection: send a close frame, wait up to ``close_timeout`` for the
        peer's, then drop the socket whatever happened (a silent peer cannot hang this)."""
        self._closing = True
        if self._failure is not None:
            self._stream.close()
            return Success(None)
        deadline = self._clock() + self._options.close_timeout
        try:
            await self._write(self._ws.send(CloseConnection(code=code, reason=reason or None)))
            while self._ws.state is not ConnectionState.CLOSED:
                left = deadline - self._clock()
                if left <= 0:
                    break
                data = await self._stream.read(READ_SIZE, left)
                self._ws.receive_data(data or None)
                for event in self._ws.events():
                    if isinstance(event, Ping):
                        pass  # no answer while closing: the close frame was already sent
        except (TimeoutException, TransportError):
            pass  # the close deadline passed or the peer went away: drop the socket anyway
        finally:
            self._stream.close()
        self._set_closed(code, reason, "the WebSocket was closed by this side")
        return Success(None)
