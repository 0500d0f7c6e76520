"""Protocols over the transport, and the registry that finds them by name.

A protocol is a :class:`BaseProtocol` subclass: ``create_client(config)`` builds the
:class:`flext_api.FlextApiClient` it runs on (``config`` is the client's keyword arguments);
request/response protocols implement ``execute_request(request) -> FlextResult``; streaming
ones (WebSocket, Server-Sent Events) offer a typed ``open(...)`` instead.

:class:`ProtocolRegistry` maps names to protocol classes. The built-ins (``http``,
``websocket``, ``sse``, ``graphql``, ``storage``) and third-party protocols (the
``flext_api.protocols`` entry-point group of installed distributions) are registered as
``"module:attribute"`` strings and imported only when first asked for, so importing flext_api
never imports a protocol nobody uses.

This module must stay cheap to import: ``flext_api`` imports it on every start.
"""

from __future__ import annotations

import importlib
from abc import ABC
from collections.abc import Mapping
from importlib.metadata import entry_points
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal, Self, overload

if TYPE_CHECKING:
    from flext_api._exceptions import FlextApiError
    from flext_api._models import Request, Response
    from flext_api._result import Failure, Success
    from flext_api._sync.client import FlextApiClient
    from flext_api.protocols.graphql import GraphQLProtocol
    from flext_api.protocols.http import HTTPProtocol
    from flext_api.protocols.sse import SSEProtocol
    from flext_api.protocols.storage import StorageProtocol
    from flext_api.protocols.websocket import WebSocketProtocol

__all__ = ["ENTRY_POINT_GROUP", "BaseProtocol", "ProtocolRegistry"]

ENTRY_POINT_GROUP: Final = "flext_api.protocols"
"""Distributions add protocols under this entry-point group: ``name = "module:Class"``."""

BUILTIN_PROTOCOLS: Final[Mapping[str, str]] = {
    "http": "flext_api.protocols.http:HTTPProtocol",
    "websocket": "flext_api.protocols.websocket:WebSocketProtocol",
    "sse": "flext_api.protocols.sse:SSEProtocol",
    "graphql": "flext_api.protocols.graphql:GraphQLProtocol",
    "storage": "flext_api.protocols.storage:StorageProtocol",
}


