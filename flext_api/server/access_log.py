"""Structured access logging: exactly one JSON line per request, none for health probes.

Each line is the log record's message, so any handler with ``%(message)s`` writes clean JSON
lines. Fields: ``method``, ``route`` (the template, not the raw path), ``path``, ``status``,
``duration_ms``, ``request_id``, ``client``. This module must never log bodies, query strings
or headers (they carry credentials), and never more than one line per request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

import msgspec

from flext_api.server._disconnect import CLIENT_CLOSED_STATUS, DisconnectWatch
from flext_api.server._routes import route_template
from flext_api.server.request_id import request_id_var

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "ACCESS_LOGGER_NAME",
    "AccessLineHandler",
    "AccessLogMiddleware",
    "configure_access_logging",
    "write_access_line",
]

ACCESS_LOGGER_NAME = "flext_api.server.access"

_encode = msgspec.json.encode


class AccessLogMiddleware:
    """Log one JSON line per request on ``logger`` (default ``flext_api.server.access``).

    ``skip_paths`` are exact paths that are never logged (health probes by default).
    """

    def __init__(
        self,
        app: ASGIApp,
        logger: logging.Logger | None = None,
        skip_paths: Iterable[str] = ("/health", "/ready"),
    ) -> None:
        self.app = app
        self.logger = logger or logging.getLogger(ACCESS_LOGGER_NAME)
        self.skip_paths = frozenset(skip_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.skip_paths:
            await self.app(scope, receive, send)
            return
        logger = self.logger
        if not logger.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # the server answers 500 for an app that never started
        watch = DisconnectWatch(receive)

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                watch.response_started = True
            await send(message)

        try:
            await self.app(scope, watch, send_observed)
        finally:
            write_access_line(
                logger,
                scope,
                route=route_template(scope),
                status=CLIENT_CLOSED_STATUS if watch.closed_early else status,
                elapsed=time.perf_counter() - start,
                request_id=request_id_var.get(),
            )


def write_access_line(
    logger: logging.Logger,
    scope: Scope,
    *,
    route: str,
    status: int,
    elapsed: float,
    request_id: str | None,
) -> None:
    """Hand ``logger`` the one INFO record of a finished request (its message is the JSON line).

    The caller checks ``logger.isEnabledFor(logging.INFO)``: this function always emits.
    """
    client = scope.get("client")
    message = _encode(
        {
            "method": scope["method"],
            "route": route,
            "path": scope["path"],
            "status": status,
            "duration_ms": round(elapsed * 1000.0, 3),
            "request_id": request_id,
            "client": client[0] if client else None,
        }
    ).decode()
    direct = _sole_line_writer(logger)
    if direct is not None:
        direct.write_line(message)
        return
    # makeRecord + handle instead of logger.info: info() walks the stack to find the caller,
    # which costs more than building and encoding the line.
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 0, message, (), None)
    record.request_id = request_id
    logger.handle(record)


class AccessLineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`configure_access_logging` attaches: one message per line on a stream.

    While it is the access logger's only consumer (no other handler, no filter, no
    propagation, the standard record factory), :func:`write_access_line` hands it the line
    directly: nothing could see the ``LogRecord``, and building and dispatching one costs more
    than the rest of the request bookkeeping together. The bytes written are the same.
    """

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    def write_line(self, line: str) -> None:
        """Write ``line`` and the terminator, as ``emit`` would for a record with that message."""
        try:
            with self.lock:  # type: ignore[union-attr]
                self.stream.write(line + self.terminator)
                self.stream.flush()
        except Exception:
            self.handleError(
                logging.LogRecord(ACCESS_LOGGER_NAME, logging.INFO, __file__, 0, line, (), None)
            )


def _sole_line_writer(logger: logging.Logger) -> AccessLineHandler | None:
    handlers = logger.handlers
    if len(handlers) != 1 or logger.filters or logger.propagate:
        return None
    handler = handlers[0]
    if (
        type(handler) is not AccessLineHandler
        or handler.filters
        or handler.level > logging.INFO
        or logging.getLogRecordFactory() is not logging.LogRecord
    ):
        return None
    return handler


def configure_access_logging() -> None:
    """Write access lines to stderr, one per line, unless the logger is already configured.

    Does nothing when the ``flext_api.server.access`` logger already has a handler: the
    application's own logging setup wins.
    """
    logger = logging.getLogger(ACCESS_LOGGER_NAME)
    if logger.handlers:
        return
    logger.addHandler(AccessLineHandler())
    logger.setLevel(logging.INFO)
    logger.propagate = False
