"""What the WebSocket client decides without I/O: options, errors, the handshake's headers and
checks, and a permessage-deflate extension whose inflation is bounded.

The sync and async clients (``flext_api/protocols/_async/websocket.py`` and its generated
twin) share all of this. This module must never import socket, ssl, asyncio or trio.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import generate_accept_token, generate_nonce

from flext_api._exceptions import TransportError
from flext_api._headers import Headers
from flext_api._models import Response

__all__ = [
    "RECONNECT_CODES",
    "Backoff",
    "BoundedPerMessageDeflate",
    "Message",
    "WebSocketClosed",
    "WebSocketError",
    "WebSocketHandshakeError",
    "WebSocketHandshakeInvalid",
    "WebSocketMessageTooBig",
    "WebSocketOptions",
    "WebSocketPongTimeout",
    "WebSocketProtocolError",
    "WebSocketUnauthorized",
    "check_accept",
    "handshake_fields",
    "new_key",
    "normal_close",
]

Message = str | bytes
"""A whole WebSocket message: ``str`` for a text message, ``bytes`` for a binary one."""

# Fields of a built request that the handshake writes itself or that make no sense on it.
_HANDSHAKE_OWNED: Final = frozenset(
    {
        b"host",
        b"connection",
        b"upgrade",
        b"content-length",
        b"transfer-encoding",
        b"accept-encoding",
        b"expect",
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"sec-websocket-extensions",
        b"sec-websocket-protocol",
    }
)
# Close codes that end a conversation normally: iteration stops without an error.
_NORMAL_CLOSE: Final = frozenset({1000, 1001})


def normal_close(code: int | None) -> bool:
    return code in _NORMAL_CLOSE


@dataclass(frozen=True, slots=True)
class WebSocketOptions:
    """Settings of one WebSocket connection (all have safe defaults).

    ``max_message_size``: a message (after decompression) larger than this is refused with
    close code 1009 and a ``WEBSOCKET_MESSAGE_TOO_BIG`` failure; it also bounds inflation, so a
    compressed "bomb" never grows past it. ``compression``: offer permessage-deflate (RFC
    7692) with the window-bits and no-context-takeover parameters below. ``ping_interval``:
    send a ping when this long passed without one (checked on every ``send``/``receive``, so
    it costs nothing between calls; ``None`` disables it); ``ping_timeout``: a pong must follow
    within this, or the connection is closed with code 1011 and ``WEBSOCKET_PONG_TIMEOUT``.
    ``close_timeout``: how long closing waits for the peer's close frame before dropping the
    socket. ``reconnect``: when the connection is lost (dropped, pong timeout, or the peer
    closed with 1012/1013), the next ``send``/``receive`` opens a new one (the handshake runs
    through the middleware again) after the :class:`Backoff` delays; messages in flight are
    lost. ``None``: a lost connection stays lost.
    """

    max_message_size: int | None = 4 * 1024 * 1024
    compression: bool = True
    client_max_window_bits: int | None = None
    server_max_window_bits: int | None = None
    client_no_context_takeover: bool = False
    server_no_context_takeover: bool = False
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    close_timeout: float = 10.0
    reconnect: Backoff | None = None

    def __post_init__(self) -> None:
        if self.max_message_size is not None and self.max_message_size < 1:
            raise ValueError("max_message_size must be a positive number of bytes, or None")
        for name in ("client_max_window_bits", "server_max_window_bits"):
            bits = getattr(self, name)
            if bits is not None and not 8 <= bits <= 15:
                raise ValueError(f"{name} must be between 8 and 15 (RFC 7692), got {bits}")
        for name in ("ping_interval", "ping_timeout"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive seconds, or None to disable it")
        if self.close_timeout <= 0:
            raise ValueError("close_timeout must be positive seconds")

    def extensions(self) -> list[PerMessageDeflate]:
        if not self.compression:
            return []
        return [
            BoundedPerMessageDeflate(
                self.max_message_size,
                client_no_context_takeover=self.client_no_context_takeover,
                client_max_window_bits=self.client_max_window_bits,
                server_no_context_takeover=self.server_no_context_takeover,
                server_max_window_bits=self.server_max_window_bits,
            )
        ]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays between reconnection attempts: ``initial`` seconds, times ``multiplier`` per
    failed attempt, at most ``maximum``, each shortened by a random fraction up to ``jitter``
    (so many clients dropped at once do not come back at once); at most ``max_attempts``
    attempts per loss."""

    initial: float = 0.5
    maximum: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.5
    max_attempts: int = 5

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < self.initial or self.multiplier < 1:
            raise ValueError("Backoff needs 0 <= initial <= maximum and multiplier >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("Backoff.jitter is a fraction between 0 and 1")
        if self.max_attempts < 1:
            raise ValueError("Backoff.max_attempts must be at least 1")

    def delay(self, attempt: int, random: Callable[[], float]) -> float:
        """Seconds to wait before attempt ``attempt`` (1-based; the first waits too, so a
        flapping server is not hammered); ``random`` returns a float in [0, 1)."""
        base = min(self.maximum, self.initial * self.multiplier ** (attempt - 1))
        return base * (1 - self.jitter * random())


# Close codes after which reconnecting makes sense: dropped, no pong, restart, try later.
RECONNECT_CODES: Final = frozenset({1006, 1011, 1012, 1013})


class BoundedPerMessageDeflate(PerMessageDeflate):
    """permessage-deflate that never inflates a message past ``limit`` bytes.

    wsproto inflates whatever arrives in one call; here each call may produce at most what is
    left of the limit plus one byte, so a few kilobytes that inflate to gigabytes stop at the
    limit with close code 1009 instead of exhausting memory.
    """

    def __init__(self, limit: int | None, **parameters: Any) -> None:
        super().__init__(**parameters)
        self._limit = limit
        self._inflated = 0

    def frame_inbound_payload_data(self, proto: Any, data: bytes) -> bytes | CloseReason:
        if not self._inbound_compressed or not self._inbound_is_compressible:
            return data
        return self._inflate(bytes(data))

    def _inflate(self, data: bytes) -> bytes | CloseReason:
        decompressor = self._decompressor
        assert decompressor is not None
        try:
            if self._limit is None:
                return decompressor.decompress(data)
            left = self._limit - self._inflated
            out = decompressor.decompress(data, left + 1)
        except zlib.error:
            return CloseReason.INVALID_FRAME_PAYLOAD_DATA
        self._inflated += len(out)
        if self._inflated > self._limit or decompressor.unconsumed_tail:
            return CloseReason.MESSAGE_TOO_BIG
        return out

    def frame_inbound_complete(self, proto: Any, fin: bool) -> bytes | CloseReason | None:
        if not fin or not self._inbound_compressed or not self._inbound_is_compressible:
            return super().frame_inbound_complete(proto, fin)
        tail = self._inflate(b"\x00\x00\xff\xff")
        self._inflated = 0
        if isinstance(tail, CloseReason):
            return tail
        no_context_takeover = (
            self.server_no_context_takeover if proto.client else self.client_no_context_takeover
        )
        if no_context_takeover:
            self._decompressor = None
        self._inbound_compressed = None
        return tail


def handshake_fields(
    request_fields: list[tuple[bytes, bytes, bytes]],
    *,
    host: bytes,
    key: bytes,
    subprotocols: tuple[str, ...],
    extensions: list[PerMessageDeflate],
) -> list[tuple[bytes, bytes]]:
    """The header fields of the Upgrade request: the built request's (auth, cookies, the
    caller's), minus those the handshake owns, plus the WebSocket ones."""
    fields = [
        (b"Host", host),
        (b"Upgrade", b"websocket"),
        (b"Connection", b"Upgrade"),
        (b"Sec-WebSocket-Key", key),
        (b"Sec-WebSocket-Version", b"13"),
    ]
    if subprotocols:
        fields.append((b"Sec-WebSocket-Protocol", ", ".join(subprotocols).encode("ascii")))
    offers = []
    for extension in extensions:
        offer = extension.offer()
        if offer is True:
            offers.append(extension.name)
        elif offer:
            offers.append(f"{extension.name}; {offer}")
    if offers:
        fields.append((b"Sec-WebSocket-Extensions", ", ".join(offers).encode("ascii")))
    owned = _HANDSHAKE_OWNED
    fields.extend((raw, value) for raw, lower, value in request_fields if lower not in owned)
    return fields


def new_key() -> bytes:
    return generate_nonce()


def check_accept(
    headers: Headers, key: bytes, subprotocols: tuple[str, ...], host: str
) -> str | None:
    """Why a 101 answer is not a valid WebSocket upgrade (``None``: it is)."""
    if (headers.get("upgrade") or "").lower() != "websocket":
        return f"{host} answered 101 without 'Upgrade: websocket'"
    if "upgrade" not in (headers.get("connection") or "").lower():
        return f"{host} answered 101 without 'Connection: Upgrade'"
    accept = headers.get("sec-websocket-accept")
    if accept != generate_accept_token(key).decode("ascii"):
        return (
            f"{host} sent Sec-WebSocket-Accept {accept!r}, which does not match the key sent; "
            "a proxy or cache in between may have answered instead of the server"
        )
    chosen = headers.get("sec-websocket-protocol")
    if chosen is not None and chosen not in subprotocols:
        return f"{host} chose the subprotocol {chosen!r}, which was not offered"
    return None


# --- errors ----------------------------------------------------------------------------------


class WebSocketError(TransportError):
    """A WebSocket connection failed or ended. ``close_code`` and ``close_reason`` are the
    close frame's (sent or received), ``None`` when the socket just dropped."""

    code: ClassVar[str] = "WEBSOCKET_ERROR"

    def __init__(
        self,
        message: str,
        *,
        close_code: int | None = None,
        close_reason: str = "",
        url: str | None = None,
    ) -> None:
        super().__init__(message, url=url)
        self.close_code = close_code
        self.close_reason = close_reason


class WebSocketClosed(WebSocketError):
    """The connection is closed (by the peer, or by this side): nothing more can be sent or
    received. Iteration ends quietly on codes 1000 and 1001 instead."""

    code: ClassVar[str] = "WEBSOCKET_CLOSED"


class WebSocketProtocolError(WebSocketError):
    """The peer broke RFC 6455 (bad framing, invalid UTF-8 in a text message, reserved bits,
    unknown opcodes...): the connection was failed with the close code in ``close_code``."""

    code: ClassVar[str] = "WEBSOCKET_PROTOCOL_ERROR"


class WebSocketMessageTooBig(WebSocketError):
    """A message (after decompression) exceeded ``max_message_size``: closed with 1009."""

    code: ClassVar[str] = "WEBSOCKET_MESSAGE_TOO_BIG"


class WebSocketPongTimeout(WebSocketError):
    """No pong came back within ``ping_timeout``: the peer or the path to it is dead; the
    connection was closed with 1011."""

    code: ClassVar[str] = "WEBSOCKET_PONG_TIMEOUT"


class WebSocketHandshakeError(WebSocketError):
    """The server did not accept the upgrade: ``status_code`` and ``response`` (with its body,
    up to 64 KiB) say what it answered instead."""

    code: ClassVar[str] = "WEBSOCKET_HANDSHAKE_REJECTED"

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        response: Response | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, url=url)
        self.status_code = status_code
        self.response = response

    def _state(self) -> dict[str, Any]:
        state = super()._state()
        state["response"] = None
        return state


class WebSocketUnauthorized(WebSocketHandshakeError):
    """The handshake was answered 401 or 403: credentials are missing, wrong or not enough."""

    code: ClassVar[str] = "WEBSOCKET_UNAUTHORIZED"


class WebSocketHandshakeInvalid(WebSocketHandshakeError):
    """The server answered 101 but not as RFC 6455 requires (a wrong ``Sec-WebSocket-Accept``,
    a missing ``Upgrade``, an extension or subprotocol that was not offered)."""

    code: ClassVar[str] = "WEBSOCKET_HANDSHAKE_INVALID"
