"""The request id: accepted or generated once per request, visible everywhere while it runs.

The id lives in :data:`request_id_var` for the duration of the request, so log records
(:class:`RequestIdLogFilter`), error bodies and outgoing ``FlextApiClient`` /
``AsyncFlextApiClient`` calls (through :func:`current_request_id`) all see the same value,
and it is echoed in the response header.

This module must never trust an incoming id blindly (length and charset are bounded, anything
else is replaced) and must never import FastAPI: the client core reads the contextvar.
"""

from __future__ import annotations

import logging
import os
import re
from typing import TYPE_CHECKING

from flext_api._request_context import current_request_id, request_id_var

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "RequestIdLogFilter",
    "RequestIdMiddleware",
    "current_request_id",
    "request_id_var",
]


# Ids from load balancers and tracing systems use these characters (UUIDs, ULIDs, AWS
# "Root=1-..." trace ids, base64); anything else could smuggle text into logs or headers.
_ACCEPTED_ID = re.compile(r"[A-Za-z0-9._:=+/@-]{1,128}")


def new_request_id() -> str:
    """A fresh random id: 32 hex characters (128 bits)."""
    return os.urandom(16).hex()


def accept_request_id(raw: bytes | None) -> str:
    """``raw`` if it is a reasonable id (1-128 characters of a safe set), else a new id."""
    if raw is not None and len(raw) <= 128:
        candidate = raw.decode("latin-1")
        if _ACCEPTED_ID.fullmatch(candidate):
            return candidate
    return new_request_id()


class RequestIdMiddleware:
    """Accept or generate the request id, publish it in the contextvar and the response header."""

    def __init__(self, app: ASGIApp, header_name: str = "X-Request-ID") -> None:
        self.app = app
        self.header_name = header_name.lower().encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header_name = self.header_name
        incoming = None
        for name, value in scope["headers"]:
            if name == header_name:
                incoming = value
                break
        request_id = accept_request_id(incoming)
        encoded = request_id.encode("latin-1")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (header_name, encoded)]
            await send(message)

        token = request_id_var.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


class RequestIdLogFilter(logging.Filter):
    """Add ``record.request_id`` (or ``None``) to every record a handler sees.

    Attach it to a handler (``handler.addFilter(RequestIdLogFilter())``) so that every record
    through that handler, from any logger, carries the id, even if it is formatted later on
    another thread (``QueueHandler``).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True
