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

from flext_api.server._routes import route_template
from flext_api.server.request_id import request_id_var

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ACCESS_LOGGER_NAME", "AccessLogMiddleware", "configure_access_logging"]

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
        status = 500

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            client = scope.get("client")
            line = {
                "method": scope["method"],
                "route": route_template(scope),
                "path": scope["path"],
                "status": status,
                "duration_ms": round((time.perf_counter() - start) * 1000.0, 3),
                "request_id": request_id_var.get(),
                "client": client[0] if client else None,
            }
            # makeRecord + handle instead of logger.info: info() walks the stack to find the
            # caller, which costs more than the rest of this middleware together.
            record = logger.makeRecord(
                logger.name, logging.INFO, __file__, 0, _encode(line).decode(), (), None
            )
            record.request_id = line["request_id"]
            logger.handle(record)


def configure_access_logging() -> None:
    """Write access lines to stderr, one per line, unless the logger is already configured.

    Does nothing when the ``flext_api.server.access`` logger already has a handler: the
    application's own logging setup wins.
    """
    logger = logging.getLogger(ACCESS_LOGGER_NAME)
    if logger.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
