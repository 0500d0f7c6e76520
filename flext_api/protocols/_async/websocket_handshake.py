"""Opening a WebSocket: the handshake through the client's middleware, on a connection of
its own.

The handshake is an HTTP/1.1 request like any other (auth, cookies and hooks see it; a 401
can be retried by an auth layer); its innermost handler opens a dedicated connection (never a
pooled one: the socket is taken over by the WebSocket protocol) through the same backend, TLS
context and proxy (a ``CONNECT`` tunnel, for ``ws://`` too), and keeps it when the answer is
101. A refused or invalid handshake becomes a failure that keeps the response.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Final

import h11
from wsproto.connection import CLIENT, Connection
from wsproto.extensions import Extension, PerMessageDeflate
from wsproto.handshake import client_extensions_handshake
from wsproto.utilities import RemoteProtocolError as WSRemoteProtocolError

from flext_api._async.building import NO_JSON, TimeoutTypes, UseClientDefault
from flext_api._async.middleware import AsyncMiddleware, build_chain
from flext_api._async.routing import AsyncPoolRouter
from flext_api._backends.base import AsyncNetworkStream
from flext_api._compat import h11_header_fields
from flext_api._exceptions import (
    FlextApiError,
    RemoteProtocolError,
)
from flext_api._headers import Headers, HeaderTypes
from flext_api._models import Request, Response
from flext_api._result import Failure, Success
from flext_api._urls import URL, QueryParamTypes
from flext_api.protocols._async.websocket import READ_SIZE, AsyncWebSocket
from flext_api.protocols._websocket_common import (
    WebSocketHandshakeError,
    WebSocketHandshakeInvalid,
    WebSocketOptions,
    WebSocketUnauthorized,
    check_accept,
    handshake_fields,
    new_key,
)

__all__ = ["http_url", "open_websocket"]

# A refused handshake's body is kept for the error, up to this much.
MAX_REJECT_BODY: Final = 64 * 1024
DEFAULT_OPTIONS: Final = WebSocketOptions()


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
        # A WebSocket always tunnels through a proxy (ws:// too): forwarding cannot upgrade.
        pool = self._router.pool_for(request)
        timeout = request.limit(request.timeout.connect)
        return await pool.connect(request.url.origin, timeout, tunnel=True)

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
    chosen = DEFAULT_OPTIONS if options is None else options
    protocols = tuple(subprotocols)

    async def handshake_once() -> Success[AsyncWebSocket] | Failure[FlextApiError]:
        handshake = _Handshake(router, subprotocols=protocols, options=chosen)
        try:
            # Built per attempt: a reconnection gets a fresh total-timeout budget.
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
            return Failure(error)
        try:
            outcome = await build_chain(list(layers), handshake)(request)
            return await _establish(handshake, outcome, str(request.url))
        except BaseException:
            handshake.drop()
            raise

    result = await handshake_once()
    if isinstance(result, Success) and chosen.reconnect is not None:
        result.value._reopen = handshake_once
    try:
        yield result
    finally:
        if isinstance(result, Success):
            websocket = result.value
            try:
                await websocket.aclose()
            finally:
                websocket._stream.close()
