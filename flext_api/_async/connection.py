"""One HTTP/1.1 connection: send a request, receive its response, say if it is reusable.

The wire underneath is h11's connection or its accelerated twin
(:mod:`flext_api._sansio.http11_wire`): the same interface, events and errors.

A connection serves one request at a time; the pool guarantees that, so there is no lock here.
Every h11 exception is converted here, once, into ``LocalProtocolError`` or
``RemoteProtocolError`` with the host in the message. Backends already raise flext-api errors
for the network and TLS.

Waits: the read timeout bounds the whole response head (status line, headers and any
informational responses) as one deadline computed at its first read, so a server that drips
the head a byte at a time still times out; in the body it bounds each gap. Informational
responses are also bounded in count and, with the final head, in bytes. A request's total
budget (``Request.limit``) caps every write and read of a buffered exchange, and of a streamed
one up to its response head.

This module must never wait for the pool or touch pool state: it only reports, through
``is_reusable()`` and ``response_bytes_seen``, what the pool needs to decide.
"""

from __future__ import annotations

import time

# unasync: begin-async-only
from collections.abc import AsyncIterable

# unasync: end-async-only
from typing import Final

import h11

from flext_api._async.streaming import receive_decoded_body
from flext_api._backends.base import AsyncNetworkStream
from flext_api._compat import h11_header_fields
from flext_api._exceptions import (
    LocalProtocolError,
    ReadError,
    ReadTimeout,
    RemoteProtocolError,
    WriteError,
    redact_url,
)
from flext_api._headers import Headers
from flext_api._models import Request, RequestStream, Response, Trace
from flext_api._sansio.decoding import make_decoder
from flext_api._sansio.http11_wire import WireFactory, wire_factory

# unasync: sync-only: from flext_api._content import sync_body

__all__ = ["AsyncHTTP11Connection", "ResponseHead"]

READ_SIZE: Final = 64 * 1024
# A body read takes up to this much (a head read, READ_SIZE): about what one receive brings on
# a fast link, so a large download is handed on in the pieces received, without slicing each.
BODY_READ_SIZE: Final = 256 * 1024
# How long a request with ``Expect: 100-continue`` waits for the server before sending its body.
EXPECT_TIMEOUT: Final = 1.0
MAX_HEADER_BYTES: Final = 64 * 1024
# More informational (1xx) responses than any real server sends before its answer.
MAX_INFORMATIONAL: Final = 50

Origin = tuple[str, str, int]


class ResponseHead:
    """Status line and headers, before the body."""

    __slots__ = ("headers", "http_version", "reason_phrase", "status_code")

    def __init__(
        self, status_code: int, reason_phrase: str, http_version: str, headers: Headers
    ) -> None:
        self.status_code = status_code
        self.reason_phrase = reason_phrase
        self.http_version = http_version
        self.headers = headers


