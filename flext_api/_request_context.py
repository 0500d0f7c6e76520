"""The request id of the server-side request being handled, shared with the clients.

``flext_api.server`` sets it for the duration of each request; ``FlextApiClient`` and
``AsyncFlextApiClient`` read it on every call and send it as ``X-Request-ID`` (unless the call
sets that header itself), so one id follows a request across services. A ``ContextVar`` makes
it per task and per thread. This module must never import FastAPI or do I/O: the clients import
it on every start.
"""

from __future__ import annotations

from contextvars import ContextVar

__all__ = ["REQUEST_ID_HEADER", "current_request_id", "request_id_var"]

REQUEST_ID_HEADER = b"X-Request-ID"

request_id_var: ContextVar[str | None] = ContextVar("flext_api_request_id", default=None)
"""The id of the request being handled in this context (``None`` outside a request)."""


def current_request_id() -> str | None:
    """The request id of the request being handled, or ``None`` outside one."""
    return request_id_var.get()
