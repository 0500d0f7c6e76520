"""The WebSocket client's I/O: the handshake through the client's middleware, then frames.

The handshake is an HTTP/1.1 request like any other (auth, cookies and hooks see it); its
innermost handler opens a dedicated connection (never a pooled one: the socket is taken over
by the WebSocket protocol) through the same backend, TLS context and proxy (a ``CONNECT``
tunnel, for ``ws://`` too). Frames are wsproto's; this module adds message reassembly and
limits, timeouts, a lazy heartbeat and a close handshake with a deadline.

Periodic work (pings, the pong deadline) is done lazily, per DESIGN.md: every ``send`` and
``receive`` checks whether a ping is due, and a ``receive`` never waits past the next ping or
the pong deadline. Nothing runs in the background, so nothing can outlive the connection.

Errors are values at the public methods (``send``, ``receive``, ``ping``, ``aclose``);
iteration raises the typed error, as the streaming iterators do. Cancellation propagates and
leaves the socket closed (``close()`` of a stream is synchronous).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Final

import h11
from wsproto.connection import CLIENT, Connection, ConnectionState
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    TextMessage,
)
from wsproto.extensions import Extension, PerMessageDeflate
from wsproto.frame_protocol import CloseReason
from wsproto.handshake import client_extensions_handshake
from wsproto.utilities import RemoteProtocolError as WSRemoteProtocolError

from flext_api._async.building import NO_JSON, TimeoutTypes, UseClientDefault
from flext_api._async.middleware import AsyncMiddleware, build_chain
from flext_api._async.proxy import _open_tunnel
from flext_api._async.routing import AsyncPoolRouter
from flext_api._backends.base import AsyncNetworkStream
from flext_api._compat import h11_header_fields
from flext_api._exceptions import (
    FlextApiError,
    ReadTimeout,
    RemoteProtocolError,
    TimeoutException,
    TransportError,
)
from flext_api._headers import Headers, HeaderTypes
from flext_api._models import Request, Response
from flext_api._result import Failure, Success
from flext_api._synchronization import AsyncThreadLock
from flext_api._urls import URL, QueryParamTypes
from flext_api.protocols._websocket_common import (
    Message,
    WebSocketClosed,
    WebSocketError,
    WebSocketHandshakeError,
    WebSocketHandshakeInvalid,
    WebSocketMessageTooBig,
    WebSocketOptions,
    WebSocketPongTimeout,
    WebSocketProtocolError,
    WebSocketUnauthorized,
    check_accept,
    handshake_fields,
    new_key,
    normal_close,
)

__all__ = ["AsyncWebSocket", "open_websocket"]

READ_SIZE: Final = 64 * 1024
# A refused handshake's body is kept for the error, up to this much.
MAX_REJECT_BODY: Final = 64 * 1024
DEFAULT_OPTIONS: Final = WebSocketOptions()

Result = Success[Message] | Failure[FlextApiError]
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
        try:
            self._check_open()
            await self._heartbeat()
            self._check_open()
            await self._write(self._ws.send(event))
        except WebSocketError as error:
            return Failure(error)
        except TransportError as error:
            return Failure(self._lost(error))
        return Success(None)

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
            return Success(await self._receive(deadline, wait))
        except WebSocketError as error:
            return Failure(error)
        except ReadTimeout as error:
            return Failure(error)
        except TransportError as error:
            return Failure(self._lost(error))
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


# -- opening --------------------------------------------------------------------------------


class _Handshake:
    """The innermost handler of the handshake's middleware chain: one dedicated connection
    per attempt; the last attempt's stream is kept when the server answered 101."""

    def __init__(
        self,
        router: AsyncPoolRouter,
        *,
        subprotocols: tuple[str, ...],
        options: WebSocketOptions,
    ) -> None:
        self._router = router
        self._subprotocols = subprotocols
        self._options = options
        self.stream: AsyncNetworkStream | None = None
        self.key = b""
        self.trailing = b""
        self.extensions: list[PerMessageDeflate] = []

    def drop(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None

    async def __call__(self, request: Request) -> Success[Response] | Failure[FlextApiError]:
        self.drop()  # a retried or re-authenticated attempt: the previous socket is done
        try:
            return Success(await self._attempt(request))
        except FlextApiError as error:
            if error.url is None:
                error.url = str(request.url)
            return Failure(error)

    async def _connect(self, request: Request) -> AsyncNetworkStream:
        pool = self._router.pool_for(request)
        scheme, host, port = request.url.origin
        tls = pool._ssl_context if scheme == "https" else None
        backend = pool._backend
        timeout = request.limit(request.timeout.connect)
        proxy = pool._proxy
        if proxy is None:
            if pool._uds is not None:
                return await backend.connect_unix(
                    pool._uds, timeout=timeout, ssl_context=tls, server_hostname=host
                )
            return await backend.connect_tcp(
                host,
                port,
                timeout=timeout,
                ssl_context=tls,
                server_hostname=host if tls is not None else None,
            )
        # A WebSocket always tunnels through a proxy (ws:// too): forwarding cannot upgrade.
        deadline = None if timeout is None else time.monotonic() + timeout
        proxy_scheme, proxy_host, proxy_port = proxy.origin
        to_proxy = pool._proxy_ssl_context if proxy_scheme == "https" else None
        stream = await backend.connect_tcp(
            proxy_host,
            proxy_port,
            timeout=timeout,
            ssl_context=to_proxy,
            server_hostname=proxy_host if to_proxy is not None else None,
        )
        try:
            authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            await _open_tunnel(stream, proxy, authority, deadline)
            if tls is None:
                return stream
            left = None if deadline is None else max(deadline - time.monotonic(), 0.001)
            return await stream.start_tls(tls, host, left)
        except BaseException:
            stream.close()
            raise

    async def _attempt(self, request: Request) -> Response:
        started = time.perf_counter()
        stream = await self._connect(request)
        try:
            response = await self._exchange(stream, request, started)
        except BaseException:
            stream.close()
            raise
        if response.status_code == 101:
            self.stream = stream
        else:
            stream.close()
        return response

    async def _exchange(
        self, stream: AsyncNetworkStream, request: Request, started: float
    ) -> Response:
        url = request.url
        self.key = new_key()
        self.extensions = list(self._options.extensions())
        fields = handshake_fields(
            request.headers._list,
            host=url.host_header,
            key=self.key,
            subprotocols=self._subprotocols,
            extensions=self.extensions,
        )
        h = h11.Connection(h11.CLIENT)
        data = h.send(h11.Request(method="GET", target=url.raw_path, headers=fields))
        data += h.send(h11.EndOfMessage())
        await stream.write(data, request.limit(request.timeout.write))
        read = request.limit(request.timeout.read)
        body = b""
        head: h11.Response | h11.InformationalResponse | None = None
        while True:
            try:
                event = h.next_event()
            except h11.RemoteProtocolError as exc:
                raise RemoteProtocolError(
                    f"{url.host} sent an invalid answer to the WebSocket handshake ({exc}); "
                    "check that the URL names a WebSocket endpoint",
                    url=str(url),
                ) from exc
            if event is h11.NEED_DATA:
                chunk = await stream.read(READ_SIZE, read)
                h.receive_data(chunk)
                continue
            if type(event) is h11.InformationalResponse and event.status_code == 101:
                head = event
                self.trailing = h.trailing_data[0]
                break
            if type(event) is h11.InformationalResponse:
                continue
            if type(event) is h11.Response:
                head = event
                continue
            if type(event) is h11.Data:
                if len(body) < MAX_REJECT_BODY:
                    body += bytes(event.data)[: MAX_REJECT_BODY - len(body)]
                continue
            break  # EndOfMessage, or the peer closed (h11 raised above for a bad close)
        if head is None:
            raise RemoteProtocolError(
                f"{url.host} closed the connection without answering the WebSocket "
                "handshake; check the server's logs",
                url=str(url),
            )
        return Response(
            head.status_code,
            Headers._from_fields(h11_header_fields(head.headers)),
            body,
            request=request,
            reason_phrase=head.reason.decode("latin-1"),
            elapsed=time.perf_counter() - started,
        )


def _handshake_failure(response: Response, url: str) -> WebSocketHandshakeError:
    status = response.status_code
    host = response.request.url.host
    body = response.content[:200].decode("utf-8", "replace")
    detail = f": {body!r}" if body else ""
    if status in (401, 403):
        return WebSocketUnauthorized(
            f"{host} refused the WebSocket handshake with {status} "
            f"{response.reason_phrase}{detail}; check the credentials (auth=) or the token",
            status_code=status,
            response=response,
            url=url,
        )
    return WebSocketHandshakeError(
        f"{host} answered the WebSocket handshake with {status} {response.reason_phrase} "
        f"instead of 101 Switching Protocols{detail}; check the URL and that the server "
        "serves WebSocket there",
        status_code=status,
        response=response,
        url=url,
    )


async def _establish(
    handshake: _Handshake, result: Success[Response] | Failure[FlextApiError], url: str
) -> Success[AsyncWebSocket] | Failure[FlextApiError]:
    if isinstance(result, Failure):
        return result
    response = result.value
    stream = handshake.stream
    if response.status_code != 101 or stream is None:
        handshake.drop()
        return Failure(_handshake_failure(response, url))
    host = response.request.url.host
    problem = check_accept(response.headers, handshake.key, handshake._subprotocols, host)
    accepted = response.headers.get_list("sec-websocket-extensions")
    extensions: list[Extension] = []
    if problem is None and accepted:
        try:
            extensions = client_extensions_handshake(accepted, handshake.extensions)
        except WSRemoteProtocolError as exc:
            problem = f"{host} accepted an extension that was not offered ({exc})"
    if problem is not None:
        handshake.drop()
        return Failure(
            WebSocketHandshakeInvalid(problem, status_code=101, response=response, url=url)
        )
    connection = Connection(CLIENT, extensions, handshake.trailing)
    handshake.stream = None
    return Success(
        AsyncWebSocket(
            stream,
            connection,
            response=response,
            options=handshake._options,
            subprotocol=response.headers.get("sec-websocket-protocol"),
            extensions=", ".join(accepted),
        )
    )


def http_url(url: str | URL) -> str | URL:
    """``ws://``/``wss://`` as the ``http://``/``https://`` URL the handshake requests (auth,
    cookies and proxies match on it, as browsers do)."""
    text = str(url)
    lowered = text[:6].lower()
    if lowered.startswith("ws://"):
        return "http://" + text[5:]
    if lowered.startswith("wss://"):
        return "https://" + text[6:]
    return url


@asynccontextmanager
async def open_websocket(
    build: Callable[..., Request],
    layers: Sequence[AsyncMiddleware],
    router: AsyncPoolRouter,
    url: str | URL,
    *,
    params: QueryParamTypes | None = None,
    headers: HeaderTypes | None = None,
    subprotocols: Sequence[str] = (),
    options: WebSocketOptions | None = None,
    timeout: TimeoutTypes | UseClientDefault,
) -> AsyncIterator[Success[AsyncWebSocket] | Failure[FlextApiError]]:
    """Run the handshake through ``layers`` and yield the open WebSocket (or why not); the
    connection is closed (close handshake, bounded by ``close_timeout``) when the block ends."""
    if isinstance(subprotocols, str):
        raise TypeError("subprotocols= takes a sequence of names, e.g. ['chat.v1']")
    options = DEFAULT_OPTIONS if options is None else options
    handshake = _Handshake(router, subprotocols=tuple(subprotocols), options=options)
    try:
        request = build(
            "GET",
            http_url(url),
            params=params,
            headers=headers,
            content=None,
            data=None,
            files=None,
            json=NO_JSON,
            timeout=timeout,
            upload_progress=None,
        )
    except FlextApiError as error:
        yield Failure(error)
        return
    try:
        outcome = await build_chain(list(layers), handshake)(request)
        result = await _establish(handshake, outcome, str(request.url))
    except BaseException:
        handshake.drop()
        raise
    try:
        yield result
    finally:
        if isinstance(result, Success):
            websocket = result.value
            try:
                await websocket.aclose()
            finally:
                websocket._stream.close()
