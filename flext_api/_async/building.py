"""Building a request from a call's arguments: URL joined to ``base_url``, default headers,
the encoded body, the resolved timeout and the ``Timeout(total=...)`` deadline.

Pure except for reading the clock once: nothing here sends anything. Errors in what the caller
passed raise ``FlextApiError`` subclasses (the client turns them into failures) or, for
impossible argument types, ``TypeError``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Final

from flext_api._content import FilesTypes, RequestContent, encode_request

# unasync: sync-only: from flext_api._content import reject_async_body
from flext_api._exceptions import InvalidHeader, InvalidMethod, InvalidURL, UnsupportedScheme
from flext_api._headers import Headers, HeaderTypes
from flext_api._models import Request, Timeout
from flext_api._request_context import REQUEST_ID_HEADER, request_id_var
from flext_api._sansio.decoding import supported_encodings
from flext_api._sansio.multipart import Progress
from flext_api._urls import URL, QueryParamTypes

__all__ = [
    "ACCEPT_ENCODING",
    "EXPECT_CONTINUE_BYTES",
    "NO_JSON",
    "USER_AGENT",
    "USE_CLIENT_DEFAULT",
    "AsyncRequestBuilder",
    "TimeoutTypes",
    "UseClientDefault",
]

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


class UseClientDefault:
    """Sentinel: "use the client's setting" (``None`` means "no limit" for timeouts)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "USE_CLIENT_DEFAULT"


USE_CLIENT_DEFAULT: Final = UseClientDefault()
"""Passed as ``timeout=`` to a call: use the client's timeout (``None`` would mean no limit)."""
NO_JSON: Final[Any] = object()

TimeoutTypes = Timeout | float | None


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


EXPECT_CONTINUE_BYTES: Final = 1024 * 1024
"""Streamed bodies from this size up (or of unknown size) ask ``Expect: 100-continue``."""


_FRAMING_NAMES: Final = frozenset({b"content-length", b"transfer-encoding"})


def _large(framing: list[tuple[bytes, bytes]]) -> bool:
    for name, value in framing:
        if name.lower() == b"content-length":
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


class AsyncRequestBuilder:
    """Turns a call's arguments into a :class:`Request`, with the client's defaults prepared
    once: base URL, default headers and params, timeout, whether large uploads ask for
    ``100-continue``."""

    __slots__ = (
        "_base",
        "_base_prefix",
        "_default_fields",
        "_expect_continue",
        "_params",
        "_timeout",
        "headers",
    )

    def __init__(
        self,
        *,
        base_url: str | URL,
        headers: HeaderTypes | None,
        params: QueryParamTypes | None,
        timeout: TimeoutTypes,
        expect_continue: bool,
    ) -> None:
        self._base = URL(base_url) if base_url else None
        if self._base is not None and self._base.query:
            raise ValueError("base_url must not carry a query string; pass params= instead")
        self._base_prefix = str(self._base).rstrip("/") if self._base is not None else ""
        self._timeout = Timeout.coerce(timeout)
        self._params = params
        self._expect_continue = expect_continue
        default_headers = Headers(
            [
                (b"User-Agent", USER_AGENT),
                (b"Accept", b"*/*"),
                (b"Accept-Encoding", ACCEPT_ENCODING),
            ]
        )
        if headers is not None:
            default_headers.update(Headers(headers))
        self.headers = default_headers
        self._default_fields = list(default_headers._list)
        _check_framing(self._default_fields)

    def merge_url(self, url: str | URL, params: QueryParamTypes | None) -> URL:
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

    def build(
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
        timeout: TimeoutTypes | UseClientDefault,
        upload_progress: Progress | None,
    ) -> Request:
        method = _check_method(method)
        target = self.merge_url(url, params)
        framing, body, stream = encode_request(
            content=content,
            data=data,
            json=json,
            has_json=json is not NO_JSON,
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
            if overridden & _FRAMING_NAMES:
                # A framing header given by hand replaces the client's framing whole: a
                # streamed body of known length announced with Content-Length must not also
                # say Transfer-Encoding: chunked (RFC 9112 section 6.1 forbids both).
                framing = [(name, value) for name, lower, value in given if lower in _FRAMING_NAMES]
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
        resolved = (
            self._timeout if isinstance(timeout, UseClientDefault) else Timeout.coerce(timeout)
        )
        total = resolved.total
        # The one budget of the whole call starts here, before the pool wait; retries,
        # redirects and auth resends copy the request and so draw on the same deadline.
        return Request(
            method,
            target,
            Headers._from_fields(fields),
            content=body,
            stream=stream,
            timeout=resolved,
            deadline=None if total is None else time.monotonic() + total,
        )
