"""The GraphQL client: operations over our HTTP client, subscriptions over our WebSocket client.

``AsyncGraphQLClient`` only sends and receives; what an answer means (a response, a partial
result, or which failure) is decided by :mod:`flext_api.protocols._graphql_common`. Every call
returns a FlextResult; the subscription iterator raises the typed error, like every stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from types import TracebackType
from typing import Any, Literal

from typing_extensions import TypeVar

from flext_api._async.client import AsyncFlextApiClient
from flext_api._exceptions import FlextApiError
from flext_api._headers import Headers, HeaderTypes
from flext_api._models import Response
from flext_api._result import Failure, Success
from flext_api._urls import URL
from flext_api.protocols._async.websocket import AsyncWebSocket
from flext_api.protocols._graphql_common import (
    ERROR_TYPES,
    EVENT_TYPES,
    IGNORED_TYPES,
    STOP_TYPE,
    SUBSCRIBE_TYPE,
    FileTypes,
    GraphQLOperation,
    GraphQLResponse,
    GraphQLSubscriptionError,
    SubscriptionProtocol,
    decode_batch,
    decode_event,
    decode_message,
    decode_response,
    encode_json,
    encode_message,
    get_params,
    is_persisted_not_found,
    message_errors,
    multipart_fields,
    operation_payload,
    persisted_extension,
)

__all__ = ["AsyncGraphQLClient", "AsyncSubscription"]

# The default types ``data`` when no data_type is given (a TypeVar default, PEP 696).
T = TypeVar("T", default=dict[str, Any])

_ACCEPT = "application/graphql-response+json, application/json"
_JSON_HEADERS = {"accept": _ACCEPT, "content-type": "application/json"}
_SUBSCRIPTION_ID = "1"


class AsyncGraphQLClient:
    """A GraphQL endpoint at ``url``.

    ``client``: the HTTP client to send on (its base URL, auth, retries, TLS apply); without
    one, the GraphQL client owns a new one built from ``client_options`` and closes it with
    itself (``with`` it, or call ``close()``). ``persisted_queries=True`` sends the sha256 of
    each query first (automatic persisted queries) and the full query only when the server
    answers ``PersistedQueryNotFound``. ``connection_timeout`` bounds a subscription's wait
    for ``connection_ack``, in seconds.
    """

    def __init__(
        self,
        url: str | URL,
        *,
        client: AsyncFlextApiClient | None = None,
        persisted_queries: bool = False,
        connection_timeout: float = 10.0,
        **client_options: Any,
    ) -> None:
        if client is not None and client_options:
            raise TypeError("pass client= or client options, not both")
        self.url = URL(url) if isinstance(url, str) else url
        self._owns_client = client is None
        self.client = client if client is not None else AsyncFlextApiClient(**client_options)
        self.persisted_queries = persisted_queries
        self.connection_timeout = connection_timeout

    async def __aenter__(self) -> AsyncGraphQLClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this GraphQL client created it."""
        if self._owns_client:
            await self.client.aclose()

    # -- queries and mutations -------------------------------------------------------------

    async def execute(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        operation_name: str | None = None,
        data_type: type[T] = dict[str, Any],  # type: ignore[assignment]
        method: Literal["POST", "GET"] = "POST",
        headers: HeaderTypes | None = None,
        files: Mapping[str, FileTypes] | None = None,
    ) -> Success[GraphQLResponse[T]] | Failure[FlextApiError]:
        """Run one query or mutation; ``data`` is decoded into ``data_type``.

        ``method="GET"`` sends a query in the URL (cacheable; servers refuse mutations over
        GET). ``files`` uploads by the GraphQL multipart request spec: keys are paths inside
        ``variables`` (``"file"``, ``"files.0"``), values what ``files=`` of a request takes.
        """
        if files and method == "GET":
            raise ValueError("files= uploads need method='POST'")
        if self.persisted_queries and not files:
            extensions = persisted_extension(query)
            first = await self._send(
                operation_payload(None, variables, operation_name, extensions),
                method,
                headers,
                None,
            )
            if isinstance(first, Failure):
                return first
            result = _decode(first.value, data_type)
            if not (isinstance(result, Success) and is_persisted_not_found(result.value.errors)):
                return result
            # The server does not know the hash yet: send the query once with it, to register.
            payload = operation_payload(query, variables, operation_name, extensions)
        else:
            payload = operation_payload(query, variables, operation_name)
        sent = await self._send(payload, method, headers, files)
        if isinstance(sent, Failure):
            return sent
        return _decode(sent.value, data_type)

    async def execute_batch(
        self,
        operations: Sequence[GraphQLOperation],
        *,
        data_type: type[T] = dict[str, Any],  # type: ignore[assignment]
        headers: HeaderTypes | None = None,
    ) -> Success[list[GraphQLResponse[T]]] | Failure[FlextApiError]:
        """Send several operations in one POST (a JSON array) to a server that batches; the
        responses come back in the same order. A server that does not batch answers with a
        ``GRAPHQL_MALFORMED`` failure that says so."""
        if not operations:
            raise ValueError("execute_batch needs at least one operation")
        body = [operation_payload(op.query, op.variables, op.operation_name) for op in operations]
        sent = await self.client.request(
            "POST", self.url, content=encode_json(body), headers=_merged(headers)
        )
        if isinstance(sent, Failure):
            return sent
        response = sent.value
        return decode_batch(
            response.content,
            response.status_code,
            response.headers,
            str(response.request.url),
            data_type,
            expected=len(operations),
        )

    async def _send(
        self,
        payload: dict[str, Any],
        method: Literal["POST", "GET"],
        headers: HeaderTypes | None,
        files: Mapping[str, FileTypes] | None,
    ) -> Success[Response] | Failure[FlextApiError]:
        if method == "GET":
            extra = Headers(headers)
            extra.setdefault("accept", _ACCEPT)
            return await self.client.request(
                "GET", self.url, params=get_params(payload), headers=extra
            )
        if files:
            fields, parts = multipart_fields(payload, files)
            extra = Headers(headers)
            extra.setdefault("accept", _ACCEPT)
            # Servers refuse multipart without it (a CSRF guard: a browser cannot send it
            # cross-site without a preflight).
            extra.setdefault("graphql-require-preflight", "1")
            return await self.client.request(
                "POST", self.url, data=fields, files=parts, headers=extra
            )
        return await self.client.request(
            "POST", self.url, content=encode_json(payload), headers=_merged(headers)
        )

    # -- subscriptions ---------------------------------------------------------------------

    @asynccontextmanager
    async def subscribe(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        operation_name: str | None = None,
        data_type: type[T] = dict[str, Any],  # type: ignore[assignment]
        protocol: SubscriptionProtocol = "graphql-transport-ws",
        init_payload: Mapping[str, Any] | None = None,
        headers: HeaderTypes | None = None,
    ) -> AsyncIterator[Success[AsyncSubscription[T]] | Failure[FlextApiError]]:
        """Open a WebSocket to the endpoint, start the subscription and yield
        ``FlextResult[Subscription]``: iterate it for ``GraphQLResponse`` events until the
        server completes. Leaving the block stops the subscription and closes the socket.
        ``init_payload`` is sent with ``connection_init`` (where servers expect credentials).
        Each wait for an event is bounded by the client's read timeout."""
        if protocol not in SUBSCRIBE_TYPE:
            raise ValueError(f"protocol={protocol!r}: use 'graphql-transport-ws' or 'graphql-ws'")
        async with AsyncExitStack() as stack:
            opened = await stack.enter_async_context(
                self.client.websocket(
                    _websocket_url(self.url), headers=headers, subprotocols=[protocol]
                )
            )
            if isinstance(opened, Failure):
                yield opened
                return
            subscription: AsyncSubscription[T] = AsyncSubscription(
                opened.value, protocol, data_type
            )
            started = await subscription.start(
                operation_payload(query, variables, operation_name),
                init_payload,
                self.connection_timeout,
            )
            if isinstance(started, Failure):
                yield started
                return
            try:
                yield Success(subscription)
            finally:
                await subscription.stop()