class AsyncHTTP11Connection:
    __slots__ = (
        "_budget",
        "_early_event",
        "_fresh",
        "_h11",
        "_head_deadline",
        "_in_head",
        "_max_header_bytes",
        "_must_close",
        "_proxy_fields",
        "_read_timeout",
        "_received",
        "_stream",
        "_write_error",
        "closed",
        "origin",
        "request_count",
        "response_bytes_seen",
        "trace",
        "trailers",
    )

    def __init__(
        self,
        origin: Origin,
        stream: AsyncNetworkStream,
        *,
        max_header_bytes: int = MAX_HEADER_BYTES,
        proxy_fields: list[tuple[bytes, bytes, bytes]] | None = None,
        trace: Trace | None = None,
        wire: WireFactory | None = None,
    ) -> None:
        self.origin = origin
        # A connection to a forward proxy (for http:// origins): requests go in absolute form
        # with these fields (Proxy-Authorization...) added; ``origin`` is then the proxy's.
        self._proxy_fields = proxy_fields
        self.trace = trace
        self._stream = stream
        # The pool passes its client's choice; alone, FLEXT_HTTP1_PARSER decides (auto).
        self._h11 = (wire_factory() if wire is None else wire)(max_header_bytes)
        self._max_header_bytes = max_header_bytes
        self._read_timeout: float | None = None
        # The request whose total budget bounds reads: None without one, and once a streamed
        # head is returned (the caller then reads the body at its own pace).
        self._budget: Request | None = None
        # While reading a response head: its deadline, set at its first read (see _read).
        self._in_head = False
        self._head_deadline: float | None = None
        # The response was framed two ways (see _receive_head): never reuse the connection.
        self._must_close = False
        # Sending failed: the server may still have answered (see _send_request).
        self._write_error: WriteError | None = None
        # A final response that arrived while waiting for 100 Continue (see _continue).
        self._early_event: h11.Event | type[h11.PAUSED] | None = None
        # Response bytes read since the request was sent (see receive_head).
        self._received = 0
        # Nothing was received since the request was sent: the wire's buffer is empty, so its
        # first event is NEED_DATA without asking it (see _next_event).
        self._fresh = False
        self.request_count = 0
        self.response_bytes_seen = False
        # Fields after a chunked body (the last response's), None when it had none.
        self.trailers: Headers | None = None
        self.closed = False

    def __repr__(self) -> str:
        scheme, host, port = self.origin
        state = "closed" if self.closed else self._h11.our_state
        return f"<AsyncHTTP11Connection {scheme}://{host}:{port} {state}>"

    # -- pool-facing state --------------------------------------------------------------------

    def is_reusable(self) -> bool:
        return not self.closed and self._h11.our_state is h11.IDLE

    def is_stale(self) -> bool:
        """The idle connection was closed by the server (or has unexpected bytes)."""
        return self.closed or self._stream.is_readable()

    def close(self) -> None:
        """Synchronous: safe in a cancelled task, never raises."""
        if not self.closed:
            self.closed = True
            self._stream.close()

    # -- one exchange -------------------------------------------------------------------------

    async def send_request(self, request: Request) -> None:
        await self._send_request(request)
        if self.trace is not None:
            # Trace events are logged: the URL's password stays out of them.
            url = redact_url(str(request.url))
            self.trace("request.sent", {"method": request.method, "url": url})

    async def _send_request(self, request: Request) -> None:
        self.request_count += 1
        self.response_bytes_seen = False
        self._received = 0
        self._fresh = True
        self.trailers = None
        self._must_close = False
        self._write_error = None
        timeout = request.timeout
        self._read_timeout = timeout.read
        self._budget = None if request.deadline is None else request
        h = self._h11
        url = request.url
        target = url.raw_path
        fields = request.headers._list
        if self._proxy_fields is not None:
            target = b"http://" + url.host_header + target
            fields = fields + self._proxy_fields
        try:
            # Headers were validated when built: the wire gets the (raw, lower, value) triples
            # it stores, and neither normalizes nor re-checks them.
            head = h.send_request(request.method, target, fields)
            content = request.content
            if request.stream is None:
                if content:
                    head += h.send_data(content)
                head += h.send_end()
                write = timeout.write if request.deadline is None else request.limit(timeout.write)
                await self._stream.write(head, write)
                return
            await self._stream.write(head, request.limit(timeout.write))
            if request.headers.get("expect") == "100-continue" and not await self._continue():
                return  # the server answered before the body: it does not want it
            await self._send_stream(request, request.stream)
        except WriteError as exc:
            # The server may have answered and closed before reading everything (a 413, a
            # 401): receive_head reads that answer, or reports that there was none.
            self._write_error = exc
            self._must_close = True
        except h11.LocalProtocolError as exc:
            self.close()
            if h.their_state is h11.CLOSED or h.their_state is h11.ERROR:
                raise self._closed_without_response() from exc
            raise LocalProtocolError(
                f"cannot send this request to {url.host}: {exc}; check the method, "
                "headers and body framing",
                url=str(url),
            ) from exc

    async def _continue(self) -> bool:
        """After ``Expect: 100-continue``: wait up to ``EXPECT_TIMEOUT`` for the server's word.

        ``True``: send the body (100 Continue, or no answer in time, as RFC 9110 section 10.1.1
        allows). ``False``: a final response came first (401, 413...); it is kept for
        ``receive_head`` and the body is not sent, so the connection is closed afterwards.
        """
        # One deadline for the whole wait, like a response head (a dripping server cannot
        # stretch it).
        read_timeout, self._read_timeout = self._read_timeout, EXPECT_TIMEOUT
        self._in_head, self._head_deadline = True, None
        try:
            event = await self._next_event()
        except ReadTimeout:
            return True
        finally:
            self._read_timeout = read_timeout
            self._in_head = False
        if type(event) is h11.InformationalResponse:
            return True
        self._early_event = event
        return False

    async def _send_stream(self, request: Request, body: RequestStream) -> None:
        h = self._h11
        stream = self._stream
        timeout = request.timeout.write
        # unasync: begin-async-only
        if isinstance(body, AsyncIterable):
            async for chunk in body:
                if chunk:
                    await stream.write(h.send_data(chunk), request.limit(timeout))
            await stream.write(h.send_end(), request.limit(timeout))
            return
        # unasync: end-async-only
        # unasync: sync-only: body = sync_body(body)
        for chunk in body:
            if chunk:
                await stream.write(h.send_data(chunk), request.limit(timeout))
        await stream.write(h.send_end(), request.limit(timeout))

    async def _next_event(self) -> h11.Event | type[h11.PAUSED]:
        h = self._h11
        while True:
            if self._fresh:
                self._fresh = False
                event: h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED] = h11.NEED_DATA
            else:
                try:
                    event = h.next_event()
                except h11.RemoteProtocolError as exc:
                    self.close()
                    raise self._invalid_response(exc) from exc
            if event is h11.NEED_DATA:
                # The common reads inline (a head's first read, a body read, no total budget):
                # one clock read per response is all the head's deadline costs.
                wait = self._read_timeout
                if self._in_head and self._head_deadline is None and self._budget is None:
                    if wait is not None:
                        self._head_deadline = time.monotonic() + wait
                    data = await self._stream.read(READ_SIZE, wait)
                elif self._in_head or self._budget is not None:
                    data = await self._read()
                else:
                    data = await self._stream.read(BODY_READ_SIZE, wait)
                if data:
                    self.response_bytes_seen = True
                    self._received += len(data)
                h.receive_data(data)
                continue
            return event  # type: ignore[return-value]

    async def _read(self) -> bytes:
        """The next bytes of the response, within the wait that applies now."""
        wait = self._read_timeout
        deadline = self._head_deadline
        if self._in_head and wait is not None:
            if deadline is None:
                # The head's first read: its deadline starts now (one clock read per response).
                self._head_deadline = time.monotonic() + wait
            else:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    raise self._head_timeout()
        budget = self._budget
        if budget is not None and budget.deadline is not None:
            wait = budget.limit(wait)
        try:
            return await self._stream.read(READ_SIZE if self._in_head else BODY_READ_SIZE, wait)
        except ReadTimeout as exc:
            if deadline is not None and self._in_head and time.monotonic() >= deadline:
                raise self._head_timeout() from exc
            raise

    async def receive_head(self) -> ResponseHead:
        """The response head. A streamed body is then read at the caller's pace: the total
        budget stops here (a buffered exchange, :meth:`round_trip`, keeps it to the end)."""
        head = await self._receive_head()
        self._budget = None
        return head

    async def _receive_head(self) -> ResponseHead:
        self._in_head, self._head_deadline = True, None
        informational = 0
        while True:
            try:
                event, self._early_event = self._early_event or await self._next_event(), None
            except (ReadError, RemoteProtocolError) as exc:
                self._in_head = False
                if self._write_error is None or self.response_bytes_seen:
                    raise
                # The request could not be sent whole and nothing came back: say that, not
                # the read error that followed.
                self.close()
                raise self._closed_without_response(" while the request was being sent,") from exc
            except BaseException:
                self._in_head = False
                raise
            # h11 bounds only one incomplete event, so a head that ends in the read crossing
            # the limit, or a stream of 1xx responses, would pass: count every head byte
            # here, measuring only once enough bytes arrived for them to be too many.
            if self._received > self._max_header_bytes:
                self._check_head_size()
            if type(event) is h11.Response:
                self._in_head = False
                fields = h11_header_fields(event.headers)
                chunked = length = False
                for _, name, _ in fields:  # a plain loop: no call per response
                    if name == b"transfer-encoding":
                        chunked = True
                    elif name == b"content-length":
                        length = True
                if chunked and length:
                    # Chunked wins (RFC 9112 section 6.3), but a message framed two ways may
                    # be a smuggling attempt: what follows it on this connection is not
                    # trusted.
                    self._must_close = True
                headers = Headers._from_fields(fields)
                if self.trace is not None:
                    self.trace("response.headers", {"status_code": event.status_code})
                return ResponseHead(
                    event.status_code,
                    event.reason.decode("latin-1"),
                    "HTTP/1.1" if event.http_version == b"1.1" else "HTTP/1.0",
                    headers,
                )
            if type(event) is h11.InformationalResponse:
                # 100 Continue and friends carry nothing for the caller; a server that sends
                # them without end would hold the request for ever.
                informational += 1
                if informational > MAX_INFORMATIONAL:
                    self.close()
                    raise RemoteProtocolError(
                        f"{self.origin[1]} sent more than {MAX_INFORMATIONAL} informational "
                        "(1xx) responses without a final one; the server or a proxy in "
                        "between is misbehaving",
                    )
                continue
            self.close()
            raise self._closed_without_response()

    def _check_head_size(self) -> None:
        # Head events are cut out of h11's buffer as they are parsed: what was received minus
        # what is still buffered is the size of every head so far.
        size = self._received - len(self._h11.trailing_data[0])
        if size > self._max_header_bytes:
            self.close()
            raise RemoteProtocolError(
                f"{self.origin[1]} sent {size} bytes of response headers (informational "
                f"responses included), more than the {self._max_header_bytes} allowed; the "
                "server or a proxy in between is misbehaving",
            )

    # -- errors that say what happened ----------------------------------------------------------

    def _closed_without_response(self, when: str = "") -> RemoteProtocolError:
        return RemoteProtocolError(
            f"{self.origin[1]} closed the connection{when} without sending a response; "
            "retry the request, or check the server's logs (it may refuse this request or "
            "its size)",
        )

    def _invalid_response(self, exc: h11.RemoteProtocolError) -> RemoteProtocolError:
        """h11's complaint as a sentence about the server (h11's own words name its states)."""
        h = self._h11
        host = self.origin[1]
        partial, closed = h.trailing_data
        if closed:  # the server closed its side (h11 speaks of states and event types)
            if not self._in_head:
                return RemoteProtocolError(
                    f"{host} closed the connection before the end of the response body; "
                    "the response is incomplete: retry the request, or check the server's logs",
                )
            if not partial:
                return self._closed_without_response()
            return RemoteProtocolError(
                f"{host} closed the connection in the middle of the response head; retry the "
                "request, or check the server's logs",
            )
        return RemoteProtocolError(
            f"{host} sent an invalid HTTP/1.1 response: {exc}; the server or a proxy in "
            "between is misbehaving",
        )

    def _head_timeout(self) -> ReadTimeout:
        return ReadTimeout(
            f"{self.origin[1]} did not send a complete response head within the read timeout "
            f"of {self._read_timeout or 0:g} s; the server is slow, stuck or sending it a byte "
            "at a time: raise the read timeout if it needs longer",
        )

    async def receive_body_chunk(self) -> bytes:
        """The next piece of the body, or ``b""`` once it is complete."""
        while True:
            event = await self._next_event()
            if type(event) is h11.Data:
                if event.data:
                    return bytes(event.data)
                continue
            if type(event) is h11.EndOfMessage:
                if event.headers:
                    self.trailers = Headers._from_fields(h11_header_fields(event.headers))
                self._finish_cycle()
                return b""
            self.close()  # pragma: no cover - h11 raises before any other event here
            raise RemoteProtocolError(f"unexpected {event!r} from {self.origin[1]}")

    async def receive_body(self) -> bytes:
        first = await self.receive_body_chunk()
        if not first:
            return b""
        chunks = [first]
        while chunk := await self.receive_body_chunk():
            chunks.append(chunk)
        return first if len(chunks) == 1 else b"".join(chunks)

    async def round_trip(self, request: Request, max_decoded_size: int | None = None) -> Response:
        """Send ``request`` and read the whole response into memory, its Content-Encoding
        undone as the body is read (:func:`~flext_api._async.streaming.receive_decoded`): a
        body that does not decode raises before its end, and the pool discards the
        connection, cut mid-body."""
        started = time.perf_counter()
        await self.send_request(request)
        head = await self._receive_head()
        encoding = head.headers.get("content-encoding")
        if encoding is None:
            content = await self.receive_body()
        else:
            decoder = make_decoder(encoding, max_size=max_decoded_size)
            content = await receive_decoded_body(self.receive_body_chunk, decoder)
        response = Response(
            head.status_code,
            head.headers,
            content,
            request=request,
            http_version=head.http_version,
            reason_phrase=head.reason_phrase,
            elapsed=time.perf_counter() - started,
        )
        if self.trailers is not None:
            response.trailers = self.trailers
        return response

    def _finish_cycle(self) -> None:
        h = self._h11
        if h.our_state is h11.DONE and h.their_state is h11.DONE and not self._must_close:
            trailing, closed = h.trailing_data
            if trailing or closed:
                # Bytes after the end of the response: the server sent more than it framed.
                # Nothing on this connection can be trusted any more.
                self.close()
                if trailing:
                    raise RemoteProtocolError(
                        f"{self.origin[1]} sent {len(trailing)} bytes more than the response "
                        "framing (Content-Length) announced; the server is misbehaving",
                    )
                return
            h.start_next_cycle()
        else:
            self.close()