class BaseProtocol(ABC):
    """One protocol bound to its client settings. ``config`` holds
    :class:`flext_api.FlextApiClient` keyword arguments (``base_url``, ``headers``,
    ``timeout``...); the client is created on first use and closed with the protocol
    (``with`` it, or call ``close()``)."""

    name: ClassVar[str]

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        self.config: dict[str, Any] = dict(config or {})
        self._client: FlextApiClient | None = None

    def create_client(self, config: Mapping[str, Any] | None = None) -> FlextApiClient:
        """A new client from this protocol's settings, ``config`` overriding them."""
        from flext_api._sync.client import FlextApiClient

        return FlextApiClient(**{**self.config, **(config or {})})

    @property
    def client(self) -> FlextApiClient:
        """The protocol's own client (created on first use)."""
        if self._client is None:
            self._client = self.create_client()
        return self._client

    def execute_request(self, request: Request) -> Success[Response] | Failure[FlextApiError]:
        """Send one request; request/response protocols override this."""
        raise TypeError(
            f"the {self.name!r} protocol streams: use its open(...) instead of execute_request"
        )

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class ProtocolRegistry:
    """Protocol classes by name.

    ``register(name, cls_or_target)`` adds one (a class, or a ``"module:attribute"`` string
    imported on first use); a taken name is refused unless ``replace=True``.
    ``get_protocol(name)`` returns the class (``LookupError`` naming the known ones for an
    unknown name); it is typed by name for the built-ins, so a replaced built-in is still
    typed as the built-in: replace one with a subclass of it. ``names()`` lists them. The
    entry-point group is read once, on the first lookup, and a distribution's protocol is
    imported only when asked for; a built-in or an explicitly registered name wins over an
    entry point of the same name.
    """

    __slots__ = ("_discovered", "_targets")

    def __init__(self, *, builtins: bool = True, discover: bool = True) -> None:
        self._targets: dict[str, str | type[BaseProtocol]] = (
            dict(BUILTIN_PROTOCOLS) if builtins else {}
        )
        self._discovered = not discover

    def register(
        self, name: str, protocol: type[BaseProtocol] | str, *, replace: bool = False
    ) -> None:
        if not name or not isinstance(name, str):
            raise ValueError("a protocol name is a non-empty string")
        if isinstance(protocol, str):
            _split_target(protocol)
        elif not (isinstance(protocol, type) and issubclass(protocol, BaseProtocol)):
            raise TypeError(
                f"register({name!r}, ...) takes a BaseProtocol subclass or a "
                f"'module:attribute' string, not {protocol!r}"
            )
        self._discover()
        if name in self._targets and not replace:
            raise ValueError(
                f"protocol {name!r} is already registered ({self.target(name)}); "
                "pass replace=True to replace it"
            )
        self._targets[name] = protocol

    def names(self) -> list[str]:
        """The registered names, sorted."""
        self._discover()
        return sorted(self._targets)

    def target(self, name: str) -> str:
        """Where ``name`` comes from, as a ``"module:attribute"`` string (nothing is imported)."""
        protocol = self._lookup(name)
        if isinstance(protocol, str):
            return protocol
        return f"{protocol.__module__}:{protocol.__qualname__}"

    @overload
    def get_protocol(self, name: Literal["http"]) -> type[HTTPProtocol]: ...
    @overload
    def get_protocol(self, name: Literal["sse"]) -> type[SSEProtocol]: ...
    @overload
    def get_protocol(self, name: Literal["websocket"]) -> type[WebSocketProtocol]: ...
    @overload
    def get_protocol(self, name: Literal["graphql"]) -> type[GraphQLProtocol]: ...
    @overload
    def get_protocol(self, name: Literal["storage"]) -> type[StorageProtocol]: ...
    @overload
    def get_protocol(self, name: str) -> type[BaseProtocol]: ...
    def get_protocol(self, name: str) -> type[BaseProtocol]:
        """The protocol class registered as ``name`` (imported now if it was a string)."""
        protocol = self._lookup(name)
        if isinstance(protocol, str):
            protocol = _load(name, protocol)
            self._targets[name] = protocol
        return protocol

    def _lookup(self, name: str) -> str | type[BaseProtocol]:
        self._discover()
        try:
            return self._targets[name]
        except KeyError:
            raise LookupError(
                f"no protocol named {name!r}; known: {', '.join(sorted(self._targets))} "
                "(register one, or install the distribution that provides it)"
            ) from None

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        for entry_point in entry_points(group=ENTRY_POINT_GROUP):
            self._targets.setdefault(entry_point.name, entry_point.value)


def _split_target(target: str) -> tuple[str, str]:
    module, colon, attribute = target.partition(":")
    if not (module and colon and attribute):
        raise ValueError(f"{target!r}: a protocol target is written 'module:attribute'")
    return module, attribute


def _load(name: str, target: str) -> type[BaseProtocol]:
    module_name, attribute = _split_target(target)
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise LookupError(
            f"protocol {name!r} is registered as {target!r}, but {module_name} cannot be "
            f"imported ({error}); install the distribution that provides it"
        ) from error
    protocol: object = module
    for part in attribute.split("."):
        protocol = getattr(protocol, part, None)
        if protocol is None:
            raise LookupError(f"protocol {name!r}: {module_name} has no {attribute!r}")
    if not (isinstance(protocol, type) and issubclass(protocol, BaseProtocol)):
        raise TypeError(f"protocol {name!r} ({target}) is not a BaseProtocol subclass")
    return protocol
