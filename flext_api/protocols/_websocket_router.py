"""A typed message router for JSON-over-WebSocket: one handler per message type.

Message types are ``msgspec.Struct`` classes with a tag (``class Join(msgspec.Struct,
tag="join")``); a message such as ``{"type": "join", ...}`` is decoded once, by one msgspec
decoder over the union of the registered types, into the matching class, and handed to that
class's handler. No I/O here: the sync and async clients both use it (an async handler's
coroutine is returned for the caller to await).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, Union

import msgspec

from flext_api._exceptions import DecodingError
from flext_api._result import Failure, Success

__all__ = ["MessageRouter"]

S = TypeVar("S", bound=msgspec.Struct)
Handler = Callable[[Any], Any]


class MessageRouter:
    """Routes JSON messages to handlers by their tag.

    ::

        router = MessageRouter()

        @router.on(Chat)
        def chat(message: Chat) -> None: ...

        router.dispatch('{"type": "chat", "text": "hi"}')  # Success(chat's return value)

    ``tag_field`` is the JSON key naming the type (``"type"`` unless the structs say
    otherwise through ``tag_field=``). ``dispatch`` returns ``Success`` of the handler's return
    value, or a ``DECODE_ERROR`` failure for a message that is not valid JSON or matches no
    registered type. ``encode`` turns a struct into the text to ``send``.
    """

    __slots__ = ("_decoder", "_encoder", "_handlers")

    def __init__(self) -> None:
        self._handlers: dict[type[msgspec.Struct], Handler] = {}
        self._decoder: msgspec.json.Decoder[Any] | None = None
        self._encoder = msgspec.json.Encoder()

    def on(self, kind: type[S]) -> Callable[[Callable[[S], Any]], Callable[[S], Any]]:
        """Register the decorated function as the handler of ``kind`` (a tagged Struct)."""
        if not (isinstance(kind, type) and issubclass(kind, msgspec.Struct)):
            raise TypeError("on() takes a msgspec.Struct class declared with tag=...")
        if kind.__struct_config__.tag is None:
            raise TypeError(
                f"{kind.__name__} has no tag: declare it as "
                f"class {kind.__name__}(msgspec.Struct, tag='...') so messages name it"
            )
        if kind in self._handlers:
            raise ValueError(f"{kind.__name__} already has a handler")

        def register(handler: Callable[[S], Any]) -> Callable[[S], Any]:
            self._handlers[kind] = handler
            self._decoder = None  # rebuilt with the new union on the next dispatch
            return handler

        return register

    def decode(self, message: str | bytes) -> Success[msgspec.Struct] | Failure[DecodingError]:
        """The message as its registered type."""
        decoder = self._decoder
        if decoder is None:
            if not self._handlers:
                raise RuntimeError("no handler registered: use @router.on(SomeStruct) first")
            kinds = tuple(self._handlers)
            union: Any = kinds[0] if len(kinds) == 1 else Union[kinds]  # noqa: UP007
            decoder = self._decoder = msgspec.json.Decoder(union)
        try:
            return Success(decoder.decode(message))
        except msgspec.DecodeError as exc:
            error = DecodingError(
                f"a WebSocket message did not decode as one of the routed types "
                f"({', '.join(kind.__name__ for kind in self._handlers)}): {exc}; check the "
                "peer's message format or register a handler for it"
            )
            error.__cause__ = exc
            return Failure(error)

    def dispatch(self, message: str | bytes) -> Success[Any] | Failure[DecodingError]:
        """Decode ``message`` and call its type's handler; ``Success`` of what it returned."""
        decoded = self.decode(message)
        if isinstance(decoded, Failure):
            return decoded
        value = decoded.value
        return Success(self._handlers[type(value)](value))

    def encode(self, message: msgspec.Struct) -> str:
        """``message`` as JSON text (its tag included), ready for ``send``."""
        return self._encoder.encode(message).decode("utf-8")
