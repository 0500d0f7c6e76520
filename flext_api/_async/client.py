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
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Final, Literal

from flext_api._async.middleware import (
    AsyncApiKeyMiddleware,
    AsyncCircuitBreakerMiddleware,
    AsyncCookieMiddleware,
    AsyncDigestAuthMiddleware,
    AsyncErrorTransformer,
    AsyncHeaderAuthMiddleware,
    AsyncMiddleware,
    AsyncOAuth2Middleware,
    AsyncRedirectMiddleware,
    AsyncRequestInterceptor,
    AsyncResponseProcessor,
    AsyncRetryMiddleware,
    build_chain,
)
from flext_api._async.pool import AsyncConnectionPool
from flext_api._async.streaming import AsyncStreamingResponse
from flext_api._backends.base import AsyncNetworkBackend
from flext_api._content import FilesTypes, RequestContent, encode_request

# unasync: sync-only: from flext_api._content import reject_async_body
from flext_api._exceptions import (
    FlextApiError,
    InvalidHeader,
    InvalidMethod,
    InvalidURL,
    UnsupportedScheme,
)
from flext_api._headers import Headers, HeaderTypes
from flext_api._models import (
    DEFAULT_LIMITS,
    DEFAULT_TIMEOUT,
    Limits,
    Request,
    Response,
    Timeout,
    Trace,
)
from flext_api._request_context import REQUEST_ID_HEADER, request_id_var
from flext_api._result import Failure, Success
from flext_api._sansio.auth import ApiKeyAuth, BasicAuth, BearerAuth, DigestAuth, OAuth2Flow
from flext_api._sansio.circuit import CircuitBreaker
from flext_api._sansio.cookies import CookieJar
from flext_api._sansio.decoding import make_decoder, supported_encodings
from flext_api._sansio.multipart import Progress
from flext_api._sansio.pool_stats import OriginStats, PoolStats
from flext_api._sansio.proxy import Proxy, ProxyRouter, ProxyTypes, build_router
from flext_api._sansio.retry import RetryPolicy
from flext_api._ssl import create_ssl_context
from flext_api._urls import URL, QueryParamTypes

__all__ = ["AsyncFlextApiClient"]

USER_AGENT: Final = b"flext-api/0.1.0"
# What this installation can decode: gzip and deflate always, br and zstd when their packages
# are importable (announcing an encoding we cannot undo would hand users compressed bytes).
ACCEPT_ENCODING: Final = ", ".join(
    name for name in ("gzip", "deflate", "br", "zstd") if name in supported_encodings()
).encode("ascii")

