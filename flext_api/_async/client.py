"""The client users call: build the request once, run it through the pool, return a FlextResult.

This is the edge where exceptions become values: every ``FlextApiError`` raised below (bad
URL, bad header, timeout, TLS, protocol) comes back as a ``Failure``; programming errors
(``TypeError``/``ValueError`` for impossible arguments) and cancellation propagate untouched.

Never add per-request work here that a user did not ask for: the cost of this module is paid on
every call, so defaults are prepared once in ``__init__``.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import Any, Literal

from typing_extensions import Unpack

from flext_api._async.building import (
    NO_JSON,
    USE_CLIENT_DEFAULT,
    AsyncRequestBuilder,
    TimeoutTypes,
    UseClientDefault,
)
from flext_api._async.layers import AuthTypes, EventHooks, client_layers
from flext_api._async.middleware import (
    AsyncCookieMiddleware,
    AsyncMiddleware,
    build_chain,
)
from flext_api._async.pool import AsyncConnectionPool
from flext_api._async.routing import AsyncPoolRouter
from flext_api._async.streaming import AsyncStreamingResponse
from flext_api._backends.auto import default_async_backend  # unasync: remove

# unasync: sync-only: from flext_api._backends.sync import default_sync_backend
from flext_api._backends.base import AsyncNetworkBackend
from flext_api._content import FilesTypes, RequestContent
from flext_api._exceptions import (
    FlextApiError,
)
from flext_api._headers import Headers, HeaderTypes
from flext_api._models import (
    DEFAULT_LIMITS,
    DEFAULT_TIMEOUT,
    Limits,
    Request,
    Response,
    Trace,
)
from flext_api._resolver import Resolver
from flext_api._result import Failure, Success
from flext_api._sansio.circuit import CircuitBreaker
from flext_api._sansio.cookies import CookieJar
from flext_api._sansio.http11_wire import HTTP1Parser, wire_factory
from flext_api._sansio.multipart import Progress
from flext_api._sansio.pool_stats import PoolStats
from flext_api._sansio.proxy import ProxyTypes
from flext_api._sansio.retry import RetryPolicy
from flext_api._ssl import create_ssl_context
from flext_api._urls import URL, QueryParamTypes
from flext_api.protocols._async.sse import AsyncEventStream, EventStreamOptions, open_event_stream
from flext_api.protocols._async.websocket import AsyncWebSocket
from flext_api.protocols._async.websocket_handshake import open_websocket
from flext_api.protocols._websocket_common import WebSocketOptions

__all__ = ["USE_CLIENT_DEFAULT", "AsyncFlextApiClient"]

VerifyTypes = bool | str | os.PathLike[str] | ssl.SSLContext
CertTypes = str | tuple[str, str] | tuple[str, str, str]


class AsyncFlextApiClient:
    """An HTTP client. The blocking client (threads may share one) and the async one (asyncio
    and trio: ``await`` each call, ``async with`` the client) have the same API.

    Every request method returns ``FlextResult[Response]``; nothing raises on I/O. Use it as a
    context manager (or call ``close()`` / ``aclose()``) so every socket is closed::

        with FlextApiClient(base_url="https://api.example.com") as client:
            match client.get("/users/1"):
                case Success(response):
                    print(response.json())
                case Failure(error):
                    print(error.code, error)

    ``base_url`` is a prefix: ``get("/users")`` on ``base_url="https://h/v1"`` requests
    ``https://h/v1/users``. An absolute URL passed to a call is used as is.

    ``http2=True`` offers HTTP/2 to https servers through ALPN (HTTP/1.1 when the server does
    not pick it); many requests then share one connection, a stream each, and the pool opens
    another connection only when the server's stream limit is reached. ``"prior-knowledge"``
    also speaks HTTP/2 in clear text (h2c) to http:// URLs, for servers known to accept it.
    HTTP/1.1 is the default; ``http1_parser`` ("auto", "h11", "httptools") picks its parser.

    ``resolver=`` replaces the system's name lookup (:class:`StaticResolver` pins names to
    addresses); hosts with several addresses are tried in Happy Eyeballs order (RFC 8305).

    Proxies: ``proxy="http://user:pass@proxy:3128"`` (or a :class:`Proxy`) sends every request
    through one proxy; ``proxies={"https://": ..., "https://internal.example": None}`` chooses
    per origin (the most specific pattern wins; ``None`` goes direct). http:// URLs are
    forwarded by the proxy; https:// URLs go through a ``CONNECT`` tunnel with TLS to the
    origin itself. With neither, ``trust_env=True`` reads ``HTTP_PROXY``, ``HTTPS_PROXY``,
    ``ALL_PROXY`` and ``NO_PROXY`` (either case) once, here; ``trust_env=False`` ignores them.
    Each proxy has a pool of its own, with the same ``limits``.
    """

    def __init__(
        self,
        *,
        base_url: str | URL = "",
        headers: HeaderTypes | None = None,
        params: QueryParamTypes | None = None,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        limits: Limits = DEFAULT_LIMITS,
        verify: VerifyTypes = True,
        cert: CertTypes | None = None,
        uds: str | None = None,
        http2: bool | Literal["prior-knowledge"] = False,
        trust_env: bool = True,
        proxy: ProxyTypes | None = None,
        proxies: Mapping[str, ProxyTypes | None] | None = None,
        auth: AuthTypes | None = None,
        middleware: Sequence[AsyncMiddleware] = (),
        follow_redirects: bool = False,
        max_redirects: int = 20,
        retry: RetryPolicy | None = None,
        circuit_breaker: CircuitBreaker | None = None,
        cookies: CookieJar | bool = True,
        event_hooks: EventHooks | None = None,
        max_decoded_size: int | None = None,
        trace: Trace | None = None,
        backend: AsyncNetworkBackend | None = None,
        resolver: Resolver | None = None,
        http1_parser: HTTP1Parser | None = None,
    ) -> None:
        if not isinstance(limits, Limits):
            raise TypeError("limits= takes a flext_api.Limits(...)")
        if resolver is not None:
            if backend is not None:
                raise ValueError("give resolver= to your backend=, not to the client")
            backend = default_async_backend(resolver)
        if http2 not in (True, False, "prior-knowledge"):
            raise ValueError(
                f"http2={http2!r}: use True (HTTP/2 over TLS via ALPN, HTTP/1.1 fallback), "
                "'prior-knowledge' (also h2c on http:// URLs) or False"
            )
        self._builder = AsyncRequestBuilder(
            base_url=base_url,
            headers=headers,
            params=params,
            timeout=timeout,
            # HTTP/1.1 only: the HTTP/2 connection sends bodies without waiting for 100 Continue.
            expect_continue=http2 is False,
        )
        # Bound once: building a request costs no extra call per request.
        self._build_request = self._builder.build
        self._max_decoded_size = max_decoded_size
        self._middleware = client_layers(
            middleware,
            auth=auth,
            send=self._send,
            follow_redirects=follow_redirects,
            max_redirects=max_redirects,
            retry=retry,
            circuit_breaker=circuit_breaker,
            event_hooks=event_hooks,
        )
        self._cookies: AsyncCookieMiddleware | None = None
        if cookies is not False:
            self._cookies = AsyncCookieMiddleware(
                cookies if isinstance(cookies, CookieJar) else None
            )
        layers = self._layers(())
        self._buffered_chain = build_chain(layers, self._send) if layers else None
        self._stream_chain = build_chain(layers, self._open_stream)
        ssl_context = create_ssl_context(
            verify,
            cert,
            trust_env=trust_env,
            alpn=("h2", "http/1.1") if http2 else ("http/1.1",),
        )
        if uds is not None and (proxy is not None or proxies is not None):
            raise ValueError("uds= sends every request to a Unix socket; it takes no proxy")
        self._pool = AsyncConnectionPool(
            ssl_context=ssl_context,
            limits=limits,
            backend=backend,
            uds=uds,
            http2=http2,
            trace=trace,
            wire=wire_factory(http1_parser),
        )
        self._router = AsyncPoolRouter(
            self._pool,
            proxy=proxy,
            proxies=proxies,
            trust_env=trust_env and uds is None,
            environ=os.environ,
            make_proxy_tls=lambda: create_ssl_context(verify, cert, trust_env=trust_env),
            ssl_context=ssl_context,
            limits=limits,
            backend=backend,
            http2=http2,
            trace=trace,
        )
        # Direct (the common case): the client sends on its own pool without asking the router.
        self._proxied = self._router.routes is not None

    # -- context management --------------------------------------------------------------

    async def __aenter__(self) -> AsyncFlextApiClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every connection. Requests still waiting fail with ``POOL_CLOSED``."""
        await self._router.aclose()

    @property
    def headers(self) -> Headers:
        """Headers sent with every request (a copy; pass ``headers=`` to change them)."""
        return self._builder.headers.copy()

    @property
    def cookies(self) -> CookieJar | None:
        """The client's cookie jar (``None`` when created with ``cookies=False``)."""
        return self._cookies.jar if self._cookies is not None else None

    def _layers(self, per_call: Sequence[AsyncMiddleware]) -> list[AsyncMiddleware]:
        """The chain for one call: the client's layers, the call's, then the cookie jar
        innermost (so every hop and every retry sends and stores cookies)."""
        layers = [*self._middleware, *per_call]
        if self._cookies is not None:
            layers.append(self._cookies)
        return layers

    @property
    def pool_stats(self) -> PoolStats:
        """Connections open, idle, in use and waiting, overall and per origin (through a
        proxy: per tunneled origin, and per ``("http", proxy host, proxy port)`` for the
        connections that forward http requests)."""
        return self._router.stats

    # -- building ------------------------------------------------------------------------
    # -- sending ---------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        url: str | URL,
        *,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes | None = None,
        content: RequestContent | None = None,
        data: Mapping[str, Any] | None = None,
        files: FilesTypes | None = None,
        json: Any = NO_JSON,
        timeout: TimeoutTypes | UseClientDefault = USE_CLIENT_DEFAULT,
        middleware: Sequence[AsyncMiddleware] = (),
        upload_progress: Progress | None = None,
        download_progress: Progress | None = None,
    ) -> Success[Response] | Failure[FlextApiError]:
        """Send one request and read the whole response.

        ``content`` takes bytes, str, a binary file or an (async) iterator of bytes (streamed,
        chunked when the length is unknown); ``data`` a form mapping; ``json`` any value
        msgspec can encode. ``timeout`` overrides the client's for this call; ``middleware``
        runs inside the client's own for this call only.
        """
        try:
            request = self._build_request(
                method,
                url,
                params=params,
                headers=headers,
                content=content,
                data=data,
                files=files,
                json=json,
                timeout=timeout,
                upload_progress=upload_progress,
            )
        except FlextApiError as error:
            return Failure(error)
        if download_progress is not None:
            return await self._read_with_progress(request, middleware, download_progress)
        if middleware:
            return await build_chain(self._layers(middleware), self._send)(request)
        if self._buffered_chain is not None:
            return await self._buffered_chain(request)
        return await self._send(request)

    async def _read_with_progress(
        self, request: Request, middleware: Sequence[AsyncMiddleware], progress: Progress
    ) -> Success[Response] | Failure[FlextApiError]:
        """Buffer a response through the streaming path, reporting each chunk."""
        chain = build_chain(self._layers(middleware), self._open_stream)
        started = time.perf_counter()
        result = await chain(request)
        if isinstance(result, Failure):
            return result
        streamed = result.value
        try:
            total = streamed.headers.get("content-length")
            expected = int(total) if total is not None and total.isdigit() else None
            body = bytearray()
            try:
                async for chunk in streamed.aiter_bytes():
                    body += chunk
                    progress(len(body), expected)
            except FlextApiError as error:
                return Failure(error)
        finally:
            await streamed.aclose()
        response = Response(
            streamed.status_code,
            streamed.headers,
            bytes(body),
            request=streamed.request,
            http_version=streamed.http_version,
            reason_phrase=streamed.reason_phrase,
            elapsed=time.perf_counter() - started,
        )
        response.history = streamed.history
        response.trailers = streamed.trailers
        return Success(response)

    async def _send(self, request: Request) -> Success[Response] | Failure[FlextApiError]:
        """The innermost handler: one exchange through the pool, errors as values."""
        try:
            pool = self._router.pool_for(request) if self._proxied else self._pool
            # The body's Content-Encoding is undone inside the exchange, as it is read: a body
            # that will not decode ends it like any failed exchange (the connection is not
            # reused, the HTTP/2 stream is reset).
            response = await pool.round_trip(request, self._max_decoded_size)
        except FlextApiError as error:
            if error.url is None:
                error.url = str(request.url)
            return Failure(error)
        return Success(response)

    async def _open_stream(
        self, request: Request
    ) -> Success[AsyncStreamingResponse] | Failure[FlextApiError]:
        pool = self._router.pool_for(request) if self._proxied else self._pool
        try:
            connection, head = await pool.open_stream(request)
        except FlextApiError as error:
            if error.url is None:
                error.url = str(request.url)
            return Failure(error)
        return Success(
            AsyncStreamingResponse(
                head,
                request=request,
                connection=connection,
                pool=pool,
                max_decoded_size=self._max_decoded_size,
            )
        )

    # Read by middleware.chain.streams(): a layer answering by itself builds a streamed response.
    _open_stream.__dict__["streams"] = True

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str | URL,
        *,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes | None = None,
        content: RequestContent | None = None,
        data: Mapping[str, Any] | None = None,
        files: FilesTypes | None = None,
        json: Any = NO_JSON,
        timeout: TimeoutTypes | UseClientDefault = USE_CLIENT_DEFAULT,
        middleware: Sequence[AsyncMiddleware] = (),
        upload_progress: Progress | None = None,
    ) -> AsyncIterator[Success[AsyncStreamingResponse] | Failure[FlextApiError]]:
        """Send a request and yield the response as soon as its headers arrive.

        ::

            with client.stream("GET", "/big") as result:  # async: ``async with``
                if result.is_success:
                    for chunk in result.value.iter_bytes():  # async: ``aiter_bytes()``
                        ...

        The body is read inside the block; leaving it closes the response (and its
        connection, if the body was not read to the end).
        """
        try:
            request = self._build_request(
                method,
                url,
                params=params,
                headers=headers,
                content=content,
                data=data,
                files=files,
                json=json,
                timeout=timeout,
                upload_progress=upload_progress,
            )
        except FlextApiError as error:
            yield Failure(error)
            return
        chain = (
            build_chain(self._layers(middleware), self._open_stream)
            if middleware
            else self._stream_chain
        )
        result = await chain(request)
        try:
            yield result
        finally:
            if isinstance(result, Success):
                await result.value.aclose()

    def sse(
        self, method: str, url: str | URL, **options: Unpack[EventStreamOptions]
    ) -> AbstractAsyncContextManager[Success[AsyncEventStream] | Failure[FlextApiError]]:
        """Open a Server-Sent Events stream: a context manager yielding
        ``FlextResult[EventStream]`` (iterate it for ``ServerSentEvent`` values); dropped
        connections are reopened with ``Last-Event-ID``. See docs/sse.md and
        :class:`flext_api.protocols.sse.EventStreamOptions` for the options and error codes.
        """
        return open_event_stream(self, method, url, **options)

    def websocket(
        self,
        url: str | URL,
        *,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes | None = None,
        subprotocols: Sequence[str] = (),
        options: WebSocketOptions | None = None,
        timeout: TimeoutTypes | UseClientDefault = USE_CLIENT_DEFAULT,
        middleware: Sequence[AsyncMiddleware] = (),
    ) -> AbstractAsyncContextManager[Success[AsyncWebSocket] | Failure[FlextApiError]]:
        """Open a WebSocket (``ws://``, ``wss://``, or a path under an http(s) ``base_url``)
        and yield ``FlextResult[WebSocket]``; the block's end closes it. The handshake goes
        through the client's middleware, cookies, TLS settings and proxies like a request.
        See docs/websocket.md."""
        return open_websocket(
            self._build_request,
            self._layers(middleware),
            self._router,
            url,
            params=params,
            headers=headers,
            subprotocols=subprotocols,
            options=options,
            timeout=timeout,
        )

    async def get(
        self,
        url: str | URL,
        *,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes | None = None,
        timeout: TimeoutTypes | UseClientDefault = USE_CLIENT_DEFAULT,
        middleware: Sequence[AsyncMiddleware] = (),
    ) -> Success[Response] | Failure[FlextApiError]:
        """``request("GET", url, ...)``."""
        return await self.request(
            "GET", url, params=params, headers=headers, timeout=timeout, middleware=middleware
        )

    async def head(
        self,
        url: str | URL,
        *,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes | None = None,
        timeout: TimeoutTypes | UseClientDefault = USE_CLIENT_DEFAULT,
        middleware: Sequence[AsyncMiddleware] = (),
    ) -> Success[Response] | Failure[FlextApiError]:
        """``request("HEAD", url, ...)``."""
        return await self.request(
            "HEAD", url, params=params, headers=headers, timeout=timeout, middleware=middleware
        )

    async def options(
        self,
        url: str | URL,
        *,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes | None = None,
        timeout: TimeoutTypes | UseClientDefault = USE_CLIENT_DEFAULT,
        middleware: Sequence[AsyncMiddleware] = (),
    ) -> Success[Response] | Failure[FlextApiError]:
        """``request("OPTIONS", url, ...)``."""
        return await self.request(
            "OPTIONS", url, params=params, headers=headers, timeout=timeout, middleware=middleware
        )

    async def delete(
        self,
        url: str | URL,
        *,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes | None = None,
        timeout: TimeoutTypes | UseClientDefault = USE_CLIENT_DEFAULT,
        middleware: Sequence[AsyncMiddleware] = (),
    ) -> Success[Response] | Failure[FlextApiError]:
        """``request("DELETE", url, ...)``."""
        return await self.request(
            "DELETE", url, params=params, headers=headers, timeout=timeout, middleware=middleware
        )

    async def post(
        self,
        url: str | URL,
        *,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes | None = None,
        content: RequestContent | None = None,
        data: Mapping[str, Any] | None = None,
        files: FilesTypes | None = None,
        json: Any = NO_JSON,
        timeout: TimeoutTypes | UseClientDefault = USE_CLIENT_DEFAULT,
        middleware: Sequence[AsyncMiddleware] = (),
    ) -> Success[Response] | Failure[FlextApiError]:
        """``request("POST", url, ...)``."""
        return await self.request(
            "POST",
            url,
            params=params,
            headers=headers,
            content=content,
            data=data,
            files=files,
            json=json,
            timeout=timeout,
            middleware=middleware,
        )

    async def put(
        self,
        url: str | URL,
        *,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes | None = None,
        content: RequestContent | None = None,
        data: Mapping[str, Any] | None = None,
        files: FilesTypes | None = None,
        json: Any = NO_JSON,
        timeout: TimeoutTypes | UseClientDefault = USE_CLIENT_DEFAULT,
        middleware: Sequence[AsyncMiddleware] = (),
    ) -> Success[Response] | Failure[FlextApiError]:
        """``request("PUT", url, ...)``."""
        return await self.request(
            "PUT",
            url,
            params=params,
            headers=headers,
            content=content,
            data=data,
            files=files,
            json=json,
            timeout=timeout,
            middleware=middleware,
        )

    async def patch(
        self,
        url: str | URL,
        *,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes | None = None,
        content: RequestContent | None = None,
        data: Mapping[str, Any] | None = None,
        files: FilesTypes | None = None,
        json: Any = NO_JSON,
        timeout: TimeoutTypes | UseClientDefault = USE_CLIENT_DEFAULT,
        middleware: Sequence[AsyncMiddleware] = (),
    ) -> Success[Response] | Failure[FlextApiError]:
        """``request("PATCH", url, ...)``."""
        return await self.request(
            "PATCH",
            url,
            params=params,
            headers=headers,
            content=content,
            data=data,
            files=files,
            json=json,
            timeout=timeout,
            middleware=middleware,
        )