class AsyncSubscription(AsyncIterator[GraphQLResponse[T]]):
    """The events of one subscription. Iteration ends when the server completes it and raises
    the typed error otherwise (``GRAPHQL_SUBSCRIPTION_ERROR`` for an ``error`` message or a
    message outside the protocol; the WebSocket's own codes, such as ``READ_TIMEOUT``, when
    the connection fails or stays silent past the read timeout)."""

    def __init__(
        self, websocket: AsyncWebSocket, protocol: SubscriptionProtocol, data_type: type[T]
    ) -> None:
        self.websocket = websocket
        self.protocol = protocol
        self._data_type = data_type
        self._url = str(websocket.response.request.url)
        self._done = False

    async def start(
        self,
        payload: dict[str, Any],
        init_payload: Mapping[str, Any] | None,
        connection_timeout: float,
    ) -> Success[None] | Failure[FlextApiError]:
        """``connection_init``, wait for ``connection_ack``, then subscribe."""
        ws = self.websocket
        sent = await ws.send(encode_message("connection_init", payload=init_payload or {}))
        if isinstance(sent, Failure):
            return sent
        while True:
            received = await ws.receive(timeout=connection_timeout)
            if isinstance(received, Failure):
                return received
            message = decode_message(received.value, self._url)
            if isinstance(message, GraphQLSubscriptionError):
                return Failure(message)
            if message.type == "connection_ack":
                break
            if message.type in IGNORED_TYPES:
                continue
            if message.type == "ping":
                await ws.send(encode_message("pong"))
                continue
            return Failure(
                GraphQLSubscriptionError(
                    f"{self._url} refused the subscription connection "
                    f"({message.type!r} instead of 'connection_ack'); check the credentials "
                    "in init_payload",
                    url=self._url,
                    errors=message_errors(message.payload),
                    body=bytes(message.payload),
                )
            )
        return await ws.send(
            encode_message(SUBSCRIBE_TYPE[self.protocol], _SUBSCRIPTION_ID, payload)
        )

    async def stop(self) -> None:
        """Tell the server to stop sending (unless it completed); the socket closes after."""
        if not self._done and not self.websocket.closed:
            self._done = True
            # Best effort: the socket is closed next whatever the server makes of it.
            await self.websocket.send(encode_message(STOP_TYPE[self.protocol], _SUBSCRIPTION_ID))

    def __aiter__(self) -> AsyncSubscription[T]:
        return self

    async def __anext__(self) -> GraphQLResponse[T]:
        ws = self.websocket
        while not self._done:
            received = await ws.receive()
            if isinstance(received, Failure):
                self._done = True
                raise received.error
            message = decode_message(received.value, self._url)
            if isinstance(message, GraphQLSubscriptionError):
                self._done = True
                raise message
            kind = message.type
            if kind in IGNORED_TYPES:
                continue
            if kind == "ping":
                await ws.send(encode_message("pong"))
                continue
            if message.id != _SUBSCRIPTION_ID:
                raise self._fail(f"a {kind!r} message for an unknown operation", message)
            if kind == "complete":
                self._done = True
                break
            if kind in ERROR_TYPES:
                raise self._fail("an error for the subscription", message)
            if kind not in EVENT_TYPES:
                raise self._fail(f"an unexpected {kind!r} message", message)
            response = ws.response
            event = decode_event(
                bytes(message.payload),
                response.status_code,
                response.headers,
                self._url,
                self._data_type,
            )
            if isinstance(event, Failure):
                self._done = True
                raise event.error
            return event.value
        raise StopAsyncIteration

    def _fail(self, what: str, message: Any) -> GraphQLSubscriptionError:
        self._done = True
        errors = message_errors(message.payload)
        detail = "; ".join(error.message for error in errors) or bytes(message.payload).decode(
            "utf-8", "replace"
        )
        return GraphQLSubscriptionError(
            f"{self._url} sent {what}"
            + (f": {detail}" if detail else "")
            + "; the subscription has ended",
            url=self._url,
            errors=errors,
            body=bytes(message.payload),
        )


def _decode(
    response: Response, data_type: type[T]
) -> Success[GraphQLResponse[T]] | Failure[FlextApiError]:
    return decode_response(
        response.content,
        response.status_code,
        response.headers,
        str(response.request.url),
        data_type,
    )


def _merged(headers: HeaderTypes | None) -> HeaderTypes:
    if headers is None:
        return _JSON_HEADERS
    merged = Headers(headers)
    for name, value in _JSON_HEADERS.items():
        merged.setdefault(name, value)
    return merged


def _websocket_url(url: URL) -> URL | str:
    """The subscription endpoint: the same URL with ws(s) for http(s); a relative URL stays
    relative (the client's base URL decides)."""
    scheme = url.scheme
    if scheme in ("http", "https"):
        return str(url).replace(scheme, "ws" if scheme == "http" else "wss", 1)
    return url
