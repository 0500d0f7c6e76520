"""Plain data the whole stack shares: Timeout, Limits, Request, Response.

Nothing here does I/O. ``Response`` is a fully read (buffered) response; the streamed variant
lives with the connection code (``_async/_streaming.py``) because reading it is I/O.
URL and Headers live in ``_urls.py`` and ``_headers.py`` (they are large enough to stand alone).
"""

from __future__ import annotations

import codecs
import time
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from typing import Any, Final, TypeVar, overload

import msgspec

from flext_api._exceptions import DecodingError, HTTPStatusError
from flext_api._headers import Headers
from flext_api._result import Failure, Success
from flext_api._urls import URL

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_TIMEOUT",
    "Limits",
    "Request",
    "RequestStream",
    "Response",
    "Timeout",
    "Trace",
]

T = TypeVar("T")

Trace = Callable[[str, Mapping[str, Any]], None]
"""``trace(event, info)``: called on connection events (``connect.start``, ``connect.end``,
``connect.failed``, ``request.sent``, ``response.headers``), to log or time each phase."""

RequestStream = Iterable[bytes] | AsyncIterable[bytes]
"""A body sent chunk by chunk as it is read (files, generators)."""


class _Unset:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSET"


_UNSET: Final = _Unset()


def _check_seconds(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"timeout '{name}' must be a number of seconds or None, got {value!r}")
    if value < 0:
        raise ValueError(f"timeout '{name}' must be >= 0 seconds, got {value!r}")
    return float(value)


class Timeout:
    """Per-phase limits in seconds (``None``: no limit).

    * ``connect``: DNS + TCP + TLS handshake, one budget.
    * ``read``: the longest wait for the next bytes of the response.
    * ``write``: the longest wait to send the next bytes of the request.
    * ``pool``: the longest wait for a connection from the pool, however often woken.
    * ``total``: optional (``None`` by default, and not set by ``Timeout(10)``): one budget for
      the whole call, from the pool wait to the end of the body of a buffered request (to the
      response head for ``stream()``), retries included. Each phase waits at most what is left.

    ``Timeout(10)`` sets the four phases; keywords override one: ``Timeout(10, connect=2)``.
    """

    __slots__ = ("connect", "pool", "read", "total", "write")

    def __init__(
        self,
        timeout: float | None = 30.0,
        *,
        connect: float | _Unset | None = _UNSET,
        read: float | _Unset | None = _UNSET,
        write: float | _Unset | None = _UNSET,
        pool: float | _Unset | None = _UNSET,
        total: float | None = None,
    ) -> None:
        default = _check_seconds("timeout", timeout)
        self.total = _check_seconds("total", total)
        self.connect = (
            default if isinstance(connect, _Unset) else _check_seconds("connect", connect)
        )
        self.read = default if isinstance(read, _Unset) else _check_seconds("read", read)
        self.write = default if isinstance(write, _Unset) else _check_seconds("write", write)
        self.pool = default if isinstance(pool, _Unset) else _check_seconds("pool", pool)

    @classmethod
    def coerce(cls, value: Timeout | float | None) -> Timeout:
        return value if isinstance(value, Timeout) else cls(value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Timeout) and (
            self.connect,
            self.read,
            self.write,
            self.pool,
            self.total,
        ) == (other.connect, other.read, other.write, other.pool, other.total)

    def __hash__(self) -> int:
        return hash((self.connect, self.read, self.write, self.pool, self.total))

    def __repr__(self) -> str:
        total = "" if self.total is None else f", total={self.total}"
        return (
            f"Timeout(connect={self.connect}, read={self.read}, "
            f"write={self.write}, pool={self.pool}{total})"
        )


DEFAULT_TIMEOUT: Final = Timeout(30.0, connect=10.0, pool=10.0)


class Limits:
    """Pool limits.

    * ``max_connections``: open connections across all origins (``None``: unbounded).
    * ``max_keepalive_connections``: idle connections kept for reuse; beyond it the oldest
      idle one is closed. ``None`` (the default): as many as are open, so a burst of N
      concurrent requests is followed by N reusable connections instead of N-20 fresh
      handshakes; idle ones still close after ``keepalive_expiry``.
    * ``keepalive_expiry``: seconds an idle connection may wait before it is closed instead of
      reused (servers close idle connections too; a shorter expiry avoids reusing a dead one).
    """

    __slots__ = ("keepalive_expiry", "max_connections", "max_keepalive_connections")

    def __init__(
        self,
        *,
        max_connections: int | None = 100,
        max_keepalive_connections: int | None = None,
        keepalive_expiry: float | None = 5.0,
    ) -> None:
        for name, value in (
            ("max_connections", max_connections),
            ("max_keepalive_connections", max_keepalive_connections),
        ):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(f"Limits({name}=...) must be a positive integer or None")
        self.max_connections = max_connections
        self.max_keepalive_connections = max_keepalive_connections
        if (
            max_connections is not None
            and max_keepalive_connections is not None
            and max_keepalive_connections > max_connections
        ):
            self.max_keepalive_connections = max_connections
        self.keepalive_expiry = _check_seconds("keepalive_expiry", keepalive_expiry)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Limits) and (
            self.max_connections,
            self.max_keepalive_connections,
            self.keepalive_expiry,
        ) == (other.max_connections, other.max_keepalive_connections, other.keepalive_expiry)

    def __hash__(self) -> int:
        return hash((self.max_connections, self.max_keepalive_connections, self.keepalive_expiry))

    def __repr__(self) -> str:
        return (
            f"Limits(max_connections={self.max_connections}, "
            f"max_keepalive_connections={self.max_keepalive_connections}, "
            f"keepalive_expiry={self.keepalive_expiry})"
        )