_KNOWN_METHODS: Final = frozenset(
    {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT"}
)
_TOKEN_CHARS: Final = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")


class _UseClientDefault:
    """Sentinel: "use the client's setting" (``None`` means "no limit" for timeouts)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "USE_CLIENT_DEFAULT"


USE_CLIENT_DEFAULT: Final = _UseClientDefault()
_NO_JSON: Final[Any] = object()

TimeoutTypes = Timeout | float | None
VerifyTypes = bool | str | os.PathLike[str] | ssl.SSLContext
CertTypes = str | tuple[str, str] | tuple[str, str, str]


def _check_method(method: str) -> str:
    if method in _KNOWN_METHODS:
        return method
    if not isinstance(method, str):
        raise TypeError(f"method must be a str such as 'GET', not {type(method).__name__}")
    upper = method.upper()
    if upper in _KNOWN_METHODS:
        return upper
    if not upper or not _TOKEN_CHARS.issuperset(upper):
        raise InvalidMethod(
            f"{method!r} is not a valid HTTP method; use a token such as 'GET' or 'POST'"
        )
    return upper


AuthTypes = (
    tuple[str, str]
    | BasicAuth
    | BearerAuth
    | ApiKeyAuth
    | DigestAuth
    | OAuth2Flow
    | AsyncMiddleware
)
"""What ``auth=`` takes; a ``(username, password)`` tuple means Basic."""

EventHooks = Mapping[str, Sequence[Callable[..., object]]]
"""``{"request": [fn(request)], "response": [fn(response)], "error": [fn(error)]}``."""


def _standard_layers(
    middleware: Sequence[AsyncMiddleware],
    *,
    redirects: AsyncRedirectMiddleware | None,
    retry: RetryPolicy | None,
    circuit_breaker: CircuitBreaker | None,
    event_hooks: EventHooks | None,
) -> list[AsyncMiddleware]:
    """The client's chain, outermost first: event hooks see the call as the user made it,
    then the user's middleware, then redirects (each hop runs everything below), then retries
    around the circuit breaker (each attempt is counted by the breaker, and an open circuit
    stops the retries at once). The cookie jar is added innermost by ``_layers``."""
    layers: list[AsyncMiddleware] = []
    if event_hooks:
        unknown = set(event_hooks) - {"request", "response", "error"}
        if unknown:
            raise ValueError(
                f"unknown event hook kinds {sorted(unknown)}; use 'request', 'response' or 'error'"
            )
        layers.extend(
            AsyncRequestInterceptor(_observer(hook)) for hook in event_hooks.get("request", ())
        )
        layers.extend(
            AsyncResponseProcessor(_observer(hook)) for hook in event_hooks.get("response", ())
        )
        layers.extend(
            AsyncErrorTransformer(_error_observer(hook)) for hook in event_hooks.get("error", ())
        )
    layers.extend(middleware)
    if redirects is not None:
        layers.append(redirects)
    if retry is not None:
        layers.append(AsyncRetryMiddleware(retry))
    if circuit_breaker is not None:
        layers.append(AsyncCircuitBreakerMiddleware(circuit_breaker))
    return layers


def _observer(hook: Callable[..., object]) -> Callable[[Any], None]:
    def observe(item: Any) -> None:
        hook(item)

    return observe


def _error_observer(hook: Callable[..., object]) -> Callable[[FlextApiError], FlextApiError]:
    def observe(error: FlextApiError) -> FlextApiError:
        hook(error)
        return error

    return observe


def _decode(content: bytes, content_encoding: str, max_size: int | None) -> bytes:
    """Undo a buffered body's Content-Encoding (bomb-limited; errors are DECODE_ERROR or
    DECOMPRESSION_LIMIT)."""
    decoder = make_decoder(content_encoding, max_size=max_size)
    if decoder.is_identity:
        return content
    return decoder.decode(content) + decoder.flush()


EXPECT_CONTINUE_BYTES: Final = 1024 * 1024
"""Streamed bodies from this size up (or of unknown size) ask ``Expect: 100-continue``."""


def _large(framing: list[tuple[bytes, bytes]]) -> bool:
    for name, value in framing:
        if name == b"Content-Length":
            return int(value) >= EXPECT_CONTINUE_BYTES
    return True  # chunked: unknown, maybe large


def _check_framing(fields: list[tuple[bytes, bytes, bytes]]) -> None:
    """Framing headers set by hand must be ones HTTP/1.1 can honour (h11 trusts ours)."""
    for _, lower, value in fields:
        if lower == b"content-length" and not value.isdigit():
            raise InvalidHeader(
                f"Content-Length {value!r} is not a number of bytes; leave it out and let the "
                "client compute it from the body"
            )
        if lower == b"transfer-encoding" and value.lower() != b"chunked":
            raise InvalidHeader(
                f"Transfer-Encoding {value!r} is not supported; only 'chunked' is (leave it "
                "out and the client frames the body itself)"
            )


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
    HTTP/1.1 is the default.

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
    ) -> None:
        if not isinstance(limits, Limits):
            raise TypeError("limits= takes a flext_api.Limits(...)")
        # HTTP/1.1 only: the HTTP/2 connection sends bodies without waiting for 100 Continue.
        self._expect_continue = http2 is False
        if http2 not in (True, False, "prior-knowledge"):
            raise ValueError(
                f"http2={http2!r}: use True (HTTP/2 over TLS via ALPN, HTTP/1.1 fallback), "
                "'prior-knowledge' (also h2c on http:// URLs) or False"
            )
        self._base = URL(base_url) if base_url else None
        if self._base is not None and self._base.query:
            raise ValueError("base_url must not carry a query string; pass params= instead")
        self._base_prefix = str(self._base).rstrip("/") if self._base is not None else ""
        self._timeout = Timeout.coerce(timeout)
        self._params = params
        self._max_decoded_size = max_decoded_size
        default_headers = Headers(
            [
                (b"User-Agent", USER_AGENT),
                (b"Accept", b"*/*"),
                (b"Accept-Encoding", ACCEPT_ENCODING),
            ]
        )
        if headers is not None:
            default_headers.update(Headers(headers))
        self._headers = default_headers
        self._default_fields = list(default_headers._list)
        _check_framing(self._default_fields)
        auth_layer = self._auth_layer(auth)
        sensitive = (
            (auth.sensitive_header,)
            if isinstance(auth, ApiKeyAuth) and auth.sensitive_header
            else ()
        )
        self._middleware = _standard_layers(
            [*middleware, auth_layer] if auth_layer is not None else middleware,
            redirects=AsyncRedirectMiddleware(
                max_redirects=max_redirects, sensitive_headers=sensitive
            )
            if follow_redirects
            else None,
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
        self._pool = AsyncConnectionPool(
            ssl_context=ssl_context,
            limits=limits,
            backend=backend,
            uds=uds,
            http2=http2,
            trace=trace,
        )
        if uds is not None and (proxy is not None or proxies is not None):
            raise ValueError("uds= sends every request to a Unix socket; it takes no proxy")
        self._proxy_router: ProxyRouter | None = build_router(
            proxy=proxy, proxies=proxies, trust_env=trust_env and uds is None, environ=os.environ
        )
        self._proxy_pools: dict[Proxy, AsyncConnectionPool] = {}
        if self._proxy_router is not None:
            proxy_tls = None
            if any(each.url.scheme == "https" for each in self._proxy_router.proxies):
                # The proxy itself is spoken to in HTTP/1.1, whatever http2= says.
                proxy_tls = create_ssl_context(verify, cert, trust_env=trust_env)
            for each in self._proxy_router.proxies:
                self._proxy_pools[each] = AsyncConnectionPool(
                    ssl_context=ssl_context,
                    limits=limits,
                    backend=backend,
                    http2=http2,
                    proxy=each,
                    proxy_ssl_context=proxy_tls,
                    trace=trace,
                )

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
        await self._pool.aclose()
        for pool in self._proxy_pools.values():
            await pool.aclose()

    @property
    def headers(self) -> Headers:
        """Headers sent with every request (a copy; pass ``headers=`` to change them)."""
        return self._headers.copy()

    def _auth_layer(self, auth: AuthTypes | None) -> AsyncMiddleware | None:
        if auth is None:
            return None
        if isinstance(auth, tuple):
            return AsyncHeaderAuthMiddleware(BasicAuth(*auth))
        if isinstance(auth, BasicAuth | BearerAuth):
            return AsyncHeaderAuthMiddleware(auth)
        if isinstance(auth, ApiKeyAuth):
            return AsyncApiKeyMiddleware(auth)
        if isinstance(auth, DigestAuth):
            return AsyncDigestAuthMiddleware(auth)
        if isinstance(auth, OAuth2Flow):
            return AsyncOAuth2Middleware(auth, self._send)
        if hasattr(auth, "handle"):
            return auth
        raise TypeError(
            "auth= takes (username, password), BasicAuth, BearerAuth, ApiKeyAuth, DigestAuth, "
            f"OAuth2Flow or a middleware, not {type(auth).__name__}"
        )

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
        stats = self._pool.stats
        for pool in self._proxy_pools.values():
            more = pool.stats
            origins = dict(stats.origins)
            for origin, counts in more.origins.items():
                seen = origins.get(origin)
                origins[origin] = (
                    counts
                    if seen is None
                    else OriginStats(
                        seen.connections + counts.connections,
                        seen.idle + counts.idle,
                        in_use=seen.in_use + counts.in_use,
                        opening=seen.opening + counts.opening,
                    )
                )
            stats = PoolStats(
                stats.connections + more.connections,
                stats.idle + more.idle,
                stats.waiters + more.waiters,
                origins,
                in_use=stats.in_use + more.in_use,
                opening=stats.opening + more.opening,
            )
        return stats

    def _proxy_pool(self, request: Request) -> AsyncConnectionPool:
        """The pool for a request when proxies are configured (direct: the client's own)."""
        assert self._proxy_router is not None
        proxy = self._proxy_router.select(request.url.origin)
        return self._pool if proxy is None else self._proxy_pools[proxy]

    # -- building ------------------------------------------------------------------------

    def _merge_url(self, url: str | URL, params: QueryParamTypes | None) -> URL:
        if isinstance(url, URL):
            merged = url if url.is_absolute or self._base is None else self._base.join(url)
        elif self._base is not None and "://" not in url:
            merged = URL(self._base_prefix + "/" + url.lstrip("/") if url else self._base_prefix)
        else:
            merged = URL(url)
        if merged.scheme not in ("http", "https"):
            if not merged.scheme:
                raise InvalidURL(
                    f"{str(url)!r} has no scheme; pass an absolute URL such as "
                    "'https://host/path' or set base_url= on the client",
                    url=str(url),
                )
            raise UnsupportedScheme(
                f"{merged.scheme!r} URLs are not supported by the HTTP client; "
                "use http:// or https://",
                url=str(url),
            )
        if not merged.host and self._base is None:
            raise InvalidURL(f"{str(url)!r} has no host", url=str(url))
        if self._params is not None:
            merged = merged.copy_merge_params(self._params)
        if params is not None:
            merged = merged.copy_merge_params(params)
        return merged

    def _build_request(
        self,
        method: str,
        url: str | URL,
        *,
        params: QueryParamTypes | None,
        headers: HeaderTypes | None,
        content: RequestContent | None,
        data: Mapping[str, Any] | None,
        files: FilesTypes | None,
        json: Any,
        timeout: TimeoutTypes | _UseClientDefault,
        upload_progress: Progress | None,
    ) -> Request:
        method = _check_method(method)
        target = self._merge_url(url, params)
        framing, body, stream = encode_request(
            content=content,
            data=data,
            json=json,
            has_json=json is not _NO_JSON,
            files=files,
            upload_progress=upload_progress,
        )
        # unasync: sync-only: reject_async_body(stream)
        # Fields as (name, lowercase name, value) triples, the form Headers and h11 store.
        fields = [(b"Host", b"host", target.host_header)]
        request_id = request_id_var.get()
        if headers is None:
            fields += self._default_fields
            fields += [(name, name.lower(), value) for name, value in framing]
        else:
            extra = headers if isinstance(headers, Headers) else Headers(headers)
            given = extra._list
            overridden = {lower for _, lower, _ in given}
            if b"host" in overridden:
                fields.clear()
            fields += [field for field in self._default_fields if field[1] not in overridden]
            fields += given
            fields += [
                (name, name.lower(), value)
                for name, value in framing
                if name.lower() not in overridden
            ]
            _check_framing(given)
            if b"x-request-id" in overridden:
                request_id = None
        if request_id is not None:
            fields.append((REQUEST_ID_HEADER, b"x-request-id", request_id.encode("ascii")))
        if stream is not None and self._expect_continue and _large(framing):
            # Let the server refuse a large upload (401, 413) before it is sent.
            fields.append((b"Expect", b"expect", b"100-continue"))
        request_headers = Headers._from_fields(fields)
        return Request(
            method,
            target,
            request_headers,
            content=body,
            stream=stream,
            timeout=self._timeout
            if isinstance(timeout, _UseClientDefault)
            else Timeout.coerce(timeout),
        )

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
        json: Any = _NO_JSON,
        timeout: TimeoutTypes | _UseClientDefault = USE_CLIENT_DEFAULT,
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
            pool = self._pool if self._proxy_router is None else self._proxy_pool(request)
            response = await pool.round_trip(request)
            encoding = response.headers.get("content-encoding")
            if encoding is not None and response.content:
                response.content = _decode(response.content, encoding, self._max_decoded_size)
        except FlextApiError as error:
            if error.url is None:
                error.url = str(request.url)
            return Failure(error)
        return Success(response)

    async def _open_stream(
        self, request: Request
    ) -> Success[AsyncStreamingResponse] | Failure[FlextApiError]:
        pool = self._pool if self._proxy_router is None else self._proxy_pool(request)
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
        json: Any = _NO_JSON,
        timeout: TimeoutTypes | _UseClientDefault = USE_CLIENT_DEFAULT,
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

    async def get(
        self,
        url: str | URL,
        *,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes | None = None,
        timeout: TimeoutTypes | _UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> Success[Response] | Failure[FlextApiError]:
        return await self.request("GET", url, params=params, headers=headers, timeout=timeout)

    async def head(
        self,
        url: str | URL,
        *,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes | None = None,
        timeout: TimeoutTypes | _UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> Success[Response] | Failure[FlextApiError]:
        return await self.request("HEAD", url, params=params, headers=headers, timeout=timeout)

    async def options(
        self,
        url: str | URL,
        *,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes | None = None,
        timeout: TimeoutTypes | _UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> Success[Response] | Failure[FlextApiError]:
        return await self.request("OPTIONS", url, params=params, headers=headers, timeout=timeout)

    async def delete(
        self,
        url: str | URL,
        *,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes | None = None,
        timeout: TimeoutTypes | _UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> Success[Response] | Failure[FlextApiError]:
        return await self.request("DELETE", url, params=params, headers=headers, timeout=timeout)

    async def post(
        self,
        url: str | URL,
        *,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes | None = None,
        content: RequestContent | None = None,
        data: Mapping[str, Any] | None = None,
        files: FilesTypes | None = None,
        json: Any = _NO_JSON,
        timeout: TimeoutTypes | _UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> Success[Response] | Failure[FlextApiError]:
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
        json: Any = _NO_JSON,
        timeout: TimeoutTypes | _UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> Success[Response] | Failure[FlextApiError]:
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
        json: Any = _NO_JSON,
        timeout: TimeoutTypes | _UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> Success[Response] | Failure[FlextApiError]:
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
        )
