"""Server-Sent Events: the public names (the client method is ``client.sse(...)``).

The parser is :mod:`flext_api._sansio.sse`; the blocking and async streams are
:mod:`flext_api.protocols._sync.sse` (generated) and :mod:`flext_api.protocols._async.sse`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import ClassVar

from typing_extensions import Unpack

from flext_api._exceptions import FlextApiError
from flext_api._result import Failure, Success
from flext_api._sansio.sse import (
    DEFAULT_MAX_EVENT_SIZE,
    ServerSentEvent,
    SSEDecoder,
    SSEError,
    SSEEventTooLarge,
    SSENotEventStream,
)
from flext_api._urls import URL
from flext_api.protocols import BaseProtocol
from flext_api.protocols._async.sse import AsyncEventStream, SSEReconnectFailed
from flext_api.protocols._sync.sse import EventStream, EventStreamOptions

__all__ = [
    "DEFAULT_MAX_EVENT_SIZE",
    "AsyncEventStream",
    "EventStream",
    "EventStreamOptions",
    "SSEDecoder",
    "SSEError",
    "SSEEventTooLarge",
    "SSENotEventStream",
    "SSEProtocol",
    "SSEReconnectFailed",
    "ServerSentEvent",
]


class SSEProtocol(BaseProtocol):
    """Server-Sent Events on the protocol's own client: ``open(method, url, ...)`` is
    ``client.sse(...)`` (the same options, the same ``FlextResult[EventStream]``)."""

    name: ClassVar[str] = "sse"

    def open(
        self, method: str, url: str | URL, **options: Unpack[EventStreamOptions]
    ) -> AbstractContextManager[Success[EventStream] | Failure[FlextApiError]]:
        return self.client.sse(method, url, **options)
