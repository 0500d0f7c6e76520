"""The WebSocket client's public names, and ``WebSocketProtocol`` for the protocol registry.

Open a connection with ``client.websocket(url)`` (``FlextApiClient`` or
``AsyncFlextApiClient``); the guide is docs/websocket.md. This module only re-exports: the I/O
lives in ``flext_api.protocols._async.websocket`` and its generated ``_sync`` twin.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import ClassVar

from flext_api._exceptions import FlextApiError
from flext_api._headers import HeaderTypes
from flext_api._result import Failure, Success
from flext_api._urls import URL, QueryParamTypes
from flext_api.protocols import BaseProtocol
from flext_api.protocols._async.websocket import AsyncWebSocket
from flext_api.protocols._sync.websocket import WebSocket
from flext_api.protocols._websocket_common import (
    Backoff,
    Message,
    WebSocketClosed,
    WebSocketError,
    WebSocketHandshakeError,
    WebSocketHandshakeInvalid,
    WebSocketMessageTooBig,
    WebSocketOptions,
    WebSocketPongTimeout,
    WebSocketProtocolError,
    WebSocketUnauthorized,
)
from flext_api.protocols._websocket_router import MessageRouter

__all__ = [
    "Backoff",
    "AsyncWebSocket",
    "Message",
    "MessageRouter",
    "WebSocket",
    "WebSocketClosed",
    "WebSocketError",
    "WebSocketHandshakeError",
    "WebSocketHandshakeInvalid",
    "WebSocketMessageTooBig",
    "WebSocketOptions",
    "WebSocketPongTimeout",
    "WebSocketProtocol",
    "WebSocketProtocolError",
    "WebSocketUnauthorized",
]


class WebSocketProtocol(BaseProtocol):
    """The ``"websocket"`` entry of the protocol registry: a streaming protocol, so it offers
    :meth:`open` (``client.websocket(...)`` on the protocol's own client) rather than request
    execution. With an async client, call ``client.websocket(...)`` directly."""

    name: ClassVar[str] = "websocket"

    def open(
        self,
        url: str | URL,
        *,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes | None = None,
        subprotocols: Sequence[str] = (),
        options: WebSocketOptions | None = None,
    ) -> AbstractContextManager[Success[WebSocket] | Failure[FlextApiError]]:
        """Open a WebSocket with the protocol's client settings (``config``)."""
        return self.client.websocket(
            url, params=params, headers=headers, subprotocols=subprotocols, options=options
        )
