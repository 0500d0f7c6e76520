"""One JSON error shape for every refusal and failure the server side produces.

Every error response is ``{"error_code", "message", "details", "request_id"}`` with a status
chosen by :func:`status_for_error`. Handlers either return a ``FlextResult`` through
:func:`result_response` or raise a :class:`FlextApiError`; both end here.

This module must never put internals (tracebacks, exception reprs, upstream hosts of 5xx
failures) into a response body: those go to the log, tagged with the request id.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from flext_api._exceptions import FlextApiError, HTTPStatusError, InvalidRequest, TimeoutException
from flext_api._exceptions import TransportError as _TransportError
from flext_api._result import Failure, FlextResult, Success
from flext_api.server._disconnect import DisconnectWatch, is_client_abort
from flext_api.server.request_id import current_request_id

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.requests import Request
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "ErrorMiddleware",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "RequestBodyTimeout",
    "RequestRejected",
    "Unauthorized",
    "UnsupportedMediaType",
    "error_response",
    "install_error_handlers",
    "result_response",
    "send_error",
    "send_failure",
    "send_unhandled",
    "status_for_error",
]

logger = logging.getLogger("flext_api.server.errors")

_JSON = b"application/json"
_GENERIC_5XX = {
    500: "Internal server error",
    502: "An upstream service failed",
    503: "Service unavailable",
    504: "An upstream service timed out",
}
_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    408: "REQUEST_TIMEOUT",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
}


class RequestRejected(FlextApiError):
    """The server refuses the request with ``status_code`` (a 4xx, or a deliberate 5xx).

    Use it (or a subclass) in handlers and in :class:`FlextApiMiddleware` failures when the
    status matters more than the code table: ``details`` is sent to the client as is, and
    ``headers`` (``WWW-Authenticate``, ``Retry-After``...) go onto the error response.
    """

    code = "REQUEST_REJECTED"
    default_status: ClassVar[int] = 400

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        details: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = self.default_status if status_code is None else status_code
        self.details = details
        self.headers = dict(headers or {})


class NotFound(RequestRejected):
    code = "NOT_FOUND"
    default_status = 404


class Unauthorized(RequestRejected):
    """No valid credentials; the response carries ``WWW-Authenticate`` when given."""

    code = "UNAUTHORIZED"
    default_status = 401


class Forbidden(RequestRejected):
    """Valid credentials that lack a required role or permission."""

    code = "FORBIDDEN"
    default_status = 403


class RequestBodyTimeout(RequestRejected):
    """The client did not finish sending the body within the body-read timeout."""

    code = "BODY_READ_TIMEOUT"
    default_status = 408


class PayloadTooLarge(RequestRejected):
    code = "PAYLOAD_TOO_LARGE"
    default_status = 413


class UnsupportedMediaType(RequestRejected):
    code = "UNSUPPORTED_MEDIA_TYPE"
    default_status = 415


class RateLimited(RequestRejected):
    code = "RATE_LIMITED"
    default_status = 429


class BodyRejected(HTTPException):
    """Carries a body-guard refusal out of ``receive()`` through the application.

    FastAPI turns any exception raised while it parses a body into a 400, except
    ``HTTPException``: so the guard raises this, and the error handlers (or the guard itself)
    answer with the carried error's status and JSON shape, closing the connection because
    the rest of the body was never read.
    """

    def __init__(self, error: RequestRejected) -> None:
        super().__init__(error.status_code, error.message, headers={"Connection": "close"})
        self.error = error


def status_for_error(error: FlextApiError) -> int:
    """The HTTP status a failure becomes (the table is in docs/server.md).

    First match wins: an explicit ``status_code`` (:class:`RequestRejected`,
    :class:`HTTPStatusError`), then the invalid-request family or a code that starts with
    ``INVALID_`` / ends with ``_INVALID`` (400), a code ending in ``NOT_FOUND`` (404),
    ``UNAUTHORIZED`` (401), ``FORBIDDEN`` (403), ``CONFLICT`` (409), timeouts (504), other
    transport failures (502), and 500 for everything else.
    """
    if isinstance(error, RequestRejected | HTTPStatusError):
        return error.status_code
    code = error.code
    if (
        isinstance(error, InvalidRequest)
        or code.startswith("INVALID_")
        or code.endswith("_INVALID")
    ):
        return 400
    if code.endswith("NOT_FOUND"):
        return 404
    if code.endswith("UNAUTHORIZED"):
        return 401
    if code.endswith("FORBIDDEN"):
        return 403
    if code.endswith("CONFLICT"):
        return 409
    if isinstance(error, TimeoutException):
        return 504
    if isinstance(error, _TransportError):
        return 502
    return 500


def _body(error_code: str, message: str, details: Any, request_id: str | None) -> bytes:
    return msgspec.json.encode(
        {
            "error_code": error_code,
            "message": message,
            "details": details,
            "request_id": request_id,
        },
        enc_hook=jsonable_encoder,
    )


def _describe(error: FlextApiError) -> tuple[int, str, Any, dict[str, str]]:
    status = status_for_error(error)
    if isinstance(error, RequestRejected):
        return status, error.message, error.details, error.headers
    if status >= 500:
        # A transport or internal failure names hosts and internals: log it, do not send it.
        logger.error(
            "handler failed with %s: %s",
            error.code,
            error.message,
            exc_info=error if error.__traceback__ is not None else None,
        )
        return status, _GENERIC_5XX.get(status, _GENERIC_5XX[500]), None, {}
    return status, error.message, None, {}


def error_response(error: FlextApiError) -> Response:
    """The JSON error response for ``error`` (status from :func:`status_for_error`)."""
    status, message, details, headers = _describe(error)
    return Response(
        _body(error.code, message, details, current_request_id()),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


def result_response(result: FlextResult[Any], status_code: int = 200) -> Response:
    """Turn a handler's ``FlextResult`` into a response.

    ``Success(value)`` becomes ``value`` as JSON with ``status_code`` (msgspec encodes
    dataclasses, msgspec Structs, dicts and lists; anything else goes through FastAPI's
    ``jsonable_encoder``, so pydantic models work too). ``Failure(error)`` becomes the JSON
    error shape with the status from :func:`status_for_error`.
    """
    match result:
        case Success(value):
            return Response(
                msgspec.json.encode(value, enc_hook=jsonable_encoder),
                status_code=status_code,
                media_type="application/json",
            )
        case Failure(error):
            return error_response(error)


async def send_error(
    send: Send,
    status: int,
    error_code: str,
    message: str,
    *,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
    close: bool = False,
) -> None:
    """Send the JSON error shape straight on an ASGI ``send`` (for pure-ASGI middleware).

    ``close=True`` adds ``Connection: close``: used when the request body was not read, so the
    server does not try to keep a connection whose unread bytes it would have to parse.
    """
    body = _body(error_code, message, details, current_request_id())
    raw: list[tuple[bytes, bytes]] = [
        (b"content-type", _JSON),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:
        raw.append((b"connection", b"close"))
    if headers:
        raw.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def send_failure(send: Send, error: FlextApiError, *, close: bool = False) -> None:
    """:func:`send_error` for a ``FlextApiError``, with its mapped status and headers."""
    status, message, details, headers = _describe(error)
    await send_error(
        send, status, error.code, message, details=details, headers=headers, close=close
    )


async def _flext_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FlextApiError)
    return error_response(exc)


async def _http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if isinstance(exc, BodyRejected):
        response = error_response(exc.error)
        response.headers["Connection"] = "close"
        return response
    status = exc.status_code
    if status >= 500:
        message = _GENERIC_5XX.get(status, _GENERIC_5XX[500])
    else:
        message = exc.detail if isinstance(exc.detail, str) else _HTTP_CODES.get(status, "Error")
    return Response(
        _body(_HTTP_CODES.get(status, f"HTTP_{status}"), message, None, current_request_id()),
        status_code=status,
        headers=exc.headers,
        media_type="application/json",
    )


async def _validation_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]
    return Response(
        _body("VALIDATION_ERROR", "Request validation failed", details, current_request_id()),
        status_code=422,
        media_type="application/json",
    )


def install_error_handlers(app: FastAPI) -> None:
    """Make FastAPI answer ``FlextApiError``, ``HTTPException`` and 422s in the JSON shape."""
    app.add_exception_handler(FlextApiError, _flext_error_handler)
    app.add_exception_handler(HTTPException, _http_exception_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)


class ErrorMiddleware:
    """Turn an exception that escaped the app into a JSON 500 (or its mapped status).

    The traceback goes to the ``flext_api.server.errors`` log with the request id; the client
    sees ``INTERNAL_ERROR`` and nothing else. If the response had already started there is no
    way to change it, so the exception propagates to the server, which drops the connection.
    An exception caused by the client hanging up before the response is not an error: it is
    dropped without a log record or a response (see :mod:`flext_api.server._disconnect`).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        watch = DisconnectWatch(receive)

        async def send_tracking(message: Message) -> None:
            if message["type"] == "http.response.start":
                watch.response_started = True
            await send(message)

        try:
            await self.app(scope, watch, send_tracking)
        except Exception as exc:
            if is_client_abort(exc, watch):
                return
            if watch.response_started:
                raise
            await send_unhandled(send, scope, exc)


async def send_unhandled(send: Send, scope: Scope, exc: Exception) -> None:
    """Answer an exception that escaped the app before its response started.

    A ``FlextApiError`` gets its mapped status and JSON shape; anything else is logged with
    its traceback on ``flext_api.server.errors`` and answered with a bare 500
    ``INTERNAL_ERROR``.
    """
    if isinstance(exc, FlextApiError):
        await send_failure(send, exc)
        return
    logger.error("unhandled exception in %s %s", scope["method"], scope["path"], exc_info=exc)
    await send_error(send, 500, "INTERNAL_ERROR", _GENERIC_5XX[500])