DEFAULT_LIMITS: Final = Limits()


class Request:
    """One request, built once per call and never copied on the way down.

    ``content`` holds an in-memory body; ``stream`` a body sent chunk by chunk as it is read
    (files, generators). At most one of them is set. ``timeout`` is the resolved per-phase
    limits for this call. ``deadline`` is the end of the call's ``Timeout(total=...)`` budget
    on the ``time.monotonic`` clock (``None``: no total budget); :meth:`limit` caps a phase's
    wait by what is left of it.
    """

    __slots__ = ("content", "deadline", "headers", "method", "stream", "timeout", "url")

    def __init__(
        self,
        method: str,
        url: URL,
        headers: Headers,
        *,
        content: bytes | None = None,
        stream: RequestStream | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        deadline: float | None = None,
    ) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.content = content
        self.stream = stream
        self.timeout = timeout
        self.deadline = deadline

    def limit(self, phase: float | None) -> float | None:
        """``phase`` (a per-phase timeout) capped by what is left of the total budget.

        Never below a millisecond, so an exhausted budget still ends in the phase's own timeout
        error (a zero timeout would turn a blocking socket non-blocking instead).
        """
        deadline = self.deadline
        if deadline is None:
            return phase
        left = max(deadline - time.monotonic(), 0.001)
        return left if phase is None or left < phase else phase

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.url!r}>"


def charset_from_content_type(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a Content-Type value, if it names a known codec."""
    if not content_type:
        return None
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            name = value.strip().strip("\"'")
            try:
                return codecs.lookup(name).name
            except LookupError:
                return None
    return None


class Response:
    """A complete response: status, headers and the whole body in memory.

    A 4xx/5xx status is data here, not a failure: ``raise_for_status()`` turns it into one.
    ``elapsed`` is seconds from sending the request to the end of the body. ``trailers`` are
    the header fields sent after the body (HTTP/2 trailers), ``None`` when there were none.
    """

    __slots__ = (
        "_text",
        "content",
        "elapsed",
        "headers",
        "history",
        "http_version",
        "reason_phrase",
        "request",
        "status_code",
        "trailers",
    )

    def __init__(
        self,
        status_code: int,
        headers: Headers,
        content: bytes,
        *,
        request: Request,
        http_version: str = "HTTP/1.1",
        reason_phrase: str = "",
        elapsed: float = 0.0,
    ) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content
        self.request = request
        self.http_version = http_version
        self.reason_phrase = reason_phrase
        self.elapsed = elapsed
        self.trailers: Headers | None = None
        # The redirect responses that led here, oldest first (filled by redirect following).
        self.history: list[Any] = []
        self._text: str | None = None

    @property
    def url(self) -> URL:
        return self.request.url

    @property
    def encoding(self) -> str:
        """The charset from Content-Type, else UTF-8 (the default for JSON and most APIs)."""
        return charset_from_content_type(self.headers.get("content-type")) or "utf-8"

    @property
    def text(self) -> str:
        """The body decoded with :attr:`encoding`; undecodable bytes become U+FFFD."""
        if self._text is None:
            self._text = self.content.decode(self.encoding, errors="replace")
        return self._text

    @property
    def is_error(self) -> bool:
        return self.status_code >= 400

    @property
    def is_redirect(self) -> bool:
        return self.status_code in (301, 302, 303, 307, 308) and "location" in self.headers

    @overload
    def json(self) -> Success[Any] | Failure[DecodingError]: ...

    @overload
    def json(self, type: type[T]) -> Success[T] | Failure[DecodingError]: ...

    def json(self, type: Any = Any) -> Success[Any] | Failure[DecodingError]:
        """Decode the body as JSON with msgspec, optionally into ``type`` (validated).

        A body that is not valid JSON, or not of ``type``, is a ``DECODE_ERROR`` failure whose
        message names the URL and the position msgspec reports.
        """
        try:
            return Success(msgspec.json.decode(self.content, type=type))
        except msgspec.DecodeError as exc:
            error = DecodingError(
                f"response from {self.url} is not the JSON expected: {exc}; "
                "check the endpoint and the type you decode into",
                url=str(self.url),
            )
            error.__cause__ = exc
            return Failure(error)

    def raise_for_status(self) -> Success[Response] | Failure[HTTPStatusError]:
        """``Success(self)`` for 1xx-3xx, ``Failure(HTTPStatusError)`` for 4xx/5xx."""
        if self.status_code < 400:
            return Success(self)
        kind = "client error" if self.status_code < 500 else "server error"
        return Failure(
            HTTPStatusError(
                f"{self.request.method} {self.url} answered {self.status_code} "
                f"{self.reason_phrase} ({kind})".rstrip(),
                status_code=self.status_code,
                response=self,
                url=str(self.url),
            )
        )

    def __repr__(self) -> str:
        return f"<Response [{self.status_code}]>"
